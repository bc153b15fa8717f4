/**
 * The hot loops of server-side aggregation, used by the rules in `rules.ts` (and `allFinite` by the update
 * checks in `updates.ts` and the simulators). Internal to the library (not exported from `src/index.ts`).
 *
 * Why they look the way they do (V8 in Node 20 on a shared 2-core VM; the end-to-end numbers of
 * `npm run bench -- aggregation` are in docs/results/aggregation.md):
 * - The bodies are unrolled 4×: V8 does not vectorise typed-array loops, and unrolling cuts the loop and
 *   bounds-check overhead per element (in a micro-benchmark the float64 accumulate went from 2.2 to 3.6 GB/s of
 *   update bytes at d = 10^6, cache-resident).
 * - Float64 and float32 accumulators get separate functions, so each stays monomorphic.
 * - {@link allFinite} is a reduction with four independent sums instead of a per-element test with an
 *   early exit: no branch per element and no single long dependency chain (≈ 3 → 6–10 GB/s in the same
 *   micro-benchmark, about memcpy speed; that is also why a separate scan caps `add` near half of memcpy).
 * - {@link BufferedAccumulator} folds up to B updates per pass over the accumulator, four at a time per element
 *   (the 4-way kernels below): one read and write of the 8·d-byte accumulator per 4 updates instead of per
 *   update, in 2048-element tiles that stay in L1 between the passes. In a fold-only micro-benchmark on a shared
 *   2-core VM (d = 10^5 and 10^6, accumulator allocated once) one-at-a-time accumulation ran at ~3.5–4.5 GB/s of
 *   update bytes and the buffered fold (B = 8) at ~5–6 GB/s. What TurboFan makes of these loops: per element and
 *   array one bounds check, one load, one float32 → float64 conversion; the arrays' map and length checks are
 *   hoisted out of the loop only when the arrays are locals, hence the `const x0 = xs[u]` preambles.
 * - Fresh memory is expensive: the first write to each 4 KiB page faults (~15 µs per page in the Firecracker VM
 *   the bench ran in, i.e. ~0.3 GB/s, slower than any kernel here), so a round reuses the previous round's
 *   accumulator ({@link takeAccumulator} / {@link releaseAccumulator}) rather than allocating 8·d new bytes.
 * - Float64 folds go to WebAssembly SIMD when it is there (simd-fold.ts): same sums, bit for bit, at a fraction
 *   of the scalar cost per (element, update). The rounds of fedau, known-p and avg-* run entirely there
 *   ({@link createRoundSum}); these kernels then serve float32 accumulators and runtimes without SIMD.
 */

import { dropIdleWasmRoundSum, simdFold64, takeWasmRoundSum } from './simd-fold';

/**
 * True when every value is finite. Sums the values in four float64 accumulators: a NaN or ±Infinity makes
 * the total non-finite, and finite float32 values cannot overflow a float64 sum (|x| < 3.5e38, so the sum
 * of n values stays below 1.8e308 for any n < 5e269), so the total is finite exactly when all values are.
 */

export function allFinite(x: Float32Array): boolean {
  const n = x.length;
  const m = n - (n % 4);
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i < m; i += 4) {
    s0 += x[i];
    s1 += x[i + 1];
    s2 += x[i + 2];
    s3 += x[i + 3];
  }
  for (; i < n; i++) s0 += x[i];
  const s = s0 + s1 + (s2 + s3);
  return s - s === 0;
}

/** acc[from..to) += w · x[from..to) (float64 accumulator). Lengths and the range are the caller's responsibility. */
export function axpy64(acc: Float64Array, w: number, x: Float32Array, from = 0, to = acc.length): void {
  const m = to - ((to - from) % 4);
  let i = from;
  for (; i < m; i += 4) {
    acc[i] += w * x[i];
    acc[i + 1] += w * x[i + 1];
    acc[i + 2] += w * x[i + 2];
    acc[i + 3] += w * x[i + 3];
  }
  for (; i < to; i++) acc[i] += w * x[i];
}

/** acc[from..to) += w · x[from..to) (float32 accumulator: each step rounds to float32). */
export function axpy32(acc: Float32Array, w: number, x: Float32Array, from = 0, to = acc.length): void {
  const m = to - ((to - from) % 4);
  let i = from;
  for (; i < m; i += 4) {
    acc[i] += w * x[i];
    acc[i + 1] += w * x[i + 1];
    acc[i + 2] += w * x[i + 2];
    acc[i + 3] += w * x[i + 3];
  }
  for (; i < to; i++) acc[i] += w * x[i];
}

/** acc[from..to) += w · (x − y)[from..to) (float64 accumulator), for MIFA's and FedVarp's Δ_n − M_n. */
export function axpyDiff64(acc: Float64Array, w: number, x: Float32Array, y: Float32Array, from = 0, to = acc.length): void {
  const m = to - ((to - from) % 4);
  let i = from;
  for (; i < m; i += 4) {
    acc[i] += w * (x[i] - y[i]);
    acc[i + 1] += w * (x[i + 1] - y[i + 1]);
    acc[i + 2] += w * (x[i + 2] - y[i + 2]);
    acc[i + 3] += w * (x[i + 3] - y[i + 3]);
  }
  for (; i < to; i++) acc[i] += w * (x[i] - y[i]);
}

/** acc[from..to) += w · (x − y)[from..to) (float32 accumulator). */
export function axpyDiff32(acc: Float32Array, w: number, x: Float32Array, y: Float32Array, from = 0, to = acc.length): void {
  const m = to - ((to - from) % 4);
  let i = from;
  for (; i < m; i += 4) {
    acc[i] += w * (x[i] - y[i]);
    acc[i + 1] += w * (x[i + 1] - y[i + 1]);
    acc[i + 2] += w * (x[i + 2] - y[i + 2]);
    acc[i + 3] += w * (x[i + 3] - y[i + 3]);
  }
  for (; i < to; i++) acc[i] += w * (x[i] - y[i]);
}

/*
 * Four queued updates at once, on acc[from..to). Per element the sum is
 * (((acc + w0·x0) + w1·x1) + w2·x2) + w3·x3, written out left to right: the very operations, in the very order,
 * of four calls of the one-update kernels above, so the result is bit for bit the same; the accumulator is
 * read and written once instead of four times. The float32 versions round after every addition (Math.fround),
 * as four separate `acc[i] += …` on a Float32Array would; the store rounds the last one.
 * Updates and weights are read from the queue's arrays at slots u..u+3 into locals before the loop.
 */

function add4x64(acc: Float64Array, from: number, to: number, xs: Float32Array[], ws: Float64Array, u: number): void {
  const x0 = xs[u];
  const x1 = xs[u + 1];
  const x2 = xs[u + 2];
  const x3 = xs[u + 3];
  const w0 = ws[u];
  const w1 = ws[u + 1];
  const w2 = ws[u + 2];
  const w3 = ws[u + 3];
  const m = to - ((to - from) % 4);
  let i = from;
  for (; i < m; i += 4) {
    acc[i] = acc[i] + w0 * x0[i] + w1 * x1[i] + w2 * x2[i] + w3 * x3[i];
    acc[i + 1] = acc[i + 1] + w0 * x0[i + 1] + w1 * x1[i + 1] + w2 * x2[i + 1] + w3 * x3[i + 1];
    acc[i + 2] = acc[i + 2] + w0 * x0[i + 2] + w1 * x1[i + 2] + w2 * x2[i + 2] + w3 * x3[i + 2];
    acc[i + 3] = acc[i + 3] + w0 * x0[i + 3] + w1 * x1[i + 3] + w2 * x2[i + 3] + w3 * x3[i + 3];
  }
  for (; i < to; i++) acc[i] = acc[i] + w0 * x0[i] + w1 * x1[i] + w2 * x2[i] + w3 * x3[i];
}

function add4x32(acc: Float32Array, from: number, to: number, xs: Float32Array[], ws: Float64Array, u: number): void {
  const x0 = xs[u];
  const x1 = xs[u + 1];
  const x2 = xs[u + 2];
  const x3 = xs[u + 3];
  const w0 = ws[u];
  const w1 = ws[u + 1];
  const w2 = ws[u + 2];
  const w3 = ws[u + 3];
  const f = Math.fround;
  for (let i = from; i < to; i++) acc[i] = f(f(f(acc[i] + w0 * x0[i]) + w1 * x1[i]) + w2 * x2[i]) + w3 * x3[i];
}

function diff4x64(acc: Float64Array, from: number, to: number, xs: Float32Array[], ys: Float32Array[], ws: Float64Array, u: number): void {
  const x0 = xs[u];
  const x1 = xs[u + 1];
  const x2 = xs[u + 2];
  const x3 = xs[u + 3];
  const y0 = ys[u];
  const y1 = ys[u + 1];
  const y2 = ys[u + 2];
  const y3 = ys[u + 3];
  const w0 = ws[u];
  const w1 = ws[u + 1];
  const w2 = ws[u + 2];
  const w3 = ws[u + 3];
  const m = to - ((to - from) % 4);
  let i = from;
  for (; i < m; i += 4) {
    acc[i] = acc[i] + w0 * (x0[i] - y0[i]) + w1 * (x1[i] - y1[i]) + w2 * (x2[i] - y2[i]) + w3 * (x3[i] - y3[i]);
    acc[i + 1] =
      acc[i + 1] +
      w0 * (x0[i + 1] - y0[i + 1]) +
      w1 * (x1[i + 1] - y1[i + 1]) +
      w2 * (x2[i + 1] - y2[i + 1]) +
      w3 * (x3[i + 1] - y3[i + 1]);
    acc[i + 2] =
      acc[i + 2] +
      w0 * (x0[i + 2] - y0[i + 2]) +
      w1 * (x1[i + 2] - y1[i + 2]) +
      w2 * (x2[i + 2] - y2[i + 2]) +
      w3 * (x3[i + 2] - y3[i + 2]);
    acc[i + 3] =
      acc[i + 3] +
      w0 * (x0[i + 3] - y0[i + 3]) +
      w1 * (x1[i + 3] - y1[i + 3]) +
      w2 * (x2[i + 3] - y2[i + 3]) +
      w3 * (x3[i + 3] - y3[i + 3]);
  }
  for (; i < to; i++) acc[i] = acc[i] + w0 * (x0[i] - y0[i]) + w1 * (x1[i] - y1[i]) + w2 * (x2[i] - y2[i]) + w3 * (x3[i] - y3[i]);
}

function diff4x32(acc: Float32Array, from: number, to: number, xs: Float32Array[], ys: Float32Array[], ws: Float64Array, u: number): void {
  const x0 = xs[u];
  const x1 = xs[u + 1];
  const x2 = xs[u + 2];
  const x3 = xs[u + 3];
  const y0 = ys[u];
  const y1 = ys[u + 1];
  const y2 = ys[u + 2];
  const y3 = ys[u + 3];
  const w0 = ws[u];
  const w1 = ws[u + 1];
  const w2 = ws[u + 2];
  const w3 = ws[u + 3];
  const f = Math.fround;
  for (let i = from; i < to; i++) {
    acc[i] = f(f(f(acc[i] + w0 * (x0[i] - y0[i])) + w1 * (x1[i] - y1[i])) + w2 * (x2[i] - y2[i])) + w3 * (x3[i] - y3[i]);
  }
}

/**
 * Checks a `bufferedUpdates` option (B).
 * @returns null when it is a positive integer, else the reason.
 */
export function checkBufferedUpdates(value: unknown): string | null {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1
    ? null
    : `bufferedUpdates must be a positive integer, got ${String(value)}`;
}

/** Stands for "no previous memory" in a queue slot (acc += w·x rather than w·(x − y)), and for an empty slot. */
const NONE = new Float32Array(0);

/**
 * Elements per tile when a queue is folded: 2048 float64 values are 16 KiB of accumulator, which stays in the
 * L1 data cache (32–48 KiB on current x86 cores) while every queued update passes over that tile.
 */
export const FOLD_TILE = 2048;

/**
 * A round's sum Σ w_n·Δ_n (or Σ w_n·(Δ_n − M_n) for MIFA/FedVarp) that queues up to `capacity` updates BY
 * REFERENCE and folds them into the accumulator together, tile by tile: the accumulator (8·d bytes for
 * float64) is then read and written once per `capacity` updates instead of once per update, which is what
 * bounds one-at-a-time accumulation once d no longer fits in the caches.
 *
 * Every element is summed in arrival order with the same operations as one-at-a-time accumulation
 * (`acc[i] += w·x[i]`), so the sum is bit for bit the same whatever the capacity. The queued arrays must not
 * change until they are folded (when the queue is full, or at {@link flush}); the queue holds at most
 * `capacity` updates (and as many previous memories), i.e. up to capacity·4·d (2·capacity·4·d) bytes that
 * would otherwise be garbage, and drops its references once they are folded. Internal to the library.
 */
export class BufferedAccumulator {
  /** The accumulator; up to date only after {@link flush}. */
  readonly sum: Float64Array | Float32Array;
  private readonly xs: Float32Array[];
  private readonly ys: Float32Array[];
  private readonly ws: Float64Array;
  private queued = 0;

  /**
   * @param dimension d, a positive integer (checked by the callers).
   * @param precision the accumulator's element type.
   * @param capacity how many updates to queue before folding them, a positive integer (checked by the callers).
   */
  constructor(dimension: number, precision: 'float64' | 'float32', capacity: number) {
    this.sum = takeAccumulator(precision, dimension);
    this.xs = new Array<Float32Array>(capacity).fill(NONE);
    this.ys = new Array<Float32Array>(capacity).fill(NONE);
    this.ws = new Float64Array(capacity);
  }

  /** Queues sum += w·x, or sum += w·(x − y) when `y` is given; folds the queue when it is full. Lengths are the caller's responsibility. */
  add(x: Float32Array, w: number, y: Float32Array | null = null): void {
    const u = this.queued++;
    this.xs[u] = x;
    this.ys[u] = y ?? NONE;
    this.ws[u] = w;
    if (this.queued === this.xs.length) this.fold();
  }

  /** Folds whatever is queued and returns the accumulator. */
  flush(): Float64Array | Float32Array {
    if (this.queued > 0) this.fold();
    return this.sum;
  }

  /**
   * Drops the queued updates and hands the accumulator to the next round ({@link releaseAccumulator}). For the
   * end of a round whose sum has been used up and does not escape: neither this object nor its `sum` may be
   * used afterwards.
   */
  release(): void {
    this.xs.fill(NONE);
    this.ys.fill(NONE);
    this.queued = 0;
    releaseAccumulator(this.sum);
  }

  private fold(): void {
    const n = this.queued;
    const { sum, xs, ys, ws } = this;
    if (sum instanceof Float64Array) fold64(sum, xs, ys, ws, n);
    else fold32(sum, xs, ys, ws, n);
    for (let u = 0; u < n; u++) {
      xs[u] = NONE;
      ys[u] = NONE;
    }
    this.queued = 0;
  }
}

/**
 * One idle accumulator, kept from the last round that released it for the next round of the same precision
 * and dimension (the next round of the same job, typically): first writes to fresh memory fault page by page,
 * and a d = 10^7 float64 accumulator is 20,000 pages. At most one array (8·d bytes) is kept, whatever the
 * number of rounds or jobs; a round that finds none or one of another shape allocates its own.
 */
let idle: Float64Array | Float32Array | null = null;

/**
 * A zeroed accumulator of `dimension` elements: the idle one when it has this precision and length (it is
 * taken, so no two rounds ever share it, and zeroed), else a new array.
 */
export function takeAccumulator(precision: 'float64' | 'float32', dimension: number): Float64Array | Float32Array {
  const reuse = idle;
  if (reuse !== null && reuse.length === dimension && reuse instanceof Float64Array === (precision === 'float64')) {
    idle = null;
    return reuse.fill(0);
  }
  return precision === 'float64' ? new Float64Array(dimension) : new Float32Array(dimension);
}

/**
 * Hands an accumulator back for the next round (replacing any idle one). The caller must not use it, nor let
 * it escape, afterwards: the next {@link takeAccumulator} zeroes and reuses it.
 */
export function releaseAccumulator(acc: Float64Array | Float32Array): void {
  idle = acc;
}

/**
 * Lets go of the memory that finished rounds keep for the next round of the same shape (this thread's idle
 * accumulator and idle WebAssembly round sum, up to (8 + 4·B)·d bytes), e.g. when the last round of a job has
 * closed. Rounds in progress are not affected; the next round allocates afresh.
 */
export function releaseIdleAggregationMemory(): void {
  idle = null;
  dropIdleWasmRoundSum();
}

/** True when slots u..u+3 all hold plain updates (memory NONE) or all hold differences, as slot u does. */
function runOfFour(ys: Float32Array[], u: number, n: number): boolean {
  if (u + 4 > n) return false;
  const plain = ys[u] === NONE;
  return (ys[u + 1] === NONE) === plain && (ys[u + 2] === NONE) === plain && (ys[u + 3] === NONE) === plain;
}

/** Folds queue slots 0..n−1 into acc, tile by tile, in slot order within every tile. */
function fold64(acc: Float64Array, xs: Float32Array[], ys: Float32Array[], ws: Float64Array, n: number): void {
  // The SIMD fold, same sums bit for bit (simd-fold.ts); NONE, the empty array, marks a plain update there too.
  if (simdFold64(acc, xs, ys, ws, n)) return;
  const d = acc.length;
  for (let a = 0; a < d; a += FOLD_TILE) {
    const b = Math.min(d, a + FOLD_TILE);
    let u = 0;
    while (u < n) {
      if (runOfFour(ys, u, n)) {
        if (ys[u] === NONE) add4x64(acc, a, b, xs, ws, u);
        else diff4x64(acc, a, b, xs, ys, ws, u);
        u += 4;
      } else {
        if (ys[u] === NONE) axpy64(acc, ws[u], xs[u], a, b);
        else axpyDiff64(acc, ws[u], xs[u], ys[u], a, b);
        u += 1;
      }
    }
  }
}

function fold32(acc: Float32Array, xs: Float32Array[], ys: Float32Array[], ws: Float64Array, n: number): void {
  const d = acc.length;
  for (let a = 0; a < d; a += FOLD_TILE) {
    const b = Math.min(d, a + FOLD_TILE);
    let u = 0;
    while (u < n) {
      if (runOfFour(ys, u, n)) {
        if (ys[u] === NONE) add4x32(acc, a, b, xs, ws, u);
        else diff4x32(acc, a, b, xs, ys, ws, u);
        u += 4;
      } else {
        if (ys[u] === NONE) axpy32(acc, ws[u], xs[u], a, b);
        else axpyDiff32(acc, ws[u], xs[u], ys[u], a, b);
        u += 1;
      }
    }
  }
}

/**
 * The sum U = Σ_n w_n·Δ_n of one round of plain updates (FedAU, known-p, avg-*) and the new model x + (γ·U)/N,
 * behind one interface for its two implementations: {@link BufferedAccumulator} with the JavaScript kernels, and
 * `WasmRoundSum` (simd-fold.ts), which keeps the accumulator and B update buffers in WebAssembly memory. Both hold
 * up to B updates by reference and give bit-for-bit the same results. Internal to the library.
 */
export interface RoundSum {
  /**
   * An array of d values to write the next update into before passing it to {@link add}: in WebAssembly memory
   * for `WasmRoundSum`, where it is then summed without being copied; a new array otherwise. Until the next
   * `add`, every call returns the same buffer (WebAssembly) or a new array (JavaScript).
   */
  updateBuffer(): Float32Array;
  /** Queues sum += w·x (x held by reference until folded: do not modify it); folds when B are queued. */
  add(x: Float32Array, w: number): void;
  /** Folds what is queued and writes out[i] = global[i] + (scale·U[i]) / divisor ({@link applyScaled}); `out` may be `global`. */
  finishInto(out: Float32Array, global: Float32Array, scale: number, divisor: number): void;
  /** Hands the sum's memory to the next round (see {@link BufferedAccumulator.release}); do not use it afterwards. */
  release(): void;
}

/** The JavaScript {@link RoundSum}. */
class KernelRoundSum implements RoundSum {
  private readonly acc: BufferedAccumulator;

  constructor(
    private readonly dimension: number,
    precision: 'float64' | 'float32',
    capacity: number,
  ) {
    this.acc = new BufferedAccumulator(dimension, precision, capacity);
  }

  updateBuffer(): Float32Array {
    return new Float32Array(this.dimension);
  }

  add(x: Float32Array, w: number): void {
    this.acc.add(x, w);
  }

  finishInto(out: Float32Array, global: Float32Array, scale: number, divisor: number): void {
    applyScaled(out, global, this.acc.flush(), scale, divisor);
  }

  release(): void {
    this.acc.release();
  }
}

/**
 * A round's {@link RoundSum}: in WebAssembly SIMD for a float64 accumulator where it is available (and not
 * switched off with `setSimdFold(false)`), else with the JavaScript kernels.
 * @param capacity B, updates queued before a fold (a positive integer, checked by the callers).
 */
export function createRoundSum(dimension: number, precision: 'float64' | 'float32', capacity: number): RoundSum {
  return (precision === 'float64' ? takeWasmRoundSum(dimension, capacity) : null) ?? new KernelRoundSum(dimension, precision, capacity);
}

/**
 * out[i] = global[i] + (scale · acc[i]) / divisor. Divides per element rather than multiplying by
 * 1/divisor so that γ = 1 with unit weights is exactly x + (Σ Δ)/N (docs/algorithms/fedau.md §3.2; §10, check 4), e.g. for
 * N = 3 where 1/3 is inexact.
 */
export function applyScaled(
  out: Float32Array,
  global: Float32Array,
  acc: Float64Array | Float32Array,
  scale: number,
  divisor: number,
): void {
  if (acc instanceof Float64Array) applyScaled64(out, global, acc, scale, divisor);
  else applyScaled32(out, global, acc, scale, divisor);
}

function applyScaled64(out: Float32Array, global: Float32Array, acc: Float64Array, scale: number, divisor: number): void {
  const n = out.length;
  for (let i = 0; i < n; i++) out[i] = global[i] + (scale * acc[i]) / divisor;
}

function applyScaled32(out: Float32Array, global: Float32Array, acc: Float32Array, scale: number, divisor: number): void {
  const n = out.length;
  for (let i = 0; i < n; i++) out[i] = global[i] + (scale * acc[i]) / divisor;
}
