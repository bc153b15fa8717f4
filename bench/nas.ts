/**
 * GM-NAS at CPU scale (docs/algorithms/gm-nas.md): how well does a supernet rank the architectures of a space
 * small enough to train every one of them stand-alone?
 *
 * Space: a chain of `edges` edges, each with the ops linear, relu-linear, tanh-linear, skip
 * (4³ = 64 architectures by default). Ground truth: every architecture trained alone from
 * `gtSeeds` initialisations, mean loss on a held-out test split. Estimators, all with the same
 * total training budget (`budget` optimiser steps summed over sub-supernets) and the same optimiser:
 * - one-shot: one supernet, uniform single-path training for the whole budget;
 * - few-shot: edge 0 split into its 4 ops before training, 4 × budget/4 steps;
 * - random-split: warm-up, then 2 binary splits on random edges with random balanced groups,
 *   children re-initialised at the final split, 4 leaves × the rest;
 * - gm-split: the same schedule, edges and groups chosen by gradient matching.
 * Each architecture's estimate is its loss with the weights of the (sub-)supernet that contains it,
 * on a selection split. Metrics: Kendall τ against the ground truth and top-1 regret (true loss of
 * the estimated best minus the best true loss), mean ± sample std over seeds. Two diagnostics:
 * τ inside each of GM's 4 leaves, averaged (every method ranked on the same subsets, so
 * within-sub-supernet ranking is separated from calibration across sub-supernets), and the best-of-4
 * regret (each sub-supernet proposes its best architecture and stand-alone truth picks among them;
 * one-shot proposes its top 4; few-shot proposes one per op of the split edge).
 * The check "GM not worse than one-shot on average" is printed, not enforced.
 */
import {
  architecturesInMask,
  chainSupernet,
  createRng,
  deriveSeed,
  evaluateArchitectures,
  fullMask,
  kendallTau,
  leafEstimates,
  runSplitSearch,
  samplesFromDataset,
  scaleToUnit,
  splitHeldOut,
  top1Regret,
  trainStandalone,
  trainTestSplit,
  useWasmBackend,
  type HeldOutSpec,
  type OpKind,
  type Samples,
  type SplitMethod,
  type SplitSearchOptions,
  type SupernetSpec,
} from '@flotilla/algorithms';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { Bench } from './run';

const ROOT = path.resolve(__dirname, '..', '..');

export interface Splits {
  /** What the name says, for the table header. */
  description: string;
  /** Where the data comes from and how it was made, for the report. */
  source: NasDataInfo['source'];
  /** Supernet and stand-alone weight training. */
  train: Samples;
  /** Supernet estimates (the α / validation split). */
  selection: Samples;
  /** Ground truth of the stand-alone architectures. */
  test: Samples;
  inputSize: number;
  outputSize: number;
  loss: SupernetSpec['loss'];
}

/**
 * The synthetic task, as regression (lower-noise ground truth than 3-class labels):
 * x ∈ R^8 ~ N(0, I), y = relu(tanh(x·A₁)·A₂ + b₂)·A₃ + 0.05·noise ∈ R², targets scaled to unit RMS
 * on the training split; 1000 rows per split.
 */
function syntheticSplits(seed: number): Splits {
  const noise = 0.05;
  const d = 8;
  const out = 2;
  const rng = createRng(seed);
  const matrix = (rows: number, cols: number, std: number): Float64Array =>
    Float64Array.from({ length: rows * cols }, () => rng.normal() * std);
  const a1 = matrix(d, d, 1.5 / Math.sqrt(d));
  const a2 = matrix(d, d, 1.5 / Math.sqrt(d));
  const b2 = matrix(1, d, 0.5);
  const a3 = matrix(d, out, 1 / Math.sqrt(d));
  const h1 = new Float64Array(d);
  const make = (n: number): Samples => {
    const inputs = new Float32Array(n * d);
    const targets = new Float32Array(n * out);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) inputs[i * d + j] = rng.normal();
      for (let j = 0; j < d; j++) {
        let s = 0;
        for (let k = 0; k < d; k++) s += inputs[i * d + k] * a1[k * d + j];
        h1[j] = Math.tanh(s);
      }
      for (let o = 0; o < out; o++) targets[i * out + o] = noise * rng.normal();
      for (let j = 0; j < d; j++) {
        let s = b2[j];
        for (let k = 0; k < d; k++) s += h1[k] * a2[k * d + j];
        const h2 = Math.max(0, s);
        for (let o = 0; o < out; o++) targets[i * out + o] += h2 * a3[j * out + o];
      }
    }
    return { inputs, targets, size: n };
  };
  const [train, selection, test] = [make(1000), make(1000), make(1000)];
  let sumSquares = 0;
  for (const t of train.targets) sumSquares += t * t;
  const rms = Math.sqrt(sumSquares / train.targets.length);
  for (const split of [train, selection, test]) for (let i = 0; i < split.targets.length; i++) split.targets[i] /= rms;
  return {
    description: 'synthetic regression (x ∈ R^8, teacher tanh → relu, 1000 rows per split)',
    source: { kind: 'synthetic', seed, noise },
    train,
    selection,
    test,
    inputSize: d,
    outputSize: out,
    loss: 'mse',
  };
}

/** The shipped UCI digits: its held-out split is the test set; the rest is split 50/50 into weights and selection. */
export function digitsSplits(): Splits {
  const dir = path.join(ROOT, 'data', 'uci-digits');
  const manifest = JSON.parse(readFileSync(path.join(dir, 'dataset.json'), 'utf8')) as HeldOutSpec & { file: string };
  const { train, test } = splitHeldOut(readFileSync(path.join(dir, manifest.file), 'utf8'), manifest);
  const scaled = scaleToUnit(train, manifest.featureRange);
  const halves = trainTestSplit(scaled, 0.5, createRng(20240416));
  return {
    description: `UCI digits (${halves.train.size} weight / ${halves.test.size} selection / ${test.size} test rows)`,
    source: { kind: 'digits', file: `data/uci-digits/${manifest.file}`, featureRange: [...manifest.featureRange] as [number, number] },
    train: samplesFromDataset(halves.train),
    selection: samplesFromDataset(halves.test),
    test: samplesFromDataset(scaleToUnit(test, manifest.featureRange)),
    inputSize: train.numFeatures,
    outputSize: manifest.numClasses,
    loss: 'cross-entropy',
  };
}

const METHODS = ['one-shot', 'few-shot', 'random-split', 'gm-split'] as const;
export type MethodName = (typeof METHODS)[number];

export interface Stat {
  mean: number;
  std: number;
}

function stat(xs: number[]): Stat {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean: round(mean), std: round(std) };
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

/** Kendall τ needs finite scores: a diverged estimate ranks last. */
function finite(xs: number[]): number[] {
  return xs.map((x) => (Number.isFinite(x) ? x : 1e30));
}

export interface NasDataInfo {
  name: 'synthetic' | 'digits';
  description: string;
  source: { kind: 'synthetic'; seed: number; noise: number } | { kind: 'digits'; file: string; featureRange: [number, number] };
  rows: { train: number; selection: number; test: number };
  inputSize: number;
  outputSize: number;
  loss: SupernetSpec['loss'];
}

/** Every setting of one run (the defaults of `npm run bench -- nas` unless its args changed them). */
export interface NasConfig {
  data: 'synthetic' | 'digits';
  seeds: number;
  budget: number;
  warmup: number;
  level2: number;
  /** Steps of each leaf of random-split / gm-split: ⌊(budget − warmup − 2·level2) / 4⌋. */
  finalSteps: number;
  gtSteps: number;
  gtSeeds: number;
  width: number;
  edges: number;
  ops: OpKind[];
  batch: number;
  optimizer: { lr: number; lrMin: number; momentum: number; nesterov: boolean; weightDecay: number; clipNorm: number };
  gmBatches: number;
  scoreMode: 'single-path' | 'mixture';
  shared: 'cells' | 'all';
  edgeRule: 'minCut' | 'minWithinDistance';
  objective: 'cut' | 'withinDistance';
  restart: 'final' | 'none';
}

export interface NasMethodResult {
  name: MethodName;
  kendallTau: Stat;
  top1Regret: Stat;
  /** Per seed, in seed order. */
  taus: number[];
  regrets: number[];
  /** Stand-alone test accuracy of the architecture each seed picked (cross-entropy data only). */
  pickedAccuracy: Stat | null;
  /** τ inside each of GM's leaves of the same seed, averaged over the leaves. */
  withinGmLeavesTau: Stat;
  /** Best-of-N regret (N = GM's leaf count): stand-alone truth picks among N proposals. */
  bestOfLeavesRegret: Stat;
  trainingSteps: number;
  gmPasses: number;
  /** Wall seconds summed over the seeds (timing: depends on the machine and its load). */
  seconds: number;
  /** Whether the runs were taken from an earlier configuration of the suite that they do not depend on. */
  reused: boolean;
}

export interface NasSplit {
  node: string;
  edge: number;
  groups: number[][];
}

export interface NasRunResult {
  /** The bench's `--json` summary (kept for scripts that read it). */
  seeds: number;
  architectures: number;
  methods: NasMethodResult[];
  config: NasConfig;
  dataInfo: NasDataInfo;
  backend: string;
  truth: {
    /** Mean test loss per architecture (architecture = op index per edge, joined). */
    architectures: string[];
    loss: number[];
    /** Mean test accuracy per architecture (cross-entropy data only). */
    accuracy: number[] | null;
    /** Kendall τ between single ground-truth runs of different init seeds, averaged over the pairs. */
    seedToSeedTau: number | null;
    seconds: number;
    reused: boolean;
  };
  /** The splits random-split and gm-split made, per seed. */
  splits: { method: 'random-split' | 'gm-split'; seed: number; splits: NasSplit[] }[];
  /** GM batches whose shared gradients all vanished, and all GM batches (R per scored edge), over the seeds. */
  gmDegenerateBatches: number;
  gmBatchesTotal: number;
}

/** What one method's search gave on one seed (cached across configurations that do not affect it). */
interface SeedRun {
  estimates: number[];
  leaves: number[][];
  trainingSteps: number;
  gmPasses: number;
  degenerate: number;
  splits: NasSplit[];
  seconds: number;
}

/** Caches shared by the configurations of one suite run. */
export interface NasCache {
  truth: Map<string, { perSeed: { loss: number; accuracy: number }[][]; seconds: number }>;
  runs: Map<string, SeedRun>;
}

export function newNasCache(): NasCache {
  return { truth: new Map(), runs: new Map() };
}

function parseConfig(args: string[]): NasConfig {
  const { values } = parseArgs({
    args,
    options: {
      data: { type: 'string', default: 'synthetic' },
      seeds: { type: 'string', default: '5' },
      budget: { type: 'string', default: '3000' },
      warmup: { type: 'string', default: '500' },
      level2: { type: 'string', default: '0' },
      'gt-steps': { type: 'string', default: '400' },
      'gt-seeds': { type: 'string', default: '3' },
      width: { type: 'string', default: '' },
      edges: { type: 'string', default: '3' },
      ops: { type: 'string', default: 'linear,relu-linear,tanh-linear,skip' },
      batch: { type: 'string', default: '64' },
      lr: { type: 'string', default: '0.05' },
      'gm-batches': { type: 'string', default: '100' },
      'score-mode': { type: 'string', default: 'single-path' },
      shared: { type: 'string', default: 'cells' },
      'edge-rule': { type: 'string', default: 'minCut' },
      objective: { type: 'string', default: 'cut' },
      restart: { type: 'string', default: 'final' },
    },
  });
  const int = (name: keyof typeof values): number => {
    const v = Number(values[name]);
    if (!Number.isInteger(v) || v < 0) throw new Error(`nas bench: --${name} must be a non-negative integer, got ${values[name]}`);
    return v;
  };
  const seeds = int('seeds');
  const budget = int('budget');
  const warmup = int('warmup');
  const level2 = int('level2');
  const gtSeeds = int('gt-seeds');
  if (seeds < 1 || gtSeeds < 1) throw new Error('nas bench: --seeds and --gt-seeds must be >= 1');
  const scoreMode = values['score-mode'] as NasConfig['scoreMode'];
  const shared = values.shared as NasConfig['shared'];
  const edgeRule = values['edge-rule'] as NasConfig['edgeRule'];
  const objective = values.objective as NasConfig['objective'];
  const restart = values.restart as NasConfig['restart'];
  if (!['single-path', 'mixture'].includes(scoreMode)) throw new Error(`nas bench: --score-mode must be single-path or mixture`);
  if (!['cells', 'all'].includes(shared)) throw new Error(`nas bench: --shared must be cells or all`);
  if (!['minCut', 'minWithinDistance'].includes(edgeRule)) throw new Error(`nas bench: --edge-rule must be minCut or minWithinDistance`);
  if (!['cut', 'withinDistance'].includes(objective)) throw new Error(`nas bench: --objective must be cut or withinDistance`);
  if (!['final', 'none'].includes(restart)) throw new Error(`nas bench: --restart must be final or none`);
  if (values.data !== 'synthetic' && values.data !== 'digits')
    throw new Error(`nas bench: --data must be synthetic or digits, got ${values.data}`);
  const finalSteps = Math.floor((budget - warmup - 2 * level2) / 4);
  if (finalSteps < 1)
    throw new Error(`nas bench: --budget ${budget} leaves no steps for 4 leaves after warm-up ${warmup} and level-2 ${level2} × 2`);
  return {
    data: values.data,
    seeds,
    budget,
    warmup,
    level2,
    finalSteps,
    gtSteps: int('gt-steps'),
    gtSeeds,
    width: values.width ? int('width') : values.data === 'digits' ? 16 : 8,
    edges: int('edges'),
    ops: values.ops.split(',') as OpKind[],
    batch: int('batch'),
    // The library's SGD defaults, except lr (raised for the short runs); written out so that the report states them.
    optimizer: { lr: Number(values.lr), lrMin: 0.001, momentum: 0.9, nesterov: true, weightDecay: 5e-4, clipNorm: 5 },
    gmBatches: int('gm-batches'),
    scoreMode,
    shared,
    edgeRule,
    objective,
    restart,
  };
}

/** One configuration: ground truth (or the cached one), then every method on every seed. */
export async function runNas(args: string[], say: (line: string) => void, cache: NasCache = newNasCache()): Promise<NasRunResult> {
  const config = parseConfig(args);
  const {
    seeds,
    budget,
    warmup,
    level2,
    finalSteps,
    gtSteps,
    gtSeeds,
    width,
    ops,
    gmBatches,
    scoreMode,
    shared,
    edgeRule,
    objective,
    restart,
  } = config;
  const batchSize = config.batch;
  const optimizer = config.optimizer;
  const backend = await useWasmBackend();
  const data = config.data === 'digits' ? digitsSplits() : syntheticSplits(5);
  const spec = chainSupernet({
    inputSize: data.inputSize,
    width,
    outputSize: data.outputSize,
    edges: config.edges,
    ops,
    loss: data.loss,
  });
  const archs = architecturesInMask(fullMask(spec));
  const key = (a: number[]): string => a.join('');

  say(`GM-NAS bench, backend ${backend}${args.length ? `, options ${args.join(' ')}` : ''}`);
  say(`data: ${data.description}`);
  say(`space: chain of ${spec.edges.length} edges × {${ops.join(', ')}}, width ${width} → ${archs.length} architectures`);
  say(
    `training: SGD lr ${optimizer.lr} cosine → ${optimizer.lrMin}, momentum ${optimizer.momentum}${optimizer.nesterov ? ' Nesterov' : ''}, wd ${optimizer.weightDecay}, clip ${optimizer.clipNorm}, batch ${batchSize}, single-path sampling`,
  );
  say(
    `budget per method: ${budget} steps; split schedule: warm-up ${warmup}, level-2 ${level2} per child, 4 leaves × ${finalSteps} (${restart === 'final' ? 're-initialised at the final split' : 'inheriting the parent weights'})`,
  );
  say(`GM: ${gmBatches} batches per node, ${scoreMode} scoring, shared weights ${shared}, edge rule ${edgeRule}, objective ${objective}`);

  // Ground truth: every architecture trained alone (shared by configurations with the same data and training).
  const truthKey = JSON.stringify([config.data, width, config.edges, ops, gtSteps, gtSeeds, batchSize, optimizer]);
  let t0 = Date.now();
  let cachedTruth = cache.truth.get(truthKey);
  const truthReused = cachedTruth !== undefined;
  if (!cachedTruth) {
    const perSeed = Array.from({ length: gtSeeds }, (_, s) =>
      archs.map((a) => {
        const r = trainStandalone(spec, a, data.train, {
          steps: gtSteps,
          batchSize,
          optimizer,
          seed: deriveSeed(1, 'gt-batches', s, key(a)),
          initSeed: deriveSeed(1, 'gt-init', s, key(a)),
        });
        return evaluateArchitectures(spec, r.state.params, [a], data.test)[0];
      }),
    );
    cachedTruth = { perSeed, seconds: (Date.now() - t0) / 1000 };
    cache.truth.set(truthKey, cachedTruth);
  }
  const perSeedTruth = cachedTruth.perSeed;
  const truth = archs.map((_, i) => perSeedTruth.reduce((sum, run) => sum + run[i].loss, 0) / gtSeeds);
  const truthAcc = archs.map((_, i) => perSeedTruth.reduce((sum, run) => sum + run[i].accuracy, 0) / gtSeeds);
  const order = archs.map((_, i) => i).sort((a, b) => truth[a] - truth[b]);
  const pairTaus: number[] = [];
  for (let a = 0; a < gtSeeds; a++)
    for (let b = a + 1; b < gtSeeds; b++)
      pairTaus.push(
        kendallTau(
          perSeedTruth[a].map((r) => r.loss),
          perSeedTruth[b].map((r) => r.loss),
        ),
      );
  const lossName = data.loss === 'mse' ? 'test MSE' : 'test cross-entropy';
  say('');
  say(
    `ground truth: ${gtSteps} steps × ${gtSeeds} init seeds per architecture, mean ${lossName} (${truthReused ? 'from an earlier configuration' : `${cachedTruth.seconds.toFixed(0)} s`})`,
  );
  say(
    `  best ${key(archs[order[0]])} ${truth[order[0]].toFixed(4)}, median ${truth[order[order.length >> 1]].toFixed(4)}, worst ${key(archs[order[order.length - 1]])} ${truth[order[order.length - 1]].toFixed(4)}`,
  );
  if (pairTaus.length)
    say(`  seed-to-seed Kendall τ of single ground-truth runs: ${stat(pairTaus).mean.toFixed(3)} (a noise ceiling for any estimator)`);

  // Estimators.
  const methodOptions = (m: MethodName): { method: SplitMethod; splitSteps: number[]; finalSteps: number } => {
    switch (m) {
      case 'one-shot':
        return { method: 'none', splitSteps: [], finalSteps: budget };
      case 'few-shot':
        return { method: 'few-shot', splitSteps: [0], finalSteps: Math.floor(budget / spec.edges[0].ops.length) };
      case 'random-split':
        return { method: 'random', splitSteps: [warmup, level2], finalSteps };
      case 'gm-split':
        return { method: 'gm', splitSteps: [warmup, level2], finalSteps };
    }
  };
  const perMethod = (): Record<MethodName, number[]> => ({ 'one-shot': [], 'few-shot': [], 'random-split': [], 'gm-split': [] });
  const taus = perMethod();
  const regrets = perMethod();
  const pickedAcc = perMethod();
  const withinTaus = perMethod();
  const bestOfRegrets = perMethod();
  const seconds = { 'one-shot': 0, 'few-shot': 0, 'random-split': 0, 'gm-split': 0 } satisfies Record<MethodName, number>;
  const steps = { ...seconds };
  const passes = { ...seconds };
  const reused: Record<MethodName, boolean> = { 'one-shot': false, 'few-shot': false, 'random-split': false, 'gm-split': false };
  const splits: NasRunResult['splits'] = [];
  let degenerate = 0;
  let gmBatchesTotal = 0;
  const indexOf = new Map(archs.map((a, i) => [key(a), i]));
  say('');
  for (let seed = 0; seed < seeds; seed++) {
    const line: string[] = [];
    const estimatesOf = new Map<MethodName, number[]>();
    const leavesOf = new Map<MethodName, number[][]>();
    for (const m of METHODS) {
      t0 = Date.now();
      const options: SplitSearchOptions = {
        ...methodOptions(m),
        seed: deriveSeed(2, 'search', seed),
        training: { batchSize, optimizer },
        restart,
        scoring: { batches: gmBatches, mode: scoreMode, sharedWeights: shared },
        selection: { rule: edgeRule, objective },
      };
      // What the run depends on: one-shot has no split (restart, scoring and selection unused); few-shot and random
      // split do not score.
      const relevant =
        m === 'one-shot'
          ? { ...options, restart: undefined, scoring: undefined, selection: undefined }
          : m === 'gm-split'
            ? options
            : { ...options, scoring: undefined, selection: undefined };
      const runKey = JSON.stringify([truthKey, relevant]);
      let run = cache.runs.get(runKey);
      if (run) reused[m] = true;
      else {
        const r = runSplitSearch(spec, data.train, options);
        const estimates = new Map(leafEstimates(spec, r.leaves, data.selection).map((e) => [key(e.architecture), e.loss]));
        run = {
          estimates: finite(archs.map((a) => estimates.get(key(a)) ?? NaN)),
          leaves: r.leaves.map((l) => architecturesInMask(l.node.mask).map((a) => indexOf.get(key(a))!)),
          trainingSteps: r.trainingSteps,
          gmPasses: r.gmPasses,
          degenerate: r.degenerateBatches,
          splits: r.nodes.filter((n) => n.split).map((n) => ({ node: n.id, edge: n.split!.edge, groups: n.split!.groups })),
          seconds: (Date.now() - t0) / 1000,
        };
        cache.runs.set(runKey, run);
      }
      const est = run.estimates;
      estimatesOf.set(m, est);
      leavesOf.set(m, run.leaves);
      taus[m].push(kendallTau(est, truth));
      regrets[m].push(top1Regret(est, truth));
      pickedAcc[m].push(truthAcc[est.indexOf(Math.min(...est))]);
      seconds[m] += run.seconds;
      steps[m] = run.trainingSteps;
      passes[m] = run.gmPasses;
      if (m === 'gm-split') {
        degenerate += run.degenerate;
        // R batches per scored edge; every scored edge holds all the ops.
        gmBatchesTotal += run.gmPasses / ops.length;
      }
      if (m === 'gm-split' || m === 'random-split') {
        splits.push({ method: m, seed, splits: run.splits });
        line.push(
          `${m} [${run.splits.map((x) => `${x.node}: e${x.edge} ${x.groups.map((g) => `{${g.join(',')}}`).join('|')}`).join('; ')}]`,
        );
      }
    }
    // Diagnostics on common ground: every method ranked inside the same subsets (GM's leaves), and the
    // best-of-N protocol where stand-alone truth picks among N candidates.
    const gmLeaves = leavesOf.get('gm-split')!;
    const best = Math.min(...truth);
    for (const m of METHODS) {
      const est = estimatesOf.get(m)!;
      const within = gmLeaves.map((leaf) =>
        kendallTau(
          leaf.map((i) => est[i]),
          leaf.map((i) => truth[i]),
        ),
      );
      withinTaus[m].push(within.reduce((a, b) => a + b, 0) / within.length);
      const leaves = leavesOf.get(m)!;
      const byEstimate = (xs: number[]): number[] => [...xs].sort((a, b) => est[a] - est[b]);
      const candidates =
        leaves.length > 1 ? leaves.map((leaf) => byEstimate(leaf)[0]) : byEstimate(archs.map((_, i) => i)).slice(0, gmLeaves.length);
      bestOfRegrets[m].push(Math.min(...candidates.map((i) => truth[i])) - best);
    }
    say(`seed ${seed}: τ ${METHODS.map((m) => `${m} ${taus[m][seed].toFixed(3)}`).join(', ')}`);
    line.forEach((l) => say(`  ${l}`));
  }

  const accCol = data.loss === 'cross-entropy';
  say('');
  say(
    `method          Kendall τ        top-1 regret, ${lossName}${accCol ? '   picked acc' : ''}   τ within GM leaves   best-of-4 regret   train steps   GM passes   time s`,
  );
  const methods: NasMethodResult[] = METHODS.map((m) => ({
    name: m,
    kendallTau: stat(taus[m]),
    top1Regret: stat(regrets[m]),
    taus: taus[m].map(round),
    regrets: regrets[m].map(round),
    pickedAccuracy: accCol ? stat(pickedAcc[m]) : null,
    withinGmLeavesTau: stat(withinTaus[m]),
    bestOfLeavesRegret: stat(bestOfRegrets[m]),
    trainingSteps: steps[m],
    gmPasses: passes[m],
    seconds: Math.round(seconds[m] * 10) / 10,
    reused: reused[m],
  }));
  const pm = (x: Stat, digits: number): string => `${x.mean.toFixed(digits)} ± ${x.std.toFixed(digits)}`;
  for (const r of methods) {
    const acc = r.pickedAccuracy ? `   ${r.pickedAccuracy.mean.toFixed(4).padStart(11)}` : '';
    say(
      [
        r.name.padEnd(14),
        pm(r.kendallTau, 3).padEnd(15),
        pm(r.top1Regret, 4).padEnd(lossName.length + 14) + acc,
        pm(r.withinGmLeavesTau, 3).padEnd(19),
        pm(r.bestOfLeavesRegret, 4).padEnd(17),
        String(r.trainingSteps).padStart(11),
        String(r.gmPasses).padStart(9),
        r.seconds.toFixed(0).padStart(6),
      ].join('  '),
    );
  }
  say('(mean ± sample std over seeds; regrets in ground-truth loss units, lower is better)');
  if (degenerate > 0) say(`warning: ${degenerate} of ${gmBatchesTotal} GM batches had vanishing shared gradients (cosines ≈ 0)`);
  const gm = methods[3];
  const one = methods[0];
  const tauOk = gm.kendallTau.mean >= one.kendallTau.mean;
  const regretOk = gm.top1Regret.mean <= one.top1Regret.mean;
  say(
    `check: GM not worse than one-shot on average: Kendall τ ${tauOk ? 'PASS' : 'FAIL'} (${gm.kendallTau.mean.toFixed(3)} vs ${one.kendallTau.mean.toFixed(3)}), top-1 regret ${regretOk ? 'PASS' : 'FAIL'} (${gm.top1Regret.mean.toFixed(4)} vs ${one.top1Regret.mean.toFixed(4)})`,
  );
  return {
    seeds,
    architectures: archs.length,
    methods,
    config,
    dataInfo: {
      name: config.data,
      description: data.description,
      source: data.source,
      rows: { train: data.train.size, selection: data.selection.size, test: data.test.size },
      inputSize: data.inputSize,
      outputSize: data.outputSize,
      loss: data.loss,
    },
    backend,
    truth: {
      architectures: archs.map(key),
      loss: truth.map(round),
      accuracy: accCol ? truthAcc.map(round) : null,
      seedToSeedTau: pairTaus.length ? round(stat(pairTaus).mean) : null,
      seconds: Math.round(cachedTruth.seconds * 10) / 10,
      reused: truthReused,
    },
    splits,
    gmDegenerateBatches: degenerate,
    gmBatchesTotal,
  };
}

export const bench: Bench = {
  description:
    'GM-NAS vs one-shot, few-shot, random split on the cell space (--protocol paper|equal-budget; --space chain: the old MLP chain)',
  run: (args, say) => {
    const i = args.indexOf('--space');
    const space = i >= 0 ? args[i + 1] : 'cell';
    const rest = i >= 0 ? [...args.slice(0, i), ...args.slice(i + 2)] : args;
    if (space === 'chain') return runNas(rest, say);
    if (space !== 'cell') throw new Error(`nas bench: --space must be cell or chain, got ${space}`);
    const cell = require('./nas-cell') as typeof import('./nas-cell');
    return cell.runCellBench(cell.parseCellConfig(rest), say).then(cell.cellSummary);
  },
};
