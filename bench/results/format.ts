/** Number and table formatting shared by the results renderers (pure functions: the same input, the same text). */

/** x in scientific notation with 3 significant digits ("1.16e-2"), 0 as "0". */
export const sci = (x: number): string => (x === 0 ? '0' : x.toExponential(2));

/** A fraction in percent with one decimal ("94.1"). */
export const pct = (x: number): string => (100 * x).toFixed(1);

/** A setting: integers as they are, others with up to 4 significant digits ("0.5", "0.0123", "1.5e-5"). */
export function num(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e7) return String(x);
  if (x !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e7)) return x.toExponential(3).replace(/\.?0+e/, 'e');
  return String(Number(x.toPrecision(4)));
}

/** +1.5 / −0.3 (a true minus sign). */
export const signed = (x: number, digits = 1): string => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(digits)}`;

/** "a, b and c". */
export function list(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/** A markdown table; `align` per column: 'l' or 'r'. */
export function table(header: string[], align: string, rows: string[][]): string[] {
  return [
    `| ${header.join(' | ')} |`,
    `|${[...align].map((a) => (a === 'r' ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `|${r.map((c) => (c === '' ? ' ' : ` ${c} `)).join('|')}|`),
  ];
}

/** "mean ± std" with `digits` decimals. */
export const pm = (s: { mean: number; std: number }, digits: number): string => `${s.mean.toFixed(digits)} ± ${s.std.toFixed(digits)}`;

/** Thousands with a thin separator-free comma style: 100000 → "100,000". */
export function thousands(x: number): string {
  return String(x).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** "1 run" / "3 runs". */
export const plural = (n: number, word: string, many = `${word}s`): string => `${n} ${n === 1 ? word : many}`;
