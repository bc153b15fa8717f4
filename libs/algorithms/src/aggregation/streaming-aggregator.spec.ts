import { createRng } from '../random';
import { FEDAU_INITIAL_STATE, FEDAU_NO_CUTOFF, type FedAuClientState } from './fedau';
import { fedauRound, StreamingAggregator, updateNorm, validateUpdate } from './streaming-aggregator';

const f32 = (xs: number[]): Float32Array => Float32Array.from(xs);
const upd = (clientId: string, xs: number[]) => ({ clientId, delta: f32(xs) });

describe('StreamingAggregator', () => {
  it('computes x + γ · Σ w_i u_i / divisor into a new array', () => {
    // acc = 2·(1, −2, 0.5) + 0.5·(4, 4, −8) = (4, −2, −3); x + 0.5 · acc / 2 = (1, 1, 1) + (1, −0.5, −0.75).
    const agg = new StreamingAggregator(3);
    agg.add(f32([1, -2, 0.5]), 2);
    agg.add(f32([4, 4, -8]), 0.5);
    const global = f32([1, 1, 1]);
    const next = agg.apply(global, { globalLr: 0.5, divisor: 2 });
    expect(Array.from(next)).toEqual([2, 0.5, 0.25]);
    expect(Array.from(global)).toEqual([1, 1, 1]); // x_t untouched
    expect(next).not.toBe(global);
    expect(agg.count).toBe(2);
    expect(agg.dimension).toBe(3);
  });

  it('returns a copy of the model when nothing was added', () => {
    const agg = new StreamingAggregator(3);
    const global = f32([1, 2, 3]);
    const next = agg.apply(global, { globalLr: 1, divisor: 5 });
    expect(Array.from(next)).toEqual([1, 2, 3]);
    expect(next).not.toBe(global);
    expect(agg.count).toBe(0);
  });

  it('accumulates in float64: 1e8 + 1 − 1e8 = 1 (a float32 sum would give 0)', () => {
    // float32 has a 24-bit significand: the spacing at 1e8 is 8, so 1e8 + 1 rounds back to 1e8 in float32.
    const agg = new StreamingAggregator(1);
    for (const v of [1e8, 1, -1e8]) agg.add(f32([v]), 1);
    expect(agg.apply(f32([0]), { globalLr: 1, divisor: 1 })[0]).toBe(1);
  });

  it('accumulates in float32 on request: half the memory, and 1e8 + 1 − 1e8 = 0', () => {
    // The documented trade-off of { accumulator: 'float32' }: 1e8 + 1 rounds to 1e8 (spacing 8), so the 1 is lost.
    const agg = new StreamingAggregator(1, { accumulator: 'float32' });
    expect(agg.precision).toBe('float32');
    expect(new StreamingAggregator(1).precision).toBe('float64');
    for (const v of [1e8, 1, -1e8]) agg.add(f32([v]), 1);
    expect(agg.apply(f32([0]), { globalLr: 1, divisor: 1 })[0]).toBe(0);
    // On well-scaled values it agrees with float64 to float32 rounding: (1.5·2 + 0.25·4)/2 = 2 exactly.
    const small = new StreamingAggregator(3, { accumulator: 'float32' });
    small.add(f32([1.5, -1, 0]), 2);
    small.add(f32([0.25, 0.5, 3]), 4);
    expect(Array.from(small.apply(f32([0, 0, 0]), { globalLr: 1, divisor: 2 }))).toEqual([2, 0, 6]);
    expect(() => new StreamingAggregator(1, { accumulator: 'float16' as 'float32' })).toThrow(/accumulator must be 'float64' or 'float32'/);
  });

  it('addValidated sums like add without the NaN scan, but still checks length and weight', () => {
    const a = new StreamingAggregator(3);
    const b = new StreamingAggregator(3);
    for (const [u, w] of [
      [[1, -2, 0.5], 2],
      [[4, 4, -8], 0.5],
    ] as const) {
      a.add(f32([...u]), w);
      b.addValidated(f32([...u]), w);
    }
    expect(b.apply(f32([1, 1, 1]), { globalLr: 0.5, divisor: 2 })).toEqual(a.apply(f32([1, 1, 1]), { globalLr: 0.5, divisor: 2 }));
    expect(b.count).toBe(2);
    expect(() => b.addValidated(f32([1]), 1)).toThrow(/StreamingAggregator.addValidated: update has length 1, expected 3/);
    expect(() => b.addValidated(f32([1, 1, 1]), -1)).toThrow(/addValidated: weight must be finite and >= 0/);
    // The documented cost of skipping the scan: a NaN goes straight into the sum.
    const c = new StreamingAggregator(1);
    c.addValidated(f32([NaN]), 1);
    expect(c.apply(f32([0]), { globalLr: 1, divisor: 1 })[0]).toBeNaN();
  });

  it('handles lengths that are not a multiple of the 4× unrolled loop', () => {
    // d = 7: four elements in the unrolled body, three in the tail; each must be summed once.
    for (const precision of ['float64', 'float32'] as const) {
      const agg = new StreamingAggregator(7, { accumulator: precision });
      agg.add(f32([1, 2, 3, 4, 5, 6, 7]), 1);
      agg.add(f32([1, 1, 1, 1, 1, 1, 1]), 3);
      expect(Array.from(agg.apply(new Float32Array(7), { globalLr: 1, divisor: 1 }))).toEqual([4, 5, 6, 7, 8, 9, 10]);
    }
    // The finiteness check's tail too: a NaN in the last element of 7 is found.
    expect(validateUpdate(f32([0, 0, 0, 0, 0, 0, NaN]), 7)).toBe('contains NaN at index 6');
    expect(validateUpdate(f32([3e38, 3e38, 3e38, 3e38, 3e38]), 5)).toBeNull(); // large but finite: no false alarm
  });

  it('does not depend on the order in which updates arrive, up to float32 rounding', () => {
    const rng = createRng(12);
    const d = 500;
    const ups = Array.from({ length: 40 }, (_, k) => Float32Array.from({ length: d }, () => rng.normal() * 10 ** ((k % 7) - 3)));
    const ws = ups.map(() => rng.next() * 20);
    const sum = (order: number[]): Float32Array => {
      const agg = new StreamingAggregator(d);
      for (const k of order) agg.add(ups[k], ws[k]);
      return agg.apply(new Float32Array(d), { globalLr: 1, divisor: 7 });
    };
    const forward = sum(ups.map((_, k) => k));
    const backward = sum(ups.map((_, k) => ups.length - 1 - k));
    const shuffled = sum(rng.shuffle(ups.map((_, k) => k)));
    // Float64 sums of 40 terms differ by ~1e-15 relative; after rounding to float32 (relative step 2^-24 ≈ 6e-8)
    // the results agree to within one float32 step.
    for (let i = 0; i < d; i++) {
      const tol = Math.abs(forward[i]) * 2 ** -23 + 1e-30;
      expect(Math.abs(backward[i] - forward[i])).toBeLessThanOrEqual(tol);
      expect(Math.abs(shuffled[i] - forward[i])).toBeLessThanOrEqual(tol);
    }
  });

  it('refuses NaN, ±Infinity, wrong lengths and bad weights before touching the sum', () => {
    const agg = new StreamingAggregator(2);
    expect(() => agg.add(f32([1, NaN]), 1)).toThrow(/StreamingAggregator.add: update contains NaN at index 1/);
    expect(() => agg.add(f32([-Infinity, 1]), 1)).toThrow(/contains -Infinity at index 0/);
    expect(() => agg.add(f32([1]), 1)).toThrow(/StreamingAggregator.add: update has length 1, expected 2/);
    expect(() => agg.add(f32([1, 1]), -1)).toThrow(/StreamingAggregator.add: weight must be finite and >= 0, got -1/);
    expect(() => agg.add(f32([1, 1]), NaN)).toThrow(/weight/);
    expect(() => agg.add(f32([1, 1]), Infinity)).toThrow(/weight/);
    expect(agg.count).toBe(0);
    // Nothing of the rejected updates leaked into the sum.
    agg.add(f32([3, 5]), 1);
    expect(Array.from(agg.apply(f32([0, 0]), { globalLr: 1, divisor: 1 }))).toEqual([3, 5]);
  });

  it('checks its constructor and apply arguments', () => {
    expect(() => new StreamingAggregator(0)).toThrow(/StreamingAggregator: dimension must be a positive integer/);
    expect(() => new StreamingAggregator(2.5)).toThrow(/dimension/);
    const agg = new StreamingAggregator(2);
    expect(() => agg.apply(f32([0]), { globalLr: 1, divisor: 1 })).toThrow(/StreamingAggregator.apply: global has length 1, expected 2/);
    expect(() => agg.apply(f32([0, 0]), { globalLr: 1, divisor: 0 })).toThrow(/StreamingAggregator.apply: divisor must be positive/);
    expect(() => agg.apply(f32([0, 0]), { globalLr: NaN, divisor: 1 })).toThrow(/StreamingAggregator.apply: globalLr must be finite/);
  });
});

describe('updateNorm and validateUpdate', () => {
  it('computes the L2 norm', () => {
    expect(updateNorm(f32([3, 4]))).toBe(5); // 3-4-5 triangle
    expect(updateNorm(f32([1, 2, 2, 4]))).toBe(5); // sqrt(1 + 4 + 4 + 16)
    expect(updateNorm(new Float32Array(0))).toBe(0);
  });

  it('explains why an update is refused, or returns null', () => {
    expect(validateUpdate(f32([1, 2]), 2)).toBeNull();
    expect(validateUpdate(f32([1, 2, 3]), 2)).toBe('has length 3, expected 2');
    expect(validateUpdate(f32([0, Infinity, NaN]), 3)).toBe('contains Infinity at index 1');
    expect(validateUpdate(f32([0, 0, NaN]), 3)).toBe('contains NaN at index 2');
  });
});

describe('fedauRound (spec fedau.md §3.3)', () => {
  const opts = { cutoffK: FEDAU_NO_CUTOFF, globalLr: 1 };

  it('§8 test 4: everyone always participating, γ = 1 → exactly FedAvg over all clients (hand-made deltas)', () => {
    // N = 4, x_0 = (0, 0). Weights are 1 in round 0 (nothing recorded) and 1 after (every interval is 1).
    // Round 0: Δ = (1,2), (3,−2), (0,4), (−4,0) → Σ = (0,4),  mean (0,1)   → x_1 = (0, 1)
    // Round 1: Δ = (2,2), (2,2), (2,2), (2,−6)  → Σ = (8,0),  mean (2,0)   → x_2 = (2, 1)
    // Round 2: Δ = (0.5,0), (0.5,0), (1,1), (2,−1) → Σ = (4,0), mean (1,0) → x_3 = (3, 1)
    const ids = ['a', 'b', 'c', 'd'];
    const rounds = [
      [
        [1, 2],
        [3, -2],
        [0, 4],
        [-4, 0],
      ],
      [
        [2, 2],
        [2, 2],
        [2, 2],
        [2, -6],
      ],
      [
        [0.5, 0],
        [0.5, 0],
        [1, 1],
        [2, -1],
      ],
    ];
    const expected = [
      [0, 1],
      [2, 1],
      [3, 1],
    ];
    for (const cutoffK of [FEDAU_NO_CUTOFF, 3]) {
      let x: Float32Array = f32([0, 0]);
      let states = new Map<string, FedAuClientState>();
      rounds.forEach((deltas, t) => {
        const r = fedauRound(
          x,
          ids.map((id, n) => upd(id, deltas[n])),
          states,
          ids,
          { cutoffK, globalLr: 1 },
        );
        expect([...r.weights.values()]).toEqual([1, 1, 1, 1]);
        expect(Array.from(r.model)).toEqual(expected[t]);
        for (const id of ids) expect(r.states.get(id)).toEqual({ miss: 0, sum: t + 1, cnt: t + 1 });
        x = r.model;
        states = r.states;
      });
    }
  });

  it('§8 test 4 over 30 rounds of random deltas and N = 3: identical to x + (Σ Δ)/N', () => {
    const rng = createRng(31);
    const ids = ['a', 'b', 'c'];
    const d = 64;
    let x: Float32Array = Float32Array.from({ length: d }, () => rng.normal());
    let fedavg = Float32Array.from(x);
    let states = new Map<string, FedAuClientState>();
    for (let t = 0; t < 30; t++) {
      const deltas = ids.map(() => Float32Array.from({ length: d }, () => rng.normal() * 0.1));
      const r = fedauRound(
        x,
        ids.map((clientId, n) => ({ clientId, delta: deltas[n] })),
        states,
        ids,
        opts,
      );
      // FedAvg over all clients, written independently: the float64 mean of the deltas added to x.
      fedavg = fedavg.map((v, i) => v + (deltas[0][i] + deltas[1][i] + deltas[2][i]) / 3);
      expect(r.model).toEqual(fedavg);
      x = r.model;
      states = r.states;
    }
  });

  it('divides by N (all clients), not by the number of participants', () => {
    // Two of four clients send Δ = (4, 8) and (0, 4) with weight 1: x + (4, 12)/4 = (1,1) + (1, 3).
    // Dividing by |S| = 2 would give (3, 7).
    const r = fedauRound(f32([1, 1]), [upd('a', [4, 8]), upd('b', [0, 4])], new Map(), ['a', 'b', 'c', 'd'], opts);
    expect(Array.from(r.model)).toEqual([2, 4]);
    expect(r.weights).toEqual(
      new Map([
        ['a', 1],
        ['b', 1],
      ]),
    );
  });

  it('advances every client, non-participants included, and leaves the input states alone', () => {
    const before = new Map<string, FedAuClientState>([['a', { miss: 1, sum: 3, cnt: 1 }]]);
    const r = fedauRound(f32([0]), [upd('a', [1])], before, ['a', 'b', 'c'], opts);
    expect(r.states.get('a')).toEqual({ miss: 0, sum: 5, cnt: 2 }); // interval 1 + 1 = 2 closed
    expect(r.states.get('b')).toEqual({ miss: 1, sum: 0, cnt: 0 }); // never seen: starts from the initial state
    expect(r.states.get('c')).toEqual({ miss: 1, sum: 0, cnt: 0 });
    expect(before.get('a')).toEqual({ miss: 1, sum: 3, cnt: 1 });
    expect(before.size).toBe(1);
  });

  it('uses the weights from earlier rounds: a client back after 3 missed rounds counts 4×', () => {
    // Client a misses rounds 0–2 and participates at 3 → records an interval of 4; at round 4 its ω is 4.
    let states = new Map<string, FedAuClientState>([
      ['a', FEDAU_INITIAL_STATE],
      ['b', FEDAU_INITIAL_STATE],
    ]);
    let x = f32([0]);
    for (let t = 0; t < 4; t++) {
      const ups = [upd('b', [0]), ...(t === 3 ? [upd('a', [0])] : [])];
      const r = fedauRound(x, ups, states, ['a', 'b'], opts);
      if (t === 3) expect(r.weights.get('a')).toBe(1); // the weight of round 3 does not use q^3
      ({ model: x, states } = r);
    }
    const r = fedauRound(x, [upd('a', [1])], states, ['a', 'b'], opts);
    expect(r.weights.get('a')).toBe(4);
    expect(r.model[0]).toBe(2); // 0 + γ · 4 · 1 / N, N = 2
  });

  it('scales by γ', () => {
    // x + γ · (Σ ω Δ)/N = 1 + 0.5 · (2 + 6)/2 = 3.
    const r = fedauRound(f32([1]), [upd('a', [2]), upd('b', [6])], new Map(), ['a', 'b'], { cutoffK: 50, globalLr: 0.5 });
    expect(r.model[0]).toBe(3);
  });

  it('leaves the model unchanged in an empty round, but still counts it as a miss for everyone', () => {
    const x = f32([0.25, -1]);
    const r = fedauRound(x, [], new Map(), ['a', 'b'], opts);
    expect(Array.from(r.model)).toEqual([0.25, -1]);
    expect(r.model).not.toBe(x);
    expect(r.weights.size).toBe(0);
    expect([...r.states.values()]).toEqual([
      { miss: 1, sum: 0, cnt: 0 },
      { miss: 1, sum: 0, cnt: 0 },
    ]);
  });

  it('rejects unknown or repeated clients, an empty federation and a bad cutoff, naming fedauRound', () => {
    const x = f32([0]);
    expect(() => fedauRound(x, [upd('z', [1])], new Map(), ['a'], opts)).toThrow(/fedauRound: update from unknown client 'z'/);
    expect(() => fedauRound(x, [upd('a', [1]), upd('a', [2])], new Map(), ['a'], opts)).toThrow(/fedauRound: two updates from client 'a'/);
    expect(() => fedauRound(x, [], new Map(), [], opts)).toThrow(/fedauRound: allClientIds is empty/);
    expect(() => fedauRound(x, [], new Map(), ['a', 'a'], opts)).toThrow(/fedauRound: allClientIds contains duplicates/);
    expect(() => fedauRound(x, [], new Map(), ['a'], { cutoffK: 0, globalLr: 1 })).toThrow(/FedAU: cutoffK/);
    expect(() => fedauRound(x, [upd('a', [NaN])], new Map(), ['a'], opts)).toThrow(/contains NaN at index 0/);
  });
});

describe('StreamingAggregator with bufferedUpdates', () => {
  const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

  it('sums bit for bit like one update at a time, for every B, precision and count (weight 0, −0 and a NaN included)', () => {
    const rng = createRng(21);
    const d = 2048 * 2 + 3; // two full fold tiles and a ragged one
    const ups = Array.from({ length: 19 }, (_, k) =>
      Float32Array.from({ length: d }, (_, i) => (i === 5 ? -0 : rng.normal() * 10 ** ((k + i) % 9) - 4)),
    );
    ups[11][77] = NaN; // only through addValidated: it must reach the same elements either way
    const ws = ups.map((_, k) => (k === 3 ? 0 : rng.next() * 30));
    const global = Float32Array.from({ length: d }, () => rng.normal());
    for (const accumulator of ['float64', 'float32'] as const) {
      for (const count of [0, 1, 2, 4, 7, 8, 12, 19]) {
        const run = (bufferedUpdates: number): Float32Array[] => {
          const agg = new StreamingAggregator(d, { accumulator, bufferedUpdates });
          for (let k = 0; k < count; k++) {
            if (k === 11) agg.addValidated(ups[k], ws[k]);
            else agg.add(ups[k], ws[k]);
          }
          expect(agg.count).toBe(count);
          // apply twice (it folds the waiting updates once and keeps the sum), then add more and apply again.
          const first = agg.apply(global, { globalLr: 0.3, divisor: 7 });
          const again = agg.apply(global, { globalLr: 0.3, divisor: 7 });
          agg.add(ups[0], 2);
          return [first, again, agg.apply(global, { globalLr: 0.3, divisor: 7 })];
        };
        const one = run(1).map(bits);
        for (const b of [2, 3, 4, 5, 8, 32])
          expect({ accumulator, count, b, out: run(b).map(bits) }).toEqual({ accumulator, count, b, out: one });
        expect(one[1]).toEqual(one[0]);
      }
    }
  });

  it('defaults to B = 1 (nothing held); fedauRound buffers, with the same result', () => {
    const agg = new StreamingAggregator(1);
    const u = f32([2]);
    agg.add(u, 1);
    u[0] = 100; // already summed
    expect(Array.from(agg.apply(f32([0]), { globalLr: 1, divisor: 1 }))).toEqual([2]);
    const rng = createRng(5);
    const ids = Array.from({ length: 11 }, (_, i) => `n${i}`);
    const updates = ids.map((clientId) => ({ clientId, delta: Float32Array.from({ length: 9 }, () => rng.normal()) }));
    const states = new Map<string, FedAuClientState>(ids.map((id, i) => [id, { miss: 0, sum: i + 2, cnt: 1 }]));
    const viaRound = fedauRound(new Float32Array(9), updates, states, ids, { cutoffK: FEDAU_NO_CUTOFF, globalLr: 1 }).model;
    const oneByOne = new StreamingAggregator(9);
    for (const [i, u2] of updates.entries()) oneByOne.add(u2.delta, i + 2);
    expect(bits(viaRound)).toEqual(bits(oneByOne.apply(new Float32Array(9), { globalLr: 1, divisor: 11 })));
  });

  it('refuses a bufferedUpdates that is not a positive integer', () => {
    for (const bad of [0, 2.5, NaN])
      expect(() => new StreamingAggregator(3, { bufferedUpdates: bad })).toThrow(
        /StreamingAggregator: bufferedUpdates must be a positive integer/,
      );
  });
});
