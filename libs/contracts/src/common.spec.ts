import {
  AGENT_PAGE,
  AgentListQuerySchema,
  INT4_MAX,
  ParticipationQuerySchema,
  int4,
  isSafeText,
  pageOf,
  perDataset,
  safeText,
  unsafeTextPath,
} from './common';
import { RoundParam, UpdateMetaSchema } from './kinds/federated';

describe('input bounds (contracts)', () => {
  it('int4(): integers an int4 column holds, within the bounds asked for', () => {
    expect(int4().safeParse(INT4_MAX).success).toBe(true);
    expect(int4().safeParse(INT4_MAX + 1).success).toBe(false);
    expect(int4().safeParse(-1).success).toBe(false);
    expect(int4(1, 10).safeParse(11).success).toBe(false);
    expect(int4(0, 2 ** 40).safeParse(INT4_MAX + 1).success).toBe(false); // max clamped to the column
  });

  it('RoundParam and the update metadata: decimal int4 only', () => {
    expect(RoundParam.parse('0')).toBe(0);
    expect(RoundParam.parse('2147483647')).toBe(INT4_MAX);
    for (const bad of ['2147483648', '99999999999', '-1', '1e3', '0x10', ' 1', ''])
      expect([bad, RoundParam.safeParse(bad).success]).toEqual([bad, false]);
    expect(UpdateMetaSchema.safeParse({ exampleCount: '3000000000', trainLoss: '1', durationMs: '1' }).success).toBe(false);
    expect(UpdateMetaSchema.parse({ exampleCount: '12', trainLoss: '0.5', durationMs: '3' })).toEqual({
      exampleCount: 12,
      trainLoss: 0.5,
      durationMs: 3,
    });
  });

  it('paging: limit within 1..max, offset from 0, digits only, unknown keys refused; defaults applied by pageOf', () => {
    expect(pageOf(AgentListQuerySchema.parse({}), AGENT_PAGE)).toEqual({ limit: 1000, offset: 0 });
    expect(pageOf(AgentListQuerySchema.parse({ limit: '10000', offset: '20000' }), AGENT_PAGE)).toEqual({ limit: 10_000, offset: 20_000 });
    for (const bad of [{ limit: '0' }, { limit: '10001' }, { limit: '-1' }, { offset: '1.5' }, { limit: '' }, { page: '2' }])
      expect([bad, AgentListQuerySchema.safeParse(bad).success]).toEqual([bad, false]);
    // The participation matrix pages rounds up to 1,000 and agents up to 10,000.
    expect(ParticipationQuerySchema.safeParse({ limit: '1001' }).success).toBe(false);
    expect(ParticipationQuerySchema.parse({ agentLimit: '10000', agentOffset: '5' })).toEqual({ agentLimit: 10_000, agentOffset: 5 });
    expect(ParticipationQuerySchema.safeParse({ agentLimit: '10001' }).success).toBe(false);
  });

  it('safeText(): refuses NUL and unpaired surrogates, keeps every other string (paired surrogates too)', () => {
    for (const ok of ['', 'edge 17', 'ä ✓ 😀', '\u0001\ttab']) expect([ok, safeText().safeParse(ok).success]).toEqual([ok, true]);
    for (const bad of ['a\u0000', '\ud800', 'x\udfff', '\udc00\ud800']) expect([bad, isSafeText(bad)]).toEqual([bad, false]);
  });

  it('unsafeTextPath(): the path of the first unsafe string or key anywhere in a JSON value, however deep', () => {
    expect(unsafeTextPath({ a: [1, 'ok', { b: 'x\u0000' }] })).toBe('a[2].b');
    expect(unsafeTextPath({ a: { '\ud800': 1 } })).toBe('a."\\ud800"');
    expect(unsafeTextPath('\u0000')).toBe('(root)');
    expect(unsafeTextPath({ a: ['😀', 2, null, true], b: { c: 'fine' } })).toBeNull();
    let deep: unknown = 'x\ud800';
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(unsafeTextPath(deep)).toMatch(/^(\[0\])+$/);
  });

  it('perDataset(): keys are dataset names, at most 64 of them', () => {
    const counts = perDataset(int4());
    expect(counts.safeParse({ 'uci-digits': 5 }).success).toBe(true);
    expect(counts.safeParse({ 'Not A Name': 5 }).success).toBe(false);
    expect(counts.safeParse(Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`d${i}`, 1]))).success).toBe(false);
  });
});
