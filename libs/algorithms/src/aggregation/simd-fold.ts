import { FOLD_WASM_BASE64 } from './wasm/fold-wasm';

/**
 * The float64 fold Σ_u w_u·x_u of plain updates (FedAU, known-p, avg-*) in WebAssembly SIMD (wasm/fold.wat): the
 * same operations in the same order per element as `acc[i] += w·x[i]` one update after another, so the sums are
 * bit for bit those of the JavaScript kernels, at about a third of their cost per (element, update). The module is
 * 249 bytes, compiled once per thread from base64; where WebAssembly SIMD is missing the JavaScript kernels run.
 *
 * WebAssembly reads only its own memory, so each tile of SIMD_TILE elements of the accumulator and of every update
 * is copied in (native memcpy, cache-resident), folded, and the accumulator tile copied back. Internal to the library.
 */

/** Elements per tile: 64 KiB of float64 accumulator + 32 KiB per update stay in the caches. */
export const SIMD_TILE = 8192;
/** Updates folded per call; more are folded in chunks, in order. */
const SLOTS = 16;
const ACC_OFF = 0;
const W_OFF = SIMD_TILE * 8;
const UPD_OFF = W_OFF + 4096;
const BYTES = UPD_OFF + SLOTS * SIMD_TILE * 4;

/** The part of the WebAssembly API used here (the library compiles without the DOM lib, which declares it). */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
};

interface FoldExports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  fold(acc: number, upd: number, stride: number, n: number, w: number, len: number): void;
}

let loaded: FoldExports | null | undefined;
let enabled = true;

function instance(): FoldExports | null {
  if (loaded !== undefined) return loaded;
  try {
    const bytes = Uint8Array.from(atob(FOLD_WASM_BASE64), (c) => c.charCodeAt(0));
    const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as FoldExports;
    const missing = BYTES - exports.memory.buffer.byteLength;
    if (missing > 0) exports.memory.grow(Math.ceil(missing / 65536));
    loaded = exports;
  } catch {
    loaded = null; // no WebAssembly SIMD here: the JavaScript kernels are used
  }
  return loaded;
}

/** Whether the SIMD fold is available and switched on. */
export function simdFoldAvailable(): boolean {
  return enabled && instance() !== null;
}

/** Switches the SIMD fold off (false) or on again, e.g. to measure or test the JavaScript kernels. Returns the previous setting. */
export function setSimdFold(on: boolean): boolean {
  const was = enabled;
  enabled = on;
  return was;
}

/**
 * acc += Σ_{u<n} ws[u]·xs[u], element by element in slot order (bit for bit the JavaScript `axpy64` sequence).
 * @returns false (and does nothing) when the SIMD fold is not available.
 */
export function simdFold64(acc: Float64Array, xs: readonly Float32Array[], ws: Float64Array, n: number): boolean {
  const e = enabled ? instance() : null;
  if (!e) return false;
  const d = acc.length;
  const buf = e.memory.buffer;
  const f64 = new Float64Array(buf);
  const f32 = new Float32Array(buf);
  for (let c = 0; c < n; c += SLOTS) {
    const m = Math.min(SLOTS, n - c);
    f64.set(ws.subarray(c, c + m), W_OFF / 8);
    for (let a = 0; a < d; a += SIMD_TILE) {
      const b = Math.min(d, a + SIMD_TILE);
      const len = b - a;
      const len4 = len - (len % 4);
      f64.set(acc.subarray(a, b), ACC_OFF / 8);
      for (let u = 0; u < m; u++) f32.set(xs[c + u].subarray(a, b), UPD_OFF / 4 + u * SIMD_TILE);
      e.fold(ACC_OFF, UPD_OFF, SIMD_TILE, m, W_OFF, len4);
      // The last < 4 elements of the vector, in the same order.
      for (let i = len4; i < len; i++) {
        let s = f64[ACC_OFF / 8 + i];
        for (let u = 0; u < m; u++) s = s + ws[c + u] * xs[c + u][a + i];
        f64[ACC_OFF / 8 + i] = s;
      }
      acc.set(f64.subarray(ACC_OFF / 8, ACC_OFF / 8 + len), a);
    }
  }
  return true;
}
