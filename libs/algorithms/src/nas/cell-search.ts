import { createRng, type Rng } from '../random';
import { combineScores, GM_COSINE_EPSILON, type GmScores, type GmScoreSums } from './gm-score';
import { rankCandidates } from './ranking';
import { maskedSoftmax, type Architecture, type Mask, type OpWeights } from './search-space';
import type { Samples } from './supernet';
import { cosineLearningRate, resolveSgd, sgdStep, type SgdOptions } from './training';
import {
  CELL_EDGES,
  CELL_OPS,
  cellArchitectureInMask,
  cellLayout,
  cellPathWeights,
  checkCellArchitecture,
  checkCellMask,
  initialCellParameters,
  sampleCellPath,
  type CellSpaceSpec,
} from './cell-space';
import { cellPass, checkCellSamples, evaluateCell } from './cell-network';

/**
 * Weight sharing in the cell space (docs/algorithms/gm-nas.md §6.4): training a (sub-)supernet with
 * RSPS (a uniform single path per step), DARTS (first order: α learned on the validation split through the
 * softmax mixture) or SNAS (α learned through Gumbel-softmax samples with an annealed temperature),
 * deriving its architecture (argmax of α, or the best of sampled paths for RSPS), and the GM scores of
 * an edge (§3) with Ω_e = every cell's weights on the other edges plus the reduction blocks.
 */

/** How a supernet's architecture is searched (docs/algorithms/gm-nas.md §6.4). */
export type CellSearchMode = 'rsps' | 'darts' | 'snas';

export const CELL_SEARCH_MODES: readonly CellSearchMode[] = ['rsps', 'darts', 'snas'];

/** α with its Adam moments: JSON-safe. */
export interface CellArchState {
  /** Architecture parameters, edges × ops (DARTS/SNAS); all zero (uniform) at the start. */
  alpha: number[][];
  m: number[][];
  v: number[][];
  /** Adam steps taken. */
  t: number;
}

/** Weights, optimiser state and α of one cell (sub-)supernet. */
export interface CellTrainingState {
  params: Float32Array;
  velocity: Float32Array;
  /** Weight-optimiser steps so far: the position on the LR (and SNAS temperature) schedule. */
  step: number;
  arch: CellArchState;
}

/** Fresh parameters, zero momentum, α = 0 (the uniform mixture). */
export function initialCellTrainingState(spec: CellSpaceSpec, seed: number): CellTrainingState {
  const params = initialCellParameters(spec, seed);
  const zeros = (): number[][] => CELL_EDGES.map(() => CELL_OPS.map(() => 0));
  return { params, velocity: new Float32Array(params.length), step: 0, arch: { alpha: zeros(), m: zeros(), v: zeros(), t: 0 } };
}

/** An independent copy. */
export function copyCellTrainingState(s: CellTrainingState): CellTrainingState {
  const rows = (x: number[][]): number[][] => x.map((r) => r.slice());
  return {
    params: s.params.slice(),
    velocity: s.velocity.slice(),
    step: s.step,
    arch: { alpha: rows(s.arch.alpha), m: rows(s.arch.m), v: rows(s.arch.v), t: s.arch.t },
  };
}

/**
 * Adam on α, as DARTS' architecture optimiser. Defaults: lr 3e-3 (DARTS uses 3e-4 over ~20k steps; ten times
 * that for the few hundred steps of a CPU run), betas (0.5, 0.999), weight decay 1e-3 (DARTS, NAS-Bench-201 scripts).
 */
export interface ArchOptimizerOptions {
  /** Default 3e-3. */
  lr?: number;
  /** Default 0.5. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** L2 on α added to its gradient (default 1e-3). */
  weightDecay?: number;
  /**
   * DARTS only: 1 (default) takes the α gradient at the current weights (first order); 2 takes it through one
   * virtual weight step (DARTS' second-order, "unrolled" gradient, {@link dartsUnrolledAlphaGradient}), about
   * 2.5 times the passes per step.
   */
  order?: 1 | 2;
}

/** SNAS' temperature schedule: τ falls geometrically from `tauMax` to `tauMin` over the schedule (defaults 1 → 0.1). */
export interface SnasOptions {
  /** Default 1 (SNAS' initial temperature). */
  tauMax?: number;
  /** Default 0.1. */
  tauMin?: number;
}

/** Options of {@link trainCellSupernet}. */
export interface TrainCellOptions {
  /** Weight-optimiser steps in this call. */
  steps: number;
  /** Minibatch size of the weight and α steps (default 64). */
  batchSize?: number;
  /** Default `rsps`. */
  mode?: CellSearchMode;
  /**
   * Whether α is learned (default true for DARTS and SNAS). False keeps α as it is, the split phase of the
   * official GM-NAS code (warm-up and training between splits run with α frozen).
   */
  learnAlpha?: boolean;
  /** The validation split α is learned on (DARTS and SNAS with `learnAlpha`). */
  validation?: Samples;
  /** Length of the cosine LR (and SNAS τ) schedule in steps from step 0 (default: state.step + steps). */
  scheduleSteps?: number;
  optimizer?: SgdOptions;
  arch?: ArchOptimizerOptions;
  snas?: SnasOptions;
  /** Seed of the batch order, the paths and the Gumbel draws. */
  seed: number;
}

/** The SNAS temperature at a step of a schedule of T steps. */
export function snasTemperature(step: number, scheduleSteps: number, options: SnasOptions = {}): number {
  const tauMax = options.tauMax ?? 1;
  const tauMin = options.tauMin ?? 0.1;
  if (!(tauMax > 0 && tauMin > 0 && tauMin <= tauMax))
    throw new Error(`snasTemperature: needs 0 < tauMin <= tauMax, got ${tauMin}, ${tauMax}`);
  return tauMax * (tauMin / tauMax) ** (Math.min(step, scheduleSteps) / scheduleSteps);
}

/**
 * One Gumbel-softmax draw (SNAS): per edge, θ_o = softmax((α_o + G_o) / τ) over the enabled ops, G_o standard
 * Gumbel; 0 for disabled ops. Its arg-max is distributed as softmax(α) (the Gumbel-max trick), and the α
 * gradient through a draw is {@link alphaGradient} with the draw's τ.
 */
export function gumbelSoftmaxSample(alpha: number[][], mask: Mask, tau: number, rng: Rng): OpWeights {
  if (!(tau > 0)) throw new Error(`gumbelSoftmaxSample: tau must be > 0, got ${tau}`);
  return mask.map((row, e) => {
    const z = row.map((on, o) => (on ? (alpha[e][o] - Math.log(-Math.log(1 - rng.next()))) / tau : -Infinity));
    const max = Math.max(...z);
    const ex = z.map((v) => (v === -Infinity ? 0 : Math.exp(v - max)));
    const sum = ex.reduce((a, b) => a + b, 0);
    return ex.map((v) => v / sum);
  });
}

/**
 * ∂loss/∂α from ∂loss/∂θ through θ = softmax(α / τ) per edge (τ = 1 for DARTS; the Gumbel noise of SNAS is a
 * constant shift): ∂/∂α_o = θ_o (∂/∂θ_o − Σ_p θ_p ∂/∂θ_p) / τ, over enabled ops.
 */
export function alphaGradient(theta: OpWeights, dTheta: number[][], mask: Mask, tau = 1): number[][] {
  return mask.map((row, e) => {
    let mean = 0;
    row.forEach((on, o) => on && (mean += theta[e][o] * dTheta[e][o]));
    return row.map((on, o) => (on ? (theta[e][o] * (dTheta[e][o] - mean)) / tau : 0));
  });
}

/**
 * DARTS' second-order α gradient (Liu et al., 2019, eq. 7–8, as the official `_backward_step_unrolled`): the gradient of
 * the validation loss after one virtual SGD step of the weights, w' = w − ξ (μ v + ∇_w L_train(w, α) + λ w), at the
 * mixture θ = softmax(α):
 *
 *     ∇_α L_val(w', α) − ξ · (∇_α L_train(w⁺, α) − ∇_α L_train(w⁻, α)) / (2ε),   w± = w ± ε ∇_w' L_val(w', α),
 *
 * with ε = 0.01 / ‖∇_w' L_val(w', α)‖ (a finite-difference Hessian-vector product). ξ is the weight step's learning
 * rate, μ and λ its momentum and weight decay; no clipping, as in the official code. Four network passes.
 */
export function dartsUnrolledAlphaGradient(
  spec: CellSpaceSpec,
  state: Pick<CellTrainingState, 'params' | 'velocity'>,
  theta: OpWeights,
  mask: Mask,
  train: Samples,
  validation: Samples,
  sgd: { lr: number; momentum: number; weightDecay: number },
): number[][] {
  const n = state.params.length;
  const g = new Float32Array(n);
  cellPass(spec, state.params, theta, train, { gradient: g });
  const unrolled = new Float32Array(n);
  for (let i = 0; i < n; i++)
    unrolled[i] = state.params[i] - sgd.lr * (sgd.momentum * state.velocity[i] + g[i] + sgd.weightDecay * state.params[i]);
  const dTheta = CELL_EDGES.map(() => CELL_OPS.map(() => 0));
  const v = new Float32Array(n);
  cellPass(spec, unrolled, theta, validation, { gradient: v, weightGradient: dTheta });
  const direct = alphaGradient(theta, dTheta, mask);
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  if (norm === 0) return direct;
  const r = 0.01 / norm;
  const shifted = (sign: 1 | -1): number[][] => {
    const w = new Float32Array(n);
    for (let i = 0; i < n; i++) w[i] = state.params[i] + sign * r * v[i];
    const d = CELL_EDGES.map(() => CELL_OPS.map(() => 0));
    cellPass(spec, w, theta, train, { weightGradient: d });
    return d;
  };
  const plus = shifted(1);
  const minus = shifted(-1);
  const hessian = alphaGradient(
    theta,
    plus.map((row, e) => row.map((x, o) => (x - minus[e][o]) / (2 * r))),
    mask,
  );
  return direct.map((row, e) => row.map((x, o) => x - sgd.lr * hessian[e][o]));
}

/** One Adam step on α (in place), disabled ops untouched. */
function adamStep(arch: CellArchState, grad: number[][], mask: Mask, o: Omit<Required<ArchOptimizerOptions>, 'order'>): void {
  arch.t++;
  const c1 = 1 - o.beta1 ** arch.t;
  const c2 = 1 - o.beta2 ** arch.t;
  mask.forEach((row, e) =>
    row.forEach((on, p) => {
      if (!on) return;
      const g = grad[e][p] + o.weightDecay * arch.alpha[e][p];
      arch.m[e][p] = o.beta1 * arch.m[e][p] + (1 - o.beta1) * g;
      arch.v[e][p] = o.beta2 * arch.v[e][p] + (1 - o.beta2) * g * g;
      arch.alpha[e][p] -= (o.lr * (arch.m[e][p] / c1)) / (Math.sqrt(arch.v[e][p] / c2) + 1e-8);
    }),
  );
}

/** Rows of a sample set, copied (CHW rows). */
function rowsOf(spec: CellSpaceSpec, samples: Samples, indices: ArrayLike<number>): Samples {
  const f = spec.height * spec.width * spec.inputChannels;
  const inputs = new Float32Array(indices.length * f);
  const targets = new Int32Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    inputs.set(samples.inputs.subarray(i * f, (i + 1) * f), k * f);
    targets[k] = samples.targets[i];
  }
  return { inputs, targets, size: indices.length };
}

/** An endless stream of minibatches: a seeded permutation, reshuffled every epoch, short last batch dropped. */
function batchStream(spec: CellSpaceSpec, samples: Samples, batchSize: number, rng: Rng): () => Samples {
  const b = Math.min(batchSize, samples.size);
  const order = Array.from({ length: samples.size }, (_, i) => i);
  let cursor = samples.size;
  return () => {
    if (cursor + b > samples.size) {
      rng.shuffle(order);
      cursor = 0;
    }
    const rows = rowsOf(spec, samples, order.slice(cursor, cursor + b));
    cursor += b;
    return rows;
  };
}

/**
 * Trains a cell (sub-)supernet inside `mask` for `steps` steps (docs/algorithms/gm-nas.md §6.4). Each step:
 * - RSPS: a uniformly random connected path inside the mask; SGD on its weights only.
 * - DARTS (first order, NAS-Bench-201's order): with `learnAlpha`, an Adam step on α from the gradient of a
 *   validation batch's loss through the softmax mixture; then an SGD step on the weights of every enabled op
 *   under the mixture softmax(α).
 * - SNAS: the same on a fresh Gumbel-softmax draw at temperature τ(step) for each of the two steps.
 * Pure: returns a new state.
 */
export function trainCellSupernet(
  spec: CellSpaceSpec,
  state: CellTrainingState,
  mask: Mask,
  train: Samples,
  options: TrainCellOptions,
): { state: CellTrainingState; meanLoss: number } {
  const layout = cellLayout(spec);
  checkCellMask(mask, 'trainCellSupernet');
  checkCellSamples(spec, train, 'trainCellSupernet');
  if (state.params.length !== layout.size || state.velocity.length !== layout.size)
    throw new Error(`trainCellSupernet: state needs params and velocity of length ${layout.size}`);
  const { steps, seed } = options;
  if (!(Number.isInteger(steps) && steps >= 0)) throw new Error(`trainCellSupernet: steps must be a non-negative integer, got ${steps}`);
  const mode = options.mode ?? 'rsps';
  if (!CELL_SEARCH_MODES.includes(mode))
    throw new Error(`trainCellSupernet: mode must be one of ${CELL_SEARCH_MODES.join(', ')}, got ${String(mode)}`);
  const batchSize = options.batchSize ?? 64;
  if (!(Number.isInteger(batchSize) && batchSize >= 1))
    throw new Error(`trainCellSupernet: batchSize must be a positive integer, got ${batchSize}`);
  const learnAlpha = mode !== 'rsps' && (options.learnAlpha ?? true);
  if (learnAlpha) {
    if (!options.validation) throw new Error(`trainCellSupernet: ${mode} learns α on a validation split; none given`);
    checkCellSamples(spec, options.validation, 'trainCellSupernet validation');
  }
  const T = options.scheduleSteps ?? state.step + steps;
  if (!(Number.isInteger(T) && T >= 1)) throw new Error(`trainCellSupernet: scheduleSteps must be a positive integer, got ${T}`);
  const sgd = resolveSgd(options.optimizer);
  const adam: Required<ArchOptimizerOptions> = {
    lr: options.arch?.lr ?? 3e-3,
    beta1: options.arch?.beta1 ?? 0.5,
    beta2: options.arch?.beta2 ?? 0.999,
    weightDecay: options.arch?.weightDecay ?? 1e-3,
    order: options.arch?.order ?? 1,
  };
  if (adam.order !== 1 && adam.order !== 2) throw new Error(`trainCellSupernet: arch.order must be 1 or 2, got ${String(adam.order)}`);
  if (adam.order === 2 && mode !== 'darts') throw new Error(`trainCellSupernet: the second-order α gradient is DARTS'; mode is ${mode}`);

  const out = copyCellTrainingState(state);
  const rng = createRng(seed);
  const nextTrain = batchStream(spec, train, batchSize, rng);
  const nextValidation = learnAlpha ? batchStream(spec, options.validation!, batchSize, rng) : undefined;
  const grad = new Float32Array(layout.size);
  const dTheta = CELL_EDGES.map(() => CELL_OPS.map(() => 0));
  const used: boolean[] = [];
  let lossSum = 0;
  for (let step = 0; step < steps; step++) {
    const tau = mode === 'snas' ? snasTemperature(out.step, T, options.snas) : 1;
    const draw = (): OpWeights =>
      mode === 'darts' ? maskedSoftmax(out.arch.alpha, mask) : gumbelSoftmaxSample(out.arch.alpha, mask, tau, rng);
    const lr = cosineLearningRate(out.step, T, sgd.lr, sgd.lrMin);
    // Second order: the α step needs the weight step's batch, drawn here (DARTS draws no random numbers in between,
    // so the batches are the ones first order sees).
    let trainBatch: Samples | undefined;
    if (learnAlpha) {
      const theta = draw();
      const validationBatch = nextValidation!();
      if (adam.order === 2) {
        trainBatch = nextTrain();
        const g = dartsUnrolledAlphaGradient(spec, out, theta, mask, trainBatch, validationBatch, { ...sgd, lr });
        adamStep(out.arch, g, mask, adam);
      } else {
        cellPass(spec, out.params, theta, validationBatch, { weightGradient: dTheta });
        adamStep(out.arch, alphaGradient(theta, dTheta, mask, tau), mask, adam);
      }
    }
    const weights = mode === 'rsps' ? cellPathWeights(sampleCellPath(mask, rng)) : draw();
    lossSum += cellPass(spec, out.params, weights, trainBatch ?? nextTrain(), { gradient: grad, used }).loss;
    sgdStep(layout.segments, used, out.params, out.velocity, grad, lr, sgd);
    out.step++;
  }
  return { state: out, meanLoss: steps > 0 ? lossSum / steps : NaN };
}

/** Options of {@link trainCellStandalone}. */
export interface TrainCellStandaloneOptions {
  steps: number;
  /** Default 64. */
  batchSize?: number;
  optimizer?: SgdOptions;
  /** Seed of the initial weights. */
  initSeed: number;
  /** Seed of the batch order. */
  seed: number;
}

/** Trains one architecture alone from fresh weights (the ground truth, docs/algorithms/gm-nas.md §8.2). */
export function trainCellStandalone(
  spec: CellSpaceSpec,
  arch: Architecture,
  train: Samples,
  options: TrainCellStandaloneOptions,
): { state: CellTrainingState; meanLoss: number } {
  checkCellArchitecture(arch, 'trainCellStandalone');
  const mask = CELL_EDGES.map((_, e) => CELL_OPS.map((_op, o) => o === arch[e]));
  return trainCellSupernet(spec, initialCellTrainingState(spec, options.initSeed), mask, train, {
    steps: options.steps,
    batchSize: options.batchSize,
    optimizer: options.optimizer,
    mode: 'rsps',
    seed: options.seed,
  });
}

/**
 * The architecture DARTS and SNAS derive (docs/algorithms/gm-nas.md §7.1): per edge the enabled op with the
 * largest α, ties to the lowest op index.
 */
export function argmaxArchitecture(alpha: number[][], mask: Mask): Architecture {
  checkCellMask(mask, 'argmaxArchitecture');
  return mask.map((row, e) => {
    let best = -1;
    row.forEach((on, o) => {
      if (on && (best < 0 || alpha[e][o] > alpha[e][best])) best = o;
    });
    return best;
  });
}

/** Options of {@link proposeCellArchitecture}. */
export interface CellProposalOptions {
  /**
   * RSPS: the candidate architectures; the supernet proposes the best of those inside its mask. Without any inside,
   * the best of `paths` random connected paths (drawn with `seed`; repeats count once).
   */
  candidates?: readonly Architecture[];
  /** Default 20. */
  paths?: number;
  seed?: number;
  /** RSPS: rank by `accuracy` (default; ties by loss) or `loss` (ties by accuracy); then the first candidate. */
  metric?: 'accuracy' | 'loss';
}

/**
 * The architecture a (sub-)supernet proposes and its score on `samples` (the selection split) with the supernet's
 * weights (docs/algorithms/gm-nas.md §6.4, §7.1): the argmax of α (DARTS, SNAS), or for RSPS the best of the
 * candidates evaluated on their single paths. A diverged (NaN) estimate ranks last.
 */
export function proposeCellArchitecture(
  spec: CellSpaceSpec,
  state: Pick<CellTrainingState, 'params' | 'arch'>,
  mask: Mask,
  mode: CellSearchMode,
  samples: Samples,
  options: CellProposalOptions = {},
): CellArchitectureScore {
  checkCellMask(mask, 'proposeCellArchitecture');
  const score = (architecture: Architecture): CellArchitectureScore => ({
    architecture,
    ...evaluateCell(spec, state.params, cellPathWeights(architecture), samples),
  });
  if (mode !== 'rsps') return score(argmaxArchitecture(state.arch.alpha, mask));
  const inside = (options.candidates ?? []).filter((a) => cellArchitectureInMask(a, mask));
  const scored = (inside.length > 0 ? inside : randomCellPaths(mask, options)).map(score);
  return scored[rankCandidates(scored, options.metric ?? 'accuracy')[0]];
}

/**
 * The paths RSPS proposes from when no given candidate lies inside the mask: `paths` random connected paths drawn
 * with `seed` (defaults 20 and 0), each once, in the order first drawn.
 */
export function randomCellPaths(mask: Mask, options: Pick<CellProposalOptions, 'paths' | 'seed'> = {}): Architecture[] {
  const paths = options.paths ?? 20;
  if (!(Number.isInteger(paths) && paths >= 1)) throw new Error(`proposeCellArchitecture: paths must be a positive integer, got ${paths}`);
  const rng = createRng(options.seed ?? 0);
  const drawn = new Map<string, Architecture>();
  for (let i = 0; i < paths; i++) {
    const a = sampleCellPath(mask, rng);
    drawn.set(a.join(), a);
  }
  return [...drawn.values()];
}

/** One architecture's estimate with shared weights. */
export interface CellArchitectureScore {
  architecture: Architecture;
  loss: number;
  accuracy: number;
}

/** Each architecture's loss and accuracy with the supernet's weights on its single path. */
export function evaluateCellArchitectures(
  spec: CellSpaceSpec,
  params: Float32Array,
  architectures: readonly Architecture[],
  samples: Samples,
): CellArchitectureScore[] {
  return architectures.map((a) => {
    checkCellArchitecture(a, 'evaluateCellArchitectures');
    return { architecture: a, ...evaluateCell(spec, params, cellPathWeights(a), samples) };
  });
}

/**
 * The ranges [start, end) of the flat parameters that form Ω_e (docs/algorithms/gm-nas.md §3.1) in the cell
 * space: the weights of every op on the other edges in every cell, and the reduction blocks between
 * stages, as the official code's shared-weight set; `all` adds the stem and the classifier.
 */
export function cellSharedWeightRanges(spec: CellSpaceSpec, edge: number, sharedWeights: 'cells' | 'all' = 'cells'): [number, number][] {
  if (!(Number.isInteger(edge) && edge >= 0 && edge < CELL_EDGES.length))
    throw new Error(`cellSharedWeightRanges: edge must be an integer in [0, ${CELL_EDGES.length}), got ${edge}`);
  const ranges: [number, number][] = [];
  for (const s of cellLayout(spec).segments) {
    const shared = s.owner === 'cell' ? s.edge !== edge : s.owner === 'reduce' || sharedWeights === 'all';
    if (!shared) continue;
    const last = ranges[ranges.length - 1];
    if (last && last[1] === s.offset) last[1] = s.offset + s.size;
    else ranges.push([s.offset, s.offset + s.size]);
  }
  return ranges;
}

/** Options of {@link cellGmScoreSums}. */
export interface CellGmScoreOptions {
  /**
   * How the other edges are weighted (docs/algorithms/gm-nas.md §3.3): `mixture` (default; DARTS and SNAS,
   * softmax of `alpha`, uniform without it) or `single-path` (RSPS, a random connected path per batch).
   */
  mode?: 'mixture' | 'single-path';
  alpha?: number[][];
  /** Ω_e: `cells` (default) or `all` (see {@link cellSharedWeightRanges}). */
  sharedWeights?: 'cells' | 'all';
  /** Seed of the single-path draws (default 0). */
  seed?: number;
  /**
   * Batches before this index are not scored; in single-path mode their paths are still drawn, so a part of a
   * distributed scoring sees the paths one call over every batch would (default 0).
   */
  scoreFrom?: number;
}

/**
 * The GM cosine sums of one edge of a cell supernet over the batches (docs/algorithms/gm-nas.md §3.2), in the
 * format {@link combineScores} merges: per batch, each enabled op o of the edge in turn, g_o = ∂loss/∂Ω_e,
 * and cos(g_i, g_j) added to `sums[i][j]`.
 */
export function cellGmScoreSums(
  spec: CellSpaceSpec,
  params: Float32Array,
  mask: Mask,
  edge: number,
  batches: readonly Samples[],
  options: CellGmScoreOptions = {},
): GmScoreSums {
  const mode = options.mode ?? 'mixture';
  checkCellMask(mask, 'cellGmScoreSums');
  const ranges = cellSharedWeightRanges(spec, edge, options.sharedWeights ?? 'cells');
  const ops: number[] = [];
  mask[edge].forEach((on, o) => on && ops.push(o));
  if (ops.length < 2) throw new Error(`cellGmScoreSums: edge ${edge} has ${ops.length} enabled op(s); scoring needs at least 2`);
  const from = options.scoreFrom ?? 0;
  if (!(Number.isInteger(from) && from >= 0 && from < batches.length))
    throw new Error(`cellGmScoreSums: needs scoreFrom in [0, ${batches.length}) (at least one batch to score), got ${from}`);
  batches.forEach((b, i) => checkCellSamples(spec, b, `cellGmScoreSums batch ${i}`));
  const k = ops.length;
  const sharedSize = ranges.reduce((n, [a, b]) => n + b - a, 0);
  const g = Array.from({ length: k }, () => new Float32Array(sharedSize));
  const full = new Float32Array(params.length);
  const sums = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  const rng = createRng(options.seed ?? 0);
  const mixture = mode === 'mixture' ? maskedSoftmax(options.alpha ?? CELL_EDGES.map(() => CELL_OPS.map(() => 0)), mask) : undefined;
  let degenerate = 0;
  for (const [r, batch] of batches.entries()) {
    const base: OpWeights = mixture
      ? mixture.map((row) => row.slice())
      : cellPathWeights(sampleCellPath(mask, rng, { edge, op: ops[0], countsAsConnected: true }));
    if (r < from) continue;
    ops.forEach((o, i) => {
      base[edge] = base[edge].map((_, p) => (p === o ? 1 : 0));
      cellPass(spec, params, base, batch, { gradient: full });
      let at = 0;
      for (const [a, b] of ranges) {
        g[i].set(full.subarray(a, b), at);
        at += b - a;
      }
    });
    const norms = g.map((v) => Math.sqrt(dot(v, v)));
    if (Math.max(...norms) ** 2 <= GM_COSINE_EPSILON) degenerate++;
    for (let i = 0; i < k; i++)
      for (let j = i; j < k; j++) {
        const c = dot(g[i], g[j]) / (norms[i] * norms[j] + GM_COSINE_EPSILON);
        sums[i][j] += c;
        if (j !== i) sums[j][i] += c;
      }
  }
  return { edge, ops, sums, batches: batches.length - from, degenerateBatches: degenerate };
}

/** {@link cellGmScoreSums} merged by {@link combineScores}: the GM matrix of an edge on local batches. */
export function cellGmMatrix(
  spec: CellSpaceSpec,
  params: Float32Array,
  mask: Mask,
  edge: number,
  batches: readonly Samples[],
  options: CellGmScoreOptions = {},
): GmScores {
  return combineScores([cellGmScoreSums(spec, params, mask, edge, batches, options)]);
}

/** `count` minibatches of `batchSize` distinct rows each, drawn uniformly (a fresh sample per GM batch). */
export function randomCellBatches(spec: CellSpaceSpec, samples: Samples, count: number, batchSize: number, rng: Rng): Samples[] {
  checkCellSamples(spec, samples, 'randomCellBatches');
  const b = Math.min(batchSize, samples.size);
  const order = Array.from({ length: samples.size }, (_, i) => i);
  const out: Samples[] = [];
  for (let r = 0; r < count; r++) {
    for (let i = 0; i < b; i++) {
      const j = i + rng.int(samples.size - i);
      [order[i], order[j]] = [order[j], order[i]];
    }
    out.push(rowsOf(spec, samples, order.slice(0, b)));
  }
  return out;
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}
