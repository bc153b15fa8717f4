import type { BilevelProblem, OracleCalls } from './problem';
import { projectInPlace } from './projection';
import { mixSample, BILEVEL_SAMPLE_ROLE } from './sampling';
import { distance2, toVector } from './vector';

/**
 * The building blocks shared by all penalty-type methods (docs/algorithms/bilevel.md §3), each callable on its own
 * so that a coordinator can own x, λ and the outer step while agents run the y- and z-chains on their data
 * shards and send back gradient terms (§13):
 *
 *   gradX(x, y, z; λ) = ∇_x f(x, y) + λ·(∇_x g(x, y) − ∇_x g(x, z))    hyper-gradient estimate of ψ_{1/λ}
 *   gradY(x, y; λ)    = ∇_y f(x, y) + λ·∇_y g(x, y)                     y tracks argmin_Y (f + λg)(x, ·)
 *   gradZ(x, z)       = ∇_y g(x, z)                                      z tracks argmin_Y g(x, ·)
 *
 * Inputs are plain arrays or typed arrays (number[] from JSON, Float32Array from an agent); the results are
 * Float64Arrays plus the oracle calls spent.
 */

/** One inner chain of projected gradient steps, as run by an agent in one round (docs/algorithms/bilevel.md §3.2, §13). */
export interface ChainSpec {
  /** Number of steps T ≥ 1. */
  steps: number;
  /** Step size α > 0 (already scaled by λ where the step multiplies λ, see `penaltyStepFactor`). */
  stepSize: number;
  /** Seed of the oracle samples: step t uses sample `mixSample(sampleSeed, t)`. */
  sampleSeed: number;
  /**
   * Proximal weight ρ ≥ 0: adds ρ·(v − v₀) to every gradient, i.e. the term (ρ/2)‖v − v₀‖² anchored at the chain's
   * warm start v₀. Default 0 (off). docs/algorithms/bilevel.md §14 item 2: the ICLR 2024 analysis uses a Moreau envelope / ρ-dependent
   * z-update; whether the algorithm's iterations use it could not be checked, so it is an option, off by default.
   */
  proximal?: number;
}

/** What a chain returns: its last point, the residual at its last step and the oracle calls spent. */
export interface ChainResult {
  point: Float64Array;
  /**
   * ‖v_{T−1} − v_T‖ / α: the projected-gradient mapping at the chain's second-to-last point, the inner
   * residual of the stopping rule (docs/algorithms/bilevel.md §9), obtained without an extra oracle call.
   */
  residual: number;
  oracleCalls: OracleCalls;
}

function checkChain(spec: ChainSpec, where: string): void {
  if (!(Number.isInteger(spec.steps) && spec.steps >= 1)) throw new Error(`${where}: steps must be a positive integer, got ${spec.steps}`);
  if (!(spec.stepSize > 0 && spec.stepSize < Infinity))
    throw new Error(`${where}: stepSize must be positive and finite, got ${spec.stepSize}`);
  if (!Number.isInteger(spec.sampleSeed)) throw new Error(`${where}: sampleSeed must be an integer, got ${spec.sampleSeed}`);
  const rho = spec.proximal ?? 0;
  if (!(rho >= 0 && rho < Infinity)) throw new Error(`${where}: proximal must be finite and >= 0, got ${rho}`);
}

/**
 * Runs T projected steps v ← ProjY(v − α·(grad(v) + ρ(v − v₀))) in place on `v`; `grad` writes the chain's gradient
 * at v for a given sample into its second argument. Returns the last residual.
 */
function runChain(
  problem: BilevelProblem,
  v: Float64Array,
  spec: ChainSpec,
  where: string,
  grad: (v: Float64Array, out: Float64Array, sample: number) => void,
): number {
  const { steps, stepSize: a } = spec;
  const rho = spec.proximal ?? 0;
  const anchor = rho > 0 ? Float64Array.from(v) : null;
  const gv = new Float64Array(v.length);
  const prev = new Float64Array(v.length);
  for (let t = 0; t < steps; t++) {
    grad(v, gv, mixSample(spec.sampleSeed, t));
    prev.set(v);
    if (anchor) for (let i = 0; i < v.length; i++) v[i] -= a * (gv[i] + rho * (v[i] - anchor[i]));
    else for (let i = 0; i < v.length; i++) v[i] -= a * gv[i];
    projectInPlace(problem.setY, v);
  }
  const residual = distance2(prev, v) / a;
  if (!Number.isFinite(residual)) throw new Error(`${where}: the chain diverged (non-finite iterate); lower its stepSize`);
  return residual;
}

/**
 * The y-chain at fixed x (docs/algorithms/bilevel.md §3.2, §5): T projected steps on h = f + λg, y ← ProjY(y − α·gradY(x, y; λ)),
 * tracking y*_λ(x) = argmin_Y (f + λg)(x, ·). Two oracle calls per step (∇_y f and ∇_y g, same sample).
 * Needs the upper-level data (∇f) and the lower-level data (∇g).
 */
export function runYChain(
  problem: BilevelProblem,
  x: ArrayLike<number>,
  y0: ArrayLike<number>,
  lambda: number,
  spec: ChainSpec,
): ChainResult {
  const where = 'bilevel runYChain';
  checkChain(spec, where);
  if (!(lambda >= 0 && lambda < Infinity)) throw new Error(`${where}: lambda must be finite and >= 0, got ${lambda}`);
  const xv = toVector(x, problem.dimX, 'x', where);
  const y = toVector(y0, problem.dimY, 'y0', where);
  const gg = new Float64Array(problem.dimY);
  const residual = runChain(problem, y, spec, where, (v, out, sample) => {
    problem.gradF(xv, v, null, out, sample);
    problem.gradG(xv, v, null, gg, sample);
    for (let i = 0; i < out.length; i++) out[i] += lambda * gg[i];
  });
  return { point: y, residual, oracleCalls: { f: spec.steps, g: spec.steps } };
}

/**
 * The z-chain at fixed x (docs/algorithms/bilevel.md §3.2, §5; V-PBGD's w-loop, §7): T projected steps z ← ProjY(z − α·∇_y g(x, z)),
 * tracking argmin_Y g(x, ·) (so g(x, z) ≈ g*(x)). One oracle call per step; needs only the lower-level data.
 */
export function runZChain(problem: BilevelProblem, x: ArrayLike<number>, z0: ArrayLike<number>, spec: ChainSpec): ChainResult {
  const where = 'bilevel runZChain';
  checkChain(spec, where);
  const xv = toVector(x, problem.dimX, 'x', where);
  const z = toVector(z0, problem.dimY, 'z0', where);
  const residual = runChain(problem, z, spec, where, (v, out, sample) => problem.gradG(xv, v, null, out, sample));
  return { point: z, residual, oracleCalls: { f: 0, g: spec.steps } };
}

/**
 * The three x-gradient terms an agent returns after a round (docs/algorithms/bilevel.md §13): ∇_x f(x, y), ∇_x g(x, y), ∇_x g(x, z).
 * The coordinator combines them with {@link assembleGradX}; agents holding different shards send terms that the
 * coordinator averages first (all three are linear in the data).
 */
export interface XGradientTerms {
  fx: Float64Array;
  gxAtY: Float64Array;
  gxAtZ: Float64Array;
  oracleCalls: OracleCalls;
}

/**
 * Evaluates the x-gradient terms at (x, y) and (x, z) with independent samples (`mixSample(sampleSeed, BILEVEL_SAMPLE_ROLE.atY)` for
 * both oracles at y, `mixSample(sampleSeed, BILEVEL_SAMPLE_ROLE.atZ)` at z; docs/algorithms/bilevel.md §3.2: independent minibatches avoid correlated noise).
 * Three oracle calls (∇f at y, ∇g at y, ∇g at z).
 */
export function xGradientTerms(
  problem: BilevelProblem,
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  z: ArrayLike<number>,
  sampleSeed: number,
): XGradientTerms {
  const where = 'bilevel xGradientTerms';
  if (!Number.isInteger(sampleSeed)) throw new Error(`${where}: sampleSeed must be an integer, got ${sampleSeed}`);
  const xv = toVector(x, problem.dimX, 'x', where);
  const yv = toVector(y, problem.dimY, 'y', where);
  const zv = toVector(z, problem.dimY, 'z', where);
  const d = problem.dimX;
  const fx = new Float64Array(d);
  const gxAtY = new Float64Array(d);
  const gxAtZ = new Float64Array(d);
  const sy = mixSample(sampleSeed, BILEVEL_SAMPLE_ROLE.atY);
  problem.gradF(xv, yv, fx, null, sy);
  problem.gradG(xv, yv, gxAtY, null, sy);
  problem.gradG(xv, zv, gxAtZ, null, mixSample(sampleSeed, BILEVEL_SAMPLE_ROLE.atZ));
  return { fx, gxAtY, gxAtZ, oracleCalls: { f: 1, g: 2 } };
}

/** gradX = fx + λ·(gxAtY − gxAtZ) (docs/algorithms/bilevel.md §3.1). Writes into `out` when given (length dim(x)). */
export function assembleGradX(
  terms: { fx: ArrayLike<number>; gxAtY: ArrayLike<number>; gxAtZ: ArrayLike<number> },
  lambda: number,
  out?: Float64Array,
): Float64Array {
  const d = terms.fx.length;
  if (terms.gxAtY.length !== d || terms.gxAtZ.length !== d) {
    throw new Error(`bilevel assembleGradX: terms have lengths ${d}, ${terms.gxAtY.length}, ${terms.gxAtZ.length}; expected equal`);
  }
  const g = out ?? new Float64Array(d);
  for (let i = 0; i < d; i++) g[i] = terms.fx[i] + lambda * (terms.gxAtY[i] - terms.gxAtZ[i]);
  return g;
}

/** gradX, gradY and gradZ of docs/algorithms/bilevel.md §3.1 at one point (x, y, z). */
export interface PenaltyGradients {
  gradX: Float64Array;
  gradY: Float64Array;
  gradZ: Float64Array;
}

/**
 * How the oracle samples at (x, y) and at (x, z) relate within one evaluation:
 * - `independent`: different samples (docs/algorithms/bilevel.md §3.2; benchopt: independent minibatches for ∇_x g at y and at z);
 * - `common`: one sample ξ for all three oracles (the single-loop pseudo-code of §6 draws one ξ_k). With a
 *   common sample, ∇_x g(x, y; ξ) − ∇_x g(x, z; ξ) is a control variate whose noise vanishes as y − z → 0 under
 *   mean-squared smoothness, which lowers the variance of gradX from O(λ²) to O(λ²‖y − z‖²).
 */
export type PenaltySampling = 'independent' | 'common';

/**
 * All three penalty gradients at (x, y, z) for λ, in three oracle calls: ∇f(x, y) and ∇g(x, y) with sample
 * `mixSample(sampleSeed, BILEVEL_SAMPLE_ROLE.atY)`, ∇g(x, z) with `mixSample(sampleSeed, BILEVEL_SAMPLE_ROLE.atZ)` (`independent`, the convention of
 * {@link xGradientTerms}) or with the same sample as at y (`common`). The same seed evaluated at two points
 * draws the same minibatches (docs/algorithms/bilevel.md §6). Used by the single-loop method and V-PBGD. Writes into `out` when given.
 */
export function penaltyGradients(
  problem: BilevelProblem,
  x: Float64Array,
  y: Float64Array,
  z: Float64Array,
  lambda: number,
  sampleSeed: number,
  sampling: PenaltySampling = 'independent',
  out?: PenaltyGradients,
): PenaltyGradients {
  const dx = problem.dimX;
  const dy = problem.dimY;
  const o = out ?? { gradX: new Float64Array(dx), gradY: new Float64Array(dy), gradZ: new Float64Array(dy) };
  const gxY = new Float64Array(dx);
  const gyY = new Float64Array(dy);
  const gxZ = new Float64Array(dx);
  const sy = mixSample(sampleSeed, BILEVEL_SAMPLE_ROLE.atY);
  problem.gradF(x, y, o.gradX, o.gradY, sy);
  problem.gradG(x, y, gxY, gyY, sy);
  problem.gradG(x, z, gxZ, o.gradZ, sampling === 'common' ? sy : mixSample(sampleSeed, BILEVEL_SAMPLE_ROLE.atZ));
  for (let i = 0; i < dx; i++) o.gradX[i] += lambda * (gxY[i] - gxZ[i]);
  for (let i = 0; i < dy; i++) o.gradY[i] += lambda * gyY[i];
  return o;
}
