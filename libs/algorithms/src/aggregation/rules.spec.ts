import { createRng } from '../random';
import { FEDAU_INITIAL_STATE } from './fedau';
import {
  AGGREGATION_RULE_NAMES,
  createAggregationRule,
  DEFAULT_LEARNING_RATES,
  EMPTY_CLIENT_STATE,
  sumMemories,
  validateAggregationSpec,
  type AggregationClientState,
  type AggregationRule,
  type AggregationSpec,
  type RoundOutcome,
} from './rules';
import { setSimdFold } from './simd-fold';

const f32 = (xs: number[]): Float32Array => Float32Array.from(xs);

/** Drives a rule over rounds of (participant → Δ) maps, keeping states and memories as the coordinator would. */
function drive(
  rule: AggregationRule,
  clients: string[],
  rounds: Record<string, number[]>[],
  x0: number[],
): { xs: number[][]; outs: RoundOutcome[] } {
  let states = new Map<string, AggregationClientState>(clients.map((id) => [id, rule.initialClientState()]));
  const memories = new Map<string, Float32Array>();
  let memorySum: Float64Array | null = null;
  let x = f32(x0);
  const xs: number[][] = [];
  const outs: RoundOutcome[] = [];
  for (const updates of rounds) {
    const round = rule.beginRound(x.length, { clientStates: states, memorySum });
    for (const [id, delta] of Object.entries(updates)) round.add(id, f32(delta), memories.get(id) ?? null);
    const out = round.finish(x);
    outs.push(out);
    x = out.model;
    states = out.states;
    memorySum = out.memorySum;
    for (const [id, m] of out.memories) memories.set(id, m);
    xs.push(Array.from(x));
  }
  return { xs, outs };
}

describe('validateAggregationSpec', () => {
  it('accepts every rule of docs/algorithms/fedau.md §4 and returns a clean copy', () => {
    expect(validateAggregationSpec({ rule: 'fedau', cutoffK: null })).toEqual({ rule: 'fedau', cutoffK: null });
    expect(validateAggregationSpec({ rule: 'fedau', cutoffK: 50 })).toEqual({ rule: 'fedau', cutoffK: 50 });
    expect(validateAggregationSpec({ rule: 'known-p', p: { a: 0.5, b: 1 } })).toEqual({ rule: 'known-p', p: { a: 0.5, b: 1 } });
    for (const rule of ['avg-participating', 'avg-all', 'mifa', 'fedvarp']) expect(validateAggregationSpec({ rule })).toEqual({ rule });
    expect(AGGREGATION_RULE_NAMES).toEqual(['fedau', 'known-p', 'avg-participating', 'avg-all', 'mifa', 'fedvarp']);
  });

  it('refuses unknown rules and fields and out-of-range options, naming the rule and the field', () => {
    expect(() => validateAggregationSpec({ rule: 'fedprox' })).toThrow(/unknown rule "fedprox"/);
    expect(() => validateAggregationSpec(null)).toThrow(/expected an object/);
    expect(() => validateAggregationSpec({ rule: 'fedau' })).toThrow(/'fedau'.*cutoffK must be null/);
    expect(() => validateAggregationSpec({ rule: 'fedau', cutoffK: 0 })).toThrow(/cutoffK/);
    expect(() => validateAggregationSpec({ rule: 'fedau', cutoffK: 2.5 })).toThrow(/cutoffK/);
    expect(() => validateAggregationSpec({ rule: 'fedau', cutoffK: null, K: 3 })).toThrow(/'fedau'.*unknown field 'K'/);
    expect(() => validateAggregationSpec({ rule: 'mifa', cutoffK: null })).toThrow(/'mifa'.*unknown field 'cutoffK'/);
    expect(() => validateAggregationSpec({ rule: 'known-p', p: {} })).toThrow(/'known-p'.*p is empty/);
    expect(() => validateAggregationSpec({ rule: 'known-p', p: { a: 0 } })).toThrow(/p\['a'\] must be a number in \(0, 1\]/);
    expect(() => validateAggregationSpec({ rule: 'known-p', p: { a: 1.5 } })).toThrow(/p\['a'\]/);
  });

  it('exports the learning rates of docs/algorithms/fedau.md §5', () => {
    expect(DEFAULT_LEARNING_RATES).toEqual({
      fedau: { localLr: 0.1, globalLr: 1 },
      'known-p': { localLr: 0.0562, globalLr: 1 },
      'avg-participating': { localLr: 0.0562, globalLr: 1.78 },
      'avg-all': { localLr: 0.1, globalLr: 10 },
      mifa: { localLr: 0.0562, globalLr: 1 },
      fedvarp: { localLr: 0.0562, globalLr: 1 },
    });
    expect(createAggregationRule({ rule: 'avg-all' }).globalLr).toBe(10);
    expect(createAggregationRule({ rule: 'avg-all' }, { globalLr: 1 }).globalLr).toBe(1);
  });
});

describe('FedAU through the rule interface (docs/algorithms/fedau.md §10, checks 1–3)', () => {
  const q = [0, 0, 1, 0, 0, 0, 0, 1, 1, 0];

  /** Weights used at the participating rounds, read from each round's outcome, and the final state. */
  function weightsOver(cutoffK: number | null): { weights: number[]; state: AggregationClientState } {
    const rule = createAggregationRule({ rule: 'fedau', cutoffK }, { globalLr: 1 });
    const { outs } = drive(
      rule,
      ['n'],
      q.map((x): Record<string, number[]> => (x ? { n: [0] } : {})),
      [0],
    );
    return {
      weights: outs.flatMap((o) => (o.weights.has('n') ? [o.weights.get('n')!] : [])),
      state: outs[outs.length - 1].states.get('n')!,
    };
  }

  it('check 1: K = 3 → [1, 3, 8/3], final (9, 4, 1); K = ∞ → [1, 3, 4], final (9, 3, 1)', () => {
    // Derivation in fedau.spec.ts; here the same numbers must come out of beginRound/add/finish.
    const k3 = weightsOver(3);
    expect(k3.weights[0]).toBe(1);
    expect(k3.weights[1]).toBe(3);
    expect(k3.weights[2]).toBeCloseTo(8 / 3, 14);
    expect(k3.state).toEqual({ sum: 9, cnt: 4, miss: 1 });
    const inf = weightsOver(null);
    expect(inf.weights).toEqual([1, 3, 4]);
    expect(inf.state).toEqual({ sum: 9, cnt: 3, miss: 1 });
  });

  it('check 3: a client participating in rounds 0 and 1 gets weight 1 in both (round 0 recorded an interval of 1)', () => {
    const rule = createAggregationRule({ rule: 'fedau', cutoffK: null });
    const { outs } = drive(rule, ['n', 'm'], [{ n: [1] }, { n: [1] }, { m: [1] }], [0]);
    expect(outs[0].weights.get('n')).toBe(1);
    expect(outs[1].weights.get('n')).toBe(1);
    // m missed rounds 0 and 1: nothing recorded before its first participation, so weight 1 (not 3).
    expect(outs[2].weights.get('m')).toBe(1);
    expect(outs[2].states.get('m')).toEqual({ miss: 0, sum: 3, cnt: 1 });
  });

  it('check 2: under Bernoulli(p) the weight tends to (1 − (1−p)^K)/p, within 1% over 10^6 rounds', () => {
    // Expected 31.79, 10.0, 2.19, 12.83 (docs/algorithms/fedau.md §2.4). The weight is the mean of the ≈ 10^6/ω recorded
    // intervals, so its relative SE is SD(interval)/(ω·sqrt(10^6/ω)): (0.1, ∞) geometric SD 9.5 over 10^5
    // intervals → 0.3%; (0.02, 50) SD < 16 over 3·10^4 → < 0.3%; (0.05, 20) SD < 7 over 8·10^4 → < 0.2%;
    // (0.3, 3) SD < 1 → < 0.1%. The 1% bound is ≥ 3 SE; fixed seeds make it deterministic.
    const cases: [number, number | null][] = [
      [0.02, 50],
      [0.1, null],
      [0.3, 3],
      [0.05, 20],
    ];
    for (const [p, K] of cases) {
      const rule = createAggregationRule({ rule: 'fedau', cutoffK: K });
      const rng = createRng(Math.round(p * 1000) + (K ?? 0));
      let state: AggregationClientState = rule.initialClientState();
      for (let t = 0; t < 1_000_000; t++) state = rule.advance('n', state, rng.next() < p);
      const expected = (1 - (1 - p) ** (K ?? Infinity)) / p;
      expect(Math.abs(rule.weight('n', state) - expected) / expected).toBeLessThan(0.01);
    }
  });
});

describe('rules on a hand-checked sequence (docs/algorithms/fedau.md §4 table)', () => {
  // N = 3 clients a, b, c; x_0 = (0, 0); γ = 1; the second coordinate is −1/2 × the first in every Δ, so it
  // must stay −1/2 × the first in x. Rounds: 0: a Δ=6 · 1: a Δ=3, b Δ=12 · 2: nobody · 3: b Δ=−6, c Δ=3.
  const clients = ['a', 'b', 'c'];
  const v = (s: number): number[] => [s, -s / 2];
  const rounds: Record<string, number[]>[] = [{ a: v(6) }, { a: v(3), b: v(12) }, {}, { b: v(-6), c: v(3) }];
  const firstCoords = (spec: AggregationSpec): number[] => {
    const { xs } = drive(createAggregationRule(spec, { globalLr: 1 }), clients, rounds, [0, 0]);
    for (const x of xs) expect(x[1]).toBe(-x[0] / 2);
    return xs.map((x) => x[0]);
  };

  it('avg-all: x += Σ_S Δ / N', () => {
    // 6/3 = 2; 2 + 15/3 = 7; 7 (empty); 7 + (−6 + 3)/3 = 6.
    expect(firstCoords({ rule: 'avg-all' })).toEqual([2, 7, 7, 6]);
  });

  it('avg-participating: x += Σ_S Δ / |S|, nothing in an empty round', () => {
    // 6/1 = 6; 6 + 15/2 = 13.5; 13.5; 13.5 + (−3)/2 = 12.
    expect(firstCoords({ rule: 'avg-participating' })).toEqual([6, 13.5, 13.5, 12]);
  });

  it('known-p: x += Σ_S Δ/p_n / N', () => {
    // p = (a ½, b ¼, c 1): 12/3 = 4; 4 + (6 + 48)/3 = 22; 22; 22 + (−24 + 3)/3 = 15.
    expect(firstCoords({ rule: 'known-p', p: { a: 0.5, b: 0.25, c: 1 } })).toEqual([4, 22, 22, 15]);
  });

  it('fedau K = ∞ and K = 2: ω from the rounds before', () => {
    // K = ∞: round 0 a ω=1 → 2. Round 1: a ω=1 (interval 1), b ω=1 (nothing recorded) → 2 + 15/3 = 7.
    // Round 2: empty → 7. Round 3: b ω = 2 (its one interval: rounds 0–1), c ω = 1 (never participated)
    // → 7 + (2·(−6) + 3)/3 = 4.
    expect(firstCoords({ rule: 'fedau', cutoffK: null })).toEqual([2, 7, 7, 4]);
    // K = 2: c's two misses (rounds 0, 1) close a virtual interval of 2 → c ω = 2 in round 3
    // → 7 + (2·(−6) + 2·3)/3 = 5. Everything before is as with K = ∞.
    expect(firstCoords({ rule: 'fedau', cutoffK: 2 })).toEqual([2, 7, 7, 5]);
  });

  it('mifa: M_n ← Δ_n, x += Σ_all M / N, also in an empty round', () => {
    // ΣM: 6 → x 2; 3 + 12 = 15 → 2 + 5 = 7; empty: 7 + 15/3 = 12; M_b = −6, M_c = 3: ΣM = 3 − 6 + 3 = 0 → 12.
    expect(firstCoords({ rule: 'mifa' })).toEqual([2, 7, 12, 12]);
  });

  it('fedvarp: x += (1/|S|) Σ_S (Δ − M) + M̄ with M̄ from the start of the round; nothing when S = ∅', () => {
    // Round 0: M̄ = 0 → (6 − 0)/1 = 6. Round 1: M̄ = 6/3 = 2 → ((3 − 6) + (12 − 0))/2 + 2 = 6.5 → 12.5.
    // Round 2: empty → 12.5. Round 3: M̄ = 15/3 = 5 → ((−6 − 12) + (3 − 0))/2 + 5 = −2.5 → 10.
    expect(firstCoords({ rule: 'fedvarp' })).toEqual([6, 12.5, 12.5, 10]);
  });

  it('mifa and fedvarp hand back the new memories and Σ M; the others keep none', () => {
    for (const rule of ['mifa', 'fedvarp'] as const) {
      const { outs } = drive(createAggregationRule({ rule }), clients, rounds, [0, 0]);
      expect([...outs[1].memories.keys()].sort()).toEqual(['a', 'b']);
      expect(Array.from(outs[1].memories.get('b')!)).toEqual([12, -6]);
      expect(Array.from(outs[1].memorySum!)).toEqual([15, -7.5]);
      expect(Array.from(outs[3].memorySum!)).toEqual([0, 0]);
      expect(Array.from(sumMemories([f32([3, -1.5]), f32([-6, 3]), f32([3, -1.5])], 2))).toEqual([0, 0]);
    }
    const { outs } = drive(createAggregationRule({ rule: 'fedau', cutoffK: null }), clients, rounds, [0, 0]);
    expect(outs[1].memories.size).toBe(0);
    expect(outs[1].memorySum).toBeNull();
  });
});

describe('rule properties', () => {
  it('docs/algorithms/fedau.md §10, check 4: everyone participating every round, γ = 1 → fedau, known-p (p = 1), avg-all and avg-participating are all exactly FedAvg', () => {
    // FedAU weights are 1 in round 0 (nothing recorded) and 1 afterwards (every interval is 1), so
    // Σ ω Δ / N = Σ Δ / N = Σ Δ / |S| bit for bit.
    const rng = createRng(4);
    const clients = ['a', 'b', 'c'];
    // Deltas are float32 values (as the rules receive them), so the hand sum sees the same inputs.
    const rounds = Array.from({ length: 30 }, () =>
      Object.fromEntries(clients.map((id) => [id, Array.from({ length: 5 }, () => Math.fround(rng.normal()))])),
    );
    const x0 = [1, 2, 3, 4, 5];
    const specs: AggregationSpec[] = [
      { rule: 'fedau', cutoffK: null },
      { rule: 'fedau', cutoffK: 2 },
      { rule: 'known-p', p: { a: 1, b: 1, c: 1 } },
      { rule: 'avg-all' },
      { rule: 'avg-participating' },
    ];
    const results = specs.map((s) => drive(createAggregationRule(s, { globalLr: 1 }), clients, rounds, x0).xs);
    // FedAvg by hand: x + (Σ Δ)/N with the same float32 rounding of x after every round.
    let x = f32(x0);
    for (const r of rounds) {
      const next = new Float32Array(5);
      for (let i = 0; i < 5; i++) next[i] = x[i] + (r.a[i] + r.b[i] + r.c[i]) / 3;
      x = next;
    }
    for (const xs of results) expect(xs[xs.length - 1]).toEqual(Array.from(x));
  });

  it('does not depend on the order in which participants report, up to float32 rounding', () => {
    const rng = createRng(8);
    const d = 64;
    const ids = Array.from({ length: 12 }, (_, i) => `c${i}`);
    const deltas = ids.map(() => Float32Array.from({ length: d }, () => rng.normal()));
    const memories = ids.map(() => Float32Array.from({ length: d }, () => rng.normal()));
    const memorySum = sumMemories(memories, d);
    for (const spec of [{ rule: 'fedau', cutoffK: null }, { rule: 'mifa' }, { rule: 'fedvarp' }] as AggregationSpec[]) {
      const rule = createAggregationRule(spec);
      const run = (order: number[]): Float32Array => {
        const states = new Map<string, AggregationClientState>(
          ids.map((id, i): [string, AggregationClientState] => [
            id,
            spec.rule === 'fedau' ? { miss: 0, sum: i + 1, cnt: 1 } : EMPTY_CLIENT_STATE,
          ]),
        );
        const round = rule.beginRound(d, { clientStates: states, memorySum });
        for (const i of order) round.add(ids[i], deltas[i], memories[i]);
        return round.finish(new Float32Array(d)).model;
      };
      const a = run(ids.map((_, i) => i));
      const b = run(ids.map((_, i) => ids.length - 1 - i));
      // Float64 sums of 12 terms agree to ~1e-15 relative; rounded to float32 they agree to one float32 step.
      for (let i = 0; i < d; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(Math.abs(a[i]) * 2 ** -23);
    }
  });

  it('a float32 accumulator gives the same models to float32 accuracy', () => {
    // Hand sequence values are small integers and halves: float32 sums are exact, so equality holds exactly.
    const clients = ['a', 'b', 'c'];
    const rounds: Record<string, number[]>[] = [{ a: [6] }, { a: [3], b: [12] }, {}, { b: [-6], c: [3] }];
    for (const spec of [
      { rule: 'fedau', cutoffK: null },
      { rule: 'mifa' },
      { rule: 'fedvarp' },
      { rule: 'avg-participating' },
    ] as AggregationSpec[]) {
      const f64 = drive(createAggregationRule(spec, { globalLr: 1 }), clients, rounds, [0]).xs;
      const f32acc = drive(createAggregationRule(spec, { globalLr: 1, accumulator: 'float32' }), clients, rounds, [0]).xs;
      expect(f32acc).toEqual(f64);
    }
  });

  it('accumulates in float64 by default: 1e8 + 1 − 1e8 = 1, where a float32 accumulator gives 0', () => {
    // float32 has a 24-bit significand: the spacing at 1e8 is 8, so 1e8 + 1 rounds back to 1e8 in float32.
    // avg-all with N = 3 and γ = 3: x = 0 + 3 · (1e8 + 1 − 1e8) / 3.
    const run = (accumulator: 'float64' | 'float32'): number =>
      drive(
        createAggregationRule({ rule: 'avg-all' }, { globalLr: 3, accumulator }),
        ['a', 'b', 'c'],
        [{ a: [1e8], b: [1], c: [-1e8] }],
        [0],
      ).xs[0][0];
    expect(run('float64')).toBe(1);
    expect(run('float32')).toBe(0);
  });

  it('advances every client after a round, non-participants and empty rounds included, and leaves the input states alone', () => {
    const rule = createAggregationRule({ rule: 'fedau', cutoffK: null }, { globalLr: 1 });
    const before = new Map<string, AggregationClientState>([
      ['a', { miss: 1, sum: 3, cnt: 1 }],
      ['b', FEDAU_INITIAL_STATE],
      ['c', FEDAU_INITIAL_STATE],
    ]);
    const r = rule.beginRound(1, { clientStates: before });
    r.add('a', f32([1]));
    const out = r.finish(f32([0]));
    expect(out.weights.get('a')).toBe(3); // sum/cnt from the state before the round
    expect(out.model[0]).toBe(1); // 0 + γ · 3 · 1 / N, N = 3 (all clients, not |S| = 1)
    expect(out.states.get('a')).toEqual({ miss: 0, sum: 5, cnt: 2 }); // the interval 1 + 1 = 2 closes
    expect(out.states.get('b')).toEqual({ miss: 1, sum: 0, cnt: 0 });
    expect(out.states.get('c')).toEqual({ miss: 1, sum: 0, cnt: 0 });
    expect(before.get('a')).toEqual({ miss: 1, sum: 3, cnt: 1 });
    // An empty round: the model is unchanged (in a new array), and every client still records a miss.
    const x = f32([0.25, -1]);
    const states = new Map<string, AggregationClientState>([
      ['a', FEDAU_INITIAL_STATE],
      ['b', FEDAU_INITIAL_STATE],
    ]);
    const empty = rule.beginRound(2, { clientStates: states }).finish(x);
    expect(Array.from(empty.model)).toEqual([0.25, -1]);
    expect(empty.model).not.toBe(x);
    expect(empty.weights.size).toBe(0);
    expect([...empty.states.values()]).toEqual([
      { miss: 1, sum: 0, cnt: 0 },
      { miss: 1, sum: 0, cnt: 0 },
    ]);
  });

  it('with updatesValidated it skips the NaN scan but gives the same result and still checks lengths', () => {
    const states = new Map<string, AggregationClientState>([
      ['a', EMPTY_CLIENT_STATE],
      ['b', EMPTY_CLIENT_STATE],
    ]);
    for (const spec of [{ rule: 'avg-all' }, { rule: 'fedvarp' }] as AggregationSpec[]) {
      const rule = createAggregationRule(spec, { globalLr: 1 });
      const run = (updatesValidated: boolean): number[] => {
        const r = rule.beginRound(2, { clientStates: states, memorySum: null, updatesValidated });
        r.add('a', f32([2, 4]), null);
        r.add('b', f32([6, -2]), null);
        return Array.from(r.finish(f32([0, 0])).model);
      };
      expect(run(true)).toEqual(run(false));
      const r = rule.beginRound(2, { clientStates: states, memorySum: null, updatesValidated: true });
      expect(() => r.add('a', f32([1]), null)).toThrow(new RegExp(`${spec.rule} add: update of client 'a' has length 1, expected 2`));
    }
  });

  it('client states are plain JSON and read back; each rule refuses a state of another', () => {
    const fedau = createAggregationRule({ rule: 'fedau', cutoffK: 50 });
    const s = fedau.advance('n', fedau.advance('n', fedau.initialClientState(), false), true);
    expect(fedau.parseClientState(JSON.parse(JSON.stringify(s)))).toEqual({ miss: 0, sum: 2, cnt: 1 });
    expect(fedau.initialClientState()).toBe(FEDAU_INITIAL_STATE);
    const mifa = createAggregationRule({ rule: 'mifa' });
    expect(mifa.parseClientState(JSON.parse(JSON.stringify(mifa.initialClientState())))).toBe(EMPTY_CLIENT_STATE);
    expect(() => mifa.parseClientState({ miss: 0, sum: 0, cnt: 0 })).toThrow(/mifa parseClientState: expected \{\}/);
    expect(() => fedau.parseClientState({})).toThrow(/FedAU parseFedAuState/);
  });

  it('reports its memory: O(1) numbers for fedau/known-p/avg-*, 4·d bytes per client plus 8·d per job for mifa/fedvarp', () => {
    const d = 100_000;
    const fp = (spec: AggregationSpec, acc: 'float64' | 'float32' = 'float64') =>
      createAggregationRule(spec, { accumulator: acc }).memoryFootprint(d);
    expect(fp({ rule: 'fedau', cutoffK: null })).toEqual({
      stateNumbersPerClient: 3,
      vectorBytesPerClient: 0,
      bytesPerClient: 24,
      bytesPerJob: 0,
      bytesPerRound: 800_000,
    });
    expect(fp({ rule: 'known-p', p: { a: 1 } }).bytesPerClient).toBe(8);
    expect(fp({ rule: 'avg-all' }).bytesPerClient).toBe(0);
    expect(fp({ rule: 'avg-participating' }, 'float32').bytesPerRound).toBe(400_000);
    expect(fp({ rule: 'mifa' })).toEqual({
      stateNumbersPerClient: 0,
      vectorBytesPerClient: 400_000,
      bytesPerClient: 400_000,
      bytesPerJob: 800_000,
      bytesPerRound: 800_000,
    });
    expect(fp({ rule: 'fedvarp' }).bytesPerClient).toBe(400_000);
    expect(createAggregationRule({ rule: 'mifa' }).usesClientMemory).toBe(true);
    expect(createAggregationRule({ rule: 'avg-all' }).usesClientMemory).toBe(false);
  });

  it('checks its arguments before touching the round, naming the rule', () => {
    const states = new Map<string, AggregationClientState>([
      ['a', {}],
      ['b', {}],
    ]);
    const avg = createAggregationRule({ rule: 'avg-all' }).beginRound(2, { clientStates: states });
    expect(() => avg.add('z', f32([1, 1]))).toThrow(/avg-all add: update from client 'z', which is not in the round's clientStates/);
    expect(() => avg.add('a', f32([1, NaN]))).toThrow(/avg-all add: update of client 'a' contains NaN at index 1/);
    expect(() => avg.add('a', f32([1]))).toThrow(/has length 1, expected 2/);
    avg.add('a', f32([3, 3]));
    expect(() => avg.add('a', f32([1, 1]))).toThrow(/second update from client 'a'/);
    expect(avg.participants).toBe(1);
    expect(() => avg.finish(f32([0]))).toThrow(/avg-all finish: global has length 1/);
    expect(Array.from(avg.finish(f32([0, 0])).model)).toEqual([15, 15]); // γ = 10 (default): 10 · 3 / 2
    expect(() => avg.finish(f32([0, 0]))).toThrow(/already finished/);

    const mifa = createAggregationRule({ rule: 'mifa' });
    expect(() => mifa.beginRound(2, { clientStates: states })).toThrow(/mifa beginRound: memorySum is required/);
    expect(() => mifa.beginRound(2, { clientStates: states, memorySum: new Float64Array(3) })).toThrow(/memorySum has length 3/);
    const r = mifa.beginRound(2, { clientStates: states, memorySum: null });
    expect(() => r.add('a', f32([1, 1]))).toThrow(/mifa add: previousMemory of client 'a' is required/);
    expect(() => r.add('a', f32([1, 1]), f32([1]))).toThrow(/previousMemory of client 'a' has length 1/);
    expect(r.participants).toBe(0);

    expect(() => createAggregationRule({ rule: 'fedvarp' }).beginRound(2, { clientStates: new Map(), memorySum: null })).toThrow(
      /clientStates is empty/,
    );
    expect(() => createAggregationRule({ rule: 'fedau', cutoffK: null }, { globalLr: NaN })).toThrow(/fedau.*globalLr must be finite/);
    expect(() => createAggregationRule({ rule: 'known-p', p: { a: 0.5 } }).weight('b', {})).toThrow(
      /known-p: no participation probability for client 'b'/,
    );
    expect(() => createAggregationRule({ rule: 'avg-all' }).beginRound(0, { clientStates: states })).toThrow(
      /dimension must be a positive integer/,
    );
  });
});

describe('buffered updates (bufferedUpdates = B)', () => {
  /** The bits of a float array, so that −0 ≠ +0 and every last-bit difference counts. */
  const bits = (a: Float32Array | Float64Array): Uint32Array =>
    a instanceof Float64Array ? new Uint32Array(a.buffer, a.byteOffset, 2 * a.length) : new Uint32Array(a.buffer, a.byteOffset, a.length);
  /** The first index at which two arrays differ in any bit, −1 when none (cheaper to compare than the arrays). */
  const firstDiff = (a: Float32Array | Float64Array, b: Float32Array | Float64Array): number => {
    const x = bits(a);
    const y = bits(b);
    if (x.length !== y.length) return Math.min(x.length, y.length);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
    return -1;
  };

  // d crosses the 2048-element fold tile twice and is not a multiple of the 4× unrolled loops.
  const d = 4099;
  const N = 20;
  const ids = Array.from({ length: N }, (_, i) => `c${i}`);
  const rng = createRng(77);
  // Magnitudes spread over ~40 bits between the updates at one element, and weights that are not short binary
  // fractions: float64 sums of these are inexact, so any change in the order of the additions shows.
  const vec = (n: number): Float32Array =>
    Float32Array.from({ length: d }, (_, i) => (i % 97 === 0 ? -0 : rng.normal() * 10 ** (((3 * n + i) % 13) - 6)));
  const deltas = ids.map((_, n) => vec(n));
  // MIFA/FedVarp: every third client has never participated (M_n = null), so runs of plain and difference
  // updates alternate inside one fold.
  const memories = ids.map((_, n) => (n % 3 === 0 ? null : vec(n + 5)));
  const memorySum = sumMemories(
    memories.filter((m): m is Float32Array => m !== null),
    d,
  );
  const global = vec(3);
  const specs: AggregationSpec[] = [
    { rule: 'fedau', cutoffK: null },
    { rule: 'known-p', p: Object.fromEntries(ids.map((id, n) => [id, 0.3 + 0.03 * n])) },
    { rule: 'avg-participating' },
    { rule: 'avg-all' },
    { rule: 'mifa' },
    { rule: 'fedvarp' },
  ];
  // FedAU with distinct, inexact weights per client (ω = sum/cnt = (4 + n)/3).
  const statesFor = (rule: AggregationRule): Map<string, AggregationClientState> =>
    new Map(
      ids.map((id, n): [string, AggregationClientState] => [
        id,
        rule.spec.rule === 'fedau' ? { miss: 0, sum: 4 + n, cnt: 3 } : rule.initialClientState(),
      ]),
    );

  function round(
    spec: AggregationSpec,
    accumulator: 'float64' | 'float32',
    bufferedUpdates: number,
    k: number,
    validated = false,
    input: 'arrays' | 'buffers' = 'arrays',
  ): RoundOutcome {
    const rule = createAggregationRule(spec, { globalLr: 0.7, accumulator, bufferedUpdates });
    const r = rule.beginRound(d, { clientStates: statesFor(rule), memorySum, updatesValidated: validated });
    // Arrival order: a fixed permutation, not the id order.
    for (let j = 0; j < k; j++) {
      const n = (j * 7) % N;
      let delta = deltas[n];
      if (input === 'buffers') {
        delta = r.updateBuffer();
        delta.set(deltas[n]);
      }
      r.add(ids[n], delta, memories[n]);
    }
    expect(r.participants).toBe(k);
    return r.finish(global);
  }

  it('uses data on which the order of the additions changes the float64 sum (else the tests below prove nothing)', () => {
    let forward = 0;
    let backward = 0;
    for (let n = 0; n < N; n++) forward += deltas[n][4098] * (n + 1.1);
    for (let n = N - 1; n >= 0; n--) backward += deltas[n][4098] * (n + 1.1);
    expect(forward).not.toBe(backward);
  });

  it('gives bit-identical models and Σ M for every B, number of updates and accumulator precision', () => {
    for (const spec of specs) {
      for (const accumulator of ['float64', 'float32'] as const) {
        for (const k of [0, 1, 3, 4, 5, 7, 8, 9, 16, 17, 20]) {
          const one = round(spec, accumulator, 1, k);
          for (const b of [2, 3, 4, 5, 8, 64]) {
            const many = round(spec, accumulator, b, k, b % 2 === 0);
            const where = `${spec.rule} ${accumulator} B=${b} K=${k}`;
            expect({ where, model: firstDiff(many.model, one.model) }).toEqual({ where, model: -1 });
            if (one.memorySum) expect({ where, sum: firstDiff(many.memorySum!, one.memorySum) }).toEqual({ where, sum: -1 });
            expect(many.weights).toEqual(one.weights);
            expect(many.states).toEqual(one.states);
            expect([...many.memories.keys()]).toEqual([...one.memories.keys()]);
          }
        }
      }
    }
  });

  it('gives the same bits whether updates are written into updateBuffer() or passed as arrays, with or without SIMD', () => {
    for (const spec of specs) {
      for (const b of [1, 3, 8]) {
        for (const k of [0, 3, 8, 13, 20]) {
          const where = `${spec.rule} B=${b} K=${k}`;
          const arrays = round(spec, 'float64', b, k);
          const buffers = round(spec, 'float64', b, k, true, 'buffers');
          const was = setSimdFold(false);
          let scalar: RoundOutcome;
          try {
            scalar = round(spec, 'float64', b, k, false, 'buffers');
          } finally {
            setSimdFold(was);
          }
          expect({ where, buffers: firstDiff(buffers.model, arrays.model), scalar: firstDiff(scalar.model, arrays.model) }).toEqual({
            where,
            buffers: -1,
            scalar: -1,
          });
          if (arrays.memorySum) expect({ where, sum: firstDiff(buffers.memorySum!, arrays.memorySum) }).toEqual({ where, sum: -1 });
        }
      }
    }
  });

  it('with B = 1 and the default B it is one-at-a-time accumulation in arrival order, bit for bit', () => {
    // The reference: Σ in float64, one update after the other, then x + γ·Σ/N (as before buffering existed).
    for (const spec of [specs[0], specs[4]]) {
      const k = 13;
      const rule = createAggregationRule(spec, { globalLr: 0.7 });
      const states = statesFor(rule);
      const acc = new Float64Array(d);
      for (let j = 0; j < k; j++) {
        const n = (j * 7) % N;
        const w = rule.weight(ids[n], states.get(ids[n])!);
        const m = spec.rule === 'mifa' ? memories[n] : null;
        for (let i = 0; i < d; i++) acc[i] += w * (m ? deltas[n][i] - m[i] : deltas[n][i]);
      }
      const expected = new Float32Array(d);
      if (spec.rule === 'mifa') {
        for (let i = 0; i < d; i++) acc[i] = memorySum[i] + acc[i];
        for (let i = 0; i < d; i++) expected[i] = global[i] + (0.7 * acc[i]) / N;
      } else for (let i = 0; i < d; i++) expected[i] = global[i] + (0.7 * acc[i]) / N;
      expect(firstDiff(round(spec, 'float64', 1, k).model, expected)).toBe(-1);
      const byDefault = createAggregationRule(spec, { globalLr: 0.7 }).beginRound(d, { clientStates: states, memorySum });
      for (let j = 0; j < k; j++) byDefault.add(ids[(j * 7) % N], deltas[(j * 7) % N], memories[(j * 7) % N]);
      expect(firstDiff(byDefault.finish(global).model, expected)).toBe(-1);
    }
  });

  it('finishes a round whose buffer is empty (K = 0, or K a multiple of B) like an unbuffered one', () => {
    for (const spec of specs) {
      const empty = round(spec, 'float64', 8, 0);
      if (spec.rule === 'mifa') {
        const expected = new Float32Array(d);
        for (let i = 0; i < d; i++) expected[i] = global[i] + (0.7 * memorySum[i]) / N;
        expect(firstDiff(empty.model, expected)).toBe(-1);
      } else expect(firstDiff(empty.model, global)).toBe(-1);
      expect(firstDiff(round(spec, 'float64', 8, 16).model, round(spec, 'float64', 1, 16).model)).toBe(-1);
    }
  });

  it('a rejected update leaves the buffered round as it was', () => {
    for (const spec of [specs[3], specs[5]]) {
      const rule = createAggregationRule(spec, { globalLr: 1, bufferedUpdates: 4 });
      const r = rule.beginRound(d, { clientStates: statesFor(rule), memorySum });
      r.add(ids[0], deltas[0], memories[0]);
      r.add(ids[1], deltas[1], memories[1]);
      const bad = new Float32Array(deltas[2]);
      bad[4000] = NaN;
      expect(() => r.add(ids[2], bad, memories[2])).toThrow(/contains NaN at index 4000/);
      expect(() => r.add(ids[2], deltas[2].subarray(1), memories[2])).toThrow(/has length 4098/);
      r.add(ids[3], deltas[3], memories[3]);
      r.add(ids[4], deltas[4], memories[4]); // the fourth accepted update: the buffer is folded here
      expect(r.participants).toBe(4);
      const ref = createAggregationRule(spec, { globalLr: 1, bufferedUpdates: 1 }).beginRound(d, {
        clientStates: statesFor(rule),
        memorySum,
      });
      for (const n of [0, 1, 3, 4]) ref.add(ids[n], deltas[n], memories[n]);
      expect(firstDiff(r.finish(global).model, ref.finish(global).model)).toBe(-1);
    }
  });

  it('holds the arrays by reference until B are waiting or the round finishes (the documented contract)', () => {
    const rule = createAggregationRule({ rule: 'avg-all' }, { globalLr: 1, bufferedUpdates: 2 });
    const states = new Map<string, AggregationClientState>(['a', 'b', 'c'].map((id) => [id, EMPTY_CLIENT_STATE]));
    const r = rule.beginRound(1, { clientStates: states });
    const a = f32([3]);
    const b = f32([6]);
    const c = f32([9]);
    r.add('a', a);
    a[0] = 30; // still waiting: the change is seen
    r.add('b', b); // two waiting: both are summed now
    b[0] = 60; // too late: not seen
    r.add('c', c);
    c[0] = 90; // summed in finish: seen
    expect(Array.from(r.finish(f32([0])).model)).toEqual([(30 + 6 + 90) / 3]);
  });

  it("reuses a finished round's accumulator zeroed, never shares one between open rounds, and returns nothing that is reused", () => {
    // Rounds of one dimension, interleaved: A and B open at once; C opens after A finished (and takes A's
    // accumulator); MIFA's memorySum is its accumulator, given away: later rounds must not write into it.
    /** The same round with a rule of its own, run alone (a copy of its model). */
    function expectedOf(spec: AggregationSpec, k: number, offset: number): Float32Array {
      const rule = createAggregationRule(spec, { globalLr: 0.7, bufferedUpdates: 3 });
      const r = rule.beginRound(d, { clientStates: statesFor(rule), memorySum });
      for (let j = 0; j < k; j++) r.add(ids[(j + offset) % N], deltas[(j + offset) % N], memories[(j + offset) % N]);
      return new Float32Array(r.finish(global).model);
    }
    const expected = {
      a: expectedOf(specs[0], 7, 0),
      b: expectedOf(specs[3], 5, 3),
      c: expectedOf(specs[1], 11, 6),
      m: expectedOf(specs[4], 4, 1),
    };
    const open = (spec: AggregationSpec) => {
      const rule = createAggregationRule(spec, { globalLr: 0.7, bufferedUpdates: 3 });
      return rule.beginRound(d, { clientStates: statesFor(rule), memorySum });
    };
    const add = (r: ReturnType<typeof open>, from: number, to: number, offset: number): void => {
      for (let j = from; j < to; j++) r.add(ids[(j + offset) % N], deltas[(j + offset) % N], memories[(j + offset) % N]);
    };
    const a = open(specs[0]);
    const b = open(specs[3]);
    add(a, 0, 4, 0);
    add(b, 0, 2, 3);
    add(a, 4, 7, 0);
    const outA = a.finish(global);
    const c = open(specs[1]); // takes A's accumulator
    add(c, 0, 6, 6);
    add(b, 2, 5, 3);
    const outB = b.finish(global);
    const m = open(specs[4]); // MIFA takes B's accumulator and gives it away as its memorySum
    add(m, 0, 4, 1);
    add(c, 6, 11, 6);
    const outM = m.finish(global);
    const sumM = new Float64Array(outM.memorySum!);
    const outC = c.finish(global);
    const after = round(specs[2], 'float64', 4, 9); // more rounds of the same dimension reuse what was released
    round(specs[5], 'float32', 2, 9);
    expect(after.model).not.toBe(outC.model);
    expect(firstDiff(outA.model, expected.a)).toBe(-1);
    expect(firstDiff(outB.model, expected.b)).toBe(-1);
    expect(firstDiff(outC.model, expected.c)).toBe(-1);
    expect(firstDiff(outM.model, expected.m)).toBe(-1);
    expect(firstDiff(outM.memorySum!, sumM)).toBe(-1); // untouched by the rounds after it
  });

  it('refuses a bufferedUpdates that is not a positive integer, naming the rule', () => {
    for (const bad of [0, -1, 1.5, NaN, Infinity]) {
      expect(() => createAggregationRule({ rule: 'mifa' }, { bufferedUpdates: bad })).toThrow(
        /mifa: bufferedUpdates must be a positive integer/,
      );
      expect(() => createAggregationRule({ rule: 'fedau', cutoffK: null }, { bufferedUpdates: bad })).toThrow(/fedau: bufferedUpdates/);
    }
  });
});

describe('finish into a given array', () => {
  const specs: AggregationSpec[] = [
    { rule: 'fedau', cutoffK: null },
    { rule: 'known-p', p: { a: 0.5, b: 0.25, c: 1 } },
    { rule: 'avg-participating' },
    { rule: 'avg-all' },
    { rule: 'mifa' },
    { rule: 'fedvarp' },
  ];
  for (const spec of specs) {
    it(`${spec.rule}: into = x_t (in place) gives the same x_{t+1}, with and without participants`, () => {
      const d = 37;
      for (const updates of [{ a: 0.3, c: -1.1 }, {}] as Record<string, number>[]) {
        const run = (inPlace: boolean) => {
          const rule = createAggregationRule(spec, { globalLr: 0.7 });
          const states = new Map(['a', 'b', 'c'].map((id) => [id, rule.initialClientState()]));
          const memorySum = rule.usesClientMemory ? Float64Array.from({ length: d }, (_, i) => Math.sin(i)) : null;
          const round = rule.beginRound(d, { clientStates: states, memorySum });
          for (const [id, scale] of Object.entries(updates)) {
            round.add(
              id,
              Float32Array.from({ length: d }, (_, i) => scale * Math.cos(i * 1.3)),
              rule.usesClientMemory ? Float32Array.from({ length: d }, (_, i) => 0.01 * i) : null,
            );
          }
          const x = Float32Array.from({ length: d }, (_, i) => i / 7);
          const out = round.finish(x, inPlace ? { into: x } : undefined);
          if (inPlace) expect(out.model).toBe(x);
          return out.model;
        };
        expect(run(true)).toEqual(run(false));
      }
    });
  }

  it('refuses an output array of the wrong length', () => {
    const rule = createAggregationRule({ rule: 'avg-all' });
    const round = rule.beginRound(4, { clientStates: new Map([['a', rule.initialClientState()]]) });
    round.add('a', f32([1, 2, 3, 4]));
    expect(() => round.finish(f32([0, 0, 0, 0]), { into: new Float32Array(3) })).toThrow(/into has length 3, expected 4/);
  });
});

describe('clipped updates (add with a scale, the update policy of policy.ts)', () => {
  it('weighted-sum rules fold s·ω·Δ; s = 1 gives the very bits of an add without options', () => {
    // fedau, first round (ω = 1), N = 2: x = 1 + (0.25 · 1 · 8)/2 = 2; avg-participating: 1 + 0.25 · 8 / 1 = 3.
    for (const [spec, expected] of [
      [{ rule: 'fedau', cutoffK: null }, 2],
      [{ rule: 'avg-participating' }, 3],
    ] as [AggregationSpec, number][]) {
      const rule = createAggregationRule(spec, { globalLr: 1 });
      const round = rule.beginRound(1, { clientStates: new Map(['a', 'b'].map((id) => [id, rule.initialClientState()])) });
      round.add('a', f32([8]), null, { scale: 0.25 });
      const out = round.finish(f32([1]));
      expect([...out.model]).toEqual([expected]);
      expect(out.weights.get('a')).toBe(1); // the reported ω is the rule's, the scale is the policy's
    }
    const d = 29;
    const delta = Float32Array.from({ length: d }, (_, i) => Math.sin(i) / 3);
    const run = (options?: { scale: number }) => {
      const rule = createAggregationRule({ rule: 'fedau', cutoffK: null }, { globalLr: 0.7 });
      const round = rule.beginRound(d, { clientStates: new Map(['a', 'b', 'c'].map((id) => [id, rule.initialClientState()])) });
      round.add('a', delta, null, options);
      round.add(
        'b',
        delta.map((v) => -v / 7),
      );
      return round.finish(Float32Array.from({ length: d }, (_, i) => i / 11)).model;
    };
    expect(run({ scale: 1 })).toEqual(run());
  });

  it('MIFA and FedVarp keep the clipped update s·Δ (float32) as the memory, leaving the input alone', () => {
    // MIFA, N = 2: M_a = 0.5 · [2, −4] = [1, −2]; x = 0 + [1, −2]/2.
    const rule = createAggregationRule({ rule: 'mifa' }, { globalLr: 1 });
    const round = rule.beginRound(2, { clientStates: new Map(['a', 'b'].map((id) => [id, rule.initialClientState()])), memorySum: null });
    const delta = f32([2, -4]);
    round.add('a', delta, null, { scale: 0.5 });
    const out = round.finish(f32([0, 0]));
    expect([...out.memories.get('a')!]).toEqual([1, -2]);
    expect([...delta]).toEqual([2, -4]);
    expect([...out.model]).toEqual([0.5, -1]);
    expect([...out.memorySum!]).toEqual([1, -2]);
  });

  it('refuses a scale outside (0, 1], naming the client', () => {
    for (const spec of [{ rule: 'avg-all' }, { rule: 'fedvarp' }] as AggregationSpec[]) {
      const rule = createAggregationRule(spec);
      const round = rule.beginRound(1, { clientStates: new Map([['a', rule.initialClientState()]]), memorySum: null });
      for (const scale of [0, 1.5, Number.NaN, -1])
        expect(() => round.add('a', f32([1]), null, { scale })).toThrow(
          new RegExp(`scale of client 'a' must be in \\(0, 1\\], got ${scale}`),
        );
    }
  });
});
