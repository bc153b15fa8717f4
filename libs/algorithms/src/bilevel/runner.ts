import { f2saStep, type F2saOptions } from './f2sa';
import { penaltyDoubleLoopStep, penaltySingleLoopStep, type PenaltyDoubleLoopOptions, type PenaltySingleLoopOptions } from './penalty';
import { totalOracleCalls, type BilevelProblem } from './problem';
import { penaltyScheduleDone } from './schedule';
import {
  createBilevelState,
  parseBilevelState,
  type BilevelInit,
  type BilevelState,
  type BilevelStepInfo,
  type BilevelStepResult,
} from './state';
import { vPbgdStep, type VPbgdOptions } from './v-pbgd';

/** A method and its options: the discriminated union a job would carry (docs/algorithms/bilevel.md §5–§8). */
export type BilevelMethodOptions =
  | ({ method: 'penalty-double-loop' } & PenaltyDoubleLoopOptions)
  | ({ method: 'penalty-single-loop' } & PenaltySingleLoopOptions)
  | ({ method: 'v-pbgd' } & VPbgdOptions)
  | ({ method: 'f2sa' } & F2saOptions);

/** One outer iteration of the chosen method from `state` (whose method must match). Pure: returns a new state. */
export function bilevelStep(problem: BilevelProblem, state: BilevelState, options: BilevelMethodOptions): BilevelStepResult {
  switch (options.method) {
    case 'penalty-double-loop':
      return penaltyDoubleLoopStep(problem, state, options);
    case 'penalty-single-loop':
      return penaltySingleLoopStep(problem, state, options);
    case 'v-pbgd':
      return vPbgdStep(problem, state, options);
    case 'f2sa':
      return f2saStep(problem, state, options);
  }
}

/**
 * When to stop (docs/algorithms/bilevel.md §9): after `maxIterations` outer iterations, when `maxOracleCalls` would be exceeded, or
 * once λ has reached its final value and the step's stationarity ‖G_β(x)‖ and both inner residuals are
 * ≤ `tolerance`.
 */
export interface BilevelStoppingRule {
  /** Outer iteration budget (≥ 1). Required. */
  maxIterations: number;
  /** Oracle-call budget (f + g calls), default unlimited. Checked after each iteration. */
  maxOracleCalls?: number;
  /** Stationarity tolerance ε_tol, default 1e-5 (the V-PBGD toy code, docs/algorithms/bilevel.md §9); 0 disables the test. */
  tolerance?: number;
}

/** Options of {@link runBilevel} besides the method. */
export interface BilevelRunOptions {
  stop: BilevelStoppingRule;
  /**
   * Which iterate to return (docs/algorithms/bilevel.md §9): 'last' (default), or 'best' = the x_k with the smallest stationarity
   * among the iterations after λ reached its final value (the theory's "best iterate"; with a ramp, earlier
   * iterates solve a different, less penalised problem and are not eligible).
   */
  output?: 'last' | 'best';
  /** Record a history point every this many iterations (and at the last one). Default: about 200 points in all. */
  recordEvery?: number;
  /** Called after every iteration, e.g. to track the error to a known answer. Must not mutate its argument. */
  onStep?: (result: BilevelStepResult) => void;
}

/** A point of the curves of a run (issue #5: outer objective, ‖gradX‖, λ). */
export interface BilevelHistoryPoint {
  iteration: number;
  oracleCalls: number;
  lambda: number;
  /** f(x_{k+1}, y_{k+1}): the upper-level objective at the current pair (≈ ψ when y tracks S(x)). */
  upperObjective: number;
  gradXNorm: number;
  stationarity: number;
}

/** How a run ended. */
export type BilevelStopReason = 'tolerance' | 'max-iterations' | 'max-oracle-calls';

/** The outcome of {@link runBilevel}. */
export interface BilevelRunResult {
  /** The final state (resumable). */
  state: BilevelState;
  /** The returned iterate (the last one, or the best one with `output: 'best'`). */
  x: number[];
  y: number[];
  z: number[];
  stoppedBy: BilevelStopReason;
  /** Info of the last iteration. */
  last: BilevelStepInfo;
  history: BilevelHistoryPoint[];
}

/**
 * Runs a method from a starting point or a persisted state until the stopping rule fires (docs/algorithms/bilevel.md §9).
 * Deterministic for a given seed; resuming from a persisted intermediate state gives the same final state as
 * an uninterrupted run.
 */
export function runBilevel(
  problem: BilevelProblem,
  options: BilevelMethodOptions,
  start: BilevelInit | BilevelState,
  run: BilevelRunOptions,
): BilevelRunResult {
  const where = `bilevel ${options.method}: run`;
  const { maxIterations } = run.stop;
  if (!(Number.isInteger(maxIterations) && maxIterations >= 1))
    throw new Error(`${where}: stop.maxIterations must be a positive integer, got ${maxIterations}`);
  const maxCalls = run.stop.maxOracleCalls ?? Infinity;
  if (!(maxCalls > 0)) throw new Error(`${where}: stop.maxOracleCalls must be positive, got ${maxCalls}`);
  const tol = run.stop.tolerance ?? 1e-5;
  if (!(tol >= 0)) throw new Error(`${where}: stop.tolerance must be >= 0, got ${tol}`);
  const recordEvery = run.recordEvery ?? Math.max(1, Math.floor(maxIterations / 200));
  if (!(Number.isInteger(recordEvery) && recordEvery >= 1))
    throw new Error(`${where}: recordEvery must be a positive integer, got ${recordEvery}`);

  let state =
    'method' in start
      ? parseBilevelState(start, { dimX: problem.dimX, dimY: problem.dimY })
      : createBilevelState(problem, options.method, start);
  if (state.method !== options.method) throw new Error(`${where}: state belongs to method ${state.method}`);
  const history: BilevelHistoryPoint[] = [];
  let best: { x: number[]; y: number[]; z: number[]; stationarity: number } | null = null;
  let stoppedBy: BilevelStopReason = 'max-iterations';
  let last: BilevelStepInfo | null = null;
  for (let done = 0; done < maxIterations; done++) {
    const before = state;
    const result = bilevelStep(problem, state, options);
    state = result.state;
    last = result.info;
    run.onStep?.(result);
    const final = penaltyScheduleDone(options.penalty, before.iteration);
    if (final && run.output === 'best' && (best === null || last.stationarity < best.stationarity)) {
      best = { x: before.x, y: state.y, z: state.z, stationarity: last.stationarity };
    }
    const calls = totalOracleCalls(state.oracleCalls);
    const converged = final && last.stationarity <= tol && last.yResidual <= tol && last.zResidual <= tol;
    const outOfCalls = calls >= maxCalls;
    if (converged) stoppedBy = 'tolerance';
    else if (outOfCalls) stoppedBy = 'max-oracle-calls';
    const stopping = converged || outOfCalls || done === maxIterations - 1;
    if (state.iteration % recordEvery === 0 || stopping) {
      history.push({
        iteration: state.iteration,
        oracleCalls: calls,
        lambda: last.lambda,
        upperObjective: problem.f(Float64Array.from(state.x), Float64Array.from(state.y)),
        gradXNorm: last.gradXNorm,
        stationarity: last.stationarity,
      });
    }
    if (stopping) break;
  }
  const out = best ?? { x: state.x, y: state.y, z: state.z };
  return { state, x: out.x.slice(), y: out.y.slice(), z: out.z.slice(), stoppedBy, last: last!, history };
}
