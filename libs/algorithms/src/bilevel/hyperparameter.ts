import type { Dataset } from '../data/dataset';
import { createRng } from '../random';
import type { BilevelProblem } from './problem';
import type { BilevelTestCase } from './test-problems';

// Module-level copies: global lookups are slow inside vm sandboxes such as jest's, and these run per sample.
const { exp, log1p, sqrt } = Math;

/**
 * T5 of docs/algorithms/bilevel.md §11 (and §12.2): choosing the ridge-regression regularisation by bilevel
 * optimisation, with a ground truth from the closed-form inner solution and a dense grid.
 *
 *   x = log(regularisation) ∈ X = [lo, hi],   g(x, w) = (1/2n)‖Aw − b‖² + (eˣ/2)‖w‖²,   f(x, w) = (1/2m)‖A_v w − b_v‖².
 *
 * w*(x) = (AᵀA/n + eˣI)⁻¹Aᵀb/n and ψ(x) = f(x, w*(x)); the penalised ψ_{1/λ}(x) = f(w_λ) + λ(g(x, w_λ) − g(x, w*)) with
 * w_λ = (A_vᵀA_v/m + λ(AᵀA/n + eˣI))⁻¹(A_vᵀb_v/m + λAᵀb/n) is also closed form, so both x* and x*_λ come from a grid.
 */

/** Solves S·u = r for a symmetric positive-definite d×d S (row-major) by Cholesky; S and r are not modified. */
export function solveSpd(S: Float64Array, r: Float64Array, d: number): Float64Array {
  const L = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = S[i * d + j];
      for (let k = 0; k < j; k++) s -= L[i * d + k] * L[j * d + k];
      if (i === j) {
        if (!(s > 0)) throw new Error(`solveSpd: matrix is not positive definite (pivot ${i} = ${s})`);
        L[i * d + i] = sqrt(s);
      } else {
        L[i * d + j] = s / L[j * d + j];
      }
    }
  }
  const u = Float64Array.from(r);
  for (let i = 0; i < d; i++) {
    let s = u[i];
    for (let k = 0; k < i; k++) s -= L[i * d + k] * u[k];
    u[i] = s / L[i * d + i];
  }
  for (let i = d - 1; i >= 0; i--) {
    let s = u[i];
    for (let k = i + 1; k < d; k++) s -= L[k * d + i] * u[k];
    u[i] = s / L[i * d + i];
  }
  return u;
}

/**
 * The minimiser of a function on [lo, hi]: the best of a uniform grid of `points` values, refined by golden-section
 * search on the two neighbouring cells to |Δx| ≤ 1e-10. Assumes ψ is unimodal near its grid minimum.
 */
export function gridMinimize(psi: (x: number) => number, lo: number, hi: number, points: number): { x: number; value: number } {
  if (!(hi > lo) || !(Number.isInteger(points) && points >= 2))
    throw new Error(`gridMinimize: need hi > lo and points >= 2, got [${lo}, ${hi}], ${points}`);
  const h = (hi - lo) / (points - 1);
  let bi = 0;
  let bv = Infinity;
  for (let i = 0; i < points; i++) {
    const v = psi(lo + i * h);
    if (v < bv) {
      bv = v;
      bi = i;
    }
  }
  let a = Math.max(lo, lo + (bi - 1) * h);
  let b = Math.min(hi, lo + (bi + 1) * h);
  const phi = (sqrt(5) - 1) / 2;
  let c = b - phi * (b - a);
  let d = a + phi * (b - a);
  let fc = psi(c);
  let fd = psi(d);
  while (b - a > 1e-10) {
    if (fc < fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - phi * (b - a);
      fc = psi(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + phi * (b - a);
      fd = psi(d);
    }
  }
  const x = (a + b) / 2;
  const v = psi(x);
  return v <= bv ? { x, value: v } : { x: lo + bi * h, value: bv };
}

/** Options of {@link bilevelCaseT5}; defaults are the instance of docs/algorithms/bilevel.md §11, T5. */
export interface RidgeCaseOptions {
  /** Training rows n, default 50. */
  n?: number;
  /** Validation rows m, default 50. */
  m?: number;
  /** Features d, default 20. */
  d?: number;
  /** Noise scale: b = A·w_true + noise·N(0, 1), default 2. */
  noise?: number;
  /** Bounds of X, default [−6, 4]. */
  bounds?: readonly [number, number];
  /** Seed of the instance, default 5. */
  seed?: number;
  /** Grid points for x* and x*_λ, default 2001 (spacing 0.005 on [−6, 4]) before golden-section refinement. */
  gridPoints?: number;
}

/** T5 with its closed-form helpers. */
export interface RidgeCase extends BilevelTestCase {
  /** ψ(x) = f(x, w*(x)). */
  hyperObjective(x: number): number;
  /** ψ_{1/λ}(x). */
  penaltyHyperObjective(lambda: number, x: number): number;
  /** x*_λ by grid + golden section. */
  penaltySolution(lambda: number): number[];
  /** Smoothness constants at x ≤ 0: L_f = λmax(A_vᵀA_v/m), L_g = λmax(AᵀA/n) + 1 (in y). */
  smoothness: { f: number; g: number };
}

/** Largest eigenvalue of a symmetric PSD matrix by power iteration (200 iterations from the all-ones vector). */
function largestEigenvalue(S: Float64Array, d: number): number {
  let v = new Float64Array(d).fill(1 / sqrt(d));
  let ev = 0;
  for (let it = 0; it < 200; it++) {
    const w = new Float64Array(d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) w[i] += S[i * d + j] * v[j];
    let nrm = 0;
    for (let i = 0; i < d; i++) nrm += w[i] * w[i];
    ev = sqrt(nrm);
    for (let i = 0; i < d; i++) w[i] /= ev;
    v = w;
  }
  return ev;
}

/** Gram matrix AᵀA/rows and Aᵀb/rows and ‖b‖²/(2 rows) of a row-major rows×d matrix. */
function normalEquations(A: Float64Array, b: Float64Array, rows: number, d: number): { H: Float64Array; c: Float64Array; b2: number } {
  const H = new Float64Array(d * d);
  const c = new Float64Array(d);
  let b2 = 0;
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < d; i++) {
      const ai = A[r * d + i];
      c[i] += ai * b[r];
      for (let j = 0; j < d; j++) H[i * d + j] += ai * A[r * d + j];
    }
    b2 += b[r] * b[r];
  }
  for (let i = 0; i < d * d; i++) H[i] /= rows;
  for (let i = 0; i < d; i++) c[i] /= rows;
  return { H, c, b2: b2 / (2 * rows) };
}

/** ½wᵀHw − cᵀw + b2 (= (1/2rows)‖Aw − b‖²). */
function quadratic(H: Float64Array, c: Float64Array, b2: number, w: ArrayLike<number>, d: number): number {
  let v = b2;
  for (let i = 0; i < d; i++) {
    let hw = 0;
    for (let j = 0; j < d; j++) hw += H[i * d + j] * w[j];
    v += 0.5 * w[i] * hw - c[i] * w[i];
  }
  return v;
}

/** Hw − c into out. */
function quadraticGrad(H: Float64Array, c: Float64Array, w: ArrayLike<number>, d: number, out: Float64Array): void {
  for (let i = 0; i < d; i++) {
    let hw = 0;
    for (let j = 0; j < d; j++) hw += H[i * d + j] * w[j];
    out[i] = hw - c[i];
  }
}

/**
 * T5 (docs/algorithms/bilevel.md §11): a seeded ridge instance A ∈ R^{n×d}, b = A w_true + noise·ε, validation of the same kind, with
 * x = log(regularisation) ∈ [−6, 4]. Oracles work on the precomputed normal equations (O(d²) per call, the same
 * values as the O(nd) data form). Start: x = 0, w = 0.
 */
export function bilevelCaseT5(options: RidgeCaseOptions = {}): RidgeCase {
  const n = options.n ?? 50;
  const m = options.m ?? 50;
  const d = options.d ?? 20;
  const noise = options.noise ?? 2;
  const [lo, hi] = options.bounds ?? [-6, 4];
  const gridPoints = options.gridPoints ?? 2001;
  for (const [name, v] of [
    ['n', n],
    ['m', m],
    ['d', d],
  ] as const) {
    if (!(Number.isInteger(v) && v >= 1)) throw new Error(`bilevelCaseT5: ${name} must be a positive integer, got ${v}`);
  }
  if (!(hi > lo)) throw new Error(`bilevelCaseT5: bounds must have hi > lo, got [${lo}, ${hi}]`);
  const rng = createRng(options.seed ?? 5);
  const wTrue = Float64Array.from({ length: d }, () => rng.normal());
  const draw = (rows: number): { A: Float64Array; b: Float64Array } => {
    const A = Float64Array.from({ length: rows * d }, () => rng.normal());
    const b = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += A[r * d + j] * wTrue[j];
      b[r] = s + noise * rng.normal();
    }
    return { A, b };
  };
  const train = draw(n);
  const val = draw(m);
  const tr = normalEquations(train.A, train.b, n, d);
  const va = normalEquations(val.A, val.b, m, d);

  const lowerSolution = (x: number): Float64Array => {
    const S = Float64Array.from(tr.H);
    for (let i = 0; i < d; i++) S[i * d + i] += exp(x);
    return solveSpd(S, tr.c, d);
  };
  const sqNorm = (w: ArrayLike<number>): number => {
    let s = 0;
    for (let i = 0; i < d; i++) s += w[i] * w[i];
    return s;
  };
  const gValue = (x: number, w: ArrayLike<number>): number => quadratic(tr.H, tr.c, tr.b2, w, d) + 0.5 * exp(x) * sqNorm(w);
  const fValue = (w: ArrayLike<number>): number => quadratic(va.H, va.c, va.b2, w, d);
  const hyperObjective = (x: number): number => fValue(lowerSolution(x));
  const penaltyHyperObjective = (lambda: number, x: number): number => {
    const S = new Float64Array(d * d);
    const r = new Float64Array(d);
    for (let i = 0; i < d * d; i++) S[i] = va.H[i] + lambda * tr.H[i];
    for (let i = 0; i < d; i++) {
      S[i * d + i] += lambda * exp(x);
      r[i] = va.c[i] + lambda * tr.c[i];
    }
    const wl = solveSpd(S, r, d);
    return fValue(wl) + lambda * (gValue(x, wl) - gValue(x, lowerSolution(x)));
  };
  const best = gridMinimize(hyperObjective, lo, hi, gridPoints);
  const problem: BilevelProblem = {
    dimX: 1,
    dimY: d,
    setX: { kind: 'box', lower: lo, upper: hi },
    setY: { kind: 'none' },
    f: (_x, w) => fValue(w),
    g: (x, w) => gValue(x[0], w),
    gradF: (_x, w, gx, gy) => {
      if (gx) gx[0] = 0;
      if (gy) quadraticGrad(va.H, va.c, w, d, gy);
    },
    gradG: (x, w, gx, gy) => {
      const e = exp(x[0]);
      if (gx) gx[0] = 0.5 * e * sqNorm(w);
      if (gy) {
        quadraticGrad(tr.H, tr.c, w, d, gy);
        for (let i = 0; i < d; i++) gy[i] += e * w[i];
      }
    },
  };
  return {
    name: 'T5',
    problem,
    solution: { x: [best.x], y: Array.from(lowerSolution(best.x)), value: best.value },
    hyperObjective,
    penaltyHyperObjective,
    penaltySolution: (lambda) => [gridMinimize((x) => penaltyHyperObjective(lambda, x), lo, hi, gridPoints).x],
    smoothness: { f: largestEigenvalue(va.H, d), g: largestEigenvalue(tr.H, d) + 1 },
    start: { x: [0], y: new Array<number>(d).fill(0) },
  };
}

/** Options of {@link logisticRegularizationCase}. */
export interface LogisticRegularizationOptions {
  /** Bounds of X (x = log of the L2 strength), default [−10, 2]. */
  bounds?: readonly [number, number];
  /** Grid points for x* before golden-section refinement, default 121 (spacing 0.1 on [−10, 2]). */
  gridPoints?: number;
}

/** The logistic-regression case of docs/algorithms/bilevel.md §12.2 with its ground-truth helpers. */
export interface LogisticRegularizationCase extends BilevelTestCase {
  /** ψ(x) = f(x, w*(x)), w*(x) by Newton's method to ‖Δw‖ ≤ 1e-12. */
  hyperObjective(x: number): number;
  /** w*(x) = argmin_w g(x, w). */
  lowerSolution(x: number): Float64Array;
  /** Smoothness in w: L_f = λmax(A_vᵀA_v/m)/4 and L_g = λmax(AᵀA/n)/4 + 1 (valid for x ≤ 0). */
  smoothness: { f: number; g: number };
}

/**
 * docs/algorithms/bilevel.md §12.2: choosing the L2 strength of binary logistic regression by bilevel optimisation, on a training and a
 * validation set whose labels are 0/1 (numClasses 2). With a_i = (features_i, 1) and s_i = ±1,
 *
 *   g(x, w) = (1/n) Σ_i log(1 + e^{−s_i a_i·w}) + (eˣ/2)‖w‖²,   f(x, w) = (1/m) Σ_j log(1 + e^{−s_j a_j·w}),
 *
 * x ∈ [lo, hi]. g is eˣ-strongly convex in w, so w*(x) is unique and Newton's method finds it; x* comes from a grid
 * (warm-started Newton along it) refined by golden section. The bias is regularised with the weights (a simple,
 * common variant). Start: x = 0, w = 0.
 */
export function logisticRegularizationCase(
  train: Dataset,
  validation: Dataset,
  options: LogisticRegularizationOptions = {},
): LogisticRegularizationCase {
  const where = 'logisticRegularizationCase';
  for (const [name, ds] of [
    ['train', train],
    ['validation', validation],
  ] as const) {
    if (ds.numClasses !== 2 || ds.size === 0)
      throw new Error(`${where}: ${name} must be a non-empty 2-class dataset, got ${ds.numClasses} classes and ${ds.size} rows`);
  }
  if (train.numFeatures !== validation.numFeatures)
    throw new Error(`${where}: train has ${train.numFeatures} features, validation ${validation.numFeatures}`);
  const [lo, hi] = options.bounds ?? [-10, 2];
  if (!(hi > lo)) throw new Error(`${where}: bounds must have hi > lo, got [${lo}, ${hi}]`);
  const d = train.numFeatures + 1;
  const design = (ds: Dataset): { A: Float64Array; s: Float64Array; rows: number } => {
    const A = new Float64Array(ds.size * d);
    const s = new Float64Array(ds.size);
    for (let i = 0; i < ds.size; i++) {
      for (let j = 0; j < d - 1; j++) A[i * d + j] = ds.features[i * (d - 1) + j];
      A[i * d + d - 1] = 1;
      s[i] = ds.labels[i] === 1 ? 1 : -1;
    }
    return { A, s, rows: ds.size };
  };
  const tr = design(train);
  const va = design(validation);
  const sqNorm = (w: ArrayLike<number>): number => {
    let v = 0;
    for (let i = 0; i < d; i++) v += w[i] * w[i];
    return v;
  };
  /** Mean logistic loss; adds its gradient to grad and its Hessian to hess when given. */
  const logistic = (set: typeof tr, w: ArrayLike<number>, grad: Float64Array | null, hess: Float64Array | null): number => {
    let loss = 0;
    const inv = 1 / set.rows;
    for (let i = 0; i < set.rows; i++) {
      const row = i * d;
      let m = 0;
      for (let j = 0; j < d; j++) m += set.A[row + j] * w[j];
      const t = set.s[i] * m;
      // log(1 + e^{−t}) and σ(−t), stable for both signs of t.
      loss += (t > 0 ? log1p(exp(-t)) : -t + log1p(exp(t))) * inv;
      const p = t > 0 ? exp(-t) / (1 + exp(-t)) : 1 / (1 + exp(t));
      if (grad) {
        const c = -set.s[i] * p * inv;
        for (let j = 0; j < d; j++) grad[j] += c * set.A[row + j];
      }
      if (hess) {
        const c = p * (1 - p) * inv;
        for (let j = 0; j < d; j++) {
          const aj = c * set.A[row + j];
          for (let k = 0; k <= j; k++) hess[j * d + k] += aj * set.A[row + k];
        }
      }
    }
    if (hess) for (let j = 0; j < d; j++) for (let k = 0; k < j; k++) hess[k * d + j] = hess[j * d + k];
    return loss;
  };
  const newton = (x: number, start: Float64Array): Float64Array => {
    const e = exp(x);
    const w = Float64Array.from(start);
    for (let it = 0; it < 100; it++) {
      const grad = new Float64Array(d);
      const hess = new Float64Array(d * d);
      logistic(tr, w, grad, hess);
      for (let j = 0; j < d; j++) {
        grad[j] += e * w[j];
        hess[j * d + j] += e;
      }
      const step = solveSpd(hess, grad, d);
      for (let j = 0; j < d; j++) w[j] -= step[j];
      if (sqrt(sqNorm(step)) <= 1e-12 * (1 + sqrt(sqNorm(w)))) return w;
    }
    return w;
  };
  // Warm starts: the grid solutions, reused by the golden-section refinement (nearest grid point).
  const gridPoints = options.gridPoints ?? 121;
  if (!(Number.isInteger(gridPoints) && gridPoints >= 2))
    throw new Error(`${where}: gridPoints must be an integer >= 2, got ${gridPoints}`);
  const h = (hi - lo) / (gridPoints - 1);
  const starts: Float64Array[] = [];
  let prev: Float64Array = new Float64Array(d);
  for (let i = gridPoints - 1; i >= 0; i--) {
    // From strong to weak regularisation: each solve starts near its neighbour's solution.
    prev = newton(lo + i * h, prev);
    starts[i] = prev;
  }
  const lowerSolution = (x: number): Float64Array => newton(x, starts[Math.min(gridPoints - 1, Math.max(0, Math.round((x - lo) / h)))]);
  const hyperObjective = (x: number): number => logistic(va, lowerSolution(x), null, null);
  const best = gridMinimize(hyperObjective, lo, hi, gridPoints);
  const gram = (set: typeof tr): number => {
    const S = new Float64Array(d * d);
    for (let i = 0; i < set.rows; i++)
      for (let j = 0; j < d; j++) for (let k = 0; k < d; k++) S[j * d + k] += (set.A[i * d + j] * set.A[i * d + k]) / set.rows;
    return largestEigenvalue(S, d) / 4;
  };
  const problem: BilevelProblem = {
    dimX: 1,
    dimY: d,
    setX: { kind: 'box', lower: lo, upper: hi },
    setY: { kind: 'none' },
    f: (_x, w) => logistic(va, w, null, null),
    g: (x, w) => logistic(tr, w, null, null) + 0.5 * exp(x[0]) * sqNorm(w),
    gradF: (_x, w, gx, gy) => {
      if (gx) gx[0] = 0;
      if (gy) {
        gy.fill(0);
        logistic(va, w, gy, null);
      }
    },
    gradG: (x, w, gx, gy) => {
      const e = exp(x[0]);
      if (gx) gx[0] = 0.5 * e * sqNorm(w);
      if (gy) {
        gy.fill(0);
        logistic(tr, w, gy, null);
        for (let j = 0; j < d; j++) gy[j] += e * w[j];
      }
    },
  };
  return {
    name: 'logistic-regularisation',
    problem,
    solution: { x: [best.x], y: Array.from(lowerSolution(best.x)), value: best.value },
    hyperObjective,
    lowerSolution,
    smoothness: { f: gram(va), g: gram(tr) + 1 },
    start: { x: [0], y: new Array<number>(d).fill(0) },
  };
}
