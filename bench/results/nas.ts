/**
 * docs/results/nas.md from docs/results/nas.json (bench/nas-cell.ts in both protocols): a pure function of the
 * JSON. Every figure, every "best" and every verdict is computed from it.
 */
import type { CellBenchResult, CellMethodResult } from '../nas-cell';
import { list, num, pct, table } from './format';
import { headerLines, type RunMeta } from './meta';

export interface NasResultsJson {
  meta: RunMeta;
  result: { paper: CellBenchResult; equalBudget: CellBenchResult };
}

const f3 = (x: number): string => x.toFixed(3).replace(/^-/, '−');
const pm3 = (s: { mean: number; std: number }): string => `${f3(s.mean)} ± ${s.std.toFixed(3)}`;
const pmPct = (s: { mean: number; std: number }): string => `${pct(s.mean)} ± ${pct(s.std)}`;

/** The three metrics the verdicts compare: how to read and print each, and whether higher is better. */
const METRICS: {
  name: string;
  mean: (m: CellMethodResult) => number;
  perSeed: (m: CellMethodResult) => number[];
  higher: boolean;
  format: (x: number) => string;
}[] = [
  { name: 'mean Kendall τ', mean: (m) => m.kendallTau.mean, perSeed: (m) => m.taus, higher: true, format: f3 },
  { name: 'mean top-1 regret', mean: (m) => m.top1Regret.mean, perSeed: (m) => m.regrets, higher: false, format: f3 },
  {
    name: 'the mean stand-alone accuracy of the selected architecture',
    mean: (m) => m.selectedAccuracy.mean,
    perSeed: (m) => m.accuracies,
    higher: true,
    format: (x) => `${pct(x)} %`,
  },
];

const better = (a: number, b: number, higher: boolean): boolean => (higher ? a > b : a < b);

/** "4×20, 2×40, 1×80": leaves trained in each rung × their cumulative steps. */
const rungs = (m: CellMethodResult): string => (m.rungs ? m.rungs.map((r) => `${r.leaves}×${r.steps}`).join(', ') : '—');

function methodTable(r: CellBenchResult): string[] {
  return table(
    [
      'method',
      'mode',
      'Kendall τ',
      'top-1 regret (accuracy)',
      'selected architecture: stand-alone test accuracy %',
      'weight steps',
      'halving rungs (leaves × steps)',
      'GM passes',
    ],
    'llrrrrlr',
    r.methods.map((m) => [
      m.method,
      m.mode,
      pm3(m.kendallTau),
      pm3(m.top1Regret),
      pmPct(m.selectedAccuracy),
      String(m.steps),
      rungs(m),
      String(m.gmPasses),
    ]),
  );
}

const modesOf = (r: CellBenchResult): string[] => [...new Set(r.methods.map((m) => m.mode))];
const methodOf = (r: CellBenchResult, mode: string, name: string): CellMethodResult =>
  r.methods.find((m) => m.mode === mode && m.method === name)!;

/** "GM beats one-shot and few-shot on τ with DARTS; not with RSPS": a verdict per mode, computed from the means. */
function verdicts(r: CellBenchResult): string[] {
  return modesOf(r).map((mode) => {
    const gm = methodOf(r, mode, 'gm-split');
    const rivals = ['one-shot', 'few-shot', 'random-split'].map((name) => methodOf(r, mode, name));
    const parts = METRICS.map(({ name, mean, higher }) => {
      const beaten = rivals.filter((m) => better(mean(gm), mean(m), higher)).map((m) => m.method);
      const notBeaten = rivals.filter((m) => !beaten.includes(m.method)).map((m) => m.method);
      if (notBeaten.length === 0) return `beats ${list(beaten)} on ${name}`;
      if (beaten.length === 0) return `beats none of ${list(notBeaten)} on ${name}`;
      return `beats ${list(beaten)} but not ${list(notBeaten)} on ${name}`;
    });
    return `- **${mode}**: gm-split ${parts.join('; ')}.`;
  });
}

/** One cell of the summary: "yes (0.154 vs 0.047; better on 4/5 seeds)" for GM against a rival on a metric. */
function versus(gm: CellMethodResult, rival: CellMethodResult, metric: (typeof METRICS)[number]): string {
  const a = metric.perSeed(gm);
  const b = metric.perSeed(rival);
  const wins = a.filter((x, k) => better(x, b[k], metric.higher)).length;
  const verdict = better(metric.mean(gm), metric.mean(rival), metric.higher) ? 'yes' : 'no';
  return `${verdict} (${metric.format(metric.mean(gm))} vs ${metric.format(metric.mean(rival))}; better on ${wins}/${a.length} seeds)`;
}

/** Does GM beat one-shot and few-shot, per protocol, mode and metric: the question of docs/algorithms/gm-nas.md §8.3. */
function summary(results: { label: string; r: CellBenchResult }[]): string[] {
  const rows = results.flatMap(({ label, r }) =>
    modesOf(r).flatMap((mode) =>
      ['one-shot', 'few-shot'].map((rival) => [
        label,
        mode,
        rival,
        ...METRICS.map((metric) => versus(methodOf(r, mode, 'gm-split'), methodOf(r, mode, rival), metric)),
      ]),
    ),
  );
  return table(
    [
      'protocol',
      'mode',
      'GM against',
      'higher Kendall τ?',
      'lower top-1 regret?',
      'higher stand-alone accuracy of the selected architecture?',
    ],
    'llllll',
    rows,
  );
}

function settings(r: CellBenchResult): string {
  const c = r.config;
  return (
    `${r.seeds} search seeds; one-shot budget ${c.steps} weight steps of batch ${c.batch} (SGD lr ${num(c.lr)} cosine to 0, α Adam lr ${num(c.archLr)}); ` +
    `split methods warm up ${c.warmup} steps and train ${c.between} steps between the two splits; ${c.gmBatches} GM batches per scored node; ` +
    `estimates and proposals on ${c.evalRows} selection rows`
  );
}

export function renderNas(json: NasResultsJson): string {
  const { paper, equalBudget } = json.result;
  const t = paper.table;
  const modes = modesOf(paper);
  const lines = [
    `# GM-NAS on the cell space: one-shot, few-shot, random split and GM split, with ${list(modes.map((m) => m.toUpperCase()))}`,
    '',
    ...headerLines(json.meta, 'nas.json', 'npm run results -- nas --render-only'),
    '',
    'What is measured (docs/algorithms/gm-nas.md §8.3): each method trains its supernet tree on the cell space of',
    '§2.2 (5 ops on the 6 edges of a NAS-Bench-201 cell, two cells sharing one architecture) on the UCI digits, with',
    `${list(modes.map((m) => m.toUpperCase()))} inside every (sub-)supernet. Kendall τ and top-1 regret compare the supernet estimates (accuracy of`,
    'each architecture on its single path, with the weights of the leaf that contains it, as that leaf ended) with the',
    'ground-truth table. Each final leaf proposes an architecture (the argmax of α for DARTS and SNAS, its best table',
    'architecture for RSPS) and the best proposal is selected; its stand-alone test accuracy is the table entry, or trained',
    'exactly as the table was when it is not in it. Mean ± sample standard deviation over the seeds; seed k of every',
    'method uses the same seed, so the per-seed comparisons below are paired. Top-1 regret is in accuracy (1.000 = 100 points).',
    '',
    `Ground truth: ${t.architectures} architectures × ${t.seedsPerArchitecture} initialisations × ${t.stepsPerRun} steps, from`,
    `\`${t.command}\` ([nas-ground-truth.json](nas-ground-truth.json)); best mean test accuracy in the table ${pct(t.best)} %.`,
    '',
    '## Does GM beat one-shot and few-shot?',
    '',
    'Per protocol and mode, GM split against each baseline on the means over the seeds (yes or no), with both means and',
    'the number of seeds on which GM did better.',
    '',
    ...summary([
      { label: 'paper', r: paper },
      { label: 'equal budget', r: equalBudget },
    ]),
    '',
    "## The paper's protocol (default: `npm run bench -- nas`)",
    '',
    `Every leaf is trained on the one-shot budget's schedule after the split phase${
      paper.config.halving
        ? ', with successive halving among the leaves: after each rung the better half of the leaves by their proposal' +
          "'s accuracy trains on, until one leaf reaches the full budget (rungs below)"
        : ' for the full budget, so compute grows with the number of leaves'
    }. ${settings(paper)}.`,
    `${paper.extraStandalone} distinct selected architecture(s) outside the table were trained stand-alone for this protocol.`,
    '',
    ...methodTable(paper),
    '',
    ...verdicts(paper),
    '',
    '## Equal budget (ablation: `npm run bench -- nas --protocol equal-budget`)',
    '',
    `Every method spends the one-shot budget in total (few-shot leaves get a fifth each; split leaves share what the split phase leaves), without halving. ${settings(equalBudget)}.`,
    `${equalBudget.extraStandalone} distinct selected architecture(s) outside the table were trained stand-alone for this protocol (once per run when both protocols select one).`,
    '',
    ...methodTable(equalBudget),
    '',
    ...verdicts(equalBudget),
    '',
    `## Splits made by GM (paper protocol, ${modes[0].toUpperCase()})`,
    '',
    ...table(
      ['seed', 'splits (node: edge, groups of op indices)'],
      'rl',
      (paper.methods.find((m) => m.name === 'gm-split')?.splits ?? []).map((s, i) => [
        String(i),
        s.map((x) => `${x.node}: edge ${x.edge} ${x.groups.map((g) => `{${g.join(',')}}`).join('|')}`).join('; '),
      ]),
    ),
    '',
    'Op indices: 0 none, 1 skip, 2 conv 1×1, 3 conv 3×3, 4 avg-pool 3×3; edges 0…5 are 0→1, 0→2, 1→2, 0→3, 1→3, 2→3.',
    '',
  ];
  return lines.join('\n');
}
