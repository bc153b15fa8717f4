/**
 * docs/results/fedau.md and its plots from docs/results/fedau.json and the per-comparison JSON files it names:
 * pure functions of those files (no clock, no machine, no randomness), used by `npm run reproduce:fedau` after a
 * run and with --render-only, and by the unit test that checks the committed files. Every figure and every verdict
 * is computed from the JSON.
 */
import type { FederatedRunResult, ModelArch, SyntheticClassificationOptions } from '@flotilla/algorithms';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { headerLines, type RunMeta } from './results-meta';
import type { SimulationPlan } from './simulate';
import { formatSummary, meanStd, renderMeanCurvesSvg, summarize, type MeanCurve, type SummaryCell } from './simulate-report';

// ---------------------------------------------------------------------------------------------------------
// The JSON

/** Options of `quadraticInstance` / `runQuadraticBias` (written out in full). */
export interface QuadraticSettings {
  numClients: number;
  dimension: number;
  numClasses: number;
  meanStd: number;
  alpha: number;
  meanParticipation: number;
  minParticipation: number;
  rounds: number;
  averageLast: number;
  localSteps: number;
  localLr: number;
  noiseStd: number;
}

export interface QuadraticData {
  settings: QuadraticSettings;
  patterns: string[];
  rows: { label: string; algorithm: string; globalLr: number }[];
  perSeed: {
    seed: number;
    /** ‖x* − x_p‖. */
    gap: number;
    p: { min: number; mean: number; max: number };
    /** rows × patterns. */
    results: { distanceToOptimum: number; distanceToBiased: number; divergedAtRound: number | null }[][];
  }[];
  seconds: number;
}

/** One accuracy comparison (a file of its own: docs/results/<file>). */
export interface ComparisonEntry {
  id: string;
  /** Section number in fedau.md, e.g. "2", "3a". */
  section: string;
  file: string;
  svg: string;
  kind: 'synthetic' | 'digits';
  /** True: the same local learning rate for every rule (only the aggregation differs). */
  sameLr: boolean;
  seconds: number;
  /** The synthetic task's options (kind 'synthetic'). */
  synthetic?: Omit<SyntheticClassificationOptions, 'seed'>;
}

export interface ComparisonFile {
  config: SimulationPlan;
  summary: SummaryCell[];
  /** Per run; curves kept every `curveEvery` rounds and at the last round. */
  results: FederatedRunResult[];
  curveEvery: number;
  /** Mean test accuracy per algorithm × pattern at every evaluation (the plot). */
  meanCurves: MeanCurve[];
}

export interface MemoryRowJson {
  rule: string;
  model: { stateNumbersPerClient: number; vectorBytesPerClient: number; bytesPerClient: number };
  heapPerClient: number;
  buffersPerClient: number;
  measuredPerClient: number;
  measuredPerJob: number;
}

export interface AggregationCaseJson {
  rule: string;
  accumulator: string;
  validation: string;
  bufferedUpdates: number;
  input: string;
  d: number;
  k: number;
  GBps: number;
  ratioToMemcpy: number;
  finishShare: number;
}

export interface SimulateBenchJson {
  clients: number;
  rounds: number;
  backend: string;
  setup: { perClient: number; numFeatures: number; numClasses: number; meanParticipation: number; localSteps: number; batchSize: number };
  cases: { model: string; trainer: string; params: number; localSteps: number; stepsPerSecond: number; trainingStepsPerSecond: number }[];
}

export interface FedauJson {
  meta: RunMeta;
  workers: number;
  digits: { file: string; rows: number; features: number; classes: number; featureRange: [number, number] };
  quadratic: QuadraticData;
  comparisons: ComparisonEntry[];
  memory: { d: number; N: number; rounds: number[]; replicas: number; rows: MemoryRowJson[] };
  bench: {
    loadBefore: number;
    loadAfter: number;
    aggregation: {
      memcpyGBps: number;
      memcpyBeforeGBps: number;
      memcpyAfterGBps: number;
      goalRatio: number;
      dims: number[];
      ks: number[];
      cases: AggregationCaseJson[];
    };
    simulate: SimulateBenchJson;
  } | null;
}

// ---------------------------------------------------------------------------------------------------------
// Helpers

const f2 = (x: number): string => x.toFixed(2);
const f3 = (x: number): string => x.toFixed(3);
const signed = (x: number): string => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(1)}`;
const span = (xs: number[]): string => {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return lo.toFixed(1) === hi.toFixed(1) ? signed(lo) : `${signed(lo)} to ${signed(hi)}`;
};
const maxAbs = (xs: number[]): string => Math.max(...xs.map(Math.abs)).toFixed(1);
const num = (x: number): string => String(Number(x.toPrecision(4)));
const thousands = (x: number): string => String(x).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
function list(items: string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}
const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

function modelName(m: ModelArch | undefined): string {
  return m?.arch === 'mlp' ? `mlp-${m.hidden}` : 'softmax';
}

function parameterCount(m: ModelArch | undefined, features: number, classes: number): number {
  return m?.arch === 'mlp' ? features * m.hidden + m.hidden + m.hidden * classes + classes : features * classes + classes;
}

function modelText(m: ModelArch | undefined, features: number, classes: number): string {
  return m?.arch === 'mlp' ? `MLP ${features}–${m.hidden}–${classes} (ReLU)` : 'softmax regression';
}

/** The learning rates of a plan, grouped: "η = 0.1, γ = 1 for fedau and fedau-k50; …". */
function ratesText(plan: SimulationPlan): string {
  const groups = new Map<string, string[]>();
  for (const a of plan.algorithms) {
    const r = plan.learningRates[a];
    const key = `η = ${num(r.localLr)}, γ = ${num(r.globalLr)}`;
    groups.set(key, [...(groups.get(key) ?? []), a]);
  }
  return [...groups.entries()].map(([k, as]) => `${k} for ${list(as)}`).join('; ');
}

/** `--local-lr …` / `--global-lr …` of `npm run simulate` reproducing the plan's rates (empty when all default). */
function rateFlags(plan: SimulationPlan, which: 'localLr' | 'globalLr'): string {
  const values = plan.algorithms.map((a) => plan.learningRates[a][which]);
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  const common = [...counts.entries()].sort((a, b) => b[1] - a[1])[0][0];
  const exceptions = plan.algorithms.filter((a) => plan.learningRates[a][which] !== common);
  return [num(common), ...exceptions.map((a) => `${a}=${num(plan.learningRates[a][which])}`)].join(',');
}

function cells(f: ComparisonFile, metric?: (r: FederatedRunResult) => number): SummaryCell[] {
  return summarize(f.results, f.config.algorithms, f.config.patterns, metric);
}

/** FedAU's mean final accuracy minus another algorithm's, per pattern (in the plan's pattern order), in points. */
function gaps(f: ComparisonFile, other: string): number[] {
  const c = cells(f);
  const get = (a: string, p: string): number => c.find((x) => x.algorithm === a && x.pattern === p)!.mean;
  return f.config.patterns.map((p) => get('fedau', p) - get(other, p));
}

const finalLoss = (r: FederatedRunResult): number => r.curve[r.curve.length - 1].trainLoss;

/** Mean test accuracy gain (points) between two rounds, averaged over all runs of a comparison. */
function lateGain(f: ComparisonFile, from: number, to: number): number {
  const at = (r: FederatedRunResult, round: number): number => r.curve.find((p) => p.round === round)?.testAccuracy ?? NaN;
  return (100 * f.results.reduce((s, r) => s + at(r, to) - at(r, from), 0)) / f.results.length;
}

function checksTable(f: ComparisonFile): string {
  const others = ['mifa', 'fedvarp', 'known-p', 'avg-participating', 'avg-all'];
  const g = others.map((o) => gaps(f, o));
  return [
    '| pattern | FedAU − MIFA | FedAU − FedVarp | FedAU − known-p | FedAU − avg-participating | FedAU − avg-all |',
    '|---|---:|---:|---:|---:|---:|',
    ...f.config.patterns.map((p, j) => `| ${p} | ${g.map((x) => `${x[j] >= 0 ? '+' : '-'}${Math.abs(x[j]).toFixed(1)}`).join(' | ')} |`),
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------------------
// Sections

function quadraticRatios(q: QuadraticData): Map<string, number[]> {
  return new Map(
    q.rows.map((r, i) => [
      r.label,
      q.patterns.map((_, j) => meanStd(q.perSeed.map((s) => s.results[i][j].distanceToOptimum / s.gap)).mean),
    ]),
  );
}

function quadraticSection(q: QuadraticData): string {
  const s = q.settings;
  const first = q.perSeed[0];
  const cell = (r: { distanceToOptimum: number; divergedAtRound: number | null }): string =>
    r.divergedAtRound !== null ? `diverged (round ${r.divergedAtRound})` : f3(r.distanceToOptimum);
  const t1 = [
    `| rule | ${q.patterns.map((x) => `${x} ‖x̄ − x*‖`).join(' | ')} | ${q.patterns.map((x) => `${x} ‖x̄ − x_p‖`).join(' | ')} |`,
    `|---|${q.patterns.map(() => '---:').join('|')}|${q.patterns.map(() => '---:').join('|')}|`,
    ...q.rows.map(
      (r, i) =>
        `| ${r.label} | ${first.results[i].map(cell).join(' | ')} | ${first.results[i].map((x) => f3(x.distanceToBiased)).join(' | ')} |`,
    ),
  ].join('\n');
  const rel = (i: number, j: number): string => {
    const vals = q.perSeed.map((x) => x.results[i][j]);
    const div = vals.filter((v) => v.divergedAtRound !== null).length;
    const { mean } = meanStd(vals.map((v, k) => v.distanceToOptimum / q.perSeed[k].gap));
    return `${mean.toFixed(2)}${div ? ` (${div} diverged)` : ''}`;
  };
  const t2 = [
    `| rule | ${q.patterns.join(' | ')} |`,
    `|---|${q.patterns.map(() => '---:').join('|')}|`,
    ...q.rows.map((r, i) => `| ${r.label} | ${q.patterns.map((_, j) => rel(i, j)).join(' | ')} |`),
  ].join('\n');
  const seeds = q.perSeed.map((x) => x.seed);
  return `## 1. Quadratic bias

Client n minimises F_n(x) = ½‖x − c_n‖² with c_n = Σ_c h_{n,c} μ_c, μ_c ~ N(0, ${num(s.meanStd)}²I), h_n ~ Dir(${num(s.alpha)}); N = ${s.numClients},
d = ${s.dimension}, C = ${s.numClasses}; p_n from h_n (Dir(${num(s.alpha)}) class weights, mean ${num(s.meanParticipation)}, min ${num(s.minParticipation)}; seed ${first.seed}: min ${f3(first.p.min)}, mean ${f3(first.p.mean)},
max ${f3(first.p.max)}). Local SGD with N(0, ${num(s.noiseStd)}²I) gradient noise, I = ${s.localSteps}, η = ${num(s.localLr)}, ${list(
    [...new Set(q.rows.map((r) => r.globalLr))].map((g) => `γ = ${num(g)}`),
  )} (see the rows),
T = ${s.rounds} rounds, x̄ = mean of the models after the last ${s.averageLast} rounds. x* = mean(c_n) is the optimum of the target
objective; x_p = Σ p_n c_n / Σ p_n is where participation-biased averaging goes. Function: \`runQuadraticBias\`
(libs/algorithms/src/simulation/quadratic-bias.ts), rules from \`createAggregationRule\`. ${q.rows.length * q.patterns.length * q.perSeed.length} runs in ${q.seconds.toFixed(1)} s.

**Seed ${first.seed}** (‖x* − x_p‖ = ${f3(first.gap)}):

${t1}

**Seeds ${seeds[0]}–${seeds[seeds.length - 1]}**, ‖x̄ − x*‖ / ‖x* − x_p‖ averaged over the ${q.perSeed.length} instances (gaps ${q.perSeed.map((x) => f3(x.gap)).join(', ')}):

${t2}
`;
}

function comparisonHeading(e: ComparisonEntry, f: ComparisonFile): string {
  const p = f.config;
  if (e.kind === 'synthetic') return `## ${e.section}. Synthetic softmax regression`;
  const model = p.base.model;
  const params = thousands(parameterCount(model, p.numFeatures, p.numClasses));
  const name = model?.arch === 'mlp' ? `MLP with ${model.hidden} hidden units` : 'softmax regression';
  return `## ${e.section}. UCI digits, ${name} (${params} parameters)${e.sameLr ? ', the same η for every rule' : ''}`;
}

function plotTitle(e: ComparisonEntry, f: ComparisonFile): string {
  const what =
    e.kind === 'synthetic'
      ? 'synthetic softmax task'
      : `UCI digits, ${modelName(f.config.base.model)}${e.sameLr ? ', same η for all' : ''}`;
  return `${what}: test accuracy, mean of ${f.config.seeds.length} seeds`;
}

function participationText(b: SimulationPlan['base']): string {
  return `p_n from the clients' label mix (Dir(${num(b.participationAlpha ?? NaN)}) class weights, mean ${num(b.meanParticipation ?? NaN)}, min ${num(b.minParticipation ?? NaN)}), Bernoulli / Markov (a = ${num(b.markovActivation ?? NaN)}) / cyclic (L = ${b.cycleLength ?? NaN}) participation`;
}

function comparisonSetup(e: ComparisonEntry, f: ComparisonFile, json: FedauJson): string {
  const p = f.config;
  const b = p.base;
  const rates = `${e.sameLr ? 'the same local learning rate for every rule, so that only the aggregation differs' : "each rule's default learning rates (`DEFAULT_LEARNING_RATES`, the paper's tuned values; see docs/algorithms/fedau.md)"}: ${ratesText(p)}`;
  if (e.kind === 'synthetic') {
    const s = e.synthetic!;
    return `N = ${s.numClients} clients × ${s.perClient} rows, ${s.numFeatures} features, ${s.numClasses} classes with means ~ N(0, ${num(s.meanStd ?? NaN)}²I) and unit noise, labels per
client from Dir(${num(s.labelAlpha ?? NaN)}), balanced test set of ${s.testSize} (one draw per seed); ${participationText(b)};
I = ${b.localSteps}, b = ${b.batchSize}, T = ${b.rounds} rounds, ${rates}; test accuracy every ${b.evalEvery} rounds. Overlapping classes keep the
achievable accuracy low, so the bias of plain averaging shows in the accuracy.`;
  }
  const d = json.digits;
  const testPct = Math.round(100 * p.testFraction);
  const defaults = !e.sameLr;
  const flags = defaults
    ? ' --out results.json` (all defaults)'
    : ` --local-lr ${rateFlags(p, 'localLr')} --global-lr ${rateFlags(p, 'globalLr')}\``;
  return `UCI optical digits (${d.file}: ${d.rows} rows, ${d.features} pixel counts ${d.featureRange.join('–')}, ${d.classes} classes), stratified ${100 - testPct}/${testPct}
train/test split (seed ${p.splitSeed}), features min-max scaled with the training range. N = ${b.numClients} clients, Dirichlet(${num(b.dataAlpha ?? NaN)}) label
split (at least ${b.minSamplesPerClient} row${b.minSamplesPerClient === 1 ? '' : 's'} per client), ${participationText(b)}, T = ${b.rounds} rounds,
I = ${b.localSteps} local steps of b = ${b.batchSize}, ${modelText(b.model, p.numFeatures, p.numClasses)}, ${rates}; test accuracy every ${b.evalEvery} rounds.
Same split, p_n, participation and minibatches for every rule within a seed. Command equivalent:
\`npm run simulate -- --dataset ${d.file}${b.model?.arch === 'mlp' ? ' --model mlp' : ''}${flags}.`;
}

function comparisonSection(e: ComparisonEntry, f: ComparisonFile, json: FedauJson): string {
  const p = f.config;
  const accuracy = cells(f);
  const tail = cells(f, (r) => 100 * r.tailTestAccuracy);
  const loss = cells(f, finalLoss);
  const diverged = f.results.filter((r) => r.divergedAtRound !== null);
  return `${comparisonHeading(e, f)}

${comparisonSetup(e, f, json)}
Runs: ${f.results.length} (${p.algorithms.length} algorithms × ${p.patterns.length} patterns × ${p.seeds.length} seeds) in ${e.seconds.toFixed(0)} s.
Plot: [${e.svg}](${e.svg}); per-run results: [${e.file}](${e.file}).

Final test accuracy (%), mean ± sample standard deviation over seeds ${p.seeds.join(', ')}:

${formatSummary(accuracy, p.algorithms, p.patterns, true)}

Mean test accuracy over the evaluations in the last 10% of the rounds (%), which is less sensitive to the last round's noise:

${formatSummary(tail, p.algorithms, p.patterns, true)}

Final training loss (mean cross-entropy on the pooled training set), mean ± std:

${formatSummary(loss, p.algorithms, p.patterns, true, 3)}

Differences of the means (final accuracy, percentage points):

${checksTable(f)}
${diverged.length ? `\nDiverged runs: ${diverged.map((r) => `${r.algorithm}/${r.pattern}/seed ${r.seed} at round ${r.divergedAtRound}`).join(', ')}.\n` : ''}
![${plotTitle(e, f)}](${e.svg})
`;
}

function summarySection(json: FedauJson, files: Record<string, ComparisonFile>): string {
  const q = json.quadratic;
  const ratios = quadraticRatios(q);
  const pat = (name: string): number => q.patterns.indexOf(name);
  const ratio = (label: string): number[] => ratios.get(label) ?? [];
  const hi = (xs: number[]): string => f2(Math.max(...xs));
  const lo = (xs: number[]): string => f2(Math.min(...xs));
  const biasedLabels = q.rows.filter((r) => r.algorithm === 'avg-participating' || r.algorithm === 'avg-all').map((r) => r.label);
  const biased = biasedLabels.flatMap(ratio);
  const fedauLabel = q.rows.find((r) => r.algorithm === 'fedau')!.label;
  const k50 = q.rows.find((r) => r.algorithm === 'fedau-k50');
  const mifa = ratio('mifa');
  const fedvarp = ratio('fedvarp');
  const nonCyclic = q.patterns.filter((p) => p !== 'cyclic').map(pat);
  const mifaNonCyclic = nonCyclic.map((j) => mifa[j]);
  const mifaCyclicRatio = mifa[pat('cyclic')];
  const entries = json.comparisons.map((e) => ({ e, f: files[e.file] }));
  const label = (e: ComparisonEntry, f: ComparisonFile): string =>
    e.kind === 'synthetic'
      ? `§${e.section} synthetic`
      : `§${e.section} digits, ${f.config.base.model?.arch === 'mlp' ? 'MLP' : 'softmax'}, ${e.sameLr ? 'same η' : 'default η'}`;
  const table = [
    '| experiment | FedAU − FedVarp | FedAU − MIFA | FedAU − known-p | FedAU − avg-participating | FedAU − avg-all |',
    '|---|---:|---:|---:|---:|---:|',
    ...entries.map(
      ({ e, f }) =>
        `| ${label(e, f)} | ${span(gaps(f, 'fedvarp'))} | ${span(gaps(f, 'mifa'))} | ${span(gaps(f, 'known-p'))} | ${span(gaps(f, 'avg-participating'))} | ${span(gaps(f, 'avg-all'))} |`,
    ),
  ].join('\n');
  const bullets: string[] = [];

  // Bias.
  {
    const nearXp = Math.min(...biased) > 0.5;
    let b = `**Bias, measured exactly (§1).** Over ${q.perSeed.length} instances of the quadratic problem, FedAU (K = ∞) ends within ${hi(ratio(fedauLabel))} × ‖x* − x_p‖ of the true optimum under every pattern`;
    b += `${k50 ? ` (K = 50: ≤ ${hi(ratio(k50.label))}` : ' ('}${ratios.has('known-p') ? `${k50 ? '; ' : ''}the oracle known-p: ≤ ${hi(ratio('known-p'))}` : ''}), while ${list(biasedLabels)} end ${lo(biased)}–${hi(biased)} × ‖x* − x_p‖ away${nearXp && Math.max(...biased) < 1.5 ? ', i.e. at the participation-weighted point x_p' : ''}.`;
    if (mifa.length && fedvarp.length) {
      const mifaGood = Math.max(...mifaNonCyclic) <= 1.5 * Math.max(...nonCyclic.map((j) => fedvarp[j])) + 0.01;
      b += ` MIFA ends ${lo(mifaNonCyclic)}–${hi(mifaNonCyclic)} away under ${list(nonCyclic.map((j) => q.patterns[j]))} participation${mifaGood ? ', about as close as FedVarp,' : ''} and ${f2(mifaCyclicRatio)} under cyclic participation`;
      const cycle = entries[0]?.f.config.base.cycleLength;
      b +=
        mifaCyclicRatio > 1
          ? `: it keeps re-applying the stale updates of clients that are away for most of each${cycle ? ` ${cycle}-round` : ''} cycle. FedVarp, which corrects the stale part with the fresh updates, stays at ≤ ${hi(fedvarp)} under every pattern.`
          : `; FedVarp stays at ≤ ${hi(fedvarp)} under every pattern.`;
    }
    bullets.push(b);
  }

  // Synthetic.
  const synth = entries.find((x) => x.e.kind === 'synthetic');
  if (synth) {
    const f = synth.f;
    const accs = cells(f).map((c) => c.mean);
    const overBiased = gaps(f, 'avg-participating').every((g) => g > 0) && gaps(f, 'avg-all').every((g) => g > 0);
    bullets.push(
      `**Accuracy when the bias costs accuracy (§${synth.e.section}).** On the synthetic task (overlapping classes: no cell above ${Math.max(...accs).toFixed(1)}%) FedAU is ${span(gaps(f, 'avg-participating'))} points against avg-participating, ${span(gaps(f, 'avg-all'))} against avg-all, ${span(gaps(f, 'fedvarp'))} against FedVarp and ${span(gaps(f, 'known-p'))} against the oracle known-p${overBiased ? ': above both biased rules under every pattern' : ''}.`,
    );
  }

  // Digits.
  const digits = entries.filter((x) => x.e.kind === 'digits');
  if (digits.length) {
    const same = digits.filter((x) => x.e.sameLr);
    const defaults = digits.filter((x) => !x.e.sameLr);
    const sameGaps = (other: string): number[] => same.flatMap((x) => gaps(x.f, other));
    const digitCells = digits.flatMap((x) => cells(x.f));
    const accs = digitCells.map((x) => x.mean);
    const maxStd = Math.max(...digitCells.map((x) => x.std)).toFixed(1);
    const above = sameGaps('avg-participating').filter((x) => x > 0).length;
    const clearly = sameGaps('avg-participating').filter((x) => x >= 1).length;
    const sections = (xs: typeof digits): string => list(xs.map((x) => `§${x.e.section}`));
    let b = `**UCI digits (§${digits[0].e.section.replace(/\D/g, '')}).** The cells range from ${Math.min(...accs).toFixed(1)}% to ${Math.max(...accs).toFixed(1)}%, against seed-to-seed standard deviations of up to ${maxStd} points.`;
    if (same.length) {
      b += ` With the same η for every rule (${sections(same)}), FedAU is within ${maxAbs(sameGaps('fedvarp'))} points of FedVarp and ${maxAbs(sameGaps('known-p'))} of known-p in every cell, and above avg-participating in ${above} of ${sameGaps('avg-participating').length} cells (by ≥ 1 point in ${clearly}); against avg-all it is ${span(sameGaps('avg-all'))}.`;
    }
    if (defaults.length) {
      const p = defaults[0].f.config;
      const fedauLr = p.learningRates.fedau.localLr;
      const slower = p.algorithms.filter((a) => p.learningRates[a].localLr < fedauLr);
      if (slower.length)
        b += ` The default learning rates (${sections(defaults)}) give ${list(slower)} a smaller η than FedAU's ${num(fedauLr)}; they were tuned by the paper for much longer runs on CIFAR-10, so in ${p.base.rounds} rounds those tables mix learning speed into the comparison.`;
    }
    bullets.push(b);

    if (same.length) {
      const unbiased = ['fedau', 'known-p', 'fedvarp'];
      const biasedRules = ['avg-participating', 'avg-all'];
      const lossMeans = (f: ComparisonFile, algs: string[]): number[] =>
        summarize(f.results, algs, f.config.patterns, finalLoss).map((x) => x.mean);
      const rangeText = (f: ComparisonFile, algs: string[]): string =>
        `${f2(Math.min(...lossMeans(f, algs)))}–${f2(Math.max(...lossMeans(f, algs)))}`;
      const separated = same.every((x) => Math.max(...lossMeans(x.f, unbiased)) < Math.min(...lossMeans(x.f, biasedRules)));
      const mostly = same.every((x) => meanStd(lossMeans(x.f, unbiased)).mean < meanStd(lossMeans(x.f, biasedRules)).mean);
      const models = list(same.map((x) => modelName(x.f.config.base.model)));
      const rounds = same[0].f.config.base.rounds ?? 0;
      const from = rounds - 100;
      const gain = digits.map((x) => `§${x.e.section} ${signed(lateGain(x.f, from, rounds))}`).join(', ');
      const mifaCyclic = digits.map((x) => gaps(x.f, 'mifa')[x.f.config.patterns.indexOf('cyclic')]);
      let w = `**Why the digits differ less than the synthetic task.** With the same η the pooled training loss of the unbiased rules (${list(unbiased)}: ${same.map((x) => rangeText(x.f, unbiased)).join(' and ')} for ${models}) is ${separated ? 'below' : mostly ? 'on average below' : 'not below'} that of the biased ones (${list(biasedRules)}: ${same.map((x) => rangeText(x.f, biasedRules)).join(' and ')})`;
      w +=
        separated || mostly
          ? ', yet the digits are nearly separable, so a classifier fitted to the participation-weighted mix still labels most test digits correctly.'
          : '.';
      w += ` The runs are also short: mean test accuracy still moved between rounds ${from} and ${rounds} (${gain} points).`;
      w += mifaCyclic.every((x) => x > 0)
        ? ` Under cyclic participation MIFA trails FedAU by ${span(mifaCyclic).replace(/\+/g, '')} points, its stale memories hurting as in §1.`
        : ` Under cyclic participation FedAU − MIFA is ${span(mifaCyclic)} points.`;
      bullets.push(w);
    }
  }
  return `## Summary

FedAU's mean final test accuracy minus each baseline's, in points (range over the ${json.quadratic.patterns.length} patterns; details in the sections below):

${table}

${bullets.map((b) => `- ${b}`).join('\n')}
`;
}

function memorySection(m: FedauJson['memory']): string {
  const fmt = (b: number): string =>
    Math.abs(b) >= 1e6 ? `${(b / 1e6).toFixed(1)} MB` : Math.abs(b) >= 1e3 ? `${(b / 1e3).toFixed(1)} kB` : `${b} B`;
  const withMemory = m.rows.filter((r) => r.model.vectorBytesPerClient > 0).map((r) => r.rule);
  const share = m.rounds[m.rounds.length - 1];
  return `## 4. Coordinator memory per client (d = ${thousands(m.d)}, N = ${thousands(m.N)}, measured)

Each rule ran ${m.rounds.length} rounds through \`createAggregationRule(...).beginRound/add/finish\` with N clients (all of them
participating in round 1, a share of ${num(share)} in the last); then the V8 heap plus array-buffer bytes still held (the clients'
state map and, for ${list(withMemory)}, their memory vectors and Σ M) were measured after a full GC and divided by
N (for the rules without memory vectors, ${m.replicas} such federations were held at once, to rise above the heap's noise).
The measured figure includes the JavaScript Map entry of each client that the coordinator would hold as a database
row instead; "model" is what the rule must persist (\`memoryFootprint\`). The per-job column is not per client: the
model and, for ${list(withMemory)}, Σ M.

| rule | state per client | memory vector per client (model) | bytes per client (model) | measured per client: JS heap | measured per client: array buffers | measured per client: total | N × total | per job besides |
|---|---|---:|---:|---:|---:|---:|---:|---:|
${m.rows
  .map(
    (r) =>
      `| ${r.rule} | ${r.model.stateNumbersPerClient} number${r.model.stateNumbersPerClient === 1 ? '' : 's'} | ${fmt(r.model.vectorBytesPerClient)} | ${fmt(r.model.bytesPerClient)} | ${fmt(r.heapPerClient)} | ${fmt(r.buffersPerClient)} | ${fmt(r.measuredPerClient)} | ${fmt(r.measuredPerClient * m.N)} | ${fmt(r.measuredPerJob)} |`,
  )
  .join('\n')}

known-p's number per client is its p_n, which lives in the job's spec (the measured figure includes that map).
For ${list(withMemory)} only one federation fits in memory, so their JS-heap column is within that measurement's noise
(negative values are noise); their cost is the memory vector.
`;
}

function benchSection(json: FedauJson): string {
  const b = json.bench;
  if (!b) return '## 5. Performance\n\nLeft out (--no-bench). Run `npm run bench -- aggregation` and `npm run bench -- simulate`.\n';
  const a = b.aggregation;
  const variants: string[] = [];
  const key = (c: AggregationCaseJson): string => `${c.rule} / ${c.accumulator} / ${c.validation} / B=${c.bufferedUpdates} / ${c.input}`;
  for (const c of a.cases) if (!variants.includes(key(c))) variants.push(key(c));
  const cols = a.dims.flatMap((d) => a.ks.map((k) => ({ d, k })));
  const pow = (d: number): string => `10^${Math.round(Math.log10(d))}`;
  const ratioTable = [
    `| rule / acc / check / B / input | ${cols.map(({ d, k }) => `d=${pow(d)} K=${k}`).join(' | ')} |`,
    `|---|${cols.map(() => '---:').join('|')}|`,
    ...variants.map(
      (v) =>
        `| ${v} | ${cols
          .map(({ d, k }) => {
            const c = a.cases.find((x) => key(x) === v && x.d === d && x.k === k);
            return c ? c.ratioToMemcpy.toFixed(2) : '—';
          })
          .join(' | ')} |`,
    ),
  ].join('\n');
  const s = b.simulate;
  const simTable = [
    '| model | trainer | params | local steps | steps/s (end to end) | steps/s (training only) |',
    '|---|---|---:|---:|---:|---:|',
    ...s.cases.map(
      (c) => `| ${c.model} | ${c.trainer} | ${c.params} | ${c.localSteps} | ${c.stepsPerSecond} | ${c.trainingStepsPerSecond} |`,
    ),
  ].join('\n');
  const models = [...new Set(s.cases.map((c) => c.model))];
  const speedups = models
    .map((m) => {
      const fast = s.cases.find((c) => c.model === m && c.trainer === 'fast');
      const tfjs = s.cases.find((c) => c.model === m && c.trainer === 'tfjs');
      return fast && tfjs
        ? `${m}: the hand-written trainer is ${(fast.stepsPerSecond / tfjs.stepsPerSecond).toFixed(1)}× TF.js (${s.backend}) end to end`
        : null;
    })
    .filter((x): x is string => x !== null);
  return `## 5. Performance

Measured in the same run (\`npm run bench -- aggregation\` and \`npm run bench -- simulate\`, as child processes while
nothing else of this command ran; 1-minute load average ${b.loadBefore.toFixed(2)} before and ${b.loadAfter.toFixed(2)} after, on ${json.meta.cores} cores). These are
timings on a shared machine: the memcpy figure is measured in the same process, so the ratios are comparable, the
absolute numbers less so. docs/results/aggregation.md explains the rows and has the GB/s figures of its own run.

### Aggregation throughput: ratio to memcpy (goal ≥ ${a.goalRatio})

memcpy ${a.memcpyBeforeGBps.toFixed(2)} GB/s before and ${a.memcpyAfterGBps.toFixed(2)} GB/s after the cases; the ratios use ${a.memcpyGBps.toFixed(2)} GB/s.

${ratioTable}

### Simulation throughput (${thousands(s.clients)} clients)

${thousands(s.clients)} clients × ${s.setup.perClient} rows (${s.setup.numFeatures} features, ${s.setup.numClasses} classes), ${s.rounds} rounds of Bernoulli participation (mean p ${num(s.setup.meanParticipation)}), I = ${s.setup.localSteps}, b = ${s.setup.batchSize}, FedAU; TF.js backend: ${s.backend}.

${simTable}

${speedups.map((x) => `${cap(x)}.`).join(' ')}
`;
}

// ---------------------------------------------------------------------------------------------------------

/** fedau.md and the plots (file name → SVG text) from fedau.json and the comparison files (file name → content). */
export function renderFedau(json: FedauJson, files: Record<string, ComparisonFile>): { markdown: string; svgs: Record<string, string> } {
  const svgs: Record<string, string> = {};
  for (const e of json.comparisons) {
    const f = files[e.file];
    svgs[e.svg] = renderMeanCurvesSvg(f.meanCurves, f.config.algorithms, f.config.patterns, plotTitle(e, f));
  }
  const header = headerLines(json.meta, 'fedau.json', 'npm run reproduce:fedau -- --render-only');
  const markdown = `# FedAU and its baselines: reproduction

${header.join('\n')}

${json.workers} simulation worker thread${json.workers === 1 ? '' : 's'}; other jobs on the machine slow the runs but do not change their results (the
simulations are seeded; only the timings of §5 depend on the machine). FedAU (S. Wang, M. Ji, ICLR 2024) and the
baselines are described in docs/algorithms/fedau.md. Rules: \`createAggregationRule\` in libs/algorithms/src/aggregation/rules.ts,
the code the coordinator uses. Local training: the hand-written softmax/MLP of libs/algorithms/src/simulation/fast-model.ts
(the same model, loss and SGD as TF.js \`trainLocal\`, checked against it in fast-model.spec.ts). Per-run results:
${json.comparisons.map((e) => `[${e.file}](${e.file})`).join(', ')}.

${summarySection(json, files)}
${quadraticSection(json.quadratic)}
${json.comparisons.map((e) => comparisonSection(e, files[e.file], json)).join('\n')}
${memorySection(json.memory)}
${benchSection(json)}`;
  return { markdown, svgs };
}

/** Renders fedau.md and the plots from the JSON files on disk (what the unit test checks). */
export function renderFromDisk(dir: string): { markdown: string; svgs: Record<string, string> } {
  const json = JSON.parse(readFileSync(path.join(dir, 'fedau.json'), 'utf8')) as FedauJson;
  const files = Object.fromEntries(
    json.comparisons.map((e) => [e.file, JSON.parse(readFileSync(path.join(dir, e.file), 'utf8')) as ComparisonFile]),
  );
  return renderFedau(json, files);
}
