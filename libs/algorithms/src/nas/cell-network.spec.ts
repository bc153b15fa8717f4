import { createRng } from '../random';
import {
  CELL_EDGES,
  CELL_OPS,
  cellArchitectureFromIndex,
  cellArchitectureIndex,
  cellArchitectureString,
  cellLayout,
  cellPathWeights,
  initialCellParameters,
  isCellConnected,
  type CellSpaceSpec,
} from './cell-space';
import { cellPass } from './cell-network';
import type { Samples } from './supernet';

/** A tiny network for finite differences: 4×4 images, 2 channels, two stages of one cell. */
const tiny: CellSpaceSpec = { height: 4, width: 4, inputChannels: 1, channels: 2, cellsPerStage: 1, stages: 2, classes: 3 };

function randomBatch(spec: CellSpaceSpec, size: number, seed: number): Samples {
  const rng = createRng(seed);
  const inputs = new Float32Array(size * spec.height * spec.width * spec.inputChannels).map(() => rng.normal());
  const targets = new Int32Array(size).map(() => rng.int(spec.classes));
  return { inputs, targets, size };
}

/** Strictly positive op weights on every op, so that every parameter and every θ takes part. */
function randomWeights(seed: number): number[][] {
  const rng = createRng(seed);
  return CELL_EDGES.map(() => CELL_OPS.map(() => 0.2 + 0.8 * rng.next()));
}

describe('cell space', () => {
  it('counts the parameters of stem, cells, reduction block and classifier as by hand', () => {
    // C = 8, one cell per stage, two stages, 10 classes, 1 input channel; convolutions have no bias (BN follows):
    // stem conv 3×3 1→8: 8·1·9 = 72
    // stage-0 cell, per edge conv 1×1 (8·8 = 64) + conv 3×3 (8·8·9 = 576) = 640, × 6 edges = 3,840
    // reduction conv 1×1 8→16: 16·8 = 128
    // stage-1 cell, per edge conv 1×1 (16·16 = 256) + conv 3×3 (16·16·9 = 2,304) = 2,560, × 6 = 15,360
    // classifier 16→10: 160 + 10 = 170.   Total 72 + 3,840 + 128 + 15,360 + 170 = 19,570.
    const spec: CellSpaceSpec = { height: 8, width: 8, inputChannels: 1, channels: 8, cellsPerStage: 1, stages: 2, classes: 10 };
    const layout = cellLayout(spec);
    expect(layout.size).toBe(19_570);
    const byOwner = (o: string): number => layout.segments.filter((s) => s.owner === o).reduce((n, s) => n + s.size, 0);
    expect([byOwner('stem'), byOwner('cell'), byOwner('reduce'), byOwner('head')]).toEqual([72, 3_840 + 15_360, 128, 170]);
    // Two cells per stage double the cell weights only.
    expect(cellLayout({ ...spec, cellsPerStage: 2 }).size).toBe(19_570 + 3_840 + 15_360);
  });

  it('numbers, names and validates architectures as NAS-Bench-201 does', () => {
    expect(CELL_OPS.length ** CELL_EDGES.length).toBe(15_625);
    const arch = [3, 1, 0, 2, 4, 3];
    expect(cellArchitectureFromIndex(cellArchitectureIndex(arch))).toEqual(arch);
    expect(cellArchitectureIndex([4, 4, 4, 4, 4, 4])).toBe(15_624);
    expect(cellArchitectureString(arch)).toBe('|conv3x3~0|+|skip~0|none~1|+|conv1x1~0|avgpool3x3~1|conv3x3~2|');
    // Only 0→3 carries the input: connected. Cutting 0→3 and every path into node 3: not.
    expect(isCellConnected([0, 0, 0, 1, 0, 0])).toBe(true);
    expect(isCellConnected([1, 1, 1, 0, 0, 0])).toBe(false);
    expect(isCellConnected([1, 0, 0, 0, 1, 0])).toBe(true);
  });
});

describe('cellPass', () => {
  const params = initialCellParameters(tiny, 7);
  const batch = randomBatch(tiny, 3, 11);
  const weights = randomWeights(13);

  it('matches central finite differences for every parameter', () => {
    const grad = new Float32Array(params.length);
    cellPass(tiny, params, weights, batch, { gradient: grad });
    // Float32 activations leave ~1e-4 / eps of rounding in a difference quotient, and a step can cross a ReLU
    // kink (one at eps = 1e-3 does): a parameter passes when either step, 1e-3 or 3e-4, agrees.
    const quotient = (p: Float32Array, i: number, eps: number): number => {
      const v = p[i];
      p[i] = v + eps;
      const up = cellPass(tiny, p, weights, batch).loss;
      p[i] = v - eps;
      const down = cellPass(tiny, p, weights, batch).loss;
      p[i] = v;
      return (up - down) / (2 * eps);
    };
    let worst = 0;
    const p = params.slice();
    for (let i = 0; i < p.length; i++) {
      const err = (fd: number): number => Math.abs(fd - grad[i]) / (1e-3 + 1e-2 * Math.abs(fd));
      worst = Math.max(worst, Math.min(err(quotient(p, i, 1e-3)), err(quotient(p, i, 3e-4))));
    }
    expect(worst).toBeLessThan(1);
    // The check is not vacuous: the gradient is far from zero.
    expect(Math.max(...Array.from(grad, Math.abs))).toBeGreaterThan(1e-2);
  });

  it('matches central finite differences for the op weights θ (summed over cells)', () => {
    const dTheta = CELL_EDGES.map(() => CELL_OPS.map(() => 0));
    cellPass(tiny, params, weights, batch, { weightGradient: dTheta });
    const eps = 1e-3;
    for (let e = 0; e < CELL_EDGES.length; e++) {
      for (let o = 0; o < CELL_OPS.length; o++) {
        const w = weights.map((row) => row.slice());
        w[e][o] += eps;
        const up = cellPass(tiny, params, w, batch).loss;
        w[e][o] -= 2 * eps;
        const down = cellPass(tiny, params, w, batch).loss;
        const fd = (up - down) / (2 * eps);
        expect(Math.abs(dTheta[e][o] - fd)).toBeLessThan(2e-3 + 2e-2 * Math.abs(fd));
      }
    }
    // `none` contributes nothing; a parameterised op does.
    expect(dTheta.every((row) => row[0] === 0)).toBe(true);
    expect(Math.abs(dTheta[5][3])).toBeGreaterThan(1e-3);
  });

  it('on a single path, reads only the path’s ops and marks the others unused', () => {
    const arch = [3, 1, 0, 2, 4, 0];
    const used: boolean[] = [];
    const grad = new Float32Array(params.length);
    cellPass(tiny, params, cellPathWeights(arch), batch, { gradient: grad, used });
    const layout = cellLayout(tiny);
    layout.segments.forEach((s, i) => {
      const onPath = s.owner !== 'cell' || arch[s.edge] === s.op;
      expect(used[i]).toBe(onPath);
      if (!onPath) expect(grad.subarray(s.offset, s.offset + s.size).every((v) => v === 0)).toBe(true);
    });
    // Changing an op off the path does not change the loss.
    const off = layout.segments.find((s) => s.owner === 'cell' && s.edge === 0 && s.op === 2)!;
    const p = params.slice();
    p.fill(5, off.offset, off.offset + off.size);
    expect(cellPass(tiny, p, cellPathWeights(arch), batch).loss).toBe(cellPass(tiny, params, cellPathWeights(arch), batch).loss);
  });
});
