import type { Dataset } from '../data/dataset';
import { createRng } from '../random';
import { bilevelCaseT5, gridMinimize, logisticRegularizationCase, solveSpd } from './hyperparameter';
import { runBilevel } from './runner';

describe('solveSpd and gridMinimize (ground-truth helpers)', () => {
  it('solves a 3×3 SPD system exactly', () => {
    // S = [[4,2,0],[2,5,1],[0,1,3]], u = (1, −1, 2) ⇒ r = S·u = (2, −1, 5).
    const S = Float64Array.from([4, 2, 0, 2, 5, 1, 0, 1, 3]);
    const u = solveSpd(S, Float64Array.from([2, -1, 5]), 3);
    [1, -1, 2].forEach((v, i) => expect(u[i]).toBeCloseTo(v, 12));
    expect(() => solveSpd(Float64Array.from([1, 2, 2, 1]), Float64Array.from([1, 1]), 2)).toThrow(/not positive definite/);
  });

  it('finds the minimiser of a smooth function between grid points to 1e-7', () => {
    // (x − 0.123456789)² + 1 on [−1, 1] with a coarse 11-point grid: golden section refines inside the best cell.
    // Values near the minimum differ by (Δx)², so Δx is only resolvable down to √ε_machine ≈ 1.5e-8.
    const r = gridMinimize((x) => (x - 0.123456789) ** 2 + 1, -1, 1, 11);
    expect(Math.abs(r.x - 0.123456789)).toBeLessThan(1e-7);
    expect(r.value).toBeCloseTo(1, 12);
  });
});

describe('T5 (ridge-regression regularisation, docs/algorithms/bilevel.md §11)', () => {
  const c = bilevelCaseT5();
  const xStar = c.solution.x[0];

  it('the grid answer x* is an interior stationary point of ψ, and ψ_{1/λ} → ψ as λ grows', () => {
    // Central difference of ψ at x*: ψ'(x*) = 0 up to O(h²); ψ is convex near x* (ψ(x* ± 0.1) > ψ(x*)).
    const h = 1e-4;
    expect(xStar).toBeGreaterThan(-6);
    expect(xStar).toBeLessThan(4);
    expect(Math.abs((c.hyperObjective(xStar + h) - c.hyperObjective(xStar - h)) / (2 * h))).toBeLessThan(1e-6);
    expect(c.hyperObjective(xStar + 0.1)).toBeGreaterThan(c.solution.value);
    expect(c.hyperObjective(xStar - 0.1)).toBeGreaterThan(c.solution.value);
    // ψ_{1/λ} ≤ ψ (take w = w* in the inner min) and ψ − ψ_{1/λ} = O(1/λ).
    const gap10 = c.hyperObjective(xStar) - c.penaltyHyperObjective(10, xStar);
    const gap100 = c.hyperObjective(xStar) - c.penaltyHyperObjective(100, xStar);
    expect(gap10).toBeGreaterThan(0);
    expect(gap100).toBeGreaterThan(0);
    expect(gap10 / gap100).toBeGreaterThan(7);
    expect(gap10 / gap100).toBeLessThan(13);
  });

  it('the penalty double loop reaches x*_λ (grid) at λ = 10 and 100, and its error to x* shrinks like 1/λ', () => {
    // Steps in units of 1/L_g (L_g = λmax(AᵀA/n) + 1 bounds the y-curvature of g for x ≤ 0), T = 10 inner steps.
    // The bias x*_λ − x* ≈ c/λ to first order (ψ_{1/λ} = ψ − h/λ + O(1/λ²) ⇒ x*_λ − x* ≈ h'(x*)/(λψ''(x*))), so
    // λ·|x_λ − x*| must be nearly the same at λ = 10 and λ = 100: their ratio err(10)/err(100) is within 10 ± 3.
    const step = 1 / c.smoothness.g;
    const errors = [10, 100].map((lambda) => {
      const r = runBilevel(
        c.problem,
        { method: 'penalty-double-loop', penalty: { kind: 'fixed', lambda }, innerSteps: 10, stepY: step, stepZ: step, stepX: 10 },
        c.start,
        { stop: { maxIterations: 20_000, tolerance: 1e-8 } },
      );
      expect(r.stoppedBy).toBe('tolerance');
      expect(Math.abs(r.x[0] - c.penaltySolution(lambda)[0])).toBeLessThan(1e-5);
      return Math.abs(r.x[0] - xStar);
    });
    expect(errors[1]).toBeLessThan(errors[0]);
    expect(errors[0] / errors[1]).toBeGreaterThan(7);
    expect(errors[0] / errors[1]).toBeLessThan(13);
    expect(errors[1]).toBeLessThan(0.02); // ≈ 0.0116 on this instance; C/λ with C = 2
  });

  it('checks its options', () => {
    expect(() => bilevelCaseT5({ n: 0 })).toThrow(/bilevelCaseT5: n must be a positive integer/);
    expect(() => bilevelCaseT5({ bounds: [1, 1] })).toThrow(/hi > lo/);
  });
});

describe('logistic-regression regularisation (docs/algorithms/bilevel.md §12.2)', () => {
  // Two overlapping 3-D Gaussian classes (means ±0.5·1, unit noise): 30 training rows overfit without
  // regularisation, so the validation loss has an interior optimum in x = log C.
  const rng = createRng(82);
  const make = (n: number): Dataset => {
    const features = new Float32Array(n * 3);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      labels[i] = i % 2;
      for (let j = 0; j < 3; j++) features[i * 3 + j] = (labels[i] ? 0.5 : -0.5) + rng.normal();
    }
    return { features, labels, numFeatures: 3, numClasses: 2, size: n };
  };
  const c = logisticRegularizationCase(make(30), make(200), { bounds: [-8, 3] });
  const xStar = c.solution.x[0];

  it('oracles match finite differences and Newton solves the inner problem', () => {
    const x = Float64Array.from([-1.3]);
    const w = Float64Array.from([0.2, -0.4, 0.7, 0.1]);
    const gx = new Float64Array(1);
    const gy = new Float64Array(4);
    const fy = new Float64Array(4);
    c.problem.gradG(x, w, gx, gy, 0);
    c.problem.gradF(x, w, null, fy, 0);
    const h = 1e-6;
    const fd = (fn: (a: Float64Array, b: Float64Array) => number, v: Float64Array, i: number): number => {
      const old = v[i];
      v[i] = old + h;
      const up = fn(x, w);
      v[i] = old - h;
      const down = fn(x, w);
      v[i] = old;
      return (up - down) / (2 * h);
    };
    expect(Math.abs(gx[0] - fd(c.problem.g, x, 0))).toBeLessThan(1e-8);
    for (let i = 0; i < 4; i++) expect(Math.abs(gy[i] - fd(c.problem.g, w, i))).toBeLessThan(1e-8);
    for (let i = 0; i < 4; i++) expect(Math.abs(fy[i] - fd(c.problem.f, w, i))).toBeLessThan(1e-8);
    // ∇_w g(x, w*(x)) = 0 at the Newton solution.
    const ws = c.lowerSolution(-1.3);
    c.problem.gradG(x, ws, null, gy, 0);
    gy.forEach((v) => expect(Math.abs(v)).toBeLessThan(1e-10));
  });

  it('x* is an interior stationary point of ψ, and the penalty double loop gets within O(1/λ) of it', () => {
    const d = 1e-4;
    expect(xStar).toBeGreaterThan(-8);
    expect(xStar).toBeLessThan(3);
    expect(Math.abs((c.hyperObjective(xStar + d) - c.hyperObjective(xStar - d)) / (2 * d))).toBeLessThan(1e-6);
    const s = 1 / c.smoothness.g;
    const errors = [10, 100].map((lambda) => {
      const r = runBilevel(
        c.problem,
        { method: 'penalty-double-loop', penalty: { kind: 'fixed', lambda }, innerSteps: 10, stepY: s, stepZ: s, stepX: 10 },
        c.start,
        { stop: { maxIterations: 20_000, tolerance: 1e-8 } },
      );
      return Math.abs(r.x[0] - xStar);
    });
    // O(1/λ) bias: ten times the penalty, about a tenth of the error (same first-order argument as T5; seen:
    // 0.0172 at λ = 10, 0.00176 at λ = 100).
    expect(errors[0] / errors[1]).toBeGreaterThan(7);
    expect(errors[0] / errors[1]).toBeLessThan(13);
  });
});
