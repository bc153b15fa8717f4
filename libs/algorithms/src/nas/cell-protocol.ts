import { createRng, deriveSeed } from '../random';
import { cellGmMatrix, copyCellTrainingState, initialCellTrainingState, randomCellBatches, trainCellSupernet } from './cell-search';
import type { ArchOptimizerOptions, CellSearchMode, CellTrainingState, SnasOptions } from './cell-search';
import { CELL_OPS, checkCellMask, fullCellMask, type CellSpaceSpec } from './cell-space';
import { randomPartition, selectEdge, type EdgeScores } from './partition';
import type { Mask } from './search-space';
import type { Samples } from './supernet';
import type { SgdOptions } from './training';

/**
 * The supernet tree of GM-NAS on the cell space, in one process (docs/algorithms/gm-nas.md §6.2, §6.4): the
 * schedule of the official NAS-Bench-201 scripts with any weight-sharing mode inside every (sub-)supernet.
 * - `none` (one-shot): the root trained for `finalSteps`;
 * - `few-shot`: one edge split into its 5 ops at step 0, each leaf trained for `finalSteps` from fresh weights;
 * - `random` / `gm`: the root warms up `splitSteps[0]` steps, splits; each child trains `splitSteps[1]` steps
 *   (inheriting weights, momentum and schedule) and splits again; the leaves are re-initialised and each trains
 *   `finalSteps`. Before the last split α stays frozen (uniform), as in the official split phase; the leaves
 *   learn it (DARTS, SNAS).
 * The paper's protocol gives every leaf the one-shot budget (`finalSteps` = the one-shot steps); the
 * equal-budget ablation shrinks `finalSteps` so that all methods spend the same total.
 */

/** Splitting method (docs/algorithms/gm-nas.md §8.1). */
export type CellSplitMethod = 'none' | 'few-shot' | 'random' | 'gm';

/** Options of {@link runCellSearch}. */
export interface CellSearchOptions {
  method: CellSplitMethod;
  /** Weight sharing inside every (sub-)supernet: `rsps`, `darts` or `snas`. */
  mode: CellSearchMode;
  /** Steps before each of the two splits, `[warm-up, between splits]` (random and gm; default [40, 20]). */
  splitSteps?: [number, number];
  /** Steps of each leaf after the last split (for `none`: the root's budget). */
  finalSteps: number;
  /** The edge few-shot splits (default 0, as the Few-Shot NAS scripts). */
  fewShotEdge?: number;
  /**
   * GM scoring (docs/algorithms/gm-nas.md §3): `batches` random minibatches of `batchSize` rows per node (defaults
   * 8 and the training batch size), the same for every unsplit edge; mixture scoring for DARTS and SNAS (uniform,
   * α being frozen then), single-path for RSPS; Ω_e over every cell and the reduction blocks.
   */
  scoring?: { batches?: number; batchSize?: number; sharedWeights?: 'cells' | 'all' };
  /** Minibatch size of the weight and α steps (default 32). */
  batchSize?: number;
  optimizer?: SgdOptions;
  arch?: ArchOptimizerOptions;
  snas?: SnasOptions;
  seed: number;
}

/** A leaf sub-supernet with its trained weights and α. */
export interface CellLeaf {
  id: string;
  mask: Mask;
  state: CellTrainingState;
}

/** One split of the tree. */
export interface CellSplit {
  node: string;
  edge: number;
  groups: number[][];
}

export interface CellSearchResult {
  leaves: CellLeaf[];
  splits: CellSplit[];
  /** Weight-optimiser steps summed over every node. */
  trainingSteps: number;
  /** Forward/backward passes spent on GM scoring. */
  gmPasses: number;
}

/**
 * Runs one search on the cell space: trains the tree of the method and returns its leaves (docs/algorithms/gm-nas.md §6.4).
 * @param train the weight split; @param validation the split α is learned on and GM batches are drawn from.
 */
export function runCellSearch(spec: CellSpaceSpec, train: Samples, validation: Samples, options: CellSearchOptions): CellSearchResult {
  const { method, mode, finalSteps, seed } = options;
  if (!['none', 'few-shot', 'random', 'gm'].includes(method)) throw new Error(`runCellSearch: unknown method ${String(method)}`);
  if (!(Number.isInteger(finalSteps) && finalSteps >= 0))
    throw new Error(`runCellSearch: finalSteps must be a non-negative integer, got ${finalSteps}`);
  const [warmup, between] = options.splitSteps ?? [40, 20];
  const batchSize = options.batchSize ?? 32;
  const common = { batchSize, mode, optimizer: options.optimizer, arch: options.arch, snas: options.snas, validation };
  const train_ = (
    state: CellTrainingState,
    mask: Mask,
    steps: number,
    learnAlpha: boolean,
    scheduleSteps: number,
    tag: string,
  ): CellTrainingState =>
    trainCellSupernet(spec, state, mask, train, {
      ...common,
      steps,
      learnAlpha,
      scheduleSteps: Math.max(1, scheduleSteps),
      seed: deriveSeed(seed, 'train', tag),
    }).state;
  const fresh = (tag: string): CellTrainingState => initialCellTrainingState(spec, deriveSeed(seed, 'init', tag));
  let trainingSteps = 0;
  let gmPasses = 0;
  const splits: CellSplit[] = [];

  if (method === 'none') {
    trainingSteps += finalSteps;
    return {
      leaves: [{ id: 'root', mask: fullCellMask(), state: train_(fresh('root'), fullCellMask(), finalSteps, true, finalSteps, 'root') }],
      splits,
      trainingSteps,
      gmPasses,
    };
  }
  if (method === 'few-shot') {
    const edge = options.fewShotEdge ?? 0;
    splits.push({ node: 'root', edge, groups: CELL_OPS.map((_, o) => [o]) });
    const leaves = CELL_OPS.map((_, o) => {
      const mask = fullCellMask();
      mask[edge] = mask[edge].map((_on, p) => p === o);
      const id = `root.${o}`;
      trainingSteps += finalSteps;
      return { id, mask, state: train_(fresh(id), mask, finalSteps, true, finalSteps, id) };
    });
    return { leaves, splits, trainingSteps, gmPasses };
  }

  const rng = createRng(deriveSeed(seed, 'split'));
  const scoreBatches = options.scoring?.batches ?? 8;
  const scoreBatchSize = options.scoring?.batchSize ?? batchSize;
  /** Splits one node into two children on the edge and groups its rule picks. */
  const split = (id: string, mask: Mask, state: CellTrainingState): { edge: number; groups: number[][] } => {
    checkCellMask(mask, 'runCellSearch');
    const unsplit = mask.flatMap((row, e) => (row.every((on) => on) ? [e] : []));
    if (method === 'random') {
      const edge = unsplit[rng.int(unsplit.length)];
      return { edge, groups: randomPartition(CELL_OPS.length, rng, { groups: 2 }) };
    }
    const batches = randomCellBatches(spec, validation, scoreBatches, scoreBatchSize, createRng(deriveSeed(seed, 'gm', id)));
    const candidates: EdgeScores[] = unsplit.map((edge) => {
      const s = cellGmMatrix(spec, state.params, mask, edge, batches, {
        mode: mode === 'rsps' ? 'single-path' : 'mixture',
        alpha: mode === 'rsps' ? undefined : state.arch.alpha,
        sharedWeights: options.scoring?.sharedWeights ?? 'cells',
        seed: deriveSeed(seed, 'gm-path', id, edge),
      });
      gmPasses += s.batches * s.ops.length;
      return { edge, ops: s.ops, matrix: s.matrix };
    });
    const chosen = selectEdge(candidates, { groups: 2 });
    return { edge: chosen.edge, groups: chosen.groups };
  };
  const apply = (mask: Mask, edge: number, group: number[]): Mask =>
    mask.map((row, e) => (e === edge ? row.map((_, o) => group.includes(o)) : row.slice()));

  const schedule = warmup + between;
  const root = train_(fresh('root'), fullCellMask(), warmup, false, schedule, 'root');
  trainingSteps += warmup;
  const first = split('root', fullCellMask(), root);
  splits.push({ node: 'root', ...first });
  const leaves: CellLeaf[] = [];
  first.groups.forEach((g, k) => {
    const id = `root.${k}`;
    const mask = apply(fullCellMask(), first.edge, g);
    const state = train_(copyCellTrainingState(root), mask, between, false, schedule, id);
    trainingSteps += between;
    const second = split(id, mask, state);
    splits.push({ node: id, ...second });
    second.groups.forEach((g2, k2) => {
      const leafId = `${id}.${k2}`;
      const leafMask = apply(mask, second.edge, g2);
      // The last split re-initialises its children (restart = final, docs/algorithms/gm-nas.md §6.1).
      leaves.push({ id: leafId, mask: leafMask, state: train_(fresh(leafId), leafMask, finalSteps, true, finalSteps, leafId) });
      trainingSteps += finalSteps;
    });
  });
  return { leaves, splits, trainingSteps, gmPasses };
}
