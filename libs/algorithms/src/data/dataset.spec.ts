import { createRng, type Rng } from '../random';
import {
  dirichletLabelSplit,
  featureRange,
  labelHistogram,
  parseLabelLastCsv,
  scaleFeatures,
  subset,
  toCsv,
  trainTestSplit,
  type Dataset,
} from './dataset';

/** A dataset whose row i has the single feature i (so rows can be traced after splits). */
function traced(labels: number[], numClasses: number): Dataset {
  return {
    features: Float32Array.from(labels, (_, i) => i),
    labels: Int32Array.from(labels),
    numFeatures: 1,
    numClasses,
    size: labels.length,
  };
}

/** Total variation distance between two histograms: ½ Σ |a_c − b_c|. */
const tv = (a: number[], b: number[]): number => 0.5 * a.reduce((s, x, c) => s + Math.abs(x - b[c]), 0);

describe('parseLabelLastCsv', () => {
  it('reads features row-major and the last column as the label', () => {
    const ds = parseLabelLastCsv('1,2,0\n3,4.5,2\n-1e-2, +.5 ,1\n');
    expect(ds.size).toBe(3);
    expect(ds.numFeatures).toBe(2);
    expect(ds.numClasses).toBe(3); // max label 2 + 1
    expect(Array.from(ds.features)).toEqual([1, 2, 3, 4.5, Math.fround(-0.01), 0.5]);
    expect(Array.from(ds.labels)).toEqual([0, 2, 1]);
  });

  it('skips one all-text header line, blank lines and CRLF line ends', () => {
    const ds = parseLabelLastCsv('\r\nx1,x2,label\r\n1,2,0\r\n\r\n  \n3,4,1');
    expect(Array.from(ds.features)).toEqual([1, 2, 3, 4]);
    expect(Array.from(ds.labels)).toEqual([0, 1]);
  });

  it('takes numClasses from the options when given', () => {
    expect(parseLabelLastCsv('1,0\n2,1\n', { numClasses: 10 }).numClasses).toBe(10);
  });

  it.each<[string, string, RegExp]>([
    ['a bad feature', '1,2,0\n1,x,1\n', /parseLabelLastCsv: line 2, column 2: 'x' is not a number/],
    ['line numbers that count the header and blank lines', 'a,b,y\n\n1,2,0\n1,2,0\n5,,1\n', /line 5, column 2: '' is not a number/],
    ['a hex number', '0x1F,2,0\n', /line 1, column 1: '0x1F' is not a number/],
    ['Infinity', '1,Infinity,0\n', /line 1, column 2: 'Infinity' is not a number/],
    ['a partly numeric first line (not a header)', '1,b,label\n1,2,0\n', /line 1, column 2: 'b' is not a number/],
    ['a second text line', 'a,b,y\nc,d,z\n', /line 2, column 1: 'c' is not a number/],
    ['a row of another width', '1,2,0\n\n1,2\n', /line 3: 2 columns, expected 3 \(as on line 1\)/],
    ['a fractional label', '1,2,0.5\n', /line 1, column 3: label '0.5' is not a non-negative integer/],
    ['a negative label', '1,2,0\n1,2,-1\n', /line 2, column 3: label '-1' is not a non-negative integer/],
    ['a text label', '1,2,0\n1,2,cat\n', /line 2, column 3: label 'cat' is not a non-negative integer/],
    ['a single column', '1\n2\n', /line 1: need at least one feature column and a label column/],
    ['no data rows', '\n\n', /parseLabelLastCsv: no data rows/],
    ['only a header', 'x,y\n', /no data rows/],
  ])('rejects %s, naming the line and column', (_what, text, message) => {
    expect(() => parseLabelLastCsv(text)).toThrow(message);
  });

  it('rejects labels beyond numClasses, and a bad numClasses', () => {
    expect(() => parseLabelLastCsv('1,2,1\n1,2,9\n', { numClasses: 3 })).toThrow(/line 2, column 3: label 9 is out of range for 3 classes/);
    expect(() => parseLabelLastCsv('1,0\n', { numClasses: 0 })).toThrow(/parseLabelLastCsv: numClasses must be a positive integer/);
  });
});

describe('toCsv', () => {
  it('prints label-last rows with the shortest text that reads back as the same float32', () => {
    expect(toCsv(parseLabelLastCsv('0,16,1\n8,4,0\n'))).toBe('0,16,1\n8,4,0\n');
    // 0.1 is stored as float32 0.100000001490116…; printed as 0.1 because that reads back to the same float32.
    expect(toCsv(parseLabelLastCsv('0.1,-2.5e-7,3\n'))).toBe('0.1,-2.5e-7,3\n');
  });

  it('round-trips through parseLabelLastCsv exactly', () => {
    const rng = createRng(8);
    const n = 300;
    const f = 4;
    const ds: Dataset = {
      features: Float32Array.from({ length: n * f }, (_, i) => (i % 7 === 0 ? -0 : rng.normal() * 10 ** ((i % 9) - 4))),
      labels: Int32Array.from({ length: n }, () => rng.int(5)),
      numFeatures: f,
      numClasses: 5,
      size: n,
    };
    const back = parseLabelLastCsv(toCsv(ds), { numClasses: 5 });
    expect(back.features).toEqual(ds.features); // bit-exact, −0 included
    expect(back.labels).toEqual(ds.labels);
    expect(back.numFeatures).toBe(f);
    expect(back.size).toBe(n);
  });
});

describe('featureRange and scaleFeatures', () => {
  // Columns: (0, 5, 3) → min 0, max 5; (2, 2, 2) constant; (−1, 1, 0) → min −1, max 1.
  const ds: Dataset = {
    features: Float32Array.from([0, 2, -1, 5, 2, 1, 3, 2, 0]),
    labels: Int32Array.from([0, 1, 0]),
    numFeatures: 3,
    numClasses: 2,
    size: 3,
  };

  it('finds per-column min and max', () => {
    const r = featureRange(ds);
    expect(Array.from(r.min)).toEqual([0, 2, -1]);
    expect(Array.from(r.max)).toEqual([5, 2, 1]);
  });

  it('maps each column to [0, 1], constant columns to 0, without touching the input', () => {
    // Column 0: (x − 0)/5 → 0, 1, 0.6. Column 1 constant → 0. Column 2: (x + 1)/2 → 0, 1, 0.5.
    const scaled = scaleFeatures(ds, featureRange(ds));
    const expected = [0, 0, 0, 1, 0, 1, 0.6, 0, 0.5];
    scaled.features.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 6)); // float32 rounding of 0.6
    expect(Array.from(scaled.labels)).toEqual([0, 1, 0]);
    expect(Array.from(ds.features)).toEqual([0, 2, -1, 5, 2, 1, 3, 2, 0]);
  });

  it('scales other data with the same range, without clipping', () => {
    // With the range above: column 0 value 10 → 2; column 1 (constant) value 7 → 0; column 2 value −3 → −1.
    const other: Dataset = { ...ds, features: Float32Array.from([10, 7, -3]), labels: Int32Array.from([1]), size: 1 };
    expect(Array.from(scaleFeatures(other, featureRange(ds)).features)).toEqual([2, 0, -1]);
  });

  it('checks its arguments', () => {
    const r = featureRange(ds);
    expect(() => scaleFeatures(ds, { min: r.min.subarray(1), max: r.max })).toThrow(
      /scaleFeatures: scale.min and scale.max must have numFeatures = 3 values/,
    );
    expect(() => scaleFeatures(ds, { min: Float32Array.from([1, 0, 0]), max: Float32Array.from([0, 1, 1]) })).toThrow(
      /scaleFeatures: column 0 needs finite min <= max/,
    );
    expect(() => featureRange({ ...ds, features: new Float32Array(0), labels: new Int32Array(0), size: 0 })).toThrow(
      /featureRange: dataset is empty/,
    );
    expect(() => featureRange({ ...ds, size: 4 })).toThrow(/featureRange: dataset arrays do not match its shape/);
  });
});

describe('subset and labelHistogram', () => {
  it('subset takes rows in the given order, repeats allowed', () => {
    const ds = traced([0, 1, 2, 0, 1, 2], 3);
    const s = subset(ds, [5, 2, 2]);
    expect(Array.from(s.features)).toEqual([5, 2, 2]);
    expect(Array.from(s.labels)).toEqual([2, 2, 2]);
    expect(s.size).toBe(3);
    expect(s.numClasses).toBe(3);
    expect(() => subset(ds, [6])).toThrow(/subset: indices\[0\] = 6 is not an integer in \[0, 6\)/);
    expect(() => subset(ds, [0, 1.5])).toThrow(/indices\[1\] = 1.5/);
  });

  it('labelHistogram gives fractions', () => {
    expect(labelHistogram([0, 2, 2, 1], 3)).toEqual([0.25, 0.25, 0.5]);
    expect(labelHistogram([], 2)).toEqual([0, 0]);
    expect(() => labelHistogram([0, 3], 3)).toThrow(/labelHistogram: labels\[1\] = 3 is not an integer in \[0, 3\)/);
  });
});

describe('trainTestSplit', () => {
  const ds = traced(
    Array.from({ length: 100 }, (_, i) => (i < 40 ? 0 : i < 70 ? 1 : i < 90 ? 2 : 3)), // 40, 30, 20, 10 per class
    4,
  );

  it('is stratified: each class gives round(fraction · count) rows to the test set', () => {
    // 0.25 · (40, 30, 20, 10) = (10, 7.5 → 8, 5, 2.5 → 3): 26 test rows.
    const { train, test } = trainTestSplit(ds, 0.25, createRng(1));
    const counts = (d: Dataset) => labelHistogram(d.labels, 4).map((h) => Math.round(h * d.size));
    expect(counts(test)).toEqual([10, 8, 5, 3]);
    expect(counts(train)).toEqual([30, 22, 15, 7]);
  });

  it('puts every row in exactly one part, in the original order, deterministically for a seed', () => {
    const a = trainTestSplit(ds, 0.2, createRng(1));
    const all = [...a.train.features, ...a.test.features].sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect([...a.test.features]).toEqual([...a.test.features].sort((x, y) => x - y));
    // Row i keeps its label.
    a.test.features.forEach((row, k) => expect(a.test.labels[k]).toBe(ds.labels[row]));
    expect(trainTestSplit(ds, 0.2, createRng(1)).test.features).toEqual(a.test.features);
    expect(trainTestSplit(ds, 0.2, createRng(2)).test.features).not.toEqual(a.test.features);
  });

  it('checks its arguments', () => {
    expect(() => trainTestSplit(ds, 1, createRng(0))).toThrow(/trainTestSplit: testFraction must be in \(0, 1\), got 1/);
    expect(() => trainTestSplit(ds, 0, createRng(0))).toThrow(/testFraction/);
    // Three single-row classes: round(0.2 · 1) = 0 test rows each.
    expect(() => trainTestSplit(traced([0, 1, 2], 3), 0.2, createRng(0))).toThrow(
      /trainTestSplit: .* leaves 3 for training and 0 for testing/,
    );
    expect(() => trainTestSplit(traced([0, 5], 3), 0.5, createRng(0))).toThrow(/trainTestSplit: labels\[1\] = 5/);
  });
});

/** An Rng whose Dirichlet draws are scripted and whose shuffle keeps the order: makes the split rule checkable by hand. */
function scriptedRng(draws: number[][]): Rng {
  let k = 0;
  const unused = (): never => {
    throw new Error('not used by dirichletLabelSplit');
  };
  return { next: unused, normal: unused, gamma: unused, int: unused, dirichlet: () => draws[k++], shuffle: (xs) => xs };
}

describe('dirichletLabelSplit (docs/algorithms/fedau.md §6.1)', () => {
  it('cuts each class in contiguous chunks with shares π_{n,c}/Σ_m π_{m,c}, boundaries at rounded cumulative shares', () => {
    // Class 0 = indices 0..9, class 1 = indices 10..13. π_0 = (0.5, 0.5), π_1 = (0.25, 0.75).
    // Class 0 shares: 0.5/0.75 = 2/3 and 1/3 → boundary round(2/3 · 10) = round(6.67) = 7: client 0 gets 0..6, client 1 7..9.
    // Class 1 shares: 0.5/1.25 = 0.4 and 0.6 → boundary round(0.4 · 4) = round(1.6) = 2: client 0 gets 10, 11; client 1 12, 13.
    const labels = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1];
    const parts = dirichletLabelSplit(
      labels,
      2,
      2,
      0.1,
      scriptedRng([
        [0.5, 0.5],
        [0.25, 0.75],
      ]),
    );
    expect(parts).toEqual([
      [0, 1, 2, 3, 4, 5, 6, 10, 11],
      [7, 8, 9, 12, 13],
    ]);
  });

  it('rounds the cumulative shares, not each chunk', () => {
    // 10 samples, 3 clients with equal shares: boundaries round(10/3) = 3 and round(20/3) = 7 → sizes 3, 4, 3
    // (rounding each chunk would give 3, 3, 3 and lose a sample, or 3, 3, 4).
    const parts = dirichletLabelSplit(new Array<number>(10).fill(0), 1, 3, 1, scriptedRng([[1], [1], [1]]));
    expect(parts).toEqual([
      [0, 1, 2],
      [3, 4, 5, 6],
      [7, 8, 9],
    ]);
  });

  const labels = Int32Array.from({ length: 2000 }, (_, i) => i % 10); // 200 per class
  const uniform = new Array<number>(10).fill(0.1);

  it.each([0.1, 1, 1000])('assigns every sample to exactly one client (α = %p)', (alpha) => {
    const parts = dirichletLabelSplit(labels, 10, 20, alpha, createRng(5));
    expect(parts).toHaveLength(20);
    expect(parts.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 2000 }, (_, i) => i));
    for (const p of parts) expect(p).toEqual([...p].sort((a, b) => a - b));
  });

  it('α = 1000 gives near-uniform label mixes, α = 0.1 skewed ones', () => {
    // α = 1000: π_{n,c} ≈ 1/10 with relative SD ≈ 1/sqrt(Cα) = 1 %, so each client gets 10 ± 1 (rounding) samples
    // of every class: histogram entries within 9/110 … 11/90, total variation from uniform ≤ ~0.06.
    // α = 0.1: a Dir(0.1) draw on 10 classes puts most mass on one or two classes; a client's mix is far from uniform.
    const mixes = (alpha: number) =>
      dirichletLabelSplit(labels, 10, 20, alpha, createRng(5))
        .filter((p) => p.length > 0)
        .map((p) =>
          labelHistogram(
            p.map((i) => labels[i]),
            10,
          ),
        );
    const near = mixes(1000).map((h) => tv(h, uniform));
    const skewed = mixes(0.1).map((h) => tv(h, uniform));
    expect(Math.max(...near)).toBeLessThan(0.08);
    expect(skewed.reduce((s, x) => s + x, 0) / skewed.length).toBeGreaterThan(0.5);
  });

  it('is deterministic for a seed', () => {
    const a = dirichletLabelSplit(labels, 10, 8, 0.1, createRng(2));
    expect(dirichletLabelSplit(labels, 10, 8, 0.1, createRng(2))).toEqual(a);
    expect(dirichletLabelSplit(labels, 10, 8, 0.1, createRng(3))).not.toEqual(a);
  });

  it('redraws until every client has minPerClient samples, deterministically', () => {
    // 50 clients, α = 0.1, 200 samples: the unconstrained split of this seed leaves some client with 2 samples.
    const few = labels.subarray(0, 200);
    const free = dirichletLabelSplit(few, 10, 50, 0.1, createRng(0));
    expect(Math.min(...free.map((p) => p.length))).toBeLessThan(3);
    const a = dirichletLabelSplit(few, 10, 50, 0.1, createRng(0), { minPerClient: 3 });
    expect(Math.min(...a.map((p) => p.length))).toBeGreaterThanOrEqual(3);
    expect(a.flat().sort((x, y) => x - y)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(dirichletLabelSplit(few, 10, 50, 0.1, createRng(0), { minPerClient: 3 })).toEqual(a);
    // minPerClient 0 (the default) returns the first draw.
    expect(dirichletLabelSplit(few, 10, 50, 0.1, createRng(0), { minPerClient: 0 })).toEqual(free);
  });

  it('fails clearly when minPerClient cannot be met', () => {
    // 20 clients × 101 > 2000 samples: impossible, refused at once.
    expect(() => dirichletLabelSplit(labels, 10, 20, 1, createRng(0), { minPerClient: 101 })).toThrow(
      /minPerClient 101 × 20 clients needs 2020 samples, there are 2000/,
    );
    // Possible in principle (10 × 200 = 2000) but never drawn: a client would need exactly its 1/10.
    expect(() => dirichletLabelSplit(labels, 10, 10, 0.1, createRng(0), { minPerClient: 200 })).toThrow(
      /no split in 100 draws gives every client at least 200 samples/,
    );
  });

  it('checks its arguments, naming them', () => {
    const rng = createRng(0);
    expect(() => dirichletLabelSplit(labels, 10, 0, 1, rng)).toThrow(/dirichletLabelSplit: numClients must be a positive integer/);
    expect(() => dirichletLabelSplit(labels, 10, 3, 0, rng)).toThrow(/dirichletLabelSplit: alpha must be positive/);
    expect(() => dirichletLabelSplit(labels, 5, 3, 1, rng)).toThrow(/dirichletLabelSplit: labels\[5\] = 5 is not an integer in \[0, 5\)/);
    expect(() => dirichletLabelSplit(labels, 10, 3, 1, rng, { minPerClient: -1 })).toThrow(/minPerClient must be a non-negative integer/);
  });
});
