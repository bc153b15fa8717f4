import { createRng } from '../random';
import { cellPass } from './cell-network';
import {
  alphaGradient,
  argmaxArchitecture,
  cellGmMatrix,
  cellSharedWeightRanges,
  dartsUnrolledAlphaGradient,
  gumbelSoftmaxSample,
  initialCellTrainingState,
  snasTemperature,
  trainCellSupernet,
} from './cell-search';
import { CELL_EDGES, CELL_OPS, cellLayout, fullCellMask, initialCellParameters, type CellSpaceSpec } from './cell-space';
import { maskedSoftmax } from './search-space';
import type { Samples } from './supernet';

const tiny: CellSpaceSpec = { height: 4, width: 4, inputChannels: 1, channels: 2, cellsPerStage: 1, stages: 2, classes: 3 };

function randomBatch(size: number, seed: number): Samples {
  const rng = createRng(seed);
  return {
    inputs: new Float32Array(size * 16).map(() => rng.normal()),
    targets: new Int32Array(size).map(() => rng.int(3)),
    size,
  };
}

/** A mask with a few ops disabled, so that the masked softmax and its Jacobian are exercised. */
function partialMask(): boolean[][] {
  const m = fullCellMask();
  m[0][0] = false;
  m[2][3] = false;
  m[2][4] = false;
  m[5][1] = false;
  return m;
}

function randomAlpha(seed: number): number[][] {
  const rng = createRng(seed);
  return CELL_EDGES.map(() => CELL_OPS.map(() => rng.normal()));
}

describe('DARTS', () => {
  const params = initialCellParameters(tiny, 3);
  const batch = randomBatch(4, 5);
  const mask = partialMask();
  const alpha = randomAlpha(9);
  const lossAt = (a: number[][]): number => cellPass(tiny, params, maskedSoftmax(a, mask), batch).loss;

  it('gives the α gradient of the validation loss that central finite differences give', () => {
    const theta = maskedSoftmax(alpha, mask);
    const dTheta = CELL_EDGES.map(() => CELL_OPS.map(() => 0));
    cellPass(tiny, params, theta, batch, { weightGradient: dTheta });
    const grad = alphaGradient(theta, dTheta, mask);
    const eps = 1e-3;
    let largest = 0;
    mask.forEach((row, e) =>
      row.forEach((on, o) => {
        if (!on) {
          // A disabled op has no weight in the mixture, hence no gradient.
          expect(grad[e][o]).toBe(0);
          return;
        }
        const a = alpha.map((r) => r.slice());
        a[e][o] += eps;
        const up = lossAt(a);
        a[e][o] -= 2 * eps;
        const fd = (up - lossAt(a)) / (2 * eps);
        expect(Math.abs(grad[e][o] - fd)).toBeLessThan(1e-3 + 1e-2 * Math.abs(fd));
        largest = Math.max(largest, Math.abs(fd));
      }),
    );
    expect(largest).toBeGreaterThan(1e-3);
  });

  it('takes its first α step against that gradient (Adam: −lr · sign) and leaves disabled ops alone', () => {
    // The validation split is exactly one batch, so the step's batch is this batch (BN statistics and the mean
    // loss do not depend on the row order).
    const theta = maskedSoftmax(alpha, mask);
    const dTheta = CELL_EDGES.map(() => CELL_OPS.map(() => 0));
    cellPass(tiny, params, theta, batch, { weightGradient: dTheta });
    const grad = alphaGradient(theta, dTheta, mask);
    const state = initialCellTrainingState(tiny, 3);
    state.arch.alpha = alpha.map((r) => r.slice());
    const lr = 0.01;
    const next = trainCellSupernet(tiny, state, mask, randomBatch(4, 77), {
      steps: 1,
      batchSize: 4,
      mode: 'darts',
      validation: batch,
      arch: { lr, weightDecay: 0 },
      seed: 1,
    }).state;
    mask.forEach((row, e) =>
      row.forEach((on, o) => {
        const moved = next.arch.alpha[e][o] - alpha[e][o];
        if (!on || Math.abs(grad[e][o]) < 1e-7) expect(moved).toBeCloseTo(0, 6);
        else expect(moved).toBeCloseTo(-lr * Math.sign(grad[e][o]), 5);
      }),
    );
    // The weights moved as well (the weight step follows the α step).
    expect(next.params.some((v, i) => v !== state.params[i])).toBe(true);
    expect(next.step).toBe(1);
  });

  it('keeps α frozen when learnAlpha is false (the split phase)', () => {
    const state = initialCellTrainingState(tiny, 3);
    state.arch.alpha = alpha.map((r) => r.slice());
    const next = trainCellSupernet(tiny, state, mask, batch, { steps: 2, batchSize: 4, mode: 'darts', learnAlpha: false, seed: 1 }).state;
    expect(next.arch.alpha).toEqual(alpha);
  });
});

describe('DARTS, second order', () => {
  const mask = partialMask();
  const alpha = randomAlpha(4);
  const state = { params: initialCellParameters(tiny, 6), velocity: initialCellParameters(tiny, 8).map((v) => 0.1 * v) };
  const trainBatch = randomBatch(16, 21);
  const validation = randomBatch(16, 22);
  const sgd = { lr: 0.5, momentum: 0.9, weightDecay: 1e-3 };
  const theta = maskedSoftmax(alpha, mask);
  const n = state.params.length;
  const zeros = () => CELL_EDGES.map(() => CELL_OPS.map(() => 0));
  /** ∇_w and ∇_α of a batch's loss at weights w. */
  const grads = (w: Float32Array, batch: Samples) => {
    const g = new Float32Array(n);
    const d = zeros();
    cellPass(tiny, w, theta, batch, { gradient: g, weightGradient: d });
    return { w: g, alpha: alphaGradient(theta, d, mask) };
  };

  // The network's ReLUs make its θ-gradient kink within any finite-difference step, so the Hessian-vector product
  // cannot be checked against finite differences of the unrolled loss at a tight tolerance; instead each term of
  // DARTS' eq. 7–8 is computed here from its definition.
  it('is ∇_α L_val(w′) − ξ (∇_α L_train(w⁺) − ∇_α L_train(w⁻)) / 2ε at the virtual step w′ = w − ξ (μ v + ∇_w L_train + λ w)', () => {
    const g = grads(state.params, trainBatch).w;
    const unrolled = state.params.map((x, i) => x - sgd.lr * (sgd.momentum * state.velocity[i] + g[i] + sgd.weightDecay * x));
    const val = grads(unrolled, validation);
    const eps = 0.01 / Math.hypot(...val.w);
    const plus = grads(
      state.params.map((x, i) => x + eps * val.w[i]),
      trainBatch,
    ).alpha;
    const minus = grads(
      state.params.map((x, i) => x - eps * val.w[i]),
      trainBatch,
    ).alpha;
    const expected = val.alpha.map((row, e) => row.map((x, o) => x - (sgd.lr * (plus[e][o] - minus[e][o])) / (2 * eps)));
    const got = dartsUnrolledAlphaGradient(tiny, state, theta, mask, trainBatch, validation, sgd);
    got.forEach((row, e) => row.forEach((x, o) => expect(x).toBeCloseTo(expected[e][o], 6)));
    // The Hessian term matters here: the result is neither the first-order gradient at w nor the one at w′.
    const first = grads(state.params, validation).alpha;
    const off = (a: number[][]) => Math.max(...a.flatMap((row, e) => row.map((x, o) => Math.abs(x - got[e][o]))));
    expect(off(first)).toBeGreaterThan(1e-3);
    expect(off(val.alpha)).toBeGreaterThan(1e-3);
    // Disabled ops get no gradient.
    mask.forEach((row, e) => row.forEach((on, o) => on || expect(got[e][o]).toBe(0)));
  });

  it('tends to the first-order gradient as the virtual step ξ goes to 0', () => {
    const first = grads(state.params, validation).alpha;
    const tiny_ = dartsUnrolledAlphaGradient(tiny, state, theta, mask, trainBatch, validation, { ...sgd, lr: 1e-6 });
    tiny_.forEach((row, e) => row.forEach((x, o) => expect(x).toBeCloseTo(first[e][o], 4)));
  });

  it('drives the α step of trainCellSupernet with arch.order 2 (DARTS only)', () => {
    const start = { ...initialCellTrainingState(tiny, 6), params: state.params.slice(), velocity: state.velocity.slice() };
    start.arch.alpha = alpha.map((r) => r.slice());
    const lr = 0.01;
    const options = { steps: 1, batchSize: 16, validation, arch: { lr, weightDecay: 0, order: 2 as const }, seed: 1 };
    // One train row set and one validation batch: the step's batches are these (BN and the mean loss ignore row order).
    const next = trainCellSupernet(tiny, start, mask, trainBatch, {
      ...options,
      mode: 'darts',
      optimizer: { lr: 0.5, lrMin: 0.5, momentum: 0.9, weightDecay: 1e-3 },
    }).state;
    const g = dartsUnrolledAlphaGradient(tiny, start, maskedSoftmax(alpha, mask), mask, trainBatch, validation, sgd);
    mask.forEach((row, e) =>
      row.forEach((on, o) => {
        const moved = next.arch.alpha[e][o] - alpha[e][o];
        if (!on || Math.abs(g[e][o]) < 1e-7) expect(moved).toBeCloseTo(0, 6);
        else expect(moved).toBeCloseTo(-lr * Math.sign(g[e][o]), 5);
      }),
    );
    expect(() => trainCellSupernet(tiny, start, mask, trainBatch, { ...options, mode: 'snas' })).toThrow(
      /the second-order α gradient is DARTS'; mode is snas/,
    );
  });
});

describe('SNAS', () => {
  it('samples the arg-max of a Gumbel-softmax draw with probability softmax(α), at any temperature', () => {
    const mask = partialMask();
    const alpha = CELL_EDGES.map(() => [0.5, -1, 2, 0, 1]);
    const p = maskedSoftmax(alpha, mask);
    const rng = createRng(2024);
    const n = 20_000;
    for (const tau of [1, 0.3]) {
      const counts = CELL_EDGES.map(() => CELL_OPS.map(() => 0));
      let malformed = 0;
      for (let i = 0; i < n; i++) {
        const theta = gumbelSoftmaxSample(alpha, mask, tau, rng);
        theta.forEach((row, e) => {
          // Each draw is a distribution over the enabled ops.
          if (Math.abs(row.reduce((a, b) => a + b, 0) - 1) > 1e-9 || row.some((v, o) => !mask[e][o] && v !== 0)) malformed++;
          counts[e][row.indexOf(Math.max(...row))]++;
        });
      }
      expect(malformed).toBe(0);
      // Binomial frequencies: within 4 standard deviations of p.
      counts.forEach((row, e) =>
        row.forEach((c, o) => expect(Math.abs(c / n - p[e][o])).toBeLessThanOrEqual(4 * Math.sqrt((p[e][o] * (1 - p[e][o])) / n) + 1e-12)),
      );
    }
  });

  it('is nearly one-hot at a low temperature and nearly uniform at a high one', () => {
    const mask = fullCellMask();
    const alpha = randomAlpha(4);
    const rng = createRng(5);
    const meanMax = (tau: number): number => {
      let s = 0;
      for (let i = 0; i < 2000; i++) for (const row of gumbelSoftmaxSample(alpha, mask, tau, rng)) s += Math.max(...row);
      return s / (2000 * CELL_EDGES.length);
    };
    expect(meanMax(0.01)).toBeGreaterThan(0.99);
    // τ = 100: every weight within a few percent of 1/5.
    expect(meanMax(100)).toBeLessThan(0.25);
  });

  it('anneals the temperature geometrically from tauMax to tauMin', () => {
    expect(snasTemperature(0, 100)).toBeCloseTo(1, 12);
    expect(snasTemperature(50, 100)).toBeCloseTo(Math.sqrt(0.1), 12);
    expect(snasTemperature(100, 100)).toBeCloseTo(0.1, 12);
    expect(snasTemperature(400, 100, { tauMax: 5, tauMin: 0.5 })).toBeCloseTo(0.5, 12);
  });
});

describe('argmaxArchitecture', () => {
  it('picks the largest α among the enabled ops of each edge, ties to the lowest index', () => {
    const alpha = [
      [0, 1, 3, 2, 0],
      [5, 1, 1, 1, 1], // op 0 is disabled below: the tie 1, 2, 3, 4 goes to op 1
      [0, 0, 0, 0, 0],
      [-1, -2, -3, -4, -0.5],
      [0, 0, 9, 0, 0], // op 2 disabled: op 0 wins the tie of zeros
      [1, 2, 3, 4, 5],
    ];
    const mask = fullCellMask();
    mask[1][0] = false;
    mask[4][2] = false;
    expect(argmaxArchitecture(alpha, mask)).toEqual([2, 1, 0, 4, 0, 4]);
  });
});

describe('cell GM scores', () => {
  it('take Ω_e from every cell’s other edges and the reduction block, not from edge e, the stem or the classifier', () => {
    const layout = cellLayout(tiny);
    const ranges = cellSharedWeightRanges(tiny, 2);
    const inside = (i: number): boolean => ranges.some(([a, b]) => i >= a && i < b);
    for (const s of layout.segments) {
      const expected = s.owner === 'reduce' || (s.owner === 'cell' && s.edge !== 2);
      expect(inside(s.offset)).toBe(expected);
      expect(inside(s.offset + s.size - 1)).toBe(expected);
    }
    // Both cells (one per stage) contribute.
    expect(new Set(layout.segments.filter((s) => s.owner === 'cell' && inside(s.offset)).map((s) => s.cell))).toEqual(new Set([0, 1]));
  });

  it('give a symmetric cosine matrix with a unit diagonal over the enabled ops of the edge', () => {
    const params = initialCellParameters(tiny, 8);
    const mask = partialMask();
    const scores = cellGmMatrix(tiny, params, mask, 2, [randomBatch(4, 1), randomBatch(4, 2)]);
    expect(scores.ops).toEqual([0, 1, 2]);
    scores.matrix.forEach((row, i) =>
      row.forEach((v, j) => {
        expect(v).toBeCloseTo(scores.matrix[j][i], 12);
        if (i === j) expect(v).toBeCloseTo(1, 4);
        else expect(Math.abs(v)).toBeLessThanOrEqual(1);
      }),
    );
  });
});
