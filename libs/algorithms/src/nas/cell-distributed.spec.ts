import { createRng, deriveSeed } from '../random';
import { runCellSearch } from './cell-protocol';
import { cellGmScoreSums, randomCellBatches, randomCellPaths, type CellSearchMode } from './cell-search';
import { evaluateCell } from './cell-network';
import { rankCandidates } from './ranking';
import { CELL_MASK_SHAPE, cellLayout, cellPathWeights, fullCellMask, type CellSpaceSpec } from './cell-space';
import {
  candidateEdges,
  decideGmSplit,
  nodeInitialState,
  nodeTraining,
  runNasScoreTask,
  runNasStandaloneTask,
  runNasTrainTask,
  scorePartRanges,
  splitReinitialises,
  standaloneInitialState,
  standaloneRungTask,
  type NasSchedule,
  type NasTrainingSettings,
} from './distributed';
import { nasSpaceSamples, type NasSpace, type NasState } from './job-space';
import type { Samples } from './supernet';
import { rootNode, type NasNode } from './tree';

/**
 * The distributed GM-NAS tree in the cell space (what the coordinator and the agents compute, each task's payload and
 * result through JSON and every state through float32 blobs) against `runCellSearch` in one process: the same
 * splits, and leaves with bit-identical weights and α, in every search mode.
 */
const tiny: CellSpaceSpec = { height: 4, width: 4, inputChannels: 1, channels: 2, cellsPerStage: 1, stages: 1, classes: 3 };

function randomSamples(size: number, seed: number): Samples {
  const rng = createRng(seed);
  return { inputs: new Float32Array(size * 16).map(() => rng.normal()), targets: new Int32Array(size).map(() => rng.int(3)), size };
}

const train = randomSamples(24, 1);
const selection = randomSamples(20, 2);
const SEED = 9;
const schedule: NasSchedule = { splitSteps: [3, 2], finalSteps: 4, restart: 'final' };
const training: NasTrainingSettings = { batchSize: 8, optimizer: { lr: 0.1, lrMin: 0 } };
const GM_BATCHES = 3;

function json<T>(x: T): T {
  return JSON.parse(JSON.stringify(x)) as T;
}
function viaBlobs(s: NasState): NasState {
  const blob = (v: Float32Array) => new Float32Array(new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength)).buffer);
  return { params: blob(s.params), velocity: blob(s.velocity), step: json(s.step), ...(s.arch ? { arch: json(s.arch) } : {}) };
}

/** The coordinator's loop in miniature on the cell space, the GM batches of each node cut into two score tasks. */
function distributedCellSearch(space: NasSpace & { type: 'cell' }) {
  const data = { train, selection };
  const splits: { node: string; edge: number; groups: number[][] }[] = [];
  const leaves: { node: NasNode; state: NasState }[] = [];
  const root = rootNode(CELL_MASK_SHAPE);
  let level: { node: NasNode; state: NasState }[] = [{ node: root, state: nodeInitialState(space, root, SEED)! }];
  for (let depth = 0; depth < schedule.splitSteps.length; depth++) {
    const next: typeof level = [];
    for (const { node, state } of level) {
      const plan = nodeTraining(schedule, node, SEED, 'cell');
      const trained = viaBlobs(
        runNasTrainTask(space, viaBlobs(state), json({ ...plan, node: node.id, mask: node.mask, training, derive: null }), data).state,
      );
      const edges = candidateEdges(space, node.mask, 2);
      const mode = space.search === 'rsps' ? 'single-path' : 'mixture';
      const parts = scorePartRanges(GM_BATCHES, 2).map(([from, to]) =>
        json(
          runNasScoreTask(
            space,
            trained.params,
            json({
              node: node.id,
              mask: node.mask,
              edges,
              batches: GM_BATCHES,
              batchSize: 8,
              from,
              to,
              scoring: { mode, ...(mode === 'mixture' ? { alpha: trained.arch!.alpha } : {}) },
              seed: SEED,
            }),
            data,
          ),
        ),
      );
      const d = decideGmSplit(space, json(node), parts, { groups: 2, reinit: splitReinitialises(schedule, depth) });
      splits.push({ node: node.id, edge: d.parent.split!.edge, groups: d.parent.split!.groups });
      for (const child of d.children) next.push({ node: child, state: nodeInitialState(space, child, SEED) ?? trained });
    }
    level = next;
  }
  for (const { node, state } of level) {
    const plan = nodeTraining(schedule, node, SEED, 'cell');
    const task = json({
      ...plan,
      node: node.id,
      mask: node.mask,
      training,
      derive: { maxCandidates: 8, metric: 'accuracy' as const, seed: 1 },
    });
    const out = runNasTrainTask(space, viaBlobs(state), task, data);
    leaves.push({ node, state: out.state });
  }
  return { splits, leaves };
}

describe('the distributed GM-NAS tree in the cell space', () => {
  it.each<CellSearchMode>(['rsps', 'darts', 'snas'])('%s: the same splits and bit-identical leaves as runCellSearch', (search) => {
    const space = { type: 'cell' as const, spec: tiny, search };
    const one = runCellSearch(tiny, train, selection, {
      method: 'gm',
      mode: search,
      splitSteps: [3, 2],
      finalSteps: 4,
      batchSize: 8,
      scoring: { batches: GM_BATCHES, batchSize: 8 },
      optimizer: training.optimizer,
      seed: SEED,
    });
    const distributed = distributedCellSearch(space);
    expect(distributed.splits).toEqual(one.splits);
    expect(distributed.leaves.map((l) => l.node.id)).toEqual(one.leaves.map((l) => l.id));
    distributed.leaves.forEach((l, i) => {
      expect(l.node.mask).toEqual(one.leaves[i].mask);
      expect(l.state.params).toEqual(one.leaves[i].state.params);
      expect(l.state.velocity).toEqual(one.leaves[i].state.velocity);
      expect(l.state.step).toBe(one.leaves[i].state.step);
      expect(l.state.arch).toEqual(one.leaves[i].state.arch);
    });
    // DARTS and SNAS learned α in the final phase only (one Adam step per weight step); RSPS never touches it.
    const t = search === 'rsps' ? 0 : schedule.finalSteps;
    expect(distributed.leaves.map((l) => l.state.arch!.t)).toEqual([t, t, t, t]);
  });

  it('a leaf proposes the argmax of α (DARTS, SNAS) or the best of its evaluated paths (RSPS), inside its mask', () => {
    for (const search of ['rsps', 'darts'] as const) {
      const space: NasSpace = { type: 'cell', spec: tiny, search };
      const mask = fullCellMask().map((row, e) => (e === 2 ? row.map((_, o) => o >= 3) : row));
      const state = nodeInitialState(space, { id: 'root.0.0', init: 'reinit' }, SEED)!;
      const task = { phase: 'final' as const, steps: 3, scheduleSteps: 3, seed: 4, node: 'root.0.0', mask, training };
      const out = runNasTrainTask(
        space,
        state,
        { ...task, derive: { maxCandidates: 6, metric: 'accuracy', seed: 2 } },
        { train, selection },
      );
      const proposal = out.candidate!.architecture;
      expect(proposal.every((o, e) => mask[e][o])).toBe(true);
      if (search === 'darts') {
        expect(out.evaluated).toBe(1);
        const alpha = out.state.arch!.alpha;
        proposal.forEach((o, e) => mask[e].forEach((on, p) => on && expect(alpha[e][o]).toBeGreaterThanOrEqual(alpha[e][p])));
      } else {
        // The best by accuracy (ties by loss) of the distinct paths among 6 random draws.
        const paths = randomCellPaths(mask, { paths: 6, seed: 2 });
        expect(out.evaluated).toBe(paths.length);
        const scores = paths.map((a) => evaluateCell(tiny, out.state.params, cellPathWeights(a), selection));
        expect(out.candidate).toEqual({
          architecture: paths[rankCandidates(scores, 'accuracy')[0]],
          ...scores[rankCandidates(scores, 'accuracy')[0]],
        });
      }
      // Above the leaves nothing is derived.
      expect(runNasTrainTask(space, state, { ...task, derive: null }, { train, selection })).toMatchObject({
        candidate: null,
        evaluated: 0,
      });
    }
  });

  it('GM scoring in parts: the parts of a single-path scoring add up to one call over every batch', () => {
    const mask = fullCellMask();
    const params = nodeInitialState({ type: 'cell', spec: tiny, search: 'rsps' }, rootNode(CELL_MASK_SHAPE), SEED)!.params;
    const batches = randomCellBatches(tiny, selection, 4, 8, createRng(3));
    const options = { mode: 'single-path' as const, seed: deriveSeed(1, 'p') };
    const all = cellGmScoreSums(tiny, params, mask, 1, batches, options);
    const a = cellGmScoreSums(tiny, params, mask, 1, batches.slice(0, 1), options);
    const b = cellGmScoreSums(tiny, params, mask, 1, batches, { ...options, scoreFrom: 1 });
    expect([a.batches, b.batches]).toEqual([1, 3]);
    all.sums.forEach((row, i) => row.forEach((v, j) => expect(a.sums[i][j] + b.sums[i][j]).toBeCloseTo(v, 12)));
    expect(() => cellGmScoreSums(tiny, params, mask, 1, batches, { ...options, scoreFrom: 4 })).toThrow(/scoreFrom in \[0, 4\)/);
  });

  it('stand-alone rungs train the architecture alone from fresh weights, resuming momentum and step', () => {
    const space: NasSpace = { type: 'cell', spec: tiny, search: 'darts' };
    const plan = { rungs: [3, 6] };
    const arch = [3, 1, 2, 0, 4, 3];
    const r0 = standaloneRungTask(plan, 0, 2, arch, SEED, training);
    const first = runNasStandaloneTask(space, viaBlobs(standaloneInitialState(space, SEED, 2)), json(r0), { train, selection });
    const second = runNasStandaloneTask(space, viaBlobs(first.state), json(standaloneRungTask(plan, 1, 2, arch, SEED, training)), {
      train,
      selection,
    });
    expect([first.state.step, second.state.step]).toEqual([3, 6]);
    // Only the architecture's own convolutions moved; the other ops' weights are still the fresh ones.
    const fresh = standaloneInitialState(space, SEED, 2).params;
    for (const seg of cellLayout(tiny).segments.filter((g) => g.owner === 'cell')) {
      const moved = second.state.params.subarray(seg.offset, seg.offset + seg.size).some((v, i) => v !== fresh[seg.offset + i]);
      expect([seg.edge, seg.op, moved]).toEqual([seg.edge, seg.op, arch[seg.edge] === seg.op]);
    }
    expect(second.selection.accuracy).toBeGreaterThanOrEqual(0);
    expect(second.selection.accuracy).toBeLessThanOrEqual(1);
    expect(second.state.arch!.t).toBe(0); // α is not trained stand-alone
  });

  it('reads images channels-last from datasets and hands the cell network channel-major rows', () => {
    const space: NasSpace = { type: 'cell', spec: { ...tiny, height: 1, width: 2, inputChannels: 3 }, search: 'rsps' };
    // One image of 1 × 2 pixels, RGB interleaved: (r0 g0 b0)(r1 g1 b1).
    const rows = { inputs: Float32Array.from([1, 2, 3, 4, 5, 6]), targets: Int32Array.from([0]), size: 1 };
    expect(Array.from(nasSpaceSamples(space, rows).inputs)).toEqual([1, 4, 2, 5, 3, 6]);
    expect(nasSpaceSamples({ ...space, spec: tiny }, rows)).toBe(rows); // one channel: nothing to reorder
  });
});
