import * as tf from '@tensorflow/tfjs';
import { useWasmBackend } from '../models/backend';
import { createRng, type Rng } from '../random';
import { combineScores, gmMatrix, gmScoreSums, sharedWeightRanges, type GmScoreSums } from './gm-score';
import { selectEdge } from './partition';
import {
  chainSupernet,
  fullMask,
  initialSupernetParameters,
  supernetLayout,
  uniformWeights,
  type OpSpec,
  type SupernetSpec,
} from './search-space';
import { evaluateSupernet, type Samples } from './supernet';
import { initialTrainingState, trainSupernet } from './training';

beforeAll(async () => {
  expect(await useWasmBackend()).toBe('wasm');
});

const fixed = (rows: number[][]): OpSpec => ({ kind: 'fixed', matrix: rows.flat() });

/**
 * Width 2, no stem, edge 0 (4 fixed ops) → edge 1 (the identity) → readout W (2×1, no bias), mse.
 * With W = 0 and one sample (x, y = 1): out = x·A_o·W, ∂L/∂W = 2(out − y)·(x·A_o)ᵀ = −2 (x·A_o)ᵀ,
 * so g_o is −2 × (row of A_o picked by x), and the cosines are those of these rows.
 */
const handSpec: SupernetSpec = {
  inputSize: 2,
  width: 2,
  outputSize: 1,
  stem: false,
  readoutBias: false,
  nodes: 3,
  edges: [
    {
      from: 0,
      to: 1,
      ops: [
        fixed([
          [1, 0],
          [0, 1],
        ]),
        fixed([
          [1, 1],
          [0, 1],
        ]),
        fixed([
          [0, 1],
          [1, 0],
        ]),
        fixed([
          [-1, 0],
          [0, -1],
        ]),
      ],
    },
    {
      from: 1,
      to: 2,
      ops: [
        fixed([
          [1, 0],
          [0, 1],
        ]),
      ],
    },
  ],
  loss: 'mse',
};
const batchX0: Samples = { inputs: Float32Array.from([1, 0]), targets: Float32Array.from([1]), size: 1 };
const batchX1: Samples = { inputs: Float32Array.from([0, 1]), targets: Float32Array.from([1]), size: 1 };

describe('GM scores (docs/algorithms/gm-nas.md §3.2)', () => {
  it('are the per-batch cosines of the shared gradients, averaged over batches', () => {
    const params = new Float32Array(2); // W = 0
    const r = gmMatrix(handSpec, params, fullMask(handSpec), 0, [batchX0, batchX1], { sharedWeights: 'all' });
    // Batch x = (1, 0): rows 0 of A_o = (1,0), (1,1), (0,1), (−1,0).
    //   cos: 01 = 1/√2, 02 = 0, 03 = −1, 12 = 1/√2, 13 = −1/√2, 23 = 0.
    // Batch x = (0, 1): rows 1 = (0,1), (0,1), (1,0), (0,−1).
    //   cos: 01 = 1, 02 = 0, 03 = −1, 12 = 0, 13 = −1, 23 = 0.
    // Mean of the two (NOT the cosine of the summed gradients, which gives 3/√10 ≈ 0.949 for 01).
    // ‖g‖ ≥ 2, so the 1e-6 guard changes the values by < 1e-6.
    const s = Math.SQRT1_2;
    const expected = [
      [1, (s + 1) / 2, 0, -1],
      [(s + 1) / 2, 1, s / 2, (-s - 1) / 2],
      [0, s / 2, 1, 0],
      [-1, (-s - 1) / 2, 0, 1],
    ];
    expect(r.ops).toEqual([0, 1, 2, 3]);
    expect(r.batches).toBe(2);
    expect(r.degenerateBatches).toBe(0);
    r.matrix.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(expected[i][j], 5)));
  });

  it('agents can score separately: combined sums equal one joint call', () => {
    const params = new Float32Array(2);
    const mask = fullMask(handSpec);
    const a = gmScoreSums(handSpec, params, mask, 0, [batchX0], { sharedWeights: 'all' });
    const b = gmScoreSums(handSpec, params, mask, 0, [batchX1], { sharedWeights: 'all' });
    const joint = gmMatrix(handSpec, params, mask, 0, [batchX0, batchX1], { sharedWeights: 'all' });
    // JSON round trip: what travels over the wire.
    const merged = combineScores(JSON.parse(JSON.stringify([a, b])) as GmScoreSums[]);
    merged.matrix.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(joint.matrix[i][j], 12)));
    expect(merged.batches).toBe(2);
    expect(() => combineScores([a, { ...b, edge: 1 }])).toThrow(/combineScores: part 1 scores edge 1/);
    expect(() => combineScores([])).toThrow(/at least one part/);
  });

  it('scores only the enabled ops of a sub-supernet edge', () => {
    const mask = fullMask(handSpec);
    mask[0] = [true, false, true, true];
    const r = gmMatrix(handSpec, new Float32Array(2), mask, 0, [batchX0], { sharedWeights: 'all' });
    expect(r.ops).toEqual([0, 2, 3]);
    // Ops 0, 2, 3 of batch x = (1, 0): cos 02 = 0, 03 = −1, 23 = 0.
    expect(r.matrix[0][2]).toBeCloseTo(-1, 5);
    expect(r.matrix[0][1]).toBeCloseTo(0, 5);
  });

  it('degenerate case: a mixture that averages to zero gives zero gradients, cosines 0, and is counted', () => {
    // Edge 1 = {+I, −I}: the uniform mixture is 0, so out = 0 and ∂L/∂W = 0 for every op of edge 0.
    const spec: SupernetSpec = {
      ...handSpec,
      edges: [
        handSpec.edges[0],
        {
          from: 1,
          to: 2,
          ops: [
            fixed([
              [1, 0],
              [0, 1],
            ]),
            fixed([
              [-1, 0],
              [0, -1],
            ]),
          ],
        },
      ],
    };
    const r = gmMatrix(spec, Float32Array.from([0.3, -0.2]), fullMask(spec), 0, [batchX0, batchX1], { sharedWeights: 'all' });
    expect(r.degenerateBatches).toBe(2);
    r.matrix.flat().forEach((v) => expect(Math.abs(v)).toBeLessThan(1e-9));
  });

  it('Ω_e excludes exactly the ops of the scored edge; all adds the stem and the readout', () => {
    const spec = chainSupernet({ inputSize: 3, width: 2, outputSize: 2, edges: 2, ops: ['linear', 'skip'] });
    // Layout: stem W 3×2 (0..5), b (6..7); edge 0 linear W (8..11), b (12..13); edge 1 linear W (14..17), b (18..19); readout W 2×2 (20..23), b (24..25).
    expect(supernetLayout(spec).size).toBe(26);
    expect(sharedWeightRanges(spec, 0)).toEqual([[14, 20]]);
    expect(sharedWeightRanges(spec, 1)).toEqual([[8, 14]]);
    expect(sharedWeightRanges(spec, 0, 'all')).toEqual([
      [0, 8],
      [14, 26],
    ]);
    expect(() => sharedWeightRanges(spec, 2)).toThrow(/edge must be an integer in \[0, 2\)/);
  });

  it('single-path mode is symmetric, deterministic per seed, and leaks no tensors', () => {
    const spec = chainSupernet({ inputSize: 4, width: 6, outputSize: 3, edges: 3 });
    const params = initialSupernetParameters(spec, 1);
    const rng = createRng(2);
    const batches: Samples[] = Array.from({ length: 3 }, () => ({
      inputs: Float32Array.from({ length: 8 * 4 }, () => rng.normal()),
      targets: Int32Array.from({ length: 8 }, () => rng.int(3)),
      size: 8,
    }));
    const before = tf.memory().numTensors;
    const a = gmScoreSums(spec, params, fullMask(spec), 1, batches, { mode: 'single-path', seed: 5 });
    const m = gmMatrix(spec, params, fullMask(spec), 1, batches, { mode: 'mixture' });
    expect(tf.memory().numTensors).toBe(before);
    expect(gmScoreSums(spec, params, fullMask(spec), 1, batches, { mode: 'single-path', seed: 5 })).toEqual(a);
    for (const s of [a.sums, m.matrix]) {
      s.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(s[j][i], 12)));
    }
    // Diagonal: ‖g‖² / (‖g‖² + 1e-6) ≈ 1 per non-degenerate batch.
    m.matrix.forEach((row, i) => expect(row[i]).toBeCloseTo(1, 4));
    expect(() => gmScoreSums(spec, params, fullMask(spec), 1, [])).toThrow(/at least one batch/);
  });
});

/** A random orthogonal matrix (Gram–Schmidt on Gaussian columns), row-major. */
function orthogonal(n: number, rng: Rng): number[][] {
  const q: number[][] = [];
  while (q.length < n) {
    const v = Array.from({ length: n }, () => rng.normal());
    for (const u of q) {
      const d = u.reduce((s, ui, i) => s + ui * v[i], 0);
      u.forEach((ui, i) => (v[i] -= d * ui));
    }
    const norm = Math.hypot(...v);
    q.push(v.map((x) => x / norm));
  }
  return q;
}

const plusNoise = (m: number[][], rng: Rng): number[][] => m.map((row) => row.map((v) => v + 0.05 * rng.normal()));

/** The toy regression of docs/algorithms/gm-nas.md §12, check 5: y = B·x + 0.1·noise, x ∈ R^16 ~ N(0, I), B ∈ R^{4×16}. */
function toySamples(n: number, b: number[][], rng: Rng): Samples {
  const inputs = Float32Array.from({ length: n * 16 }, () => rng.normal());
  const targets = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 4; k++) {
      let s = 0;
      for (let j = 0; j < 16; j++) s += b[k][j] * inputs[i * 16 + j];
      targets[i * 4 + k] = s + 0.1 * rng.normal();
    }
  }
  return { inputs, targets, size: n };
}

describe('docs/algorithms/gm-nas.md §12, check 5: toy supernet', () => {
  // Edge 0: [P, P + 0.05N, Q, Q + 0.05N] (two clusters); edge 1: [R + 0.05N₁..₄] (one cluster);
  // the only shared weight is the readout W (4×16, init 0.01·N(0,1)).
  const rng = createRng(82);
  const [P, Q, R] = [orthogonal(16, rng), orthogonal(16, rng), orthogonal(16, rng)];
  const spec: SupernetSpec = {
    inputSize: 16,
    width: 16,
    outputSize: 4,
    stem: false,
    readoutBias: false,
    nodes: 3,
    edges: [
      { from: 0, to: 1, ops: [P, plusNoise(P, rng), Q, plusNoise(Q, rng)].map(fixed) },
      { from: 1, to: 2, ops: [0, 1, 2, 3].map(() => fixed(plusNoise(R, rng))) },
    ],
    loss: 'mse',
  };
  const B = Array.from({ length: 4 }, () => Array.from({ length: 16 }, () => rng.normal()));
  const W0 = Float32Array.from({ length: 64 }, () => 0.01 * rng.normal());
  const scoreBatches = Array.from({ length: 100 }, () => toySamples(128, B, rng));
  const decide = (params: Float32Array): ReturnType<typeof selectEdge> =>
    selectEdge([0, 1].map((e) => gmMatrix(spec, params, fullMask(spec), e, scoreBatches, { sharedWeights: 'all' })));

  it('at initialisation splits edge 0 into {0,1} | {2,3}', () => {
    const before = tf.memory().numTensors;
    const d = decide(W0);
    expect(tf.memory().numTensors).toBe(before);
    expect(d.edge).toBe(0);
    expect(d.groups).toEqual([
      [0, 1],
      [2, 3],
    ]);
    // With W ≈ 0, g_o ≈ −E[y hᵀ] = −B·M_oᵀ with M_o the path's matrix. On edge 1 every op is
    // R + 0.05N: cos ≈ ‖R‖²/(‖R‖² + ‖0.05N‖²) = 16/(16 + 0.64) ≈ 0.96, so the best 2/2 cut is
    // ≈ 4 × 0.96 = 3.85 (spec run: 3.83). Edge 0's cut only holds P–Q cross terms (spec run: 0.73).
    const [e0, e1] = d.candidates;
    expect(e1.cut).toBeGreaterThan(3.5);
    expect(e1.cut).toBeLessThan(4);
    expect(e0.cut).toBeLessThan(e1.cut - 2);
  });

  it('after 50 warm-up SGD steps on the uniform mixture still splits edge 0 into {0,1} | {2,3}', () => {
    const state = { ...initialTrainingState(spec, 0), params: W0.slice() };
    const warm = trainSupernet(spec, state, fullMask(spec), toySamples(50 * 128, B, rng), {
      steps: 50,
      batchSize: 128,
      mode: 'mixture',
      seed: 1,
      optimizer: { lr: 0.1, lrMin: 0.1, momentum: 0, nesterov: false, weightDecay: 0, clipNorm: Infinity },
    });
    // The warm-up learned something: the mixture's loss went down.
    const fresh = toySamples(512, B, rng);
    const loss = (p: Float32Array): number => evaluateSupernet(spec, p, uniformWeights(fullMask(spec)), fresh).loss;
    expect(loss(warm.state.params)).toBeLessThan(0.9 * loss(W0));
    const d = decide(warm.state.params);
    expect(d.edge).toBe(0);
    expect(d.groups).toEqual([
      [0, 1],
      [2, 3],
    ]);
  });
});
