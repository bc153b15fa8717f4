import { createRng } from '../random';
import { dirichletLabelSplit, iidSplit, parseLabelLastCsv, subset, trainTestSplit, type Dataset } from './dataset';

/** Scales every feature to [0, 1] with one range for all columns: (x − lo) / (hi − lo). Returns a new dataset. */
export function scaleToUnit(ds: Dataset, range: readonly [number, number]): Dataset {
  const [lo, hi] = range;
  if (!(hi > lo)) throw new Error(`scaleToUnit: range must have hi > lo, got [${lo}, ${hi}]`);
  const features = new Float32Array(ds.features.length);
  const inv = 1 / (hi - lo);
  for (let i = 0; i < features.length; i++) features[i] = (ds.features[i] - lo) * inv;
  return { ...ds, features };
}

export interface HeldOutSpec {
  featureRange: readonly [number, number];
  numClasses: number;
  heldOut: { fraction: number; seed: number };
}

/**
 * Parses a label-last CSV and splits off the held-out test set, deterministically from the spec.
 * Values stay unscaled (agents receive raw files and scale with `featureRange` themselves).
 * The coordinator evaluates on `test`; simulations and demos shard `train` to clients.
 */
export function splitHeldOut(csvText: string, spec: HeldOutSpec): { train: Dataset; test: Dataset } {
  return splitDataset(parseLabelLastCsv(csvText, { numClasses: spec.numClasses }), spec);
}

/** {@link splitHeldOut} for a dataset already parsed (from any format): the same split for the same rows. */
export function splitDataset(all: Dataset, spec: Pick<HeldOutSpec, 'heldOut'>): { train: Dataset; test: Dataset } {
  return trainTestSplit(all, spec.heldOut.fraction, createRng(spec.heldOut.seed));
}

/** How {@link agentShards} cuts the training rows: evenly at random, or non-IID by label (docs/algorithms/fedau.md §6.1). */
export type ShardSplit = { kind: 'iid' } | { kind: 'dirichlet'; alpha: number };

/** Options of {@link agentShards}. */
export interface AgentShardOptions {
  /** Number of shards (agents), ≥ 1. */
  agents: number;
  split: ShardSplit;
  /** Seeds the split (not the held-out split, whose seed is the dataset's). */
  seed: number;
  /** Dirichlet only: every shard gets at least this many rows (the split is redrawn until it holds), default 0. */
  minPerAgent?: number;
}

/**
 * A dataset file cut the way a deployment needs it: `test` is exactly the coordinator's held-out split (the rows it
 * evaluates every global model on, {@link splitHeldOut}), and `shards` cut the remaining rows, `train`, over the
 * agents, so no agent trains on a row the coordinator tests on. Every row of the file is in `test` or in exactly one
 * shard. `flotilla data split`, the demo and the tests all make their agents' files here.
 * @returns the two sides of the held-out split, and for each agent its rows of `train` (`indices`, increasing, into
 * `train`) and those rows as a dataset.
 */
export function agentShards(
  csvText: string,
  spec: HeldOutSpec,
  options: AgentShardOptions,
): { train: Dataset; test: Dataset; shards: { indices: number[]; data: Dataset }[] } {
  const { train, test } = splitHeldOut(csvText, spec);
  return { train, test, shards: cutShards(train, spec.numClasses, options) };
}

/**
 * The training rows (the held-out split already taken out, from a file of any format) cut over the agents as
 * {@link agentShards} does: for each agent its rows (`indices`, increasing, into `train`) and those rows as a dataset.
 */
export function cutShards(train: Dataset, numClasses: number, options: AgentShardOptions): { indices: number[]; data: Dataset }[] {
  const rng = createRng(options.seed);
  let indices: number[][];
  switch (options.split.kind) {
    case 'iid':
      indices = iidSplit(train.size, options.agents, rng);
      break;
    case 'dirichlet':
      indices = dirichletLabelSplit(train.labels, numClasses, options.agents, options.split.alpha, rng, {
        minPerClient: options.minPerAgent ?? 0,
      });
      break;
  }
  return indices.map((idx) => ({ indices: idx, data: subset(train, idx) }));
}
