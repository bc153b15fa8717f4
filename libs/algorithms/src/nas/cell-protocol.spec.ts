import { createRng } from '../random';
import { runCellSearch, type CellSplitMethod } from './cell-protocol';
import { CELL_OPS, cellArchitectureFromIndex, cellArchitectureInMask, type CellSpaceSpec } from './cell-space';
import type { Samples } from './supernet';

const tiny: CellSpaceSpec = { height: 4, width: 4, inputChannels: 1, channels: 2, cellsPerStage: 1, stages: 1, classes: 3 };

function randomSamples(size: number, seed: number): Samples {
  const rng = createRng(seed);
  return { inputs: new Float32Array(size * 16).map(() => rng.normal()), targets: new Int32Array(size).map(() => rng.int(3)), size };
}

/** How many leaves contain each of a spread of architectures: the leaves must partition the space. */
function coverage(masks: boolean[][][]): number[] {
  const out: number[] = [];
  for (let i = 0; i < 15_625; i += 97) out.push(masks.filter((m) => cellArchitectureInMask(cellArchitectureFromIndex(i), m)).length);
  return out;
}

describe('runCellSearch', () => {
  const train = randomSamples(16, 1);
  const validation = randomSamples(16, 2);
  const run = (method: CellSplitMethod, mode: 'rsps' | 'darts' = 'rsps') =>
    runCellSearch(tiny, train, validation, {
      method,
      mode,
      splitSteps: [3, 2],
      finalSteps: 4,
      batchSize: 8,
      scoring: { batches: 2 },
      seed: 5,
    });

  it('one-shot trains the root for the budget; few-shot splits edge 0 into its 5 ops, each leaf for the budget', () => {
    const one = run('none');
    expect(one.leaves.map((l) => l.id)).toEqual(['root']);
    expect(one.trainingSteps).toBe(4);
    const few = run('few-shot');
    expect(few.leaves.map((l) => l.mask[0].findIndex((on) => on))).toEqual([0, 1, 2, 3, 4]);
    expect(few.trainingSteps).toBe(5 * 4);
    expect(coverage(few.leaves.map((l) => l.mask)).every((n) => n === 1)).toBe(true);
  });

  it('GM split: warm-up, two balanced binary splits on unsplit edges, 4 leaves that partition the space, compute W + 2M + 4S', () => {
    const gm = run('gm', 'darts');
    expect(gm.leaves).toHaveLength(4);
    expect(gm.trainingSteps).toBe(3 + 2 * 2 + 4 * 4);
    // Root scored 6 edges, each child 5 unsplit edges: R = 2 batches × 5 ops per edge.
    expect(gm.gmPasses).toBe((6 + 5 + 5) * 2 * CELL_OPS.length);
    expect(coverage(gm.leaves.map((l) => l.mask)).every((n) => n === 1)).toBe(true);
    for (const s of gm.splits) expect(s.groups.map((g) => g.length).sort()).toEqual([2, 3]);
    // A child never splits the edge its parent split.
    expect(gm.splits[1].edge).not.toBe(gm.splits[0].edge);
    expect(gm.splits[2].edge).not.toBe(gm.splits[0].edge);
    // Each DARTS leaf took one α step per weight step.
    expect(gm.leaves.every((l) => l.state.arch.t === 4)).toBe(true);
  });

  it('random split makes the same shape of tree without GM passes', () => {
    const r = run('random');
    expect(r.leaves).toHaveLength(4);
    expect(r.gmPasses).toBe(0);
    expect(coverage(r.leaves.map((l) => l.mask)).every((n) => n === 1)).toBe(true);
  });
});
