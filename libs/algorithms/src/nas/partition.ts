import type { Rng } from '../random';

/**
 * Splitting decisions from GM matrices (docs/algorithms/gm-nas.md §4–§5): the balanced exhaustive partition
 * of one edge's ops (graph min-cut on the similarity graph) and the choice of the edge to split.
 * Pure functions on small matrices (|ops| ≤ 12).
 */

/** Partition objective (docs/algorithms/gm-nas.md §4). */
export type PartitionObjective = 'cut' | 'withinDistance';

/** Edge-selection rule (docs/algorithms/gm-nas.md §5). */
export type EdgeRule = 'minCut' | 'minWithinDistance';

/** Options of {@link balancedPartition}. */
export interface PartitionOptions {
  /** Number of groups (default 2: GM-NAS's binary split; 3 for the ProxylessNAS 3-way stage). */
  groups?: number;
  /**
   * Smallest allowed group (default min(2, ⌊n / groups⌋)). With 2 groups this reproduces every
   * size rule of the official code (docs/algorithms/gm-nas.md §4): NB201's 5 ops → exactly {2, 3}; DARTS' 7 ops →
   * 2/5 or 3/4; ProxylessNAS 2-way → smaller group 2..⌊n/2⌋; 3-way → every group ≥ 2.
   */
  minGroupSize?: number;
  /**
   * `cut` (default; paper / NB201 semantics): minimise Σ GM(i, j) over pairs in different groups.
   * `withinDistance` (DARTS-space code): minimise Σ (1 − GM(i, j)) over pairs in the same group.
   * Equivalent for a single size pattern; they can differ when several are allowed (§4).
   */
  objective?: PartitionObjective;
}

/** A partition of one edge's ops with its costs (indices are rows of the GM matrix). */
export interface Partition {
  /** The groups, each in increasing order; the order of enumeration (smaller groups first). */
  groups: number[][];
  /** Σ GM(i, j) over pairs i < j in different groups (the min-cut value). */
  cut: number;
  /** Σ (1 − GM(i, j)) over pairs i < j in the same group. */
  withinDistance: number;
  /** Σ (1 − GM(i, j)) over pairs i < j in different groups = total distance − withinDistance (NB201 edge score). */
  crossDistance: number;
}

const MAX_OPS = 12;

function checkMatrix(m: readonly (readonly number[])[], where: string): void {
  const n = Array.isArray(m) ? m.length : 0;
  if (n < 2 || n > MAX_OPS) throw new Error(`${where}: the GM matrix must be square with 2..${MAX_OPS} ops, got ${n} rows`);
  m.forEach((row, i) => {
    if (!Array.isArray(row) || row.length !== n || !row.every((v) => Number.isFinite(v))) {
      throw new Error(`${where}: GM matrix row ${i} must hold ${n} finite numbers`);
    }
  });
}

function resolveOptions(
  n: number,
  options: PartitionOptions,
  where: string,
): { groups: number; min: number; objective: PartitionObjective } {
  const groups = options.groups ?? 2;
  if (!(Number.isInteger(groups) && groups >= 2 && groups <= n))
    throw new Error(`${where}: groups must be an integer in [2, ${n}], got ${groups}`);
  const min = options.minGroupSize ?? Math.min(2, Math.floor(n / groups));
  if (!(Number.isInteger(min) && min >= 1 && min * groups <= n)) {
    throw new Error(`${where}: minGroupSize must be an integer >= 1 with minGroupSize × groups <= ${n} ops, got ${min}`);
  }
  const objective = options.objective ?? 'cut';
  if (objective !== 'cut' && objective !== 'withinDistance')
    throw new Error(`${where}: objective must be 'cut' or 'withinDistance', got ${String(objective)}`);
  return { groups, min, objective };
}

/** Non-decreasing group sizes ≥ min summing to n, in lexicographic order. */
function sizePatterns(n: number, groups: number, min: number): number[][] {
  const out: number[][] = [];
  const rec = (prefix: number[], left: number, from: number): void => {
    const slots = groups - prefix.length;
    if (slots === 1) {
      if (left >= from) out.push([...prefix, left]);
      return;
    }
    for (let k = from; k * slots <= left; k++) rec([...prefix, k], left - k, k);
  };
  rec([], n, min);
  return out;
}

/** k-combinations of `items` in lexicographic order. */
function* combinations(items: number[], k: number, start = 0, prefix: number[] = []): Generator<number[]> {
  if (prefix.length === k) {
    yield prefix.slice();
    return;
  }
  for (let i = start; i <= items.length - (k - prefix.length); i++) {
    prefix.push(items[i]);
    yield* combinations(items, k, i + 1, prefix);
    prefix.pop();
  }
}

/**
 * Every partition of n ops allowed by the options, in the tie-breaking order of docs/algorithms/gm-nas.md §4: size
 * patterns smaller-first, then combinations in lexicographic order, group by group. An unordered
 * partition whose equal-sized groups come out in another order is skipped (its first occurrence,
 * with the group holding the smallest op first, has already been listed).
 */
export function* allowedPartitions(n: number, options: PartitionOptions = {}): Generator<number[][]> {
  const { groups, min } = resolveOptions(n, options, 'allowedPartitions');
  for (const pattern of sizePatterns(n, groups, min)) {
    const rec = function* (left: number[], g: number, acc: number[][]): Generator<number[][]> {
      if (g === groups - 1) {
        yield [...acc, left];
        return;
      }
      for (const c of combinations(left, pattern[g])) {
        const prev = acc[acc.length - 1];
        if (prev && prev.length === c.length && prev[0] > c[0]) continue;
        const rest = left.filter((i) => !c.includes(i));
        const last = g + 1 === groups - 1 ? rest : undefined;
        if (last && last.length === c.length && c[0] > last[0]) continue;
        yield* rec(rest, g + 1, [...acc, c]);
      }
    };
    yield* rec(
      Array.from({ length: n }, (_, i) => i),
      0,
      [],
    );
  }
}

/** Costs of a given partition of the ops of a GM matrix (symmetrised: (GM(i, j) + GM(j, i)) / 2). */
export function partitionCosts(matrix: readonly (readonly number[])[], groups: readonly (readonly number[])[]): Partition {
  checkMatrix(matrix, 'partitionCosts');
  const n = matrix.length;
  const group = new Array<number>(n).fill(-1);
  groups.forEach((g, k) =>
    g.forEach((i) => {
      if (!(Number.isInteger(i) && i >= 0 && i < n) || group[i] !== -1)
        throw new Error(`partitionCosts: groups must partition 0..${n - 1}, got ${JSON.stringify(groups)}`);
      group[i] = k;
    }),
  );
  if (group.includes(-1)) throw new Error(`partitionCosts: groups must partition 0..${n - 1}, got ${JSON.stringify(groups)}`);
  let cut = 0;
  let withinDistance = 0;
  let crossDistance = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const s = (matrix[i][j] + matrix[j][i]) / 2;
      if (group[i] === group[j]) withinDistance += 1 - s;
      else {
        cut += s;
        crossDistance += 1 - s;
      }
    }
  }
  return { groups: groups.map((g) => [...g].sort((a, b) => a - b)), cut, withinDistance, crossDistance };
}

/**
 * The balanced partition of one edge's ops with the best objective, by exhaustive enumeration
 * (docs/algorithms/gm-nas.md §4: graph min-cut on the complete graph whose edge weights are the GM similarities).
 * Ties keep the first partition in {@link allowedPartitions} order. The official 3-way enumerator's
 * bug (a running sum never reset) is not reproduced.
 * @param matrix the GM matrix of the edge (|ops| × |ops|, 2 ≤ |ops| ≤ 12); group indices refer to its rows.
 */
export function balancedPartition(matrix: readonly (readonly number[])[], options: PartitionOptions = {}): Partition {
  checkMatrix(matrix, 'balancedPartition');
  const { objective } = resolveOptions(matrix.length, options, 'balancedPartition');
  let best: Partition | undefined;
  for (const groups of allowedPartitions(matrix.length, options)) {
    const p = partitionCosts(matrix, groups);
    const value = objective === 'cut' ? p.cut : p.withinDistance;
    if (!best || value < (objective === 'cut' ? best.cut : best.withinDistance)) best = p;
  }
  if (!best) throw new Error('balancedPartition: no partition satisfies the size constraint');
  return best;
}

/** A uniformly random allowed partition (the random-split ablation, docs/algorithms/gm-nas.md §8.1). */
export function randomPartition(n: number, rng: Rng, options: PartitionOptions = {}): number[][] {
  const all = [...allowedPartitions(n, options)];
  return all[rng.int(all.length)];
}

/** The GM matrix of one candidate edge, as returned by `combineScores`. */
export interface EdgeScores {
  edge: number;
  /** The op indices that the matrix rows stand for. */
  ops: number[];
  matrix: number[][];
}

/** One candidate edge with its best partition and its selection score. */
export interface EdgeCandidate extends Partition {
  edge: number;
  /** The partition in op indices of the edge. */
  opGroups: number[][];
}

/** The chosen edge and how to split it. */
export interface EdgeSelection {
  edge: number;
  /** Groups of op indices of the edge: one child sub-supernet per group. */
  groups: number[][];
  /** Every candidate, in input order, for logging and persistence. */
  candidates: EdgeCandidate[];
}

/** Options of {@link selectEdge}. */
export interface SelectEdgeOptions extends PartitionOptions {
  /**
   * `minCut` (default; NB201 code, the paper's "lowest min-cut cost"): the edge with the largest
   * crossDistance of its best partition (= total distance − within distance), strict ">", so ties go
   * to the earliest candidate. `minWithinDistance` (DARTS-space and ProxylessNAS code): the edge with
   * the smallest withinDistance of its best partition, ties to the earliest (docs/algorithms/gm-nas.md §5).
   */
  rule?: EdgeRule;
}

/**
 * Chooses the edge to split and its groups from the GM matrices of the candidate edges (docs/algorithms/gm-nas.md §5).
 * Candidates should be the unsplit edges of the sub-supernet (§5); they are compared in the order given.
 */
export function selectEdge(candidates: readonly EdgeScores[], options: SelectEdgeOptions = {}): EdgeSelection {
  if (candidates.length === 0) throw new Error('selectEdge: needs at least one candidate edge');
  const rule = options.rule ?? 'minCut';
  if (rule !== 'minCut' && rule !== 'minWithinDistance')
    throw new Error(`selectEdge: rule must be 'minCut' or 'minWithinDistance', got ${String(rule)}`);
  const scored: EdgeCandidate[] = candidates.map((c) => {
    if (!Array.isArray(c.ops) || c.ops.length !== c.matrix.length)
      throw new Error(`selectEdge: edge ${c.edge} has ${c.ops?.length} ops for a ${c.matrix.length}-row matrix`);
    const p = balancedPartition(c.matrix, options);
    return { edge: c.edge, ...p, opGroups: p.groups.map((g) => g.map((i) => c.ops[i]).sort((a, b) => a - b)) };
  });
  let best = 0;
  for (let i = 1; i < scored.length; i++) {
    const better =
      rule === 'minCut' ? scored[i].crossDistance > scored[best].crossDistance : scored[i].withinDistance < scored[best].withinDistance;
    if (better) best = i;
  }
  return { edge: scored[best].edge, groups: scored[best].opGroups, candidates: scored };
}
