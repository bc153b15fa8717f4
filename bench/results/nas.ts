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

function methodTable(r: CellBenchResult): string[] {
  return table(
    [
      'method',
      'mode',
      'Kendall τ',
      'top-1 regret (accuracy)',
      'selected architecture: stand-alone test accuracy %',
      'weight steps',
      'GM passes',
    ],
    'llrrrrr',
    r.methods.map((m) => [
      m.method,
      m.mode,
      pm3(m.kendallTau),
      pm3(m.top1Regret),
      pmPct(m.selectedAccuracy),
      String(m.steps),
      String(m.gmPasses),
    ]),
  );
}

/** "GM beats one-shot and few-shot on τ with DARTS; not with RSPS": a verdict per mode, computed from the means. */
function verdicts(r: CellBenchResult): string[] {
  const modes = [...new Set(r.methods.map((m) => m.mode))];
  return modes.map((mode) => {
    const get = (name: string): CellMethodResult => r.methods.find((m) => m.mode === mode && m.method === name)!;
    const gm = get('gm-split');
    const rivals = ['one-shot', 'few-shot', 'random-split'].map(get);
    const on = (metric: string, value: (m: CellMethodResult) => number, higher: boolean): string => {
      const beaten = rivals.filter((m) => (higher ? value(gm) > value(m) : value(gm) < value(m))).map((m) => m.method);
      const notBeaten = rivals.filter((m) => !beaten.includes(m.method)).map((m) => m.method);
      if (notBeaten.length === 0) return `beats ${list(beaten)} on ${metric}`;
      if (beaten.length === 0) return `beats none of ${list(notBeaten)} on ${metric}`;
      return `beats ${list(beaten)} but not ${list(notBeaten)} on ${metric}`;
    };
    return `- **${mode}**: gm-split ${on('mean Kendall τ', (m) => m.kendallTau.mean, true)}; ${on('mean top-1 regret', (m) => m.top1Regret.mean, false)}; ${on(
      'the mean stand-alone accuracy of the selected architecture',
      (m) => m.selectedAccuracy.mean,
      true,
    )}.`;
  });
}

function settings(r: CellBenchResult): string {
  const c = r.config;
  return (
    `${r.seeds} search seeds; one-shot budget ${c.steps} weight steps of batch ${c.batch} (SGD lr ${num(c.lr)} cosine to 0, α Adam lr ${num(c.archLr)}); ` +
    `split methods warm up ${c.warmup} steps and train ${c.between} steps between the two splits; ${c.gmBatches} GM batches per scored node; ` +
    `estimates on ${c.evalRows} selection rows`
  );
}

export function renderNas(json: NasResultsJson): string {
  const { paper, equalBudget } = json.result;
  const t = paper.table;
  const lines = [
    '# GM-NAS on the cell space: one-shot, few-shot, random split and GM split, with RSPS and DARTS',
    '',
    ...headerLines(json.meta, 'nas.json', 'npm run results -- nas --render-only'),
    '',
    'What is measured (docs/algorithms/gm-nas.md §8): each method trains its supernet tree on the cell space of',
    '§2.2 (5 ops on the 6 edges of a NAS-Bench-201 cell, two cells sharing one architecture) on the UCI digits, with',
    'RSPS or DARTS inside every (sub-)supernet. Kendall τ and top-1 regret compare the supernet estimates (accuracy of',
    'each architecture on its single path, with the weights of the leaf that contains it) with the ground-truth table;',
    'the selected architecture is the best estimate of the table (RSPS) or the argmax-α architecture of the best leaf',
    '(DARTS), and its stand-alone test accuracy is the table entry, or trained exactly as the table was when it is not in it.',
    `Mean ± sample standard deviation over the seeds. Top-1 regret is in accuracy (1.000 = 100 points).`,
    '',
    `Ground truth: ${t.architectures} architectures × ${t.seedsPerArchitecture} initialisations × ${t.stepsPerRun} steps, from`,
    `\`${t.command}\` ([nas-ground-truth.json](nas-ground-truth.json)); best mean test accuracy in the table ${pct(t.best)} %.`,
    '',
    "## The paper's protocol (default: `npm run bench -- nas`)",
    '',
    `Every leaf is trained for the one-shot budget after the split phase, so compute grows with the number of leaves. ${settings(paper)}.`,
    `${paper.extraStandalone} selected architecture(s) outside the table were trained stand-alone for this protocol.`,
    '',
    ...methodTable(paper),
    '',
    ...verdicts(paper),
    '',
    '## Equal budget (ablation: `npm run bench -- nas --protocol equal-budget`)',
    '',
    `Every method spends the one-shot budget in total (few-shot leaves get a fifth each; split leaves share what the split phase leaves). ${settings(equalBudget)}.`,
    `${equalBudget.extraStandalone} further selected architecture(s) outside the table were trained stand-alone.`,
    '',
    ...methodTable(equalBudget),
    '',
    ...verdicts(equalBudget),
    '',
    '## Splits made by GM (paper protocol, first mode)',
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
