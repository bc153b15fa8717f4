import type { OpWeights } from './search-space';
import type { Samples } from './supernet';
import {
  CELL_EDGES,
  CELL_NODES,
  CELL_OPS,
  cellLayout,
  cellOpKernel,
  stageChannels,
  type CellLayout,
  type CellSpaceSpec,
} from './cell-space';

/**
 * Forward and backward passes of a cell-space network (docs/algorithms/gm-nas.md §2.2) on flat
 * Float32Arrays, for any op weights θ (edges × ops, shared by every cell): a one-hot row is a single
 * path (RSPS, stand-alone training), a softmax row the DARTS mixture, a Gumbel-softmax draw SNAS.
 * The backward pass gives ∂loss/∂parameters and ∂loss/∂θ (summed over the cells, which share θ).
 */

/** Where each block's parameters start in the flat vector. */
interface CellIndex {
  stem: { w: number };
  /** Per stage (undefined for stage 0). */
  reduce: ({ w: number } | undefined)[];
  /** `ops[cell][edge][op]`, undefined for ops without parameters. */
  ops: ({ w: number; seg: number } | undefined)[][][];
  head: { w: number; b: number };
  /** The segment indices of each cell op, in `ops` order, for marking what a pass touched. */
  layout: CellLayout;
}

const indexCache = new Map<string, CellIndex>();

function cellIndex(spec: CellSpaceSpec): CellIndex {
  const key = JSON.stringify([spec.height, spec.width, spec.inputChannels, spec.channels, spec.cellsPerStage, spec.stages, spec.classes]);
  const hit = indexCache.get(key);
  if (hit) return hit;
  const layout = cellLayout(spec);
  const cells = spec.stages * spec.cellsPerStage;
  const index: CellIndex = {
    stem: { w: -1 },
    reduce: Array.from({ length: spec.stages }, () => undefined),
    ops: Array.from({ length: cells }, () => CELL_EDGES.map(() => CELL_OPS.map(() => undefined))),
    head: { w: -1, b: -1 },
    layout,
  };
  layout.segments.forEach((s, i) => {
    if (s.owner === 'stem') index.stem.w = s.offset;
    else if (s.owner === 'head') index.head[s.role === 'weight' ? 'w' : 'b'] = s.offset;
    else if (s.owner === 'reduce') index.reduce[s.stage] = { w: s.offset };
    else index.ops[s.cell][s.edge][s.op] = { w: s.offset, seg: i };
  });
  indexCache.set(key, index);
  return index;
}

/** Options of {@link cellPass}. */
export interface CellPassOptions {
  /** When given, receives ∂(mean loss)/∂parameters (overwritten; zeros where the loss does not depend on them). */
  gradient?: Float32Array;
  /** When given, receives ∂(mean loss)/∂θ, edges × ops, summed over the cells; 0 for ops with θ = 0. */
  weightGradient?: number[][];
  /** When given, receives one flag per layout segment: whether this pass used it (ops with θ = 0 are not used). */
  used?: boolean[];
}

/** Result of {@link cellPass}. */
export interface CellPassResult {
  /** Mean softmax cross-entropy over the rows. */
  loss: number;
  /** Rows whose arg-max logit is the label. */
  correct: number;
}

/** Checks samples against the spec's image size and classes. */
export function checkCellSamples(spec: CellSpaceSpec, samples: Samples, where: string): void {
  const f = spec.height * spec.width * spec.inputChannels;
  if (!(Number.isInteger(samples.size) && samples.size >= 1)) throw new Error(`${where}: samples must hold at least one row`);
  if (samples.inputs.length !== samples.size * f)
    throw new Error(
      `${where}: ${samples.size} images of ${spec.inputChannels}×${spec.height}×${spec.width} need ${samples.size * f} values, got ${samples.inputs.length}`,
    );
  if (!(samples.targets instanceof Int32Array) || samples.targets.length !== samples.size)
    throw new Error(`${where}: targets must be ${samples.size} integer labels (Int32Array)`);
  for (const t of samples.targets)
    if (!(t >= 0 && t < spec.classes)) throw new Error(`${where}: label ${t} is outside [0, ${spec.classes})`);
}

/**
 * One forward pass over a batch, and the backward pass when a gradient is asked for. Parameters are
 * read at `params`; nothing is modified but the option buffers.
 */
export function cellPass(
  spec: CellSpaceSpec,
  params: Float32Array,
  weights: OpWeights,
  batch: Samples,
  options: CellPassOptions = {},
): CellPassResult {
  const index = cellIndex(spec);
  if (params.length !== index.layout.size)
    throw new Error(`cellPass: parameters have length ${params.length}, the network needs ${index.layout.size}`);
  checkCellWeights(weights, 'cellPass');
  const B = batch.size;
  const backward = options.gradient !== undefined || options.weightGradient !== undefined;
  const grad = options.gradient;
  if (grad) {
    if (grad.length !== params.length) throw new Error(`cellPass: gradient buffer has length ${grad.length}, needs ${params.length}`);
    grad.fill(0);
  }
  const dTheta = options.weightGradient;
  if (dTheta) for (const row of dTheta) row.fill(0);
  const used = options.used;
  if (used) {
    used.length = index.layout.segments.length;
    used.fill(true);
  }
  const scratch = backward ? (grad ?? new Float32Array(params.length)) : undefined;

  // ---- forward ----
  let H = spec.height;
  let W = spec.width;
  const x0 = toChannelMajor(batch.inputs, B, spec.inputChannels, H * W);
  const c0 = spec.channels;
  let h: Float32Array = new Float32Array(B * c0 * H * W);
  conv(x0, B, spec.inputChannels, H, W, params, index.stem.w, c0, 3, h);
  const stemInv = batchNorm(h, c0);
  const stemOut = h;
  const stemInput = { H, W };
  interface CellTrace {
    c: number;
    H: number;
    W: number;
    nodes: Float32Array[];
    /** relu of each edge's input, when a conv of the edge ran. */
    relu: (Float32Array | undefined)[];
    /** Outputs of each op before θ scaling (skip: its input node). */
    outs: (Float32Array | undefined)[][];
    /** 1 / σ per channel of each conv's batch norm. */
    inv: (Float64Array | undefined)[][];
  }
  const reduceTrace: ({ pooled: Float32Array; out: Float32Array; inv: Float64Array; Hin: number; Win: number } | undefined)[] = [];
  const cellTraces: CellTrace[] = [];
  let cell = 0;
  for (let stage = 0; stage < spec.stages; stage++) {
    const c = stageChannels(spec, stage);
    if (stage > 0) {
      const r = index.reduce[stage]!;
      const pooled = avgPool2(h, B, c / 2, H, W);
      const Hin = H;
      const Win = W;
      H /= 2;
      W /= 2;
      h = new Float32Array(B * c * H * W);
      conv(pooled, B, c / 2, H, W, params, r.w, c, 1, h);
      reduceTrace[stage] = { pooled, out: h, inv: batchNorm(h, c), Hin, Win };
    }
    for (let k = 0; k < spec.cellsPerStage; k++, cell++) {
      const n = B * c * H * W;
      const nodes = [h];
      for (let j = 1; j < CELL_NODES; j++) nodes.push(new Float32Array(n));
      const relu: (Float32Array | undefined)[] = CELL_EDGES.map(() => undefined);
      const outs: (Float32Array | undefined)[][] = CELL_EDGES.map(() => CELL_OPS.map(() => undefined));
      const inv: (Float64Array | undefined)[][] = CELL_EDGES.map(() => CELL_OPS.map(() => undefined));
      CELL_EDGES.forEach(([from, to], e) => {
        const input = nodes[from];
        const target = nodes[to];
        for (let o = 0; o < CELL_OPS.length; o++) {
          const theta = weights[e][o];
          const slot = index.ops[cell][e][o];
          if (!(theta !== 0) || CELL_OPS[o] === 'none') {
            if (used && slot) used[slot.seg] = false;
            continue;
          }
          let y: Float32Array;
          if (CELL_OPS[o] === 'skip') y = input;
          else if (CELL_OPS[o] === 'avgpool3x3') y = avgPool3(input, B, c, H, W);
          else {
            let r = relu[e];
            if (!r) {
              r = new Float32Array(n);
              for (let i = 0; i < n; i++) r[i] = input[i] > 0 ? input[i] : 0;
              relu[e] = r;
            }
            y = new Float32Array(n);
            conv(r, B, c, H, W, params, slot!.w, c, cellOpKernel(o), y);
            inv[e][o] = batchNorm(y, c);
          }
          outs[e][o] = y;
          for (let i = 0; i < n; i++) target[i] += theta * y[i];
        }
      });
      cellTraces.push({ c, H, W, nodes, relu, outs, inv });
      h = nodes[CELL_NODES - 1];
    }
  }
  // Head: ReLU, global average pooling, linear classifier, softmax cross-entropy.
  const cl = stageChannels(spec, spec.stages - 1);
  const hw = H * W;
  const K = spec.classes;
  const pooled = new Float64Array(B * cl);
  for (let b = 0; b < B; b++)
    for (let ch = 0; ch < cl; ch++) {
      let s = 0;
      const base = (ch * B + b) * hw;
      for (let i = 0; i < hw; i++) s += h[base + i] > 0 ? h[base + i] : 0;
      pooled[b * cl + ch] = s / hw;
    }
  const probs = new Float64Array(B * K);
  const labels = batch.targets as Int32Array;
  let loss = 0;
  let correct = 0;
  for (let b = 0; b < B; b++) {
    let max = -Infinity;
    let arg = 0;
    for (let k = 0; k < K; k++) {
      let z = params[index.head.b + k];
      for (let ch = 0; ch < cl; ch++) z += pooled[b * cl + ch] * params[index.head.w + ch * K + k];
      probs[b * K + k] = z;
      if (z > max) {
        max = z;
        arg = k;
      }
    }
    let sum = 0;
    for (let k = 0; k < K; k++) sum += probs[b * K + k] = Math.exp(probs[b * K + k] - max);
    for (let k = 0; k < K; k++) probs[b * K + k] /= sum;
    loss -= Math.log(Math.max(probs[b * K + labels[b]], 1e-30));
    if (arg === labels[b]) correct++;
  }
  loss /= B;
  if (!backward || !scratch) return { loss, correct };

  // ---- backward ----
  const g = scratch;
  const dh = new Float32Array(B * cl * hw);
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < K; k++) {
      const d = (probs[b * K + k] - (k === labels[b] ? 1 : 0)) / B;
      g[index.head.b + k] += d;
      for (let ch = 0; ch < cl; ch++) {
        g[index.head.w + ch * K + k] += pooled[b * cl + ch] * d;
        const dp = (params[index.head.w + ch * K + k] * d) / hw;
        const base = (ch * B + b) * hw;
        for (let i = 0; i < hw; i++) if (h[base + i] > 0) dh[base + i] += dp;
      }
    }
  }
  let dIn: Float32Array = dh;
  for (let stage = spec.stages - 1; stage >= 0; stage--) {
    for (let k = spec.cellsPerStage - 1; k >= 0; k--) {
      cell--;
      const t = cellTraces[cell];
      const n = B * t.c * t.H * t.W;
      const dNodes = [new Float32Array(n), new Float32Array(n), new Float32Array(n), dIn];
      const dy = new Float32Array(n);
      for (let e = CELL_EDGES.length - 1; e >= 0; e--) {
        const [from, to] = CELL_EDGES[e];
        const dOut = dNodes[to];
        let dRelu: Float32Array | undefined;
        for (let o = 0; o < CELL_OPS.length; o++) {
          const y = t.outs[e][o];
          if (!y) continue;
          const theta = weights[e][o];
          if (dTheta) {
            let s = 0;
            for (let i = 0; i < n; i++) s += dOut[i] * y[i];
            dTheta[e][o] += s;
          }
          for (let i = 0; i < n; i++) dy[i] = theta * dOut[i];
          const dFrom = dNodes[from];
          if (CELL_OPS[o] === 'skip') for (let i = 0; i < n; i++) dFrom[i] += dy[i];
          else if (CELL_OPS[o] === 'avgpool3x3') avgPool3Backward(dy, B, t.c, t.H, t.W, dFrom);
          else {
            const slot = index.ops[cell][e][o]!;
            dRelu ??= new Float32Array(n);
            const dConv = batchNormBackward(dy, y, t.inv[e][o]!, t.c);
            convBackward(t.relu[e]!, dConv, B, t.c, t.H, t.W, params, slot.w, t.c, cellOpKernel(o), g, slot.w, dRelu);
          }
        }
        if (dRelu) {
          const input = t.nodes[from];
          const dFrom = dNodes[from];
          for (let i = 0; i < n; i++) if (input[i] > 0) dFrom[i] += dRelu[i];
        }
      }
      dIn = dNodes[0];
    }
    if (stage > 0) {
      const r = index.reduce[stage]!;
      const tr = reduceTrace[stage]!;
      const c = stageChannels(spec, stage);
      const dPooled = new Float32Array(B * (c / 2) * (tr.Hin / 2) * (tr.Win / 2));
      const dConv = batchNormBackward(dIn, tr.out, tr.inv, c);
      convBackward(tr.pooled, dConv, B, c / 2, tr.Hin / 2, tr.Win / 2, params, r.w, c, 1, g, r.w, dPooled);
      dIn = avgPool2Backward(dPooled, B, c / 2, tr.Hin, tr.Win);
    }
  }
  const dStem = batchNormBackward(dIn, stemOut, stemInv, c0);
  convBackward(x0, dStem, B, spec.inputChannels, stemInput.H, stemInput.W, params, index.stem.w, c0, 3, g, index.stem.w, undefined);
  return { loss, correct };
}

/** Checks op weights: 6 rows of 5 finite numbers. */
export function checkCellWeights(weights: OpWeights, where: string): void {
  if (
    !Array.isArray(weights) ||
    weights.length !== CELL_EDGES.length ||
    !weights.every((row) => Array.isArray(row) && row.length === CELL_OPS.length && row.every((v) => Number.isFinite(v)))
  ) {
    throw new Error(`${where}: op weights need ${CELL_EDGES.length} rows of ${CELL_OPS.length} finite numbers`);
  }
}

/** Mean loss and accuracy of the network with op weights θ on all the samples, in chunks of 256 rows. */
export function evaluateCell(
  spec: CellSpaceSpec,
  params: Float32Array,
  weights: OpWeights,
  samples: Samples,
): { loss: number; accuracy: number } {
  checkCellSamples(spec, samples, 'evaluateCell');
  const f = spec.height * spec.width * spec.inputChannels;
  let loss = 0;
  let correct = 0;
  for (let start = 0; start < samples.size; start += 256) {
    const end = Math.min(samples.size, start + 256);
    const chunk: Samples = {
      inputs: samples.inputs.subarray(start * f, end * f),
      targets: samples.targets.subarray(start, end),
      size: end - start,
    };
    const r = cellPass(spec, params, weights, chunk);
    loss += r.loss * chunk.size;
    correct += r.correct;
  }
  return { loss: loss / samples.size, accuracy: correct / samples.size };
}

/**
 * The k × k patches of x as rows: `col[(ci, ky, kx)][(b, y, x)] = x[ci][b][y + ky − p][x + kx − p]`, 0 outside
 * the image (CNHW layout). For k = 1 the patches are x itself.
 */
function im2col(x: Float32Array, B: number, cin: number, H: number, W: number, k: number): Float32Array {
  if (k === 1) return x;
  const p = (k - 1) / 2;
  const hw = H * W;
  const N = B * hw;
  const col = new Float32Array(cin * k * k * N);
  for (let ci = 0; ci < cin; ci++)
    for (let ky = 0; ky < k; ky++) {
      const dy = ky - p;
      const y0 = Math.max(0, -dy);
      const y1 = Math.min(H, H - dy);
      for (let kx = 0; kx < k; kx++) {
        const dx = kx - p;
        const x0 = Math.max(0, -dx);
        const x1 = Math.min(W, W - dx);
        const rb = ((ci * k + ky) * k + kx) * N;
        for (let b = 0; b < B; b++) {
          const ib = ci * N + b * hw;
          const ob = rb + b * hw;
          for (let yy = y0; yy < y1; yy++) {
            const ro = ob + yy * W;
            const ri = ib + (yy + dy) * W + dx;
            for (let xx = x0; xx < x1; xx++) col[ro + xx] = x[ri + xx];
          }
        }
      }
    }
  return col;
}

/** Adds the patch gradients back onto the image (the adjoint of {@link im2col}). */
function col2imAdd(dcol: Float32Array, B: number, cin: number, H: number, W: number, k: number, dx: Float32Array): void {
  const p = (k - 1) / 2;
  const hw = H * W;
  const N = B * hw;
  for (let ci = 0; ci < cin; ci++)
    for (let ky = 0; ky < k; ky++) {
      const dy = ky - p;
      const y0 = Math.max(0, -dy);
      const y1 = Math.min(H, H - dy);
      for (let kx = 0; kx < k; kx++) {
        const ddx = kx - p;
        const x0 = Math.max(0, -ddx);
        const x1 = Math.min(W, W - ddx);
        const rb = ((ci * k + ky) * k + kx) * N;
        for (let b = 0; b < B; b++) {
          const ib = ci * N + b * hw;
          const ob = rb + b * hw;
          for (let yy = y0; yy < y1; yy++) {
            const ro = ob + yy * W;
            const ri = ib + (yy + dy) * W + ddx;
            for (let xx = x0; xx < x1; xx++) dx[ri + xx] += dcol[ro + xx];
          }
        }
      }
    }
}

/**
 * Same-size convolution without bias (batch norm follows) with zero padding (k − 1) / 2 and stride 1 on
 * CNHW tensors: out = w ∗ x,
 * weights `[out, in, k, k]`, computed as a product with the patch matrix so that the inner loops run over
 * the whole batch. `out` is overwritten.
 */
function conv(
  x: Float32Array,
  B: number,
  cin: number,
  H: number,
  W: number,
  w: Float32Array,
  wOff: number,
  cout: number,
  k: number,
  out: Float32Array,
): void {
  const N = B * H * W;
  const R = cin * k * k;
  const col = im2col(x, B, cin, H, W, k);
  // Four patch rows per sweep: a quarter of the loads and stores of `out` (about twice as fast in V8).
  for (let co = 0; co < cout; co++) {
    const ob = co * N;
    const wb = wOff + co * R;
    out.fill(0, ob, ob + N);
    let r = 0;
    for (; r + 4 <= R; r += 4) {
      const w0 = w[wb + r];
      const w1 = w[wb + r + 1];
      const w2 = w[wb + r + 2];
      const w3 = w[wb + r + 3];
      const c0 = r * N;
      const c1 = c0 + N;
      const c2 = c1 + N;
      const c3 = c2 + N;
      for (let i = 0; i < N; i++) out[ob + i] += w0 * col[c0 + i] + w1 * col[c1 + i] + w2 * col[c2 + i] + w3 * col[c3 + i];
    }
    for (; r < R; r++) {
      const wv = w[wb + r];
      const cb = r * N;
      for (let i = 0; i < N; i++) out[ob + i] += wv * col[cb + i];
    }
  }
}

/**
 * Backward of {@link conv}: adds ∂/∂w into g[gW…] and, when `dx` is given,
 * ∂/∂x into dx.
 */
function convBackward(
  x: Float32Array,
  dOut: Float32Array,
  B: number,
  cin: number,
  H: number,
  W: number,
  w: Float32Array,
  wOff: number,
  cout: number,
  k: number,
  g: Float32Array,
  gW: number,
  dx: Float32Array | undefined,
): void {
  const N = B * H * W;
  const R = cin * k * k;
  const col = im2col(x, B, cin, H, W, k);
  const dcol = dx ? (k === 1 ? dx : new Float32Array(R * N)) : undefined;
  for (let co = 0; co < cout; co++) {
    const ob = co * N;
    const gb = gW + co * R;
    let r = 0;
    for (; r + 4 <= R; r += 4) {
      const c0 = r * N;
      const c1 = c0 + N;
      const c2 = c1 + N;
      const c3 = c2 + N;
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      for (let i = 0; i < N; i++) {
        const d = dOut[ob + i];
        a0 += d * col[c0 + i];
        a1 += d * col[c1 + i];
        a2 += d * col[c2 + i];
        a3 += d * col[c3 + i];
      }
      g[gb + r] += a0;
      g[gb + r + 1] += a1;
      g[gb + r + 2] += a2;
      g[gb + r + 3] += a3;
    }
    for (; r < R; r++) {
      const cb = r * N;
      let acc = 0;
      for (let i = 0; i < N; i++) acc += dOut[ob + i] * col[cb + i];
      g[gb + r] += acc;
    }
  }
  if (dcol) {
    for (let r = 0; r < R; r++) {
      const cb = r * N;
      let co = 0;
      for (; co + 4 <= cout; co += 4) {
        const w0 = w[wOff + co * R + r];
        const w1 = w[wOff + (co + 1) * R + r];
        const w2 = w[wOff + (co + 2) * R + r];
        const w3 = w[wOff + (co + 3) * R + r];
        const o0 = co * N;
        const o1 = o0 + N;
        const o2 = o1 + N;
        const o3 = o2 + N;
        for (let i = 0; i < N; i++) dcol[cb + i] += w0 * dOut[o0 + i] + w1 * dOut[o1 + i] + w2 * dOut[o2 + i] + w3 * dOut[o3 + i];
      }
      for (; co < cout; co++) {
        const wv = w[wOff + co * R + r];
        const ob = co * N;
        for (let i = 0; i < N; i++) dcol[cb + i] += wv * dOut[ob + i];
      }
    }
  }
  if (dx && dcol && k !== 1) col2imAdd(dcol, B, cin, H, W, k, dx);
}

/**
 * Batch normalisation without affine parameters, over the batch and the pixels, with the batch's own statistics
 * in training and evaluation alike (NAS-Bench-201's search cells: affine = False, track_running_stats = False).
 * Normalises x (CNHW, c channels) in place and returns 1 / √(var + 1e-5) per channel.
 */
function batchNorm(x: Float32Array, c: number): Float64Array {
  const N = x.length / c;
  const inv = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) {
    const base = ch * N;
    let mean = 0;
    for (let i = 0; i < N; i++) mean += x[base + i];
    mean /= N;
    let v = 0;
    for (let i = 0; i < N; i++) v += (x[base + i] - mean) ** 2;
    inv[ch] = 1 / Math.sqrt(v / N + 1e-5);
    for (let i = 0; i < N; i++) x[base + i] = (x[base + i] - mean) * inv[ch];
  }
  return inv;
}

/** Backward of {@link batchNorm} from its output y: dx = inv · (dy − mean(dy) − y · mean(dy · y)) per channel. */
function batchNormBackward(dy: Float32Array, y: Float32Array, inv: Float64Array, c: number): Float32Array {
  const N = y.length / c;
  const dx = new Float32Array(y.length);
  for (let ch = 0; ch < c; ch++) {
    const base = ch * N;
    let m1 = 0;
    let m2 = 0;
    for (let i = 0; i < N; i++) {
      m1 += dy[base + i];
      m2 += dy[base + i] * y[base + i];
    }
    m1 /= N;
    m2 /= N;
    for (let i = 0; i < N; i++) dx[base + i] = inv[ch] * (dy[base + i] - m1 - y[base + i] * m2);
  }
  return dx;
}

/** Rows of `c × hw` values (NCHW) as CNHW, the layout every kernel here uses (no copy for one channel). */
function toChannelMajor(x: Float32Array, B: number, c: number, hw: number): Float32Array {
  if (c === 1) return x;
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++)
    for (let ch = 0; ch < c; ch++) out.set(x.subarray((b * c + ch) * hw, (b * c + ch + 1) * hw), (ch * B + b) * hw);
  return out;
}

/** 3×3 average pooling, stride 1, padding 1, averaging only the pixels inside the image (count_include_pad = False). */
function avgPool3(x: Float32Array, B: number, c: number, H: number, W: number): Float32Array {
  const out = new Float32Array(x.length);
  const hw = H * W;
  for (let m = 0; m < B * c; m++) {
    const base = m * hw;
    for (let y = 0; y < H; y++) {
      const ya = Math.max(0, y - 1);
      const yb = Math.min(H - 1, y + 1);
      for (let xx = 0; xx < W; xx++) {
        const xa = Math.max(0, xx - 1);
        const xb = Math.min(W - 1, xx + 1);
        let s = 0;
        for (let u = ya; u <= yb; u++) for (let v = xa; v <= xb; v++) s += x[base + u * W + v];
        out[base + y * W + xx] = s / ((yb - ya + 1) * (xb - xa + 1));
      }
    }
  }
  return out;
}

function avgPool3Backward(dOut: Float32Array, B: number, c: number, H: number, W: number, dx: Float32Array): void {
  const hw = H * W;
  for (let m = 0; m < B * c; m++) {
    const base = m * hw;
    for (let y = 0; y < H; y++) {
      const ya = Math.max(0, y - 1);
      const yb = Math.min(H - 1, y + 1);
      for (let xx = 0; xx < W; xx++) {
        const xa = Math.max(0, xx - 1);
        const xb = Math.min(W - 1, xx + 1);
        const d = dOut[base + y * W + xx] / ((yb - ya + 1) * (xb - xa + 1));
        for (let u = ya; u <= yb; u++) for (let v = xa; v <= xb; v++) dx[base + u * W + v] += d;
      }
    }
  }
}

/** 2×2 average pooling with stride 2 (H and W even). */
function avgPool2(x: Float32Array, B: number, c: number, H: number, W: number): Float32Array {
  const h2 = H / 2;
  const w2 = W / 2;
  const out = new Float32Array(B * c * h2 * w2);
  for (let m = 0; m < B * c; m++)
    for (let y = 0; y < h2; y++)
      for (let xx = 0; xx < w2; xx++) {
        const i = m * H * W + 2 * y * W + 2 * xx;
        out[(m * h2 + y) * w2 + xx] = (x[i] + x[i + 1] + x[i + W] + x[i + W + 1]) / 4;
      }
  return out;
}

function avgPool2Backward(dOut: Float32Array, B: number, c: number, H: number, W: number): Float32Array {
  const h2 = H / 2;
  const w2 = W / 2;
  const dx = new Float32Array(B * c * H * W);
  for (let m = 0; m < B * c; m++)
    for (let y = 0; y < h2; y++)
      for (let xx = 0; xx < w2; xx++) {
        const d = dOut[(m * h2 + y) * w2 + xx] / 4;
        const i = m * H * W + 2 * y * W + 2 * xx;
        dx[i] += d;
        dx[i + 1] += d;
        dx[i + W] += d;
        dx[i + W + 1] += d;
      }
  return dx;
}
