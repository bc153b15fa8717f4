/**
 * How well a supernet ranks architectures (docs/algorithms/gm-nas.md §8.2): Kendall τ between estimated and
 * true scores, and the regret of the estimator's top-1 pick.
 */

function checkPair(where: string, a: readonly number[], b: readonly number[]): void {
  if (a.length !== b.length || a.length < 2)
    throw new Error(`${where}: needs two score lists of the same length >= 2, got ${a.length} and ${b.length}`);
  if (!a.every((v) => Number.isFinite(v)) || !b.every((v) => Number.isFinite(v)))
    throw new Error(`${where}: scores must be finite numbers`);
}

/**
 * Kendall's τ-b between two score lists over the same items (Kendall 1945): (C − D) /
 * √((n₀ − T_a)(n₀ − T_b)), with C and D the concordant and discordant pairs, n₀ = n(n − 1)/2 and
 * T_a, T_b the pairs tied in a and in b. Equals the plain τ-a without ties; 1 for the same order,
 * −1 for the reverse; 0 when either list is constant (undefined there). O(n²), for n up to a few thousand.
 */
export function kendallTau(a: readonly number[], b: readonly number[]): number {
  checkPair('kendallTau', a, b);
  const n = a.length;
  let concordant = 0;
  let discordant = 0;
  let tiedA = 0;
  let tiedB = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const da = Math.sign(a[i] - a[j]);
      const db = Math.sign(b[i] - b[j]);
      if (da === 0) tiedA++;
      if (db === 0) tiedB++;
      if (da * db > 0) concordant++;
      else if (da * db < 0) discordant++;
    }
  }
  const n0 = (n * (n - 1)) / 2;
  const denominator = Math.sqrt((n0 - tiedA) * (n0 - tiedB));
  return denominator > 0 ? (concordant - discordant) / denominator : 0;
}

/**
 * Top-1 regret, for scores where LOWER is better (losses): truth[k] − min(truth), where k is the
 * item with the lowest estimate (the first one on ties). 0 when the estimator picks the best item.
 */
export function top1Regret(estimated: readonly number[], truth: readonly number[]): number {
  checkPair('top1Regret', estimated, truth);
  let pick = 0;
  for (let i = 1; i < estimated.length; i++) if (estimated[i] < estimated[pick]) pick = i;
  return truth[pick] - Math.min(...truth);
}

/** One candidate's standing in a rung. */
export interface RungScore {
  /** Accuracy on the selection split. */
  accuracy: number;
  /** Loss on the selection split. */
  loss: number;
}

/**
 * Orders candidates best first: by `metric` (accuracy: higher is better; loss: lower is better), ties by the
 * other one, then by index. NaN ranks last.
 * @returns indices into `scores`.
 */
export function rankCandidates(scores: readonly RungScore[], metric: 'accuracy' | 'loss'): number[] {
  const key = (s: RungScore): [number, number] => {
    const acc = Number.isNaN(s.accuracy) ? -Infinity : s.accuracy;
    const loss = Number.isNaN(s.loss) ? -Infinity : -s.loss;
    return metric === 'accuracy' ? [acc, loss] : [loss, acc];
  };
  return scores
    .map((s, i) => ({ i, k: key(s) }))
    .sort((a, b) => b.k[0] - a.k[0] || b.k[1] - a.k[1] || a.i - b.i)
    .map((x) => x.i);
}
