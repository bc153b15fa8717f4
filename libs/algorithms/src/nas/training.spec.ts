import * as tf from '@tensorflow/tfjs';
import { useWasmBackend } from '../models/backend';
import { createRng } from '../random';
import { architecturesInMask, chainSupernet, fullMask, initialSupernetParameters, pathWeights, supernetLayout } from './search-space';
import { evaluateArchitectures, evaluateSupernet, supernetGradient, type Samples } from './supernet';
import { rootNode, splitNode } from './tree';
import {
  cosineLearningRate,
  deriveArchitecture,
  initialTrainingState,
  spawnTrainingState,
  trainStandalone,
  trainSupernet,
} from './training';

beforeAll(async () => {
  expect(await useWasmBackend()).toBe('wasm');
});

const spec = chainSupernet({ inputSize: 4, width: 6, outputSize: 3, edges: 2 });

/** Three classes by the sign pattern of a fixed projection: learnable by every architecture. */
function blobs(n: number, seed: number): Samples {
  const rng = createRng(seed);
  const inputs = Float32Array.from({ length: n * 4 }, () => rng.normal());
  const targets = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const a = inputs[i * 4] + inputs[i * 4 + 1];
    targets[i] = a > 0.5 ? 0 : a < -0.5 ? 1 : 2;
  }
  return { inputs, targets, size: n };
}

const plain = { lr: 0.1, lrMin: 0.1, momentum: 0, nesterov: false, weightDecay: 0, clipNorm: Infinity };

describe('SGD on flat parameters', () => {
  it('one plain step is −lr × the gradient on the sampled path, nothing else moves', () => {
    const data = blobs(8, 1);
    const state = initialTrainingState(spec, 3);
    // batchSize = size: the step sees the whole set in a shuffled order, the same mean gradient.
    const r = trainSupernet(spec, state, fullMask(spec), data, { steps: 1, batchSize: 8, seed: 4, optimizer: plain });
    const moved = r.state.params.map((p, i) => p - state.params[i]);
    // The path drawn by the step: recover it from which op segments moved.
    const layout = supernetLayout(spec);
    const path = [0, 1].map((e) => {
      const s = layout.segments.find(
        (x) => x.owner === 'op' && x.edge === e && x.role === 'weight' && moved.subarray(x.offset, x.offset + x.size).some((d) => d !== 0),
      );
      return s ? s.op : 3; // skip has no parameters
    });
    const { gradient } = supernetGradient(spec, state.params, pathWeights(spec, path), data);
    moved.forEach((d, i) => expect(d).toBeCloseTo(-0.1 * gradient[i], 6));
    expect(r.state.step).toBe(1);
    expect(state.step).toBe(0); // the input state is not modified
  });

  it('momentum, Nesterov and weight decay follow torch.optim.SGD on a single path', () => {
    // One-op mask: the path is fixed. v ← μv + (g + wd·p); p ← p − lr (g + wd·p + μv).
    const data = blobs(8, 2);
    const mask = spec.edges.map((edge) => edge.ops.map((_, o) => o === 1));
    const opt = { lr: 0.05, lrMin: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.01, clipNorm: Infinity };
    const s0 = initialTrainingState(spec, 5);
    const s2 = trainSupernet(spec, s0, mask, data, { steps: 2, batchSize: 8, seed: 1, optimizer: opt }).state;
    const w = pathWeights(spec, [1, 1]);
    const p = s0.params.slice();
    const v = new Float32Array(p.length);
    const connected = new Float32Array(p.length);
    for (let step = 0; step < 2; step++) {
      const { gradient } = supernetGradient(spec, p, w, data);
      const layout = supernetLayout(spec);
      layout.segments.forEach((s) => {
        const on = s.owner !== 'op' || s.op === 1;
        for (let i = s.offset; i < s.offset + s.size; i++) {
          connected[i] = on ? 1 : 0;
          if (!on) continue;
          const g = gradient[i] + 0.01 * p[i];
          v[i] = 0.9 * v[i] + g;
          p[i] -= 0.05 * (g + 0.9 * v[i]);
        }
      });
    }
    p.forEach((x, i) => expect(s2.params[i]).toBeCloseTo(x, 5));
    // Ops off the path keep their weights and zero momentum (no weight decay either).
    s2.velocity.forEach((x, i) => connected[i] === 0 && expect(x).toBe(0));
  });

  it('clips the global gradient norm', () => {
    const data = blobs(8, 3);
    const mask = spec.edges.map((edge) => edge.ops.map((_, o) => o === 0));
    const s0 = initialTrainingState(spec, 6);
    const r = trainSupernet(spec, s0, mask, data, { steps: 1, batchSize: 8, seed: 0, optimizer: { ...plain, clipNorm: 1e-3 } });
    // ‖Δ‖ = lr × 1e-3 × ‖g‖ / (‖g‖ + 1e-6) ≈ 1e-4 when ‖g‖ ≫ 1e-6.
    const norm = Math.sqrt(r.state.params.reduce((s, p, i) => s + (p - s0.params[i]) ** 2, 0));
    expect(norm).toBeCloseTo(1e-4, 6);
  });

  it('anneals the rate with a cosine from lr to lrMin', () => {
    expect(cosineLearningRate(0, 100, 0.025, 0.001)).toBeCloseTo(0.025, 12);
    expect(cosineLearningRate(50, 100, 0.025, 0.001)).toBeCloseTo(0.013, 12);
    expect(cosineLearningRate(100, 100, 0.025, 0.001)).toBeCloseTo(0.001, 12);
    expect(cosineLearningRate(150, 100, 0.025, 0.001)).toBeCloseTo(0.001, 12);
  });

  it('single-path training lowers the loss of every architecture, reproducibly, without leaking tensors', () => {
    const train = blobs(256, 7);
    const test = blobs(256, 8);
    const s0 = initialTrainingState(spec, 9);
    const archs = architecturesInMask(fullMask(spec));
    const before = evaluateArchitectures(spec, s0.params, archs, test);
    const tensors = tf.memory().numTensors;
    const r = trainSupernet(spec, s0, fullMask(spec), train, { steps: 300, batchSize: 32, seed: 1, optimizer: { lr: 0.05 } });
    expect(tf.memory().numTensors).toBe(tensors);
    const after = evaluateArchitectures(spec, r.state.params, archs, test);
    after.forEach((a, i) => expect(a.loss).toBeLessThan(before[i].loss));
    expect(Math.min(...after.map((a) => a.accuracy))).toBeGreaterThan(0.8);
    expect(
      trainSupernet(spec, s0, fullMask(spec), train, { steps: 300, batchSize: 32, seed: 1, optimizer: { lr: 0.05 } }).state.params,
    ).toEqual(r.state.params);
  });
});

describe('stand-alone training, spawning and derivation', () => {
  it('stand-alone training touches only its own path', () => {
    const r = trainStandalone(spec, [2, 3], blobs(64, 1), { steps: 20, batchSize: 16, seed: 0, initSeed: 4 });
    const init = initialSupernetParameters(spec, 4);
    for (const s of supernetLayout(spec).segments) {
      const changed = r.state.params.subarray(s.offset, s.offset + s.size).some((p, i) => p !== init[s.offset + i]);
      expect(changed).toBe(s.owner !== 'op' || (s.edge === 0 && s.op === 2));
    }
    expect(() => trainStandalone(spec, [4, 0], blobs(8, 1), { steps: 1, seed: 0, initSeed: 0 })).toThrow(/trainStandalone: architecture/);
  });

  it('children inherit a copy of the parent state, or start fresh when re-initialised', () => {
    const parent = trainSupernet(spec, initialTrainingState(spec, 1), fullMask(spec), blobs(32, 1), {
      steps: 3,
      batchSize: 8,
      seed: 0,
    }).state;
    const root = rootNode(spec);
    const [a] = splitNode(
      spec,
      root,
      0,
      [
        [0, 1],
        [2, 3],
      ],
      { reinit: false },
    ).children;
    const [b] = splitNode(
      spec,
      root,
      0,
      [
        [0, 1],
        [2, 3],
      ],
      { reinit: true },
    ).children;
    const inherited = spawnTrainingState(spec, parent, a, 99);
    expect(inherited.params).toEqual(parent.params);
    expect(inherited.params).not.toBe(parent.params);
    expect(inherited.velocity).toEqual(parent.velocity);
    expect(inherited.step).toBe(3);
    const fresh = spawnTrainingState(spec, parent, b, 99);
    expect(fresh.params).toEqual(initialSupernetParameters(spec, 99));
    expect(fresh.step).toBe(0);
    expect(fresh.velocity.every((v) => v === 0)).toBe(true);
  });

  it('derives the candidate with the best shared-weight loss inside the mask', () => {
    const params = trainSupernet(spec, initialTrainingState(spec, 2), fullMask(spec), blobs(128, 2), { steps: 50, batchSize: 32, seed: 0 })
      .state.params;
    const val = blobs(64, 3);
    const mask = fullMask(spec);
    mask[1] = [true, true, false, false];
    const d = deriveArchitecture(spec, params, mask, val);
    expect(d.evaluated).toHaveLength(8); // 4 × 2 ≤ 200: all of them, in lexicographic order
    expect(d.best.loss).toBe(Math.min(...d.evaluated.map((c) => c.loss)));
    expect(d.best.loss).toBeCloseTo(evaluateSupernet(spec, params, pathWeights(spec, d.best.architecture), val).loss, 6);
    // More candidates than allowed: that many distinct random ones.
    const sampled = deriveArchitecture(spec, params, fullMask(spec), val, { maxCandidates: 5, seed: 1 });
    expect(new Set(sampled.evaluated.map((c) => c.architecture.join())).size).toBe(5);
    expect(() => deriveArchitecture(spec, params, mask, val, { maxCandidates: 0 })).toThrow(/maxCandidates/);
  });
});
