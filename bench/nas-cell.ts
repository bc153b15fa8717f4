/**
 * GM-NAS on the cell space (docs/algorithms/gm-nas.md §2.2, §6.4, §8): how well do one-shot, few-shot, random-split
 * and GM-split supernets rank the architectures of the committed ground-truth table
 * (docs/results/nas-ground-truth.json, `npm run bench -- nas-ground-truth`), and how good is the architecture each
 * finally selects, with RSPS, DARTS (and SNAS) inside every (sub-)supernet?
 *
 * Protocols: `paper` (default) gives every leaf the one-shot budget after warm-up and training between splits
 * (compute = leaves × the one-shot budget + the split phase); `equal-budget` (the ablation) shrinks the leaves'
 * training so that every method spends the one-shot budget in total.
 *
 * Per method and seed: each table architecture's estimate is its accuracy with the weights of the leaf that contains
 * it, on a fixed subset of the selection split; Kendall τ and top-1 regret against the table's accuracies. The
 * selected architecture: the best estimate of the table (RSPS), or the argmax-α architecture of the leaf whose
 * argmax scores best (DARTS, SNAS); its stand-alone test accuracy comes from the table, or is trained as the
 * table's entries were when it is not in it.
 */
import {
  cellArchitectureIndex,
  cellArchitectureInMask,
  cellArchitectureString,
  cellPathWeights,
  argmaxArchitecture,
  deriveSeed,
  evaluateCell,
  kendallTau,
  runCellSearch,
  top1Regret,
  trainCellStandalone,
  CELL_SEARCH_MODES,
  type Architecture,
  type CellSearchMode,
  type CellSplit,
  type CellSplitMethod,
  type Samples,
} from '@flotilla/algorithms';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { digitsSplits, type Stat } from './nas';
import { GROUND_TRUTH_PATH, groundTruthSeeds, type GroundTruthJson } from './nas-ground-truth';

const ROOT = path.resolve(__dirname, '..', '..');

export const CELL_METHODS: { name: string; method: CellSplitMethod }[] = [
  { name: 'one-shot', method: 'none' },
  { name: 'few-shot', method: 'few-shot' },
  { name: 'random-split', method: 'random' },
  { name: 'gm-split', method: 'gm' },
];

export type CellProtocol = 'paper' | 'equal-budget';

/** Every setting of one run (the defaults of `npm run bench -- nas` unless flags changed them). */
export interface CellBenchConfig {
  protocol: CellProtocol;
  seeds: number;
  /** Search modes; the first is the default mode (methods named plainly), the others `<name>/<mode>`. */
  modes: CellSearchMode[];
  /** The one-shot budget S in weight steps. */
  steps: number;
  warmup: number;
  between: number;
  batch: number;
  gmBatches: number;
  /** Rows of the selection split the estimates are measured on. */
  evalRows: number;
  lr: number;
  archLr: number;
  /** The ground-truth table (default docs/results/nas-ground-truth.json). */
  table: string;
}

export interface CellMethodResult {
  /** `one-shot` … for the first mode, `one-shot/darts` … for the others. */
  name: string;
  method: string;
  mode: CellSearchMode;
  kendallTau: Stat;
  top1Regret: Stat;
  /** Stand-alone test accuracy (table protocol) of the architecture each seed selected. */
  selectedAccuracy: Stat;
  /** Weight-optimiser steps per seed (summed over every node of the tree). */
  steps: number;
  /** GM forward/backward passes per seed. */
  gmPasses: number;
  taus: number[];
  regrets: number[];
  selected: string[];
  splits: CellSplit[][];
  /** Wall seconds summed over the seeds (timing: depends on the machine and its load). */
  seconds: number;
}

export interface CellBenchResult {
  seeds: number;
  protocol: CellProtocol;
  methods: CellMethodResult[];
  config: CellBenchConfig;
  /** The table's best accuracy, and how many architectures it holds. */
  table: { architectures: number; best: number; command: string; stepsPerRun: number; seedsPerArchitecture: number };
  /** Selected architectures outside the table, trained stand-alone for this run. */
  extraStandalone: number;
}

export function parseCellConfig(args: string[]): CellBenchConfig {
  const { values } = parseArgs({
    args,
    options: {
      protocol: { type: 'string', default: 'paper' },
      seeds: { type: 'string', default: '5' },
      modes: { type: 'string', default: 'rsps,darts' },
      steps: { type: 'string', default: '80' },
      warmup: { type: 'string', default: '16' },
      between: { type: 'string', default: '8' },
      batch: { type: 'string', default: '32' },
      'gm-batches': { type: 'string', default: '4' },
      'eval-rows': { type: 'string', default: '256' },
      lr: { type: 'string', default: '0.1' },
      'arch-lr': { type: 'string', default: '0.01' },
      table: { type: 'string', default: GROUND_TRUTH_PATH },
    },
  });
  const int = (name: 'seeds' | 'steps' | 'warmup' | 'between' | 'batch' | 'gm-batches' | 'eval-rows'): number => {
    const v = Number(values[name]);
    if (!(Number.isInteger(v) && v >= 0)) throw new Error(`nas bench: --${name} must be a non-negative integer, got ${values[name]}`);
    return v;
  };
  const protocol = values.protocol;
  if (protocol !== 'paper' && protocol !== 'equal-budget')
    throw new Error(`nas bench: --protocol must be paper or equal-budget, got ${protocol}`);
  const modes = values.modes.split(',') as CellSearchMode[];
  if (modes.length === 0 || !modes.every((m) => CELL_SEARCH_MODES.includes(m)))
    throw new Error(`nas bench: --modes must list some of ${CELL_SEARCH_MODES.join(', ')}, got ${values.modes}`);
  const lr = Number(values.lr);
  const archLr = Number(values['arch-lr']);
  if (!(lr > 0 && archLr > 0)) throw new Error('nas bench: --lr and --arch-lr must be positive');
  const config: CellBenchConfig = {
    protocol,
    seeds: int('seeds'),
    modes,
    steps: int('steps'),
    warmup: int('warmup'),
    between: int('between'),
    batch: int('batch'),
    gmBatches: int('gm-batches'),
    evalRows: int('eval-rows'),
    lr,
    archLr,
    table: path.relative(ROOT, path.resolve(values.table)),
  };
  if (config.seeds < 1 || config.steps < 1 || config.batch < 1 || config.gmBatches < 1 || config.evalRows < 1)
    throw new Error('nas bench: --seeds, --steps, --batch, --gm-batches and --eval-rows must be >= 1');
  if (protocol === 'equal-budget' && config.steps < config.warmup + 2 * config.between + 4)
    throw new Error(`nas bench: equal budget needs --steps >= warmup + 2 × between + 4, got ${config.steps}`);
  return config;
}

/** Leaf steps of a method under a protocol: the one-shot budget each (paper), or a share of it (equal budget). */
export function leafSteps(config: CellBenchConfig, method: CellSplitMethod): number {
  if (config.protocol === 'paper' || method === 'none') return config.steps;
  if (method === 'few-shot') return Math.floor(config.steps / 5);
  return Math.floor((config.steps - config.warmup - 2 * config.between) / 4);
}

function stat(xs: number[]): Stat {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean: round(mean), std: round(std) };
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

/** The first `rows` rows of a sample set (the selection split's order is already random). */
function head(samples: Samples, rows: number, features: number): Samples {
  const n = Math.min(rows, samples.size);
  return { inputs: samples.inputs.subarray(0, n * features), targets: samples.targets.subarray(0, n), size: n };
}

/** What one method's search gave on one seed (shared between protocols where the settings agree, e.g. one-shot). */
export interface CellSeedRun {
  tau: number;
  regret: number;
  selected: Architecture;
  steps: number;
  gmPasses: number;
  splits: CellSplit[];
  seconds: number;
}

/** One run of the benchmark in one protocol; `cache` carries runs that do not depend on the protocol (one-shot). */
export function runCellBench(
  config: CellBenchConfig,
  say: (line: string) => void,
  cache: Map<string, CellSeedRun> = new Map(),
  standalone: Map<number, number> = new Map(),
): CellBenchResult {
  const table = JSON.parse(readFileSync(path.resolve(ROOT, config.table), 'utf8')) as GroundTruthJson;
  const spec = table.config.space;
  const splits = digitsSplits();
  const features = spec.height * spec.width * spec.inputChannels;
  const evalSet = head(splits.selection, config.evalRows, features);
  const archs = table.entries.map((e) => e.architecture);
  const truth = table.entries.map((e) => e.accuracy);
  for (const e of table.entries) standalone.set(e.index, e.accuracy);
  let extra = 0;
  const accuracyOf = (a: Architecture): number => {
    const index = cellArchitectureIndex(a);
    const known = standalone.get(index);
    if (known !== undefined) return known;
    // Not in the table: trained exactly as the table's entries were.
    const accs = Array.from({ length: table.config.seeds }, (_, s) => {
      const { state } = trainCellStandalone(spec, a, splits.train, {
        steps: table.config.steps,
        batchSize: table.config.batchSize,
        optimizer: table.config.optimizer,
        ...groundTruthSeeds(table.config.sampleSeed, s),
      });
      return evaluateCell(spec, state.params, cellPathWeights(a), splits.test).accuracy;
    });
    const acc = round(accs.reduce((x, y) => x + y, 0) / accs.length);
    standalone.set(index, acc);
    extra++;
    return acc;
  };
  say(
    `nas (cell space, ${config.protocol} protocol): ${archs.length} table architectures, ${config.seeds} seeds, modes ${config.modes.join(', ')}, one-shot budget ${config.steps} steps`,
  );
  const methods: CellMethodResult[] = [];
  for (const [m, mode] of config.modes.entries()) {
    for (const { name, method } of CELL_METHODS) {
      const steps = leafSteps(config, method);
      const runs = [];
      for (let seed = 0; seed < config.seeds; seed++) {
        const key = JSON.stringify([
          mode,
          method,
          steps,
          seed,
          config.warmup,
          config.between,
          config.batch,
          config.gmBatches,
          config.evalRows,
          config.lr,
          config.archLr,
        ]);
        let run = cache.get(key);
        if (!run) {
          const t0 = process.hrtime.bigint();
          const result = runCellSearch(spec, splits.train, splits.selection, {
            method,
            mode,
            splitSteps: [config.warmup, config.between],
            finalSteps: steps,
            batchSize: config.batch,
            scoring: { batches: config.gmBatches },
            optimizer: { lr: config.lr, lrMin: 0 },
            arch: { lr: config.archLr },
            seed: deriveSeed(20261207, 'nas-cell', seed),
          });
          const estimates = archs.map((a) => {
            const leaf = result.leaves.find((l) => cellArchitectureInMask(a, l.mask))!;
            return evaluateCell(spec, leaf.state.params, cellPathWeights(a), evalSet).accuracy;
          });
          let selected: Architecture;
          if (mode === 'rsps') selected = archs[estimates.indexOf(Math.max(...estimates))];
          else {
            const proposals = result.leaves.map((l) => {
              const a = argmaxArchitecture(l.state.arch.alpha, l.mask);
              return { a, score: evaluateCell(spec, l.state.params, cellPathWeights(a), evalSet).accuracy };
            });
            selected = proposals.reduce((best, p) => (p.score > best.score ? p : best)).a;
          }
          run = {
            tau: kendallTau(estimates, truth),
            regret: top1Regret(
              estimates.map((x) => -x),
              truth.map((x) => -x),
            ),
            selected,
            steps: result.trainingSteps,
            gmPasses: result.gmPasses,
            splits: result.splits,
            seconds: Number(process.hrtime.bigint() - t0) / 1e9,
          };
          cache.set(key, run);
        }
        runs.push({ ...run, accuracy: accuracyOf(run.selected) });
      }
      const r: CellMethodResult = {
        name: m === 0 ? name : `${name}/${mode}`,
        method: name,
        mode,
        kendallTau: stat(runs.map((x) => x.tau)),
        top1Regret: stat(runs.map((x) => x.regret)),
        selectedAccuracy: stat(runs.map((x) => x.accuracy)),
        steps: runs[0].steps,
        gmPasses: runs[0].gmPasses,
        taus: runs.map((x) => round(x.tau)),
        regrets: runs.map((x) => round(x.regret)),
        selected: runs.map((x) => cellArchitectureString(x.selected)),
        splits: runs.map((x) => x.splits),
        seconds: round(runs.reduce((s, x) => s + x.seconds, 0)),
      };
      methods.push(r);
      say(
        `${r.name.padEnd(20)} τ ${fmt(r.kendallTau)}  regret ${fmt(r.top1Regret)}  selected ${fmt(r.selectedAccuracy)}  steps ${r.steps}  GM passes ${r.gmPasses}  (${r.seconds.toFixed(0)} s)`,
      );
    }
  }
  return {
    seeds: config.seeds,
    protocol: config.protocol,
    methods,
    config,
    table: {
      architectures: archs.length,
      best: Math.max(...truth),
      command: table.meta.command,
      stepsPerRun: table.config.steps,
      seedsPerArchitecture: table.config.seeds,
    },
    extraStandalone: extra,
  };
}

function fmt(s: Stat): string {
  return `${s.mean.toFixed(3)} ± ${s.std.toFixed(3)}`;
}

/** The summary `--json` prints last: `{seeds, protocol, methods: [{name, kendallTau, top1Regret, selectedAccuracy, steps}]}`. */
export function cellSummary(r: CellBenchResult): unknown {
  return {
    seeds: r.seeds,
    protocol: r.protocol,
    methods: r.methods.map((m) => ({
      name: m.name,
      kendallTau: m.kendallTau,
      top1Regret: m.top1Regret,
      selectedAccuracy: m.selectedAccuracy,
      steps: m.steps,
    })),
  };
}

/** What docs/results/nas.md reports: both protocols, the one-shot runs shared between them. */
export function runCellSuite(say: (line: string) => void): Promise<{ paper: CellBenchResult; equalBudget: CellBenchResult }> {
  const cache = new Map<string, CellSeedRun>();
  const standalone = new Map<number, number>();
  const paper = runCellBench(parseCellConfig([]), say, cache, standalone);
  const equalBudget = runCellBench(parseCellConfig(['--protocol', 'equal-budget']), say, cache, standalone);
  return Promise.resolve({ paper, equalBudget });
}
