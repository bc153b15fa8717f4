import type { RoundSum } from './kernels';
import { FOLD_WASM_BASE64 } from './wasm/fold-wasm';

/**
 * The float64 fold Σ_u w_u·x_u of plain updates (FedAU, known-p, avg-*) in WebAssembly SIMD (wasm/fold.wat): the
 * same operations in the same order per element as `acc[i] += w·x[i]` one update after another, and the same
 * x + (γ·U)/N at the end, so the results are bit for bit those of the JavaScript kernels. The module (about 600
 * bytes) is compiled once per thread from base64; where WebAssembly SIMD is missing the JavaScript kernels run.
 *
 * WebAssembly reads only its own memory. Two ways in:
 * - {@link WasmRoundSum}, a round's sum that lives in its own WebAssembly memory: the accumulator, and B update
 *   buffers the caller can write updates into ({@link WasmRoundSum.updateBuffer}; the coordinator reads update
 *   blobs straight into them), which are then folded where they lie. Updates passed as ordinary arrays are copied in
 *   tile by tile (cache-resident). The last fold is fused with x_{t+1} = x_t + γ·U/N, so the accumulator is not
 *   written back and read again, and the first fold starts from zero instead of reading a zero-filled accumulator.
 * - {@link simdFold64}, for an accumulator that is an ordinary Float64Array (MIFA/FedVarp rounds, whose differences
 *   Δ_n − M_n it folds too): each tile of the accumulator and of every update (and memory) is
 *   copied in, folded, and the accumulator tile copied back.
 *
 * Internal to the library.
 */

/** Elements per tile: 64 KiB of float64 accumulator + 32 KiB per copied update stay in the caches. */
export const SIMD_TILE = 8192;
/** Elements per step of the kernel; the last < 8 elements of a range are summed here, in the same order. */
const STEP = 8;

/** The part of the WebAssembly API used here (the library compiles without the DOM lib, which declares it). */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
};

interface FoldExports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  /** See wasm/fold.wat. Addresses are byte offsets into `memory`. */
  fold(
    ptrs: number,
    yptrs: number,
    n: number,
    w: number,
    acc: number,
    len: number,
    fresh: number,
    apply: number,
    g: number,
    out: number,
    scale: number,
    divisor: number,
  ): void;
}

const PAGE = 65536;

let compiled: object | null | undefined;
let enabled = true;

/** A new instance whose memory holds at least `bytes`, or null (no WebAssembly SIMD, or that much memory cannot be had). */
function instantiate(bytes: number): FoldExports | null {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(Uint8Array.from(atob(FOLD_WASM_BASE64), (c) => c.charCodeAt(0)));
    } catch {
      compiled = null; // no WebAssembly SIMD here: the JavaScript kernels are used
    }
  }
  if (compiled === null) return null;
  const e = new WebAssembly.Instance(compiled, {}).exports as FoldExports;
  return grow(e, bytes) ? e : null;
}

/** Grows the instance's memory to at least `bytes`; false when it cannot (RangeError: past 4 GiB, or out of memory). */
function grow(e: FoldExports, bytes: number): boolean {
  const missing = bytes - e.memory.buffer.byteLength;
  if (missing <= 0) return true;
  try {
    e.memory.grow(Math.ceil(missing / PAGE));
    return true;
  } catch {
    return false;
  }
}

const align = (bytes: number): number => Math.ceil(bytes / 64) * 64;

/** Whether the SIMD fold is available and switched on. */
export function simdFoldAvailable(): boolean {
  return enabled && scratchInstance() !== null;
}

/** Switches the SIMD fold off (false) or on again, e.g. to measure or test the JavaScript kernels. Returns the previous setting. */
export function setSimdFold(on: boolean): boolean {
  const was = enabled;
  enabled = on;
  return was;
}

/** Updates folded per {@link simdFold64} call; more are folded in chunks, in order. */
const SLOTS = 16;
// The scratch instance's layout: x and y address tables (the y table must not be at address 0, which means "no
// differences"), weights, a zero tile (y of a plain update in a chunk with differences), the accumulator tile, the
// x tiles and the y tiles.
const S_PTRS = 0;
const S_YPTRS = SLOTS * 4;
const S_W = S_YPTRS + SLOTS * 4;
const S_ZERO = align(S_W + SLOTS * 8);
const S_ACC = S_ZERO + SIMD_TILE * 4;
const S_X = S_ACC + SIMD_TILE * 8;
const S_Y = S_X + SLOTS * SIMD_TILE * 4;
let scratch: FoldExports | null | undefined;

function scratchInstance(): FoldExports | null {
  if (scratch === undefined) scratch = instantiate(S_Y + SLOTS * SIMD_TILE * 4);
  return scratch;
}

/**
 * acc += Σ_{u<n} ws[u]·xs[u], or ws[u]·(xs[u] − ys[u]) where `ys[u]` is not empty (MIFA/FedVarp's Δ_n − M_n), element
 * by element in slot order: bit for bit the JavaScript `axpy64` / `axpyDiff64` sequence.
 * @param ys null, or per slot the array to subtract (an empty array for a plain update).
 * @returns false (and does nothing) when the SIMD fold is not available.
 */
export function simdFold64(
  acc: Float64Array,
  xs: readonly Float32Array[],
  ys: readonly Float32Array[] | null,
  ws: Float64Array,
  n: number,
): boolean {
  const e = enabled ? scratchInstance() : null;
  if (!e) return false;
  const d = acc.length;
  const buf = e.memory.buffer;
  const f64 = new Float64Array(buf);
  const f32 = new Float32Array(buf);
  const u32 = new Uint32Array(buf);
  for (let c = 0; c < n; c += SLOTS) {
    const m = Math.min(SLOTS, n - c);
    let diffs = false;
    for (let u = 0; u < m; u++) {
      const hasY = ys !== null && ys[c + u].length > 0;
      diffs ||= hasY;
      u32[S_PTRS / 4 + u] = S_X + u * SIMD_TILE * 4;
      u32[S_YPTRS / 4 + u] = hasY ? S_Y + u * SIMD_TILE * 4 : S_ZERO;
    }
    f64.set(ws.subarray(c, c + m), S_W / 8);
    for (let a = 0; a < d; a += SIMD_TILE) {
      const b = Math.min(d, a + SIMD_TILE);
      const len = b - a;
      const len8 = len - (len % STEP);
      f64.set(acc.subarray(a, b), S_ACC / 8);
      for (let u = 0; u < m; u++) {
        f32.set(xs[c + u].subarray(a, b), S_X / 4 + u * SIMD_TILE);
        if (ys !== null && ys[c + u].length > 0) f32.set(ys[c + u].subarray(a, b), S_Y / 4 + u * SIMD_TILE);
      }
      e.fold(S_PTRS, diffs ? S_YPTRS : 0, m, S_W, S_ACC, len8, 0, 0, 0, 0, 1, 1);
      for (let i = len8; i < len; i++) {
        let s = f64[S_ACC / 8 + i];
        for (let u = 0; u < m; u++) {
          const y = ys !== null && ys[c + u].length > 0 ? ys[c + u][a + i] : null;
          s = y === null ? s + ws[c + u] * xs[c + u][a + i] : s + ws[c + u] * (xs[c + u][a + i] - y);
        }
        f64[S_ACC / 8 + i] = s;
      }
      acc.set(f64.subarray(S_ACC / 8, S_ACC / 8 + len), a);
    }
  }
  return true;
}

/** One idle round sum, kept for the next round of the same d and B (see {@link takeWasmRoundSum}). */
let idle: WasmRoundSum | null = null;

/** Drops the idle round sum (its memory goes at the next GC). */
export function dropIdleWasmRoundSum(): void {
  idle = null;
}

/** Keeps a released sum for the next round (replacing any idle one). */
function keepIdle(sum: WasmRoundSum): void {
  idle = sum;
}

/**
 * A round's float64 sum in WebAssembly SIMD, for d parameters and B = `capacity` queued updates: the idle one
 * when its d and B match (no memory is zeroed: the first fold starts from zero), else a new one.
 * @returns null when the SIMD fold is unavailable or switched off, or the memory cannot be had.
 */
export function takeWasmRoundSum(dimension: number, capacity: number): WasmRoundSum | null {
  if (!enabled) return null;
  const reuse = idle;
  if (reuse !== null && reuse.dimension === dimension && reuse.capacity === capacity) {
    idle = null;
    return reuse;
  }
  return WasmRoundSum.create(dimension, capacity);
}

/** Byte offsets of a {@link WasmRoundSum}'s regions (see its layout), and T, its tile. */
interface RoundSumLayout {
  tile: number;
  ptrs: number;
  w: number;
  model: number;
  stage: number;
  acc: number;
  slots: number;
}

function roundSumLayout(dimension: number, capacity: number): RoundSumLayout {
  const tile = Math.min(SIMD_TILE, Math.ceil(dimension / STEP) * STEP);
  const w = align(capacity * 4);
  const model = align(w + capacity * 8);
  const stage = align(model + tile * 4);
  const acc = align(stage + capacity * tile * 4);
  const slots = align(acc + dimension * 8);
  return { tile, ptrs: 0, w, model, stage, acc, slots };
}

/**
 * Σ_u w_u·x_u over a round's plain updates, then x + (scale·Σ)/divisor, in its own WebAssembly memory:
 *
 *   [ptrs u32×B][weights f64×B][model tile f32×T][copied update tiles f32×B×T][accumulator f64×d][update buffers f32×B×d]
 *
 * (T = min(SIMD_TILE, d rounded up to 8)). The update buffers are allocated on the first {@link updateBuffer} call,
 * so a caller that never writes into them pays nothing for them. The memory only grows before any view of it is
 * handed out, and views of it are re-made after growing, so no array in use is ever detached.
 * Same contract as the JavaScript {@link RoundSum}: queued updates must not change until folded.
 */
export class WasmRoundSum implements RoundSum {
  private readonly ptrs: number;
  private readonly w: number;
  private readonly model: number;
  private readonly stage: number;
  private readonly acc: number;
  private readonly slots: number;
  private readonly tile: number;
  /** Per queue slot: the caller's array, or null when the update lies in update buffer u. */
  private readonly foreign: (Float32Array | null)[];
  private slotsReady = false;
  private slotsFailed = false;
  private queued = 0;
  /** True until the first fold: the accumulator's contents are then taken to be +0. */
  private fresh = true;
  private f32!: Float32Array;
  private f64!: Float64Array;
  private u32!: Uint32Array;

  private constructor(
    private readonly e: FoldExports,
    readonly dimension: number,
    readonly capacity: number,
    layout: RoundSumLayout,
  ) {
    ({ tile: this.tile, ptrs: this.ptrs, w: this.w, model: this.model, stage: this.stage, acc: this.acc, slots: this.slots } = layout);
    this.foreign = new Array<Float32Array | null>(capacity).fill(null);
    this.views();
  }

  static create(dimension: number, capacity: number): WasmRoundSum | null {
    const layout = roundSumLayout(dimension, capacity);
    const e = instantiate(layout.slots); // everything up to the update buffers, which come on demand
    return e === null ? null : new WasmRoundSum(e, dimension, capacity, layout);
  }

  private views(): void {
    const buf = this.e.memory.buffer;
    this.f32 = new Float32Array(buf);
    this.f64 = new Float64Array(buf);
    this.u32 = new Uint32Array(buf);
  }

  private slotAddress(u: number): number {
    return this.slots + u * this.dimension * 4;
  }

  /**
   * Update buffer u (the next queue slot) as a Float32Array of d values in this sum's memory; a new ordinary array
   * when the B·4·d bytes of update buffers cannot be had.
   */
  updateBuffer(): Float32Array {
    if (!this.slotsReady && !this.slotsFailed) {
      if (grow(this.e, this.slots + this.capacity * this.dimension * 4)) {
        this.slotsReady = true;
        this.views();
      } else this.slotsFailed = true;
    }
    if (!this.slotsReady) return new Float32Array(this.dimension);
    return this.f32.subarray(this.slotAddress(this.queued) / 4, this.slotAddress(this.queued) / 4 + this.dimension);
  }

  add(x: Float32Array, w: number): void {
    const u = this.queued;
    if (this.slotsReady && x.buffer === this.e.memory.buffer) {
      // The update buffer handed out for this slot (folded where it lies), or another view of this memory: copied in
      // now, as a later update written into its buffer could overwrite it.
      const at = this.slotAddress(u);
      if (x.byteOffset !== at) this.f32.set(x, at / 4);
      this.foreign[u] = null;
    } else this.foreign[u] = x;
    this.f64[this.w / 8 + u] = w;
    this.queued = u + 1;
    if (this.queued === this.capacity) this.fold(null, null, 1, 1);
  }

  finishInto(out: Float32Array, global: Float32Array, scale: number, divisor: number): void {
    this.fold(out, global, scale, divisor);
  }

  release(): void {
    this.foreign.fill(null);
    this.queued = 0;
    this.fresh = true;
    keepIdle(this);
  }

  /**
   * Folds the queued updates into the accumulator (`out` null) or, fused, into out = global + (scale·acc)/divisor
   * (the accumulator is then left as it was), tile by tile.
   */
  private fold(out: Float32Array | null, global: Float32Array | null, scale: number, divisor: number): void {
    const { e, f32, f64, u32, dimension: d, tile } = this;
    const n = this.queued;
    const fresh = this.fresh;
    const model = this.model / 4;
    for (let a = 0; a < d; a += tile) {
      const b = Math.min(d, a + tile);
      const len = b - a;
      const len8 = len - (len % STEP);
      for (let u = 0; u < n; u++) {
        const x = this.foreign[u];
        if (x === null) u32[this.ptrs / 4 + u] = this.slotAddress(u) + 4 * a;
        else {
          const at = this.stage + u * tile * 4;
          f32.set(x.subarray(a, b), at / 4);
          u32[this.ptrs / 4 + u] = at;
        }
      }
      if (global) f32.set(global.subarray(a, b), model);
      e.fold(this.ptrs, 0, n, this.w, this.acc + 8 * a, len8, fresh ? 1 : 0, out ? 1 : 0, this.model, this.model, scale, divisor);
      // The last < 8 elements: the same operations in the same order.
      for (let i = len8; i < len; i++) {
        let s = fresh ? 0 : f64[this.acc / 8 + a + i];
        for (let u = 0; u < n; u++) s = s + f64[this.w / 8 + u] * f32[u32[this.ptrs / 4 + u] / 4 + i];
        if (global) f32[model + i] = global[a + i] + (scale * s) / divisor;
        else f64[this.acc / 8 + a + i] = s;
      }
      if (out) out.set(f32.subarray(model, model + len), a);
    }
    if (!out) this.fresh = false;
    this.foreign.fill(null, 0, n);
    this.queued = 0;
  }
}
