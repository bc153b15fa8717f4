import { createRng } from '../random';
import { dirichletLabelSplit, labelHistogram, parseLabelLastCsv, subset, toCsv, trainTestSplit } from './dataset';
import { scaleToUnit } from './held-out';

describe('datasets', () => {
  it('parses label-last CSV, skipping a header and blank lines', () => {
    const ds = parseLabelLastCsv('a,b,label\n1,2,0\n\n3,4.5,2\n');
    expect(ds.size).toBe(2);
    expect(ds.numFeatures).toBe(2);
    expect(ds.numClasses).toBe(3);
    expect(Array.from(ds.features)).toEqual([1, 2, 3, 4.5]);
    expect(Array.from(ds.labels)).toEqual([0, 2]);
  });

  it('names the line and column of bad cells', () => {
    expect(() => parseLabelLastCsv('1,2,0\n1,x,1\n')).toThrow(/line 2, column 2: 'x' is not a number/);
    expect(() => parseLabelLastCsv('1,2,0\n1,2\n')).toThrow(/line 2: 2 columns, expected 3/);
    expect(() => parseLabelLastCsv('1,2,0.5\n')).toThrow(/line 1, column 3: label '0.5'/);
    expect(() => parseLabelLastCsv('1,2,9\n', { numClasses: 3 })).toThrow(/label 9 is out of range/);
    expect(() => parseLabelLastCsv('\n\n')).toThrow(/no data rows/);
  });

  it('round-trips through toCsv and scales with one range', () => {
    const ds = parseLabelLastCsv('0,16,1\n8,4,0\n');
    expect(toCsv(ds)).toBe('0,16,1\n8,4,0\n');
    expect(Array.from(scaleToUnit(ds, [0, 16]).features)).toEqual([0, 1, 0.5, 0.25]);
  });

  it('splits train/test stratified and deterministically', () => {
    const labels = Int32Array.from({ length: 100 }, (_, i) => i % 4);
    const ds = { features: Float32Array.from({ length: 100 }, (_, i) => i), labels, numFeatures: 1, numClasses: 4, size: 100 };
    const a = trainTestSplit(ds, 0.2, createRng(1));
    expect(a.test.size).toBe(20);
    expect(labelHistogram(a.test.labels, 4)).toEqual([0.25, 0.25, 0.25, 0.25]);
    const all = new Set([...a.train.features, ...a.test.features]);
    expect(all.size).toBe(100);
    expect(trainTestSplit(ds, 0.2, createRng(1)).test.features).toEqual(a.test.features);
    expect(Array.from(subset(ds, [5, 2]).features)).toEqual([5, 2]);
  });

  it('Dirichlet label split covers every index once; small α skews label mixes, large α does not', () => {
    const labels = Int32Array.from({ length: 2000 }, (_, i) => i % 10);
    const skew = (alpha: number): number => {
      const parts = dirichletLabelSplit(labels, 10, 20, alpha, createRng(5));
      const flat = parts.flat().sort((a, b) => a - b);
      expect(flat).toEqual(Array.from({ length: 2000 }, (_, i) => i));
      // Mean over clients of the largest label share: 0.1 for perfectly mixed, 1 for single-label clients.
      const shares = parts.filter((p) => p.length > 0).map((p) => Math.max(...labelHistogram(p.map((i) => labels[i]!), 10)));
      return shares.reduce((s, x) => s + x, 0) / shares.length;
    };
    expect(skew(0.1)).toBeGreaterThan(0.5);
    expect(skew(1000)).toBeLessThan(0.2);
    const a = dirichletLabelSplit(labels, 10, 8, 0.1, createRng(2), { minPerClient: 20 });
    expect(Math.min(...a.map((p) => p.length))).toBeGreaterThanOrEqual(20);
    expect(dirichletLabelSplit(labels, 10, 8, 0.1, createRng(2), { minPerClient: 20 })).toEqual(a);
  });
});
