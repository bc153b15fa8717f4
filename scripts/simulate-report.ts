/**
 * Tables and plots of simulation results, shared by `npm run simulate` and `npm run reproduce:fedau`:
 * mean ± standard deviation of the final test accuracy per algorithm × pattern, and an SVG of mean test
 * accuracy against the round (one panel per pattern, one line per algorithm).
 */
import type { FederatedRunResult } from '@flotilla/algorithms';

/** Mean and sample standard deviation (n − 1 in the denominator; 0 for a single value). */
export function meanStd(xs: readonly number[]): { mean: number; std: number } {
  const n = xs.length;
  const mean = xs.reduce((s, x) => s + x, 0) / n;
  const std = n > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std };
}

/** One algorithm × pattern cell of the summary. */
export interface SummaryCell {
  algorithm: string;
  pattern: string;
  /** Number of seeds. */
  n: number;
  /** The metric's mean over the seeds (final test accuracy in percent by default). */
  mean: number;
  std: number;
  /** Runs that diverged (their final accuracy is included as measured). */
  diverged: number;
}

/**
 * Mean ± std over seeds of a per-run metric, per algorithm × pattern.
 * @param metric default: the final test accuracy in percent.
 */
export function summarize(
  results: readonly FederatedRunResult[],
  algorithms: readonly string[],
  patterns: readonly string[],
  metric: (r: FederatedRunResult) => number = (r) => 100 * r.finalTestAccuracy,
): SummaryCell[] {
  const cells: SummaryCell[] = [];
  for (const algorithm of algorithms) {
    for (const pattern of patterns) {
      const runs = results.filter((r) => r.algorithm === algorithm && r.pattern === pattern);
      if (runs.length === 0) continue;
      const { mean, std } = meanStd(runs.map(metric));
      cells.push({ algorithm, pattern, n: runs.length, mean, std, diverged: runs.filter((r) => r.divergedAtRound !== null).length });
    }
  }
  return cells;
}

/** The summary as a table: algorithms down, patterns across, "mean ± std" in percent; † marks diverged runs. */
export function formatSummary(
  cells: readonly SummaryCell[],
  algorithms: readonly string[],
  patterns: readonly string[],
  markdown: boolean,
  digits = 1,
): string {
  const cell = (a: string, p: string): string => {
    const c = cells.find((x) => x.algorithm === a && x.pattern === p);
    if (!c) return '-';
    return `${c.mean.toFixed(digits)} ± ${c.std.toFixed(digits)}${c.diverged ? ` (${c.diverged}† of ${c.n})` : ''}`;
  };
  const rows = algorithms.map((a) => [a, ...patterns.map((p) => cell(a, p))]);
  const header = ['algorithm', ...patterns];
  if (markdown) {
    return [
      `| ${header.join(' | ')} |`,
      `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
      ...rows.map((r) => `| ${r.join(' | ')} |`),
    ].join('\n');
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]): string => r.map((x, i) => (i === 0 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join('   ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('   '), ...rows.map(line)].join('\n');
}

const COLORS = ['#1f77b4', '#17becf', '#2ca02c', '#d62728', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Mean test accuracy over the seeds against the round, for one algorithm × pattern cell. */
export interface MeanCurve {
  algorithm: string;
  pattern: string;
  /** [round, mean test accuracy] at every evaluation (rounds of the first run; non-finite means left out). */
  points: [number, number][];
}

/** The mean curves of every algorithm × pattern (the data of the plot, JSON-safe). */
export function meanCurves(
  results: readonly FederatedRunResult[],
  algorithms: readonly string[],
  patterns: readonly string[],
): MeanCurve[] {
  return patterns.flatMap((pattern) =>
    algorithms.map((algorithm) => {
      const runs = results.filter((r) => r.algorithm === algorithm && r.pattern === pattern);
      const rounds = runs.length ? runs[0].curve.map((c) => c.round) : [];
      const points = rounds.map((round, i) => [round, meanStd(runs.map((r) => r.curve[i]?.testAccuracy ?? NaN)).mean] as [number, number]);
      return { algorithm, pattern, points: points.filter(([, y]) => Number.isFinite(y)) };
    }),
  );
}

/**
 * An SVG of mean test accuracy (over seeds) against the round: one panel per pattern, one line per algorithm.
 * The y axis spans the means after the first quarter of the rounds (the early climb is clipped at the bottom)
 * so that the differences at the end are visible.
 */
export function renderCurvesSvg(
  results: readonly FederatedRunResult[],
  algorithms: readonly string[],
  patterns: readonly string[],
  title: string,
): string {
  return renderMeanCurvesSvg(meanCurves(results, algorithms, patterns), algorithms, patterns, title);
}

/** {@link renderCurvesSvg} from the mean curves (e.g. as stored in a results JSON). */
export function renderMeanCurvesSvg(
  curves: readonly MeanCurve[],
  algorithms: readonly string[],
  patterns: readonly string[],
  title: string,
): string {
  const series = patterns.map((pattern) =>
    algorithms.map((algorithm) => ({
      algorithm,
      points: curves.find((c) => c.algorithm === algorithm && c.pattern === pattern)?.points ?? [],
    })),
  );
  const allPoints = series.flat().flatMap((s) => s.points);
  const maxRound = Math.max(1, ...allPoints.map(([x]) => x));
  const late = allPoints.filter(([x]) => x >= maxRound / 4).map(([, y]) => y);
  const lo = Math.min(...(late.length ? late : [0]));
  const hi = Math.max(...(late.length ? late : [1]));
  const step = hi - lo <= 0.08 ? 0.01 : hi - lo <= 0.2 ? 0.02 : hi - lo <= 0.4 ? 0.05 : 0.1;
  const yMin = Math.max(0, Math.floor(lo / step - 1e-9) * step);
  const yMax = Math.min(1, Math.max(yMin + step, Math.ceil(hi / step + 1e-9) * step));
  const ticks: number[] = [];
  for (let t = yMin; t <= yMax + step / 2; t += step) ticks.push(t);
  const pw = 360;
  const ph = 260;
  const ml = 50;
  const mt = 40;
  const gap = 30;
  const legendH = 24 * Math.ceil(algorithms.length / 4) + 20;
  const width = ml + patterns.length * (pw + gap);
  const height = mt + ph + 40 + legendH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(title)}</text>`,
  ];
  patterns.forEach((pattern, pi) => {
    const x0 = ml + pi * (pw + gap);
    const sx = (r: number): number => x0 + (r / maxRound) * pw;
    const sy = (a: number): number => mt + ph - ((Math.min(Math.max(a, yMin), yMax) - yMin) / (yMax - yMin)) * ph;
    out.push(`<text x="${x0 + pw / 2}" y="${mt - 8}" text-anchor="middle">${escapeXml(pattern)}</text>`);
    out.push(`<rect x="${x0}" y="${mt}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
    for (const a of ticks) {
      const y = sy(a).toFixed(1);
      out.push(`<line x1="${x0}" y1="${y}" x2="${x0 + pw}" y2="${y}" stroke="#eee"/>`);
      if (pi === 0) out.push(`<text x="${x0 - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${(100 * a).toFixed(0)}%</text>`);
    }
    for (let k = 0; k <= 4; k++) {
      const r = Math.round((maxRound * k) / 4);
      out.push(`<text x="${sx(r).toFixed(1)}" y="${mt + ph + 16}" text-anchor="middle">${r}</text>`);
    }
    series[pi].forEach((s, ai) => {
      if (s.points.length === 0) return;
      const d = s.points.map(([r, a], i) => `${i ? 'L' : 'M'}${sx(r).toFixed(1)},${sy(a).toFixed(1)}`).join('');
      out.push(`<path d="${d}" fill="none" stroke="${COLORS[ai % COLORS.length]}" stroke-width="1.5"/>`);
    });
  });
  out.push(
    `<text x="${ml + (patterns.length * (pw + gap) - gap) / 2}" y="${mt + ph + 34}" text-anchor="middle">round (test accuracy, mean over seeds)</text>`,
  );
  algorithms.forEach((a, i) => {
    const lx = ml + (i % 4) * 200;
    const ly = mt + ph + 56 + 24 * Math.floor(i / 4);
    out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${COLORS[i % COLORS.length]}" stroke-width="3"/>`);
    out.push(`<text x="${lx + 30}" y="${ly}" dominant-baseline="middle">${escapeXml(a)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
