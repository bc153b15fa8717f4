import { f2saStep, planF2saRound } from './f2sa';
import { assembleGradX, runYChain, runZChain, xGradientTerms } from './oracles';
import { completeRound, penaltyDoubleLoopStep, planPenaltyRound, stormUpdate } from './penalty';
import { withGradientNoise } from './problem';
import { runBilevel, type BilevelMethodOptions } from './runner';
import { createBilevelState, parseBilevelState, type BilevelState } from './state';
import { bilevelCaseT1, bilevelCaseT2, bilevelCaseT3 } from './test-problems';

const t1 = bilevelCaseT1();

describe('building blocks (docs/algorithms/bilevel.md §3)', () => {
  it('gradX = ∇_x f + λ(∇_x g(x, y) − ∇_x g(x, z)), by hand on T1', () => {
    // T1: ∇_x f = x, ∇_x g = −y. At x = 1, y = 2, z = 3, λ = 10: 1 + 10·(−2 − (−3)) = 11.
    const terms = xGradientTerms(t1.problem, [1], [2], [3], 0);
    expect(Array.from(terms.fx)).toEqual([1]);
    expect(Array.from(terms.gxAtY)).toEqual([-2]);
    expect(Array.from(terms.gxAtZ)).toEqual([-3]);
    expect(terms.oracleCalls).toEqual({ f: 1, g: 2 });
    expect(Array.from(assembleGradX(terms, 10))).toEqual([11]);
  });

  it('the y-chain converges to argmin (f + λg)(x, ·) and the z-chain to argmin g(x, ·), counting oracle calls', () => {
    // T1 at x = 0.3, λ = 4: y_λ = (1 + λx)/(1 + λ) = 2.2/5 = 0.44 (step 0.5/(1+λ) contracts the error by ½ per step);
    // z* = x = 0.3 (step 0.5, contraction ½). 60 steps: error 2^−60·|start error|.
    const y = runYChain(t1.problem, [0.3], [5], 4, { steps: 60, stepSize: 0.5 / 5, sampleSeed: 1 });
    expect(y.point[0]).toBeCloseTo(0.44, 12);
    expect(y.oracleCalls).toEqual({ f: 60, g: 60 });
    expect(y.residual).toBeLessThan(1e-12);
    const z = runZChain(t1.problem, [0.3], [-5], { steps: 60, stepSize: 0.5, sampleSeed: 2 });
    expect(z.point[0]).toBeCloseTo(0.3, 12);
    expect(z.oracleCalls).toEqual({ f: 0, g: 60 });
  });

  it('a proximal term (ρ/2)‖v − v₀‖² moves the chain fixed point toward the warm start', () => {
    // z-chain on T1 at x = 1 from z₀ = 0 with ρ = 1: argmin ½(z − 1)² + ½z² = ½ (§3.2 option, off by default).
    const z = runZChain(t1.problem, [1], [0], { steps: 100, stepSize: 0.5, sampleSeed: 0, proximal: 1 });
    expect(z.point[0]).toBeCloseTo(0.5, 12);
  });

  it('the recursive momentum estimator d ← g_new + (1 − β)(d − g_old)', () => {
    expect(Array.from(stormUpdate(Float64Array.from([1]), [5], [3], 0.25))).toEqual([5 + 0.75 * (1 - 3)]);
    expect(Array.from(stormUpdate(Float64Array.from([1]), [5], null, 1))).toEqual([5]);
  });

  it('noisy oracles: one sample gives the same noise at any point; N(0, σ²) across samples', () => {
    const noisy = withGradientNoise(t1.problem, 0.5);
    const a = new Float64Array(1);
    const b = new Float64Array(1);
    const x = Float64Array.from([1]);
    noisy.gradG(x, Float64Array.from([2]), null, a, 7);
    noisy.gradG(x, Float64Array.from([3]), null, b, 7);
    expect(b[0] - a[0]).toBeCloseTo(1, 12); // ∇_y g = y − x: the noise cancels in the difference
    // 4000 draws: mean within 4 standard errors (4·0.5/√4000 ≈ 0.032), std within 5% (its s.e. is ≈ 1.1%).
    const draws = Array.from({ length: 4000 }, (_, s) => {
      const g = new Float64Array(1);
      noisy.gradF(x, Float64Array.from([1]), g, null, s);
      return g[0] - 1; // ∇_x f = x = 1
    });
    const mean = draws.reduce((p, q) => p + q, 0) / draws.length;
    const sd = Math.sqrt(draws.reduce((p, q) => p + (q - mean) ** 2, 0) / (draws.length - 1));
    expect(Math.abs(mean)).toBeLessThan(0.032);
    expect(Math.abs(sd - 0.5)).toBeLessThan(0.025);
  });
});

describe('state, persistence and distribution (docs/algorithms/bilevel.md §13)', () => {
  const t2 = bilevelCaseT2();
  const noisy = withGradientNoise(t2.problem, 0.3);
  const all: BilevelMethodOptions[] = [
    { method: 'penalty-double-loop', penalty: { kind: 'linear', start: 1, end: 20, steps: 30 }, innerSteps: 3 },
    { method: 'penalty-single-loop', penalty: { kind: 'fixed', lambda: 10 }, momentum: 0.3 },
    { method: 'v-pbgd', penalty: { kind: 'fixed', lambda: 10 } },
    {
      method: 'f2sa',
      penalty: { kind: 'polynomial', start: 1, rate: 1, power: 1 / 7 },
      decayY: { kind: 'polynomial', power: 5 / 7 },
      decayZ: { kind: 'polynomial', power: 4 / 7 },
    },
  ];

  it.each(all.map((o) => [o.method, o] as const))('%s: a run resumed from its JSON state equals the uninterrupted run', (_m, options) => {
    const stop = (n: number): { stop: { maxIterations: number; tolerance: number } } => ({ stop: { maxIterations: n, tolerance: 0 } });
    const straight = runBilevel(noisy, options, { ...t2.start, seed: 9 }, stop(40)).state;
    const half = runBilevel(noisy, options, { ...t2.start, seed: 9 }, stop(20)).state;
    const restored = parseBilevelState(JSON.parse(JSON.stringify(half)), { dimX: 1, dimY: 2 });
    const resumed = runBilevel(noisy, options, restored, stop(20)).state;
    expect(resumed).toEqual(straight);
    expect(straight.iteration).toBe(40);
    if (options.method === 'penalty-single-loop') expect(straight.momentum).not.toBeNull();
  });

  it('a double-loop round split into plan → y-chain and z-chain on two "agents" → coordinator step equals the local step', () => {
    // Everything crosses a JSON boundary, as it would over HTTP. F2SA uses the same round shape.
    const options = { penalty: { kind: 'fixed', lambda: 10 }, innerSteps: 4 } as const;
    let state: BilevelState = createBilevelState(noisy, 'penalty-double-loop', { ...t2.start, seed: 3 });
    for (let k = 0; k < 5; k++) {
      const plan = JSON.parse(JSON.stringify(planPenaltyRound(state, options))) as ReturnType<typeof planPenaltyRound>;
      const y = runYChain(noisy, plan.x, plan.yStart, plan.lambda, plan.yChain);
      const z = runZChain(noisy, plan.x, plan.zStart, plan.zChain);
      const terms = xGradientTerms(noisy, plan.x, y.point, z.point, plan.xSampleSeed);
      const wire = <T>(v: T): unknown =>
        JSON.parse(JSON.stringify(v, (_k, val: unknown) => (val instanceof Float64Array ? Array.from(val) : val)));
      const outcome = wire({ y, z, terms }) as Parameters<typeof completeRound>[3];
      const remote = completeRound(noisy.setX, state, plan, outcome);
      const local = penaltyDoubleLoopStep(noisy, state, options);
      expect(remote).toEqual(local);
      state = remote.state;
    }
    const f2 = createBilevelState(noisy, 'f2sa', t2.start);
    const f2Plan = planF2saRound(f2, { penalty: { kind: 'fixed', lambda: 3 } });
    expect(f2Plan.stepX).toBeCloseTo(0.5 / 4, 15); // ξ·α with α = 0.5/(1 + λ)
    expect(f2saStep(noisy, f2, { penalty: { kind: 'fixed', lambda: 3 } }).state.iteration).toBe(1);
  });

  it('rejects a round result for another iteration (a stale agent answer)', () => {
    const options = { penalty: { kind: 'fixed', lambda: 10 } } as const;
    const s0 = createBilevelState(t1.problem, 'penalty-double-loop', t1.start);
    const plan = planPenaltyRound(s0, options);
    const s1 = penaltyDoubleLoopStep(t1.problem, s0, options).state;
    const y = runYChain(t1.problem, plan.x, plan.yStart, plan.lambda, plan.yChain);
    const z = runZChain(t1.problem, plan.x, plan.zStart, plan.zChain);
    const terms = xGradientTerms(t1.problem, plan.x, y.point, z.point, plan.xSampleSeed);
    expect(() => completeRound(t1.problem.setX, s1, plan, { y, z, terms })).toThrow(/plan is for iteration 0, state is at 1/);
  });

  it('projects the starting point and checks persisted states', () => {
    const t3 = bilevelCaseT3();
    const s = createBilevelState(t3.problem, 'v-pbgd', { x: [7], y: [-2] });
    expect(s).toMatchObject({ x: [3], y: [0], z: [0], iteration: 0, lambda: 0, oracleCalls: { f: 0, g: 0 }, momentum: null });
    expect(parseBilevelState(JSON.parse(JSON.stringify(s)))).toEqual(s);
    expect(() => parseBilevelState({ ...s, method: 'sgd' })).toThrow(/method must be one of/);
    expect(() => parseBilevelState({ ...s, x: [NaN] })).toThrow(/x must be a non-empty array of finite numbers/);
    expect(() => parseBilevelState({ ...s, z: [0, 0] })).toThrow(/z has length 2, expected 1/);
    expect(() => parseBilevelState({ ...s, iteration: 1.5 })).toThrow(/iteration must be an integer/);
    expect(() => parseBilevelState(s, { dimX: 2, dimY: 1 })).toThrow(/x has length 1, expected 2/);
    expect(() => createBilevelState(t3.problem, 'f2sa', { x: [0, 1], y: [0] })).toThrow(/bilevel f2sa: init: x has length 2, expected 1/);
  });
});

describe('runBilevel (docs/algorithms/bilevel.md §9 stopping)', () => {
  it('stops on the oracle budget, records history and can return the best iterate', () => {
    const options = { method: 'penalty-double-loop', penalty: { kind: 'fixed', lambda: 10 }, innerSteps: 20 } as const;
    // 3T + 3 = 63 calls per iteration: a 1000-call budget ends after 16 iterations (1008 calls).
    const r = runBilevel(t1.problem, options, t1.start, { stop: { maxIterations: 1000, maxOracleCalls: 1000 } });
    expect(r.stoppedBy).toBe('max-oracle-calls');
    expect(r.state.iteration).toBe(16);
    expect(r.state.oracleCalls.f + r.state.oracleCalls.g).toBe(1008);
    expect(r.history.at(-1)).toMatchObject({ iteration: 16, oracleCalls: 1008, lambda: 10 });
    const best = runBilevel(t1.problem, options, t1.start, { stop: { maxIterations: 400, tolerance: 0 }, output: 'best' });
    expect(Math.abs(best.x[0] - 10 / 21)).toBeLessThan(1e-6);
    expect(() => runBilevel(t1.problem, options, t1.start, { stop: { maxIterations: 0 } })).toThrow(
      /maxIterations must be a positive integer/,
    );
    expect(() =>
      runBilevel(t1.problem, { ...options, method: 'v-pbgd' }, createBilevelState(t1.problem, 'f2sa', t1.start), {
        stop: { maxIterations: 1 },
      }),
    ).toThrow(/state belongs to method f2sa/);
  });
});
