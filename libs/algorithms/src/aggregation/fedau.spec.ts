import { createRng } from '../random';
import { advanceFedAu, fedauWeight, FEDAU_INITIAL_STATE, FEDAU_NO_CUTOFF, parseFedAuState, type FedAuClientState } from './fedau';

/** Feeds a participation sequence; returns the weights used at the participating rounds and the final state. */
function run(q: readonly number[], K: number): { weights: number[]; state: FedAuClientState } {
  let state: FedAuClientState = FEDAU_INITIAL_STATE;
  const weights: number[] = [];
  for (const x of q) {
    if (x) weights.push(fedauWeight(state)); // the weight of round t comes from rounds < t
    state = advanceFedAu(state, x === 1, K);
  }
  return { weights, state };
}

describe('FedAU estimator (docs/algorithms/fedau.md §2)', () => {
  // docs/algorithms/fedau.md §2.4 and §10, check 1: q over rounds 0..9.
  const q = [0, 0, 1, 0, 0, 0, 0, 1, 1, 0];

  it('§10 check 1, K = 3: weights [1, 3, 8/3], final (sum, cnt, miss) = (9, 4, 1)', () => {
    // t=0,1 miss (miss=2). t=2 uses ω=1 (nothing recorded), then records 2+1 = 3 → (sum 3, cnt 1).
    // t=3,4,5 miss → the 3rd miss hits K: records 3, miss ← 0 → (6, 2). t=6 miss=1.
    // t=7 uses ω = 6/2 = 3, records 1+1 = 2 → (8, 3). t=8 uses ω = 8/3, records 1 → (9, 4). t=9 miss=1.
    const { weights, state } = run(q, 3);
    expect(weights).toHaveLength(3);
    expect(weights[0]).toBe(1);
    expect(weights[1]).toBe(3);
    expect(weights[2]).toBeCloseTo(8 / 3, 12);
    expect(state).toEqual({ sum: 9, cnt: 4, miss: 1 });
  });

  it('§10 check 1, K = ∞: weights [1, 3, 4], final (9, 3, 1)', () => {
    // Intervals recorded: 3 (t=2), 5 (t=7: four misses + 1), 1 (t=8). ω(7) = 3/1, ω(8) = (3+5)/2 = 4.
    const { weights, state } = run(q, FEDAU_NO_CUTOFF);
    expect(weights).toEqual([1, 3, 4]);
    expect(state).toEqual({ sum: 9, cnt: 3, miss: 1 });
  });

  it('K = 100000 (the official code default) gives the same as K = ∞ on short runs', () => {
    expect(run(q, 100_000)).toEqual(run(q, FEDAU_NO_CUTOFF));
  });

  it.each<[number, number, number]>([
    [0.02, 50, 31.79],
    [0.1, Infinity, 10.0],
    [0.3, 3, 2.19],
    [0.05, 20, 12.83],
  ])('§10 check 2: Bernoulli(p = %p), K = %p: ω → (1 − (1−p)^K)/p = %p within 1 % after 10^6 rounds', (p, K, quoted) => {
    // Closed form: each recorded interval is min(G, K) with G ~ Geometric(p) on {1, 2, …}, and
    // E[min(G, K)] = Σ_{j=0}^{K−1} P(G > j) = Σ (1−p)^j = (1 − (1−p)^K)/p.
    const expected = (1 - Math.pow(1 - p, K)) / p;
    expect(Math.abs(expected - quoted)).toBeLessThan(0.005); // the rounded values quoted in docs/algorithms/fedau.md §10, check 2
    // Noise: ~10^6/ω intervals, each with SD ≤ sqrt(1−p)/p, so the relative SE of ω is ≤ 0.3 % in every case;
    // 1 % is more than 3 SE, and the seed is fixed.
    const rng = createRng(20240 + Math.round(p * 1000));
    let state: FedAuClientState = FEDAU_INITIAL_STATE;
    for (let t = 0; t < 1_000_000; t++) state = advanceFedAu(state, rng.next() < p, K);
    expect(Math.abs(fedauWeight(state) - expected) / expected).toBeLessThan(0.01);
  });

  it('§10 check 3: the weight applied in round t does not use q^t', () => {
    // Participates at rounds 0 and 1: ω(0) = 1 (nothing recorded); after round 0 an interval of 1 is recorded, so ω(1) = 1.
    let s: FedAuClientState = FEDAU_INITIAL_STATE;
    expect(fedauWeight(s)).toBe(1);
    s = advanceFedAu(s, true, FEDAU_NO_CUTOFF);
    expect(s).toEqual({ miss: 0, sum: 1, cnt: 1 });
    expect(fedauWeight(s)).toBe(1);
    // Misses round 0, joins at round 1: ω(1) is still 1 (its participation is recorded only after the round) …
    let r = advanceFedAu(FEDAU_INITIAL_STATE, false, FEDAU_NO_CUTOFF);
    expect(fedauWeight(r)).toBe(1);
    // … and the interval of 2 (rounds 0–1) shows up from round 2 on.
    r = advanceFedAu(r, true, FEDAU_NO_CUTOFF);
    expect(fedauWeight(r)).toBe(2);
  });

  it('chops a long gap at K and leaves the open interval out of the weight (§2.3 items 2–3)', () => {
    // K = 3: 5 misses then a participation record 3 (at the 3rd miss) and then 3 (2 misses + 1).
    let s: FedAuClientState = FEDAU_INITIAL_STATE;
    for (let i = 0; i < 5; i++) s = advanceFedAu(s, false, 3);
    expect(s).toEqual({ sum: 3, cnt: 1, miss: 2 });
    expect(fedauWeight(s)).toBe(3); // the 2 pending misses do not count
    s = advanceFedAu(s, true, 3);
    expect(s).toEqual({ sum: 6, cnt: 2, miss: 0 });
    // K = 1: every miss is its own interval of 1, so the weight stays 1 whatever happens.
    expect(fedauWeight(run([0, 0, 1, 0, 1, 1, 0], 1).state)).toBe(1);
  });

  it('is pure: the input state is not changed and the initial state is frozen', () => {
    const before = { miss: 2, sum: 5, cnt: 2 };
    const after = advanceFedAu(before, true, FEDAU_NO_CUTOFF);
    expect(before).toEqual({ miss: 2, sum: 5, cnt: 2 });
    expect(after).not.toBe(before);
    expect(Object.isFrozen(FEDAU_INITIAL_STATE)).toBe(true);
  });

  it('rejects a cutoff that is not a positive integer or Infinity, naming FedAU and cutoffK', () => {
    for (const K of [0, -3, 2.5, NaN, -Infinity]) {
      expect(() => advanceFedAu(FEDAU_INITIAL_STATE, false, K)).toThrow(/FedAU: cutoffK must be a positive integer or Infinity/);
    }
  });

  it('rejects a corrupt state', () => {
    expect(() => advanceFedAu({ miss: -1, sum: 0, cnt: 0 }, true, 3)).toThrow(/FedAU advanceFedAu: state/);
    expect(() => advanceFedAu({ miss: 0, sum: 1, cnt: 2 }, true, 3)).toThrow(/inconsistent/);
  });

  it('reads a persisted state back and refuses malformed ones', () => {
    const s = run(q, 3).state;
    expect(parseFedAuState(JSON.parse(JSON.stringify(s)))).toEqual(s);
    expect(() => parseFedAuState(null)).toThrow(/parseFedAuState: expected an object/);
    expect(() => parseFedAuState({ miss: 0, sum: '1', cnt: 1 })).toThrow(/expected numbers miss, sum, cnt/);
    expect(() => parseFedAuState({ miss: 0.5, sum: 1, cnt: 1 })).toThrow(/non-negative integers/);
  });
});
