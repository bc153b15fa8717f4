/**
 * GM-NAS on the cell space (docs/algorithms/gm-nas.md §2.2, §6.4, §8): how well do one-shot, few-shot, random-split
 * and GM-split supernets rank the architectures of the committed ground-truth table
 * (docs/results/nas-ground-truth.json, `npm run bench -- nas-ground-truth`), and how good is the architecture each
 * finally selects, with RSPS, DARTS (and SNAS) inside every (sub-)supernet?
 *
 * Protocols: `paper` (default) gives every leaf the one-shot budget after warm-up and training between splits,
 * with successive halving among the leaves (`--no-halving`: every leaf trains the full budget, so compute =
 * leaves × the one-shot budget + the split phase); `equal-budget` (the ablation) shrinks the leaves' training so
 * that every method spends the one-shot budget in total, without halving.
 *
 * Per method and seed: each table architecture's estimate is its accuracy with the weights of the leaf that contains
 * it (as that leaf ended: an eliminated leaf stopped early), on a fixed subset of the selection split; Kendall τ and
 * top-1 regret against the table's accuracies. Each final leaf proposes an architecture (`proposeCellArchitecture`:
 * the argmax of α for DARTS and SNAS, the best table architecture inside the leaf for RSPS), and the selected one is
 * the best proposal on the same rows (with halving, the last rung's single leaf). Its stand-alone test accuracy
 * comes from the table, or is trained as the table's entries were when it is not in it.
 *
 * Searches and stand-alone trainings run as independent tasks on a pool of worker threads (`--workers`,
 * bench/nas-cell-worker.ts); each task is a pure function of its settings, so the results do not depend on the
 * number of workers or the order in which they finish.
 */
import {
  cellArchitectureIndex,
  cellArchitectureInMask,
  cellArchitectureString,
  cellPathWeights,
  deriveSeed,
  evaluateCell,
  kendallTau,
  proposeCellArchitecture,
  rankCandidates,
  runCellSearch,
  top1Regret,
  trainCellStandalone,
  CELL_SEARCH_MODES,
  type Architecture,
  type CellSearchMode,
  type CellSpaceSpec,
  type CellSplit,
  type CellSplitMethod,
  type Samples,
} from '@flotilla/algorithms';
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { digitsSplits, type Splits, type Stat } from './nas';
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
  /** Successive halving among the leaves (paper protocol unless `--no-halving`; never under equal budget). */
  halving: boolean;
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
  /** Worker threads running the searches and stand-alone trainings (not part of the results). */
  workers: number;
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
  /** With halving: per rung, the leaves trained and their cumulative steps (the same for every seed). */
  rungs: { leaves: number; steps: number }[] | null;
  /** GM forward/backward passes per seed. */
  gmPasses: number;
  /** Per seed, in seed order (paired across methods: seed k of every method shares its data and seed). */
  taus: number[];
  regrets: number[];
  /** Stand-alone test accuracy of each seed's selected architecture. */
  accuracies: number[];
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
  /** Distinct selected architectures outside the table, trained stand-alone (once per run of the bench). */
  extraStandalone: number;
}

export function parseCellConfig(args: string[]): CellBenchConfig {
  const { values } = parseArgs({
    args,
    options: {
      protocol: { type: 'string', default: 'paper' },
      seeds: { type: 'string', default: '5' },
      modes: { type: 'string', default: 'rsps,darts' },
      'no-halving': { type: 'boolean', default: false },
      steps: { type: 'string', default: '80' },
      warmup: { type: 'string', default: '16' },
      between: { type: 'string', default: '8' },
      batch: { type: 'string', default: '32' },
      'gm-batches': { type: 'string', default: '4' },
      'eval-rows': { type: 'string', default: '128' },
      lr: { type: 'string', default: '0.1' },
      'arch-lr': { type: 'string', default: '0.01' },
      table: { type: 'string', default: GROUND_TRUTH_PATH },
      workers: { type: 'string', default: String(Math.min(2, os.availableParallelism())) },
    },
  });
  const int = (name: 'seeds' | 'steps' | 'warmup' | 'between' | 'batch' | 'gm-batches' | 'eval-rows' | 'workers'): number => {
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
    halving: protocol === 'paper' && !values['no-halving'],
    steps: int('steps'),
    warmup: int('warmup'),
    between: int('between'),
    batch: int('batch'),
    gmBatches: int('gm-batches'),
    evalRows: int('eval-rows'),
    lr,
    archLr,
    table: path.relative(ROOT, path.resolve(values.table)),
    workers: int('workers'),
  };
  if (config.seeds < 1 || config.steps < 1 || config.batch < 1 || config.gmBatches < 1 || config.evalRows < 1 || config.workers < 1)
    throw new Error('nas bench: --seeds, --steps, --batch, --gm-batches, --eval-rows and --workers must be >= 1');
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

/** What every task reads: the table, its space and the digits' splits (loaded once per thread and table). */
interface CellData {
  table: GroundTruthJson;
  spec: CellSpaceSpec;
  splits: Splits;
  archs: Architecture[];
  truth: number[];
}

const loaded = new Map<string, CellData>();

function cellData(tablePath: string): CellData {
  let data = loaded.get(tablePath);
  if (!data) {
    const table = JSON.parse(readFileSync(path.resolve(ROOT, tablePath), 'utf8')) as GroundTruthJson;
    data = {
      table,
      spec: table.config.space,
      splits: digitsSplits(),
      archs: table.entries.map((e) => e.architecture),
      truth: table.entries.map((e) => e.accuracy),
    };
    loaded.set(tablePath, data);
  }
  return data;
}

/** What one method's search gave on one seed (shared between protocols where the settings agree, e.g. one-shot). */
export interface CellSeedRun {
  tau: number;
  regret: number;
  selected: Architecture;
  steps: number;
  gmPasses: number;
  splits: CellSplit[];
  rungs: { leaves: number; steps: number }[] | null;
  seconds: number;
}

/** One search: a method in a mode on a seed, with the leaf budget of its protocol. */
export interface CellSearchTask {
  kind: 'search';
  config: CellBenchConfig;
  mode: CellSearchMode;
  method: CellSplitMethod;
  /** Steps of each leaf (the whole budget of one-shot's root). */
  leafSteps: number;
  /** Halving among the leaves (never for one-shot, whose single leaf would train the same). */
  halving: boolean;
  seed: number;
}

/** One architecture outside the table, trained stand-alone exactly as the table's entries were. */
export interface CellStandaloneTask {
  kind: 'standalone';
  table: string;
  architecture: Architecture;
}

export type CellTask = CellSearchTask | CellStandaloneTask;

/** Runs a task (in a worker thread, bench/nas-cell-worker.ts): a pure function of the task. */
export function runCellTask(task: CellTask): CellSeedRun | number {
  return task.kind === 'search' ? runCellSeed(task) : standaloneAccuracy(task);
}

function runCellSeed(task: CellSearchTask): CellSeedRun {
  const { config, mode, method, seed } = task;
  const { spec, splits, archs, truth } = cellData(config.table);
  const evalSet = head(splits.selection, config.evalRows, spec.height * spec.width * spec.inputChannels);
  const t0 = process.hrtime.bigint();
  // RSPS leaves propose the best table architecture inside them, so an RSPS selection needs no stand-alone training
  // (unless a leaf holds no table architecture and proposes a random path instead).
  const proposal = { evaluation: evalSet, candidates: archs };
  const result = runCellSearch(spec, splits.train, splits.selection, {
    method,
    mode,
    splitSteps: [config.warmup, config.between],
    finalSteps: task.leafSteps,
    batchSize: config.batch,
    scoring: { batches: config.gmBatches },
    optimizer: { lr: config.lr, lrMin: 0 },
    arch: { lr: config.archLr },
    halving: task.halving ? proposal : undefined,
    seed: deriveSeed(20261207, 'nas-cell', seed),
  });
  const estimates = archs.map((a) => {
    const leaf = result.leaves.find((l) => cellArchitectureInMask(a, l.mask))!;
    return evaluateCell(spec, leaf.state.params, cellPathWeights(a), evalSet).accuracy;
  });
  const finalists =
    result.rungs?.at(-1)?.proposals ??
    result.leaves.map((l) => proposeCellArchitecture(spec, l.state, l.mask, mode, evalSet, { candidates: archs }));
  return {
    tau: kendallTau(estimates, truth),
    regret: top1Regret(
      estimates.map((x) => -x),
      truth.map((x) => -x),
    ),
    selected: finalists[rankCandidates(finalists, 'accuracy')[0]].architecture,
    steps: result.trainingSteps,
    gmPasses: result.gmPasses,
    splits: result.splits,
    rungs: result.rungs?.map((r) => ({ leaves: r.leaves.length, steps: r.steps })) ?? null,
    seconds: Number(process.hrtime.bigint() - t0) / 1e9,
  };
}

function standaloneAccuracy(task: CellStandaloneTask): number {
  const { table, spec, splits } = cellData(task.table);
  const accs = Array.from({ length: table.config.seeds }, (_, s) => {
    const { state } = trainCellStandalone(spec, task.architecture, splits.train, {
      steps: table.config.steps,
      batchSize: table.config.batchSize,
      optimizer: table.config.optimizer,
      ...groundTruthSeeds(table.config.sampleSeed, s),
    });
    return evaluateCell(spec, state.params, cellPathWeights(task.architecture), splits.test).accuracy;
  });
  return round(accs.reduce((x, y) => x + y, 0) / accs.length);
}

/**
 * Worker threads running {@link CellTask}s, and what they computed: searches by their settings and stand-alone
 * accuracies by architecture index, so that runs of the bench sharing the pool (both protocols in `runCellSuite`)
 * compute each only once.
 */
export class CellPool {
  private readonly idle: Worker[] = [];
  private readonly queue: PoolJob[] = [];
  private readonly running = new Map<Worker, PoolJob>();
  private readonly workers: Worker[];
  private readonly searches = new Map<string, Promise<CellSeedRun>>();
  private readonly standalone = new Map<number, Promise<number>>();
  private failure: Error | undefined;

  constructor(size: number) {
    this.workers = Array.from({ length: size }, () => {
      const worker = new Worker(path.join(__dirname, 'nas-cell-worker.js'));
      worker.on('message', (m: { result: CellSeedRun | number } | { error: string }) => {
        const job = this.running.get(worker)!;
        this.running.delete(worker);
        this.idle.push(worker);
        if ('error' in m) job.reject(new Error(m.error));
        else job.resolve(m.result);
        this.dispatch();
      });
      worker.on('error', (e) => this.fail(e));
      this.idle.push(worker);
      return worker;
    });
  }

  /** A search, run once per pool for the same settings. */
  search(task: CellSearchTask): Promise<CellSeedRun> {
    const { config, ...rest } = task;
    const settings = [
      config.table,
      config.warmup,
      config.between,
      config.batch,
      config.gmBatches,
      config.evalRows,
      config.lr,
      config.archLr,
    ];
    const key = JSON.stringify([rest, settings]);
    let run = this.searches.get(key);
    if (!run) {
      run = this.run(task) as Promise<CellSeedRun>;
      this.searches.set(key, run);
    }
    return run;
  }

  /** The table's accuracy of an architecture, or its stand-alone training (once per pool). */
  accuracy(table: string, architecture: Architecture): Promise<number> {
    const index = cellArchitectureIndex(architecture);
    const known = cellData(table).table.entries.find((e) => e.index === index);
    if (known) return Promise.resolve(known.accuracy);
    let acc = this.standalone.get(index);
    if (!acc) {
      acc = this.run({ kind: 'standalone', table, architecture }) as Promise<number>;
      this.standalone.set(index, acc);
    }
    return acc;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  /**
   * Queues a task. Stand-alone trainings go first: they are the longest tasks and are only known once a search
   * has finished, so starting them early keeps them from forming the run's tail.
   */
  private run(task: CellTask): Promise<CellSeedRun | number> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const job = { task, resolve, reject };
      if (task.kind === 'standalone') this.queue.unshift(job);
      else this.queue.push(job);
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const worker = this.idle.pop()!;
      const job = this.queue.shift()!;
      this.running.set(worker, job);
      worker.postMessage(job.task);
    }
  }

  /** A worker died: every queued and running task fails with its error. */
  private fail(e: Error): void {
    this.failure = e;
    for (const job of [...this.queue.splice(0), ...this.running.values()]) job.reject(e);
    this.running.clear();
  }
}

interface PoolJob {
  task: CellTask;
  resolve: (r: CellSeedRun | number) => void;
  reject: (e: Error) => void;
}

/**
 * One run of the benchmark in one protocol. Every task is queued before the first result is awaited, so a suite
 * that starts several runs on one pool keeps every worker busy.
 */
export async function runCellBench(config: CellBenchConfig, say: (line: string) => void, pool?: CellPool): Promise<CellBenchResult> {
  const own = pool ? undefined : new CellPool(config.workers);
  const tasks = pool ?? own!;
  try {
    const { table, archs, truth } = cellData(config.table);
    const tableIndices = new Set(table.entries.map((e) => e.index));
    const outside = new Set<number>();
    say(
      `nas (cell space, ${config.protocol} protocol${config.halving ? ', successive halving among the leaves' : ''}): ${archs.length} table architectures, ` +
        `${config.seeds} seeds, modes ${config.modes.join(', ')}, one-shot budget ${config.steps} steps, ${config.workers} worker thread(s)`,
    );
    const pending = config.modes.flatMap((mode, m) =>
      CELL_METHODS.map(({ name, method }) => {
        const seeds = Array.from({ length: config.seeds }, (_, seed) =>
          tasks
            .search({
              kind: 'search',
              config,
              mode,
              method,
              leafSteps: leafSteps(config, method),
              halving: config.halving && method !== 'none',
              seed,
            })
            .then(async (run) => ({ ...run, accuracy: await tasks.accuracy(config.table, run.selected) })),
        );
        return { name: m === 0 ? name : `${name}/${mode}`, method: name, mode, seeds };
      }),
    );
    const methods: CellMethodResult[] = [];
    for (const p of pending) {
      const runs = await Promise.all(p.seeds);
      for (const x of runs) if (!tableIndices.has(cellArchitectureIndex(x.selected))) outside.add(cellArchitectureIndex(x.selected));
      const r: CellMethodResult = {
        name: p.name,
        method: p.method,
        mode: p.mode,
        kendallTau: stat(runs.map((x) => x.tau)),
        top1Regret: stat(runs.map((x) => x.regret)),
        selectedAccuracy: stat(runs.map((x) => x.accuracy)),
        steps: runs[0].steps,
        rungs: runs[0].rungs,
        gmPasses: runs[0].gmPasses,
        taus: runs.map((x) => round(x.tau)),
        regrets: runs.map((x) => round(x.regret)),
        accuracies: runs.map((x) => x.accuracy),
        selected: runs.map((x) => cellArchitectureString(x.selected)),
        splits: runs.map((x) => x.splits),
        seconds: round(runs.reduce((s, x) => s + x.seconds, 0)),
      };
      methods.push(r);
      say(
        `${config.protocol.padEnd(12)} ${r.name.padEnd(20)} τ ${fmt(r.kendallTau)}  regret ${fmt(r.top1Regret)}  selected ${fmt(r.selectedAccuracy)}  steps ${r.steps}  GM passes ${r.gmPasses}  (${r.seconds.toFixed(0)} s)`,
      );
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
      extraStandalone: outside.size,
    };
  } finally {
    await own?.close();
  }
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

/** The modes docs/results/nas.md reports (the bench's default is rsps,darts). */
export const SUITE_MODES = 'rsps,darts,snas';

/**
 * What docs/results/nas.md reports: both protocols with every mode, on one pool, so that the one-shot runs
 * (the same in both) and the stand-alone training of an architecture selected in both are computed once.
 */
export async function runCellSuite(say: (line: string) => void): Promise<{ paper: CellBenchResult; equalBudget: CellBenchResult }> {
  const paperConfig = parseCellConfig(['--modes', SUITE_MODES]);
  const pool = new CellPool(paperConfig.workers);
  try {
    const [paper, equalBudget] = await Promise.all([
      runCellBench(paperConfig, say, pool),
      runCellBench(parseCellConfig(['--modes', SUITE_MODES, '--protocol', 'equal-budget']), say, pool),
    ]);
    return { paper, equalBudget };
  } finally {
    await pool.close();
  }
}
