import { createRng } from '../random';
import { advanceFedAu, fedauWeight, FEDAU_INITIAL_STATE, FEDAU_NO_CUTOFF, type FedAuClientState } from './fedau';

/** Feeds a participation sequence; returns the weights used at participating rounds and the final state. */
function run(q: number[], K: number): { weights: number[]; state: FedAuClientState } {
  let state: FedAuClientState = FEDAU_INITIAL_STATE;
  const weights: number[] = [];
  for (const x of q) {
    if (x) weights.push(fedauWeight(state)); // weight from rounds < t
    state = advanceFedAu(state, x === 1, K);
  }
  return { weights, state };
}

describe('FedAU estimator (spec fedau.md §3, §8 tests 1–3)', () => {
  // Spec §3.2 hand-checked example: q = [0,0,1,0,0,0,0,1,1,0].
  const q = [0, 0, 1, 0, 0, 0, 0, 1, 1, 0];

  it('test 1, K = 3: weights [1, 3, 8/3], final (sum, cnt, miss) = (9, 4, 1)', () => {
    // t=2 first participation records 3 (virtual event at −1) → ω used = 1 (nothing recorded before).
    // t=3,4,5 misses → at 3 misses the cutoff records 3, miss resets; t=6 miss=1; t=7 records 2 → ω(7) = (3+3)/2 = 3.
    // t=8 records 1 → ω(8) = (3+3+2)/3 = 8/3; after: sum 9, cnt 4; t=9 miss = 1.
    const { weights, state } = run(q, 3);
    expect(weights[0]).toBe(1);
    expect(weights[1]).toBe(3);
    expect(weights[2]).toBeCloseTo(8 / 3, 12);
    expect(state).toEqual({ sum: 9, cnt: 4, miss: 1 });
  });

  it('test 1, K = ∞: weights [1, 3, 4], final (9, 3, 1)', () => {
    // Intervals 3 (t=2), 5 (t=7), 1 (t=8): ω(7) = 3, ω(8) = (3+5)/2 = 4.
    const { weights, state } = run(q, FEDAU_NO_CUTOFF);
    expect(weights).toEqual([1, 3, 4]);
    expect(state).toEqual({ sum: 9, cnt: 3, miss: 1 });
  });

  it('test 2: under Bernoulli(p) the weight tends to (1 − (1−p)^K) / p within 1 %', () => {
    const cases: [number, number, number][] = [
      [0.02, 50, 31.79],
      [0.1, Infinity, 10.0],
      [0.3, 3, 2.19],
      [0.05, 20, 12.83],
    ];
    for (const [p, K, quoted] of cases) {
      const rng = createRng(Math.round(p * 1000) + (K === Infinity ? 7 : K));
      let state: FedAuClientState = FEDAU_INITIAL_STATE;
      for (let t = 0; t < 1_000_000; t++) state = advanceFedAu(state, rng.next() < p, K);
      const expected = (1 - Math.pow(1 - p, K)) / p;
      expect(expected).toBeCloseTo(quoted, 1);
      expect(Math.abs(fedauWeight(state) - expected) / expected).toBeLessThan(0.01);
    }
  });

  it('test 3: the weight applied in round t does not use q^t', () => {
    // Participates at rounds 0 and 1: ω(0) = 1 (nothing recorded), ω(1) = 1 (round 0 recorded an interval of 1).
    let s: FedAuClientState = FEDAU_INITIAL_STATE;
    expect(fedauWeight(s)).toBe(1);
    s = advanceFedAu(s, true);
    expect(fedauWeight(s)).toBe(1);
    s = advanceFedAu(s, true);
    // A client that skips round 0 and joins at round 1 records 2 — but only after round 1.
    let r: FedAuClientState = advanceFedAu(FEDAU_INITIAL_STATE, false);
    expect(fedauWeight(r)).toBe(1);
    r = advanceFedAu(r, true);
    expect(fedauWeight(r)).toBe(2);
    expect(s).toEqual({ sum: 2, cnt: 2, miss: 0 });
  });

  it('does not count the open interval, and chops long gaps at K', () => {
    // K = 3, gap of 5 misses then a participation records 3 and then 3 (2 misses + 1) — spec §3.2 point 2.
    let s: FedAuClientState = FEDAU_INITIAL_STATE;
    for (let i = 0; i < 5; i++) s = advanceFedAu(s, false, 3);
    expect(s).toEqual({ sum: 3, cnt: 1, miss: 2 });
    s = advanceFedAu(s, true, 3);
    expect(s).toEqual({ sum: 6, cnt: 2, miss: 0 });
  });

  it('rejects a cutoff that is not a positive integer, naming FedAU', () => {
    expect(() => advanceFedAu(FEDAU_INITIAL_STATE, false, 0)).toThrow(/FedAU: cutoffK/);
    expect(() => advanceFedAu(FEDAU_INITIAL_STATE, false, 2.5)).toThrow(/FedAU: cutoffK/);
  });
});
