/**
 * Renders docs/results/fedau-cnn.md and fedau-cnn.svg from docs/results/fedau-cnn.json (written by
 * scripts/fedau-cnn.ts). Pure: every number and verdict comes from the JSON.
 */
import type { FederatedRunResult, ModelArch } from '@flotilla/algorithms';
import { duration, headerLines, type RunMeta } from './results-meta';
import type { SimulationPlan } from './simulate';
import { formatSummary, renderMeanCurvesSvg, type MeanCurve, type SummaryCell } from './simulate-report';

/** One algorithm × η of the learning-rate grid. */
export interface GridRow {
  algorithm: string;
  localLr: number;
  globalLr: number;
  /** Validation accuracy (fraction; over the last 10% of the rounds, 0 if the run diverged), per pattern in the grid's order. */
  validationAccuracy: number[];
  /** Runs of the row that diverged. */
  diverged: number;
  /** The mean of validationAccuracy: what the choice maximises. */
  score: number;
}

/** docs/results/fedau-cnn.json. */
export interface CnnStudyJson {
  meta: RunMeta;
  model: ModelArch;
  parameters: number;
  inputShape: number[];
  data: { file: string; trainSize: number; testSize: number; fitSize: number; validationSize: number };
  grid: {
    localLrs: number[];
    rounds: number;
    seed: number;
    validationFraction: number;
    validationSeed: number;
    patterns: string[];
    rows: GridRow[];
    chosen: Record<string, { localLr: number; globalLr: number }>;
    runs: number;
    seconds: number;
  };
  plan: SimulationPlan;
  seconds: number;
  msPerRound: number;
  curveEvery: number;
  summary: SummaryCell[];
  tailSummary: SummaryCell[];
  results: FederatedRunResult[];
  meanCurves: MeanCurve[];
}

/** The rules the paper compares FedAU against that a server can run (known-p needs the true rates: an oracle). */
const PRACTICAL = ['avg-participating', 'avg-all', 'mifa', 'fedvarp'];

const pct = (x: number): string => (100 * x).toFixed(1);
const signed = (x: number): string => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(1)}`;
const list = (xs: readonly string[]): string => (xs.length <= 1 ? xs.join('') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`);

/** What the comparison says about the paper's ordering, per pattern, from the tail accuracies (mean over seeds). */
export interface OrderingVerdict {
  pattern: string;
  /** Algorithms by mean tail test accuracy, best first. */
  ranking: { algorithm: string; mean: number; std: number }[];
  /** FedAU's mean minus the best practical baseline's, in points. */
  marginOverBestBaseline: number;
  bestBaseline: string;
  /** FedAU's mean is above every practical baseline's. */
  fedauBest: boolean;
  /** FedAU is above the best practical baseline by more than the larger of their seed standard deviations. */
  clearlyBest: boolean;
  /** The larger of FedAU's and the best practical baseline's seed standard deviations, in points. */
  noise: number;
  /** FedAU is below the best practical baseline, but by less than the larger of their seed standard deviations. */
  withinNoise: boolean;
}

export function orderingVerdicts(json: CnnStudyJson): OrderingVerdict[] {
  const { algorithms, patterns } = json.plan;
  const baselines = PRACTICAL.filter((a) => algorithms.includes(a));
  return patterns.map((pattern) => {
    const cells = json.tailSummary.filter((c) => c.pattern === pattern);
    const of = (a: string) => cells.find((c) => c.algorithm === a)!;
    const ranking = [...cells].sort((x, y) => y.mean - x.mean).map((c) => ({ algorithm: c.algorithm, mean: c.mean, std: c.std }));
    const best = baselines.map(of).reduce((x, y) => (y.mean > x.mean ? y : x));
    const fedau = of('fedau');
    const margin = fedau.mean - best.mean;
    return {
      pattern,
      ranking,
      marginOverBestBaseline: margin,
      bestBaseline: best.algorithm,
      fedauBest: margin > 0,
      clearlyBest: margin > Math.max(fedau.std, best.std),
      noise: Math.max(fedau.std, best.std),
      withinNoise: margin <= 0 && -margin < Math.max(fedau.std, best.std),
    };
  });
}

/** Where FedAU is above (or below) a rule by more than the larger of the two seed standard deviations. */
function clearGapsLine(json: CnnStudyJson): string {
  const { algorithms, patterns } = json.plan;
  const cell = (a: string, p: string): SummaryCell => json.tailSummary.find((c) => c.algorithm === a && c.pattern === p)!;
  const above: string[] = [];
  const below: string[] = [];
  for (const p of patterns) {
    for (const a of algorithms.filter((x) => x !== 'fedau')) {
      const f = cell('fedau', p);
      const o = cell(a, p);
      const gap = f.mean - o.mean;
      if (Math.abs(gap) > Math.max(f.std, o.std)) (gap > 0 ? above : below).push(`${a} (${p}, ${signed(gap)})`);
    }
  }
  return `Differences larger than the larger seed standard deviation of the two cells: FedAU above ${above.length ? list(above) : 'none'}; FedAU below ${below.length ? list(below) : 'none'}.`;
}

/** The markdown and the plot of docs/results/fedau-cnn.*, from the study's JSON. */
export function renderCnnStudy(json: CnnStudyJson): { markdown: string; svg: string } {
  const { plan, grid, meta } = json;
  const { algorithms, patterns } = plan;
  const model = json.model as Extract<ModelArch, { arch: 'cnn' }>;
  const b = plan.base;
  const rounds = b.rounds ?? 0;
  const svg = renderMeanCurvesSvg(
    json.meanCurves,
    algorithms,
    patterns,
    `UCI digits as 8×8 images, CNN (${json.parameters} parameters), N=${b.numClients}, ${rounds} rounds, ${plan.seeds.length} seeds: mean test accuracy`,
  );
  const verdicts = orderingVerdicts(json);
  const holds = verdicts.filter((v) => v.fedauBest);
  const close = verdicts.filter((v) => v.withinNoise);
  const fails = verdicts.filter((v) => !v.fedauBest && !v.withinNoise);
  const unclear = holds.filter((v) => !v.clearlyBest);
  const verdictLine =
    holds.length === verdicts.length && unclear.length > 0
      ? `**In the means, yes; beyond the seed-to-seed noise, ${unclear.length === verdicts.length ? 'not' : 'only partly'}.** FedAU has the highest mean tail test accuracy of the rules a server can run (${list(PRACTICAL.filter((a) => algorithms.includes(a)))}) under all ${verdicts.length} participation patterns, but its margin over the best of them is smaller than the larger seed standard deviation of the two under ${list(unclear.map((v) => `${v.pattern} (${signed(v.marginOverBestBaseline)} points over ${v.bestBaseline}, standard deviation ${v.noise.toFixed(1)})`))}: with ${plan.seeds.length} seeds the CNN study does not separate FedAU from the best baseline there. The paper's ordering is not contradicted anywhere; it is not established with confidence either.`
      : holds.length === verdicts.length
        ? `**Yes: the paper's ordering holds for this CNN.** FedAU has the highest mean test accuracy of the rules a server can run (${list(PRACTICAL.filter((a) => algorithms.includes(a)))}) under all ${verdicts.length} participation patterns.`
        : fails.length === 0
          ? `**Not clearly.** FedAU is above every practical baseline under ${holds.length ? list(holds.map((v) => v.pattern)) : 'no pattern'}; under ${list(close.map((v) => v.pattern))} it is below the best of them by less than a seed-to-seed standard deviation, so this study cannot tell them apart there.`
          : `**No: the paper's ordering does not hold for this CNN under ${list(fails.map((v) => v.pattern))} participation.** There ${list(fails.map((v) => `${v.bestBaseline} is ${Math.abs(v.marginOverBestBaseline).toFixed(1)} points above FedAU (${v.pattern})`))}, more than a seed-to-seed standard deviation${holds.length ? `; under ${list(holds.map((v) => v.pattern))} FedAU is the best practical rule` : ''}${close.length ? `; under ${list(close.map((v) => v.pattern))} it is within a standard deviation of the best` : ''}.`;
  const gridHeader = ['rule', 'γ', ...grid.localLrs.map((lr) => `η = ${lr}`), 'chosen η'];
  const gridTable = [
    `| ${gridHeader.join(' | ')} |`,
    `|---|${gridHeader
      .slice(1)
      .map(() => '---:')
      .join('|')}|`,
    ...algorithms.map((a) => {
      const rows = grid.rows.filter((r) => r.algorithm === a);
      const cell = (lr: number): string => {
        const r = rows.find((x) => x.localLr === lr);
        if (!r) return '-';
        const text = `${pct(r.score)} (${r.validationAccuracy.map(pct).join(' / ')})${r.diverged ? ` ${r.diverged}†` : ''}`;
        return lr === grid.chosen[a].localLr ? `**${text}**` : text;
      };
      return `| ${a} | ${rows[0]?.globalLr ?? '-'} | ${grid.localLrs.map(cell).join(' | ')} | ${grid.chosen[a].localLr} |`;
    }),
  ].join('\n');
  const diverged = json.results.filter((r) => r.divergedAtRound !== null);
  const rankingTable = [
    `| pattern | ranking by mean tail test accuracy (%) | FedAU − best practical baseline |`,
    `|---|---|---:|`,
    ...verdicts.map(
      (v) =>
        `| ${v.pattern} | ${v.ranking.map((r) => `${r.algorithm} ${r.mean.toFixed(1)}`).join(' > ')} | ${signed(v.marginOverBestBaseline)} (${v.bestBaseline}; std ${v.noise.toFixed(1)}) |`,
    ),
  ].join('\n');
  const others = algorithms.filter((a) => a !== 'fedau');
  const tail = (a: string, p: string): number => json.tailSummary.find((c) => c.algorithm === a && c.pattern === p)!.mean;
  const gapTable = [
    `| pattern | ${others.map((a) => `FedAU − ${a}`).join(' | ')} |`,
    `|---|${others.map(() => '---:').join('|')}|`,
    ...patterns.map((p) => `| ${p} | ${others.map((a) => signed(tail('fedau', p) - tail(a, p))).join(' | ')} |`),
  ].join('\n');
  const lines = [
    '# FedAU on a CNN: UCI digits as 8×8 images',
    '',
    ...headerLines(meta, 'fedau-cnn.json', 'npm run reproduce:fedau -- --study cnn --render-only'),
    '',
    `One worker thread. The learning-rate grid (${grid.runs} runs of ${grid.rounds} rounds) took ${duration(grid.seconds)}, the comparison (${json.results.length} runs of ${rounds} rounds) ${duration(json.seconds)}: ${json.msPerRound} ms per round (a round: the participating clients' local training, and every ${b.evalEvery} rounds an evaluation on the test split and the whole training split).`,
    '',
    '## Verdict',
    '',
    verdictLine,
    '',
    rankingTable,
    '',
    'FedAU minus each rule, in points of mean tail test accuracy:',
    '',
    gapTable,
    '',
    clearGapsLine(json),
    '',
    `Tail test accuracy: each run's test accuracy averaged over the evaluations in its last 10% of rounds, then the mean over the ${plan.seeds.length} seeds. known-p is the oracle that knows every client's true participation rate; it is ranked but is not a rule a server can run. The paper's claim is about heterogeneous participation, which all three patterns are: p_n differs between clients and depends on their labels.`,
    '',
    '## Setup',
    '',
    `- **Model**: the \`cnn\` of a job's model spec with filters [${model.filters.join(', ')}], ${model.kernelSize}×${model.kernelSize} kernels and a dense layer of ${model.dense}: conv → max-pool → conv → max-pool → dense (relu) → dense (softmax), 'same' padding, ${json.parameters} parameters on 8×8×1 inputs; Kaiming-normal initial kernels, zero biases. It runs on the hand-written CNN of libs/algorithms/src/simulation/fast-model.ts, which computes the same function as the TF.js \`cnn\` the agents train (checked against TF.js in fast-model.spec.ts, to 1e-5 after one and after seven SGD steps, and by finite differences).`,
    `- **Data**: ${json.data.file} (${json.data.trainSize + json.data.testSize} rows), each row an 8×8×1 image, min-max scaled per pixel with the training range; a stratified ${Math.round(plan.testFraction * 100)}% test split (seed ${plan.splitSeed}): ${json.data.trainSize} training and ${json.data.testSize} test images. The 8×8 digits rather than MNIST's 28×28: a CNN's cost grows with the pixels (×${((28 * 28) / 64).toFixed(1)} for MNIST), so the same study on MNIST would not fit the one-core, ~50-minute budget.`,
    `- **Federation** (as docs/results/fedau.md): N = ${b.numClients} clients on a Dirichlet(${b.dataAlpha}) label split; participation probabilities p_n from Dirichlet(${b.participationAlpha}) class weights (mean ${b.meanParticipation}, min ${b.minParticipation}); patterns ${list(patterns)} (Markov activation ${b.markovActivation}, cycle ${b.cycleLength} rounds); I = ${b.localSteps} local SGD steps of b = ${b.batchSize}; ${rounds} rounds; seeds ${plan.seeds.join(', ')}. For a seed the split, p_n and the participation sequences are the same for every rule.`,
    `- **Rules**: ${list(algorithms)} (docs/algorithms/fedau.md; FedAU with K = ∞; its K = 50 variant of fedau.md is left out to fit the time budget). γ is each rule's default (\`DEFAULT_LEARNING_RATES\`).`,
    '',
    '## How the learning rates were chosen',
    '',
    `For each rule, a grid of local learning rates η ∈ {${grid.localLrs.join(', ')}} was run on a validation split: ${Math.round(grid.validationFraction * 100)}% of the training images (stratified, seed ${grid.validationSeed}; ${json.data.validationSize} images) held out, the clients holding the other ${json.data.fitSize}, each rule × η × pattern for ${grid.rounds} rounds with seed ${grid.seed}. A run scores its validation accuracy averaged over its last 10% of rounds (0 if it diverged); the rule's η is the one with the best mean score over the three patterns (a tie goes to the smaller η). The test split takes no part in the choice. Cells: mean validation accuracy % (${grid.patterns.join(' / ')}); the chosen η in bold.`,
    '',
    gridTable,
    '',
    '## Test accuracy',
    '',
    `Final test accuracy (%), mean ± standard deviation over ${plan.seeds.length} seeds:`,
    '',
    formatSummary(json.summary, algorithms, patterns, true),
    '',
    `Tail test accuracy (%, last 10% of the rounds), mean ± standard deviation over ${plan.seeds.length} seeds:`,
    '',
    formatSummary(json.tailSummary, algorithms, patterns, true),
    '',
    diverged.length
      ? `† diverged: ${diverged.map((r) => `${r.algorithm}/${r.pattern}/seed ${r.seed} at round ${r.divergedAtRound}`).join(', ')}.`
      : 'No run diverged.',
    '',
    `![mean test accuracy against the round](fedau-cnn.svg)`,
    '',
    `Per-run results (curves every ${json.curveEvery} rounds), the grid and the settings: [fedau-cnn.json](fedau-cnn.json).`,
    '',
  ];
  return { markdown: lines.join('\n'), svg };
}
