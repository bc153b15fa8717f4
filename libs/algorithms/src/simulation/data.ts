import { featureRange, parseLabelLastCsv, scaleFeatures, trainTestSplit, type Dataset } from '../data/dataset';
import { createRng, deriveSeed } from '../random';

/** Options of {@link prepareCsvDataset}. */
export interface CsvPreparationOptions {
  /** Fraction of the rows held out for testing, in (0, 1); default 0.2. Stratified by label. */
  testFraction?: number;
  /** Seed of the train/test split; default 1. */
  seed?: number;
  /** One example's shape (e.g. [8, 8, 1] for images, as a dataset manifest declares it); default: rows are vectors. */
  inputShape?: number[];
}

/**
 * Any label-last CSV ready for a simulation: parsed (`parseLabelLastCsv`: header auto-detected, label in the
 * last column), split train/test with a seeded stratified split, and min-max scaled per column to [0, 1] with
 * the TRAINING range (test values outside it are not clipped), so nothing of the test set leaks into training.
 * Pure: the caller reads the file.
 * @throws as `parseLabelLastCsv` / `trainTestSplit`, or when there are fewer than 2 classes.
 */
export function prepareCsvDataset(text: string, options: CsvPreparationOptions = {}): { train: Dataset; test: Dataset } {
  const all = parseLabelLastCsv(text);
  if (all.numClasses < 2) throw new Error(`prepareCsvDataset: need at least 2 classes, the labels span ${all.numClasses}`);
  const { train, test } = trainTestSplit(all, options.testFraction ?? 0.2, createRng(options.seed ?? 1));
  const range = featureRange(train);
  const shape = options.inputShape;
  if (shape && shape.reduce((a, b) => a * b, 1) !== all.numFeatures) {
    throw new Error(`prepareCsvDataset: inputShape [${shape.join(', ')}] does not hold the ${all.numFeatures} features of a row`);
  }
  const withShape = (d: Dataset): Dataset => (shape ? { ...d, inputShape: [...shape] } : d);
  return { train: withShape(scaleFeatures(train, range)), test: withShape(scaleFeatures(test, range)) };
}

/** Options of {@link syntheticClassification}; defaults are the setup of docs/algorithms/fedau.md §7.2. */
export interface SyntheticClassificationOptions {
  /** N, default 100. */
  numClients?: number;
  /** Samples per client, default 50. */
  perClient?: number;
  /** Features, default 20. */
  numFeatures?: number;
  /** Classes C, default 10. */
  numClasses?: number;
  /** Standard deviation of the class means μ_c ~ N(0, s² I), default 0.3. Samples are μ_y + N(0, I). */
  meanStd?: number;
  /** Dirichlet α of each client's label distribution, default 0.1. */
  labelAlpha?: number;
  /** Size of the balanced test set, default 5000 (a multiple of C keeps it exactly balanced). */
  testSize?: number;
  seed: number;
}

/**
 * The synthetic softmax-regression task of docs/algorithms/fedau.md §7.2: C Gaussian classes with means μ_c ~ N(0, s² I)
 * and unit noise; client n draws its labels from π_n ~ Dir(α) and holds `perClient` samples; the test set is
 * balanced. Overlapping classes make the achievable accuracy low (≈ 40% for the defaults), so the bias of
 * plain FedAvg shows clearly.
 * @returns the pooled training set, each client's rows in it, and the test set.
 */
export function syntheticClassification(options: SyntheticClassificationOptions): { train: Dataset; clients: number[][]; test: Dataset } {
  const N = options.numClients ?? 100;
  const per = options.perClient ?? 50;
  const f = options.numFeatures ?? 20;
  const C = options.numClasses ?? 10;
  const s = options.meanStd ?? 0.3;
  const alpha = options.labelAlpha ?? 0.1;
  const testSize = options.testSize ?? 5000;
  for (const [name, v] of [
    ['numClients', N],
    ['perClient', per],
    ['numFeatures', f],
    ['testSize', testSize],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`syntheticClassification: ${name} must be a positive integer, got ${v}`);
  }
  if (!Number.isInteger(C) || C < 2) throw new Error(`syntheticClassification: numClasses must be an integer >= 2, got ${C}`);
  if (!(s >= 0) || !(alpha > 0)) throw new Error(`syntheticClassification: meanStd must be >= 0 and labelAlpha > 0, got ${s}, ${alpha}`);
  const rng = createRng(deriveSeed(options.seed, 'synthetic-classification'));
  const means = Array.from({ length: C }, () => Array.from({ length: f }, () => s * rng.normal()));
  const sample = (labels: number[]): Dataset => {
    const features = new Float32Array(labels.length * f);
    for (let r = 0; r < labels.length; r++) for (let i = 0; i < f; i++) features[r * f + i] = means[labels[r]][i] + rng.normal();
    return { features, labels: Int32Array.from(labels), numFeatures: f, numClasses: C, size: labels.length };
  };
  const trainLabels: number[] = [];
  const clients: number[][] = [];
  for (let n = 0; n < N; n++) {
    const pi = rng.dirichlet(alpha, C);
    const rows: number[] = [];
    for (let k = 0; k < per; k++) {
      // Inverse-CDF draw from π_n.
      let u = rng.next();
      let y = 0;
      while (y < C - 1 && u >= pi[y]) u -= pi[y++];
      rows.push(trainLabels.length);
      trainLabels.push(y);
    }
    clients.push(rows);
  }
  const train = sample(trainLabels);
  const test = sample(Array.from({ length: testSize }, (_, i) => i % C));
  return { train, clients, test };
}
