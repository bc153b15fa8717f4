import * as tf from '@tensorflow/tfjs';
import { createRng } from '../random';
import {
  architecturesInMask,
  checkMask,
  distinctArchitectures,
  enabledOps,
  initialSupernetParameters,
  maskedSoftmax,
  pathWeights,
  samplePath,
  supernetLayout,
  uniformWeights,
  type Architecture,
  type Mask,
  type SupernetSpec,
} from './search-space';
import {
  checkSamples,
  connectedSegments,
  evaluateArchitectures,
  sampleRows,
  SupernetSession,
  type ArchitectureScore,
  type Samples,
} from './supernet';
import type { NasNode } from './tree';

/**
 * Training of (sub-)supernets and of stand-alone architectures (docs/algorithms/gm-nas.md §6–§7, §9), on
 * flat parameters: TF.js computes the gradients, the optimiser runs on Float32Arrays so that its
 * state is a plain vector the coordinator can store and hand to children.
 */

/** Weights and optimiser state of one (sub-)supernet. */
export interface TrainingState {
  params: Float32Array;
  /** SGD momentum buffer, same length as `params`. */
  velocity: Float32Array;
  /** Optimiser steps taken so far: the position on the LR schedule. */
  step: number;
}

/** Fresh parameters (see `initialSupernetParameters`), zero momentum, step 0. */
export function initialTrainingState(spec: SupernetSpec, seed: number): TrainingState {
  const params = initialSupernetParameters(spec, seed);
  return { params, velocity: new Float32Array(params.length), step: 0 };
}

/** An independent copy of a training state. */
export function copyTrainingState(state: TrainingState): TrainingState {
  return { params: state.params.slice(), velocity: state.velocity.slice(), step: state.step };
}

/**
 * The training state a child of the supernet tree starts from (docs/algorithms/gm-nas.md §6.1): a copy of the parent's
 * weights, momentum and schedule position for `inherit`; fresh weights from `seed`, zero momentum
 * and a new schedule for `reinit` (and `root`).
 */
export function spawnTrainingState(spec: SupernetSpec, parent: TrainingState, child: NasNode, seed: number): TrainingState {
  return child.init === 'inherit' ? copyTrainingState(parent) : initialTrainingState(spec, seed);
}

/**
 * SGD with momentum, as the official weight optimiser (docs/algorithms/gm-nas.md §6.3; NB201 scripts). Defaults are the
 * official ones (§9): lr 0.025 cosine-annealed to 0.001, momentum 0.9, Nesterov, weight decay 5e-4, gradient
 * clipping at global norm 5.
 */
export interface SgdOptions {
  /** Initial learning rate (default 0.025). */
  lr?: number;
  /** Final learning rate of the cosine schedule (default 0.001). Equal to `lr` for a constant rate. */
  lrMin?: number;
  /** Default 0.9. */
  momentum?: number;
  /** Default true. */
  nesterov?: boolean;
  /** L2 weight decay added to the gradient (default 5e-4, `fs_opt=1`). */
  weightDecay?: number;
  /** Global gradient-norm clipping threshold (default 5); Infinity disables it. */
  clipNorm?: number;
}

/** Options of {@link trainSupernet}. */
export interface TrainSupernetOptions {
  /** Optimiser steps in this call. */
  steps: number;
  /** Minibatch size (default 64, docs/algorithms/gm-nas.md §9). A smaller dataset trains on all of it each step. */
  batchSize?: number;
  /**
   * Forward mode (docs/algorithms/gm-nas.md §6.3): `single-path` (default; RSPS, the one-shot training of §8): a
   * uniformly random connected path inside the mask per step; `mixture`: the masked softmax of
   * `alpha` (uniform when absent), i.e. DARTS with α frozen as in the split phase. α is not learned.
   */
  mode?: 'single-path' | 'mixture';
  /** Architecture parameters for `mixture` (edges × ops; default uniform). */
  alpha?: number[][];
  /**
   * Length T of the cosine schedule in steps, counted from the state's step 0 (default: the state's
   * step + `steps`, so the rate reaches lrMin at the end of this call). Pass the whole lineage's
   * length when a node's training is spread over several calls (the NB201 scheduler spans the run).
   */
  scheduleSteps?: number;
  optimizer?: SgdOptions;
  /** Seed of the batch order and of the path draws. */
  seed: number;
}

/** Result of {@link trainSupernet}. */
export interface TrainSupernetResult {
  /** The new state (the input state is not modified). */
  state: TrainingState;
  /** Mean training loss over the steps. */
  meanLoss: number;
}

/** Cosine annealing from lr to lrMin over T steps (PyTorch CosineAnnealingLR, held at lrMin after T). */
export function cosineLearningRate(step: number, scheduleSteps: number, lr: number, lrMin: number): number {
  const t = Math.min(step, scheduleSteps);
  return lrMin + ((lr - lrMin) * (1 + Math.cos((Math.PI * t) / scheduleSteps))) / 2;
}

/** The SGD options with their defaults filled in; throws on a bad value. */
export function resolveSgd(o: SgdOptions = {}): Required<SgdOptions> {
  const r = {
    lr: o.lr ?? 0.025,
    lrMin: o.lrMin ?? 0.001,
    momentum: o.momentum ?? 0.9,
    nesterov: o.nesterov ?? true,
    weightDecay: o.weightDecay ?? 5e-4,
    clipNorm: o.clipNorm ?? 5,
  };
  if (!(r.lr > 0 && r.lrMin >= 0 && r.lrMin <= r.lr))
    throw new Error(`trainSupernet: optimizer needs lr > 0 and 0 <= lrMin <= lr, got ${r.lr} and ${r.lrMin}`);
  if (!(r.momentum >= 0 && r.momentum < 1)) throw new Error(`trainSupernet: optimizer momentum must be in [0, 1), got ${r.momentum}`);
  if (!(r.weightDecay >= 0)) throw new Error(`trainSupernet: optimizer weightDecay must be >= 0, got ${r.weightDecay}`);
  if (!(r.clipNorm > 0)) throw new Error(`trainSupernet: optimizer clipNorm must be > 0, got ${r.clipNorm}`);
  return r;
}

/**
 * Trains a (sub-)supernet for `steps` SGD steps on `samples` (docs/algorithms/gm-nas.md §6.3, one node's share of the
 * schedule). Batches follow a seeded permutation, reshuffled at each epoch, short last batch
 * dropped. Parameters the step's loss does not depend on (ops off the sampled path) are left
 * untouched, including their momentum and weight decay (PyTorch skips parameters without a
 * gradient). Pure: returns a new state.
 */
export function trainSupernet(
  spec: SupernetSpec,
  state: TrainingState,
  mask: Mask,
  samples: Samples,
  options: TrainSupernetOptions,
): TrainSupernetResult {
  const layout = supernetLayout(spec);
  checkMask(spec, mask, 'trainSupernet');
  checkSamples(spec, samples, 'trainSupernet');
  if (state.params.length !== layout.size || state.velocity.length !== layout.size) {
    throw new Error(
      `trainSupernet: state needs params and velocity of length ${layout.size}, got ${state.params.length} and ${state.velocity.length}`,
    );
  }
  if (!(Number.isInteger(state.step) && state.step >= 0))
    throw new Error(`trainSupernet: state.step must be a non-negative integer, got ${state.step}`);
  const { steps, seed } = options;
  if (!(Number.isInteger(steps) && steps >= 0)) throw new Error(`trainSupernet: steps must be a non-negative integer, got ${steps}`);
  const batchSize = options.batchSize ?? 64;
  if (!(Number.isInteger(batchSize) && batchSize >= 1))
    throw new Error(`trainSupernet: batchSize must be a positive integer, got ${batchSize}`);
  const mode = options.mode ?? 'single-path';
  if (mode !== 'single-path' && mode !== 'mixture')
    throw new Error(`trainSupernet: mode must be 'single-path' or 'mixture', got ${String(mode)}`);
  const T = options.scheduleSteps ?? state.step + steps;
  if (!(Number.isInteger(T) && T >= 1)) throw new Error(`trainSupernet: scheduleSteps must be a positive integer, got ${T}`);
  const opt = resolveSgd(options.optimizer);

  const out = copyTrainingState(state);
  const { params, velocity } = out;
  const grad = new Float32Array(layout.size);
  const rng = createRng(seed);
  const mixture = mode === 'mixture' ? (options.alpha ? maskedSoftmax(options.alpha, mask) : uniformWeights(mask)) : undefined;
  const batch = Math.min(batchSize, samples.size);
  const order = Array.from({ length: samples.size }, (_, i) => i);
  let cursor = samples.size; // forces a shuffle before the first batch
  let lossSum = 0;

  for (let step = 0; step < steps; step++) {
    if (cursor + batch > samples.size) {
      rng.shuffle(order);
      cursor = 0;
    }
    const rows = sampleRows(spec, samples, order.slice(cursor, cursor + batch));
    cursor += batch;
    const weights = mixture ?? pathWeights(spec, samplePath(spec, mask, rng));
    const connected = connectedSegments(spec, layout, weights);
    const session = new SupernetSession(spec, params, connected, layout);
    const { x, y } = session.upload(rows);
    try {
      lossSum += session.gradient(weights, x, y, grad).loss;
    } finally {
      tf.dispose([x, y]);
      session.dispose();
    }
    const lr = cosineLearningRate(out.step, T, opt.lr, opt.lrMin);
    sgdStep(layout.segments, connected, params, velocity, grad, lr, opt);
    out.step++;
  }
  return { state: out, meanLoss: steps > 0 ? lossSum / steps : NaN };
}

/** One PyTorch-style SGD step on the connected segments, in place. */
export function sgdStep(
  segments: readonly { offset: number; size: number }[],
  connected: readonly boolean[],
  params: Float32Array,
  velocity: Float32Array,
  grad: Float32Array,
  lr: number,
  opt: Required<SgdOptions>,
): void {
  let norm2 = 0;
  segments.forEach((s, i) => {
    if (!connected[i]) return;
    for (let k = s.offset; k < s.offset + s.size; k++) norm2 += grad[k] * grad[k];
  });
  const norm = Math.sqrt(norm2);
  // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when the norm exceeds it.
  const scale = norm > opt.clipNorm ? opt.clipNorm / (norm + 1e-6) : 1;
  const { momentum: mu, weightDecay: wd, nesterov } = opt;
  segments.forEach((s, i) => {
    if (!connected[i]) return;
    for (let k = s.offset; k < s.offset + s.size; k++) {
      const g = grad[k] * scale + wd * params[k];
      const v = mu * velocity[k] + g;
      velocity[k] = v;
      params[k] -= lr * (nesterov ? g + mu * v : v);
    }
  });
}

/** Options of {@link trainStandalone}. */
export interface TrainStandaloneOptions extends Omit<TrainSupernetOptions, 'mode' | 'alpha'> {
  /** Seed of the fresh initial parameters. */
  initSeed: number;
}

/**
 * Trains one architecture alone from fresh parameters: the ground truth of docs/algorithms/gm-nas.md §8.2 and the
 * stand-alone training of the final candidates (§7.2). The returned parameters are a full supernet
 * vector in which only the path's ops are meaningful.
 */
export function trainStandalone(
  spec: SupernetSpec,
  architecture: Architecture,
  samples: Samples,
  options: TrainStandaloneOptions,
): TrainSupernetResult {
  if (!(
    Array.isArray(architecture) &&
    architecture.length === spec.edges.length &&
    architecture.every((o, e) => Number.isInteger(o) && o >= 0 && o < spec.edges[e].ops.length)
  )) {
    throw new Error(`trainStandalone: architecture must pick one op index per edge, got ${JSON.stringify(architecture)}`);
  }
  const mask = spec.edges.map((edge, e) => edge.ops.map((_, o) => o === architecture[e]));
  return trainSupernet(spec, initialTrainingState(spec, options.initSeed), mask, samples, { ...options, mode: 'single-path' });
}

/** Options of {@link deriveArchitecture}. */
export interface DeriveOptions {
  /**
   * At most this many candidates are evaluated (default 200, docs/algorithms/gm-nas.md §7.1, RSPS): all the mask's
   * architectures when there are no more, otherwise this many distinct random connected ones.
   */
  maxCandidates?: number;
  /** `loss` (default; lower is better) or `accuracy` (higher is better; cross-entropy only). */
  metric?: 'loss' | 'accuracy';
  /** Seed of the candidate draws (default 0). */
  seed?: number;
}

/**
 * The architecture a (sub-)supernet proposes (docs/algorithms/gm-nas.md §7.1, RSPS rule): evaluate candidate single
 * paths inside its mask with the shared weights on `samples` (the selection split) and keep the
 * best; ties go to the earliest candidate (lexicographic order when all are evaluated). α-argmax
 * derivation (DARTS/SNAS) does not apply because α is not learned here.
 * @returns the best candidate and every evaluated one.
 */
export function deriveArchitecture(
  spec: SupernetSpec,
  params: Float32Array,
  mask: Mask,
  samples: Samples,
  options: DeriveOptions = {},
): { best: ArchitectureScore; evaluated: ArchitectureScore[] } {
  checkMask(spec, mask, 'deriveArchitecture');
  const max = options.maxCandidates ?? 200;
  if (!(Number.isInteger(max) && max >= 1)) throw new Error(`deriveArchitecture: maxCandidates must be a positive integer, got ${max}`);
  const metric = options.metric ?? 'loss';
  if (metric === 'accuracy' && spec.loss !== 'cross-entropy')
    throw new Error('deriveArchitecture: metric accuracy needs a cross-entropy supernet');
  const count = mask.reduce((n, _, e) => n * enabledOps(mask, e).length, 1);
  const rng = createRng(options.seed ?? 0);
  const candidates = count <= max ? architecturesInMask(mask) : distinctArchitectures(max, () => samplePath(spec, mask, rng));
  const evaluated = evaluateArchitectures(spec, params, candidates, samples, mask);
  // Higher is better; a diverged (NaN) estimate ranks last.
  const value = (c: ArchitectureScore): number => {
    const v = metric === 'loss' ? -c.loss : c.accuracy;
    return Number.isNaN(v) ? -Infinity : v;
  };
  let best = evaluated[0];
  for (const c of evaluated) if (value(c) > value(best)) best = c;
  return { best, evaluated };
}
