import { createRng, deriveSeed } from '../random';
import { gmMatrix, type GmScoreOptions } from './gm-score';
import { randomPartition, selectEdge, type SelectEdgeOptions } from './partition';
import { architecturesInMask, enabledOps, isUnsplit, type SupernetSpec } from './search-space';
import { evaluateArchitectures, randomBatches, type ArchitectureScore, type Samples } from './supernet';
import { rootNode, splitNode, type NasNode, type StoredEdgeScores } from './tree';
import { initialTrainingState, spawnTrainingState, trainSupernet, type TrainingState, type TrainSupernetOptions } from './training';

/**
 * The whole supernet-tree schedule of docs/algorithms/gm-nas.md §6.2 in one process: the reference the
 * coordinator's distributed version must agree with, and the engine of `bench/nas.ts`. It runs GM-NAS
 * and its baselines (§8.1) with the same training code:
 * - `none`: one-shot, the root trained for `finalSteps`;
 * - `few-shot`: one edge split into singletons before any training (Few-Shot NAS scripts: split at epoch 0);
 * - `random`: like `gm`, but a random unsplit edge and a random balanced partition (the random-split ablation);
 * - `gm`: GM scores on every unsplit edge, {@link selectEdge}, split.
 */

/** Splitting method (docs/algorithms/gm-nas.md §8.1). */
export type SplitMethod = 'none' | 'few-shot' | 'random' | 'gm';

/** Options of {@link runSplitSearch}. */
export interface SplitSearchOptions {
  method: SplitMethod;
  /**
   * Steps each node of a level trains before its split, one entry per split level (docs/algorithms/gm-nas.md §6.2;
   * the official checkpoints, in steps instead of epochs). `[500, 0]`: the root warms up 500 steps, its two
   * children are scored at once. Few-shot needs exactly one level; ignored for `none`.
   */
  splitSteps: number[];
  /** Steps each leaf trains after the last split (for `none`: the root's whole budget). */
  finalSteps: number;
  /**
   * `final` (default; every reported run, docs/algorithms/gm-nas.md §6.1): the children of the last split are
   * re-initialised and get a new cosine schedule of `finalSteps` (the DARTS-space `fix_sche=1`
   * behaviour). `none`: everything is inherited and one schedule spans the lineage.
   */
  restart?: 'final' | 'none';
  /** Groups per split for `gm` and `random` (default 2). */
  groups?: number;
  /** The edge that few-shot splits (default 0, as in the Few-Shot scripts). */
  fewShotEdge?: number;
  /** Partition objective, size rule and edge rule for `gm` (docs/algorithms/gm-nas.md §4–§5; defaults cut / minCut). */
  selection?: SelectEdgeOptions;
  /**
   * GM scoring (docs/algorithms/gm-nas.md §3): `batches` R (default 100) random minibatches of `batchSize` (default
   * the training batch size, 64) per node, the same batches for every candidate edge of the node;
   * plus the {@link GmScoreOptions} shared-weight set and mode. The mode defaults to the training
   * mode (single-path training → RSPS-style single-path scoring; mixture → mixture), as in the
   * official code, where the GM mode follows the search algorithm.
   */
  scoring?: Omit<GmScoreOptions, 'seed'> & { batches?: number; batchSize?: number };
  /** Training of every node (batch size, mode, optimiser); steps, seed and schedule are set here. */
  training?: Omit<TrainSupernetOptions, 'steps' | 'seed' | 'scheduleSteps'>;
  /** Seeds every random choice (initialisation, batches, paths, random splits). */
  seed: number;
}

/** A leaf sub-supernet with its trained weights. */
export interface SearchLeaf {
  node: NasNode;
  state: TrainingState;
}

/** Result of {@link runSplitSearch}. */
export interface SplitSearchResult {
  /** Every node of the tree, parents before children, splits recorded (JSON-safe). */
  nodes: NasNode[];
  leaves: SearchLeaf[];
  /** Optimiser steps summed over all nodes: the training budget spent. */
  trainingSteps: number;
  /** Forward/backward passes spent on GM scoring (R × |ops| per scored edge, docs/algorithms/gm-nas.md §3.2). */
  gmPasses: number;
  /** GM batches in which all shared gradients vanished (see `GmScoreSums.degenerateBatches`), summed over scored edges. */
  degenerateBatches: number;
}

function checkSteps(name: string, v: number): void {
  if (!(Number.isInteger(v) && v >= 0)) throw new Error(`runSplitSearch: ${name} must be a non-negative integer, got ${v}`);
}

/**
 * Runs the supernet tree of docs/algorithms/gm-nas.md §6 on local data: train each node of a level, split it, spawn the
 * children (inherit, or re-initialise at the final split), and finally train the leaves.
 * @param train the weight-training split.
 */
export function runSplitSearch(spec: SupernetSpec, train: Samples, options: SplitSearchOptions): SplitSearchResult {
  const { method, seed } = options;
  if (!['none', 'few-shot', 'random', 'gm'].includes(method)) throw new Error(`runSplitSearch: unknown method ${String(method)}`);
  const splitSteps = method === 'none' ? [] : options.splitSteps;
  splitSteps.forEach((s, i) => checkSteps(`splitSteps[${i}]`, s));
  checkSteps('finalSteps', options.finalSteps);
  if (method !== 'none' && splitSteps.length === 0) throw new Error(`runSplitSearch: ${method} needs at least one split level`);
  if (method === 'few-shot' && splitSteps.length !== 1)
    throw new Error(`runSplitSearch: few-shot splits one edge once, got ${splitSteps.length} levels`);
  const restart = options.restart ?? 'final';
  const groups = options.groups ?? 2;
  const training = options.training ?? {};
  const scoring = { ...options.scoring, mode: options.scoring?.mode ?? training.mode ?? 'single-path' };
  const R = scoring.batches ?? 100;
  const scoreBatch = scoring.batchSize ?? training.batchSize ?? 64;
  const lineage = splitSteps.reduce((a, b) => a + b, 0) + options.finalSteps;

  const nodes: NasNode[] = [];
  let level: SearchLeaf[] = [{ node: rootNode(spec), state: initialTrainingState(spec, deriveSeed(seed, 'init', 'root')) }];
  let trainingSteps = 0;
  let gmPasses = 0;
  let degenerateBatches = 0;

  splitSteps.forEach((steps, depth) => {
    const next: SearchLeaf[] = [];
    const last = depth === splitSteps.length - 1;
    for (const { node, state } of level) {
      const trained = trainSupernet(spec, state, node.mask, train, {
        ...training,
        steps,
        scheduleSteps: lineage,
        seed: deriveSeed(seed, 'train', node.id),
      }).state;
      trainingSteps += steps;
      const rng = createRng(deriveSeed(seed, 'split', node.id));
      const candidates = node.mask.map((_, e) => e).filter((e) => isUnsplit(node.mask, e) && spec.edges[e].ops.length >= groups);
      let edge: number;
      let opGroups: number[][];
      let scores: StoredEdgeScores[] = [];
      switch (method) {
        case 'few-shot':
          edge = options.fewShotEdge ?? 0;
          if (!candidates.includes(edge)) throw new Error(`runSplitSearch: few-shot edge ${edge} cannot be split`);
          opGroups = enabledOps(node.mask, edge).map((o) => [o]);
          break;
        case 'random':
          if (candidates.length === 0) throw new Error(`runSplitSearch: node ${node.id} has no unsplit edge left`);
          edge = candidates[rng.int(candidates.length)];
          opGroups = randomPartition(spec.edges[edge].ops.length, rng, { ...options.selection, groups }); // unsplit: row i is op i
          break;
        case 'gm': {
          if (candidates.length === 0) throw new Error(`runSplitSearch: node ${node.id} has no unsplit edge left`);
          const batches = randomBatches(spec, train, R, scoreBatch, rng);
          const matrices = candidates.map((e) =>
            gmMatrix(spec, trained.params, node.mask, e, batches, { ...scoring, seed: deriveSeed(seed, 'gm', node.id, e) }),
          );
          gmPasses += matrices.reduce((n, m) => n + m.batches * m.ops.length, 0);
          degenerateBatches += matrices.reduce((n, m) => n + m.degenerateBatches, 0);
          const selection = selectEdge(matrices, { ...options.selection, groups });
          edge = selection.edge;
          opGroups = selection.groups;
          scores = matrices.map((m) => ({ edge: m.edge, ops: m.ops, matrix: m.matrix, batches: m.batches }));
          break;
        }
        case 'none':
          throw new Error('runSplitSearch: unreachable');
      }
      const { parent, children } = splitNode(spec, node, edge, opGroups, {
        criterion: method,
        scores,
        reinit: restart === 'final' && last,
      });
      nodes.push(parent);
      for (const child of children)
        next.push({ node: child, state: spawnTrainingState(spec, trained, child, deriveSeed(seed, 'init', child.id)) });
    }
    level = next;
  });

  const leaves = level.map(({ node, state }) => {
    const fresh = node.init !== 'inherit';
    const result = trainSupernet(spec, state, node.mask, train, {
      ...training,
      steps: options.finalSteps,
      scheduleSteps: fresh ? Math.max(1, options.finalSteps) : lineage,
      seed: deriveSeed(seed, 'train-final', node.id),
    });
    trainingSteps += options.finalSteps;
    nodes.push(node);
    return { node, state: result.state };
  });
  return { nodes, leaves, trainingSteps, gmPasses, degenerateBatches };
}

/**
 * The supernet's estimate of every architecture covered by the leaves (docs/algorithms/gm-nas.md §8.2): each
 * architecture is evaluated with the weights of the leaf whose mask contains it, on `samples`
 * (the selection split). Leaves' masks partition the space, so every architecture appears once.
 */
export function leafEstimates(spec: SupernetSpec, leaves: readonly SearchLeaf[], samples: Samples): ArchitectureScore[] {
  return leaves.flatMap((leaf) =>
    evaluateArchitectures(spec, leaf.state.params, architecturesInMask(leaf.node.mask), samples, leaf.node.mask),
  );
}
