import type { BilevelProblem } from './problem';
import { mixSample, BILEVEL_SAMPLE_ROLE } from './sampling';
import { projectedStep, type BilevelSet } from './projection';
import { checkGradientReport, evaluateGradientRequest, type GradientReport, type GradientRequest } from './penalty';
import { norm2, toVector } from './vector';
import { checkPenaltySchedule, penaltyAt, penaltyStepFactor, type PenaltySchedule, type PenaltyStepScaling } from './schedule';
import { addOracleCalls, type BilevelState, type BilevelStepResult } from './state';

/**
 * V-PBGD: H. Shen, T. Chen, "On Penalty-based Bilevel Gradient Descent Method", ICML 2023, value-gap penalty
 * F_γ(x, y) = f(x, y) + γ(g(x, y) − v(x)), v = g*, descended jointly in (x, y) (docs/algorithms/bilevel.md §7,
 * checked against the official code `hanshen95/penalized-bilevel-gradient-descent`, toy.py and
 * data_hyper_clean.py). Per iteration:
 *
 *   repeat T times: w ← ProjY(w − β·∇_y g(x_k, w))            (persistent, warm-started: w ≈ y*(x_k))
 *   D_x = ∇_x f(x_k, y_k) + γ(∇_x g(x_k, y_k) − ∇_x g(x_k, w))
 *   D_y = ∇_y f(x_k, y_k) + γ ∇_y g(x_k, y_k)
 *   (x_{k+1}, y_{k+1}) = (ProjX(x_k − α_x s(γ) D_x), ProjY(y_k − α_y s(γ) D_y))
 *
 * The code steps the loss min(1, 1/γ)·F_γ, i.e. s(γ) = min(1, 1/γ) ('inverse-capped', the default here).
 * In the shared state, w is `z` and γ is `lambda`. Oracle calls per iteration: T + 3.
 */
export interface VPbgdOptions {
  /** γ_k. Toy (the official toy.py): fixed 10; hyper-cleaning: linear 0 → 0.2 over 30000 steps. Required. */
  penalty: PenaltySchedule;
  /** α_x before scaling by s(γ). Default 0.1 (the code's lr_x; with γ = 10 it gives the toy's α = 0.01). */
  stepX?: number;
  /** α_y before scaling by s(γ). Default 0.1 (the code's lr_y for the linear model). */
  stepY?: number;
  /**
   * Inner step β of the w-chain. Default 0.5 (in units of 1/L_g, like the z-step of the other methods). The
   * official code's 0.01 belongs to its hyper-cleaning setup with γ ≤ 0.2; with T = 1 and γ = 10 such a slow w
   * lets x run away on T1 (x and the lagging w feed back on each other), so it is not the default here.
   */
  innerStep?: number;
  /** Inner steps T per iteration. Default 1 (the code's warm-started single step). */
  innerSteps?: number;
  /** s(γ), default 'inverse-capped' = min(1, 1/γ) as in the official code. */
  stepScaling?: PenaltyStepScaling;
}

function positive(v: number, name: string, where: string): number {
  if (!(v > 0 && v < Infinity)) throw new Error(`${where}: ${name} must be positive and finite, got ${v}`);
  return v;
}

/** Resolved V-PBGD settings of iteration k. */
function vPbgdSettings(options: VPbgdOptions, k: number, where: string) {
  checkPenaltySchedule(options.penalty, where);
  const innerSteps = options.innerSteps ?? 1;
  if (!(Number.isInteger(innerSteps) && innerSteps >= 1))
    throw new Error(`${where}: innerSteps must be a positive integer, got ${innerSteps}`);
  const gamma = penaltyAt(options.penalty, k);
  const s = penaltyStepFactor(options.stepScaling ?? 'inverse-capped', gamma);
  return {
    gamma,
    innerSteps,
    ax: positive(options.stepX ?? 0.1, 'stepX', where) * s,
    ay: positive(options.stepY ?? 0.1, 'stepY', where) * s,
    innerStep: positive(options.innerStep ?? 0.5, 'innerStep', where),
  };
}

/** What V-PBGD iteration k asks of the data holders: the w-chain from w_k at x_k, then the penalty gradients at (x_k, y_k, w_{k+1}). */
export function planVPbgdRound(state: BilevelState, options: VPbgdOptions): GradientRequest {
  const where = 'bilevel v-pbgd';
  if (state.method !== 'v-pbgd') throw new Error(`${where}: state belongs to method ${state.method}`);
  const k = state.iteration;
  const v = vPbgdSettings(options, k, where);
  return {
    lambda: v.gamma,
    sample: mixSample(state.seed, k, BILEVEL_SAMPLE_ROLE.single),
    sampling: 'independent',
    points: [{ x: state.x.slice(), y: state.y.slice(), z: state.z.slice() }],
    wChain: {
      start: state.z.slice(),
      spec: { steps: v.innerSteps, stepSize: v.innerStep, sampleSeed: mixSample(state.seed, k, BILEVEL_SAMPLE_ROLE.wChain) },
    },
  };
}

/**
 * The coordinator's half of V-PBGD iteration k: the joint projected step on (x, y) with the reported gradients, w
 * kept for the warm start. Stationarity is the joint projected-gradient mapping ‖((x_k − x_{k+1})/α_x, (y_k − y_{k+1})/α_y)‖
 * (the toy code stops when it is below 1e-5).
 */
export function completeVPbgdRound(
  sets: { setX: BilevelSet; setY: BilevelSet },
  state: BilevelState,
  options: VPbgdOptions,
  request: GradientRequest,
  report: GradientReport,
): BilevelStepResult {
  const where = 'bilevel v-pbgd';
  if (state.method !== 'v-pbgd') throw new Error(`${where}: state belongs to method ${state.method}`);
  const k = state.iteration;
  const { gamma, ax, ay } = vPbgdSettings(options, k, where);
  const x = toVector(state.x, state.x.length, 'x', where);
  const y = toVector(state.y, state.y.length, 'y', where);
  checkGradientReport(request, report, { dimX: x.length, dimY: y.length }, where);
  const d = report.gradients[0];
  const w = report.w!;
  const xNext = projectedStep(sets.setX, x, d.gradX, ax);
  const yNext = projectedStep(sets.setY, y, d.gradY, ay);
  let sq = 0;
  for (let i = 0; i < x.length; i++) sq += ((x[i] - xNext[i]) / ax) ** 2;
  for (let i = 0; i < y.length; i++) sq += ((y[i] - yNext[i]) / ay) ** 2;
  if (!Number.isFinite(sq)) throw new Error(`${where}: x or y is not finite after step ${k}; lower the steps`);
  return {
    state: {
      ...state,
      iteration: k + 1,
      x: Array.from(xNext),
      y: Array.from(yNext),
      z: Array.from(w.point),
      lambda: gamma,
      oracleCalls: addOracleCalls(state.oracleCalls, report.oracleCalls),
    },
    info: { lambda: gamma, gradXNorm: norm2(d.gradX), stationarity: Math.sqrt(sq), yResidual: 0, zResidual: w.residual, stepX: ax },
  };
}

/** One V-PBGD iteration (docs/algorithms/bilevel.md §7) in process: plan → evaluate → complete. Oracle calls: T + 3. */
export function vPbgdStep(problem: BilevelProblem, state: BilevelState, options: VPbgdOptions): BilevelStepResult {
  const request = planVPbgdRound(state, options);
  return completeVPbgdRound(problem, state, options, request, evaluateGradientRequest(problem, request));
}
