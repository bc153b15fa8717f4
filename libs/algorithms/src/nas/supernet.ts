import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data/dataset';
import type { Rng } from '../random';
import {
  checkMask,
  pathWeights,
  supernetLayout,
  type Architecture,
  type Mask,
  type OpWeights,
  type SupernetLayout,
  type SupernetSpec,
} from './search-space';

/**
 * The supernet on TensorFlow.js (docs/algorithms/gm-nas.md §2): the forward pass for any op weights θ
 * (single path = one-hot rows, mixture = fractional rows), the loss, and the gradient of the loss
 * with respect to the flat parameter vector. TF.js is used for the forward and backward passes
 * only; optimisers and the GM cosines run on Float32Arrays.
 */

/**
 * Rows of inputs with their targets: a dataset or one minibatch.
 * `targets` are integer class labels (Int32Array, one per row) for cross-entropy, or
 * `size × outputSize` real values (Float32Array, row-major) for mse.
 */
export interface Samples {
  /** Row-major, `size × inputSize`. */
  inputs: Float32Array;
  targets: Int32Array | Float32Array;
  size: number;
}

/** The rows of a labelled {@link Dataset} as samples for a cross-entropy supernet (no copy). */
export function samplesFromDataset(ds: Dataset): Samples {
  return { inputs: ds.features, targets: ds.labels, size: ds.size };
}

/** Checks samples against the supernet's input and target shapes; throws naming `where`. */
export function checkSamples(spec: SupernetSpec, samples: Samples, where: string): void {
  const { size } = samples;
  if (!(Number.isInteger(size) && size >= 1)) throw new Error(`${where}: samples must hold at least one row, got size ${size}`);
  if (samples.inputs.length !== size * spec.inputSize) {
    throw new Error(
      `${where}: inputs have ${samples.inputs.length} values, ${size} rows of ${spec.inputSize} need ${size * spec.inputSize}`,
    );
  }
  if (spec.loss === 'cross-entropy') {
    if (!(samples.targets instanceof Int32Array) || samples.targets.length !== size) {
      throw new Error(`${where}: cross-entropy needs ${size} integer labels (Int32Array) as targets`);
    }
  } else if (!(samples.targets instanceof Float32Array) || samples.targets.length !== size * spec.outputSize) {
    throw new Error(`${where}: mse needs ${size} × ${spec.outputSize} real targets (Float32Array)`);
  }
}

/** The rows at `indices`, copied. */
export function sampleRows(spec: SupernetSpec, samples: Samples, indices: ArrayLike<number>): Samples {
  const f = spec.inputSize;
  const t = spec.loss === 'cross-entropy' ? 1 : spec.outputSize;
  const inputs = new Float32Array(indices.length * f);
  const targets = samples.targets instanceof Int32Array ? new Int32Array(indices.length * t) : new Float32Array(indices.length * t);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    inputs.set(samples.inputs.subarray(i * f, (i + 1) * f), k * f);
    targets.set(samples.targets.subarray(i * t, (i + 1) * t), k * t);
  }
  return { inputs, targets, size: indices.length };
}

/**
 * `count` independent minibatches of `batchSize` distinct rows each, drawn uniformly (docs/algorithms/gm-nas.md §3.2:
 * a fresh random minibatch per GM batch). A batch size above the sample count takes every row.
 */
export function randomBatches(spec: SupernetSpec, samples: Samples, count: number, batchSize: number, rng: Rng): Samples[] {
  checkSamples(spec, samples, 'randomBatches');
  if (!(Number.isInteger(count) && count >= 1)) throw new Error(`randomBatches: count must be a positive integer, got ${count}`);
  if (!(Number.isInteger(batchSize) && batchSize >= 1))
    throw new Error(`randomBatches: batchSize must be a positive integer, got ${batchSize}`);
  const b = Math.min(batchSize, samples.size);
  const order = Array.from({ length: samples.size }, (_, i) => i);
  const out: Samples[] = [];
  for (let r = 0; r < count; r++) {
    // Partial Fisher–Yates: the first b entries become a uniform sample without replacement.
    for (let i = 0; i < b; i++) {
      const j = i + rng.int(samples.size - i);
      const t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    out.push(sampleRows(spec, samples, order.slice(0, b)));
  }
  return out;
}

/** Checks op weights: one row per edge, one finite non-negative value per op, none on a disabled op. */
export function checkOpWeights(spec: SupernetSpec, weights: OpWeights, where: string, mask?: Mask): void {
  if (!Array.isArray(weights) || weights.length !== spec.edges.length)
    throw new Error(`${where}: op weights need one row per edge (${spec.edges.length})`);
  weights.forEach((row, e) => {
    if (!Array.isArray(row) || row.length !== spec.edges[e].ops.length || !row.every((v) => Number.isFinite(v) && v >= 0)) {
      throw new Error(`${where}: op weights row ${e} must hold ${spec.edges[e].ops.length} finite non-negative numbers`);
    }
    if (mask && row.some((v, o) => v > 0 && !mask[e][o])) throw new Error(`${where}: op weights row ${e} puts weight on a disabled op`);
  });
}

/**
 * Which parameter segments the loss depends on for these op weights: the readout always; an op's
 * parameters when its weight is > 0 and the node it feeds reaches the readout through active,
 * non-`zero` ops; the stem when node 0 reaches the readout. TF.js refuses gradients with respect to
 * tensors the loss does not depend on, and the optimiser must leave such parameters alone.
 */
export function connectedSegments(spec: SupernetSpec, layout: SupernetLayout, weights: OpWeights): boolean[] {
  const reachesOut = nodesReachingOutput(spec, weights);
  return layout.segments.map((s) => {
    switch (s.owner) {
      case 'readout':
        return true;
      case 'stem':
        return reachesOut[0];
      case 'op':
        return weights[s.edge][s.op] > 0 && reachesOut[spec.edges[s.edge].to];
    }
  });
}

/** Which cell nodes feed the readout through ops with weight > 0 that are not `zero`. */
function nodesReachingOutput(spec: SupernetSpec, weights: OpWeights): boolean[] {
  const reaches = new Array<boolean>(spec.nodes).fill(false);
  reaches[spec.nodes - 1] = true;
  const order = spec.edges.map((_, e) => e).sort((a, b) => spec.edges[b].to - spec.edges[a].to);
  for (const e of order) {
    const edge = spec.edges[e];
    if (reaches[edge.to] && edge.ops.some((op, o) => weights[e][o] > 0 && op.kind !== 'zero')) reaches[edge.from] = true;
  }
  return reaches;
}

/** Constant matrices of `fixed` ops, converted once per spec. */
const fixedCache = new WeakMap<SupernetSpec, Map<string, Float32Array>>();

function fixedMatrix(spec: SupernetSpec, e: number, o: number): Float32Array {
  let cache = fixedCache.get(spec);
  if (!cache) fixedCache.set(spec, (cache = new Map<string, Float32Array>()));
  const key = `${e}/${o}`;
  let m = cache.get(key);
  if (!m) {
    const op = spec.edges[e].ops[o];
    m = Float32Array.from(op.kind === 'fixed' ? op.matrix : []);
    cache.set(key, m);
  }
  return m;
}

/**
 * The supernet's outputs (logits or regression values) for a batch. `params[s]` is the tensor of
 * segment s (only connected segments are read). Call inside tf.tidy.
 */
function forward(
  spec: SupernetSpec,
  layout: SupernetLayout,
  params: (tf.Tensor | undefined)[],
  weights: OpWeights,
  x: tf.Tensor2D,
): tf.Tensor2D {
  const opWeight = new Map<string, tf.Tensor2D>();
  const opBias = new Map<string, tf.Tensor1D>();
  const own: Record<'stem' | 'readout', { weight?: tf.Tensor2D; bias?: tf.Tensor1D }> = { stem: {}, readout: {} };
  layout.segments.forEach((s, i) => {
    const t = params[i];
    if (!t) return;
    if (s.owner === 'op') {
      if (s.role === 'weight') opWeight.set(`${s.edge}/${s.op}`, t as tf.Tensor2D);
      else opBias.set(`${s.edge}/${s.op}`, t as tf.Tensor1D);
    } else if (s.role === 'weight') own[s.owner].weight = t as tf.Tensor2D;
    else own[s.owner].bias = t as tf.Tensor1D;
  });
  const w = spec.width;
  // Only nodes that feed the readout are computed, so exactly the connected segments are read.
  const needed = nodesReachingOutput(spec, weights);
  const nodes: (tf.Tensor2D | undefined)[] = new Array<tf.Tensor2D | undefined>(spec.nodes).fill(undefined);
  if (needed[0]) nodes[0] = spec.stem ? tf.add<tf.Tensor2D>(tf.matMul(x, own.stem.weight!), own.stem.bias!) : x;
  const order = spec.edges.map((_, e) => e).sort((a, b) => spec.edges[a].to - spec.edges[b].to);
  for (const e of order) {
    const edge = spec.edges[e];
    if (!needed[edge.to]) continue;
    // A node without active inputs is zero (its outgoing ops still add their biases).
    const h = nodes[edge.from] ?? tf.zeros<tf.Rank.R2>([x.shape[0], w]);
    edge.ops.forEach((op, o) => {
      const theta = weights[e][o];
      if (!(theta > 0) || op.kind === 'zero') return;
      let y: tf.Tensor2D;
      switch (op.kind) {
        case 'skip':
          y = h;
          break;
        case 'fixed':
          y = tf.matMul(h, tf.tensor2d(fixedMatrix(spec, e, o), [w, w]));
          break;
        case 'linear':
        case 'relu-linear':
        case 'tanh-linear': {
          const wt = opWeight.get(`${e}/${o}`);
          const b = opBias.get(`${e}/${o}`);
          if (!wt || !b) throw new Error(`GM-NAS forward: parameters of edge ${e} op ${o} are missing`);
          const a = op.kind === 'linear' ? h : op.kind === 'relu-linear' ? tf.relu(h) : tf.tanh(h);
          y = tf.add<tf.Tensor2D>(tf.matMul(a, wt), b);
          break;
        }
      }
      if (theta !== 1) y = tf.mul<tf.Tensor2D>(y, theta);
      const prev = nodes[edge.to];
      nodes[edge.to] = prev ? tf.add<tf.Tensor2D>(prev, y) : y;
    });
  }
  const last = nodes[spec.nodes - 1] ?? tf.zeros<tf.Rank.R2>([x.shape[0], w]);
  const out = tf.matMul<tf.Tensor2D>(last, own.readout.weight!);
  return spec.readoutBias ? tf.add<tf.Tensor2D>(out, own.readout.bias!) : out;
}

function lossOf(spec: SupernetSpec, out: tf.Tensor2D, y: tf.Tensor): tf.Scalar {
  return spec.loss === 'cross-entropy' ? tf.losses.softmaxCrossEntropy(y, out) : tf.losses.meanSquaredError(y, out);
}

function targetTensor(spec: SupernetSpec, batch: Samples): tf.Tensor {
  return spec.loss === 'cross-entropy'
    ? tf.tidy(() => tf.oneHot(tf.tensor1d(batch.targets as Int32Array, 'int32'), spec.outputSize))
    : tf.tensor2d(batch.targets as Float32Array, [batch.size, spec.outputSize]);
}

/**
 * A supernet with its parameters uploaded once, for many gradient evaluations at fixed parameters
 * (GM scoring, docs/algorithms/gm-nas.md §3.2). Internal: call {@link SupernetSession.dispose} when done.
 */
export class SupernetSession {
  readonly layout: SupernetLayout;

  private readonly tensors: (tf.Tensor | undefined)[];

  /**
   * @param only upload only these segments (e.g. the connected ones of a single path); the
   *   others must not be needed by the op weights used later.
   */
  constructor(
    readonly spec: SupernetSpec,
    params: Float32Array,
    only?: readonly boolean[],
    layout?: SupernetLayout,
  ) {
    this.layout = layout ?? supernetLayout(spec);
    if (params.length !== this.layout.size) {
      throw new Error(`GM-NAS supernet: parameters have length ${params.length}, the supernet needs ${this.layout.size}`);
    }
    this.tensors = this.layout.segments.map((s, i) =>
      only && !only[i] ? undefined : tf.tensor(params.subarray(s.offset, s.offset + s.size), s.shape, 'float32'),
    );
  }

  /** Uploads a batch; dispose the returned tensors. */
  upload(batch: Samples): { x: tf.Tensor2D; y: tf.Tensor } {
    return { x: tf.tensor2d(batch.inputs, [batch.size, this.spec.inputSize]), y: targetTensor(this.spec, batch) };
  }

  /**
   * Loss and gradient for one batch; the gradient is written into `into` (length = parameter
   * count), with zeros for the parameters the loss does not depend on.
   * @returns the loss and, per segment, whether it is connected to the loss.
   */
  gradient(weights: OpWeights, x: tf.Tensor2D, y: tf.Tensor, into: Float32Array): { loss: number; connected: boolean[] } {
    const connected = connectedSegments(this.spec, this.layout, weights);
    const used = connected.flatMap((c, i) => (c ? [i] : []));
    into.fill(0);
    const loss = tf.tidy(() => {
      const { value, grads } = tf.valueAndGrads((...xs: tf.Tensor[]) => {
        const p: (tf.Tensor | undefined)[] = this.layout.segments.map(() => undefined);
        used.forEach((s, k) => (p[s] = xs[k]));
        return lossOf(this.spec, forward(this.spec, this.layout, p, weights, x), y);
      })(used.map((s) => this.tensor(s)));
      used.forEach((s, k) => into.set(grads[k].dataSync(), this.layout.segments[s].offset));
      return value.dataSync()[0];
    });
    return { loss, connected };
  }

  /** Mean loss and (for cross-entropy) accuracy of the given op weights on a batch. */
  evaluate(weights: OpWeights, x: tf.Tensor2D, y: tf.Tensor): { loss: number; accuracy: number } {
    return tf.tidy(() => {
      const connected = connectedSegments(this.spec, this.layout, weights);
      const p = this.layout.segments.map((_, i) => (connected[i] ? this.tensor(i) : undefined));
      const out = forward(this.spec, this.layout, p, weights, x);
      const loss = lossOf(this.spec, out, y).dataSync()[0];
      if (this.spec.loss !== 'cross-entropy') return { loss, accuracy: NaN };
      const correct = tf.sum(tf.cast(tf.equal(tf.argMax(out, 1), tf.argMax(y, 1)), 'float32')).dataSync()[0];
      return { loss, accuracy: correct / x.shape[0] };
    });
  }

  private tensor(segment: number): tf.Tensor {
    const t = this.tensors[segment];
    if (!t) throw new Error(`GM-NAS supernet: segment ${segment} was not uploaded`);
    return t;
  }

  dispose(): void {
    this.tensors.forEach((t) => t?.dispose());
  }
}

/**
 * Loss and gradient of the supernet on one batch for the given op weights θ (single path or
 * mixture). Parameters the loss does not depend on (ops off the path, or cut off by `zero` ops)
 * get a zero gradient and `connected[s] = false` for their segment.
 */
export function supernetGradient(
  spec: SupernetSpec,
  params: Float32Array,
  weights: OpWeights,
  batch: Samples,
): { loss: number; gradient: Float32Array; connected: boolean[] } {
  checkOpWeights(spec, weights, 'supernetGradient');
  checkSamples(spec, batch, 'supernetGradient');
  const session = new SupernetSession(spec, params);
  const { x, y } = session.upload(batch);
  try {
    const gradient = new Float32Array(params.length);
    const { loss, connected } = session.gradient(weights, x, y, gradient);
    return { loss, gradient, connected };
  } finally {
    tf.dispose([x, y]);
    session.dispose();
  }
}

/** Mean loss and accuracy (NaN for mse) of the supernet with op weights θ on all the samples. */
export function evaluateSupernet(
  spec: SupernetSpec,
  params: Float32Array,
  weights: OpWeights,
  samples: Samples,
): { loss: number; accuracy: number } {
  checkOpWeights(spec, weights, 'evaluateSupernet');
  checkSamples(spec, samples, 'evaluateSupernet');
  const session = new SupernetSession(spec, params);
  const { x, y } = session.upload(samples);
  try {
    return session.evaluate(weights, x, y);
  } finally {
    tf.dispose([x, y]);
    session.dispose();
  }
}

/** One architecture's estimated quality. */
export interface ArchitectureScore {
  architecture: Architecture;
  loss: number;
  /** NaN for mse supernets. */
  accuracy: number;
}

/**
 * Evaluates single-path architectures with the shared weights (docs/algorithms/gm-nas.md §7.1, RSPS rule: the
 * supernet's estimate of each candidate). All architectures must lie inside `mask` when one is given.
 */
export function evaluateArchitectures(
  spec: SupernetSpec,
  params: Float32Array,
  architectures: Architecture[],
  samples: Samples,
  mask?: Mask,
): ArchitectureScore[] {
  checkSamples(spec, samples, 'evaluateArchitectures');
  if (mask) checkMask(spec, mask, 'evaluateArchitectures');
  architectures.forEach((a, k) => {
    if (
      !Array.isArray(a) ||
      a.length !== spec.edges.length ||
      !a.every((o, e) => Number.isInteger(o) && o >= 0 && o < spec.edges[e].ops.length)
    ) {
      throw new Error(`evaluateArchitectures: architecture ${k} must pick one op index per edge, got ${JSON.stringify(a)}`);
    }
    if (mask && !a.every((o, e) => mask[e][o]))
      throw new Error(`evaluateArchitectures: architecture ${JSON.stringify(a)} is outside the mask`);
  });
  const session = new SupernetSession(spec, params);
  const { x, y } = session.upload(samples);
  try {
    return architectures.map((architecture) => ({ architecture, ...session.evaluate(pathWeights(spec, architecture), x, y) }));
  } finally {
    tf.dispose([x, y]);
    session.dispose();
  }
}
