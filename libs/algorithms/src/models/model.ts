import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data/dataset';
import { createRng } from '../random';

/**
 * The built-in model architectures, as flat float32 parameter vectors so that the coordinator can
 * aggregate them without knowing their structure. Layout: for each layer, the weight matrix
 * (row-major, fan_in × fan_out) followed by its bias.
 */
export type ModelArch = { arch: 'softmax' } | { arch: 'mlp'; hidden: number };

export interface ModelShape {
  numFeatures: number;
  numClasses: number;
}

/** Shapes of the parameter tensors in flat-vector order. */
export function parameterShapes(model: ModelArch, shape: ModelShape): number[][] {
  const { numFeatures: f, numClasses: c } = shape;
  if (!Number.isInteger(f) || f < 1 || !Number.isInteger(c) || c < 2) {
    throw new Error(`model: shape needs numFeatures >= 1 and numClasses >= 2, got ${f} and ${c}`);
  }
  switch (model.arch) {
    case 'softmax':
      return [[f, c], [c]];
    case 'mlp':
      return [[f, model.hidden], [model.hidden], [model.hidden, c], [c]];
  }
}

export function parameterCount(model: ModelArch, shape: ModelShape): number {
  return parameterShapes(model, shape).reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
}

/**
 * Deterministic initial parameters: Kaiming-normal weights (std = sqrt(2 / fan_in)) and zero biases,
 * as in the FedAU reference models (docs/algorithms/fedau.md §6.4).
 */
export function initialParameters(model: ModelArch, shape: ModelShape, seed: number): Float32Array {
  const shapes = parameterShapes(model, shape);
  const out = new Float32Array(parameterCount(model, shape));
  const rng = createRng(seed);
  let offset = 0;
  for (const s of shapes) {
    const size = s.reduce((a, b) => a * b, 1);
    if (s.length === 2) {
      const std = Math.sqrt(2 / s[0]);
      for (let i = 0; i < size; i++) out[offset + i] = rng.normal() * std;
    }
    offset += size;
  }
  return out;
}

function unflatten(flat: Float32Array, shapes: number[][]): tf.Tensor[] {
  const tensors: tf.Tensor[] = [];
  let offset = 0;
  for (const s of shapes) {
    const size = s.reduce((a, b) => a * b, 1);
    tensors.push(tf.tensor(flat.subarray(offset, offset + size), s, 'float32'));
    offset += size;
  }
  return tensors;
}

function logits(model: ModelArch, params: tf.Tensor[], x: tf.Tensor2D): tf.Tensor2D {
  switch (model.arch) {
    case 'softmax':
      return tf.add(tf.matMul(x, params[0] as tf.Tensor2D), params[1]);
    case 'mlp': {
      const h = tf.relu(tf.add(tf.matMul(x, params[0] as tf.Tensor2D), params[1])) as tf.Tensor2D;
      return tf.add(tf.matMul(h, params[2] as tf.Tensor2D), params[3]);
    }
  }
}

function checkInputs(where: string, model: ModelArch, data: Dataset, flat: Float32Array): ModelShape {
  const shape = { numFeatures: data.numFeatures, numClasses: data.numClasses };
  const expected = parameterCount(model, shape);
  if (flat.length !== expected) {
    throw new Error(
      `${where}: parameters have length ${flat.length}, ${model.arch} on ${data.numFeatures}x${data.numClasses} needs ${expected}`,
    );
  }
  if (data.size === 0) throw new Error(`${where}: dataset is empty`);
  return shape;
}

export interface LocalTrainingOptions {
  /** Local SGD steps I (docs/algorithms/fedau.md §3.1; default there 5). */
  steps: number;
  /** Minibatch size b (default there 16). A dataset smaller than b trains on all of it each step. */
  batchSize: number;
  /** Local learning rate η; plain SGD, no momentum, no weight decay. */
  lr: number;
  /** Seed of the minibatch order. */
  seed: number;
}

export interface LocalTrainingResult {
  /** Δ = y − x_t, the update the coordinator aggregates. */
  delta: Float32Array;
  /** Mean cross-entropy over the minibatches seen. */
  meanLoss: number;
  /** Number of examples processed (steps × batch). */
  examples: number;
}

/**
 * Runs I steps of plain minibatch SGD from `global` on `data` (docs/algorithms/fedau.md §3.1): batches follow a
 * seeded permutation, reshuffled when an epoch ends, with a short last batch dropped.
 */
export function trainLocal(model: ModelArch, global: Float32Array, data: Dataset, opts: LocalTrainingOptions): LocalTrainingResult {
  const shape = checkInputs('trainLocal', model, data, global);
  if (!Number.isInteger(opts.steps) || opts.steps < 1) throw new Error(`trainLocal: steps must be a positive integer, got ${opts.steps}`);
  if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1)
    throw new Error(`trainLocal: batchSize must be a positive integer, got ${opts.batchSize}`);
  if (!(opts.lr > 0)) throw new Error(`trainLocal: lr must be positive, got ${opts.lr}`);
  const shapes = parameterShapes(model, shape);
  const batch = Math.min(opts.batchSize, data.size);
  const rng = createRng(opts.seed);
  const order = Array.from({ length: data.size }, (_, i) => i);
  let cursor = data.size; // forces a shuffle before the first batch

  const initial = unflatten(global, shapes);
  const vars = initial.map((t) => tf.variable(t));
  initial.forEach((t) => t.dispose());
  const x = tf.tensor2d(data.features, [data.size, data.numFeatures]);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(data.labels, 'int32'), shape.numClasses));
  const optimizer = tf.train.sgd(opts.lr);
  let lossSum = 0;
  try {
    for (let step = 0; step < opts.steps; step++) {
      if (cursor + batch > data.size) {
        rng.shuffle(order);
        cursor = 0;
      }
      const idx = tf.tensor1d(order.slice(cursor, cursor + batch), 'int32');
      cursor += batch;
      const loss = optimizer.minimize(
        () => {
          const xb: tf.Tensor2D = tf.gather(x, idx);
          const yb = tf.gather(y, idx);
          const loss: tf.Scalar = tf.losses.softmaxCrossEntropy(yb, logits(model, vars, xb));
          return loss;
        },
        true,
        vars,
      );
      lossSum += loss!.dataSync()[0];
      loss!.dispose();
      idx.dispose();
    }
    const delta = new Float32Array(global.length);
    let offset = 0;
    for (const v of vars) {
      const values = v.dataSync() as Float32Array;
      for (let i = 0; i < values.length; i++) delta[offset + i] = values[i] - global[offset + i];
      offset += values.length;
    }
    return { delta, meanLoss: lossSum / opts.steps, examples: opts.steps * batch };
  } finally {
    optimizer.dispose();
    vars.forEach((v) => v.dispose());
    x.dispose();
    y.dispose();
  }
}

export interface Evaluation {
  accuracy: number;
  loss: number;
}

/** Accuracy and mean cross-entropy of the model on a whole dataset. */
export function evaluate(model: ModelArch, params: Float32Array, data: Dataset): Evaluation {
  const shape = checkInputs('evaluate', model, data, params);
  return tf.tidy(() => {
    const tensors = unflatten(params, parameterShapes(model, shape));
    const x = tf.tensor2d(data.features, [data.size, data.numFeatures]);
    const out = logits(model, tensors, x);
    const labels = tf.tensor1d(data.labels, 'int32');
    const loss = tf.losses.softmaxCrossEntropy(tf.oneHot(labels, shape.numClasses), out).dataSync()[0];
    const correct = tf.sum(tf.cast(tf.equal(tf.argMax(out, 1), labels), 'float32')).dataSync()[0];
    return { accuracy: correct / data.size, loss };
  });
}
