/**
 * Robust aggregation (docs/algorithms/fedau.md §11.3): the coordinate-wise weighted trimmed mean and the weighted
 * median of a round's updates, in place of their weighted mean. An option for jobs that fear colluding or subtly bad
 * clients more than they value FedAU's unbiasedness: a trimmed mean or median of non-IID clients' updates is not
 * their mean, so the model no longer converges to the minimiser of the average objective.
 *
 * Each coordinate is combined from all K participants' values at once, so a round reads the updates tile by tile
 * (a tile: the same T coordinates of every update) instead of streaming them through one accumulator; see
 * {@link robustTileElements} for the memory this takes. The round itself is driven by
 * `AggregationRule.beginRobustRound` (rules.ts), which also owns weights, divisors and client states.
 */

/**
 * Which robust combination replaces the weighted mean of a round's updates.
 * - `median`: per coordinate, the weighted median (the value where the cumulative weight of the sorted values
 *   reaches half the total; at exactly half, the mean of that value and the next one).
 * - `trimmed-mean`: per coordinate, the weighted mean of the values left after removing `trim` of the total weight
 *   from each end of the sorted values (a value straddling a cut counts with its remaining weight); trim ∈ (0, 0.5).
 */
export type RobustAggregation = { kind: 'median' } | { kind: 'trimmed-mean'; trim: number };

/**
 * Bytes of update values a robust round holds per tile: T = ⌊ROBUST_TILE_BYTES / (4·K)⌋ coordinates of each of the K
 * updates (at least one coordinate, at most d). 32 MiB keeps the number of passes over the update blobs small
 * (d·K·4 / 32 MiB; one pass for K·d ≤ 8.4·10^6) without holding the K updates whole.
 */
export const ROBUST_TILE_BYTES = 32 * 1024 * 1024;

/** The coordinates per tile for K updates of d values, within `tileBytes` (default {@link ROBUST_TILE_BYTES}). */
export function robustTileElements(updates: number, dimension: number, tileBytes = ROBUST_TILE_BYTES): number {
  if (updates <= 0) return dimension;
  return Math.max(1, Math.min(dimension, Math.floor(tileBytes / (4 * updates))));
}

/**
 * Checks a robust aggregation spec.
 * @throws naming the field.
 */
export function validateRobustAggregation(spec: RobustAggregation): RobustAggregation {
  if (typeof spec !== 'object' || spec === null) throw new Error(`robust aggregation: expected { kind }, got ${JSON.stringify(spec)}`);
  if (spec.kind === 'median') return spec;
  if (spec.kind === 'trimmed-mean') {
    if (!(typeof spec.trim === 'number' && spec.trim > 0 && spec.trim < 0.5))
      throw new Error(`robust aggregation: trim must be a number in (0, 0.5), got ${JSON.stringify(spec.trim)}`);
    return spec;
  }
  throw new Error(`robust aggregation: kind must be 'median' or 'trimmed-mean', got ${JSON.stringify((spec as { kind?: unknown }).kind)}`);
}

/** Below this many values an insertion sort beats the comparator sort (and makes no closure call per comparison). */
const INSERTION_SORT_MAX = 64;

/**
 * Sorts order[0..count) (a permutation of 0..count−1) by (values[i], i): ties by index, so the order, and with it
 * every sum below, is the same whatever algorithm sorts.
 */
function sortByValue(values: Float64Array, order: Uint32Array, count: number): void {
  for (let i = 0; i < count; i++) order[i] = i;
  if (count <= INSERTION_SORT_MAX) {
    for (let i = 1; i < count; i++) {
      const o = order[i];
      const v = values[o];
      let j = i - 1;
      while (j >= 0 && (values[order[j]] > v || (values[order[j]] === v && order[j] > o))) {
        order[j + 1] = order[j];
        j--;
      }
      order[j + 1] = o;
    }
    return;
  }
  order.subarray(0, count).sort((a, b) => values[a] - values[b] || a - b);
}

/**
 * One coordinate's robust combination of `count` values with positive weights (total `totalWeight`).
 * @param values the values (only the first `count` are read).
 * @param weights their weights, > 0 (same indices).
 * @param order scratch of at least `count` entries.
 * @returns the weighted median or trimmed mean; 0 when count is 0.
 */
export function robustCombine(
  spec: RobustAggregation,
  values: Float64Array,
  weights: Float64Array,
  count: number,
  totalWeight: number,
  order: Uint32Array,
): number {
  if (count === 0) return 0;
  sortByValue(values, order, count);
  if (spec.kind === 'median') {
    const half = totalWeight / 2;
    let c = 0;
    for (let j = 0; j < count; j++) {
      c += weights[order[j]];
      if (c > half) return values[order[j]];
      if (c === half) return j + 1 < count ? (values[order[j]] + values[order[j + 1]]) / 2 : values[order[j]];
    }
    return values[order[count - 1]]; // rounding left c just below half at the end
  }
  const lo = spec.trim * totalWeight;
  const hi = totalWeight - lo;
  // A cut that should fall exactly between two values (trim·W a sum of weights) can land a rounding error inside the
  // trimmed value, and a sliver of weight times a huge outlier is not small: slivers below W·2^−40 count as nothing.
  const sliver = totalWeight * 2 ** -40;
  let c = 0;
  let sum = 0;
  for (let j = 0; j < count; j++) {
    const o = order[j];
    const next = c + weights[o];
    const kept = Math.min(next, hi) - Math.max(c, lo);
    if (kept > sliver) sum += kept * values[o];
    c = next;
  }
  return sum / (hi - lo);
}
