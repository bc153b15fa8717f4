import { allFinite } from './kernels';

/**
 * Checks of single client updates, run by the coordinator when an update is submitted and by the aggregation rules
 * (`rules.ts`) when an unchecked update is added to a round.
 */

/**
 * Euclidean (L2) norm of an update, accumulated in float64; the update policy (policy.ts) judges updates by it, and it
 * is reported per participation. Finite for every finite float32 update: a square is at most FLOAT32_MAX² ≈ 1.2e77,
 * so the float64 sum cannot overflow below 10^231 values (in float32 arithmetic the norm of an update of 3e38
 * everywhere would already be Infinity).
 */
export function updateNorm(delta: Float32Array): number {
  let s = 0;
  for (let i = 0; i < delta.length; i++) s += delta[i] * delta[i];
  return Math.sqrt(s);
}

/**
 * Checks that an update can be aggregated.
 * @param expectedLength the model's parameter count d.
 * @returns null when it can, else a human-readable reason: the wrong length, or the first NaN/±Infinity and its index.
 */
export function validateUpdate(delta: Float32Array, expectedLength: number): string | null {
  if (delta.length !== expectedLength) return `has length ${delta.length}, expected ${expectedLength}`;
  // Fast path: one branch-free reduction; the per-element search below runs only for a bad update.
  if (allFinite(delta)) return null;
  for (let i = 0; i < delta.length; i++) {
    const v = delta[i];
    // v - v is 0 for finite v and NaN for NaN or ±Infinity; cheaper than Number.isFinite in this hot loop.
    if (v - v !== 0) return `contains ${v} at index ${i}`;
  }
  return null;
}
