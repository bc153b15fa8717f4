import type { BilevelProblem } from './problem';
import { completeRound, executeRound, roundSampleSeeds, type BilevelRoundPlan } from './penalty';
import {
  checkPenaltySchedule,
  checkStepDecay,
  penaltyAt,
  penaltyStepFactor,
  stepDecayAt,
  type PenaltySchedule,
  type PenaltyStepScaling,
  type StepDecay,
} from './schedule';
import type { BilevelState, BilevelStepResult } from './state';

/**
 * F2SA: J. Kwon, D. Kwon, S. Wright, R. Nowak, "A Fully First-Order Method for Stochastic Bilevel Optimization",
 * ICML 2023 (docs/algorithms/bilevel.md §8; reference implementation benchopt/benchmark_bilevel `solvers/f2sa.py`).
 * The Lagrangian L_λ(x, y, z) = f(x, y) + λ(g(x, y) − g(x, z)) with an increasing multiplier:
 *
 *   repeat T times: z ← ProjY(z − γ_k ∇_y g(x_k, z));  y ← ProjY(y − α_k (∇_y f(x_k, y) + λ_k ∇_y g(x_k, y)))
 *   x_{k+1} = ProjX(x_k − ξ α_k gradX(x_k, y_{k+1}, z_{k+1}; λ_k)),   λ_{k+1} from the schedule
 *
 * The ICML paper is unconstrained; with projections this is the double loop of §5 with an increasing λ, and
 * it reuses the same round plan ({@link BilevelRoundPlan}) and coordinator step ({@link completeRound}).
 * α_k = stepY·s(λ_k)·d_y(k), γ_k = stepZ·d_z(k). Defaults are the deterministic setting of §8 (constant
 * steps 0.5/(1 + λ_k), z-step 0.5, ξ = 1), which converges where the decaying ones are slow; for noisy oracles use the polynomial decays (α ∝ k^{−5/7},
 * γ ∝ k^{−4/7}) with a polynomial λ schedule (λ ∝ k^{1/7}). The paper's exact constants could not be checked (§14).
 */
export interface F2saOptions {
  /** λ_k. docs/algorithms/bilevel.md §8 deterministic (the tests): linear 1 → 100; stochastic: polynomial with power 1/7. Required. */
  penalty: PenaltySchedule;
  /** Inner steps T. Default 10 (benchopt's n_inner_steps). */
  innerSteps?: number;
  /** Base y-step: α_k = stepY·s(λ_k)·d_y(k). Default 0.5. */
  stepY?: number;
  /** Base z-step: γ_k = stepZ·d_z(k). Default 0.5. */
  stepZ?: number;
  /** ξ: the x-step is ξ·α_k. Default 1 (docs/algorithms/bilevel.md §8; benchopt's outer ratio 1). */
  ratioX?: number;
  /** Decay d_y of the y-step (and so of the x-step). Default constant; noisy oracles: polynomial power 5/7. */
  decayY?: StepDecay;
  /** Decay d_z of the z-step. Default constant; noisy oracles: polynomial power 4/7. */
  decayZ?: StepDecay;
  /** s(λ), default 'inverse-one-plus' = 1/(1+λ) (docs/algorithms/bilevel.md §4.2). */
  stepScaling?: PenaltyStepScaling;
}

function positive(v: number, name: string, where: string): number {
  if (!(v > 0 && v < Infinity)) throw new Error(`${where}: ${name} must be positive and finite, got ${v}`);
  return v;
}

/** The plan of F2SA round k (same shape as the penalty double loop's, see {@link BilevelRoundPlan}). */
export function planF2saRound(state: BilevelState, options: F2saOptions): BilevelRoundPlan {
  const where = 'bilevel f2sa';
  if (state.method !== 'f2sa') throw new Error(`${where}: state belongs to method ${state.method}`);
  checkPenaltySchedule(options.penalty, where);
  const innerSteps = options.innerSteps ?? 10;
  if (!(Number.isInteger(innerSteps) && innerSteps >= 1))
    throw new Error(`${where}: innerSteps must be a positive integer, got ${innerSteps}`);
  const decayY = options.decayY ?? { kind: 'constant' };
  const decayZ = options.decayZ ?? { kind: 'constant' };
  checkStepDecay(decayY, `${where}: decayY`);
  checkStepDecay(decayZ, `${where}: decayZ`);
  const k = state.iteration;
  const lambda = penaltyAt(options.penalty, k);
  const alpha =
    positive(options.stepY ?? 0.5, 'stepY', where) *
    penaltyStepFactor(options.stepScaling ?? 'inverse-one-plus', lambda) *
    stepDecayAt(decayY, k);
  const gammaZ = positive(options.stepZ ?? 0.5, 'stepZ', where) * stepDecayAt(decayZ, k);
  const seeds = roundSampleSeeds(state);
  return {
    iteration: k,
    lambda,
    x: state.x.slice(),
    yStart: state.y.slice(),
    zStart: state.z.slice(),
    yChain: { steps: innerSteps, stepSize: alpha, sampleSeed: seeds.y },
    zChain: { steps: innerSteps, stepSize: gammaZ, sampleSeed: seeds.z },
    stepX: positive(options.ratioX ?? 1, 'ratioX', where) * alpha,
    xSampleSeed: seeds.x,
  };
}

/** One F2SA outer iteration in one process (chains and x-terms locally). Oracle calls: 3T + 3. */
export function f2saStep(problem: BilevelProblem, state: BilevelState, options: F2saOptions): BilevelStepResult {
  const plan = planF2saRound(state, options);
  return completeRound(problem.setX, state, plan, executeRound(problem, plan));
}
