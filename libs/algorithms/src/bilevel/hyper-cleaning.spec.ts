import type { Dataset } from '../data/dataset';
import { createRng, type Rng } from '../random';
import {
  cleanerMetrics,
  corruptLabels,
  createHyperCleaningProblem,
  softmaxParameterCount,
  softmaxRegressionAccuracy,
  trainSoftmaxRegression,
} from './hyper-cleaning';
import { runBilevel } from './runner';

/** n points of K Gaussian classes in F dimensions (means ~ N(0, spread²), unit noise), labels balanced. */
function blobs(rng: Rng, means: number[][], n: number): Dataset {
  const K = means.length;
  const F = means[0].length;
  const features = new Float32Array(n * F);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % K;
    for (let j = 0; j < F; j++) features[i * F + j] = means[i % K][j] + rng.normal();
  }
  return { features, labels, numFeatures: F, numClasses: K, size: n };
}

describe('hyper-cleaning problem (docs/algorithms/bilevel.md §12.1)', () => {
  const rng = createRng(81);
  const means = Array.from({ length: 3 }, () => Array.from({ length: 4 }, () => 2 * rng.normal()));
  const small = blobs(rng, means, 9);
  const val = blobs(rng, means, 6);

  it('∇f and ∇g (both partials) match central finite differences', () => {
    const p = createHyperCleaningProblem(small, val, { l2: 0.1 });
    expect(p.dimY).toBe(softmaxParameterCount(4, 3));
    const x = Float64Array.from({ length: p.dimX }, () => rng.normal());
    const w = Float64Array.from({ length: p.dimY }, () => 0.3 * rng.normal());
    const gx = new Float64Array(p.dimX);
    const gy = new Float64Array(p.dimY);
    const fx = new Float64Array(p.dimX);
    const fy = new Float64Array(p.dimY);
    p.gradG(x, w, gx, gy, 0);
    p.gradF(x, w, fx, fy, 0);
    const h = 1e-6;
    const fd = (fn: (a: Float64Array, b: Float64Array) => number, v: Float64Array, i: number, a: Float64Array, b: Float64Array): number => {
      const old = v[i];
      v[i] = old + h;
      const up = fn(a, b);
      v[i] = old - h;
      const down = fn(a, b);
      v[i] = old;
      return (up - down) / (2 * h);
    };
    // Central differences have O(h²) truncation and O(ε/h) rounding error: ~1e-9 here; 1e-7 leaves room.
    for (let i = 0; i < p.dimX; i++) expect(Math.abs(gx[i] - fd(p.g, x, i, x, w))).toBeLessThan(1e-7);
    for (let i = 0; i < p.dimY; i++) expect(Math.abs(gy[i] - fd(p.g, w, i, x, w))).toBeLessThan(1e-7);
    for (let i = 0; i < p.dimY; i++) expect(Math.abs(fy[i] - fd(p.f, w, i, x, w))).toBeLessThan(1e-7);
    expect(Array.from(fx)).toEqual(new Array(p.dimX).fill(0));
  });

  it('minibatch oracles: one sample gives one batch; the mean over samples approaches the full gradient', () => {
    const p = createHyperCleaningProblem(small, val, { trainBatch: 3 });
    const full = createHyperCleaningProblem(small, val);
    const x = Float64Array.from({ length: p.dimX }, () => rng.normal());
    const w = Float64Array.from({ length: p.dimY }, () => 0.3 * rng.normal());
    const a = new Float64Array(p.dimY);
    const b = new Float64Array(p.dimY);
    p.gradG(x, w, null, a, 5);
    p.gradG(x, w, null, b, 5);
    expect(b).toEqual(a);
    // Unbiased: the average of 3000 batch gradients is within 0.02 of the full one in every coordinate
    // (each coordinate's batch-gradient s.d. is < 0.5 here, so the s.e. of the mean is < 0.01).
    const mean = new Float64Array(p.dimY);
    const g = new Float64Array(p.dimY);
    for (let s = 0; s < 3000; s++) {
      p.gradG(x, w, null, g, s);
      for (let i = 0; i < g.length; i++) mean[i] += g[i] / 3000;
    }
    full.gradG(x, w, null, g, 0);
    for (let i = 0; i < g.length; i++) expect(Math.abs(mean[i] - g[i])).toBeLessThan(0.02);
  });

  it('corrupts exactly round(fraction·n) labels, each to a wrong class', () => {
    const ds = blobs(createRng(1), means, 101);
    const { data, clean } = corruptLabels(ds, 0.5, createRng(2));
    let corrupted = 0;
    for (let i = 0; i < ds.size; i++) {
      if (clean[i]) expect(data.labels[i]).toBe(ds.labels[i]);
      else {
        corrupted++;
        expect(data.labels[i]).not.toBe(ds.labels[i]);
        expect(data.labels[i]).toBeGreaterThanOrEqual(0);
        expect(data.labels[i]).toBeLessThan(3);
      }
    }
    expect(corrupted).toBe(51); // round(50.5) = 51
    expect(ds.labels[0]).toBe(0); // the input is not modified
  });

  it('cleaner precision, recall and F1 by hand', () => {
    // Kept (x ≥ 0): rows 0, 1, 2; clean: rows 0, 1, 3. TP = 2 ⇒ P = 2/3, R = 2/3, F1 = 2/3, kept 3/5.
    const m = cleanerMetrics([1, 0, 2, -1, -3], [1, 1, 0, 1, 0]);
    expect(m.precision).toBeCloseTo(2 / 3, 15);
    expect(m.recall).toBeCloseTo(2 / 3, 15);
    expect(m.f1).toBeCloseTo(2 / 3, 15);
    expect(m.keptFraction).toBeCloseTo(0.6, 15);
    expect(cleanerMetrics([-1], [1]).f1).toBe(0);
  });

  it('a bilevel run on 50%-corrupted blobs finds the corrupted samples and beats training on all data', () => {
    // 3 well-separated classes (means ~ N(0, 2²) in 4-D), 150 training rows with 75 labels flipped to a wrong class,
    // 60 clean validation rows, 600 test rows. Training on everything learns the flips; the penalty method
    // (λ = 5) must reach cleaner F1 ≥ 0.9 and beat that test accuracy by ≥ 5 points (the targets; seen:
    // 0.68 on all data, 0.98 on the clean half only, 0.99 for the bilevel model, F1 0.98).
    const r2 = createRng(82);
    const train0 = blobs(r2, means, 150);
    const { data: train, clean } = corruptLabels(train0, 0.5, r2);
    const validation = blobs(r2, means, 60);
    const test = blobs(r2, means, 600);
    const onAll = softmaxRegressionAccuracy(trainSoftmaxRegression(train, { l2: 1e-3, steps: 1000 }), test);
    const p = createHyperCleaningProblem(train, validation, { l2: 1e-3 });
    const r = runBilevel(
      p,
      { method: 'penalty-double-loop', penalty: { kind: 'fixed', lambda: 5 }, innerSteps: 5, stepY: 0.5, stepZ: 0.5, stepX: 300 },
      { x: new Array<number>(p.dimX).fill(0), y: new Array<number>(p.dimY).fill(0) },
      { stop: { maxIterations: 300, tolerance: 0 } },
    );
    const cleaner = cleanerMetrics(r.x, clean);
    expect(cleaner.f1).toBeGreaterThanOrEqual(0.9);
    expect(softmaxRegressionAccuracy(r.z, test)).toBeGreaterThan(onAll + 0.05);
  });

  it('checks its inputs', () => {
    expect(() => createHyperCleaningProblem(small, { ...val, numClasses: 4 })).toThrow(
      /createHyperCleaningProblem: train .* and validation .* differ/,
    );
    expect(() => createHyperCleaningProblem(small, val, { trainBatch: 0 })).toThrow(/trainBatch must be a positive integer/);
    expect(() => corruptLabels(small, 1.5, rng)).toThrow(/fraction must be in \[0, 1\]/);
    expect(() => softmaxRegressionAccuracy([1, 2], small)).toThrow(/parameters have length 2, expected 15/);
  });
});
