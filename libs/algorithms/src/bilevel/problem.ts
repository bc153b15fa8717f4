import { checkBilevelSet, type BilevelSet } from './projection';
import { addHashedNormals, mixSample, BILEVEL_SAMPLE_ROLE } from './sampling';

/**
 * The bilevel problem (docs/algorithms/bilevel.md §1):
 *
 *   min_{x ∈ X} ψ(x) = min_{y ∈ S(x)} f(x, y),   S(x) = argmin_{y ∈ Y} g(x, y),
 *
 * given through first-order oracles only (no Hessians, no Hessian-vector products).
 *
 * Oracle convention: `gradF(x, y, gx, gy, sample)` writes ∇_x f(x, y) into `gx` and ∇_y f(x, y) into `gy`,
 * skipping a partial whose buffer is null; `gradG` likewise for g. One call is one oracle call, whichever
 * partials it returns (they share the forward pass). `sample` names the minibatch / noise draw of a stochastic
 * oracle: two calls with the same sample must use the same minibatch (the single-loop method evaluates one
 * sample at two points, §6); deterministic oracles ignore it.
 */
export interface BilevelProblem {
  /** dim(x) ≥ 1. */
  readonly dimX: number;
  /** dim(y) ≥ 1; the z-chain (tracking argmin g) lives in the same space. */
  readonly dimY: number;
  /** Feasible set X of x (docs/algorithms/bilevel.md §3.3). */
  readonly setX: BilevelSet;
  /** Feasible set Y of y and of z: both chains are projected onto it (docs/algorithms/bilevel.md §3.3). */
  readonly setY: BilevelSet;
  /** Upper-level value f(x, y) (for reporting; not counted as an oracle call). */
  f(x: Float64Array, y: Float64Array): number;
  /** Lower-level value g(x, y) (for reporting). */
  g(x: Float64Array, y: Float64Array): number;
  /** ∇f(x, y) into gx (length dimX) and gy (length dimY); either may be null. */
  gradF(x: Float64Array, y: Float64Array, gx: Float64Array | null, gy: Float64Array | null, sample: number): void;
  /** ∇g(x, y) into gx and gy; either may be null. */
  gradG(x: Float64Array, y: Float64Array, gx: Float64Array | null, gy: Float64Array | null, sample: number): void;
}

/** Oracle calls spent: evaluations of ∇f and of ∇g, each at one point. A plain JSON-safe object. */
export interface OracleCalls {
  f: number;
  g: number;
}

/** f + g calls: the "oracle calls" reported by the benchmark. */
export function totalOracleCalls(calls: OracleCalls): number {
  return calls.f + calls.g;
}

/** Checks the dimensions and sets of a problem; throws naming `where`. */
export function checkBilevelProblem(problem: BilevelProblem, where: string): void {
  checkBilevelSet(problem.setX, problem.dimX, `${where}: setX`);
  checkBilevelSet(problem.setY, problem.dimY, `${where}: setY`);
}

/**
 * A stochastic version of `problem`: every partial derivative returned gets independent N(0, std²) noise,
 * drawn from the call's `sample` (so the same sample gives the same noise at any point, the mean-squared
 * smoothness the single-loop method needs, docs/algorithms/bilevel.md §6). This is the noise model of §11, T6.
 * @param std noise standard deviation ≥ 0.
 */
export function withGradientNoise(problem: BilevelProblem, std: number): BilevelProblem {
  if (!(std >= 0 && std < Infinity)) throw new Error(`withGradientNoise: std must be finite and >= 0, got ${std}`);
  const noisy =
    (role: number, grad: BilevelProblem['gradF']): BilevelProblem['gradF'] =>
    (x, y, gx, gy, sample) => {
      grad(x, y, gx, gy, sample);
      // One stream per (sample, f or g); x noise uses counters [0, dimX), y noise [dimX, dimX + dimY), so the y noise
      // of a sample does not depend on whether gx was asked for.
      const stream = mixSample(sample, role);
      if (gx) addHashedNormals(stream, gx, 0, problem.dimX, std);
      if (gy) addHashedNormals(stream, gy, problem.dimX, problem.dimY, std);
    };
  return {
    dimX: problem.dimX,
    dimY: problem.dimY,
    setX: problem.setX,
    setY: problem.setY,
    f: (x, y) => problem.f(x, y),
    g: (x, y) => problem.g(x, y),
    gradF: noisy(BILEVEL_SAMPLE_ROLE.f, (x, y, gx, gy, s) => problem.gradF(x, y, gx, gy, s)),
    gradG: noisy(BILEVEL_SAMPLE_ROLE.g, (x, y, gx, gy, s) => problem.gradG(x, y, gx, gy, s)),
  };
}

/** The same problem with other feasible sets, e.g. `setY: UNCONSTRAINED` for the negative test of docs/algorithms/bilevel.md §11, T3. */
export function withBilevelSets(problem: BilevelProblem, sets: { setX?: BilevelSet; setY?: BilevelSet }): BilevelProblem {
  const out: BilevelProblem = {
    dimX: problem.dimX,
    dimY: problem.dimY,
    setX: sets.setX ?? problem.setX,
    setY: sets.setY ?? problem.setY,
    f: (x, y) => problem.f(x, y),
    g: (x, y) => problem.g(x, y),
    gradF: (x, y, gx, gy, s) => problem.gradF(x, y, gx, gy, s),
    gradG: (x, y, gx, gy, s) => problem.gradG(x, y, gx, gy, s),
  };
  checkBilevelProblem(out, 'withBilevelSets');
  return out;
}
