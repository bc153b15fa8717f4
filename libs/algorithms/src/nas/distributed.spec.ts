import * as tf from '@tensorflow/tfjs';
import { useWasmBackend } from '../models/backend';
import { createRng } from '../random';
import {
  architectureMask,
  candidateEdges,
  decideGmSplit,
  deriveSeedFor,
  nasSamples,
  nodeInitialState,
  nodeTraining,
  runNasScoreTask,
  runNasStandaloneTask,
  runNasTrainTask,
  scorePartRanges,
  splitReinitialises,
  standaloneInitialState,
  standaloneInitSeed,
  standaloneRungTask,
  successiveHalvingPlan,
  type NasSchedule,
  type NasScoreTask,
  type NasTrainingSettings,
  type NasTrainTask,
} from './distributed';
import { gmScoreSums } from './gm-score';
import { rankCandidates } from './ranking';
import type { NasSpace } from './job-space';
import { chainSupernet, fullMask } from './search-space';
import { runSplitSearch } from './search';
import { randomBatches, type Samples } from './supernet';
import { rootNode, type NasNode } from './tree';
import { deriveArchitecture, trainStandalone, trainSupernet, type TrainingState } from './training';
import { deriveSeed } from '../random';

beforeAll(async () => {
  expect(await useWasmBackend()).toBe('wasm');
});

// 3 edges × 4 ops = 64 architectures: two binary splits leave 4 leaves of 16.
const spec = chainSupernet({ inputSize: 4, width: 6, outputSize: 3, edges: 3 });
const space: NasSpace = { type: 'chain', spec };

function data(n: number, seed: number): Samples {
  const rng = createRng(seed);
  const inputs = Float32Array.from({ length: n * 4 }, () => rng.normal());
  const targets = Int32Array.from({ length: n }, (_, i) => (inputs[i * 4] > 0 ? 0 : inputs[i * 4 + 1] > 0 ? 1 : 2));
  return { inputs, targets, size: n };
}

const train = data(160, 1);
const selection = data(60, 2);
const SEED = 11;
const R = 5;
const BATCH = 16;
const training: NasTrainingSettings = { batchSize: 16 };

/** What crosses the wire: JSON for payloads and results, float32 bytes for weights and momentum. */
function json<T>(x: T): T {
  return JSON.parse(JSON.stringify(x)) as T;
}
function viaBlob(v: Float32Array): Float32Array {
  const bytes = new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
  return new Float32Array(bytes.buffer);
}
function viaBlobs(s: TrainingState): TrainingState {
  return { params: viaBlob(s.params), velocity: viaBlob(s.velocity), step: json(s.step) };
}

interface Distributed {
  nodes: NasNode[];
  leaves: { node: NasNode; state: TrainingState; candidate: unknown }[];
}

/**
 * The coordinator's loop in miniature: every task goes through JSON (payload and result) and every state through
 * float32 blobs, with the GM batches of each node cut into `parts` score tasks.
 */
function distributedSearch(schedule: NasSchedule, parts: number, mode: 'single-path' | 'mixture'): Distributed {
  const nodes: NasNode[] = [];
  const root = rootNode(spec);
  let level: { node: NasNode; state: TrainingState }[] = [{ node: root, state: nodeInitialState(space, root, SEED)! }];
  schedule.splitSteps.forEach((_, depth) => {
    const next: typeof level = [];
    for (const { node, state } of level) {
      const task: NasTrainTask = json({
        ...nodeTraining(schedule, node, SEED, 'chain'),
        node: node.id,
        mask: node.mask,
        training,
        derive: null,
      });
      const trained = viaBlobs(runNasTrainTask(space, viaBlobs(state), task, { train, selection }).state);
      const edges = candidateEdges(space, node.mask, 2);
      const results = scorePartRanges(R, parts).map(([from, to]) => {
        const t: NasScoreTask = json({
          node: node.id,
          mask: node.mask,
          edges,
          batches: R,
          batchSize: BATCH,
          from,
          to,
          scoring: { mode },
          seed: SEED,
        });
        return json(runNasScoreTask(space, trained.params, t, { train, selection }));
      });
      const d = decideGmSplit(space, json(node), results, { groups: 2, reinit: splitReinitialises(schedule, depth) });
      nodes.push(d.parent);
      for (const child of d.children) next.push({ node: child, state: nodeInitialState(space, child, SEED) ?? trained });
    }
    level = next;
  });
  const leaves = level.map(({ node, state }) => {
    const task: NasTrainTask = json({
      ...nodeTraining(schedule, node, SEED, 'chain'),
      node: node.id,
      mask: node.mask,
      training,
      derive: { metric: 'loss' as const, seed: deriveSeedFor(SEED, node.id) },
    });
    const out = runNasTrainTask(space, viaBlobs(state), task, { train, selection });
    nodes.push(node);
    return { node, state: viaBlobs(out.state), candidate: json(out.candidate) };
  });
  return { nodes, leaves };
}

function reference(schedule: NasSchedule, mode: 'single-path' | 'mixture') {
  return runSplitSearch(spec, train, {
    method: 'gm',
    splitSteps: schedule.splitSteps,
    finalSteps: schedule.finalSteps,
    restart: schedule.restart,
    scoring: { batches: R, batchSize: BATCH, mode },
    training,
    seed: SEED,
  });
}

describe('distributed GM-NAS tasks (docs/algorithms/gm-nas.md §10) against runSplitSearch', () => {
  const schedule: NasSchedule = { splitSteps: [10, 0], finalSteps: 6, restart: 'final' };

  it('one score part per node: the same tree, bit-identical GM matrices and leaf weights, after JSON and float32 round trips', () => {
    const before = tf.memory().numTensors;
    const d = distributedSearch(schedule, 1, 'single-path');
    expect(tf.memory().numTensors).toBe(before);
    const ref = reference(schedule, 'single-path');
    expect(d.nodes).toEqual(ref.nodes);
    expect(d.leaves.map((l) => l.state)).toEqual(ref.leaves.map((l) => l.state));
    expect(d.leaves).toHaveLength(4);
    // The leaf's proposal is deriveArchitecture on the reference leaf's weights with the same seed.
    const leaf = ref.leaves[2];
    const best = deriveArchitecture(spec, leaf.state.params, leaf.node.mask, selection, {
      metric: 'loss',
      seed: deriveSeedFor(SEED, leaf.node.id),
    }).best;
    expect(d.leaves[2].candidate).toEqual(json(best));
  });

  it('three score parts (2 + 2 + 1 batches, paths replayed): the same splits, GM matrices equal to rounding', () => {
    const d = distributedSearch(schedule, 3, 'single-path');
    const ref = reference(schedule, 'single-path');
    const splits = (nodes: NasNode[]) => nodes.map((n) => [n.id, n.split?.edge, n.split?.groups, n.split?.children]);
    expect(splits(d.nodes)).toEqual(splits(ref.nodes));
    d.nodes.forEach((n, i) => {
      const want = ref.nodes[i].split?.scores ?? [];
      expect(n.split?.scores.length ?? 0).toBe(want.length);
      n.split?.scores.forEach((s, k) => {
        expect([s.edge, s.ops, s.batches]).toEqual([want[k].edge, want[k].ops, want[k].batches]);
        s.matrix.forEach((row, a) => row.forEach((v, b) => expect(Math.abs(v - want[k].matrix[a][b])).toBeLessThan(1e-12)));
      });
    });
    expect(d.leaves.map((l) => l.state)).toEqual(ref.leaves.map((l) => l.state));
  });

  it('mixture scoring and restart none (inherited leaves, one schedule over the lineage) agree as well', () => {
    const inherit: NasSchedule = { splitSteps: [8, 4], finalSteps: 5, restart: 'none' };
    const d = distributedSearch(inherit, 2, 'mixture');
    const ref = reference(inherit, 'mixture');
    expect(d.nodes.map((n) => [n.id, n.init, n.split?.edge, n.split?.groups])).toEqual(
      ref.nodes.map((n) => [n.id, n.init, n.split?.edge, n.split?.groups]),
    );
    expect(d.leaves.every((l) => l.node.init === 'inherit' && l.state.step === 8 + 4 + 5)).toBe(true);
    expect(d.leaves.map((l) => l.state)).toEqual(ref.leaves.map((l) => l.state));
  });

  it('a score part equals gmScoreSums over its batches; parts add up to the sums over all batches', () => {
    const params = nodeInitialState(space, rootNode(spec), SEED)!.params;
    const mask = fullMask(spec);
    const task = (from: number, to: number): NasScoreTask => ({
      node: 'root',
      mask,
      edges: [0, 2],
      batches: R,
      batchSize: BATCH,
      from,
      to,
      scoring: { mode: 'mixture' },
      seed: SEED,
    });
    const all = runNasScoreTask(space, params, task(0, R), { train, selection });
    const batches = randomBatches(spec, train, R, BATCH, createRng(deriveSeed(SEED, 'split', 'root')));
    expect(all[1]).toEqual(gmScoreSums(spec, params, mask, 2, batches, { mode: 'mixture' }));
    const a = runNasScoreTask(space, params, task(0, 2), { train, selection });
    const b = runNasScoreTask(space, params, task(2, R), { train, selection });
    expect([a[0].batches, b[0].batches]).toEqual([2, 3]);
    a[0].sums.forEach((row, i) => row.forEach((v, j) => expect(v + b[0].sums[i][j]).toBeCloseTo(all[0].sums[i][j], 12)));
    expect(() => runNasScoreTask(space, params, task(3, 3), { train, selection })).toThrow(/0 <= from < to <= 5/);
  });
});

describe('schedule helpers', () => {
  it('nodeTraining: split levels on the lineage schedule, re-initialised leaves on their own', () => {
    const s: NasSchedule = { splitSteps: [20, 5], finalSteps: 30, restart: 'final' };
    expect(nodeTraining(s, { id: 'root', depth: 0, init: 'root' }, 1, 'chain')).toMatchObject({
      phase: 'split',
      steps: 20,
      scheduleSteps: 55,
    });
    expect(nodeTraining(s, { id: 'root.1', depth: 1, init: 'inherit' }, 1, 'chain')).toMatchObject({
      phase: 'split',
      steps: 5,
      scheduleSteps: 55,
    });
    expect(nodeTraining(s, { id: 'root.1.0', depth: 2, init: 'reinit' }, 1, 'chain')).toMatchObject({
      phase: 'final',
      steps: 30,
      scheduleSteps: 30,
    });
    expect(nodeTraining(s, { id: 'root.1.0', depth: 2, init: 'inherit' }, 1, 'chain')).toMatchObject({
      phase: 'final',
      steps: 30,
      scheduleSteps: 55,
    });
    expect(() => nodeTraining(s, { id: 'x', depth: 3, init: 'inherit' }, 1, 'chain')).toThrow(/depth 3/);
    expect([splitReinitialises(s, 0), splitReinitialises(s, 1), splitReinitialises({ ...s, restart: 'none' }, 1)]).toEqual([
      false,
      true,
      false,
    ]);
  });

  it('scorePartRanges: contiguous, as equal as possible, never more parts than batches', () => {
    expect(scorePartRanges(5, 3)).toEqual([
      [0, 2],
      [2, 4],
      [4, 5],
    ]);
    expect(scorePartRanges(2, 5)).toEqual([
      [0, 1],
      [1, 2],
    ]);
    expect(scorePartRanges(4, 1)).toEqual([[0, 4]]);
  });

  it('candidateEdges: only unsplit edges with enough ops (docs/algorithms/gm-nas.md §5)', () => {
    const mask = fullMask(spec);
    mask[1] = [true, false, true, false];
    expect(candidateEdges(space, mask, 2)).toEqual([0, 2]);
    expect(candidateEdges(space, fullMask(spec), 5)).toEqual([]);
  });

  it('nasSamples: a stratified, seeded split of the agent file', () => {
    const ds = { features: train.inputs, labels: train.targets as Int32Array, size: train.size, numFeatures: 4, numClasses: 3 };
    const a = nasSamples(space, ds, { selectionFraction: 0.25, seed: 3 });
    const b = nasSamples(space, ds, { selectionFraction: 0.25, seed: 3 });
    expect(a.train.size + a.selection.size).toBe(160);
    expect(Math.abs(a.selection.size - 40)).toBeLessThanOrEqual(2); // rounded per class
    expect(a).toEqual(b);
    expect(nasSamples(space, ds, { selectionFraction: 0.25, seed: 4 }).selection.inputs).not.toEqual(a.selection.inputs);
  });
});

describe('final selection: stand-alone training and successive halving (docs/algorithms/gm-nas.md §7.2)', () => {
  it('plans: no halving when the candidates fit on the agents, otherwise halve until they do', () => {
    expect(successiveHalvingPlan(4, 4, 20)).toEqual({ candidates: 4, slots: 4, rungs: [20], survivors: [4] });
    expect(successiveHalvingPlan(4, 3, 20)).toEqual({ candidates: 4, slots: 3, rungs: [10, 20], survivors: [4, 2] });
    expect(successiveHalvingPlan(8, 2, 100)).toEqual({ candidates: 8, slots: 2, rungs: [25, 50, 100], survivors: [8, 4, 2] });
    // 5 → 3 → 2 → 1 on one agent; rungs ⌈10/8⌉, ⌈10/4⌉, ⌈10/2⌉, 10.
    expect(successiveHalvingPlan(5, 1, 10)).toEqual({ candidates: 5, slots: 1, rungs: [2, 3, 5, 10], survivors: [5, 3, 2, 1] });
    expect(() => successiveHalvingPlan(0, 1, 10)).toThrow(/candidates must be a positive integer/);
  });

  it('rankCandidates: by accuracy, ties by loss, then index; NaN last', () => {
    const s = [
      { accuracy: 0.5, loss: 1 },
      { accuracy: 0.7, loss: 2 },
      { accuracy: 0.7, loss: 1.5 },
      { accuracy: NaN, loss: NaN },
      { accuracy: 0.5, loss: 1 },
    ];
    expect(rankCandidates(s, 'accuracy')).toEqual([2, 1, 0, 4, 3]);
    expect(rankCandidates(s, 'loss')).toEqual([0, 4, 2, 1, 3]);
  });

  const arch = [1, 0, 2];
  const settings: NasTrainingSettings = { batchSize: 16, optimizer: { lr: 0.05 } };

  it('a one-rung plan is exactly trainStandalone from the candidate seed, scored on the selection split', () => {
    const plan = successiveHalvingPlan(2, 2, 12);
    const task = json(standaloneRungTask(plan, 0, 1, arch, SEED, settings));
    const out = runNasStandaloneTask(space, viaBlobs(standaloneInitialState(space, SEED, 1)), task, { train, selection });
    const ref = trainStandalone(spec, arch, train, {
      ...settings,
      steps: 12,
      scheduleSteps: 12,
      seed: task.seed,
      initSeed: standaloneInitSeed(SEED, 1),
    });
    expect(out.state).toEqual(ref.state);
    expect(out.meanLoss).toBe(ref.meanLoss);
    expect(out.selection.accuracy).toBeGreaterThanOrEqual(0);
    expect(out.selection.accuracy).toBeLessThanOrEqual(1);
  });

  it('a later rung resumes from the uploaded weights, momentum and step: the cosine schedule continues to T', () => {
    const plan = successiveHalvingPlan(4, 2, 12); // rungs [6, 12]
    expect(plan.rungs).toEqual([6, 12]);
    const r0 = json(standaloneRungTask(plan, 0, 3, arch, SEED, settings));
    const r1 = json(standaloneRungTask(plan, 1, 3, arch, SEED, settings));
    expect([r0.steps, r1.steps, r0.scheduleSteps, r1.scheduleSteps]).toEqual([6, 6, 12, 12]);
    expect(r0.seed).not.toBe(r1.seed);
    const first = runNasStandaloneTask(space, standaloneInitialState(space, SEED, 3), r0, { train, selection });
    const second = runNasStandaloneTask(space, viaBlobs(first.state), r1, { train, selection });
    // The same two calls in one process.
    const mask = architectureMask(space, arch);
    const a = trainSupernet(spec, standaloneInitialState(space, SEED, 3), mask, train, {
      ...settings,
      steps: 6,
      scheduleSteps: 12,
      seed: r0.seed,
    });
    const b = trainSupernet(spec, a.state, mask, train, { ...settings, steps: 6, scheduleSteps: 12, seed: r1.seed });
    expect(second.state).toEqual(b.state);
    expect(second.state.step).toBe(12);
    // Momentum is part of the state: resuming without it gives other weights.
    const noMomentum = runNasStandaloneTask(
      space,
      { ...viaBlobs(first.state), velocity: new Float32Array(first.state.velocity.length) },
      r1,
      { train, selection },
    );
    expect(noMomentum.state.params).not.toEqual(second.state.params);
  });
});
