import { createRng } from '../random';
import { withBilevelSets, withGradientNoise } from './problem';
import { UNCONSTRAINED } from './projection';
import { runBilevel, type BilevelMethodOptions } from './runner';
import {
  bilevelCaseT1,
  bilevelCaseT2,
  bilevelCaseT3,
  bilevelCaseT4,
  gridLocalMinima,
  t4HyperObjective,
  type BilevelTestCase,
} from './test-problems';

/**
 * docs/algorithms/bilevel.md §11, T1–T4 and T6 (T5 is in hyperparameter.spec.ts). Every expectation is a closed-form
 * answer (derivations in test-problems.ts) or the grid answer of §11, with an explicit tolerance.
 * Runs stop on the §9 rule (stationarity and inner residuals ≤ 1e-7), so the iterate is within ~1e-6 of the
 * stationary point of the (linear-quadratic) penalised problem; 1e-4 leaves a wide margin.
 */

const TOL = 1e-4;

/** The four methods at a fixed λ with the step settings of docs/algorithms/bilevel.md §11 (F2SA ramps λ from 1 to `lambda`). */
function methodsAt(lambda: number): BilevelMethodOptions[] {
  const fixed = { kind: 'fixed', lambda } as const;
  return [
    { method: 'penalty-double-loop', penalty: fixed, innerSteps: 20 },
    { method: 'penalty-single-loop', penalty: fixed, stepX: 0.5, momentum: 0.5 },
    // V-PBGD's official step: α = 0.1·min(1, 1/γ) (0.01 at γ = 10, 0.001 at γ = 100).
    { method: 'v-pbgd', penalty: fixed },
    { method: 'f2sa', penalty: { kind: 'linear', start: 1, end: lambda, steps: 4000 }, innerSteps: 5 },
  ];
}

function solve(c: BilevelTestCase, options: BilevelMethodOptions, maxIterations = 100_000): ReturnType<typeof runBilevel> {
  return runBilevel(c.problem, options, c.start, { stop: { maxIterations, tolerance: 1e-7 } });
}

describe.each([
  ['T1 (strongly convex lower level)', bilevelCaseT1],
  ['T2 (non-unique lower-level solutions)', bilevelCaseT2],
])('%s', (_name, make) => {
  const c = make();

  it.each([10, 100])('every method reaches the penalty solution x*_λ at λ = %d, whose error to x* is O(1/λ)', (lambda) => {
    const xl = c.penaltySolution!(lambda)[0];
    for (const m of methodsAt(lambda)) {
      const r = solve(c, m);
      expect({ method: m.method, stoppedBy: r.stoppedBy }).toEqual({ method: m.method, stoppedBy: 'tolerance' });
      expect({ method: m.method, error: Math.abs(r.x[0] - xl) < TOL }).toEqual({ method: m.method, error: true });
    }
    // T1: x*_λ − x* = λ/(1+2λ) − ½ = −1/(2(1+2λ)), i.e. ≈ 1/(4λ). T2: (1+2λ)/(1+3λ) − 2/3 = 1/(3(1+3λ)) ≈ 1/(9λ).
    const bias = c.name === 'T1' ? 1 / (2 * (1 + 2 * lambda)) : 1 / (3 * (1 + 3 * lambda));
    expect(Math.abs(xl - c.solution.x[0])).toBeCloseTo(bias, 12);
  });

  it('the y of the penalty solution approaches the optimistic y* (λ = 100)', () => {
    // T1: y_λ(x) = (1 + λx)/(1 + λ) at x*_λ; T2: y = (t, t), t = λx/(1 + 2λ). Both are within O(1/λ) of y*.
    const lambda = 100;
    const r = solve(c, methodsAt(lambda)[0]);
    const x = r.x[0];
    const expected =
      c.name === 'T1' ? [(1 + lambda * x) / (1 + lambda)] : [(lambda * x) / (1 + 2 * lambda), (lambda * x) / (1 + 2 * lambda)];
    r.y.forEach((v, i) => expect(Math.abs(v - expected[i])).toBeLessThan(TOL));
    r.y.forEach((v, i) => expect(Math.abs(v - c.solution.y[i])).toBeLessThan(0.01));
  });
});

describe('T3 (constrained lower level, constraint active at the solution)', () => {
  const c = bilevelCaseT3();

  it.each([10, 100])('every method returns (x, y) = (−1, 0) at λ = %d', (lambda) => {
    for (const m of methodsAt(lambda)) {
      const r = solve(c, m);
      expect({ method: m.method, x: Math.abs(r.x[0] + 1) < TOL, y: Math.abs(r.y[0]) < TOL }).toEqual({
        method: m.method,
        x: true,
        y: true,
      });
    }
  });

  it('negative test: with the projection onto Y removed every method lands near x = 0, not −1', () => {
    // Without Y: y_λ = (1 + λx)/(1 + λ), z = x, ψ_λ(x) = ½(x+1)² + λ(x−1)²/(2(1+λ)) ⇒ x = −1/(1 + 2λ) = −1/21 at λ = 10.
    const broken = { ...c, problem: withBilevelSets(c.problem, { setY: UNCONSTRAINED }) };
    for (const m of methodsAt(10)) {
      const r = solve(broken, m);
      expect({ method: m.method, x: Math.abs(r.x[0] + 1 / 21) < TOL }).toEqual({ method: m.method, x: true });
      expect(Math.abs(r.x[0] + 1)).toBeGreaterThan(0.9);
    }
  });
});

describe('T4 (nonconvex lower level, the V-PBGD toy)', () => {
  const c = bilevelCaseT4();

  it('the grid local minima of ψ(x) = f(x, −x) are the ones of docs/algorithms/bilevel.md §11', () => {
    // §11 (3·10⁵-point grid): 0.3824 (ψ = 0.4427), 1.2152 (global, ψ = 0.1999), 2.8296 (ψ = 1.2435).
    expect(c.localMinima).toHaveLength(3);
    [0.3824, 1.2152, 2.8296].forEach((x, i) => expect(Math.abs(c.localMinima[i] - x)).toBeLessThan(1e-4));
    expect(c.solution.x[0]).toBe(c.localMinima[1]);
    expect(c.solution.value).toBeCloseTo(0.1999, 4);
    expect(t4HyperObjective(c.localMinima[0])).toBeCloseTo(0.4427, 4);
    expect(t4HyperObjective(c.localMinima[2])).toBeCloseTo(1.2435, 4);
    expect(gridLocalMinima((x) => (x - 1) ** 2, 0, 3, 301).map((m) => m.x)).toEqual([1]);
  });

  it('V-PBGD (γ = 10, α = 0.01) from 40 random starts: every run within 0.05 of a local minimiser, |x + y| < 0.05', () => {
    // §11: starts x ~ U[0, 3.5] (projected onto [0, 3]), y ~ U[−5, 8.5]; stop at joint projected gradient < 1e-5.
    // The O(1/γ) penalty offset is ≈ 0.02–0.03, so 0.05 separates "converged to a minimiser" from anything else.
    // The w-chain (absent from toy.py, where v ≡ 0 is known) takes one step of 0.1 < 2/L_g, L_g = max ∂²g/∂y² ≤ 2 + 2·3.
    const rng = createRng(4);
    const hits = new Set<number>();
    for (let s = 0; s < 40; s++) {
      const start = { x: [3.5 * rng.next()], y: [-5 + 13.5 * rng.next()] };
      const r = runBilevel(c.problem, { method: 'v-pbgd', penalty: { kind: 'fixed', lambda: 10 }, innerStep: 0.1 }, start, {
        stop: { maxIterations: 100_000, tolerance: 1e-5 },
      });
      expect(r.stoppedBy).toBe('tolerance');
      const nearest = c.localMinima.reduce((a, m) => (Math.abs(m - r.x[0]) < Math.abs(a - r.x[0]) ? m : a));
      expect(Math.abs(r.x[0] - nearest)).toBeLessThan(0.05);
      expect(Math.abs(r.x[0] + r.y[0])).toBeLessThan(0.05);
      hits.add(nearest);
    }
    expect(hits.size).toBe(3); // all three basins are reached
  });

  it('the penalty double loop, the single loop and F2SA also end within 0.05 of a local minimiser', () => {
    const rng = createRng(44);
    const options: BilevelMethodOptions[] = [
      { method: 'penalty-double-loop', penalty: { kind: 'fixed', lambda: 10 }, innerSteps: 10, stepY: 0.1, stepZ: 0.1, stepX: 0.1 },
      { method: 'penalty-single-loop', penalty: { kind: 'fixed', lambda: 10 }, stepY: 0.1, stepZ: 0.1, stepX: 0.01 },
      { method: 'f2sa', penalty: { kind: 'linear', start: 1, end: 10, steps: 2000 }, innerSteps: 10, stepY: 0.1, stepZ: 0.1 },
    ];
    for (let s = 0; s < 8; s++) {
      const start = { x: [3.5 * rng.next()], y: [-5 + 13.5 * rng.next()] };
      for (const m of options) {
        const r = runBilevel(c.problem, m, start, { stop: { maxIterations: 100_000, tolerance: 1e-5 } });
        const d = Math.min(...c.localMinima.map((v) => Math.abs(v - r.x[0])));
        expect({ method: m.method, near: d < 0.05, onS: Math.abs(r.x[0] + r.y[0]) < 0.05 }).toEqual({
          method: m.method,
          near: true,
          onS: true,
        });
      }
    }
  });
});

describe('T6 (stochastic single loop, docs/algorithms/bilevel.md §6, §11)', () => {
  // T1 and T2 with N(0, 0.5²) noise on every oracle output and λ = 20: x*_λ = 20/41 and 41/61. The average of the
  // last half of 40000 iterations must be within 0.01 of x*_λ. With one sample per iteration (§6) the noise
  // of ∇_x g at y and at z cancels in gradX and y, z see the same ∇_y g noise, so the x-average has a standard
  // error of a few 0.001 here; with independent samples (the `sampling: 'independent'` option) it is ~0.07.
  const lambda = 20;
  const N = 40_000;

  function tailAverage(c: BilevelTestCase, momentum: number, seed: number): number {
    let sum = 0;
    runBilevel(
      withGradientNoise(c.problem, 0.5),
      { method: 'penalty-single-loop', penalty: { kind: 'fixed', lambda }, stepX: 0.02, momentum },
      { ...c.start, seed },
      { stop: { maxIterations: N, tolerance: 0 }, onStep: ({ state }) => void (state.iteration > N / 2 && (sum += state.x[0])) },
    );
    return sum / (N / 2);
  }

  it.each([
    ['T1', bilevelCaseT1, 20 / 41],
    ['T2', bilevelCaseT2, 41 / 61],
  ])('%s: the tail average is within 0.01 of x*_λ, with momentum (β = 0.1) and with plain SGD (β = 1)', (_n, make, expected) => {
    const c = make();
    expect(c.penaltySolution!(lambda)[0]).toBeCloseTo(expected, 12);
    expect(Math.abs(tailAverage(c, 0.1, 1) - expected)).toBeLessThan(0.01);
    expect(Math.abs(tailAverage(c, 1, 2) - expected)).toBeLessThan(0.01);
  });
});
