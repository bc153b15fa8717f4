import { FEDAU_INITIAL_STATE, type FedAuClientState } from './fedau';
import { fedauRound, StreamingAggregator, updateNorm, validateUpdate } from './streaming-aggregator';

const f32 = (xs: number[]) => Float32Array.from(xs);

describe('StreamingAggregator and one FedAU round (spec §3.3, §8 test 4)', () => {
  it('divides by N (all clients), not by the number of participants', () => {
    // Two of four clients send Δ = (4, 8) and (0, 4), weights 1: x + (4+0, 8+4)/4 = x + (1, 3).
    const r = fedauRound(f32([1, 1]), [{ clientId: 'a', delta: f32([4, 8]) }, { clientId: 'b', delta: f32([0, 4]) }], new Map(), ['a', 'b', 'c', 'd'], {
      cutoffK: Infinity,
      globalLr: 1,
    });
    expect(Array.from(r.model)).toEqual([2, 4]);
    expect(r.states.get('c')).toEqual({ miss: 1, sum: 0, cnt: 0 });
    expect(r.states.get('a')).toEqual({ miss: 0, sum: 1, cnt: 1 });
  });

  it('test 4: with everyone always participating and γ = 1 it equals FedAvg over all clients, exactly', () => {
    const ids = ['a', 'b', 'c'];
    let x = f32([0.5, -1, 2]);
    let fedavg = f32([0.5, -1, 2]);
    let states = new Map<string, FedAuClientState>();
    for (let t = 0; t < 6; t++) {
      // Deltas whose sums are exact in float32, so equality is exact.
      const deltas = ids.map((id, n) => ({ clientId: id, delta: f32([n + t, -0.25 * n, 0.5 * t]) }));
      const r = fedauRound(x, deltas, states, ids, { cutoffK: Infinity, globalLr: 1 });
      for (const w of r.weights.values()) expect(w).toBe(1);
      fedavg = fedavg.map((v, i) => v + deltas.reduce((s, d) => s + d.delta[i]!, 0) / ids.length);
      x = r.model;
      states = r.states;
      expect(Array.from(x)).toEqual(Array.from(fedavg));
    }
  });

  it('uses weights from earlier rounds: a client back after 3 rounds counts 4×', () => {
    // Client a misses rounds 0–2 and participates at 3 → records 4; at round 4 its weight is 4.
    let states = new Map<string, FedAuClientState>([['a', FEDAU_INITIAL_STATE], ['b', FEDAU_INITIAL_STATE]]);
    let x = f32([0]);
    for (let t = 0; t < 4; t++) {
      const ups = [{ clientId: 'b', delta: f32([0]) }, ...(t === 3 ? [{ clientId: 'a', delta: f32([0]) }] : [])];
      ({ model: x, states } = fedauRound(x, ups, states, ['a', 'b'], { cutoffK: Infinity, globalLr: 1 }));
    }
    const r = fedauRound(x, [{ clientId: 'a', delta: f32([1]) }], states, ['a', 'b'], { cutoffK: Infinity, globalLr: 1 });
    expect(r.weights.get('a')).toBe(4);
    expect(r.model[0]).toBe(2); // 4 · 1 / N=2
  });

  it('leaves the model unchanged in an empty round and is order independent', () => {
    const agg = new StreamingAggregator(3);
    expect(Array.from(agg.apply(f32([1, 2, 3]), { globalLr: 1, divisor: 5 }))).toEqual([1, 2, 3]);
    const ups = [f32([0.1, 0.2, 0.3]), f32([1e-3, -5, 7]), f32([3, 3, -3])];
    const w = [1, 2.5, 0.3];
    const forward = new StreamingAggregator(3);
    const backward = new StreamingAggregator(3);
    ups.forEach((u, i) => forward.add(u, w[i]!));
    [...ups].reverse().forEach((u, i) => backward.add(u, w[2 - i]!));
    const a = forward.apply(f32([0, 0, 0]), { globalLr: 1, divisor: 3 });
    const b = backward.apply(f32([0, 0, 0]), { globalLr: 1, divisor: 3 });
    a.forEach((v, i) => expect(v).toBeCloseTo(b[i]!, 6));
    expect(forward.count).toBe(3);
  });

  it('refuses NaN, Inf, wrong lengths and negative weights before touching the sum', () => {
    const agg = new StreamingAggregator(2);
    expect(() => agg.add(f32([1, NaN]), 1)).toThrow(/not finite\) at index 1/);
    expect(() => agg.add(f32([1]), 1)).toThrow(/has 1 values, expected 2/);
    expect(() => agg.add(f32([1, 1]), -1)).toThrow(/weight/);
    expect(agg.count).toBe(0);
    expect(validateUpdate(f32([1, Infinity]), 2)).toMatch(/Infinity/);
    expect(validateUpdate(f32([1, 2]), 2)).toBeNull();
    expect(updateNorm(f32([3, 4]))).toBe(5);
  });
});
