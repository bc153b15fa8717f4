import type { Dataset } from '../data/dataset';
import type { Evaluation, LocalTrainingOptions, LocalTrainingResult } from '../models/local-sgd';
import { parameterCount, type ModelArch, type ModelShape } from '../models/model';
import { createRng } from '../random';

// Bound once: a global lookup per call is slow in vm sandboxes such as jest's, and these run per row.
const { exp, log } = Math;

/**
 * The built-in softmax, MLP and CNN models of `models/model.ts`, hand-written on Float32Array parameters for the
 * simulator, where thousands of tiny local trainings (5 steps of 16 rows) make TF.js's per-call overhead
 * dominate (measured in `npm run bench -- simulate`; numbers in docs/results/fedau.md).
 *
 * Same model, loss and optimiser as {@link trainLocal} / {@link evaluate} in `models/model.ts`, step for step:
 * - parameter layout of `parameterShapes`: per layer the weight matrix (row-major, fan_in × fan_out), then its bias;
 * - softmax: logits = x W + b; MLP: logits = relu(x W1 + b1) W2 + b2 (relu'(0) = 0, as tf.relu's gradient);
 * - CNN: the TF.js LayersModel of `cnnLayers` (models/topology.ts), see {@link createCnnKernel};
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
  /** The mean cross-entropy over all of `data` and its gradient with respect to `params` (what one full-batch SGD step follows). */
  gradient(params: Float32Array, data: Dataset): { loss: number; gradient: Float64Array };
}

/**
 * One architecture's arithmetic, on the rows `idx[0..n)` of a dataset. `lossAndGradient` adds
 * `scale` · ∂loss_r/∂w of every row r into `grad` (all at the same w, so a minibatch step is exact) and
 * returns Σ_r loss_r; `loss` is the forward pass alone (counting correct predictions into `correct[0]`).
 */
interface Kernel {
  lossAndGradient(w: Float32Array, data: Dataset, idx: ArrayLike<number>, n: number, grad: Float64Array, scale: number): number;
  loss(w: Float32Array, data: Dataset, idx: ArrayLike<number>, n: number, correct: number[]): number;
}

/**
 * Builds the hand-written model for a shape (a `cnn` needs `shape.inputShape`, [height, width, channels]). The object
 * owns scratch buffers sized for the largest batch seen, so reuse one per model in a loop; it is not reentrant (one
 * per worker thread).
 * @throws as `parameterShapes` for a bad shape, and for a `layers` model (it trains with {@link trainLocal}).
 */
export function createFastModel(model: ModelArch, shape: ModelShape): FastModel {
  if (model.arch === 'layers') throw new Error('createFastModel: only softmax, mlp and cnn have a hand-written model, not layers');
  const size = parameterCount(model, shape);
  const f = shape.numFeatures;
  const c = shape.numClasses;
  const kernel =
    model.arch === 'cnn' ? createCnnKernel(model, shape, size) : createDenseKernel(f, c, model.arch === 'mlp' ? model.hidden : 0);
  const gradBuf = new Float64Array(size);

  const check = (where: string, params: Float32Array, data: Dataset): void => {
    if (params.length !== size) {
      throw new Error(`${where}: parameters have length ${params.length}, ${model.arch} on ${f}x${c} needs ${size}`);
    }
    if (data.numFeatures !== f || data.numClasses !== c) {
      throw new Error(`${where}: dataset is ${data.numFeatures}x${data.numClasses}, the model was built for ${f}x${c}`);
    }
    if (data.size === 0) throw new Error(`${where}: dataset is empty`);
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
      const rng = createRng(opts.seed);
      const order = Array.from({ length: data.size }, (_, i) => i);
      let cursor = data.size; // forces a shuffle before the first batch, as trainLocal
      const w = new Float32Array(global);
      const idx = new Int32Array(batch);
      const grad = gradBuf;
      const lr = opts.lr;
      let lossSum = 0;
      for (let step = 0; step < opts.steps; step++) {
        if (cursor + batch > data.size) {
          rng.shuffle(order);
          cursor = 0;
        }
        for (let r = 0; r < batch; r++) idx[r] = order[cursor + r];
        cursor += batch;
        grad.fill(0);
        lossSum += kernel.lossAndGradient(w, data, idx, batch, grad, 1 / batch) / batch;
        for (let i = 0; i < size; i++) w[i] -= lr * grad[i];
      }
      const delta = new Float32Array(size);
      for (let i = 0; i < size; i++) delta[i] = w[i] - global[i];
      return { delta, meanLoss: lossSum / opts.steps, examples: opts.steps * batch };
    },
    evaluate(params, data) {
      check('FastModel.evaluate', params, data);
      const idx = new Int32Array(EVAL_CHUNK);
      const correct = [0];
      let lossSum = 0;
      for (let start = 0; start < data.size; start += EVAL_CHUNK) {
        const n = Math.min(EVAL_CHUNK, data.size - start);
        for (let r = 0; r < n; r++) idx[r] = start + r;
        lossSum += kernel.loss(params, data, idx, n, correct);
      }
      return { accuracy: correct[0] / data.size, loss: lossSum / data.size };
    },
    gradient(params, data) {
      check('FastModel.gradient', params, data);
      const gradient = new Float64Array(size);
      const idx = new Int32Array(EVAL_CHUNK);
      let lossSum = 0;
      for (let start = 0; start < data.size; start += EVAL_CHUNK) {
        const n = Math.min(EVAL_CHUNK, data.size - start);
        for (let r = 0; r < n; r++) idx[r] = start + r;
        lossSum += kernel.lossAndGradient(params, data, idx, n, gradient, 1 / data.size);
      }
      return { loss: lossSum / data.size, gradient };
    },
  };
}

/** Rows per forward pass of an evaluation (bounds the scratch buffers whatever the split's size). */
const EVAL_CHUNK = 256;

/** softmax (h = 0) and MLP (h hidden units) on f features and c classes. */
function createDenseKernel(nFeatures: number, nClasses: number, nHidden: number): Kernel {
  // Scratch, grown on demand: per-row logits/probabilities and hidden activations of a batch.
  let rows = 0;
  let zBuf = new Float64Array(0); // rows × c
  let aBuf = new Float64Array(0); // rows × h (pre-activation, MLP)
  const dhBuf = new Float64Array(nHidden);
  const nzIndex = new Int32Array(nFeatures);
  const nzValue = new Float64Array(nFeatures);
  const ensure = (n: number): void => {
    if (n <= rows) return;
    rows = n;
    zBuf = new Float64Array(n * nClasses);
    aBuf = new Float64Array(n * nHidden);
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

  /** grad += scale · Σ_r ∂loss_r/∂w for the rows whose forward pass is in z / a. */
  const backward = (w: Float32Array, data: Dataset, idx: ArrayLike<number>, n: number, grad: Float64Array, scale: number): void => {
    const x = data.features;
    const labels = data.labels;
    const z = zBuf;
    const a = aBuf;
    const dh = dhBuf;
    const f = nFeatures;
    const c = nClasses;
    const h = nHidden;
    const inv = scale;
    for (let r = 0; r < n; r++) {
      const row = idx[r] * f;
      const zr = r * c;
      // scale · ∂loss_r/∂logits = scale · (p − onehot(y)), written over the probabilities.
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
  };

  return {
    lossAndGradient(w, data, idx, n, grad, scale) {
      ensure(n);
      const loss = forward(w, data, idx, n);
      backward(w, data, idx, n, grad, scale);
      return loss;
    },
    loss(w, data, idx, n, correct) {
      ensure(n);
      return forward(w, data, idx, n, correct);
    },
  };
}

/** TF.js 'same' padding of a window of `k` with stride `s` over `size` cells: the output size and the cells padded before the first. */
function samePadding(size: number, k: number, s: number): { out: number; before: number } {
  const out = Math.ceil(size / s);
  return { out, before: Math.floor(Math.max((out - 1) * s + k - size, 0) / 2) };
}

/**
 * The `cnn` of models/topology.ts (`cnnLayers`), as TF.js runs it: input [H, W, C] row-major (channels last);
 * conv1 (k×k, f₁ filters, stride 1, 'same' zero padding, bias, relu) → max-pool 2×2 stride 2 'same' (padding cells
 * ignored; the gradient goes to the first maximum of the window in row-major order, as TF.js's max-pool gradient) →
 * conv2 (f₂ filters, as conv1) → max-pool → flatten in (row, column, channel) order → dense (relu) → dense (logits).
 * Parameters in TF.js `getWeights()` order: conv kernels [k][k][in][out], dense kernels [in][out], each followed by
 * its bias. One example at a time: forward, then (for training) backward into the gradient, so the only scratch
 * is one example's activations.
 */
function createCnnKernel(spec: { filters: [number, number]; kernelSize: number; dense: number }, shape: ModelShape, size: number): Kernel {
  const inputShape = shape.inputShape;
  if (!inputShape || inputShape.length !== 3) {
    throw new Error(`createFastModel: cnn needs inputShape [height, width, channels], got [${(inputShape ?? []).join(', ')}]`);
  }
  const [H0, W0, C0] = inputShape;
  const [F1, F2] = spec.filters;
  const K = spec.kernelSize;
  const D = spec.dense;
  const C = shape.numClasses;
  const padK = samePadding(1, K, 1).before; // stride 1: floor((k − 1) / 2) before, the rest after
  const pool1H = samePadding(H0, 2, 2);
  const pool1W = samePadding(W0, 2, 2);
  const H1 = pool1H.out;
  const W1 = pool1W.out;
  const pool2H = samePadding(H1, 2, 2);
  const pool2W = samePadding(W1, 2, 2);
  const H2 = pool2H.out;
  const W2 = pool2W.out;
  const P = H2 * W2 * F2;
  // Parameter offsets.
  const k1 = 0;
  const b1 = k1 + K * K * C0 * F1;
  const k2 = b1 + F1;
  const b2 = k2 + K * K * F1 * F2;
  const kh = b2 + F2;
  const bh = kh + P * D;
  const ko = bh + D;
  const bo = ko + D * C;
  if (bo + C !== size) throw new Error(`createFastModel: cnn layout has ${bo + C} parameters, the model describes ${size}`);

  // One example's activations (float64) and their gradients.
  const a1 = new Float64Array(H0 * W0 * F1); // conv1 after relu
  const p1 = new Float64Array(H1 * W1 * F1); // pool1
  const m1 = new Int32Array(H1 * W1 * F1); // index into a1 of each pool1 maximum
  const a2 = new Float64Array(H1 * W1 * F2);
  const p2 = new Float64Array(P);
  const m2 = new Int32Array(P);
  const h = new Float64Array(D);
  const z = new Float64Array(C);
  const da1 = new Float64Array(a1.length);
  const dp1 = new Float64Array(p1.length);
  const da2 = new Float64Array(a2.length);
  const dp2 = new Float64Array(P);
  const dh = new Float64Array(D);
  const acc1 = new Float64Array(F1);
  const acc2 = new Float64Array(F2);

  /** out[y][x][o] = relu(b[o] + Σ in[y+dy−pad][x+dx−pad][i] · kernel[dy][dx][i][o]), 'same' zero padding. */
  const conv = (
    w: Float32Array,
    kOff: number,
    bOff: number,
    input: ArrayLike<number>,
    inOff: number,
    Hh: number,
    Ww: number,
    Cin: number,
    Cout: number,
    out: Float64Array,
    acc: Float64Array,
  ): void => {
    for (let y = 0; y < Hh; y++) {
      for (let x = 0; x < Ww; x++) {
        for (let o = 0; o < Cout; o++) acc[o] = w[bOff + o];
        for (let dy = 0; dy < K; dy++) {
          const iy = y + dy - padK;
          if (iy < 0 || iy >= Hh) continue;
          for (let dx = 0; dx < K; dx++) {
            const ix = x + dx - padK;
            if (ix < 0 || ix >= Ww) continue;
            const inBase = inOff + (iy * Ww + ix) * Cin;
            const kBase = kOff + (dy * K + dx) * Cin * Cout;
            for (let i = 0; i < Cin; i++) {
              const v = input[inBase + i];
              if (v === 0) continue;
              const kb = kBase + i * Cout;
              for (let o = 0; o < Cout; o++) acc[o] += v * w[kb + o];
            }
          }
        }
        const ob = (y * Ww + x) * Cout;
        for (let o = 0; o < Cout; o++) {
          const s = acc[o];
          out[ob + o] = s < 0 ? 0 : s; // relu (NaN passes through)
        }
      }
    }
  };

  /** Max-pool 2×2, stride 2, 'same': padding cells take no part; `arg` keeps the first maximum's index. */
  const pool = (
    input: Float64Array,
    Hh: number,
    Ww: number,
    Cc: number,
    ph: { out: number; before: number },
    pw: { out: number; before: number },
    out: Float64Array,
    arg: Int32Array,
  ): void => {
    for (let y = 0; y < ph.out; y++) {
      for (let x = 0; x < pw.out; x++) {
        const ob = (y * pw.out + x) * Cc;
        for (let ch = 0; ch < Cc; ch++) {
          let best = -Infinity;
          let at = -1;
          for (let dy = 0; dy < 2; dy++) {
            const iy = 2 * y + dy - ph.before;
            if (iy < 0 || iy >= Hh) continue;
            for (let dx = 0; dx < 2; dx++) {
              const ix = 2 * x + dx - pw.before;
              if (ix < 0 || ix >= Ww) continue;
              const j = (iy * Ww + ix) * Cc + ch;
              if (at < 0 || input[j] > best) {
                best = input[j];
                at = j;
              }
            }
          }
          out[ob + ch] = best;
          arg[ob + ch] = at;
        }
      }
    }
  };

  /** Forward pass of row `row`: fills the activations and z with the softmax probabilities; returns the cross-entropy and writes the argmax into `pred[0]`. */
  const forward = (w: Float32Array, x: Float32Array, row: number, y: number, pred: Int32Array): number => {
    conv(w, k1, b1, x, row * H0 * W0 * C0, H0, W0, C0, F1, a1, acc1);
    pool(a1, H0, W0, F1, pool1H, pool1W, p1, m1);
    conv(w, k2, b2, p1, 0, H1, W1, F1, F2, a2, acc2);
    pool(a2, H1, W1, F2, pool2H, pool2W, p2, m2);
    for (let d = 0; d < D; d++) h[d] = w[bh + d];
    for (let q = 0; q < P; q++) {
      const v = p2[q];
      if (v === 0) continue;
      const kb = kh + q * D;
      for (let d = 0; d < D; d++) h[d] += v * w[kb + d];
    }
    for (let d = 0; d < D; d++) if (h[d] < 0) h[d] = 0;
    for (let j = 0; j < C; j++) z[j] = w[bo + j];
    for (let d = 0; d < D; d++) {
      const v = h[d];
      if (v === 0) continue;
      const kb = ko + d * C;
      for (let j = 0; j < C; j++) z[j] += v * w[kb + j];
    }
    let max = z[0];
    let arg = 0;
    for (let j = 1; j < C; j++) {
      if (z[j] > max) {
        max = z[j];
        arg = j;
      }
    }
    pred[0] = arg;
    const shiftedY = z[y] - max;
    let sum = 0;
    for (let j = 0; j < C; j++) {
      const e = exp(z[j] - max);
      z[j] = e;
      sum += e;
    }
    for (let j = 0; j < C; j++) z[j] /= sum;
    return log(sum) - shiftedY;
  };

  /**
   * Gradient of a convolution's kernel and bias given dOut (already through the relu), and (when dIn is given) of
   * its input.
   */
  const convBackward = (
    w: Float32Array,
    grad: Float64Array,
    kOff: number,
    bOff: number,
    input: ArrayLike<number>,
    inOff: number,
    Hh: number,
    Ww: number,
    Cin: number,
    Cout: number,
    dOut: Float64Array,
    dIn: Float64Array | null,
  ): void => {
    if (dIn) dIn.fill(0);
    for (let y = 0; y < Hh; y++) {
      for (let x = 0; x < Ww; x++) {
        const ob = (y * Ww + x) * Cout;
        let any = false;
        for (let o = 0; o < Cout; o++) {
          const g = dOut[ob + o];
          if (g !== 0) {
            grad[bOff + o] += g;
            any = true;
          }
        }
        if (!any) continue;
        for (let dy = 0; dy < K; dy++) {
          const iy = y + dy - padK;
          if (iy < 0 || iy >= Hh) continue;
          for (let dx = 0; dx < K; dx++) {
            const ix = x + dx - padK;
            if (ix < 0 || ix >= Ww) continue;
            const inBase = inOff + (iy * Ww + ix) * Cin;
            const dBase = (iy * Ww + ix) * Cin;
            const kBase = kOff + (dy * K + dx) * Cin * Cout;
            for (let i = 0; i < Cin; i++) {
              const v = input[inBase + i];
              const kb = kBase + i * Cout;
              if (dIn) {
                let s = 0;
                if (v === 0) for (let o = 0; o < Cout; o++) s += w[kb + o] * dOut[ob + o];
                else
                  for (let o = 0; o < Cout; o++) {
                    const g = dOut[ob + o];
                    grad[kb + o] += v * g;
                    s += w[kb + o] * g;
                  }
                dIn[dBase + i] += s;
              } else if (v !== 0) {
                for (let o = 0; o < Cout; o++) grad[kb + o] += v * dOut[ob + o];
              }
            }
          }
        }
      }
    }
  };

  /** Backward pass of the example whose forward pass is in the activations: grad += scale · ∂loss/∂w. */
  const backward = (w: Float32Array, grad: Float64Array, x: Float32Array, row: number, y: number, scale: number): void => {
    // dz = scale · (p − onehot(y)), over z.
    for (let j = 0; j < C; j++) z[j] *= scale;
    z[y] -= scale;
    for (let j = 0; j < C; j++) grad[bo + j] += z[j];
    for (let d = 0; d < D; d++) {
      const v = h[d];
      const kb = ko + d * C;
      let s = 0;
      for (let j = 0; j < C; j++) {
        grad[kb + j] += v * z[j];
        s += w[kb + j] * z[j];
      }
      dh[d] = v > 0 ? s : 0; // relu'(0) = 0
    }
    for (let d = 0; d < D; d++) grad[bh + d] += dh[d];
    for (let q = 0; q < P; q++) {
      const v = p2[q];
      const kb = kh + q * D;
      let s = 0;
      for (let d = 0; d < D; d++) {
        grad[kb + d] += v * dh[d];
        s += w[kb + d] * dh[d];
      }
      dp2[q] = s;
    }
    da2.fill(0);
    for (let q = 0; q < P; q++) if (a2[m2[q]] > 0) da2[m2[q]] += dp2[q];
    convBackward(w, grad, k2, b2, p1, 0, H1, W1, F1, F2, da2, dp1);
    da1.fill(0);
    for (let q = 0; q < p1.length; q++) if (a1[m1[q]] > 0) da1[m1[q]] += dp1[q];
    convBackward(w, grad, k1, b1, x, row * H0 * W0 * C0, H0, W0, C0, F1, da1, null);
  };

  const pred = new Int32Array(1);
  return {
    lossAndGradient(w, data, idx, n, grad, scale) {
      let lossSum = 0;
      for (let r = 0; r < n; r++) {
        const row = idx[r];
        const y = data.labels[row];
        lossSum += forward(w, data.features, row, y, pred);
        backward(w, grad, data.features, row, y, scale);
      }
      return lossSum;
    },
    loss(w, data, idx, n, correct) {
      let lossSum = 0;
      for (let r = 0; r < n; r++) {
        const row = idx[r];
        const y = data.labels[row];
        lossSum += forward(w, data.features, row, y, pred);
        if (pred[0] === y) correct[0]++;
      }
      return lossSum;
    },
  };
}
