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
