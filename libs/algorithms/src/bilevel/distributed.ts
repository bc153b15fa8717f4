import type { Dataset } from '../data/dataset';
import { parseLabelLastCsv, subset } from '../data/dataset';
import { scaleToUnit } from '../data/held-out';
import { createRng, deriveSeed } from '../random';
import {
  cleanerMetrics,
  corruptLabels,
  createHyperCleaningProblem,
  softmaxParameterCount,
  softmaxRegressionAccuracy,
  type CleanerMetrics,
} from './hyper-cleaning';
import { bilevelCaseT5 } from './hyperparameter';
import { runYChain, runZChain } from './oracles';
import {
  completeSingleLoopRound,
  planPenaltyRound,
  planSingleLoopRound,
  type BilevelRoundOutcome,
  type BilevelRoundPlan,
  type GradientReport,
  type GradientRequest,
} from './penalty';
import { planF2saRound } from './f2sa';
import type { PenaltySampling } from './oracles';
import type { BilevelSet } from './projection';
import type { BilevelMethodOptions } from './runner';
import type { PenaltySchedule, PenaltyStepScaling } from './schedule';
import type { BilevelMethod, BilevelState, BilevelStepResult } from './state';
import { completeVPbgdRound, planVPbgdRound } from './v-pbgd';
import type { BilevelProblem, OracleCalls } from './problem';
import { mixSample, BILEVEL_SAMPLE_ROLE } from './sampling';
import { bilevelCaseT1, bilevelCaseT2, bilevelCaseT3, bilevelCaseT4, type BilevelTestCase } from './test-problems';
import { toVector } from './vector';

/**
 * A round of a double-loop method (penalty double loop, F2SA) split into the two independent halves that
 * agents run (docs/algorithms/bilevel.md §13): the y-chain with the x-gradient terms at its end point, and the
 * z-chain with the x-gradient term at its end point. {@link joinChainTasks} puts them back together into exactly
 * what {@link executeRound} computes in one process (same samples, same oracle-call count), so a distributed run
 * takes the same steps as `runBilevel`.
 */

/** The y-half of a round: y_{k+1} after T steps on f + λg, and ∇_x f, ∇_x g at (x_k, y_{k+1}). */
export interface YChainTaskResult {
  point: number[];
  residual: number;
  oracleCalls: OracleCalls;
  fx: number[];
  gxAtY: number[];
}

/** The z-half of a round: z_{k+1} after T steps on g, and ∇_x g at (x_k, z_{k+1}). */
export interface ZChainTaskResult {
  point: number[];
  residual: number;
  oracleCalls: OracleCalls;
  gxAtZ: number[];
}

/** The y-chain of `plan` and the x-gradient terms at its end (sample role `atY`, as in `xGradientTerms`). Three oracle kinds, T + 1 calls each of f and g. */
export function runYChainTask(problem: BilevelProblem, plan: BilevelRoundPlan): YChainTaskResult {
  const y = runYChain(problem, plan.x, plan.yStart, plan.lambda, plan.yChain);
  const x = toVector(plan.x, problem.dimX, 'x', 'bilevel runYChainTask');
  const fx = new Float64Array(problem.dimX);
  const gxAtY = new Float64Array(problem.dimX);
  const sample = mixSample(plan.xSampleSeed, BILEVEL_SAMPLE_ROLE.atY);
  problem.gradF(x, y.point, fx, null, sample);
  problem.gradG(x, y.point, gxAtY, null, sample);
  return {
    point: Array.from(y.point),
    residual: y.residual,
    oracleCalls: { f: y.oracleCalls.f + 1, g: y.oracleCalls.g + 1 },
    fx: Array.from(fx),
    gxAtY: Array.from(gxAtY),
  };
}

/** The z-chain of `plan` and ∇_x g at its end (sample role `atZ`, as in `xGradientTerms`). */
export function runZChainTask(problem: BilevelProblem, plan: BilevelRoundPlan): ZChainTaskResult {
  const z = runZChain(problem, plan.x, plan.zStart, plan.zChain);
  const x = toVector(plan.x, problem.dimX, 'x', 'bilevel runZChainTask');
  const gxAtZ = new Float64Array(problem.dimX);
  problem.gradG(x, z.point, gxAtZ, null, mixSample(plan.xSampleSeed, BILEVEL_SAMPLE_ROLE.atZ));
  return { point: Array.from(z.point), residual: z.residual, oracleCalls: { f: 0, g: z.oracleCalls.g + 1 }, gxAtZ: Array.from(gxAtZ) };
}

/** The two halves as one round outcome for `completeRound` (the x-term calls are counted with the terms, as in one process). */
export function joinChainTasks(y: YChainTaskResult, z: ZChainTaskResult): BilevelRoundOutcome {
  return {
    y: { point: y.point, residual: y.residual, oracleCalls: { f: y.oracleCalls.f - 1, g: y.oracleCalls.g - 1 } },
    z: { point: z.point, residual: z.residual, oracleCalls: { f: 0, g: z.oracleCalls.g - 1 } },
    terms: { fx: y.fx, gxAtY: y.gxAtY, gxAtZ: z.gxAtZ, oracleCalls: { f: 1, g: 2 } },
  };
}

/**
 * The problems a bilevel job can name (the platform's catalogue): the closed-form test cases of docs/algorithms/bilevel.md §11 (T1–T5,
 * no data) and data hyper-cleaning (§12.1) on a dataset the agents hold. A plain JSON-safe description, built
 * into the same {@link BilevelProblem} on the coordinator (dimensions, sets, start) and on every agent (oracles).
 */
export type BilevelProblemDef =
  | { kind: 'test-case'; name: 'T1' | 'T2' | 'T3' | 'T4' | 'T5' }
  | {
      kind: 'hyper-cleaning';
      dataset: string;
      /** Rows of the agent's file used as the (corrupted) training set: dim(x). */
      trainSize: number;
      /** Clean validation rows (the upper level f). */
      validationSize: number;
      /** Rows held out to report test accuracy of y. */
      testSize: number;
      /** Fraction of training labels flipped to a wrong class. */
      corruptFraction: number;
      /** L2 weight C of the lower level. */
      l2: number;
      /** Seed of the row split and of the corruption (the same data on every agent with the same file). */
      dataSeed: number;
    };

/** The closed-form test case named by a def. */
export function bilevelTestCase(name: 'T1' | 'T2' | 'T3' | 'T4' | 'T5'): BilevelTestCase {
  switch (name) {
    case 'T1':
      return bilevelCaseT1();
    case 'T2':
      return bilevelCaseT2();
    case 'T3':
      return bilevelCaseT3();
    case 'T4':
      return bilevelCaseT4();
    case 'T5':
      return bilevelCaseT5();
  }
}

/** What the coordinator needs without the data: dimensions, sets, start point and, for test cases, the answer. */
export interface BilevelProblemShape {
  dimX: number;
  dimY: number;
  problem: Pick<BilevelProblem, 'dimX' | 'dimY' | 'setX' | 'setY'>;
  start: { x: number[]; y: number[] };
  /** The known bilevel solution x* (test cases). */
  solution: number[] | null;
}

export function bilevelProblemShape(def: BilevelProblemDef, data?: { numFeatures: number; numClasses: number }): BilevelProblemShape {
  if (def.kind === 'test-case') {
    const c = bilevelTestCase(def.name);
    const p = c.problem;
    return {
      dimX: p.dimX,
      dimY: p.dimY,
      problem: p,
      start: { x: c.start.x.slice(), y: c.start.y.slice() },
      solution: c.solution.x.slice(),
    };
  }
  if (!data) throw new Error('bilevelProblemShape: hyper-cleaning needs the dataset shape (numFeatures, numClasses)');
  const dimX = def.trainSize;
  const dimY = softmaxParameterCount(data.numFeatures, data.numClasses);
  return {
    dimX,
    dimY,
    problem: { dimX, dimY, setX: { kind: 'none' }, setY: { kind: 'none' } },
    start: { x: new Array<number>(dimX).fill(0), y: new Array<number>(dimY).fill(0) },
    solution: null,
  };
}

/** A problem built where the data is, with what the agent reports besides the oracles. */
export interface BuiltBilevelProblem {
  problem: BilevelProblem;
  /** Test accuracy of a lower-level solution y (hyper-cleaning: softmax regression on the held-out rows). */
  testAccuracy: ((y: ArrayLike<number>) => number) | null;
  /** Cleaner precision/recall/F1 of x (hyper-cleaning: weight σ(x_i) > ½ means "kept as clean"). */
  cleaner: ((x: ArrayLike<number>) => CleanerMetrics) | null;
}

/**
 * Builds the problem of `def`. Hyper-cleaning reads the agent's label-last CSV, scales it with the catalogue's
 * feature range, splits it with `dataSeed` into train / validation / test rows and corrupts the training labels,
 * so every agent with the same file builds the same problem.
 * @throws when the file has fewer rows than train + validation + test, or its classes do not match.
 */
export function buildBilevelProblem(
  def: BilevelProblemDef,
  data?: { csv: string; featureRange: [number, number]; numClasses: number },
): BuiltBilevelProblem {
  if (def.kind === 'test-case') return { problem: bilevelTestCase(def.name).problem, testAccuracy: null, cleaner: null };
  if (!data) throw new Error(`buildBilevelProblem: hyper-cleaning on '${def.dataset}' needs the dataset file`);
  const all: Dataset = scaleToUnit(parseLabelLastCsv(data.csv, { numClasses: data.numClasses }), data.featureRange);
  const need = def.trainSize + def.validationSize + def.testSize;
  if (all.size < need) {
    throw new Error(
      `hyper-cleaning needs ${need} rows (train ${def.trainSize} + validation ${def.validationSize} + test ${def.testSize}); this agent's '${def.dataset}' file has ${all.size}`,
    );
  }
  const order = createRng(deriveSeed(def.dataSeed, 'bilevel-split')).shuffle(Array.from({ length: all.size }, (_, i) => i));
  const clean0 = subset(all, order.slice(0, def.trainSize));
  const validation = subset(all, order.slice(def.trainSize, def.trainSize + def.validationSize));
  const test = subset(all, order.slice(def.trainSize + def.validationSize, need));
  const { data: train, clean } = corruptLabels(clean0, def.corruptFraction, createRng(deriveSeed(def.dataSeed, 'bilevel-corrupt')));
  return {
    problem: createHyperCleaningProblem(train, validation, { l2: def.l2 }),
    testAccuracy: (y) => softmaxRegressionAccuracy(y, test),
    cleaner: (x) => cleanerMetrics(x, clean),
  };
}

/**
 * A round of any method as the platform runs it: the double-loop methods (penalty double loop, F2SA) as two
 * independent chain tasks, the gradient-based ones (single loop, V-PBGD) as one gradient task at the current
 * (and previous) iterate. Either way the coordinator keeps x, λ and the steps, and agents only evaluate oracles.
 */
export type DistributedRound = { kind: 'chains'; plan: BilevelRoundPlan } | { kind: 'gradients'; request: GradientRequest };

/** The settings of a distributed run, shared by all methods (each uses the ones it has). */
export interface DistributedBilevelOptions {
  penalty: PenaltySchedule;
  /** Chain length T (double loop, F2SA; V-PBGD's w-chain). */
  innerSteps: number;
  /** Base x-step α_x (scaled by s(λ)); F2SA gets ratioX = stepX / stepY, so it takes the same x-step as the double loop. */
  stepX: number;
  stepY: number;
  /** z-step (V-PBGD: the w-chain step). */
  stepZ: number;
  stepScaling: PenaltyStepScaling;
  /** Single loop: momentum β of the recursive estimators (docs/algorithms/bilevel.md §6), default 0.1. */
  momentum?: number;
  /** Single loop: samples at (x, y) and (x, z), default 'common'. */
  sampling?: PenaltySampling;
}

/** The options of `bilevelStep` for a method with these settings (the in-process reference of a distributed run). */
export function inProcessOptions(method: BilevelMethod, o: DistributedBilevelOptions): BilevelMethodOptions {
  const { penalty, innerSteps, stepX, stepY, stepZ, stepScaling } = o;
  switch (method) {
    case 'penalty-double-loop':
      return { method, penalty, innerSteps, stepX, stepY, stepZ, stepScaling };
    case 'f2sa':
      return { method, penalty, innerSteps, stepY, stepZ, stepScaling, ratioX: stepX / stepY };
    case 'penalty-single-loop':
      return {
        method,
        penalty,
        stepX,
        stepY,
        stepZ,
        stepScaling,
        ...(o.momentum === undefined ? {} : { momentum: o.momentum }),
        ...(o.sampling ? { sampling: o.sampling } : {}),
      };
    case 'v-pbgd':
      return { method, penalty, innerSteps, stepX, stepY, innerStep: stepZ, stepScaling };
  }
}

/** The next round of the state's method. */
export function planDistributedRound(state: BilevelState, o: DistributedBilevelOptions): DistributedRound {
  const options = inProcessOptions(state.method, o);
  switch (options.method) {
    case 'penalty-double-loop':
      return { kind: 'chains', plan: planPenaltyRound(state, options) };
    case 'f2sa':
      return { kind: 'chains', plan: planF2saRound(state, options) };
    case 'penalty-single-loop':
      return { kind: 'gradients', request: planSingleLoopRound(state, options) };
    case 'v-pbgd':
      return { kind: 'gradients', request: planVPbgdRound(state, options) };
  }
}

/** The coordinator's step from a gradient round's report (single loop or V-PBGD). */
export function completeGradientRound(
  sets: { setX: BilevelSet; setY: BilevelSet },
  state: BilevelState,
  o: DistributedBilevelOptions,
  request: GradientRequest,
  report: GradientReport,
): BilevelStepResult {
  const options = inProcessOptions(state.method, o);
  switch (options.method) {
    case 'penalty-single-loop':
      return completeSingleLoopRound(sets, state, options, request, report);
    case 'v-pbgd':
      return completeVPbgdRound(sets, state, options, request, report);
    case 'penalty-double-loop':
    case 'f2sa':
      throw new Error(`bilevel: ${state.method} rounds are chain rounds, not gradient rounds`);
  }
}

/** A gradient report as JSON (what an agent sends back). */
export function gradientReportToJson(r: GradientReport) {
  return {
    gradients: r.gradients.map((g) => ({ gradX: Array.from(g.gradX), gradY: Array.from(g.gradY), gradZ: Array.from(g.gradZ) })),
    w: r.w && { point: Array.from(r.w.point), residual: r.w.residual, oracleCalls: r.w.oracleCalls },
    oracleCalls: r.oracleCalls,
  };
}
