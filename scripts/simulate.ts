/**
 * `npm run simulate -- --dataset <csv> [options]`: compares aggregation rules on any label-last CSV with N
 * virtual clients in-process, using the coordinator's own rule code (`createAggregationRule`), on worker
 * threads (one task per algorithm × pattern × seed; deterministic for a seed whatever the number of workers).
 * Prints a progress bar and a table of mean ± std final test accuracy; writes the results as JSON and an
 * accuracy-vs-round SVG next to it.
 *
 *   --dataset FILE|DIR      label-last CSV, or a dataset folder with a dataset.json manifest (required). A CSV is
 *                           split by --test-fraction/--split-seed and min-max scaled per column with the training
 *                           range; a folder (any manifest format: csv, idx, image-folder) keeps its manifest's
 *                           held-out split and inputShape and is scaled to [0, 1] with its featureRange
 *   --input-shape H,W,C     one CSV row's shape (e.g. 8,8,1 for the digits as images; a manifest states its own)
 *   --clients N             virtual clients (default 100)
 *   --rounds T              rounds (default 300)
 *   --pattern LIST          bernoulli,markov,cyclic (default all three; docs/algorithms/fedau.md §6.3)
 *   --algorithms LIST       default fedau,fedau-k50,known-p,avg-participating,avg-all,mifa,fedvarp
 *   --seeds N               seeds 1..N (default 3)
 *   --model softmax|mlp|cnn default softmax; --hidden H for the MLP (default 32); for the CNN (images only)
 *                           --filters F1,F2 (default 16,32), --kernel K (3), --dense D (64), as a job's model spec
 *   --local-steps I         default 5        --batch B     default 16
 *   --local-lr X | ALG=X,…  default per rule (DEFAULT_LEARNING_RATES, docs/algorithms/fedau.md §5)
 *   --global-lr X | ALG=X,… same
 *   --eval-every R          default 10       --test-fraction F  default 0.2   --split-seed S  default 1
 *   --data-alpha, --participation-alpha (0.1), --mean-p (0.1), --min-p (0.02), --markov-activation (0.05),
 *   --cycle-length (100), --min-samples (1)   the knobs of docs/algorithms/fedau.md §6
 *   --workers W             default: all cores      --trainer fast|tfjs   default fast (see docs/results/fedau.md)
 *   --accumulator float64|float32   server accumulator precision (default float64)
 *   --update-policy none|relative:K|absolute:M[,clip]   the jobs' update policy (docs/algorithms/fedau.md §11; default
 *                           none: the simulated clients are honest); `,clip` clips instead of rejecting
 *   --robust median|trimmed-mean:B  robust aggregation instead of the weighted mean (§11.3; not for mifa, fedvarp)
 *   --poison N:V            clients 0..N−1 send V in every coordinate whenever they participate (e.g. 1:1e20)
 *   --out FILE              default results.json; the plot goes to the same name with .svg
 */
import {
  DEFAULT_ALGORITHMS,
  scaleToUnit,
  DEFAULT_LEARNING_RATES,
  PARTICIPATION_PATTERNS,
  parseAlgorithm,
  prepareCsvDataset,
  type Dataset,
  type FederatedRunResult,
  type FederatedSimulationConfig,
  type ModelArch,
  type ParticipationPattern,
  type RobustAggregation,
  type UpdatePolicy,
} from '@flotilla/algorithms';
import { ModelSpecSchema } from '@flotilla/contracts';
import { loadManifestDataset } from '@flotilla/dataset-files';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { defaultWorkers, progressBar, runSimulations } from './simulate-pool';
import { formatSummary, renderCurvesSvg, summarize } from './simulate-report';

/** Everything that defines a comparison; written into the results JSON as `config`. */
export interface SimulationPlan {
  dataset: string;
  trainSize: number;
  testSize: number;
  numFeatures: number;
  numClasses: number;
  testFraction: number;
  splitSeed: number;
  algorithms: string[];
  patterns: ParticipationPattern[];
  seeds: number[];
  /** Shared by every task; algorithm, pattern, seed and the learning rates are per task. */
  base: Omit<FederatedSimulationConfig, 'algorithm' | 'pattern' | 'seed' | 'localLr' | 'globalLr'>;
  /** Learning rates per algorithm (after defaults and overrides). */
  learningRates: Record<string, { localLr: number; globalLr: number }>;
  trainer: 'fast' | 'tfjs';
}

/** The tasks of a plan, algorithm-major, then pattern, then seed. */
export function planTasks(plan: SimulationPlan): FederatedSimulationConfig[] {
  return plan.algorithms.flatMap((algorithm) =>
    plan.patterns.flatMap((pattern) =>
      plan.seeds.map((seed) => ({ ...plan.base, algorithm, pattern, seed, ...plan.learningRates[algorithm] })),
    ),
  );
}

/**
 * Reads `--local-lr 0.05` (all algorithms) or `--local-lr fedau=0.1,mifa=0.03` (per algorithm or per rule;
 * the rest keep the defaults of docs/algorithms/fedau.md §5) into one rate per algorithm.
 */
export function parseRates(text: string | undefined, algorithms: string[], which: 'localLr' | 'globalLr'): Record<string, number> {
  const out: Record<string, number> = {};
  const given = new Map<string, number>();
  let all: number | undefined;
  for (const part of (text ?? '').split(',').filter((s) => s.trim() !== '')) {
    const [k, v] = part.includes('=') ? part.split('=') : [undefined, part];
    const x = Number(v);
    if (!Number.isFinite(x) || x <= 0)
      throw new Error(`--${which === 'localLr' ? 'local-lr' : 'global-lr'}: '${part}' is not a positive number`);
    if (k === undefined) all = x;
    else given.set(k.trim(), x);
  }
  for (const a of algorithms) {
    const rule = parseAlgorithm(a).rule;
    out[a] = given.get(a) ?? given.get(rule) ?? all ?? DEFAULT_LEARNING_RATES[rule][which];
  }
  return out;
}

/** Reads `--update-policy`: `none`, `relative:K` or `absolute:M`, each optionally followed by `,clip` (default reject). */
export function parseUpdatePolicy(text: string): UpdatePolicy {
  const [bound, action = 'reject', ...rest] = text.split(',').map((s) => s.trim());
  if (rest.length > 0 || (action !== 'reject' && action !== 'clip'))
    throw new Error(`--update-policy: expected none, relative:K or absolute:M, optionally with ,clip; got '${text}'`);
  const [kind, value] = bound.split(':');
  if (kind === 'none' && value === undefined) return { bound: { kind: 'none' }, action };
  const x = Number(value);
  if (kind === 'relative' && x >= 1 && x < Infinity) return { bound: { kind: 'relative', factor: x }, action };
  if (kind === 'absolute' && x > 0 && x < Infinity) return { bound: { kind: 'absolute', maxNorm: x }, action };
  throw new Error(`--update-policy: expected none, relative:K (K >= 1) or absolute:M (M > 0); got '${text}'`);
}

/** Reads `--robust`: `median` or `trimmed-mean:B` with B in (0, 0.5). */
export function parseRobust(text: string): RobustAggregation {
  if (text === 'median') return { kind: 'median' };
  const m = /^trimmed-mean:(.+)$/.exec(text);
  const trim = m ? Number(m[1]) : NaN;
  if (trim > 0 && trim < 0.5) return { kind: 'trimmed-mean', trim };
  throw new Error(`--robust: expected median or trimmed-mean:B with B in (0, 0.5); got '${text}'`);
}

/** Reads `--poison N:V`: clients 0..N−1 send V everywhere. */
export function parsePoison(text: string): { clients: number[]; value: number } {
  const [n, v] = text.split(':');
  const count = Number(n);
  const value = Number(v);
  if (!(Number.isInteger(count) && count >= 1 && Number.isFinite(value)))
    throw new Error(`--poison: expected N:V (N clients, a finite value V), got '${text}'`);
  return { clients: Array.from({ length: count }, (_, i) => i), value };
}

function positiveInt(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got '${text}'`);
  return n;
}

function positive(name: string, text: string): number {
  const n = Number(text);
  if (!(n > 0 && n < Infinity)) throw new Error(`--${name} must be a positive number, got '${text}'`);
  return n;
}

/**
 * The `--model` options as a model: softmax, mlp (`hidden`), or cnn (`filters` "F1,F2", `kernel`, `dense`, each
 * defaulting as in a job's model spec and checked by its schema).
 */
export function parseModel(o: { model: string; hidden: string; filters?: string; kernel?: string; dense?: string }): ModelArch {
  switch (o.model) {
    case 'softmax':
      return { arch: 'softmax' };
    case 'mlp':
      return { arch: 'mlp', hidden: positiveInt('hidden', o.hidden) };
    case 'cnn': {
      const spec = ModelSpecSchema.safeParse({
        arch: 'cnn',
        ...(o.filters !== undefined ? { filters: o.filters.split(',').map(Number) } : {}),
        ...(o.kernel !== undefined ? { kernelSize: Number(o.kernel) } : {}),
        ...(o.dense !== undefined ? { dense: Number(o.dense) } : {}),
      });
      if (!spec.success || spec.data.arch !== 'cnn') {
        throw new Error(
          `--model cnn: --filters F1,F2 (1..1024 each), --kernel K (1..15) and --dense D (1..16384) must be integers; got ${JSON.stringify({ filters: o.filters, kernel: o.kernel, dense: o.dense })}`,
        );
      }
      const { filters, kernelSize, dense } = spec.data;
      return { arch: 'cnn', filters, kernelSize, dense };
    }
    default:
      throw new Error(`--model must be softmax, mlp or cnn, got '${o.model}'`);
  }
}

/** Reads `--input-shape 8,8,1`: positive integers. */
export function parseInputShape(text: string): number[] {
  const dims = text.split(',').map((s) => Number(s.trim()));
  if (dims.length < 1 || dims.length > 3 || !dims.every((d) => Number.isInteger(d) && d >= 1))
    throw new Error(`--input-shape: expected up to three positive integers such as 8,8,1, got '${text}'`);
  return dims;
}

/**
 * The training and test sets of `--dataset`: a dataset folder (its manifest's format, held-out split, inputShape and
 * featureRange) or a label-last CSV (split and scaled as {@link prepareCsvDataset}, shaped by `inputShape`).
 */
export function loadSimulationData(
  dataset: string,
  csv: { testFraction: number; splitSeed: number; inputShape?: number[] },
): { train: Dataset; test: Dataset; testFraction: number; splitSeed: number } {
  if (statSync(dataset).isDirectory()) {
    const m = loadManifestDataset(dataset);
    const [lo, hi] = m.manifest.featureRange;
    const scale = (d: Dataset): Dataset => ({ ...(hi > lo ? scaleToUnit(d, [lo, hi]) : d), inputShape: m.inputShape });
    return { train: scale(m.train), test: scale(m.test), testFraction: m.manifest.heldOut.fraction, splitSeed: m.manifest.heldOut.seed };
  }
  const data = prepareCsvDataset(readFileSync(dataset, 'utf8'), {
    testFraction: csv.testFraction,
    seed: csv.splitSeed,
    inputShape: csv.inputShape,
  });
  return { ...data, testFraction: csv.testFraction, splitSeed: csv.splitSeed };
}

/** Runs a plan on worker threads with a progress bar. */
export async function runPlan(
  plan: SimulationPlan,
  data: { train: Dataset; test: Dataset },
  workers: number,
  label = 'simulating',
): Promise<FederatedRunResult[]> {
  const tasks = planTasks(plan);
  const total = tasks.reduce((s, t) => s + (t.rounds ?? 300), 0);
  const bar = progressBar(total, label);
  const results = await runSimulations({ train: data.train, test: data.test, trainer: plan.trainer }, tasks, {
    workers,
    onProgress: (d) => bar.update(d),
  });
  bar.end();
  return results;
}

/** Writes `{config, summary, results}` to `out` and the plot next to it; returns the plot's path. */
export function writeResults(out: string, plan: SimulationPlan, results: FederatedRunResult[], title: string): string {
  const summary = summarize(results, plan.algorithms, plan.patterns);
  // The config indented for reading; one summary cell and one run per line, so the file stays diffable.
  const lines = (xs: unknown[]): string => xs.map((x) => `  ${JSON.stringify(x)}`).join(',\n');
  writeFileSync(
    out,
    `{\n"config": ${JSON.stringify(plan, null, 2)},\n"summary": [\n${lines(summary)}\n],\n"results": [\n${lines(results)}\n]\n}\n`,
  );
  const svg = out.replace(/\.json$/i, '') + '.svg';
  writeFileSync(svg, renderCurvesSvg(results, plan.algorithms, plan.patterns, title));
  return svg;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dataset: { type: 'string' },
      clients: { type: 'string', default: '100' },
      rounds: { type: 'string', default: '300' },
      pattern: { type: 'string', default: PARTICIPATION_PATTERNS.join(',') },
      patterns: { type: 'string' },
      algorithms: { type: 'string', default: DEFAULT_ALGORITHMS.join(',') },
      seeds: { type: 'string', default: '3' },
      model: { type: 'string', default: 'softmax' },
      hidden: { type: 'string', default: '32' },
      filters: { type: 'string' },
      kernel: { type: 'string' },
      dense: { type: 'string' },
      'input-shape': { type: 'string' },
      'local-steps': { type: 'string', default: '5' },
      batch: { type: 'string', default: '16' },
      'local-lr': { type: 'string' },
      'global-lr': { type: 'string' },
      'eval-every': { type: 'string', default: '10' },
      'test-fraction': { type: 'string', default: '0.2' },
      'split-seed': { type: 'string', default: '1' },
      'data-alpha': { type: 'string', default: '0.1' },
      'participation-alpha': { type: 'string', default: '0.1' },
      'mean-p': { type: 'string', default: '0.1' },
      'min-p': { type: 'string', default: '0.02' },
      'markov-activation': { type: 'string', default: '0.05' },
      'cycle-length': { type: 'string', default: '100' },
      'min-samples': { type: 'string', default: '1' },
      workers: { type: 'string' },
      trainer: { type: 'string', default: 'fast' },
      accumulator: { type: 'string', default: 'float64' },
      'update-policy': { type: 'string' },
      robust: { type: 'string' },
      poison: { type: 'string' },
      out: { type: 'string', default: 'results.json' },
    },
  });
  if (!values.dataset)
    throw new Error('--dataset <label-last CSV or dataset folder> is required (e.g. --dataset data/uci-digits/digits.csv, or data/mnist)');
  const algorithms = values.algorithms.split(',').map((s) => s.trim());
  algorithms.forEach(parseAlgorithm); // fail early on a bad name
  const patterns = (values.patterns ?? values.pattern).split(',').map((s) => s.trim()) as ParticipationPattern[];
  for (const p of patterns)
    if (!PARTICIPATION_PATTERNS.includes(p))
      throw new Error(`--pattern: unknown pattern '${p}' (expected ${PARTICIPATION_PATTERNS.join(', ')})`);
  const model = parseModel(values);
  if (values.trainer !== 'fast' && values.trainer !== 'tfjs') throw new Error(`--trainer must be fast or tfjs, got '${values.trainer}'`);
  if (values.accumulator !== 'float64' && values.accumulator !== 'float32')
    throw new Error(`--accumulator must be float64 or float32, got '${values.accumulator}'`);
  const inputShape = values['input-shape'] !== undefined ? parseInputShape(values['input-shape']) : undefined;
  const local = parseRates(values['local-lr'], algorithms, 'localLr');
  const global = parseRates(values['global-lr'], algorithms, 'globalLr');

  const started = Date.now();
  const { testFraction, splitSeed, ...data } = loadSimulationData(values.dataset, {
    testFraction: positive('test-fraction', values['test-fraction']),
    splitSeed: Number(values['split-seed']),
    inputShape,
  });
  if (model.arch === 'cnn' && data.train.inputShape?.length !== 3)
    throw new Error(`--model cnn needs images: give --input-shape H,W,C for a CSV, or a dataset folder whose manifest states one`);
  const plan: SimulationPlan = {
    dataset: path.relative(process.cwd(), path.resolve(values.dataset)),
    trainSize: data.train.size,
    testSize: data.test.size,
    numFeatures: data.train.numFeatures,
    numClasses: data.train.numClasses,
    testFraction,
    splitSeed,
    algorithms,
    patterns,
    seeds: Array.from({ length: positiveInt('seeds', values.seeds) }, (_, i) => i + 1),
    base: {
      numClients: positiveInt('clients', values.clients),
      rounds: positiveInt('rounds', values.rounds),
      model,
      localSteps: positiveInt('local-steps', values['local-steps']),
      batchSize: positiveInt('batch', values.batch),
      evalEvery: positiveInt('eval-every', values['eval-every']),
      dataAlpha: positive('data-alpha', values['data-alpha']),
      participationAlpha: positive('participation-alpha', values['participation-alpha']),
      meanParticipation: positive('mean-p', values['mean-p']),
      minParticipation: positive('min-p', values['min-p']),
      markovActivation: positive('markov-activation', values['markov-activation']),
      cycleLength: positiveInt('cycle-length', values['cycle-length']),
      minSamplesPerClient: Number(values['min-samples']),
      accumulator: values.accumulator,
      // Only when asked for, so that the plans of earlier results files stay as they were.
      ...(values['update-policy'] ? { updatePolicy: parseUpdatePolicy(values['update-policy']) } : {}),
      ...(values.robust ? { robust: parseRobust(values.robust) } : {}),
      ...(values.poison ? { poison: parsePoison(values.poison) } : {}),
    },
    learningRates: Object.fromEntries(algorithms.map((a) => [a, { localLr: local[a], globalLr: global[a] }])),
    trainer: values.trainer,
  };
  const workers = values.workers ? positiveInt('workers', values.workers) : defaultWorkers();
  const tasks = planTasks(plan);
  process.stderr.write(
    `${plan.dataset}: ${data.train.size} training / ${data.test.size} test rows, ${data.train.numFeatures} features, ${data.train.numClasses} classes; ` +
      `${plan.base.numClients} clients, ${plan.base.rounds} rounds, ${model.arch}; ${tasks.length} runs (${algorithms.length} algorithms × ${patterns.length} patterns × ${plan.seeds.length} seeds) on ${Math.min(workers, tasks.length)} worker(s)\n`,
  );
  const results = await runPlan(plan, data, workers);
  const out = path.resolve(values.out);
  const svg = writeResults(
    out,
    plan,
    results,
    `${path.basename(values.dataset)}: ${model.arch}, N=${plan.base.numClients}, ${plan.base.rounds} rounds, ${plan.seeds.length} seeds`,
  );
  const cells = summarize(results, algorithms, patterns);
  process.stdout.write(
    `\nfinal test accuracy (%), mean ± std over ${plan.seeds.length} seed(s):\n\n${formatSummary(cells, algorithms, patterns, false)}\n\n`,
  );
  const diverged = results.filter((r) => r.divergedAtRound !== null);
  if (diverged.length)
    process.stdout.write(
      `† diverged: ${diverged.map((r) => `${r.algorithm}/${r.pattern}/seed ${r.seed} at round ${r.divergedAtRound}`).join(', ')}\n\n`,
    );
  process.stdout.write(
    `wrote ${path.relative(process.cwd(), out)} and ${path.relative(process.cwd(), svg)} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`,
  );
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`simulate: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
