import type { BilevelProblem, OracleCalls } from './problem';
import { mixSample, BILEVEL_SAMPLE_ROLE } from './sampling';
import { projectedStep, type BilevelSet } from './projection';
import { assembleGradX, penaltyGradients, runYChain, runZChain, xGradientTerms, type ChainSpec, type PenaltySampling } from './oracles';
import { distance2, norm2, toVector } from './vector';
import { checkPenaltySchedule, penaltyAt, penaltyStepFactor, type PenaltySchedule, type PenaltyStepScaling } from './schedule';
import { addOracleCalls, type BilevelState, type BilevelStepResult } from './state';

/**
 * First-order penalty methods for nonconvex bilevel optimization: J. Kwon, D. Kwon, S. Wright, R. Nowak, "On
 * Penalty Methods for Nonconvex Bilevel Optimization and First-Order Stochastic Approximation", ICLR 2024
 * (docs/algorithms/bilevel.md §5–§6). Both methods find stationary points of the penalised hyper-objective
 *
 *   ψ_σ(x) = min_{y ∈ Y} f(x, y) + (g(x, y) − g*(x))/σ,   λ = 1/σ,
 *
 * whose distance to ψ is O(σ) in value and O(σ/μ³) in gradient under the paper's proximal error bound (§2).
 *
 * Step sizes: the y- and x-steps multiply λ, so they are `stepY·s(λ)` and `stepX·s(λ)` with s(λ) = 1/(1+λ) by
 * default (§4.2, §5); the z-step `stepZ` does not depend on λ. Choose the base steps in units of
 * 1/L_g (L_g: smoothness of g in y). The paper's exact constants could not be checked (§14 item 1); these are the usual scalings.
 */

/** Options of the double-loop method (docs/algorithms/bilevel.md §5). */
export interface PenaltyDoubleLoopOptions {
  /** λ_k. Theory: fixed λ = 1/σ with σ = Θ(ε); practice: a ramp (§4.1). Required. */
  penalty: PenaltySchedule;
  /** Inner steps T of each chain per outer step, warm-started. Default 10 (the §11 tests use 10 on T5, 20 on T1–T3). */
  innerSteps?: number;
  /** Base y-step: α_y = stepY·s(λ) (§4.2: α_y ≈ c/(L_f + λL_g)). Default 0.5. */
  stepY?: number;
  /** z-step α_z (≈ c/L_g). Default 0.5. */
  stepZ?: number;
  /** Base x-step: α_x = stepX·s(λ) (§4.2: ψ_σ is O(λ)-smooth in the worst case). Default 0.5. */
  stepX?: number;
  /** s(λ), default 'inverse-one-plus' = 1/(1+λ) (§4.2). */
  stepScaling?: PenaltyStepScaling;
  /** Proximal weight ρ of both chains ({@link ChainSpec.proximal}), default 0 (off; docs/algorithms/bilevel.md §14 item 2). */
  proximal?: number;
}

/**
 * One round of a double-loop method (penalty double loop or F2SA), as the coordinator would broadcast it
 * (docs/algorithms/bilevel.md §13): x_k and λ_k, the warm starts of both chains and their specs, and the x-step to apply afterwards.
 * A plain JSON-safe object.
 */
export interface BilevelRoundPlan {
  /** k: the round this plan is for; results for another k are rejected by {@link completeRound}. */
  iteration: number;
  lambda: number;
  x: number[];
  /** Warm start y_k of the y-chain. */
  yStart: number[];
  /** Warm start z_k of the z-chain. */
  zStart: number[];
  yChain: ChainSpec;
  zChain: ChainSpec;
  /** α_x of this round. */
  stepX: number;
  /** Seed of the samples of the x-gradient terms ({@link xGradientTerms}). */
  xSampleSeed: number;
}

/** A chain's result as it comes back from an agent (JSON arrays or typed arrays). */
export interface ChainReport {
  point: ArrayLike<number>;
  residual: number;
  oracleCalls: OracleCalls;
}

/** The x-gradient terms as they come back from an agent. */
export interface XGradientReport {
  fx: ArrayLike<number>;
  gxAtY: ArrayLike<number>;
  gxAtZ: ArrayLike<number>;
  oracleCalls: OracleCalls;
}

/**
 * What comes back from one round: both chains' results and the x-gradient terms at (x_k, y_{k+1}) and
 * (x_k, z_{k+1}). The chains are independent given x_k, so they can run on different agents (docs/algorithms/bilevel.md §13).
 * `ChainResult` and `XGradientTerms` (oracles.ts) fit these shapes.
 */
export interface BilevelRoundOutcome {
  y: ChainReport;
  z: ChainReport;
  terms: XGradientReport;
}

function positive(v: number, name: string, where: string): number {
  if (!(v > 0 && v < Infinity)) throw new Error(`${where}: ${name} must be positive and finite, got ${v}`);
  return v;
}

function checkStateFor(state: BilevelState, method: BilevelState['method'], where: string): void {
  if (state.method !== method) throw new Error(`${where}: state belongs to method ${state.method}`);
}

/** Resolved options with their defaults. */
function doubleLoopDefaults(o: PenaltyDoubleLoopOptions, where: string): Required<PenaltyDoubleLoopOptions> {
  checkPenaltySchedule(o.penalty, where);
  const innerSteps = o.innerSteps ?? 10;
  if (!(Number.isInteger(innerSteps) && innerSteps >= 1))
    throw new Error(`${where}: innerSteps must be a positive integer, got ${innerSteps}`);
  const proximal = o.proximal ?? 0;
  if (!(proximal >= 0 && proximal < Infinity)) throw new Error(`${where}: proximal must be finite and >= 0, got ${proximal}`);
  return {
    penalty: o.penalty,
    innerSteps,
    stepY: positive(o.stepY ?? 0.5, 'stepY', where),
    stepZ: positive(o.stepZ ?? 0.5, 'stepZ', where),
    stepX: positive(o.stepX ?? 0.5, 'stepX', where),
    stepScaling: o.stepScaling ?? 'inverse-one-plus',
    proximal,
  };
}

/** The sample seeds of round k: one per chain and one for the x-terms, all derived from the run's seed. */
export function roundSampleSeeds(state: BilevelState): { y: number; z: number; x: number } {
  const k = state.iteration;
  return {
    y: mixSample(state.seed, k, BILEVEL_SAMPLE_ROLE.yChain),
    z: mixSample(state.seed, k, BILEVEL_SAMPLE_ROLE.zChain),
    x: mixSample(state.seed, k, BILEVEL_SAMPLE_ROLE.xTerms),
  };
}

/** The plan of round k of the penalty double loop (docs/algorithms/bilevel.md §5): λ_k from the schedule, steps scaled by s(λ_k). */
export function planPenaltyRound(state: BilevelState, options: PenaltyDoubleLoopOptions): BilevelRoundPlan {
  const where = 'bilevel penalty-double-loop';
  checkStateFor(state, 'penalty-double-loop', where);
  const o = doubleLoopDefaults(options, where);
  const lambda = penaltyAt(o.penalty, state.iteration);
  const s = penaltyStepFactor(o.stepScaling, lambda);
  const seeds = roundSampleSeeds(state);
  return {
    iteration: state.iteration,
    lambda,
    x: state.x.slice(),
    yStart: state.y.slice(),
    zStart: state.z.slice(),
    yChain: { steps: o.innerSteps, stepSize: o.stepY * s, sampleSeed: seeds.y, proximal: o.proximal },
    zChain: { steps: o.innerSteps, stepSize: o.stepZ, sampleSeed: seeds.z, proximal: o.proximal },
    stepX: o.stepX * s,
    xSampleSeed: seeds.x,
  };
}

/**
 * Runs a round's work in one process: the y-chain, the z-chain and the x-gradient terms (what agents do in a
 * distributed run, docs/algorithms/bilevel.md §13).
 */
export function executeRound(problem: BilevelProblem, plan: BilevelRoundPlan): BilevelRoundOutcome {
  const y = runYChain(problem, plan.x, plan.yStart, plan.lambda, plan.yChain);
  const z = runZChain(problem, plan.x, plan.zStart, plan.zChain);
  const terms = xGradientTerms(problem, plan.x, y.point, z.point, plan.xSampleSeed);
  return { y, z, terms };
}

/**
 * The coordinator's half of a double-loop round (docs/algorithms/bilevel.md §5, §13): assembles gradX = ∇_x f + λ(∇_x g(·, y) − ∇_x g(·, z))
 * from the returned terms, takes x_{k+1} = ProjX(x_k − α_x·gradX) and records y_{k+1}, z_{k+1}. Pure: returns a
 * new state. Used by the penalty double loop and by F2SA.
 * @param setX the feasible set X (the coordinator owns x and its projection).
 * @throws when the plan is not for the state's current iteration or the outcome has the wrong dimensions.
 */
export function completeRound(
  setX: BilevelSet,
  state: BilevelState,
  plan: BilevelRoundPlan,
  outcome: BilevelRoundOutcome,
): BilevelStepResult {
  const where = `bilevel ${state.method}: completeRound`;
  if (plan.iteration !== state.iteration)
    throw new Error(`${where}: plan is for iteration ${plan.iteration}, state is at ${state.iteration}`);
  const x = toVector(state.x, state.x.length, 'x', where);
  const gradX = assembleGradX(outcome.terms, plan.lambda);
  if (gradX.length !== x.length) throw new Error(`${where}: x-gradient terms have length ${gradX.length}, expected ${x.length}`);
  const y = toVector(outcome.y.point, state.y.length, 'y', where);
  const z = toVector(outcome.z.point, state.z.length, 'z', where);
  for (let i = 0; i < gradX.length; i++)
    if (!Number.isFinite(gradX[i])) throw new Error(`${where}: gradX[${i}] is not finite (${gradX[i]}); lower the steps`);
  const xNext = projectedStep(setX, x, gradX, plan.stepX);
  return {
    state: {
      ...state,
      iteration: state.iteration + 1,
      x: Array.from(xNext),
      y: Array.from(y),
      z: Array.from(z),
      lambda: plan.lambda,
      oracleCalls: addOracleCalls(state.oracleCalls, outcome.y.oracleCalls, outcome.z.oracleCalls, outcome.terms.oracleCalls),
    },
    info: {
      lambda: plan.lambda,
      gradXNorm: norm2(gradX),
      stationarity: distance2(x, xNext) / plan.stepX,
      yResidual: outcome.y.residual,
      zResidual: outcome.z.residual,
      stepX: plan.stepX,
    },
  };
}

/**
 * One outer iteration of the double-loop penalty method (docs/algorithms/bilevel.md §5): T warm-started projected steps on y
 * (target argmin_Y (f + λg)(x_k, ·)) and on z (target argmin_Y g(x_k, ·)), then
 * x_{k+1} = ProjX(x_k − α_x·gradX(x_k, y_{k+1}, z_{k+1}; λ)). Oracle calls per iteration: 3T + 3.
 */
export function penaltyDoubleLoopStep(problem: BilevelProblem, state: BilevelState, options: PenaltyDoubleLoopOptions): BilevelStepResult {
  const plan = planPenaltyRound(state, options);
  return completeRound(problem.setX, state, plan, executeRound(problem, plan));
}

/** Options of the single-loop momentum method (docs/algorithms/bilevel.md §6). */
export interface PenaltySingleLoopOptions {
  /** λ_k. Required. */
  penalty: PenaltySchedule;
  /** Base y-step: α_y = stepY·s(λ). Default 0.5. */
  stepY?: number;
  /** z-step α_z. Default 0.5. */
  stepZ?: number;
  /**
   * Base x-step: α_x = stepX·s(λ). Default 0.05: x must be on the slowest time scale (§6: α_x ≪ α_y ≈ α_z/λ);
   * the theory's step orders could not be checked, so this 10× separation is our choice (§14 item 4).
   */
  stepX?: number;
  /** s(λ), default 'inverse-one-plus'. */
  stepScaling?: PenaltyStepScaling;
  /**
   * Momentum mixing β ∈ (0, 1] of the recursive (STORM-type) estimators d ← ∇(new; ξ) + (1 − β)(d − ∇(old; ξ))
   * (§6). β = 1 is plain SGD (3 oracle calls per iteration instead of 6). Default 0.1: the paper's β_k
   * schedule could not be checked; a constant is our choice (on §11's T6 the mean is insensitive to it).
   */
  momentum?: number;
  /**
   * Samples at (x, y) and (x, z) within an iteration: 'common' (default; the §6 pseudo-code draws one ξ_k for all three
   * estimators) or 'independent' (the convention of the x-gradient terms, §3.2). See {@link PenaltySampling}.
   */
  sampling?: PenaltySampling;
}

function singleLoopDefaults(o: PenaltySingleLoopOptions, where: string): Required<PenaltySingleLoopOptions> {
  checkPenaltySchedule(o.penalty, where);
  const momentum = o.momentum ?? 0.1;
  if (!(momentum > 0 && momentum <= 1)) throw new Error(`${where}: momentum must be in (0, 1], got ${momentum}`);
  return {
    penalty: o.penalty,
    stepY: positive(o.stepY ?? 0.5, 'stepY', where),
    stepZ: positive(o.stepZ ?? 0.5, 'stepZ', where),
    stepX: positive(o.stepX ?? 0.05, 'stepX', where),
    stepScaling: o.stepScaling ?? 'inverse-one-plus',
    momentum,
    sampling: o.sampling ?? 'common',
  };
}

/**
 * The recursive-momentum update d ← g_new + (1 − β)·(d − g_old), in place on d (docs/algorithms/bilevel.md §6). With β = 1 it is
 * d ← g_new (g_old is then not needed and may be null).
 */
export function stormUpdate(d: Float64Array, gNew: ArrayLike<number>, gOld: ArrayLike<number> | null, beta: number): Float64Array {
  if (beta === 1 || gOld === null) {
    for (let i = 0; i < d.length; i++) d[i] = gNew[i];
    return d;
  }
  const keep = 1 - beta;
  for (let i = 0; i < d.length; i++) d[i] = gNew[i] + keep * (d[i] - gOld[i]);
  return d;
}

/**
 * What a gradient-based iteration (single loop, V-PBGD) asks of the data holders (docs/algorithms/bilevel.md §13): the penalty gradients
 * gradX, gradY, gradZ (§3.1) at one or two points with one sample, optionally after a warm-started chain on
 * argmin g (V-PBGD's w). A plain JSON-safe object; {@link evaluateGradientRequest} answers it.
 */
export interface GradientRequest {
  lambda: number;
  /** The sample of every gradient of the request (docs/algorithms/bilevel.md §6: one ξ_k at the current and the previous point). */
  sample: number;
  sampling: PenaltySampling;
  /** Where to evaluate; with `wChain`, each point's z is replaced by the chain's end point. */
  points: { x: number[]; y: number[]; z: number[] }[];
  /** V-PBGD: the chain on argmin_Y g(x, ·) from `start` at points[0].x, run before the gradients. */
  wChain: { start: number[]; spec: ChainSpec } | null;
}

/** The answer to a {@link GradientRequest}: one gradient triple per point, the chain's result and the calls spent. */
export interface GradientReport {
  gradients: { gradX: ArrayLike<number>; gradY: ArrayLike<number>; gradZ: ArrayLike<number> }[];
  w: ChainReport | null;
  oracleCalls: OracleCalls;
}

/** Evaluates a {@link GradientRequest} where the data is (in process, or on an agent). */
export function evaluateGradientRequest(problem: BilevelProblem, request: GradientRequest): GradientReport {
  const where = 'bilevel evaluateGradientRequest';
  let calls: OracleCalls = { f: 0, g: 0 };
  let w: ChainReport | null = null;
  if (request.wChain) {
    const chain = runZChain(problem, request.points[0].x, request.wChain.start, request.wChain.spec);
    w = chain;
    calls = addOracleCalls(calls, chain.oracleCalls);
  }
  const gradients = request.points.map((p) => {
    const g = penaltyGradients(
      problem,
      toVector(p.x, problem.dimX, 'x', where),
      toVector(p.y, problem.dimY, 'y', where),
      w ? toVector(w.point, problem.dimY, 'w', where) : toVector(p.z, problem.dimY, 'z', where),
      request.lambda,
      request.sample,
      request.sampling,
    );
    calls = addOracleCalls(calls, { f: 1, g: 2 });
    return g;
  });
  return { gradients, w, oracleCalls: calls };
}

/** Checks a report against its request (count and lengths of the vectors, finiteness). */
export function checkGradientReport(
  request: GradientRequest,
  report: GradientReport,
  dims: { dimX: number; dimY: number },
  where: string,
): void {
  if (report.gradients.length !== request.points.length)
    throw new Error(`${where}: ${report.gradients.length} gradient triples for ${request.points.length} points`);
  const check = (v: ArrayLike<number>, n: number, name: string): void => {
    if (v.length !== n) throw new Error(`${where}: ${name} has length ${v.length}, expected ${n}`);
    for (let i = 0; i < n; i++) if (!Number.isFinite(v[i])) throw new Error(`${where}: ${name}[${i}] is not finite; lower the steps`);
  };
  report.gradients.forEach((g, i) => {
    check(g.gradX, dims.dimX, `gradients[${i}].gradX`);
    check(g.gradY, dims.dimY, `gradients[${i}].gradY`);
    check(g.gradZ, dims.dimY, `gradients[${i}].gradZ`);
  });
  if (!!request.wChain !== !!report.w) throw new Error(`${where}: the w-chain result is ${report.w ? 'unexpected' : 'missing'}`);
  if (report.w) check(report.w.point, dims.dimY, 'w.point');
}

/** Step sizes and λ of single-loop iteration k. */
function singleLoopSteps(o: Required<PenaltySingleLoopOptions>, k: number): { lambda: number; ax: number; ay: number; az: number } {
  const lambda = penaltyAt(o.penalty, k);
  const s = penaltyStepFactor(o.stepScaling, lambda);
  return { lambda, ax: o.stepX * s, ay: o.stepY * s, az: o.stepZ };
}

/** The gradients single-loop iteration k needs: at (x_k, y_k, z_k) and, with momentum, at the previous iterate, one sample. */
export function planSingleLoopRound(state: BilevelState, options: PenaltySingleLoopOptions): GradientRequest {
  const where = 'bilevel penalty-single-loop';
  checkStateFor(state, 'penalty-single-loop', where);
  const o = singleLoopDefaults(options, where);
  const m = state.momentum;
  const points = [{ x: state.x.slice(), y: state.y.slice(), z: state.z.slice() }];
  if (m && o.momentum < 1) points.push({ x: m.xPrev.slice(), y: m.yPrev.slice(), z: m.zPrev.slice() });
  return {
    lambda: singleLoopSteps(o, state.iteration).lambda,
    sample: mixSample(state.seed, state.iteration, BILEVEL_SAMPLE_ROLE.single),
    sampling: o.sampling,
    points,
    wChain: null,
  };
}

/**
 * The coordinator's half of single-loop iteration k (docs/algorithms/bilevel.md §6): recursive estimators for gradZ, gradY, gradX from
 * the report, then simultaneous projected steps z ← ProjY(z − α_z d_z), y ← ProjY(y − α_y d_y), x ← ProjX(x − α_x d_x).
 */
export function completeSingleLoopRound(
  sets: { setX: BilevelSet; setY: BilevelSet },
  state: BilevelState,
  options: PenaltySingleLoopOptions,
  request: GradientRequest,
  report: GradientReport,
): BilevelStepResult {
  const where = 'bilevel penalty-single-loop';
  checkStateFor(state, 'penalty-single-loop', where);
  const o = singleLoopDefaults(options, where);
  const k = state.iteration;
  const { lambda, ax, ay, az } = singleLoopSteps(o, k);
  const x = toVector(state.x, state.x.length, 'x', where);
  const y = toVector(state.y, state.y.length, 'y', where);
  const z = toVector(state.z, state.z.length, 'z', where);
  checkGradientReport(request, report, { dimX: x.length, dimY: y.length }, where);
  const [cur, old] = report.gradients;
  const m = state.momentum;
  const d =
    m && old
      ? {
          gradX: stormUpdate(Float64Array.from(m.dx), cur.gradX, old.gradX, o.momentum),
          gradY: stormUpdate(Float64Array.from(m.dy), cur.gradY, old.gradY, o.momentum),
          gradZ: stormUpdate(Float64Array.from(m.dz), cur.gradZ, old.gradZ, o.momentum),
        }
      : { gradX: Float64Array.from(cur.gradX), gradY: Float64Array.from(cur.gradY), gradZ: Float64Array.from(cur.gradZ) };
  const xNext = projectedStep(sets.setX, x, d.gradX, ax);
  const yNext = projectedStep(sets.setY, y, d.gradY, ay);
  const zNext = projectedStep(sets.setY, z, d.gradZ, az);
  return {
    state: {
      ...state,
      iteration: k + 1,
      x: Array.from(xNext),
      y: Array.from(yNext),
      z: Array.from(zNext),
      lambda,
      oracleCalls: addOracleCalls(state.oracleCalls, report.oracleCalls),
      momentum:
        o.momentum < 1
          ? {
              dx: Array.from(d.gradX),
              dy: Array.from(d.gradY),
              dz: Array.from(d.gradZ),
              xPrev: state.x.slice(),
              yPrev: state.y.slice(),
              zPrev: state.z.slice(),
            }
          : null,
    },
    info: {
      lambda,
      gradXNorm: norm2(d.gradX),
      stationarity: distance2(x, xNext) / ax,
      yResidual: distance2(y, yNext) / ay,
      zResidual: distance2(z, zNext) / az,
      stepX: ax,
    },
  };
}

/**
 * One iteration of the single-loop penalty method with momentum (docs/algorithms/bilevel.md §6): one sample ξ_k, evaluated at the
 * current and the previous iterate (hence the mean-squared-smoothness assumption), recursive estimators for
 * gradZ, gradY, gradX, then simultaneous projected steps. The first iteration uses the plain stochastic gradients.
 * 6 oracle calls per iteration (3 when β = 1 or on the first iteration). In process: plan → evaluate → complete,
 * the same three functions a distributed run splits between coordinator and agent.
 */
export function penaltySingleLoopStep(problem: BilevelProblem, state: BilevelState, options: PenaltySingleLoopOptions): BilevelStepResult {
  const request = planSingleLoopRound(state, options);
  return completeSingleLoopRound(problem, state, options, request, evaluateGradientRequest(problem, request));
}
