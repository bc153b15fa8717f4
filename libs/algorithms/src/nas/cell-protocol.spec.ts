import { createRng } from '../random';
import { evaluateCell } from './cell-network';
import { runCellSearch, type CellHalvingOptions, type CellSearchResult, type CellSplitMethod } from './cell-protocol';
import {
  argmaxArchitecture,
  initialCellTrainingState,
  proposeCellArchitecture,
  trainCellSupernet,
  type CellSearchMode,
} from './cell-search';
import {
  CELL_OPS,
  cellArchitectureFromIndex,
  cellArchitectureInMask,
  cellPathWeights,
  fullCellMask,
  isCellConnected,
  type CellSpaceSpec,
} from './cell-space';
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
  const run = (method: CellSplitMethod, mode: CellSearchMode = 'rsps', halving?: CellHalvingOptions, finalSteps = 4): CellSearchResult =>
    runCellSearch(tiny, train, validation, {
      method,
      mode,
      splitSteps: [3, 2],
      finalSteps,
      batchSize: 8,
      scoring: { batches: 2 },
      halving,
      seed: 5,
    });

  /** FNV-1a over the bytes of every leaf's weights, momentum and α: equal hashes mean bit-identical leaves. */
  const leafHash = (r: CellSearchResult): string => {
    let h = 0x811c9dc5;
    for (const l of r.leaves)
      for (const a of [l.state.params, l.state.velocity, Float64Array.from(l.state.arch.alpha.flat())])
        for (const byte of new Uint8Array(a.buffer, a.byteOffset, a.byteLength)) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
    return h.toString(16);
  };

  it('without halving, trains exactly as before halving existed (hashes pinned from that code)', () => {
    // The coordinator reproduces these runs bit for bit; a change here changes every committed result.
    expect(leafHash(run('gm', 'darts'))).toBe('282abef3');
    expect(leafHash(run('gm'))).toBe('63e82cc2');
    expect(leafHash(run('random', 'snas'))).toBe('8cd47162');
    expect(leafHash(run('few-shot'))).toBe('97d4da48');
    expect(leafHash(run('none', 'darts'))).toBe('4fa9660e');
    expect(run('gm').rungs).toBeUndefined();
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

  describe('successive halving among the leaves', () => {
    /** The rung each leaf trained in last, by leaf id. */
    const lastRung = (r: CellSearchResult): Map<string, number> =>
      new Map(r.rungs!.flatMap((g, i) => g.leaves.map((id) => [id, i] as const)));

    it('GM split, 4 leaves, S = 8: rungs of 4, 2, 1 leaves up to 2, 4, 8 steps; eliminated leaves stop training', () => {
      const r = run('gm', 'darts', {}, 8);
      expect(r.rungs!.map((g) => g.leaves.length)).toEqual([4, 2, 1]);
      expect(r.rungs!.map((g) => g.steps)).toEqual([2, 4, 8]);
      expect(r.rungs![0].leaves).toEqual(r.leaves.map((l) => l.id));
      const last = lastRung(r);
      for (const l of r.leaves) {
        expect(l.state.step).toBe(r.rungs![last.get(l.id)!].steps);
        // DARTS leaves take one α step per weight step, in every rung.
        expect(l.state.arch.t).toBe(l.state.step);
      }
      // Warm-up 3 + 2 children × 2, then 4 × 2 + 2 × 2 + 1 × 4 leaf steps.
      expect(r.trainingSteps).toBe(3 + 2 * 2 + 4 * 2 + 2 * 2 + 1 * 4);
      // Same splits as without halving: halving only changes the leaves' training.
      expect(r.splits).toEqual(run('gm', 'darts', undefined, 8).splits);
    });

    it('keeps the better half by proposal accuracy after each rung, and each proposal is the leaf’s argmax α (DARTS)', () => {
      for (const method of ['gm', 'random', 'few-shot'] as const) {
        const r = run(method, 'darts', {}, 8);
        r.rungs!.slice(0, -1).forEach((g, i) => {
          const kept = new Set(r.rungs![i + 1].leaves);
          expect(kept.size).toBe(Math.ceil(g.leaves.length / 2));
          const acc = (keep: boolean): number[] => g.proposals.filter((_, k) => kept.has(g.leaves[k]) === keep).map((p) => p.accuracy);
          expect(Math.min(...acc(true))).toBeGreaterThanOrEqual(Math.max(...acc(false)));
        });
        const winner = r.leaves.find((l) => l.id === r.rungs!.at(-1)!.leaves[0])!;
        const proposal = r.rungs!.at(-1)!.proposals[0];
        expect(proposal.architecture).toEqual(argmaxArchitecture(winner.state.arch.alpha, winner.mask));
        expect(proposal.accuracy).toBe(
          evaluateCell(tiny, winner.state.params, cellPathWeights(proposal.architecture), validation).accuracy,
        );
      }
    });

    it('few-shot, 5 leaves, S = 8: rungs of 5, 3, 2, 1 leaves up to 1, 2, 4, 8 steps', () => {
      const r = run('few-shot', 'rsps', {}, 8);
      expect(r.rungs!.map((g) => g.leaves.length)).toEqual([5, 3, 2, 1]);
      expect(r.rungs!.map((g) => g.steps)).toEqual([1, 2, 4, 8]);
      expect(r.trainingSteps).toBe(5 * 1 + 3 * 1 + 2 * 2 + 1 * 4);
      const last = lastRung(r);
      for (const l of r.leaves) expect(l.state.step).toBe(r.rungs![last.get(l.id)!].steps);
    });

    it('one leaf (one-shot) is a single rung: the same training as without halving, bit for bit', () => {
      const halved = run('none', 'snas', {}, 6);
      expect(halved.rungs!.map((g) => [g.steps, g.leaves])).toEqual([[6, ['root']]]);
      expect(leafHash(halved)).toBe(leafHash(run('none', 'snas', undefined, 6)));
      expect(halved.trainingSteps).toBe(6);
    });

    it('RSPS leaves propose the best of the candidates inside their masks, scored on the given rows', () => {
      const candidates = Array.from({ length: 40 }, (_, i) => cellArchitectureFromIndex(i * 389));
      const evaluation = randomSamples(12, 3);
      const r = run('gm', 'rsps', { candidates, evaluation }, 4);
      for (const g of r.rungs!)
        g.leaves.forEach((id, k) => {
          const leaf = r.leaves.find((l) => l.id === id)!;
          const inside = candidates.filter((a) => cellArchitectureInMask(a, leaf.mask));
          expect(inside).toContainEqual(g.proposals[k].architecture);
          // Rungs before the last: the leaf has trained on since, so only the final rung can be re-scored here.
          if (g === r.rungs!.at(-1)) {
            const best = Math.max(...inside.map((a) => evaluateCell(tiny, leaf.state.params, cellPathWeights(a), evaluation).accuracy));
            expect(g.proposals[k].accuracy).toBe(best);
          }
        });
    });

    it('rejects halving with no leaf steps', () => {
      expect(() => run('gm', 'rsps', {}, 0)).toThrow(/halving needs finalSteps >= 1/);
    });
  });

  describe('proposeCellArchitecture', () => {
    const state = trainCellSupernet(tiny, initialCellTrainingState(tiny, 3), fullCellMask(), train, {
      steps: 3,
      batchSize: 8,
      mode: 'darts',
      validation,
      arch: { lr: 0.1 },
      seed: 4,
    }).state;
    const mask = fullCellMask().map((row, e) => (e === 1 ? row.map((_, o) => o === 2 || o === 3) : row));

    it('DARTS and SNAS propose the argmax of α inside the mask', () => {
      for (const mode of ['darts', 'snas'] as const)
        expect(proposeCellArchitecture(tiny, state, mask, mode, validation).architecture).toEqual(
          argmaxArchitecture(state.arch.alpha, mask),
        );
    });

    it('RSPS without candidates inside the mask proposes the best of distinct random connected paths inside it', () => {
      const p = proposeCellArchitecture(tiny, state, mask, 'rsps', validation, { candidates: [[0, 0, 0, 0, 0, 0]], paths: 5, seed: 9 });
      expect(cellArchitectureInMask(p.architecture, mask)).toBe(true);
      expect(isCellConnected(p.architecture)).toBe(true);
      expect(p).toEqual({ architecture: p.architecture, ...evaluateCell(tiny, state.params, cellPathWeights(p.architecture), validation) });
    });
  });
});
