/**
 * `npm run bench -- nas-ground-truth`: a small NAS-Bench of our own for the cell space of
 * docs/algorithms/gm-nas.md §2.2. A stratified sample of connected architectures (equal numbers per count of
 * convolutions, 0 to 6, drawn uniformly inside each stratum) is trained stand-alone on the UCI digits' weight
 * split from several initialisations, and each run's accuracy on the held-out test split is recorded. The table
 * is computed once and committed (docs/results/nas-ground-truth.json, with the command, sizes, seeds and
 * machine), so that the search benchmark (bench/nas-cell.ts) and later runs never retrain it.
 */
import {
  cellArchitectureFromIndex,
  cellArchitectureIndex,
  cellArchitectureString,
  cellConvCount,
  cellPathWeights,
  CELL_EDGES,
  CELL_OPS,
  createRng,
  deriveSeed,
  evaluateCell,
  isCellConnected,
  trainCellStandalone,
  type Architecture,
  type CellSpaceSpec,
  type SgdOptions,
} from '@flotilla/algorithms';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { digitsSplits } from './nas';
import { serialize } from './results/index';
import { startRun, type RunMeta } from './results/meta';
import type { Bench } from './run';

const ROOT = path.resolve(__dirname, '..', '..');

/** Where the committed table lives. */
export const GROUND_TRUTH_PATH = path.join(ROOT, 'docs', 'results', 'nas-ground-truth.json');

/** The network every ground-truth and search run of the digits uses (docs/algorithms/gm-nas.md §2.2). */
export const DIGITS_CELL_SPACE: CellSpaceSpec = {
  height: 8,
  width: 8,
  inputChannels: 1,
  channels: 4,
  cellsPerStage: 1,
  stages: 2,
  classes: 10,
};

export interface GroundTruthConfig {
  space: CellSpaceSpec;
  /** Architectures sampled (spread evenly over the 7 strata). */
  architectures: number;
  /** Initialisations per architecture. */
  seeds: number;
  steps: number;
  batchSize: number;
  optimizer: Required<SgdOptions>;
  /** Seed of the stratified sample and of the per-seed initialisation and batch-order seeds. */
  sampleSeed: number;
  data: { description: string; train: number; test: number };
}

export interface GroundTruthEntry {
  /** Index in 0 … 5^6 − 1 (edge 0 most significant). */
  index: number;
  architecture: Architecture;
  /** NAS-Bench-201's string. */
  name: string;
  convs: number;
  /** Test accuracy of each seed's run, in seed order. */
  accuracies: number[];
  /** Their mean: the ground truth. */
  accuracy: number;
}

export interface GroundTruthJson {
  meta: RunMeta;
  config: GroundTruthConfig;
  entries: GroundTruthEntry[];
}

/** The stratified sample: `count` connected architectures, as even as possible over 0–6 convolutions, in index order. */
export function stratifiedSample(count: number, seed: number): Architecture[] {
  const total = CELL_OPS.length ** CELL_EDGES.length;
  const strata: number[][] = Array.from({ length: CELL_EDGES.length + 1 }, () => []);
  for (let i = 0; i < total; i++) {
    const a = cellArchitectureFromIndex(i);
    if (isCellConnected(a)) strata[cellConvCount(a)].push(i);
  }
  const rng = createRng(seed);
  const picked: number[] = [];
  strata.forEach((members, s) => {
    const want = Math.floor(count / strata.length) + (s < count % strata.length ? 1 : 0);
    rng.shuffle(members);
    picked.push(...members.slice(0, Math.min(want, members.length)));
  });
  return picked.sort((a, b) => a - b).map(cellArchitectureFromIndex);
}

/** The per-seed initialisation and batch-order seeds, shared by every architecture (common random numbers). */
export function groundTruthSeeds(sampleSeed: number, seed: number): { initSeed: number; seed: number } {
  return { initSeed: deriveSeed(sampleSeed, 'init', seed), seed: deriveSeed(sampleSeed, 'order', seed) };
}

export const bench: Bench = {
  description: 'stand-alone accuracies of a stratified sample of the cell space on the digits (writes docs/results/nas-ground-truth.json)',
  run(args, say) {
    const { values } = parseArgs({
      args,
      options: {
        architectures: { type: 'string', default: '100' },
        seeds: { type: 'string', default: '3' },
        steps: { type: 'string', default: '300' },
        out: { type: 'string', default: GROUND_TRUTH_PATH },
      },
    });
    const int = (name: 'architectures' | 'seeds' | 'steps'): number => {
      const v = Number(values[name]);
      if (!(Number.isInteger(v) && v >= 1)) throw new Error(`nas-ground-truth: --${name} must be a positive integer, got ${values[name]}`);
      return v;
    };
    const splits = digitsSplits();
    const config: GroundTruthConfig = {
      space: DIGITS_CELL_SPACE,
      architectures: int('architectures'),
      seeds: int('seeds'),
      steps: int('steps'),
      batchSize: 64,
      optimizer: { lr: 0.1, lrMin: 0, momentum: 0.9, nesterov: true, weightDecay: 5e-4, clipNorm: 5 },
      sampleSeed: 20261207,
      data: { description: splits.description, train: splits.train.size, test: splits.test.size },
    };
    const command = `npm run bench -- nas-ground-truth ${args.join(' ')}`.trim();
    const run = startRun(command);
    const sample = stratifiedSample(config.architectures, config.sampleSeed);
    const entries: GroundTruthEntry[] = [];
    for (const [k, architecture] of sample.entries()) {
      const accuracies: number[] = [];
      for (let s = 0; s < config.seeds; s++) {
        const { state } = trainCellStandalone(config.space, architecture, splits.train, {
          steps: config.steps,
          batchSize: config.batchSize,
          optimizer: config.optimizer,
          ...groundTruthSeeds(config.sampleSeed, s),
        });
        accuracies.push(round(evaluateCell(config.space, state.params, cellPathWeights(architecture), splits.test).accuracy));
      }
      const accuracy = round(accuracies.reduce((a, b) => a + b, 0) / accuracies.length);
      const entry = {
        index: cellArchitectureIndex(architecture),
        architecture,
        name: cellArchitectureString(architecture),
        convs: cellConvCount(architecture),
        accuracies,
        accuracy,
      };
      entries.push(entry);
      say(`${String(k + 1).padStart(4)}/${sample.length}  ${entry.name.padEnd(64)} ${accuracies.map((a) => a.toFixed(3)).join(' ')}`);
    }
    const json: GroundTruthJson = { meta: run.finish(), config, entries };
    mkdirSync(path.dirname(values.out), { recursive: true });
    writeFileSync(values.out, serialize(json));
    say(`wrote ${path.relative(ROOT, values.out)} (${(json.meta.durationSeconds / 60).toFixed(1)} min)`);
    return Promise.resolve({ architectures: entries.length, seeds: config.seeds, durationSeconds: json.meta.durationSeconds });
  },
};

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}
