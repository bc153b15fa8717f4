import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data/dataset';
import { useWasmBackend } from './backend';
import { evaluate, initialParameters, parameterCount, parameterShapes, trainLocal } from './model';

/** Two well-separated Gaussian blobs in 2-D: any working softmax/MLP learns them. */
function blobs(n: number): Dataset {
  const features = new Float32Array(n * 2);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const y = i % 2;
    labels[i] = y;
    // deterministic jitter in [-0.5, 0.5)
    features[2 * i] = (y ? 2 : -2) + (((i * 7919) % 1000) / 1000 - 0.5);
    features[2 * i + 1] = (y ? 2 : -2) + (((i * 104729) % 1000) / 1000 - 0.5);
  }
  return { features, labels, numFeatures: 2, numClasses: 2, size: n };
}

beforeAll(async () => {
  // The backend the coordinator and the agents use.
  expect(await useWasmBackend()).toBe('wasm');
});

describe('models', () => {
  it('lays out parameters as weight matrix then bias, per layer', () => {
    expect(parameterShapes({ arch: 'softmax' }, { numFeatures: 64, numClasses: 10 })).toEqual([[64, 10], [10]]);
    // 64·32 + 32 + 32·10 + 10 = 2410
    expect(parameterCount({ arch: 'mlp', hidden: 32 }, { numFeatures: 64, numClasses: 10 })).toBe(2410);
    expect(() => parameterShapes({ arch: 'softmax' }, { numFeatures: 0, numClasses: 10 })).toThrow(/numFeatures/);
  });

  it('initialises deterministically with zero biases and Kaiming-scaled weights', () => {
    const shape = { numFeatures: 200, numClasses: 50 };
    const a = initialParameters({ arch: 'softmax' }, shape, 7);
    expect(initialParameters({ arch: 'softmax' }, shape, 7)).toEqual(a);
    expect(initialParameters({ arch: 'softmax' }, shape, 8)).not.toEqual(a);
    const weights = a.subarray(0, 200 * 50);
    const variance = weights.reduce((s, w) => s + w * w, 0) / weights.length;
    expect(variance).toBeCloseTo(2 / 200, 3); // Kaiming: Var = 2 / fan_in = 0.01
    expect([...a.subarray(200 * 50)].every((b) => b === 0)).toBe(true);
  });

  it('local SGD returns Δ that improves the model, leaks no tensors, and is reproducible', () => {
    const data = blobs(64);
    for (const model of [{ arch: 'softmax' as const }, { arch: 'mlp' as const, hidden: 8 }]) {
      const x0 = initialParameters(model, data, 1);
      const before = evaluate(model, x0, data);
      const tensors = tf.memory().numTensors;
      const r = trainLocal(model, x0, data, { steps: 20, batchSize: 16, lr: 0.5, seed: 3 });
      expect(tf.memory().numTensors).toBe(tensors);
      expect(r.examples).toBe(20 * 16);
      const x1 = x0.map((v, i) => v + r.delta[i]);
      const after = evaluate(model, x1, data);
      expect(after.loss).toBeLessThan(before.loss);
      expect(after.accuracy).toBe(1);
      expect(trainLocal(model, x0, data, { steps: 20, batchSize: 16, lr: 0.5, seed: 3 }).delta).toEqual(r.delta);
    }
  });

  it('one SGD step on a softmax equals the hand-derived gradient step', () => {
    // One example x = (1, 0), label 0, zero weights: p = (1/2, 1/2), ∂L/∂logits = p − y = (−1/2, 1/2).
    // ∂L/∂W = xᵀ(p − y) → row 0 = (−1/2, 1/2), row 1 = 0; ∂L/∂b = (−1/2, 1/2). With lr 0.1: Δ = −0.1·grad.
    const data: Dataset = { features: Float32Array.from([1, 0]), labels: Int32Array.from([0]), numFeatures: 2, numClasses: 2, size: 1 };
    const r = trainLocal({ arch: 'softmax' }, new Float32Array(6), data, { steps: 1, batchSize: 1, lr: 0.1, seed: 0 });
    const expected = [0.05, -0.05, 0, 0, 0.05, -0.05];
    expected.forEach((v, i) => expect(r.delta[i]).toBeCloseTo(v, 6));
    expect(r.meanLoss).toBeCloseTo(Math.log(2), 6);
  });

  it('two SGD steps with momentum and weight decay equal the hand-derived steps', () => {
    // Step 1 at w = 0 is the plain step above (decay of 0 is 0): v₁ = g₁, w₁ = −η·g₁ → row 0 of W and b = (0.05, −0.05).
    // Step 2: logits (0.1, −0.1), so p − y = (−a, a) with a = σ(−0.2); g₂ = (−a, a) + λ·w₁ on row 0 and b.
    // v₂ = μ·v₁ + g₂ = (−0.45 − a + 0.025, …) with μ = 0.9, λ = 0.5; w₂ = w₁ − η·v₂ → Δ = 0.0925 + 0.1·a.
    const data: Dataset = { features: Float32Array.from([1, 0]), labels: Int32Array.from([0]), numFeatures: 2, numClasses: 2, size: 1 };
    const tensors = tf.memory().numTensors;
    const opts = { steps: 2, batchSize: 1, lr: 0.1, momentum: 0.9, weightDecay: 0.5, seed: 0 };
    const r = trainLocal({ arch: 'softmax' }, new Float32Array(6), data, opts);
    expect(tf.memory().numTensors).toBe(tensors);
    const a = 1 / (1 + Math.exp(0.2));
    const d = 0.0925 + 0.1 * a;
    [d, -d, 0, 0, d, -d].forEach((v, i) => expect(r.delta[i]).toBeCloseTo(v, 6));
    // Without momentum: v₂ = g₂, w₂ = w₁ − η·g₂ → Δ = 0.05 + 0.1·(a − 0.025).
    const plain = trainLocal({ arch: 'softmax' }, new Float32Array(6), data, { ...opts, momentum: 0 });
    expect(plain.delta[0]).toBeCloseTo(0.05 + 0.1 * (a - 0.025), 6);
    expect(() => trainLocal({ arch: 'softmax' }, new Float32Array(6), data, { ...opts, momentum: 1 })).toThrow(
      /momentum must be in \[0, 1\)/,
    );
  });

  it('rejects parameters of the wrong length, naming the function', () => {
    expect(() => evaluate({ arch: 'softmax' }, new Float32Array(5), blobs(4))).toThrow(/evaluate: parameters have length 5/);
    expect(() => trainLocal({ arch: 'softmax' }, new Float32Array(6), blobs(4), { steps: 0, batchSize: 1, lr: 0.1, seed: 0 })).toThrow(
      /steps/,
    );
  });
});
