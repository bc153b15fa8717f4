import * as tf from '@tensorflow/tfjs';
import { createRng } from '../random';
import {
  checkMask,
  enabledOps,
  maskedSoftmax,
  pathWeights,
  samplePath,
  supernetLayout,
  uniformWeights,
  type Mask,
  type OpWeights,
  type SupernetSpec,
} from './search-space';
import { checkSamples, SupernetSession, type Samples } from './supernet';

/**
 * Gradient-matching (GM) scores (docs/algorithms/gm-nas.md §3): for one edge e, how well the gradients of
 * the shared weights Ω_e agree when e is fixed to each of its enabled ops in turn. High cosine =
 * the ops want the same shared weights, so sharing does little harm; the split separates ops that
 * disagree.
 *
 * The work is split the way the coordinator distributes it: agents run {@link gmScoreSums} on their
 * own batches and return only the |ops| × |ops| SUM of per-batch cosines with the batch count (no
 * gradient vectors travel), and the coordinator merges them with {@link combineScores}.
 */

/** Guard in the cosine denominator, as in the official code's `match_loss` (docs/algorithms/gm-nas.md §3.2). */
export const GM_COSINE_EPSILON = 1e-6;

/** Options of {@link gmScoreSums}. */
export interface GmScoreOptions {
  /**
   * How the other edges are weighted while edge e is fixed to one op (docs/algorithms/gm-nas.md §3.3):
   * - `mixture` (default): the masked softmax of `alpha` over the enabled ops; with α frozen (the
   *   split phase of the official code) this is the uniform mixture. DARTS/SNAS mode, and the toy of check 5 (§12).
   * - `single-path`: a fresh random one-hot per edge and batch (RSPS mode), the same for all ops of
   *   the batch, redrawn while the path is disconnected (§2).
   */
  mode?: 'mixture' | 'single-path';
  /** Architecture parameters for `mixture` (edges × ops); default all zero, i.e. uniform. */
  alpha?: number[][];
  /**
   * Which weights form Ω_e (docs/algorithms/gm-nas.md §3.1): `cells` (default, as the official code) = the parameters
   * of every op on the other edges; `all` = every parameter except the ops on edge e, i.e. also the
   * stem and the readout (needed when the cell has no trainable ops, as in the toy of check 5, §12).
   */
  sharedWeights?: 'cells' | 'all';
  /** Seed of the single-path draws (default 0). */
  seed?: number;
}

/** What an agent returns for one edge: JSON-safe, |ops|² numbers plus counts. */
export interface GmScoreSums {
  edge: number;
  /** The scored ops (the enabled ops of the edge), in increasing order; rows and columns follow it. */
  ops: number[];
  /** Σ over batches of cos(g_i, g_j), |ops| × |ops|, symmetric. */
  sums: number[][];
  /** Number of batches summed. */
  batches: number;
  /**
   * Batches in which every op's shared gradient vanished (‖g‖² ≤ {@link GM_COSINE_EPSILON}, so every
   * cosine is dominated by the guard and ≈ 0): e.g. a mixture on another edge that averages to
   * zero (docs/algorithms/gm-nas.md §3.2, degenerate batches). Callers should warn when this is not 0.
   */
  degenerateBatches: number;
}

/** The averaged GM matrix of one edge: GM(i, j) = mean cosine over the batches (docs/algorithms/gm-nas.md §3.2). */
export interface GmScores {
  edge: number;
  ops: number[];
  /** |ops| × |ops|, symmetric, values in [−1, 1]. */
  matrix: number[][];
  batches: number;
  degenerateBatches: number;
}

/**
 * Index ranges [start, end) of the flat parameter vector that form Ω_e, the shared weights of edge
 * e (docs/algorithms/gm-nas.md §3.1): all op parameters of the other edges, plus stem and readout for `all`. The ops of
 * edge e itself are never included: each op's gradient would live in different coordinates.
 */
export function sharedWeightRanges(spec: SupernetSpec, edge: number, sharedWeights: 'cells' | 'all' = 'cells'): [number, number][] {
  if (!(Number.isInteger(edge) && edge >= 0 && edge < spec.edges.length)) {
    throw new Error(`GM score: edge must be an integer in [0, ${spec.edges.length}), got ${edge}`);
  }
  const ranges: [number, number][] = [];
  for (const s of supernetLayout(spec).segments) {
    const shared = s.owner === 'op' ? s.edge !== edge : sharedWeights === 'all';
    if (!shared) continue;
    const last = ranges[ranges.length - 1];
    if (last && last[1] === s.offset) last[1] = s.offset + s.size;
    else ranges.push([s.offset, s.offset + s.size]);
  }
  return ranges;
}

/**
 * Sums of per-batch GM cosines for one edge over the given batches (docs/algorithms/gm-nas.md §3.2, one agent's share).
 * For every batch, θ for the other edges is fixed (mixture or one random path), then for each
 * enabled op o of the edge: θ_e = one-hot(o), g_o = ∂loss/∂Ω_e on that SAME batch; the batch adds
 * cos(g_i, g_j) = ⟨g_i, g_j⟩ / (‖g_i‖‖g_j‖ + 1e-6) to `sums[i][j]`. Weights are not changed.
 *
 * Cost: |batches| × |ops| forward/backward passes; memory: |ops| vectors of |Ω_e| floats.
 * @param params the (sub-)supernet's flat parameters.
 * @param mask the sub-supernet's mask; the edge needs at least 2 enabled ops.
 */
export function gmScoreSums(
  spec: SupernetSpec,
  params: Float32Array,
  mask: Mask,
  edge: number,
  batches: readonly Samples[],
  options: GmScoreOptions = {},
): GmScoreSums {
  const mode = options.mode ?? 'mixture';
  if (mode !== 'mixture' && mode !== 'single-path')
    throw new Error(`gmScoreSums: mode must be 'mixture' or 'single-path', got ${String(mode)}`);
  checkMask(spec, mask, 'gmScoreSums');
  const ranges = sharedWeightRanges(spec, edge, options.sharedWeights ?? 'cells');
  const ops = enabledOps(mask, edge);
  if (ops.length < 2) throw new Error(`gmScoreSums: edge ${edge} has ${ops.length} enabled op(s); scoring needs at least 2`);
  if (batches.length === 0) throw new Error('gmScoreSums: needs at least one batch');
  batches.forEach((b, i) => checkSamples(spec, b, `gmScoreSums batch ${i}`));
  if (options.alpha && mode !== 'mixture') throw new Error('gmScoreSums: alpha applies to mixture mode only');

  const k = ops.length;
  const sharedSize = ranges.reduce((n, [a, b]) => n + b - a, 0);
  const g = Array.from({ length: k }, () => new Float32Array(sharedSize));
  const full = new Float32Array(params.length);
  const sums = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  const rng = createRng(options.seed ?? 0);
  const mixture = mode === 'mixture' ? (options.alpha ? maskedSoftmax(options.alpha, mask) : uniformWeights(mask)) : undefined;
  let degenerate = 0;

  const session = new SupernetSession(spec, params);
  try {
    for (const batch of batches) {
      const base: OpWeights = mixture
        ? mixture.map((row) => row.slice())
        : pathWeights(spec, samplePath(spec, mask, rng, { edge, op: ops[0], countsAsConnected: true }));
      const { x, y } = session.upload(batch);
      try {
        ops.forEach((o, i) => {
          base[edge] = base[edge].map((_, p) => (p === o ? 1 : 0));
          session.gradient(base, x, y, full);
          let at = 0;
          for (const [a, b] of ranges) {
            g[i].set(full.subarray(a, b), at);
            at += b - a;
          }
        });
      } finally {
        tf.dispose([x, y]);
      }
      const norms = g.map((v) => Math.sqrt(dot(v, v)));
      if (Math.max(...norms) ** 2 <= GM_COSINE_EPSILON) degenerate++;
      for (let i = 0; i < k; i++) {
        for (let j = i; j < k; j++) {
          const c = dot(g[i], g[j]) / (norms[i] * norms[j] + GM_COSINE_EPSILON);
          sums[i][j] += c;
          if (j !== i) sums[j][i] += c;
        }
      }
    }
  } finally {
    session.dispose();
  }
  return { edge, ops, sums, batches: batches.length, degenerateBatches: degenerate };
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/**
 * Merges cosine sums of the same edge (from several agents or several calls) into the GM matrix:
 * Σ sums / Σ batches, the mean per-batch cosine of docs/algorithms/gm-nas.md §3.2 (not the cosine of averaged gradients).
 * @throws when the parts disagree on the edge or its ops, or a part is malformed.
 */
export function combineScores(parts: readonly GmScoreSums[]): GmScores {
  if (parts.length === 0) throw new Error('combineScores: needs at least one part');
  const { edge, ops } = parts[0];
  const k = ops.length;
  const total = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let batches = 0;
  let degenerateBatches = 0;
  parts.forEach((p, n) => {
    if (p.edge !== edge || p.ops.length !== k || p.ops.some((o, i) => o !== ops[i])) {
      throw new Error(
        `combineScores: part ${n} scores edge ${p.edge} ops [${p.ops.join(',')}], part 0 edge ${edge} ops [${ops.join(',')}]`,
      );
    }
    if (!(Number.isInteger(p.batches) && p.batches >= 1))
      throw new Error(`combineScores: part ${n} needs a positive integer batch count, got ${p.batches}`);
    if (!(
      Array.isArray(p.sums) &&
      p.sums.length === k &&
      p.sums.every((row) => Array.isArray(row) && row.length === k && row.every((v) => Number.isFinite(v)))
    )) {
      throw new Error(`combineScores: part ${n} needs a ${k} × ${k} matrix of finite sums`);
    }
    p.sums.forEach((row, i) => row.forEach((v, j) => (total[i][j] += v)));
    batches += p.batches;
    degenerateBatches += p.degenerateBatches;
  });
  return { edge, ops: ops.slice(), matrix: total.map((row) => row.map((v) => v / batches)), batches, degenerateBatches };
}

/** {@link gmScoreSums} and {@link combineScores} in one call: the GM matrix of an edge on local batches. */
export function gmMatrix(
  spec: SupernetSpec,
  params: Float32Array,
  mask: Mask,
  edge: number,
  batches: readonly Samples[],
  options: GmScoreOptions = {},
): GmScores {
  return combineScores([gmScoreSums(spec, params, mask, edge, batches, options)]);
}
