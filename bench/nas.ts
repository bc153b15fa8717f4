/**
 * GM-NAS at CPU scale (spec shared/specs/gm-nas.md §8.3): how well does a supernet rank the
 * architectures of a space small enough to train every one of them stand-alone?
 *
 * Space: a chain of `edges` edges, each with the ops linear, relu-linear, tanh-linear, skip
 * (4³ = 64 architectures by default). Ground truth: every architecture trained alone from
 * `gtSeeds` initialisations, mean loss on a held-out test split. Estimators, all with the same
 * total training budget (`budget` optimiser steps summed over sub-supernets) and the same optimiser:
 * - one-shot: one supernet, uniform single-path training for the whole budget;
 * - few-shot: edge 0 split into its 4 ops before training, 4 × budget/4 steps;
 * - random-split: warm-up, then 2 binary splits on random edges with random balanced groups,
 *   children re-initialised at the final split, 4 leaves × the rest;
 * - gm-split: the same schedule, edges and groups chosen by gradient matching (§3.2–3.5).
 * Each architecture's estimate is its loss with the weights of the (sub-)supernet that contains it,
 * on a selection split. Metrics: Kendall τ against the ground truth and top-1 regret (true loss of
 * the estimated best minus the best true loss), mean ± sample std over seeds. Two diagnostics (table
 * only): τ inside each of GM's 4 leaves, averaged (every method ranked on the same subsets, so
 * within-sub-supernet ranking is separated from calibration across sub-supernets), and the best-of-4
 * regret of spec §3.8 (each sub-supernet proposes its best architecture and stand-alone truth picks
 * among them; one-shot proposes its top 4; few-shot proposes one per op of the split edge).
 * The automated check "GM not worse than one-shot on average" is printed, not enforced.
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

interface Splits {
  /** What the name says, for the table header. */
  description: string;
  /** Supernet and stand-alone weight training. */
  train: Samples;
  /** Supernet estimates (the α / validation split of spec §3.7). */
  selection: Samples;
  /** Ground truth of the stand-alone architectures. */
  test: Samples;
  inputSize: number;
  outputSize: number;
  loss: SupernetSpec['loss'];
}

/**
 * Spec §8.3's synthetic task, as regression (lower-noise ground truth than 3-class labels):
 * x ∈ R^8 ~ N(0, I), y = relu(tanh(x·A₁)·A₂ + b₂)·A₃ + 0.05·noise ∈ R², targets scaled to unit RMS
 * on the training split; 1000 rows per split.
 */
function syntheticSplits(seed: number): Splits {
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
      for (let o = 0; o < out; o++) targets[i * out + o] = 0.05 * rng.normal();
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
    train,
    selection,
    test,
    inputSize: d,
    outputSize: out,
    loss: 'mse',
  };
}

/** The shipped UCI digits: its held-out split is the test set; the rest is split 50/50 into weights and selection. */
function digitsSplits(): Splits {
  const dir = path.join(ROOT, 'data', 'uci-digits');
  const manifest = JSON.parse(readFileSync(path.join(dir, 'dataset.json'), 'utf8')) as HeldOutSpec & { file: string };
  const { train, test } = splitHeldOut(readFileSync(path.join(dir, manifest.file), 'utf8'), manifest);
  const scaled = scaleToUnit(train, manifest.featureRange);
  const halves = trainTestSplit(scaled, 0.5, createRng(20240416));
  return {
    description: `UCI digits (${halves.train.size} weight / ${halves.test.size} selection / ${test.size} test rows)`,
    train: samplesFromDataset(halves.train),
    selection: samplesFromDataset(halves.test),
    test: samplesFromDataset(scaleToUnit(test, manifest.featureRange)),
    inputSize: train.numFeatures,
    outputSize: manifest.numClasses,
    loss: 'cross-entropy',
  };
}

const METHODS = ['one-shot', 'few-shot', 'random-split', 'gm-split'] as const;
type MethodName = (typeof METHODS)[number];

interface Stat {
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

export const bench: Bench = {
  description: 'GM-NAS vs one-shot, few-shot, random split: Kendall τ / top-1 regret vs stand-alone truth (spec gm-nas.md §8.3)',
  async run(args, say) {
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
    const gtSteps = int('gt-steps');
    const gtSeeds = int('gt-seeds');
    const batchSize = int('batch');
    const gmBatches = int('gm-batches');
    const lr = Number(values.lr);
    if (seeds < 1 || gtSeeds < 1) throw new Error('nas bench: --seeds and --gt-seeds must be >= 1');
    const scoreMode = values['score-mode'] as 'single-path' | 'mixture';
    const shared = values.shared as 'cells' | 'all';
    const edgeRule = values['edge-rule'] as 'minCut' | 'minWithinDistance';
    const objective = values.objective as 'cut' | 'withinDistance';
    if (!['single-path', 'mixture'].includes(scoreMode)) throw new Error(`nas bench: --score-mode must be single-path or mixture`);
    if (!['cells', 'all'].includes(shared)) throw new Error(`nas bench: --shared must be cells or all`);
    if (!['minCut', 'minWithinDistance'].includes(edgeRule)) throw new Error(`nas bench: --edge-rule must be minCut or minWithinDistance`);
    if (!['cut', 'withinDistance'].includes(objective)) throw new Error(`nas bench: --objective must be cut or withinDistance`);
    const restart = values.restart as 'final' | 'none';
    if (!['final', 'none'].includes(restart)) throw new Error(`nas bench: --restart must be final or none`);
    const finalSteps = Math.floor((budget - warmup - 2 * level2) / 4);
    if (finalSteps < 1)
      throw new Error(`nas bench: --budget ${budget} leaves no steps for 4 leaves after warm-up ${warmup} and level-2 ${level2} × 2`);

    const backend = await useWasmBackend();
    const data = values.data === 'digits' ? digitsSplits() : values.data === 'synthetic' ? syntheticSplits(5) : undefined;
    if (!data) throw new Error(`nas bench: --data must be synthetic or digits, got ${values.data}`);
    const ops = values.ops.split(',') as OpKind[];
    const width = values.width ? int('width') : values.data === 'digits' ? 16 : 8;
    const spec = chainSupernet({
      inputSize: data.inputSize,
      width,
      outputSize: data.outputSize,
      edges: int('edges'),
      ops,
      loss: data.loss,
    });
    const archs = architecturesInMask(fullMask(spec));
    const key = (a: number[]): string => a.join('');
    const optimizer = { lr, lrMin: 0.001 };

    say(`GM-NAS bench (spec gm-nas.md §8.3), backend ${backend}`);
    say(`data: ${data.description}`);
    say(`space: chain of ${spec.edges.length} edges × {${ops.join(', ')}}, width ${width} → ${archs.length} architectures`);
    say(`training: SGD lr ${lr} cosine → 0.001, momentum 0.9 Nesterov, wd 5e-4, clip 5, batch ${batchSize}, single-path sampling`);
    say(
      `budget per method: ${budget} steps; split schedule: warm-up ${warmup}, level-2 ${level2} per child, 4 leaves × ${finalSteps} (${restart === 'final' ? 're-initialised at the final split' : 'inheriting the parent weights'})`,
    );
    say(`GM: ${gmBatches} batches per node, ${scoreMode} scoring, shared weights ${shared}, edge rule ${edgeRule}, objective ${objective}`);

    // Ground truth: every architecture trained alone.
    let t0 = Date.now();
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
    const truth = archs.map((_, i) => perSeed.reduce((sum, run) => sum + run[i].loss, 0) / gtSeeds);
    const truthAcc = archs.map((_, i) => perSeed.reduce((sum, run) => sum + run[i].accuracy, 0) / gtSeeds);
    const order = archs.map((_, i) => i).sort((a, b) => truth[a] - truth[b]);
    const pairTaus: number[] = [];
    for (let a = 0; a < gtSeeds; a++)
      for (let b = a + 1; b < gtSeeds; b++)
        pairTaus.push(
          kendallTau(
            perSeed[a].map((r) => r.loss),
            perSeed[b].map((r) => r.loss),
          ),
        );
    const lossName = data.loss === 'mse' ? 'test MSE' : 'test cross-entropy';
    say('');
    say(
      `ground truth: ${gtSteps} steps × ${gtSeeds} init seeds per architecture, mean ${lossName} (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
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
    let degenerate = 0;
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
        const r = runSplitSearch(spec, data.train, options);
        const estimates = new Map(leafEstimates(spec, r.leaves, data.selection).map((e) => [key(e.architecture), e.loss]));
        const est = finite(archs.map((a) => estimates.get(key(a)) ?? NaN));
        estimatesOf.set(m, est);
        leavesOf.set(
          m,
          r.leaves.map((l) => architecturesInMask(l.node.mask).map((a) => indexOf.get(key(a))!)),
        );
        taus[m].push(kendallTau(est, truth));
        regrets[m].push(top1Regret(est, truth));
        pickedAcc[m].push(truthAcc[est.indexOf(Math.min(...est))]);
        seconds[m] += (Date.now() - t0) / 1000;
        steps[m] = r.trainingSteps;
        passes[m] = r.gmPasses;
        if (m === 'gm-split') degenerate += r.degenerateBatches;
        if (m === 'gm-split' || m === 'random-split') {
          const splits = r.nodes
            .filter((n) => n.split)
            .map((n) => `${n.id}: e${n.split!.edge} ${n.split!.groups.map((g) => `{${g.join(',')}}`).join('|')}`);
          line.push(`${m} [${splits.join('; ')}]`);
        }
      }
      // Diagnostics on common ground: every method ranked inside the same subsets (GM's leaves), and
      // the spec §3.8 protocol where stand-alone truth picks among N candidates.
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
    const methods = METHODS.map((m) => ({ name: m, kendallTau: stat(taus[m]), top1Regret: stat(regrets[m]) }));
    const pm = (x: Stat, digits: number): string => `${x.mean.toFixed(digits)} ± ${x.std.toFixed(digits)}`;
    for (const r of methods) {
      const acc = accCol ? `   ${stat(pickedAcc[r.name]).mean.toFixed(4).padStart(11)}` : '';
      say(
        [
          r.name.padEnd(14),
          pm(r.kendallTau, 3).padEnd(15),
          pm(r.top1Regret, 4).padEnd(lossName.length + 14) + acc,
          pm(stat(withinTaus[r.name]), 3).padEnd(19),
          pm(stat(bestOfRegrets[r.name]), 4).padEnd(17),
          String(steps[r.name]).padStart(11),
          String(passes[r.name]).padStart(9),
          seconds[r.name].toFixed(0).padStart(6),
        ].join('  '),
      );
    }
    say('(mean ± sample std over seeds; regrets in ground-truth loss units, lower is better)');
    if (degenerate > 0) say(`warning: ${degenerate} GM batches had vanishing shared gradients (cosines ≈ 0; spec §8.2 degenerate case)`);
    const gm = methods[3];
    const one = methods[0];
    const tauOk = gm.kendallTau.mean >= one.kendallTau.mean;
    const regretOk = gm.top1Regret.mean <= one.top1Regret.mean;
    say(
      `check (spec §8.3): GM not worse than one-shot on average: Kendall τ ${tauOk ? 'PASS' : 'FAIL'} (${gm.kendallTau.mean.toFixed(3)} vs ${one.kendallTau.mean.toFixed(3)}), top-1 regret ${regretOk ? 'PASS' : 'FAIL'} (${gm.top1Regret.mean.toFixed(4)} vs ${one.top1Regret.mean.toFixed(4)})`,
    );
    return { seeds, architectures: archs.length, methods };
  },
};
