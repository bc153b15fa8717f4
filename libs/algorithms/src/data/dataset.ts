import type { Rng } from '../random';

/**
 * Pure helpers for labelled tabular data: parse and print CSV, scale features, split into train/test
 * and into non-IID client shards (docs/algorithms/fedau.md §6.1). No file system here: callers read and write text.
 */

/** A labelled dataset in memory. */
export interface Dataset {
  /** Row-major features, `size × numFeatures` values. */
  features: Float32Array;
  /** Integer labels in [0, numClasses), one per row. */
  labels: Int32Array;
  numFeatures: number;
  numClasses: number;
  /** Number of rows. */
  size: number;
  /** One example's shape as models see it (a row-major view of its features); absent: `[numFeatures]`. */
  inputShape?: number[];
}

/** Per-column minimum and maximum of the features, each of length `numFeatures`. */
export interface FeatureRange {
  min: Float32Array;
  max: Float32Array;
}

function checkDataset(ds: Dataset, where: string): void {
  const { size, numFeatures, numClasses } = ds;
  if (
    !Number.isInteger(size) ||
    size < 0 ||
    !Number.isInteger(numFeatures) ||
    numFeatures < 1 ||
    !Number.isInteger(numClasses) ||
    numClasses < 1
  ) {
    throw new Error(
      `${where}: dataset needs integer size >= 0, numFeatures >= 1, numClasses >= 1; got ${size}, ${numFeatures}, ${numClasses}`,
    );
  }
  if (ds.features.length !== size * numFeatures || ds.labels.length !== size) {
    throw new Error(
      `${where}: dataset arrays do not match its shape: ${ds.features.length} features and ${ds.labels.length} labels for ${size} rows of ${numFeatures}`,
    );
  }
}

function checkLabels(labels: ArrayLike<number>, numClasses: number, where: string): void {
  if (!Number.isInteger(numClasses) || numClasses < 1)
    throw new Error(`${where}: numClasses must be a positive integer, got ${numClasses}`);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (!(y >= 0 && y < numClasses && y % 1 === 0))
      throw new Error(`${where}: labels[${i}] = ${y} is not an integer in [0, ${numClasses})`);
  }
}

/** A decimal number: no hex/octal/binary, no Infinity/NaN, no empty cell (all of which Number() would accept or map to 0). */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Parses a CSV of numbers whose last column is the label (no quoting; cells may have surrounding spaces).
 * - No header is expected, but a first non-blank line whose cells are all non-numeric is taken as a header and skipped.
 * - Blank lines are ignored; `\n` and `\r\n` line ends are accepted.
 * - Every row must have the same number of columns (≥ 2); the label must be a non-negative integer.
 * @param options.numClasses number of classes; default max label + 1. Labels must be below it.
 * @throws an Error naming the line (1-based, counting blank and header lines) and the column of the first bad cell.
 */
export function parseLabelLastCsv(text: string, options: { numClasses?: number } = {}): Dataset {
  const given = options.numClasses;
  if (given !== undefined && !(Number.isInteger(given) && given >= 1)) {
    throw new Error(`parseLabelLastCsv: numClasses must be a positive integer, got ${given}`);
  }
  const lines = text.split(/\r?\n/);
  const features: number[] = [];
  const labels: number[] = [];
  let width = -1;
  let widthLine = 0;
  let maxLabel = -1;
  for (let li = 0; li < lines.length; li++) {
    const line = lines[li];
    if (line.trim() === '') continue;
    const where = `parseLabelLastCsv: line ${li + 1}`;
    const cells = line.split(',').map((c) => c.trim());
    if (width === -1) {
      width = cells.length;
      widthLine = li + 1;
      if (width < 2) throw new Error(`${where}: need at least one feature column and a label column, got 1 column`);
      if (cells.every((c) => !DECIMAL.test(c))) continue; // header
    }
    if (cells.length !== width) throw new Error(`${where}: ${cells.length} columns, expected ${width} (as on line ${widthLine})`);
    for (let ci = 0; ci < width - 1; ci++) {
      const cell = cells[ci];
      if (!DECIMAL.test(cell)) throw new Error(`${where}, column ${ci + 1}: '${cell}' is not a number`);
      features.push(Number(cell));
    }
    const cell = cells[width - 1];
    const label = Number(cell);
    if (!DECIMAL.test(cell) || !Number.isInteger(label) || label < 0 || label > 0x7fffffff) {
      throw new Error(`${where}, column ${width}: label '${cell}' is not a non-negative integer`);
    }
    if (given !== undefined && label >= given)
      throw new Error(`${where}, column ${width}: label ${label} is out of range for ${given} classes`);
    labels.push(label);
    if (label > maxLabel) maxLabel = label;
  }
  if (labels.length === 0) throw new Error('parseLabelLastCsv: no data rows');
  return {
    features: Float32Array.from(features),
    labels: Int32Array.from(labels),
    numFeatures: width - 1,
    numClasses: given ?? maxLabel + 1,
    size: labels.length,
  };
}

/** Shortest decimal text that reads back as the same float32 value. */
function formatFloat32(v: number): string {
  if (Object.is(v, -0)) return '-0';
  if (Number.isInteger(v)) return String(v);
  for (let digits = 1; digits < 9; digits++) {
    const s = String(Number(v.toPrecision(digits)));
    if (Math.fround(Number(s)) === v) return s;
  }
  return String(v); // 9 significant digits always suffice; this is the exact float64 value of v
}

/**
 * Prints a dataset as label-last CSV without header, one `\n`-terminated line per row: the inverse of
 * {@link parseLabelLastCsv}. Features are written with the fewest digits that read back as the same
 * float32, so `parseLabelLastCsv(toCsv(ds))` reproduces `ds` exactly (numClasses aside, which is not stored).
 */
export function toCsv(ds: Dataset): string {
  checkDataset(ds, 'toCsv');
  const f = ds.numFeatures;
  const out: string[] = [];
  const row = new Array<string>(f + 1);
  for (let i = 0; i < ds.size; i++) {
    for (let j = 0; j < f; j++) row[j] = formatFloat32(ds.features[i * f + j]);
    row[f] = String(ds.labels[i]);
    out.push(row.join(','));
  }
  return out.length ? out.join('\n') + '\n' : '';
}

/**
 * Per-column minimum and maximum of the features. Compute it once (e.g. on the training data or the
 * whole file) and pass it to {@link scaleFeatures} everywhere, so that the coordinator and every agent
 * scale with the SAME range.
 * @throws when the dataset is empty.
 */
export function featureRange(ds: Dataset): FeatureRange {
  checkDataset(ds, 'featureRange');
  if (ds.size === 0) throw new Error('featureRange: dataset is empty');
  const f = ds.numFeatures;
  const min = ds.features.slice(0, f);
  const max = ds.features.slice(0, f);
  const x = ds.features;
  for (let i = 1; i < ds.size; i++) {
    const row = i * f;
    for (let j = 0; j < f; j++) {
      const v = x[row + j];
      if (v < min[j]) min[j] = v;
      if (v > max[j]) max[j] = v;
    }
  }
  return { min, max };
}

/**
 * Min-max scaling per column: x' = (x − min_j) / (max_j − min_j), which maps the range to [0, 1];
 * a constant column (max_j = min_j) maps to 0. Values outside the range (e.g. test data scaled with
 * the training range) are not clipped. Returns a new dataset; `ds` is not modified.
 * @param scale the range from {@link featureRange}; arrays of length numFeatures, finite, max ≥ min.
 */
export function scaleFeatures(ds: Dataset, scale: FeatureRange): Dataset {
  checkDataset(ds, 'scaleFeatures');
  const f = ds.numFeatures;
  if (scale.min.length !== f || scale.max.length !== f) {
    throw new Error(
      `scaleFeatures: scale.min and scale.max must have numFeatures = ${f} values, got ${scale.min.length} and ${scale.max.length}`,
    );
  }
  const offset = new Float64Array(f);
  const factor = new Float64Array(f);
  for (let j = 0; j < f; j++) {
    const lo = scale.min[j];
    const hi = scale.max[j];
    if (!(Number.isFinite(lo) && Number.isFinite(hi) && hi >= lo)) {
      throw new Error(`scaleFeatures: column ${j} needs finite min <= max, got [${lo}, ${hi}]`);
    }
    offset[j] = lo;
    factor[j] = hi > lo ? 1 / (hi - lo) : 0;
  }
  const x = ds.features;
  const out = new Float32Array(x.length);
  for (let i = 0; i < ds.size; i++) {
    const row = i * f;
    for (let j = 0; j < f; j++) out[row + j] = (x[row + j] - offset[j]) * factor[j];
  }
  return { ...ds, features: out, labels: Int32Array.from(ds.labels) };
}

/**
 * The rows at `indices`, in that order (repeats allowed). Returns a new dataset with the same numClasses (and inputShape).
 * @param indices integers in [0, ds.size).
 */
export function subset(ds: Dataset, indices: ArrayLike<number>): Dataset {
  checkDataset(ds, 'subset');
  const f = ds.numFeatures;
  const features = new Float32Array(indices.length * f);
  const labels = new Int32Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (!(Number.isInteger(i) && i >= 0 && i < ds.size))
      throw new Error(`subset: indices[${k}] = ${i} is not an integer in [0, ${ds.size})`);
    features.set(ds.features.subarray(i * f, (i + 1) * f), k * f);
    labels[k] = ds.labels[i]!;
  }
  const rows: Dataset = { features, labels, numFeatures: f, numClasses: ds.numClasses, size: indices.length };
  return ds.inputShape ? { ...rows, inputShape: [...ds.inputShape] } : rows;
}

/** Indices of each class, in increasing order. */
function classIndices(labels: ArrayLike<number>, numClasses: number): number[][] {
  const out = Array.from({ length: numClasses }, () => [] as number[]);
  for (let i = 0; i < labels.length; i++) out[labels[i]].push(i);
  return out;
}

/**
 * Seeded train/test split, stratified by label: each class's rows are shuffled and the first
 * round(testFraction · count) go to the test set, so every class keeps its share (the test size is
 * round(testFraction · size) up to per-class rounding). Both parts keep the original row order.
 * @param testFraction in (0, 1).
 * @param rng consumed in a fixed order (one shuffle per class, class 0 first), so a seed gives one split.
 * @throws when the split would leave the train or the test set empty.
 */
export function trainTestSplit(ds: Dataset, testFraction: number, rng: Rng): { train: Dataset; test: Dataset } {
  checkDataset(ds, 'trainTestSplit');
  if (!(testFraction > 0 && testFraction < 1)) throw new Error(`trainTestSplit: testFraction must be in (0, 1), got ${testFraction}`);
  checkLabels(ds.labels, ds.numClasses, 'trainTestSplit');
  const train: number[] = [];
  const test: number[] = [];
  for (const idx of classIndices(ds.labels, ds.numClasses)) {
    rng.shuffle(idx);
    const k = Math.round(idx.length * testFraction);
    for (let i = 0; i < idx.length; i++) (i < k ? test : train).push(idx[i]);
  }
  if (train.length === 0 || test.length === 0) {
    throw new Error(
      `trainTestSplit: testFraction ${testFraction} of ${ds.size} rows leaves ${train.length} for training and ${test.length} for testing`,
    );
  }
  const ascending = (a: number, b: number): number => a - b;
  return { train: subset(ds, train.sort(ascending)), test: subset(ds, test.sort(ascending)) };
}

/**
 * The fraction of each label (the empirical label histogram h_n of docs/algorithms/fedau.md §6.1). All zeros for no labels.
 * @param labels integers in [0, numClasses).
 */
export function labelHistogram(labels: ArrayLike<number>, numClasses: number): number[] {
  checkLabels(labels, numClasses, 'labelHistogram');
  const h = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) h[labels[i]]++;
  return labels.length ? h.map((c) => c / labels.length) : h;
}

/**
 * IID split: the indices 0..size − 1 are shuffled and cut into `numClients` contiguous chunks whose sizes differ by at
 * most one (the first size mod N clients get one more). Every index goes to exactly one client.
 * @param rng consumed by one shuffle, so a seed gives one split.
 * @returns for each client, its indices in increasing order.
 * @throws when numClients is not a positive integer or exceeds size (a client would get nothing).
 */
export function iidSplit(size: number, numClients: number, rng: Rng): number[][] {
  if (!Number.isInteger(size) || size < 0) throw new Error(`iidSplit: size must be a non-negative integer, got ${size}`);
  if (!Number.isInteger(numClients) || numClients < 1)
    throw new Error(`iidSplit: numClients must be a positive integer, got ${numClients}`);
  if (numClients > size) throw new Error(`iidSplit: ${numClients} clients for ${size} samples would leave some with none`);
  const idx = rng.shuffle(Array.from({ length: size }, (_, i) => i));
  const base = Math.floor(size / numClients);
  const extra = size % numClients;
  const clients: number[][] = [];
  let start = 0;
  for (let n = 0; n < numClients; n++) {
    const end = start + base + (n < extra ? 1 : 0);
    clients.push(idx.slice(start, end).sort((a, b) => a - b));
    start = end;
  }
  return clients;
}

/** Options of {@link dirichletLabelSplit}. */
export interface DirichletSplitOptions {
  /**
   * Minimum number of samples per client, default 0 (no minimum, as in the official code). When a draw
   * gives some client fewer, the whole split is redrawn from the same rng, at most 100 times (so it
   * stays deterministic for a seed); after that an Error is thrown. Redrawing conditions the split on
   * the minimum, which slightly reduces the heterogeneity for small α.
   */
  minPerClient?: number;
}

/**
 * Non-IID split by label, as in the FedAU experiments (docs/algorithms/fedau.md §6.1):
 * 1. every client n draws a label distribution π_n ~ Dirichlet(α · 1_C);
 * 2. for each class c, its indices are shuffled and cut into contiguous chunks, client n getting a share
 *    π_{n,c} / Σ_m π_{m,c}; chunk boundaries are the cumulative shares times the class size, rounded.
 * Every sample goes to exactly one client; client sizes vary (some may get none unless `minPerClient` is set).
 *
 * @param labels integers in [0, numClasses).
 * @param numClasses C ≥ 1.
 * @param numClients N ≥ 1.
 * @param alpha Dirichlet concentration α > 0; the paper uses 0.1 (strongly non-IID, docs/algorithms/fedau.md §5); large α (e.g. 1000) is near IID.
 * @param rng consumed in a fixed order (π for every client, then one shuffle per class, per attempt).
 * @returns for each client, its sample indices in increasing order.
 */
export function dirichletLabelSplit(
  labels: ArrayLike<number>,
  numClasses: number,
  numClients: number,
  alpha: number,
  rng: Rng,
  options: DirichletSplitOptions = {},
): number[][] {
  if (!Number.isInteger(numClients) || numClients < 1)
    throw new Error(`dirichletLabelSplit: numClients must be a positive integer, got ${numClients}`);
  if (!(alpha > 0 && alpha < Infinity)) throw new Error(`dirichletLabelSplit: alpha must be positive and finite, got ${alpha}`);
  checkLabels(labels, numClasses, 'dirichletLabelSplit');
  const min = options.minPerClient ?? 0;
  if (!Number.isInteger(min) || min < 0) throw new Error(`dirichletLabelSplit: minPerClient must be a non-negative integer, got ${min}`);
  if (min * numClients > labels.length) {
    throw new Error(
      `dirichletLabelSplit: minPerClient ${min} × ${numClients} clients needs ${min * numClients} samples, there are ${labels.length}`,
    );
  }
  const byClass = classIndices(labels, numClasses);
  const MAX_ATTEMPTS = 100;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const pi = Array.from({ length: numClients }, () => rng.dirichlet(alpha, numClasses));
    const clients = Array.from({ length: numClients }, () => [] as number[]);
    for (let c = 0; c < numClasses; c++) {
      const idx = rng.shuffle(byClass[c].slice());
      let total = 0;
      for (let n = 0; n < numClients; n++) total += pi[n][c];
      let cum = 0;
      let start = 0;
      for (let n = 0; n < numClients; n++) {
        // total > 0 unless every π_{n,c} underflowed to 0 (tiny α); then split the class evenly.
        cum += total > 0 ? pi[n][c] / total : 1 / numClients;
        const end = n === numClients - 1 ? idx.length : Math.min(idx.length, Math.round(cum * idx.length));
        const mine = clients[n];
        for (let i = start; i < end; i++) mine.push(idx[i]);
        start = Math.max(start, end);
      }
    }
    if (clients.every((c) => c.length >= min)) return clients.map((c) => c.sort((a, b) => a - b));
  }
  throw new Error(
    `dirichletLabelSplit: no split in ${MAX_ATTEMPTS} draws gives every client at least ${min} samples (alpha ${alpha}, ${numClients} clients)`,
  );
}
