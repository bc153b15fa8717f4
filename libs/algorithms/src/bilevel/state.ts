import type { BilevelProblem, OracleCalls } from './problem';
import { projectInPlace } from './projection';
import { toVector } from './vector';

/** The methods of docs/algorithms/bilevel.md §5–§8. */
export type BilevelMethod = 'penalty-double-loop' | 'penalty-single-loop' | 'v-pbgd' | 'f2sa';

/** The method names, in the order the benchmark reports them. */
export const BILEVEL_METHODS: readonly BilevelMethod[] = Object.freeze(['penalty-double-loop', 'penalty-single-loop', 'v-pbgd', 'f2sa']);

/**
 * The recursive-momentum buffers of the single-loop method (docs/algorithms/bilevel.md §6): the directions d_x, d_y, d_z and the
 * previous iterate (x⁻, y⁻, z⁻) at which the next sample is also evaluated. About 2·(dim x + 2·dim y) numbers.
 */
export interface BilevelMomentum {
  dx: number[];
  dy: number[];
  dz: number[];
  xPrev: number[];
  yPrev: number[];
  zPrev: number[];
}

/**
 * Everything a run needs to continue: a plain JSON-safe object (number arrays, no typed arrays), so the
 * coordinator can persist it after every outer iteration and resume from it ({@link parseBilevelState} reads it
 * back). λ and the step sizes are functions of `iteration` (see `penaltyAt`), and the oracle samples are derived
 * from `seed` and `iteration`, so a resumed run repeats exactly what an uninterrupted one would have done.
 */
export interface BilevelState {
  method: BilevelMethod;
  /** Outer iterations completed (k). */
  iteration: number;
  /** Outer variable x_k ∈ X. */
  x: number[];
  /** y_k ∈ Y: tracks argmin_Y (f + λg)(x, ·) (V-PBGD: the jointly updated lower-level variable). */
  y: number[];
  /** z_k ∈ Y: tracks argmin_Y g(x, ·) (V-PBGD's w). */
  z: number[];
  /** The λ used by the last step (the schedule's λ_0 before the first). */
  lambda: number;
  /** Oracle calls spent so far. */
  oracleCalls: OracleCalls;
  /** Seed of all oracle samples of the run. */
  seed: number;
  /** Single-loop momentum buffers; null before its first step and for the other methods. */
  momentum: BilevelMomentum | null;
}

/** Starting point of a run. */
export interface BilevelInit {
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  /** Default: a copy of y. */
  z?: ArrayLike<number>;
  /** Seed of the oracle samples, default 0 (irrelevant for deterministic oracles). */
  seed?: number;
  /** λ recorded before the first step, default 0. */
  lambda?: number;
}

/** The initial state: x₀ projected onto X, y₀ and z₀ projected onto Y. */
export function createBilevelState(
  problem: Pick<BilevelProblem, 'dimX' | 'dimY' | 'setX' | 'setY'>,
  method: BilevelMethod,
  init: BilevelInit,
): BilevelState {
  const where = `bilevel ${method}: init`;
  const seed = init.seed ?? 0;
  if (!Number.isInteger(seed)) throw new Error(`${where}: seed must be an integer, got ${seed}`);
  const lambda = init.lambda ?? 0;
  if (!(lambda >= 0 && lambda < Infinity)) throw new Error(`${where}: lambda must be finite and >= 0, got ${lambda}`);
  const x = projectInPlace(problem.setX, toVector(init.x, problem.dimX, 'x', where));
  const y = projectInPlace(problem.setY, toVector(init.y, problem.dimY, 'y', where));
  const z = projectInPlace(problem.setY, toVector(init.z ?? init.y, problem.dimY, 'z', where));
  return {
    method,
    iteration: 0,
    x: Array.from(x),
    y: Array.from(y),
    z: Array.from(z),
    lambda,
    oracleCalls: { f: 0, g: 0 },
    seed,
    momentum: null,
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function readVector(v: unknown, name: string, dim: number | undefined): number[] {
  if (!Array.isArray(v) || v.length === 0 || !v.every((e) => typeof e === 'number' && Number.isFinite(e))) {
    throw new Error(`parseBilevelState: ${name} must be a non-empty array of finite numbers`);
  }
  if (dim !== undefined && v.length !== dim) throw new Error(`parseBilevelState: ${name} has length ${v.length}, expected ${dim}`);
  return (v as number[]).slice();
}

function readCount(v: unknown, name: string): number {
  if (!(typeof v === 'number' && Number.isInteger(v) && v >= 0))
    throw new Error(`parseBilevelState: ${name} must be an integer >= 0, got ${String(v)}`);
  return v;
}

/**
 * Reads a persisted {@link BilevelState} back (e.g. from a JSON column) and checks it: known method, integer
 * counters, finite vectors of consistent lengths (and of the problem's dimensions when `dims` is given).
 * Returns a fresh copy.
 */
export function parseBilevelState(value: unknown, dims?: { dimX: number; dimY: number }): BilevelState {
  if (!isRecord(value)) throw new Error('parseBilevelState: state must be an object');
  const method = value.method;
  if (typeof method !== 'string' || !(BILEVEL_METHODS as readonly string[]).includes(method)) {
    throw new Error(`parseBilevelState: method must be one of ${BILEVEL_METHODS.join(', ')}, got ${String(method)}`);
  }
  const x = readVector(value.x, 'x', dims?.dimX);
  const y = readVector(value.y, 'y', dims?.dimY);
  const z = readVector(value.z, 'z', y.length);
  const lambda = value.lambda;
  if (!(typeof lambda === 'number' && lambda >= 0 && lambda < Infinity))
    throw new Error(`parseBilevelState: lambda must be finite and >= 0, got ${String(lambda)}`);
  const calls = value.oracleCalls;
  if (!isRecord(calls)) throw new Error('parseBilevelState: oracleCalls must be an object {f, g}');
  const seed = value.seed;
  if (!(typeof seed === 'number' && Number.isInteger(seed)))
    throw new Error(`parseBilevelState: seed must be an integer, got ${String(seed)}`);
  let momentum: BilevelMomentum | null = null;
  if (value.momentum !== null && value.momentum !== undefined) {
    const m = value.momentum;
    if (!isRecord(m)) throw new Error('parseBilevelState: momentum must be an object or null');
    momentum = {
      dx: readVector(m.dx, 'momentum.dx', x.length),
      dy: readVector(m.dy, 'momentum.dy', y.length),
      dz: readVector(m.dz, 'momentum.dz', y.length),
      xPrev: readVector(m.xPrev, 'momentum.xPrev', x.length),
      yPrev: readVector(m.yPrev, 'momentum.yPrev', y.length),
      zPrev: readVector(m.zPrev, 'momentum.zPrev', y.length),
    };
  }
  return {
    method: method as BilevelMethod,
    iteration: readCount(value.iteration, 'iteration'),
    x,
    y,
    z,
    lambda,
    oracleCalls: { f: readCount(calls.f, 'oracleCalls.f'), g: readCount(calls.g, 'oracleCalls.g') },
    seed,
    momentum,
  };
}

/** What one outer step reports besides the new state (the curves of the issue: ‖gradX‖, λ, stationarity). */
export interface BilevelStepInfo {
  /** λ used by this step. */
  lambda: number;
  /** ‖gradX‖ (V-PBGD: ‖D_x‖) at the step's evaluation point. */
  gradXNorm: number;
  /**
   * ‖G_β(x)‖ = ‖x_k − x_{k+1}‖ / α_x, the projected-gradient mapping with β = the x-step (docs/algorithms/bilevel.md §3.4); for V-PBGD the
   * joint mapping in (x, y), ‖(x_k, y_k) − (x_{k+1}, y_{k+1})‖ / α.
   */
  stationarity: number;
  /** Residual of the y-chain (0 for V-PBGD, whose y residual is part of `stationarity`). */
  yResidual: number;
  /** Residual of the z-chain (‖z − ProjY(z − α·gradZ)‖/α at the last evaluated point). */
  zResidual: number;
  /** x step size α_x used. */
  stepX: number;
}

/** A new state and what the step measured. */
export interface BilevelStepResult {
  state: BilevelState;
  info: BilevelStepInfo;
}

/** a + b for oracle counters. */
export function addOracleCalls(a: OracleCalls, ...more: OracleCalls[]): OracleCalls {
  let f = a.f;
  let g = a.g;
  for (const m of more) {
    f += m.f;
    g += m.g;
  }
  return { f, g };
}
