import type { Dataset } from '../data/dataset';
import { createRng, type Rng } from '../random';
import type { BilevelProblem } from './problem';

// Module-level copies: global lookups are slow inside vm sandboxes such as jest's, and these run per sample.
const { exp, log } = Math;

/**
 * Data hyper-cleaning (Franceschi et al. 2017; docs/algorithms/bilevel.md §12.1) with a multinomial logistic
 * (softmax-regression) model and hand-written gradients in Float64Array loops:
 *
 *   x ∈ R^n: one logit per training sample, weight σ(x_i) (sigmoid); x₀ = 0 (weight ½)
 *   g(x, w) = (1/n) Σ_i σ(x_i)·CE(w; a_i, ỹ_i) + (C/2)‖w‖²      on the corrupted training set
 *   f(x, w) = (1/m) Σ_j CE(w; a_j, y_j)                           on a clean validation set
 *
 * Parameters w use the layout of the `softmax` model in `models/model.ts`: the F×K weight matrix (row-major,
 * fan_in × fan_out) followed by the K biases, so a result can be evaluated or served by the platform's model code.
 */

/** The softmax-regression parameter count (F + 1)·K. */
export function softmaxParameterCount(numFeatures: number, numClasses: number): number {
  return (numFeatures + 1) * numClasses;
}

/** Row-major features as float64, once, for the hot loops. */
function features64(ds: Dataset): Float64Array {
  return Float64Array.from(ds.features);
}

/**
 * Σ_i weight_i·CE_i over the rows `rows` (all when null) of X, with optional gradient accumulation:
 * grad += Σ_i weight_i ∂CE_i/∂w and loss_i written to `perSample` (indexed by row). Returns the weighted sum.
 */
function softmaxLoss(
  w: Float64Array,
  X: Float64Array,
  labels: Int32Array,
  F: number,
  K: number,
  rows: ArrayLike<number> | null,
  weight: (i: number, slot: number) => number,
  grad: Float64Array | null,
  perSample: Float64Array | null,
): number {
  const bias = F * K;
  const z = new Float64Array(K);
  const count = rows ? rows.length : labels.length;
  let total = 0;
  for (let t = 0; t < count; t++) {
    const i = rows ? rows[t] : t;
    const row = i * F;
    for (let c = 0; c < K; c++) z[c] = w[bias + c];
    for (let j = 0; j < F; j++) {
      const a = X[row + j];
      if (a === 0) continue;
      const off = j * K;
      for (let c = 0; c < K; c++) z[c] += a * w[off + c];
    }
    let max = -Infinity;
    for (let c = 0; c < K; c++) if (z[c] > max) max = z[c];
    let sum = 0;
    for (let c = 0; c < K; c++) {
      z[c] = exp(z[c] - max);
      sum += z[c];
    }
    const label = labels[i];
    const ce = log(sum) - log(z[label]);
    if (perSample) perSample[i] = ce;
    const wi = weight(i, t);
    total += wi * ce;
    if (grad && wi !== 0) {
      // ∂CE/∂logit_c = p_c − [c = label]; z now holds exp(logit − max).
      for (let c = 0; c < K; c++) z[c] = (wi * z[c]) / sum;
      z[label] -= wi;
      for (let c = 0; c < K; c++) grad[bias + c] += z[c];
      for (let j = 0; j < F; j++) {
        const a = X[row + j];
        if (a === 0) continue;
        const off = j * K;
        for (let c = 0; c < K; c++) grad[off + c] += a * z[c];
      }
    }
  }
  return total;
}

function sigmoid(v: number): number {
  return v >= 0 ? 1 / (1 + exp(-v)) : exp(v) / (1 + exp(v));
}

/** Options of {@link createHyperCleaningProblem}. */
export interface HyperCleaningOptions {
  /** L2 weight C of the lower level on all parameters, default 1e-3 (docs/algorithms/bilevel.md §12.1, §14 item 10). */
  l2?: number;
  /**
   * Minibatch size of the training-set oracles (∇g), default: full batch (as the V-PBGD setup). A batch
   * is drawn with replacement from the oracle's `sample`, so one sample gives one batch at every point.
   */
  trainBatch?: number;
  /** Minibatch size of the validation oracle (∇f), default: full batch. */
  validationBatch?: number;
}

/**
 * The hyper-cleaning bilevel problem on a (corrupted) training set and a clean validation set with the same
 * features and classes. dim(x) = n (unconstrained), dim(y) = (F + 1)·K (unconstrained). ∇_x f = 0; the x-part of
 * ∇g is σ'(x_i)·CE_i/n, computed in the same pass as ∇_w g.
 */
export function createHyperCleaningProblem(train: Dataset, validation: Dataset, options: HyperCleaningOptions = {}): BilevelProblem {
  const where = 'createHyperCleaningProblem';
  if (train.numFeatures !== validation.numFeatures || train.numClasses !== validation.numClasses) {
    throw new Error(
      `${where}: train (${train.numFeatures} features, ${train.numClasses} classes) and validation (${validation.numFeatures}, ${validation.numClasses}) differ`,
    );
  }
  if (train.size === 0 || validation.size === 0) throw new Error(`${where}: train and validation must be non-empty`);
  if (train.numClasses < 2) throw new Error(`${where}: need at least 2 classes, got ${train.numClasses}`);
  const l2 = options.l2 ?? 1e-3;
  if (!(l2 >= 0 && l2 < Infinity)) throw new Error(`${where}: l2 must be finite and >= 0, got ${l2}`);
  for (const [name, b] of [
    ['trainBatch', options.trainBatch],
    ['validationBatch', options.validationBatch],
  ] as const) {
    if (b !== undefined && !(Number.isInteger(b) && b >= 1)) throw new Error(`${where}: ${name} must be a positive integer, got ${b}`);
  }
  const F = train.numFeatures;
  const K = train.numClasses;
  const n = train.size;
  const m = validation.size;
  const Xt = features64(train);
  const Xv = features64(validation);
  const dimY = softmaxParameterCount(F, K);
  const ceTrain = new Float64Array(n);
  const sig = new Float64Array(n);
  const batch = (size: number | undefined, total: number, sample: number): Int32Array | null => {
    if (size === undefined || size >= total) return null;
    const rng = createRng(sample);
    return Int32Array.from({ length: size }, () => rng.int(total));
  };
  const sqNorm = (w: Float64Array): number => {
    let s = 0;
    for (let i = 0; i < w.length; i++) s += w[i] * w[i];
    return s;
  };
  return {
    dimX: n,
    dimY,
    setX: { kind: 'none' },
    setY: { kind: 'none' },
    f: (_x, w) => softmaxLoss(w, Xv, validation.labels, F, K, null, () => 1 / m, null, null),
    g: (x, w) => softmaxLoss(w, Xt, train.labels, F, K, null, (i) => sigmoid(x[i]) / n, null, null) + 0.5 * l2 * sqNorm(w),
    gradF: (_x, w, gx, gy, sample) => {
      if (gx) gx.fill(0);
      if (!gy) return;
      gy.fill(0);
      const rows = batch(options.validationBatch, m, sample);
      const scale = 1 / (rows ? rows.length : m);
      softmaxLoss(w, Xv, validation.labels, F, K, rows, () => scale, gy, null);
    },
    gradG: (x, w, gx, gy, sample) => {
      const rows = batch(options.trainBatch, n, sample);
      // Each drawn row stands for n/b rows of the mean, so its weight is σ(x_i)/b (unbiased for (1/n)Σ).
      const scale = 1 / (rows ? rows.length : n);
      for (let i = 0; i < n; i++) sig[i] = sigmoid(x[i]);
      if (gy) gy.fill(0);
      if (gx) gx.fill(0);
      if (rows) {
        softmaxLoss(w, Xt, train.labels, F, K, rows, (i) => sig[i] * scale, gy, ceTrain);
        if (gx) for (let t = 0; t < rows.length; t++) gx[rows[t]] += sig[rows[t]] * (1 - sig[rows[t]]) * ceTrain[rows[t]] * scale;
      } else {
        softmaxLoss(w, Xt, train.labels, F, K, null, (i) => sig[i] * scale, gy, gx ? ceTrain : null);
        if (gx) for (let i = 0; i < n; i++) gx[i] = sig[i] * (1 - sig[i]) * ceTrain[i] * scale;
      }
      if (gy) for (let i = 0; i < dimY; i++) gy[i] += l2 * w[i];
    },
  };
}

/**
 * Corrupts a fraction of the labels to a uniformly drawn WRONG class (issue #5; the V-PBGD code draws from all
 * classes, so about 1/K of its "corrupted" labels stay right, docs/algorithms/bilevel.md §14 item 10). Exactly round(fraction·n) rows, chosen
 * by a seeded shuffle. Returns a new dataset and the flags clean[i] = 1 for rows whose label was kept.
 */
export function corruptLabels(ds: Dataset, fraction: number, rng: Rng): { data: Dataset; clean: Uint8Array } {
  if (!(fraction >= 0 && fraction <= 1)) throw new Error(`corruptLabels: fraction must be in [0, 1], got ${fraction}`);
  if (ds.numClasses < 2) throw new Error(`corruptLabels: need at least 2 classes, got ${ds.numClasses}`);
  const order = rng.shuffle(Array.from({ length: ds.size }, (_, i) => i));
  const count = Math.round(fraction * ds.size);
  const labels = Int32Array.from(ds.labels);
  const clean = new Uint8Array(ds.size).fill(1);
  for (let t = 0; t < count; t++) {
    const i = order[t];
    labels[i] = (labels[i] + 1 + rng.int(ds.numClasses - 1)) % ds.numClasses;
    clean[i] = 0;
  }
  return { data: { ...ds, labels }, clean };
}

/** Options of {@link trainSoftmaxRegression}. */
export interface SoftmaxTrainingOptions {
  /** Per-row weights (mean over rows of weight_i·CE_i); default all 1. */
  weights?: ArrayLike<number>;
  /** L2 weight C on all parameters, default 1e-3. */
  l2?: number;
  /** Full-batch Nesterov steps, default 3000. */
  steps?: number;
  /** Step size, default 0.5 (stable for features in [0, 1] and up to ~100 of them). */
  stepSize?: number;
}

/**
 * Fits softmax regression by full-batch Nesterov-accelerated gradient descent from zero on
 * (1/n) Σ weight_i·CE_i + (C/2)‖w‖² (the lower-level problem of docs/algorithms/bilevel.md §12.1 for fixed sample weights). Used for the
 * reference models: training on all (corrupted) data and on the clean subset only.
 */
export function trainSoftmaxRegression(ds: Dataset, options: SoftmaxTrainingOptions = {}): Float64Array {
  const where = 'trainSoftmaxRegression';
  if (ds.size === 0) throw new Error(`${where}: dataset is empty`);
  const l2 = options.l2 ?? 1e-3;
  const steps = options.steps ?? 3000;
  const lr = options.stepSize ?? 0.5;
  if (!(l2 >= 0) || !(Number.isInteger(steps) && steps >= 0) || !(lr > 0))
    throw new Error(`${where}: need l2 >= 0, integer steps >= 0, stepSize > 0; got ${l2}, ${steps}, ${lr}`);
  const weights = options.weights;
  if (weights && weights.length !== ds.size) throw new Error(`${where}: weights has length ${weights.length}, expected ${ds.size}`);
  const F = ds.numFeatures;
  const K = ds.numClasses;
  const X = features64(ds);
  const d = softmaxParameterCount(F, K);
  const n = ds.size;
  let w = new Float64Array(d);
  const v = new Float64Array(d);
  const grad = new Float64Array(d);
  for (let t = 0; t < steps; t++) {
    grad.fill(0);
    softmaxLoss(v, X, ds.labels, F, K, null, weights ? (i) => weights[i] / n : () => 1 / n, grad, null);
    const next = new Float64Array(d);
    for (let i = 0; i < d; i++) next[i] = v[i] - lr * (grad[i] + l2 * v[i]);
    const mom = t / (t + 3);
    for (let i = 0; i < d; i++) v[i] = next[i] + mom * (next[i] - w[i]);
    w = next;
  }
  return w;
}

/** Fraction of rows whose arg-max class under softmax-regression parameters `w` equals the label. */
export function softmaxRegressionAccuracy(w: ArrayLike<number>, ds: Dataset): number {
  const F = ds.numFeatures;
  const K = ds.numClasses;
  if (w.length !== softmaxParameterCount(F, K))
    throw new Error(`softmaxRegressionAccuracy: parameters have length ${w.length}, expected ${softmaxParameterCount(F, K)}`);
  if (ds.size === 0) throw new Error('softmaxRegressionAccuracy: dataset is empty');
  const bias = F * K;
  let correct = 0;
  const z = new Float64Array(K);
  for (let i = 0; i < ds.size; i++) {
    for (let c = 0; c < K; c++) z[c] = w[bias + c];
    for (let j = 0; j < F; j++) {
      const a = ds.features[i * F + j];
      if (a !== 0) for (let c = 0; c < K; c++) z[c] += a * w[j * K + c];
    }
    let best = 0;
    for (let c = 1; c < K; c++) if (z[c] > z[best]) best = c;
    if (best === ds.labels[i]) correct++;
  }
  return correct / ds.size;
}

/** Quality of the cleaner that keeps sample i iff x_i ≥ 0 (weight σ(x_i) ≥ ½), with "clean" as the positive class. */
export interface CleanerMetrics {
  precision: number;
  recall: number;
  f1: number;
  /** Fraction of samples kept. */
  keptFraction: number;
}

/**
 * Precision, recall and F1 of the cleaner "keep i iff x_i ≥ 0" against the true flags (docs/algorithms/bilevel.md §12.1), positive class =
 * clean. Precision is 0 when nothing is kept; F1 is 0 when precision + recall = 0.
 */
export function cleanerMetrics(x: ArrayLike<number>, clean: ArrayLike<number>): CleanerMetrics {
  if (x.length !== clean.length || x.length === 0)
    throw new Error(`cleanerMetrics: x and clean must have the same non-zero length, got ${x.length} and ${clean.length}`);
  let tp = 0;
  let kept = 0;
  let positives = 0;
  for (let i = 0; i < x.length; i++) {
    const keep = x[i] >= 0;
    if (keep) kept++;
    if (clean[i]) positives++;
    if (keep && clean[i]) tp++;
  }
  const precision = kept ? tp / kept : 0;
  const recall = positives ? tp / positives : 0;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1, keptFraction: kept / x.length };
}
