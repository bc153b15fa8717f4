import type { Agent } from '@prisma/client';
import { chooseAgent } from './choose-agent';

const t0 = new Date('2026-11-29T10:00:00Z');
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);

function agent(id: string, heartbeat: number, timeout: number | null = null): Agent {
  return {
    id,
    name: id,
    secretHash: '',
    datasets: ['uci-digits'],
    exampleCounts: null,
    datasetHashes: null,
    lastHeartbeatAt: at(heartbeat),
    lastTaskTimeoutAt: timeout === null ? null : at(timeout),
    revokedAt: null,
    netRetries: null,
    netFailures: null,
    netReportedAt: null,
    lastError: null,
    lastErrorAt: null,
    leftAt: null,
    labels: {},
    backend: null,
    device: null,
    createdAt: t0,
  };
}

describe('chooseAgent', () => {
  const none = new Set<string>();
  const idle = new Map<string, number>();

  it('takes the least busy agent, the earlier one on a tie', () => {
    const agents = [agent('a', 0), agent('b', 0), agent('c', 0)];
    expect(chooseAgent(agents, none, idle)?.id).toBe('a');
    expect(
      chooseAgent(
        agents,
        none,
        new Map([
          ['a', 2],
          ['b', 1],
          ['c', 1],
        ]),
      )?.id,
    ).toBe('b');
    expect(chooseAgent([], none, idle)).toBeUndefined();
  });

  it('passes over an agent a task timed out on until it heartbeats again, however idle it is', () => {
    const load = new Map([['b', 3]]);
    // a: a task timed out at +10 s and no heartbeat since (it may be dead): b, busy but alive, goes first.
    expect(chooseAgent([agent('a', 5, 10), agent('b', 9)], none, load)?.id).toBe('b');
    expect(chooseAgent([agent('a', 10, 10), agent('b', 9)], none, load)?.id).toBe('b'); // a heartbeat at the same instant does not clear it
    // a heartbeated after the timeout: alive after all, and the least busy.
    expect(chooseAgent([agent('a', 11, 10), agent('b', 9)], none, load)?.id).toBe('a');
    // Only suspects online: still given the task (better late than never).
    expect(chooseAgent([agent('a', 5, 10), agent('b', 5, 8)], none, load)?.id).toBe('a');
  });

  it('gives a task back to an agent that failed it only when no other agent is online, suspect or not', () => {
    const failed = new Set(['a']);
    expect(chooseAgent([agent('a', 0), agent('b', 5, 10)], failed, idle)?.id).toBe('b');
    expect(chooseAgent([agent('a', 0)], failed, idle)?.id).toBe('a');
  });
});
