/**
 * The hot loops of server-side aggregation, shared by {@link StreamingAggregator} and the rules in
 * `rules.ts`. Internal to the library (not exported from `src/index.ts`).
 *
 * Why they look the way they do (V8 in Node 20 on a shared 2-core VM; the end-to-end numbers of
 * `npm run bench -- aggregation` are in docs/results/fedau.md):
 * - The bodies are unrolled 4×: V8 does not vectorise typed-array loops, and unrolling cuts the loop and
 *   bounds-check overhead per element (in a micro-benchmark the float64 accumulate went from 2.2 to 3.6 GB/s of
 *   update bytes at d = 10^6, cache-resident).
 * - Float64 and float32 accumulators get separate functions, so each stays monomorphic.
 * - {@link allFinite} is a reduction with four independent sums instead of a per-element test with an
 *   early exit: no branch per element and no single long dependency chain (≈ 3 → 6–10 GB/s in the same
 *   micro-benchmark, about memcpy speed; that is also why a separate scan caps `add` near half of memcpy).
 */

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

/** acc += w · x (float64 accumulator). Lengths are the caller's responsibility. */
export function axpy64(acc: Float64Array, w: number, x: Float32Array): void {
  const n = acc.length;
  const m = n - (n % 4);
  let i = 0;
  for (; i < m; i += 4) {
    acc[i] += w * x[i];
    acc[i + 1] += w * x[i + 1];
    acc[i + 2] += w * x[i + 2];
    acc[i + 3] += w * x[i + 3];
  }
  for (; i < n; i++) acc[i] += w * x[i];
}

/** acc += w · x (float32 accumulator: each step rounds to float32). */
export function axpy32(acc: Float32Array, w: number, x: Float32Array): void {
  const n = acc.length;
  const m = n - (n % 4);
  let i = 0;
  for (; i < m; i += 4) {
    acc[i] += w * x[i];
    acc[i + 1] += w * x[i + 1];
    acc[i + 2] += w * x[i + 2];
    acc[i + 3] += w * x[i + 3];
  }
  for (; i < n; i++) acc[i] += w * x[i];
}

/** acc += w · (x − y) (float64 accumulator), for MIFA's and FedVarp's Δ_n − M_n. */
export function axpyDiff64(acc: Float64Array, w: number, x: Float32Array, y: Float32Array): void {
  const n = acc.length;
  const m = n - (n % 4);
  let i = 0;
  for (; i < m; i += 4) {
    acc[i] += w * (x[i] - y[i]);
    acc[i + 1] += w * (x[i + 1] - y[i + 1]);
    acc[i + 2] += w * (x[i + 2] - y[i + 2]);
    acc[i + 3] += w * (x[i + 3] - y[i + 3]);
  }
  for (; i < n; i++) acc[i] += w * (x[i] - y[i]);
}

/** acc += w · (x − y) (float32 accumulator). */
export function axpyDiff32(acc: Float32Array, w: number, x: Float32Array, y: Float32Array): void {
  const n = acc.length;
  const m = n - (n % 4);
  let i = 0;
  for (; i < m; i += 4) {
    acc[i] += w * (x[i] - y[i]);
    acc[i + 1] += w * (x[i + 1] - y[i + 1]);
    acc[i + 2] += w * (x[i + 2] - y[i + 2]);
    acc[i + 3] += w * (x[i + 3] - y[i + 3]);
  }
  for (; i < n; i++) acc[i] += w * (x[i] - y[i]);
}

/**
 * out[i] = global[i] + (scale · acc[i]) / divisor. Divides per element rather than multiplying by
 * 1/divisor so that γ = 1 with unit weights is exactly x + (Σ Δ)/N (spec fedau.md §8 test 4), e.g. for
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
