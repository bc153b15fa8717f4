import type { Dataset } from '../data/dataset';
import type { Evaluation, LocalTrainingOptions, LocalTrainingResult } from '../models/local-sgd';
import { parameterCount, type ModelArch, type ModelShape } from '../models/model';
import { createRng } from '../random';

// Bound once: a global lookup per call is slow in vm sandboxes such as jest's, and these run per row.
const { exp, log } = Math;

/**
 * The built-in softmax and MLP models of `models/model.ts`, hand-written on Float32Array parameters for the
 * simulator, where thousands of tiny local trainings (5 steps of 16 rows) make TF.js's per-call overhead
 * dominate (measured in `npm run bench -- simulate`; numbers in docs/results/fedau.md).
 *
 * Same model, loss and optimiser as {@link trainLocal} / {@link evaluate} in `models/model.ts`, step for step:
 * - parameter layout of `parameterShapes`: per layer the weight matrix (row-major, fan_in × fan_out), then its bias;
 * - softmax: logits = x W + b; MLP: logits = relu(x W1 + b1) W2 + b2 (relu'(0) = 0, as tf.relu's gradient);
 * - loss: mean softmax cross-entropy over the minibatch (tf.losses.softmaxCrossEntropy's default reduction);
 * - plain SGD, minibatches from a `createRng(seed)` permutation reshuffled when fewer than b rows are left,
 *   a batch of min(b, size) rows; the reported loss is each step's loss before its update, averaged.
 * Parameters are float32 as in TF.js; sums run in float64, so results agree with TF.js to float32 rounding
 * (checked in fast-model.spec.ts), not bit for bit.
 */
export interface FastModel {
  readonly model: ModelArch;
  readonly shape: ModelShape;
  /** Number of parameters d. */
  readonly size: number;
  /** As {@link trainLocal}: I steps of minibatch SGD from `global`; returns Δ = y − global. */
  train(global: Float32Array, data: Dataset, opts: LocalTrainingOptions): LocalTrainingResult;
  /** As {@link evaluate}: accuracy (first maximum wins ties, as tf.argMax) and mean cross-entropy. */
  evaluate(params: Float32Array, data: Dataset): Evaluation;
}

/**
 * Builds the hand-written model for a shape. The object owns scratch buffers sized for the largest batch seen,
 * so reuse one per model in a loop; it is not reentrant (one per worker thread).
 * @throws as `parameterShapes` for a bad shape, and for a model other than `softmax` and `mlp` (the others train
 * with {@link trainLocal}).
 */
export function createFastModel(model: ModelArch, shape: ModelShape): FastModel {
  if (model.arch !== 'softmax' && model.arch !== 'mlp') {
    throw new Error(`createFastModel: only softmax and mlp have a hand-written model, not ${model.arch}`);
  }
  const size = parameterCount(model, shape);
  const nParams = size;
  const nFeatures = shape.numFeatures;
  const nClasses = shape.numClasses;
  const nHidden = model.arch === 'mlp' ? model.hidden : 0;
  const f = nFeatures;
  const c = nClasses;
  // Scratch, grown on demand: per-row logits/probabilities and hidden activations of a batch, and the gradient.
  let rows = 0;
  let zBuf = new Float64Array(0); // rows × c
  let aBuf = new Float64Array(0); // rows × h (pre-activation, MLP)
  const gradBuf = new Float64Array(size);
  const dhBuf = new Float64Array(nHidden);
  const nzIndex = new Int32Array(nFeatures);
  const nzValue = new Float64Array(nFeatures);
  const ensure = (n: number): void => {
    if (n <= rows) return;
    rows = n;
    zBuf = new Float64Array(n * nClasses);
    aBuf = new Float64Array(n * nHidden);
  };

  const check = (where: string, params: Float32Array, data: Dataset): void => {
    if (params.length !== size) {
      throw new Error(`${where}: parameters have length ${params.length}, ${model.arch} on ${f}x${c} needs ${size}`);
    }
    if (data.numFeatures !== f || data.numClasses !== c) {
      throw new Error(`${where}: dataset is ${data.numFeatures}x${data.numClasses}, the model was built for ${f}x${c}`);
    }
    if (data.size === 0) throw new Error(`${where}: dataset is empty`);
  };

  /**
   * Forward pass of rows idx[0..n) into z (logits, then softmax probabilities in place) and a (MLP
   * hidden activations after the relu). Returns the summed cross-entropy; counts correct predictions into `correct[0]` if given.
   */
  const forward = (w: Float32Array, data: Dataset, idx: ArrayLike<number>, n: number, correct?: number[]): number => {
    // Locals rather than the closure's variables: V8 then keeps the arrays and sizes in registers.
    const x = data.features;
    const labels = data.labels;
    const z = zBuf;
    const a = aBuf;
    const f = nFeatures;
    const c = nClasses;
    const h = nHidden;
    const nzI = nzIndex;
    const nzV = nzValue;
    let lossSum = 0;
    for (let r = 0; r < n; r++) {
      const row = idx[r] * f;
      const zr = r * c;
      // The row's non-zero features (exact: a zero adds nothing; digits are about half zeros).
      let m = 0;
      for (let i = 0; i < f; i++) {
        const xi = x[row + i];
        if (xi !== 0) {
          nzI[m] = i;
          nzV[m++] = xi;
        }
      }
      // Each output accumulates in a register (one store per output, not per term).
      if (h === 0) {
        const bOff = f * c;
        for (let j = 0; j < c; j++) {
          let sum = w[bOff + j];
          for (let q = 0; q < m; q++) sum += nzV[q] * w[nzI[q] * c + j];
          z[zr + j] = sum;
        }
      } else {
        const b1 = f * h;
        const w2 = b1 + h;
        const b2 = w2 + h * c;
        const ar = r * h;
        for (let k = 0; k < h; k++) {
          let sum = w[b1 + k];
          for (let q = 0; q < m; q++) sum += nzV[q] * w[nzI[q] * h + k];
          a[ar + k] = sum < 0 ? 0 : sum; // relu (NaN passes through, as in tf.relu)
        }
        for (let j = 0; j < c; j++) {
          let sum = w[b2 + j];
          for (let k = 0; k < h; k++) sum += a[ar + k] * w[w2 + k * c + j];
          z[zr + j] = sum;
        }
      }
      // Softmax and cross-entropy, shifted by the max for stability.
      let max = z[zr];
      let arg = 0;
      for (let j = 1; j < c; j++) {
        if (z[zr + j] > max) {
          max = z[zr + j];
          arg = j;
        }
      }
      const y = labels[idx[r]];
      if (correct && arg === y) correct[0]++;
      const shiftedY = z[zr + y] - max;
      let sum = 0;
      for (let j = 0; j < c; j++) {
        const e = exp(z[zr + j] - max);
        z[zr + j] = e;
        sum += e;
      }
      lossSum += log(sum) - shiftedY; // −log softmax_y = log Σ e^(z_j − max) − (z_y − max)
      for (let j = 0; j < c; j++) z[zr + j] /= sum;
    }
    return lossSum;
  };

  /** grad ← ∂(mean loss)/∂w for the batch whose forward pass is in z / a; then w −= lr · grad. */
  const backwardAndStep = (w: Float32Array, data: Dataset, idx: ArrayLike<number>, n: number, lr: number): void => {
    const x = data.features;
    const labels = data.labels;
    const z = zBuf;
    const a = aBuf;
    const grad = gradBuf;
    const dh = dhBuf;
    const f = nFeatures;
    const c = nClasses;
    const h = nHidden;
    const size = nParams;
    grad.fill(0);
    const inv = 1 / n;
    for (let r = 0; r < n; r++) {
      const row = idx[r] * f;
      const zr = r * c;
      // ∂loss_r/∂logits = (p − onehot(y)) / n, written over the probabilities.
      for (let j = 0; j < c; j++) z[zr + j] *= inv;
      z[zr + labels[idx[r]]] -= inv;
      if (h === 0) {
        const bOff = f * c;
        for (let j = 0; j < c; j++) grad[bOff + j] += z[zr + j];
        for (let i = 0; i < f; i++) {
          const xi = x[row + i];
          if (xi === 0) continue;
          const gOff = i * c;
          for (let j = 0; j < c; j++) grad[gOff + j] += xi * z[zr + j];
        }
      } else {
        const b1 = f * h;
        const w2 = b1 + h;
        const b2 = w2 + h * c;
        const ar = r * h;
        for (let j = 0; j < c; j++) grad[b2 + j] += z[zr + j];
        for (let k = 0; k < h; k++) {
          const hk = a[ar + k];
          if (!(hk > 0)) {
            dh[k] = 0;
            continue;
          }
          const off = w2 + k * c;
          let s = 0;
          for (let j = 0; j < c; j++) {
            grad[off + j] += hk * z[zr + j];
            s += w[off + j] * z[zr + j];
          }
          dh[k] = s;
        }
        for (let k = 0; k < h; k++) grad[b1 + k] += dh[k];
        for (let i = 0; i < f; i++) {
          const xi = x[row + i];
          if (xi === 0) continue;
          const gOff = i * h;
          for (let k = 0; k < h; k++) grad[gOff + k] += xi * dh[k];
        }
      }
    }
    for (let i = 0; i < size; i++) w[i] -= lr * grad[i];
  };

  return {
    model,
    shape,
    size,
    train(global, data, opts) {
      check('FastModel.train', global, data);
      if (!Number.isInteger(opts.steps) || opts.steps < 1)
        throw new Error(`FastModel.train: steps must be a positive integer, got ${opts.steps}`);
      if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) {
        throw new Error(`FastModel.train: batchSize must be a positive integer, got ${opts.batchSize}`);
      }
      if (!(opts.lr > 0)) throw new Error(`FastModel.train: lr must be positive, got ${opts.lr}`);
      if ((opts.momentum ?? 0) !== 0 || (opts.weightDecay ?? 0) !== 0) {
        throw new Error('FastModel.train: plain SGD only (momentum and weightDecay 0); use trainLocal for the others');
      }
      const batch = Math.min(opts.batchSize, data.size);
      ensure(batch);
      const rng = createRng(opts.seed);
      const order = Array.from({ length: data.size }, (_, i) => i);
      let cursor = data.size; // forces a shuffle before the first batch, as trainLocal
      const w = new Float32Array(global);
      const idx = new Int32Array(batch);
      let lossSum = 0;
      for (let step = 0; step < opts.steps; step++) {
        if (cursor + batch > data.size) {
          rng.shuffle(order);
          cursor = 0;
        }
        for (let r = 0; r < batch; r++) idx[r] = order[cursor + r];
        cursor += batch;
        lossSum += forward(w, data, idx, batch) / batch;
        backwardAndStep(w, data, idx, batch, opts.lr);
      }
      const delta = new Float32Array(size);
      for (let i = 0; i < size; i++) delta[i] = w[i] - global[i];
      return { delta, meanLoss: lossSum / opts.steps, examples: opts.steps * batch };
    },
    evaluate(params, data) {
      check('FastModel.evaluate', params, data);
      const CHUNK = 256;
      ensure(Math.min(CHUNK, data.size));
      const idx = new Int32Array(CHUNK);
      const correct = [0];
      let lossSum = 0;
      for (let start = 0; start < data.size; start += CHUNK) {
        const n = Math.min(CHUNK, data.size - start);
        for (let r = 0; r < n; r++) idx[r] = start + r;
        lossSum += forward(params, data, idx, n, correct);
      }
      return { accuracy: correct[0] / data.size, loss: lossSum / data.size };
    },
  };
}
