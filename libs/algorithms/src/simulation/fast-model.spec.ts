import type { Dataset } from '../data/dataset';
import { useWasmBackend } from '../models/backend';
import { evaluate, initialParameters, trainLocal, type ModelArch } from '../models/model';
import { createRng } from '../random';
import { createFastModel } from './fast-model';

/** Random data with some exact zeros (the fast path skips them) and overlapping classes. */
function randomData(n: number, f: number, c: number, seed: number): Dataset {
  const rng = createRng(seed);
  const features = Float32Array.from({ length: n * f }, () => (rng.next() < 0.3 ? 0 : rng.normal()));
  const labels = Int32Array.from({ length: n }, () => rng.int(c));
  return { features, labels, numFeatures: f, numClasses: c, size: n };
}

beforeAll(async () => {
  expect(await useWasmBackend()).toBe('wasm');
});

describe('hand-written softmax / MLP (the simulator’s local training)', () => {
  const models: ModelArch[] = [{ arch: 'softmax' }, { arch: 'mlp', hidden: 12 }];

  it.each(models)('matches TF.js trainLocal and evaluate to float32 accuracy: %j', (model) => {
    // 37 rows, batch 16: two batches per epoch and a short last one dropped, so 7 steps reshuffle 3 times.
    // TF.js computes in float32 (relative 6e-8 per operation); after 7 steps of lr 0.3 the parameters
    // agree to ~1e-6 absolute, so 2e-5 leaves a wide margin while a wrong gradient (e.g. missing the 1/b,
    // relu'(0), or a transposed weight) is off by 1e-2 or more.
    const data = randomData(37, 9, 4, 11);
    const fast = createFastModel(model, data);
    const x0 = initialParameters(model, data, 5);
    const opts = { steps: 7, batchSize: 16, lr: 0.3, seed: 21 };
    const ref = trainLocal(model, x0, data, opts);
    const got = fast.train(x0, data, opts);
    expect(got.delta.length).toBe(ref.delta.length);
    let maxDiff = 0;
    for (let i = 0; i < ref.delta.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got.delta[i] - ref.delta[i]));
    expect(maxDiff).toBeLessThan(2e-5);
    expect(got.meanLoss).toBeCloseTo(ref.meanLoss, 5);
    expect(got.examples).toBe(ref.examples);

    const x1 = x0.map((v, i) => v + ref.delta[i]);
    const e = evaluate(model, x1, data);
    const g = fast.evaluate(x1, data);
    expect(g.accuracy).toBe(e.accuracy);
    expect(g.loss).toBeCloseTo(e.loss, 5);
  });

  it('trains on all rows each step when the client has fewer than b (as trainLocal)', () => {
    const data = randomData(5, 3, 3, 2);
    const model: ModelArch = { arch: 'mlp', hidden: 4 };
    const x0 = initialParameters(model, data, 1);
    const opts = { steps: 3, batchSize: 16, lr: 0.1, seed: 4 };
    const ref = trainLocal(model, x0, data, opts);
    const got = createFastModel(model, data).train(x0, data, opts);
    for (let i = 0; i < ref.delta.length; i++) expect(Math.abs(got.delta[i] - ref.delta[i])).toBeLessThan(2e-5);
    expect(got.examples).toBe(15);
  });

  it('one softmax step equals the hand-derived gradient step', () => {
    // One example x = (1, 0), label 0, zero weights: p = (½, ½), ∂L/∂logits = p − y = (−½, ½);
    // ∂L/∂W row 0 = (−½, ½), row 1 = 0; ∂L/∂b = (−½, ½). lr 0.1 → Δ = −0.1 · grad; loss = log 2.
    const data: Dataset = { features: Float32Array.from([1, 0]), labels: Int32Array.from([0]), numFeatures: 2, numClasses: 2, size: 1 };
    const r = createFastModel({ arch: 'softmax' }, data).train(new Float32Array(6), data, { steps: 1, batchSize: 1, lr: 0.1, seed: 0 });
    expect(Array.from(r.delta)).toEqual([0.05, -0.05, 0, 0, 0.05, -0.05].map(Math.fround));
    expect(r.meanLoss).toBeCloseTo(Math.log(2), 12);
  });

  it('is deterministic and does not modify the global model', () => {
    const data = randomData(40, 6, 3, 8);
    const model: ModelArch = { arch: 'mlp', hidden: 5 };
    const fast = createFastModel(model, data);
    const x0 = initialParameters(model, data, 2);
    const copy = x0.slice();
    const a = fast.train(x0, data, { steps: 4, batchSize: 8, lr: 0.2, seed: 3 });
    const b = fast.train(x0, data, { steps: 4, batchSize: 8, lr: 0.2, seed: 3 });
    expect(b.delta).toEqual(a.delta);
    expect(x0).toEqual(copy);
  });

  it('rejects wrong sizes and options, naming the function', () => {
    const data = randomData(4, 2, 2, 1);
    const fast = createFastModel({ arch: 'softmax' }, data);
    expect(() => fast.train(new Float32Array(5), data, { steps: 1, batchSize: 1, lr: 0.1, seed: 0 })).toThrow(
      /FastModel.train: parameters have length 5/,
    );
    expect(() => fast.train(new Float32Array(6), data, { steps: 0, batchSize: 1, lr: 0.1, seed: 0 })).toThrow(/steps/);
    expect(() => fast.evaluate(new Float32Array(6), randomData(4, 3, 2, 1))).toThrow(
      /FastModel.evaluate: dataset is 3x2, the model was built for 2x2/,
    );
    expect(() =>
      fast.evaluate(new Float32Array(6), { ...data, size: 0, features: new Float32Array(0), labels: new Int32Array(0) }),
    ).toThrow(/empty/);
  });
});

describe('hand-written CNN (the same function as the TF.js cnn LayersModel)', () => {
  /** Images of `shape` with exact zeros (as the digits' background) and 4 classes. */
  function images(n: number, shape: [number, number, number], seed: number): Dataset {
    return { ...randomData(n, shape[0] * shape[1] * shape[2], 4, seed), inputShape: [...shape] };
  }
  // An 8×8 image (the digits: even sizes, symmetric padding), and a 7×5×2 one with an even kernel: 'same' then pads
  // one cell after only, and the pools pad an odd side (windows that hang over the edge).
  const cases: { model: ModelArch; shape: [number, number, number] }[] = [
    { model: { arch: 'cnn', filters: [3, 5], kernelSize: 3, dense: 7 }, shape: [8, 8, 1] },
    { model: { arch: 'cnn', filters: [2, 3], kernelSize: 2, dense: 6 }, shape: [7, 5, 2] },
  ];

  it.each(cases)('matches TF.js trainLocal and evaluate (one step, then seven): %j', ({ model, shape }) => {
    const data = images(37, shape, 12);
    const fast = createFastModel(model, data);
    const x0 = initialParameters(model, data, 6);
    for (const opts of [
      { steps: 1, batchSize: 16, lr: 0.3, seed: 2 },
      { steps: 7, batchSize: 16, lr: 0.3, seed: 21 },
    ]) {
      const ref = trainLocal(model, x0, data, opts);
      const got = fast.train(x0, data, opts);
      expect(got.delta.length).toBe(ref.delta.length);
      let maxDiff = 0;
      let maxRef = 0;
      for (let i = 0; i < ref.delta.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(got.delta[i] - ref.delta[i]));
        maxRef = Math.max(maxRef, Math.abs(ref.delta[i]));
      }
      expect(maxRef).toBeGreaterThan(1e-2); // the step moved the model: the comparison means something
      expect(maxDiff).toBeLessThan(1e-5);
      expect(got.meanLoss).toBeCloseTo(ref.meanLoss, 5);
      expect(got.examples).toBe(ref.examples);
      const x1 = x0.map((v, i) => v + ref.delta[i]);
      const e = evaluate(model, x1, data);
      const g = fast.evaluate(x1, data);
      expect(g.accuracy).toBe(e.accuracy);
      expect(g.loss).toBeCloseTo(e.loss, 5);
    }
  });

  it.each(cases)('has the gradient of its loss (central differences): %j', ({ model, shape }) => {
    const data = images(20, shape, 3);
    const fast = createFastModel(model, data);
    // Biases away from zero, so that few relus sit at their kink.
    const w = initialParameters(model, data, 9).map((v) => (v === 0 ? 0.05 : v));
    const { loss, gradient } = fast.gradient(w, data);
    expect(loss).toBeCloseTo(fast.evaluate(w, data).loss, 10);
    // Every parameter, h = 1e-5: the loss is computed in float64, so the difference quotient is exact to ~1e-8, and a
    // step this small rarely moves a relu or a pool's maximum across its kink (with 1e-3 a few conv weights did).
    let worst = 0;
    for (let i = 0; i < w.length; i++) {
      const plus = w.slice();
      const minus = w.slice();
      plus[i] = w[i] + 1e-5;
      minus[i] = w[i] - 1e-5; // float32: the quotient divides by the step as stored
      const fd = (fast.evaluate(plus, data).loss - fast.evaluate(minus, data).loss) / (plus[i] - minus[i]);
      worst = Math.max(worst, Math.abs(fd - gradient[i]) / Math.max(1e-3, Math.abs(fd)));
    }
    expect(worst).toBeLessThan(1e-3);
  });

  it('needs an image shape that holds the features', () => {
    const model: ModelArch = { arch: 'cnn', filters: [2, 2], kernelSize: 3, dense: 4 };
    expect(() => createFastModel(model, { numFeatures: 64, numClasses: 10 })).toThrow(/cnn needs images/);
  });
});
