import type { Rng } from '../random';

/** A labelled dataset in memory: row-major features (n × f) and integer labels. */
export interface Dataset {
  features: Float32Array;
  labels: Int32Array;
  numFeatures: number;
  numClasses: number;
  size: number;
}

/**
 * Parses a CSV whose last column is an integer label (no header; one non-numeric first line is
 * taken as a header and skipped). Every bad cell is reported with its line and column.
 */
export function parseLabelLastCsv(text: string, options: { numClasses?: number } = {}): Dataset {
  const lines = text.split(/\r?\n/);
  const rows: number[][] = [];
  let width = -1;
  for (let li = 0; li < lines.length; li++) {
    const line = lines[li]!.trim();
    if (line === '') continue;
    const cells = line.split(',');
    const values = cells.map((c) => (c.trim() === '' ? NaN : Number(c)));
    if (rows.length === 0 && width === -1 && values.every((v) => Number.isNaN(v))) {
      width = cells.length; // header
      continue;
    }
    if (width === -1) width = cells.length;
    if (cells.length !== width) throw new Error(`CSV line ${li + 1}: ${cells.length} columns, expected ${width}`);
    if (width < 2) throw new Error(`CSV line ${li + 1}: need at least one feature and a label`);
    values.forEach((v, ci) => {
      if (!Number.isFinite(v)) throw new Error(`CSV line ${li + 1}, column ${ci + 1}: '${cells[ci]}' is not a number`);
    });
    const label = values[width - 1]!;
    if (!Number.isInteger(label) || label < 0) throw new Error(`CSV line ${li + 1}, column ${width}: label '${cells[width - 1]}' is not a non-negative integer`);
    rows.push(values);
  }
  if (rows.length === 0) throw new Error('CSV: no data rows');
  const f = width - 1;
  const features = new Float32Array(rows.length * f);
  const labels = new Int32Array(rows.length);
  let maxLabel = 0;
  rows.forEach((r, i) => {
    for (let j = 0; j < f; j++) features[i * f + j] = r[j]!;
    labels[i] = r[f]!;
    maxLabel = Math.max(maxLabel, r[f]!);
  });
  const numClasses = options.numClasses ?? maxLabel + 1;
  if (maxLabel >= numClasses) throw new Error(`CSV: label ${maxLabel} is out of range for ${numClasses} classes`);
  return { features, labels, numFeatures: f, numClasses, size: rows.length };
}

/** The inverse of parseLabelLastCsv (label last, no header). */
export function toCsv(ds: Dataset): string {
  const out: string[] = [];
  for (let i = 0; i < ds.size; i++) {
    const row = Array.from(ds.features.subarray(i * ds.numFeatures, (i + 1) * ds.numFeatures));
    row.push(ds.labels[i]!);
    out.push(row.join(','));
  }
  return out.join('\n') + '\n';
}

/** The rows at `indices`, in that order. */
export function subset(ds: Dataset, indices: ArrayLike<number>): Dataset {
  const f = ds.numFeatures;
  const features = new Float32Array(indices.length * f);
  const labels = new Int32Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!;
    if (!(i >= 0 && i < ds.size)) throw new Error(`subset: index ${i} out of range [0, ${ds.size})`);
    features.set(ds.features.subarray(i * f, (i + 1) * f), k * f);
    labels[k] = ds.labels[i]!;
  }
  return { features, labels, numFeatures: f, numClasses: ds.numClasses, size: indices.length };
}

/** A seeded, stratified split: each class contributes round(fraction · count) rows to the test set. */
export function trainTestSplit(ds: Dataset, testFraction: number, rng: Rng): { train: Dataset; test: Dataset } {
  if (!(testFraction > 0 && testFraction < 1)) throw new Error(`trainTestSplit: testFraction must be in (0, 1), got ${testFraction}`);
  const byClass = classIndices(ds.labels, ds.numClasses);
  const train: number[] = [];
  const test: number[] = [];
  for (const idx of byClass) {
    rng.shuffle(idx);
    const k = Math.round(idx.length * testFraction);
    test.push(...idx.slice(0, k));
    train.push(...idx.slice(k));
  }
  return { train: subset(ds, train.sort((a, b) => a - b)), test: subset(ds, test.sort((a, b) => a - b)) };
}

/** Fractions of each label (the empirical label histogram h_n of spec §6.1 step 3). */
export function labelHistogram(labels: ArrayLike<number>, numClasses: number): number[] {
  const h = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) h[labels[i]!]!++;
  return labels.length ? h.map((c) => c / labels.length) : h;
}

function classIndices(labels: ArrayLike<number>, numClasses: number): number[][] {
  const out = Array.from({ length: numClasses }, () => [] as number[]);
  for (let i = 0; i < labels.length; i++) out[labels[i]!]!.push(i);
  return out;
}

/**
 * Non-IID split by label (spec fedau.md §6.1): π_n ~ Dirichlet(α·1_C) per client; each class's
 * shuffled indices are cut into contiguous chunks in proportions π_{n,c} / Σ_m π_{m,c}, boundaries by
 * rounding the cumulative proportions. Every index is assigned exactly once.
 * `minPerClient` (default 0): redraw (seeded, at most 100 times) until every client has that many
 * examples — a demo convenience, not part of the spec; it throws if no draw qualifies.
 */
export function dirichletLabelSplit(
  labels: ArrayLike<number>,
  numClasses: number,
  numClients: number,
  alpha: number,
  rng: Rng,
  options: { minPerClient?: number } = {},
): number[][] {
  if (!Number.isInteger(numClients) || numClients < 1) throw new Error(`dirichletLabelSplit: numClients must be a positive integer, got ${numClients}`);
  if (!(alpha > 0)) throw new Error(`dirichletLabelSplit: alpha must be positive, got ${alpha}`);
  const min = options.minPerClient ?? 0;
  const byClass = classIndices(labels, numClasses);
  for (let attempt = 0; attempt < 100; attempt++) {
    const pi = Array.from({ length: numClients }, () => rng.dirichlet(alpha, numClasses));
    const clients = Array.from({ length: numClients }, () => [] as number[]);
    for (let c = 0; c < numClasses; c++) {
      const idx = rng.shuffle([...byClass[c]!]);
      const total = pi.reduce((s, p) => s + p[c]!, 0);
      let cum = 0;
      let start = 0;
      for (let n = 0; n < numClients; n++) {
        cum += total > 0 ? pi[n]![c]! / total : 1 / numClients;
        const end = n === numClients - 1 ? idx.length : Math.round(cum * idx.length);
        clients[n]!.push(...idx.slice(start, end));
        start = end;
      }
    }
    if (clients.every((c) => c.length >= min)) return clients.map((c) => c.sort((a, b) => a - b));
  }
  throw new Error(`dirichletLabelSplit: no split in 100 draws gives every client at least ${min} examples`);
}
