import {
  agentState,
  ago,
  architectureText,
  labelsText,
  participationText,
  percent,
  placementText,
  policyText,
  roundsPerMinute,
} from './format';
import type { CreateJob } from '@flotilla/contracts';

describe('dashboard formatting', () => {
  const now = Date.parse('2026-01-01T12:00:00.000Z');

  it('writes how long ago in the largest whole unit', () => {
    expect(ago('2026-01-01T11:59:59.400Z', now)).toBe('1 s ago');
    expect(ago('2026-01-01T11:58:59.000Z', now)).toBe('1 min ago');
    expect(ago('2026-01-01T09:00:00.000Z', now)).toBe('3 h ago');
    expect(ago('2025-12-29T12:00:00.000Z', now)).toBe('3 d ago');
    expect(ago(null, now)).toBe('—');
  });

  it('writes fractions as percentages, and nothing for a missing or non-finite one', () => {
    expect(percent(0.93412)).toBe('93.41 %');
    expect(percent(null)).toBe('—');
    expect(percent(NaN)).toBe('—');
  });

  it('tells revoked, left, offline, suspect and online agents apart', () => {
    const base = { online: true, revokedAt: null, leftAt: null, lastHeartbeatAt: '2026-01-01T11:59:00Z', lastTaskTimeoutAt: null };
    expect(agentState(base)).toBe('online');
    expect(agentState({ ...base, lastTaskTimeoutAt: '2026-01-01T11:59:30Z' })).toBe('suspect');
    // A heartbeat after the timeout clears the suspicion.
    expect(agentState({ ...base, lastTaskTimeoutAt: '2026-01-01T11:58:30Z' })).toBe('online');
    expect(agentState({ ...base, online: false })).toBe('offline');
    expect(agentState({ ...base, online: false, leftAt: '2026-01-01T11:59:30Z' })).toBe('left');
    expect(agentState({ ...base, online: false, revokedAt: '2026-01-01T11:59:30Z' })).toBe('revoked');
  });

  it('writes labels and placement in key order, as the waiting line does', () => {
    expect(labelsText({ region: 'eu', gpu: 'true' })).toBe('gpu=true, region=eu');
    expect(labelsText({})).toBe('');
    const spec = { kind: 'federated', agentSelector: { zone: 'b', gpu: 'true' }, backend: 'tensorflow-gpu' } as unknown as CreateJob;
    expect(placementText(spec)).toBe('{gpu: "true", zone: "b"} and backend tensorflow-gpu');
  });

  it("writes an agent's participation with its rate, and nothing before its first round", () => {
    expect(participationText({ eligible: 3, participated: 2 })).toBe('2 / 3 (67 %)');
    expect(participationText({ eligible: 0, participated: 0 })).toBe('—');
  });

  it('writes the update policy with what it did', () => {
    expect(policyText({ bound: { kind: 'relative', factor: 10 }, action: 'reject' }, { rejected: 1, clipped: 0 })).toBe(
      'reject beyond 10 × the median norm · 1 rejected, 0 clipped',
    );
    expect(policyText({ bound: { kind: 'absolute', maxNorm: 5 }, action: 'clip' }, { rejected: 0, clipped: 2 })).toBe(
      'clip beyond norm 5 · 0 rejected, 2 clipped',
    );
  });

  it('counts the rounds closed in the last five minutes, per minute', () => {
    const closed = ['2026-01-01T11:59:00Z', '2026-01-01T11:56:00Z', '2026-01-01T11:54:00Z', null, '2026-01-01T11:56:30Z'];
    // Three within (11:55, 12:00]; 11:54 is outside; an open round (null) does not count.
    expect(roundsPerMinute(closed, now)).toBeCloseTo(3 / 5, 12);
    expect(roundsPerMinute([], now)).toBe(0);
  });

  it('writes a cell architecture as NAS-Bench-201 does, a chain one as its ops in order', () => {
    expect(architectureText('cell', ['conv3x3', 'skip', 'none', 'avgpool3x3', 'conv1x1', 'conv3x3'])).toBe(
      '|conv3x3~0|+|skip~0|none~1|+|avgpool3x3~0|conv1x1~1|conv3x3~2|',
    );
    expect(architectureText('chain', ['linear', 'skip', 'relu-linear'])).toBe('linear → skip → relu-linear');
  });
});
