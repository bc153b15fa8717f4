import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data/dataset';
import { createRng } from '../random';

/** The local optimiser of every model (docs/algorithms/fedau.md §3.1), and the options and results of local training. */

export interface LocalTrainingOptions {
  /** Local SGD steps I (docs/algorithms/fedau.md §3.1; default there 5). */
  steps: number;
  /** Minibatch size b (default there 16). A dataset smaller than b trains on all of it each step. */
  batchSize: number;
  /** Local learning rate η. */
  lr: number;
  /**
   * Heavy-ball momentum μ in [0, 1) (default 0: plain SGD): v ← μ·v + g, w ← w − η·v, v starting at 0 each round
   * (PyTorch's SGD without dampening, and TF.js's momentum optimizer).
   */
  momentum?: number;
  /** L2 weight decay λ ≥ 0 (default 0) on every parameter, biases included: g ← ∇L + λ·w (PyTorch's SGD). */
  weightDecay?: number;
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

export interface Evaluation {
  accuracy: number;
  loss: number;
}

/** Tensors of `shapes` viewing consecutive slices of `flat` (the caller disposes them). */
export function unflatten(flat: Float32Array, shapes: number[][]): tf.Tensor[] {
  const tensors: tf.Tensor[] = [];
  let offset = 0;
  for (const s of shapes) {
    const size = s.reduce((a, b) => a * b, 1);
    tensors.push(tf.tensor(flat.subarray(offset, offset + size), s, 'float32'));
    offset += size;
  }
  return tensors;
}

/**
 * The local optimiser shared by every model: `steps` minibatch steps of SGD on `vars` from `forward` (examples →
 * logits), then Δ = vars − their values before. `x` holds all examples (first dimension: the example).
 */
export function sgdLoop(
  vars: tf.Variable[],
  x: tf.Tensor,
  data: Dataset,
  opts: LocalTrainingOptions,
  forward: (xb: tf.Tensor) => tf.Tensor,
): LocalTrainingResult {
  const momentum = opts.momentum ?? 0;
  const weightDecay = opts.weightDecay ?? 0;
  const batch = Math.min(opts.batchSize, data.size);
  const rng = createRng(opts.seed);
  const order = Array.from({ length: data.size }, (_, i) => i);
  let cursor = data.size; // forces a shuffle before the first batch
  const start = vars.map((v) => v.dataSync().slice() as Float32Array);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(data.labels, 'int32'), data.numClasses));
  // Plain SGD keeps TF.js's sgd optimiser (the numbers softmax and mlp have always produced); momentum and weight
  // decay are applied here rather than by tf.train.momentum, whose dispose() leaks its learning-rate scalar.
  const plain = momentum === 0 && weightDecay === 0;
  const optimizer = plain ? tf.train.sgd(opts.lr) : null;
  const velocity: tf.Tensor[] = plain ? [] : vars.map((v) => tf.zerosLike(v));
  let lossSum = 0;
  try {
    for (let step = 0; step < opts.steps; step++) {
      if (cursor + batch > data.size) {
        rng.shuffle(order);
        cursor = 0;
      }
      const idx = tf.tensor1d(order.slice(cursor, cursor + batch), 'int32');
      cursor += batch;
      const f = (): tf.Scalar => {
        const xb = tf.gather(x, idx);
        const yb = tf.gather(y, idx);
        const loss: tf.Scalar = tf.losses.softmaxCrossEntropy(yb, forward(xb));
        return loss;
      };
      let loss: tf.Scalar;
      if (optimizer) {
        loss = optimizer.minimize(f, true, vars)!;
      } else {
        const { value, grads } = tf.variableGrads(f, vars);
        vars.forEach((v, k) => {
          const next = tf.tidy(() => {
            // g ← ∇L + λ·w; v ← μ·v + g; w ← w − η·v.
            const g = weightDecay === 0 ? grads[v.name] : tf.add(grads[v.name], tf.mul(v, weightDecay));
            return momentum === 0 ? g : tf.add(tf.mul(velocity[k], momentum), g);
          });
          velocity[k].dispose();
          velocity[k] = next;
          tf.tidy(() => v.assign(tf.sub(v, tf.mul(next, opts.lr))));
        });
        tf.dispose(grads);
        loss = value;
      }
      lossSum += loss.dataSync()[0];
      loss.dispose();
      idx.dispose();
    }
    const delta = new Float32Array(start.reduce((n, s) => n + s.length, 0));
    let offset = 0;
    vars.forEach((v, k) => {
      const values = v.dataSync() as Float32Array;
      const before = start[k];
      for (let i = 0; i < values.length; i++) delta[offset + i] = values[i] - before[i];
      offset += values.length;
    });
    return { delta, meanLoss: lossSum / opts.steps, examples: opts.steps * batch };
  } finally {
    optimizer?.dispose();
    tf.dispose(velocity);
    y.dispose();
  }
}
