import * as tf from '@tensorflow/tfjs';
import { useWasmBackend } from '../models/backend';
import { createRng } from '../random';
import {
  architecturesInMask,
  chainSupernet,
  checkSupernet,
  fullMask,
  initialSupernetParameters,
  isConnected,
  maskedSoftmax,
  pathWeights,
  samplePath,
  supernetLayout,
  uniformWeights,
  type SupernetSpec,
} from './search-space';
import { connectedSegments, evaluateArchitectures, evaluateSupernet, randomBatches, supernetGradient, type Samples } from './supernet';

beforeAll(async () => {
  expect(await useWasmBackend()).toBe('wasm');
});

function classification(spec: SupernetSpec, n: number, seed: number): Samples {
  const rng = createRng(seed);
  return {
    inputs: Float32Array.from({ length: n * spec.inputSize }, () => rng.normal()),
    targets: Int32Array.from({ length: n }, () => rng.int(spec.outputSize)),
    size: n,
  };
}

describe('search space', () => {
  const spec = chainSupernet({ inputSize: 64, width: 16, outputSize: 10 });

  it('lays out stem, parameterised ops edge by edge, readout', () => {
    const layout = supernetLayout(spec);
    // Stem 64·16 + 16 = 1040; 3 edges × 3 parameterised ops × (16·16 + 16) = 2448; readout 16·10 + 10 = 170.
    expect(layout.size).toBe(1040 + 2448 + 170);
    expect(layout.segments.filter((s) => s.owner === 'op')).toHaveLength(3 * 3 * 2);
    expect(layout.segments.find((s) => s.owner === 'op' && s.edge === 1 && s.op === 2 && s.role === 'weight')?.offset).toBe(
      1040 + 816 + 2 * 272,
    );
    // No parameters for skip (op 3).
    expect(layout.segments.some((s) => s.owner === 'op' && s.op === 3)).toBe(false);
  });

  it('enumerates architectures and masks', () => {
    expect(architecturesInMask(fullMask(spec))).toHaveLength(64);
    const mask = fullMask(spec);
    mask[0] = [false, true, false, true];
    const archs = architecturesInMask(mask);
    expect(archs).toHaveLength(32);
    expect(archs[0]).toEqual([1, 0, 0]);
    expect(archs[31]).toEqual([3, 3, 3]);
    expect(uniformWeights(mask)[0]).toEqual([0, 0.5, 0, 0.5]);
    // softmax over enabled ops only: e^1/(e^1 + e^0) at op 1.
    expect(
      maskedSoftmax(
        [
          [0, 1, 5, 0],
          [0, 0, 0, 0],
          [0, 0, 0, 0],
        ],
        mask,
      )[0][1],
    ).toBeCloseTo(Math.E / (Math.E + 1), 12);
  });

  it('resamples single paths cut by zero ops (NB201 validity check)', () => {
    const withZero = chainSupernet({ inputSize: 2, width: 2, outputSize: 2, edges: 2, ops: ['zero', 'skip'] });
    expect(isConnected(withZero, [1, 1])).toBe(true);
    expect(isConnected(withZero, [0, 1])).toBe(false);
    const rng = createRng(3);
    for (let i = 0; i < 20; i++) expect(samplePath(withZero, fullMask(withZero), rng)).toEqual([1, 1]);
  });

  it('rejects malformed specs, naming the problem', () => {
    expect(() => checkSupernet({ ...spec, stem: false })).toThrow(/without a stem, inputSize \(64\) must equal width \(16\)/);
    expect(() => checkSupernet({ ...spec, edges: [{ from: 1, to: 1, ops: [{ kind: 'skip' }] }] })).toThrow(
      /edge 0 must go from a lower to a higher node/,
    );
    expect(() => checkSupernet({ ...spec, nodes: 5 })).toThrow(/node 4 has no incoming edge/);
  });
});

describe('supernet forward and gradient', () => {
  const spec = chainSupernet({
    inputSize: 3,
    width: 4,
    outputSize: 3,
    edges: 2,
    ops: ['linear', 'relu-linear', 'tanh-linear', 'skip', 'zero'],
  });
  const params = initialSupernetParameters(spec, 11);
  const batch = classification(spec, 5, 12);

  it('single path skip–skip is the linear model (x·Ws + bs)·Wr + br', () => {
    const layout = supernetLayout(spec);
    const p = params.slice();
    const rng = createRng(1);
    for (let i = 0; i < p.length; i++) p[i] += 0.1 * rng.normal(); // non-zero biases too
    const [ws, bs] = [layout.segments[0], layout.segments[1]];
    const [wr, br] = layout.segments.slice(-2);
    let loss = 0;
    let correct = 0;
    for (let n = 0; n < batch.size; n++) {
      const h = [0, 1, 2, 3].map(
        (j) => p[bs.offset + j] + [0, 1, 2].reduce((s, i) => s + batch.inputs[n * 3 + i] * p[ws.offset + i * 4 + j], 0),
      );
      const z = [0, 1, 2].map((k) => p[br.offset + k] + h.reduce((s, hj, j) => s + hj * p[wr.offset + j * 3 + k], 0));
      const lse = Math.log(z.reduce((s, v) => s + Math.exp(v), 0));
      loss += (lse - z[batch.targets[n]]) / batch.size;
      if (z.indexOf(Math.max(...z)) === batch.targets[n]) correct++;
    }
    const r = evaluateSupernet(spec, p, pathWeights(spec, [3, 3]), batch);
    expect(r.loss).toBeCloseTo(loss, 5);
    expect(r.accuracy).toBeCloseTo(correct / batch.size, 12);
    expect(evaluateArchitectures(spec, p, [[3, 3]], batch)[0].loss).toBeCloseTo(loss, 5);
  });

  it('gradients match central finite differences (mixture and single path)', () => {
    const mask = fullMask(spec);
    const rng = createRng(5);
    for (const weights of [
      uniformWeights(mask),
      pathWeights(spec, [1, 2]),
      maskedSoftmax(
        [
          [0.3, -1, 2, 0, 0.5],
          [1, 0, 0, -0.4, 0],
        ],
        mask,
      ),
    ]) {
      const { gradient, loss } = supernetGradient(spec, params, weights, batch);
      expect(loss).toBeCloseTo(evaluateSupernet(spec, params, weights, batch).loss, 5);
      // 12 random coordinates; float32 losses with h = 1e-2: truncation O(h²) and rounding ~1e-5.
      for (let k = 0; k < 12; k++) {
        const i = rng.int(params.length);
        const plus = params.slice();
        const minus = params.slice();
        plus[i] += 1e-2;
        minus[i] -= 1e-2;
        const fd = (evaluateSupernet(spec, plus, weights, batch).loss - evaluateSupernet(spec, minus, weights, batch).loss) / 2e-2;
        expect(gradient[i]).toBeCloseTo(fd, 3);
      }
    }
  });

  it('parameters the loss does not depend on are disconnected and get zero gradient', () => {
    // Path [linear, zero]: edge 1 cuts the cell, so the stem and edge 0 do not reach the readout.
    const layout = supernetLayout(spec);
    const weights = pathWeights(spec, [0, 4]);
    const connected = connectedSegments(spec, layout, weights);
    layout.segments.forEach((s, i) => expect(connected[i]).toBe(s.owner === 'readout'));
    const { gradient } = supernetGradient(spec, params, weights, batch);
    layout.segments.forEach((s) => {
      const nonZero = gradient.subarray(s.offset, s.offset + s.size).some((g) => g !== 0);
      if (s.owner !== 'readout') expect(nonZero).toBe(false);
    });
    // The readout bias still gets the gradient of softmax(br) against the labels.
    expect(gradient.subarray(layout.size - 3).some((g) => g !== 0)).toBe(true);
  });

  it('draws distinct random rows per batch, and leaks no tensors', () => {
    const samples = classification(spec, 20, 3);
    const batches = randomBatches(spec, samples, 4, 6, createRng(1));
    expect(batches.map((b) => b.size)).toEqual([6, 6, 6, 6]);
    const before = tf.memory().numTensors;
    supernetGradient(spec, params, uniformWeights(fullMask(spec)), batches[0]);
    evaluateArchitectures(spec, params, architecturesInMask(fullMask(spec)), samples);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => evaluateArchitectures(spec, params, [[0, 7]], samples)).toThrow(/architecture 0 must pick one op index per edge/);
    expect(() => supernetGradient(spec, params.subarray(1), uniformWeights(fullMask(spec)), batches[0])).toThrow(/parameters have length/);
  });
});
