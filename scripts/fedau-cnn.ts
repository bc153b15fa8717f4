/**
 * `npm run reproduce:fedau -- --study cnn`: FedAU against its baselines with the CNN on the UCI digits (8×8×1 images),
 * on the hand-written CNN of libs/algorithms/src/simulation/fast-model.ts (the same function as the TF.js `cnn`).
 *   1. Learning rates: for each rule, a grid of local learning rates η (γ at the rule's default) is run on a
 *      validation split carved from the training rows (the clients hold the rest); the η with the best mean
 *      validation accuracy over the three patterns is kept. The test split takes no part in the choice.
 *   2. The comparison: every rule with its chosen η on the whole training split, three patterns × three seeds,
 *      1,000 rounds, test accuracy.
 * Writes docs/results/fedau-cnn.json (meta, settings, grid, every run) and renders docs/results/fedau-cnn.md and
 * fedau-cnn.svg from it as read back from disk (scripts/fedau-cnn-render.ts). Single worker thread throughout: the
 * study is sized for one core (see the document for the time it took).
 *   --render-only   re-render the markdown and the plot from the committed JSON (no run)
 */
import {
  DEFAULT_CYCLE_LENGTH,
  DEFAULT_LEARNING_RATES,
  DEFAULT_MARKOV_ACTIVATION,
  PARTICIPATION_PATTERNS,
  createRng,
  deriveSeed,
  parameterCount,
  parseAlgorithm,
  prepareCsvDataset,
  trainTestSplit,
  type FederatedRunResult,
  type FederatedSimulationConfig,
  type ModelArch,
} from '@flotilla/algorithms';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { renderCnnStudy, type CnnStudyJson, type GridRow } from './fedau-cnn-render';
import { startRun } from './results-meta';
import { runPlan, type SimulationPlan } from './simulate';
import { progressBar, runSimulations } from './simulate-pool';
import { meanCurves, summarize } from './simulate-report';

const ROOT = path.resolve(__dirname, '..', '..');
const OUT_DIR = path.join(ROOT, 'docs', 'results');
const DIGITS = 'data/uci-digits/digits.csv';

/** The CNN of the study: conv(4) → pool → conv(8) → pool → dense(32) → 10, 3×3 kernels (1,722 parameters on 8×8×1). */
const MODEL: ModelArch = { arch: 'cnn', filters: [4, 8], kernelSize: 3, dense: 32 };
/** FedAU (K = ∞) and the baselines of docs/results/fedau.md (its K = 50 variant left out to fit the time budget). */
const ALGORITHMS = ['fedau', 'known-p', 'avg-participating', 'avg-all', 'mifa', 'fedvarp'];
const PATTERNS = [...PARTICIPATION_PATTERNS];
const SEEDS = [1, 2, 3];
const ROUNDS = 1000;
/** The grid of local learning rates η, its runs' length, seed, and the validation split's share of the training rows. */
const GRID = { localLrs: [0.03, 0.1, 0.3], rounds: 200, seed: 1, validationFraction: 0.2, validationSeed: 7 };
/** Per-run curves are kept in the JSON at every this many rounds (and the last); the plot uses every evaluation's mean. */
const CURVE_EVERY = 50;

const BASE: SimulationPlan['base'] = {
  numClients: 100,
  rounds: ROUNDS,
  model: MODEL,
  localSteps: 5,
  batchSize: 16,
  evalEvery: 10,
  dataAlpha: 0.1,
  minSamplesPerClient: 1,
  participationAlpha: 0.1,
  meanParticipation: 0.1,
  minParticipation: 0.02,
  markovActivation: DEFAULT_MARKOV_ACTIVATION,
  cycleLength: DEFAULT_CYCLE_LENGTH,
};

const say = (line: string): void => void process.stderr.write(line + '\n');

/**
 * Each algorithm's local learning rate from the grid: the η whose runs have the highest validation accuracy averaged
 * over the patterns (a run that diverged counts as 0); a tie goes to the smaller η.
 */
export function pickLearningRates(
  rows: readonly GridRow[],
  algorithms: readonly string[],
): Record<string, { localLr: number; globalLr: number }> {
  const out: Record<string, { localLr: number; globalLr: number }> = {};
  for (const a of algorithms) {
    const candidates = rows.filter((r) => r.algorithm === a);
    if (candidates.length === 0) throw new Error(`pickLearningRates: no grid runs for ${a}`);
    let best = candidates[0];
    for (const r of candidates.slice(1)) {
      if (r.score > best.score || (r.score === best.score && r.localLr < best.localLr)) best = r;
    }
    out[a] = { localLr: best.localLr, globalLr: best.globalLr };
  }
  return out;
}

/** A grid run's score: its validation accuracy over the last 10% of its rounds, 0 if it diverged. */
function gridScore(r: FederatedRunResult): number {
  return r.divergedAtRound === null ? r.tailTestAccuracy : 0;
}

/** The grid's rows from its runs (one per algorithm × η, the patterns' scores and their mean). */
export function gridRows(results: readonly FederatedRunResult[], algorithms: readonly string[], patterns: readonly string[]): GridRow[] {
  const rows: GridRow[] = [];
  for (const algorithm of algorithms) {
    const runs = results.filter((r) => r.algorithm === algorithm);
    for (const localLr of [...new Set(runs.map((r) => r.localLr))]) {
      const cell = patterns.map((p) => runs.find((r) => r.localLr === localLr && r.pattern === p));
      if (cell.some((r) => r === undefined)) throw new Error(`gridRows: ${algorithm} at η = ${localLr} misses a pattern`);
      const scores = cell.map((r) => gridScore(r!));
      rows.push({
        algorithm,
        localLr,
        globalLr: cell[0]!.globalLr,
        validationAccuracy: scores,
        diverged: cell.filter((r) => r!.divergedAtRound !== null).length,
        score: scores.reduce((s, x) => s + x, 0) / scores.length,
      });
    }
  }
  return rows;
}

/** What {@link runStudy} varies (the study's values are the defaults; a smaller one checks the code quickly). */
export interface StudySize {
  algorithms: string[];
  seeds: number[];
  rounds: number;
  gridRounds: number;
}

const STUDY: StudySize = { algorithms: ALGORITHMS, seeds: SEEDS, rounds: ROUNDS, gridRounds: GRID.rounds };

/** Runs the grid and the comparison and writes the JSON to `out`. */
export async function runStudy(out: string, size: StudySize = STUDY): Promise<void> {
  const { algorithms, seeds } = size;
  const base = { ...BASE, rounds: size.rounds };
  const grid = { ...GRID, rounds: size.gridRounds };
  const run = startRun('npm run reproduce:fedau -- --study cnn');
  say(`fedau cnn study: load average ${run.loadAverage1m.toFixed(2)}, one worker`);
  const data = prepareCsvDataset(readFileSync(path.join(ROOT, DIGITS), 'utf8'), { testFraction: 0.2, seed: 1, inputShape: [8, 8, 1] });
  const shape = { numFeatures: data.train.numFeatures, numClasses: data.train.numClasses, inputShape: [8, 8, 1] };

  // 1. The grid, on a validation split of the training rows.
  const fit = trainTestSplit(data.train, grid.validationFraction, createRng(deriveSeed(grid.validationSeed, 'validation')));
  const gridTasks: FederatedSimulationConfig[] = algorithms.flatMap((algorithm) =>
    grid.localLrs.flatMap((localLr) =>
      PATTERNS.map((pattern) => ({
        ...base,
        rounds: grid.rounds,
        algorithm,
        pattern,
        seed: grid.seed,
        localLr,
        globalLr: DEFAULT_LEARNING_RATES[parseAlgorithm(algorithm).rule].globalLr,
      })),
    ),
  );
  const gridStarted = Date.now();
  const bar = progressBar(gridTasks.length * grid.rounds, 'learning-rate grid');
  const gridResults = await runSimulations({ train: fit.train, test: fit.test, trainer: 'fast' }, gridTasks, {
    workers: 1,
    onProgress: (d) => bar.update(d),
  });
  bar.end();
  const gridSeconds = (Date.now() - gridStarted) / 1000;
  const rows = gridRows(gridResults, algorithms, PATTERNS);
  const chosen = pickLearningRates(rows, algorithms);
  say(
    `grid: ${gridTasks.length} runs in ${gridSeconds.toFixed(0)} s; chosen η: ${algorithms.map((a) => `${a} ${chosen[a].localLr}`).join(', ')}`,
  );

  // 2. The comparison, with the chosen rates, on the whole training split and the test split.
  const plan: SimulationPlan = {
    dataset: DIGITS,
    trainSize: data.train.size,
    testSize: data.test.size,
    numFeatures: data.train.numFeatures,
    numClasses: data.train.numClasses,
    testFraction: 0.2,
    splitSeed: 1,
    algorithms,
    patterns: PATTERNS,
    seeds,
    base,
    learningRates: chosen,
    trainer: 'fast',
  };
  const started = Date.now();
  const results = await runPlan(plan, data, 1, 'cnn comparison');
  const seconds = (Date.now() - started) / 1000;
  const totalRounds = results.reduce((s, r) => s + r.curve[r.curve.length - 1].round, 0);

  const json: CnnStudyJson = {
    meta: run.finish(),
    model: MODEL,
    parameters: parameterCount(MODEL, shape),
    inputShape: [8, 8, 1],
    data: { file: DIGITS, trainSize: data.train.size, testSize: data.test.size, fitSize: fit.train.size, validationSize: fit.test.size },
    grid: {
      ...grid,
      patterns: PATTERNS,
      rows,
      chosen,
      runs: gridTasks.length,
      seconds: Math.round(gridSeconds * 10) / 10,
    },
    plan,
    seconds: Math.round(seconds * 10) / 10,
    msPerRound: Math.round((seconds / totalRounds) * 1e4) / 10,
    curveEvery: CURVE_EVERY,
    summary: summarize(results, algorithms, PATTERNS),
    tailSummary: summarize(results, algorithms, PATTERNS, (r) => 100 * r.tailTestAccuracy),
    results: results.map((r) => ({ ...r, curve: r.curve.filter((c) => c.round % CURVE_EVERY === 0 || c === r.curve[r.curve.length - 1]) })),
    meanCurves: meanCurves(results, algorithms, PATTERNS),
  };
  writeFileSync(out, serialize(json));
  say(`wrote ${path.relative(ROOT, out)} in ${(json.meta.durationSeconds / 60).toFixed(1)} min`);
}

/** The JSON with one grid row, summary cell, run and curve per line, so that the file stays diffable. */
function serialize(json: CnnStudyJson): string {
  const lines = (xs: readonly unknown[]): string => `[\n${xs.map((x) => `  ${JSON.stringify(x)}`).join(',\n')}\n]`;
  const { grid, summary, tailSummary, results, meanCurves: curves, ...rest } = json;
  const { rows, ...gridRest } = grid;
  const head = Object.entries(rest).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v, null, 1)}`);
  return `{\n${[
    ...head,
    `"grid": ${JSON.stringify(gridRest, null, 1).replace(/\n}$/, `,\n "rows": ${lines(rows).replace(/\n/g, '\n ')}\n}`)}`,
    `"summary": ${lines(summary)}`,
    `"tailSummary": ${lines(tailSummary)}`,
    `"results": ${lines(results)}`,
    `"meanCurves": ${lines(curves)}`,
  ].join(',\n')}\n}\n`;
}

/** Runs the study (unless `renderOnly`), then renders fedau-cnn.md and fedau-cnn.svg from the JSON on disk. */
export async function fedauCnnStudy(renderOnly: boolean): Promise<void> {
  if (!renderOnly) await runStudy(path.join(OUT_DIR, 'fedau-cnn.json'));
  const json = JSON.parse(readFileSync(path.join(OUT_DIR, 'fedau-cnn.json'), 'utf8')) as CnnStudyJson;
  const { markdown, svg } = renderCnnStudy(json);
  writeFileSync(path.join(OUT_DIR, 'fedau-cnn.svg'), svg);
  writeFileSync(path.join(OUT_DIR, 'fedau-cnn.md'), markdown);
  say('wrote docs/results/fedau-cnn.md and fedau-cnn.svg');
}
