/**
 * `npm run reproduce:fedau` (or `npm run results -- fedau`): reruns the FedAU reproduction and writes
 * docs/results/fedau.json (meta, settings and every result the document reports) next to one JSON per accuracy
 * comparison, then renders docs/results/fedau.md and its plots from those files as read back from disk
 * (scripts/fedau-render.ts). The experiments, all with the code the coordinator and `npm run simulate` use:
 *   1. the quadratic bias experiment (distance to the true optimum per rule × pattern);
 *   2. the synthetic softmax task (7 rules × 3 patterns × 3 seeds);
 *   3. UCI digits, softmax and MLP (7 rules × 3 patterns × 3 seeds each, N = 100, T = 300), with each rule's default
 *      learning rates and with the same η for every rule;
 *   4. the coordinator's memory per client for each rule at d = 100k parameters and N = 1,000 clients, measured;
 *   5. `npm run bench -- aggregation` and `npm run bench -- simulate`, run as child processes (skip with --no-bench).
 *   --workers W     worker threads for the simulations (default: all cores)
 *   --no-bench      leave the benchmark section out (it then says so)
 *   --render-only   re-render fedau.md and the plots from the committed JSON files (no run)
 *   --study cnn     instead: the CNN study of docs/results/fedau-cnn.md (scripts/fedau-cnn.ts; --render-only applies)
 */
import {
  AGGREGATION_RULE_NAMES,
  DEFAULT_ALGORITHMS,
  DEFAULT_CYCLE_LENGTH,
  DEFAULT_LEARNING_RATES,
  DEFAULT_MARKOV_ACTIVATION,
  PARTICIPATION_PATTERNS,
  createAggregationRule,
  parseAlgorithm,
  validateAggregationSpec,
  prepareCsvDataset,
  quadraticInstance,
  runQuadraticBias,
  syntheticClassification,
  type AggregationClientState,
  type AggregationSpec,
  type FederatedRunResult,
  type HeldOutSpec,
  type ModelArch,
} from '@flotilla/algorithms';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { fedauCnnStudy } from './fedau-cnn';
import { renderFromDisk, type ComparisonEntry, type FedauJson, type QuadraticData, type QuadraticSettings } from './fedau-render';
import { startRun } from './results-meta';
import { planTasks, runPlan, type SimulationPlan } from './simulate';
import { defaultWorkers, runSimulations } from './simulate-pool';
import { meanCurves, summarize } from './simulate-report';

const ROOT = path.resolve(__dirname, '..', '..');
const OUT_DIR = path.join(ROOT, 'docs', 'results');
const ALGORITHMS = [...DEFAULT_ALGORITHMS];
const PATTERNS = [...PARTICIPATION_PATTERNS];
const SEEDS = [1, 2, 3];
/** Per-run curves are kept in the comparison files at every this many rounds (and the last); the plots use every evaluation. */
const CURVE_EVERY = 50;

/** How clients participate, in every simulation (the simulator's defaults, written out so that the JSON states them). */
const PARTICIPATION = {
  participationAlpha: 0.1,
  meanParticipation: 0.1,
  minParticipation: 0.02,
  markovActivation: DEFAULT_MARKOV_ACTIVATION,
  cycleLength: DEFAULT_CYCLE_LENGTH,
};

/** The quadratic experiment's settings (the library's defaults, written out). */
const QUADRATIC: QuadraticSettings = {
  numClients: 100,
  dimension: 10,
  numClasses: 10,
  meanStd: 3,
  alpha: 0.1,
  meanParticipation: 0.1,
  minParticipation: 0.02,
  rounds: 3000,
  averageLast: 500,
  localSteps: 5,
  localLr: 0.05,
  noiseStd: 1,
};

/** The synthetic softmax task (the library's defaults, written out). */
const SYNTHETIC = { numClients: 100, perClient: 50, numFeatures: 20, numClasses: 10, meanStd: 0.3, labelAlpha: 0.1, testSize: 5000 };

const say = (line: string): void => void process.stderr.write(line + '\n');

// ---------------------------------------------------------------------------------------------------------
// 1. Quadratic bias

function runQuadratic(): QuadraticData {
  const started = Date.now();
  const rows: { label: string; algorithm: string; globalLr: number }[] = [
    ...ALGORITHMS.map((a) => ({ label: a === 'avg-all' ? 'avg-all (γ = 1)' : a, algorithm: a, globalLr: 1 })),
    { label: 'avg-all (γ = 10)', algorithm: 'avg-all', globalLr: 10 },
  ];
  const perSeed = SEEDS.map((seed) => {
    const options = { seed, ...QUADRATIC };
    const instance = quadraticInstance(options);
    const results = rows.map((r) =>
      PATTERNS.map((p) => {
        const x = runQuadraticBias(instance, options, r.algorithm, p, r.globalLr);
        return { distanceToOptimum: x.distanceToOptimum, distanceToBiased: x.distanceToBiased, divergedAtRound: x.divergedAtRound };
      }),
    );
    const p = instance.p;
    return {
      seed,
      gap: instance.gap,
      p: { min: Math.min(...p), mean: p.reduce((a, b) => a + b, 0) / p.length, max: Math.max(...p) },
      results,
    };
  });
  const seconds = Math.round((Date.now() - started) / 100) / 10;
  say(`quadratic bias: ${rows.length * PATTERNS.length * SEEDS.length} runs in ${seconds} s`);
  return { settings: QUADRATIC, patterns: PATTERNS, rows, perSeed, seconds };
}

// ---------------------------------------------------------------------------------------------------------
// 2–3. Accuracy comparisons

/** Writes a comparison's file (config, summary, per-run results with thinned curves, mean curves). */
function writeComparison(file: string, plan: SimulationPlan, results: FederatedRunResult[]): void {
  const summary = summarize(results, plan.algorithms, plan.patterns);
  const lines = (xs: unknown[]): string => xs.map((x) => `  ${JSON.stringify(x)}`).join(',\n');
  const slim = results.map((r) => ({
    ...r,
    curve: r.curve.filter((c) => c.round % CURVE_EVERY === 0 || c === r.curve[r.curve.length - 1]),
  }));
  const curves = meanCurves(results, plan.algorithms, plan.patterns);
  writeFileSync(
    path.join(OUT_DIR, file),
    `{\n"config": ${JSON.stringify(plan, null, 2)},\n"curveEvery": ${CURVE_EVERY},\n"summary": [\n${lines(summary)}\n],\n"results": [\n${lines(slim)}\n],\n"meanCurves": [\n${lines(curves)}\n]\n}\n`,
  );
}

/** η = 0.1 and γ = 1 for every rule, γ = 10 for avg-all: only the aggregation differs. */
function sameRates(algorithm: string): { localLr: number; globalLr: number } {
  return { localLr: 0.1, globalLr: algorithm === 'avg-all' ? 10 : 1 };
}

/** Each rule's default learning rates (the simulate command's defaults). */
function learningRatesOf(algorithm: string): { localLr: number; globalLr: number } {
  return { ...DEFAULT_LEARNING_RATES[parseAlgorithm(algorithm).rule] };
}

async function digitsComparison(section: string, model: ModelArch, workers: number, sameLr: boolean): Promise<ComparisonEntry> {
  const file = path.join(ROOT, 'data', 'uci-digits', 'digits.csv');
  const data = prepareCsvDataset(readFileSync(file, 'utf8'), { testFraction: 0.2, seed: 1 });
  const name = model.arch === 'mlp' ? `mlp-${model.hidden}` : model.arch;
  const plan: SimulationPlan = {
    dataset: 'data/uci-digits/digits.csv',
    trainSize: data.train.size,
    testSize: data.test.size,
    numFeatures: data.train.numFeatures,
    numClasses: data.train.numClasses,
    testFraction: 0.2,
    splitSeed: 1,
    algorithms: ALGORITHMS,
    patterns: PATTERNS,
    seeds: SEEDS,
    base: {
      numClients: 100,
      rounds: 300,
      model,
      localSteps: 5,
      batchSize: 16,
      evalEvery: 10,
      dataAlpha: 0.1,
      minSamplesPerClient: 1,
      ...PARTICIPATION,
    },
    learningRates: Object.fromEntries(ALGORITHMS.map((a) => [a, sameLr ? sameRates(a) : learningRatesOf(a)])),
    trainer: 'fast',
  };
  const started = Date.now();
  const results = await runPlan(plan, data, workers, `digits ${name}${sameLr ? ' (same η)' : ''}`);
  const seconds = Math.round((Date.now() - started) / 100) / 10;
  const base = `fedau-digits-${name}${sameLr ? '-same-lr' : ''}`;
  writeComparison(`${base}.json`, plan, results);
  return { id: base.replace(/^fedau-/, ''), section, file: `${base}.json`, svg: `${base}.svg`, kind: 'digits', sameLr, seconds };
}

async function syntheticComparison(section: string, workers: number): Promise<ComparisonEntry> {
  // The same η and γ for every rule (γ = 10 for avg-all), T = 500, one dataset per seed.
  const rates = Object.fromEntries(ALGORITHMS.map((a) => [a, sameRates(a)]));
  const started = Date.now();
  const results: FederatedRunResult[] = [];
  let plan: SimulationPlan | undefined;
  for (const seed of SEEDS) {
    const d = syntheticClassification({ seed, ...SYNTHETIC });
    plan = {
      dataset: `synthetic (seed ${seed})`,
      trainSize: d.train.size,
      testSize: d.test.size,
      numFeatures: d.train.numFeatures,
      numClasses: d.train.numClasses,
      testFraction: 0,
      splitSeed: seed,
      algorithms: ALGORITHMS,
      patterns: PATTERNS,
      seeds: [seed],
      base: { rounds: 500, model: { arch: 'softmax' }, localSteps: 5, batchSize: 16, evalEvery: 10, ...PARTICIPATION },
      learningRates: rates,
      trainer: 'fast',
    };
    const tasks = planTasks(plan);
    say(`synthetic seed ${seed}: ${tasks.length} runs`);
    results.push(...(await runSimulations({ train: d.train, test: d.test, clients: d.clients, trainer: 'fast' }, tasks, { workers })));
  }
  const seconds = Math.round((Date.now() - started) / 100) / 10;
  writeComparison('fedau-synthetic.json', { ...plan!, dataset: 'synthetic, one draw per seed', seeds: SEEDS }, results);
  return {
    id: 'synthetic',
    section,
    file: 'fedau-synthetic.json',
    svg: 'fedau-synthetic.svg',
    kind: 'synthetic',
    sameLr: true,
    seconds,
    synthetic: SYNTHETIC,
  };
}

// ---------------------------------------------------------------------------------------------------------
// 4. Memory per client

function gcFunction(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** The share of clients participating in each round of the memory probe. */
const MEMORY_ROUNDS = [1, 0.1];
/** Federations held at once for the rules without memory vectors. */
const MEMORY_REPLICAS = 20;

interface MemoryRow {
  rule: string;
  model: ReturnType<ReturnType<typeof createAggregationRule>['memoryFootprint']>;
  /** Measured JS-heap bytes per client (state objects, Map entries, typed-array wrappers). */
  heapPerClient: number;
  /** Measured array-buffer bytes per client (memory vectors), the per-job buffers taken out. */
  buffersPerClient: number;
  measuredPerClient: number;
  measuredPerJob: number;
}

/** What one child process measures for one rule (see {@link measureRuleMemory}). */
interface MemoryProbe {
  heapPerClient: number;
  buffersPerClient: number;
  perJob: number;
}

/**
 * Child-process mode (`--measure-memory RULE D N`): each rule is measured in a fresh process, so nothing another
 * rule allocated (and V8 has not yet returned) blurs the numbers. Runs MEMORY_ROUNDS rounds with N clients and d
 * parameters (the share of clients participating in each: every client in round 1, a tenth in round 2) through `createAggregationRule`, then measures the
 * JS heap and the array buffers still held (after full GCs, repeated until the array-buffer total stops changing,
 * since V8 frees dead buffers concurrently): the clients' state map and, for MIFA / FedVarp, their memory vectors
 * and Σ M. Rules without memory vectors hold so little that heap noise (tens of kB) would swamp one federation, so
 * MEMORY_REPLICAS independent federations of N clients are held at once and the totals divided by MEMORY_REPLICAS·N.
 */
async function measureRuleMemory(name: string, d: number, N: number): Promise<MemoryProbe> {
  const gc = gcFunction();
  const ids = Array.from({ length: N }, (_, i) => `client-${String(i).padStart(4, '0')}`);
  const shared = new Float32Array(d).fill(1e-3);
  const settle = async (): Promise<{ heap: number; buffers: number }> => {
    let last = -1;
    for (let i = 0; i < 40; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 50));
      const m = process.memoryUsage();
      if (m.arrayBuffers === last) return { heap: m.heapUsed, buffers: m.arrayBuffers };
      last = m.arrayBuffers;
    }
    const m = process.memoryUsage();
    return { heap: m.heapUsed, buffers: m.arrayBuffers };
  };
  const specOf = (): AggregationSpec =>
    name === 'fedau'
      ? { rule: name, cutoffK: null }
      : name === 'known-p'
        ? { rule: name, p: Object.fromEntries(ids.map((id, i) => [id, 0.02 + (0.98 * i) / N])) }
        : validateAggregationSpec({ rule: name });
  const replicas = createAggregationRule(specOf()).usesClientMemory ? 1 : MEMORY_REPLICAS;
  const before = await settle();
  const federations = [];
  for (let k = 0; k < replicas; k++) {
    const rule = createAggregationRule(specOf());
    let states = new Map<string, AggregationClientState>(ids.map((id) => [id, rule.initialClientState()]));
    const memories = new Map<string, Float32Array>();
    let memorySum: Float64Array | null = null;
    let x: Float32Array = new Float32Array(d);
    for (const share of MEMORY_ROUNDS) {
      const round = rule.beginRound(d, { clientStates: states, memorySum });
      ids.forEach((id, i) => {
        if (i >= share * N) return;
        // MIFA and FedVarp keep the array as the client's memory: give each its own; the others only read it.
        const delta = rule.usesClientMemory ? new Float32Array(d).fill(1e-3 * ((i % 7) - 3)) : shared;
        round.add(id, delta, memories.get(id) ?? null);
      });
      const out = round.finish(x);
      x = out.model;
      states = out.states;
      memorySum = out.memorySum;
      for (const [id, m] of out.memories) memories.set(id, m);
    }
    federations.push({ rule, states, memories, memorySum, x });
  }
  const after = await settle(); // `federations` is still referenced here
  const perJob = (federations[0].memorySum?.byteLength ?? 0) + federations[0].x.byteLength;
  return {
    heapPerClient: (after.heap - before.heap) / (replicas * N),
    buffersPerClient: (after.buffers - before.buffers - replicas * perJob) / (replicas * N),
    perJob,
  };
}

function measureMemory(d: number, N: number): MemoryRow[] {
  return AGGREGATION_RULE_NAMES.map((name) => {
    const r = spawnSync(process.execPath, [__filename, '--measure-memory', name, String(d), String(N)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`memory probe for ${name} failed (${r.status}): ${r.stderr}`);
    const probe = JSON.parse(r.stdout.trim().split('\n').pop()!) as MemoryProbe;
    const row: MemoryRow = {
      rule: name,
      model: createAggregationRule(
        name === 'fedau'
          ? { rule: name, cutoffK: null }
          : name === 'known-p'
            ? { rule: name, p: { x: 1 } }
            : validateAggregationSpec({ rule: name }),
      ).memoryFootprint(d),
      heapPerClient: Math.round(probe.heapPerClient),
      buffersPerClient: Math.round(probe.buffersPerClient),
      measuredPerClient: Math.round(probe.heapPerClient + probe.buffersPerClient),
      measuredPerJob: probe.perJob,
    };
    say(`memory ${name}: ${row.measuredPerClient} bytes per client (heap ${row.heapPerClient}, buffers ${row.buffersPerClient})`);
    return row;
  });
}

// ---------------------------------------------------------------------------------------------------------
// 5. Benchmarks

function runBench(name: string): unknown {
  const started = Date.now();
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bench', 'dist', 'run.js'), name, '--json'], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`bench ${name} failed (${r.status}): ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  say(`bench ${name}: ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return JSON.parse(lines[lines.length - 1]) as unknown;
}

// ---------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      workers: { type: 'string' },
      'no-bench': { type: 'boolean', default: false },
      'render-only': { type: 'boolean', default: false },
      'measure-memory': { type: 'string' },
      study: { type: 'string' },
    },
  });
  if (values.study !== undefined) {
    if (values.study !== 'cnn') throw new Error(`--study: the only study is cnn, got '${values.study}'`);
    await fedauCnnStudy(values['render-only']);
    return;
  }
  if (values['measure-memory']) {
    const probe = await measureRuleMemory(values['measure-memory'], Number(positionals[0]), Number(positionals[1]));
    process.stdout.write(JSON.stringify(probe) + '\n');
    return;
  }
  mkdirSync(OUT_DIR, { recursive: true });
  if (!values['render-only']) {
    const workers = values.workers ? Number(values.workers) : defaultWorkers();
    const run = startRun(`npm run reproduce:fedau${values['no-bench'] ? ' -- --no-bench' : ''}`);
    say(`reproduce:fedau: load average ${run.loadAverage1m.toFixed(2)}, ${workers} workers`);
    const quadratic = runQuadratic();
    const comparisons = [
      await syntheticComparison('2', workers),
      await digitsComparison('3a', { arch: 'softmax' }, workers, false),
      await digitsComparison('3b', { arch: 'mlp', hidden: 32 }, workers, false),
      await digitsComparison('3c', { arch: 'softmax' }, workers, true),
      await digitsComparison('3d', { arch: 'mlp', hidden: 32 }, workers, true),
    ];
    const d = 100_000;
    const N = 1_000;
    const memoryRows = measureMemory(d, N);
    const loadBefore = os.loadavg()[0];
    const benches = values['no-bench'] ? null : { aggregation: runBench('aggregation'), simulate: runBench('simulate') };
    const loadAfter = os.loadavg()[0];
    const manifest = JSON.parse(readFileSync(path.join(ROOT, 'data', 'uci-digits', 'dataset.json'), 'utf8')) as HeldOutSpec & {
      file: string;
    };
    const digitsFile = readFileSync(path.join(ROOT, 'data', 'uci-digits', 'digits.csv'), 'utf8')
      .trim()
      .split('\n');
    const json: Omit<FedauJson, 'bench'> & { bench: unknown } = {
      meta: run.finish(),
      workers,
      digits: {
        file: 'data/uci-digits/digits.csv',
        rows: digitsFile.length,
        features: digitsFile[0].split(',').length - 1,
        classes: manifest.numClasses,
        featureRange: [...manifest.featureRange] as [number, number],
      },
      quadratic,
      comparisons,
      memory: { d, N, rounds: MEMORY_ROUNDS, replicas: MEMORY_REPLICAS, rows: memoryRows },
      bench: benches && {
        loadBefore: Math.round(loadBefore * 100) / 100,
        loadAfter: Math.round(loadAfter * 100) / 100,
        ...benches,
      },
    };
    writeFileSync(path.join(OUT_DIR, 'fedau.json'), JSON.stringify(json, null, 1) + '\n');
    say(`wrote docs/results/fedau.json in ${(json.meta.durationSeconds / 60).toFixed(1)} min`);
  }
  const { markdown, svgs } = renderFromDisk(OUT_DIR);
  for (const [file, svg] of Object.entries(svgs)) writeFileSync(path.join(OUT_DIR, file), svg);
  writeFileSync(path.join(OUT_DIR, 'fedau.md'), markdown);
  say('wrote docs/results/fedau.md and its plots');
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`reproduce-fedau: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}
