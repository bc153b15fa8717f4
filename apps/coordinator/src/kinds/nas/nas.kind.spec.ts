import {
  cellLayout,
  fullCellMask,
  supernetLayout,
  type NasScorePayload,
  type NasStandalonePayload,
  type NasTrainPayload,
  type SupernetSpec,
} from '@flotilla/algorithms';
import { BilevelYChain, CreateNasJobSchema, NasScore, NasStandalone, NasTrain } from '@flotilla/contracts';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BlobStore } from '../../blobs/blob-store';
import { FsBlobStore } from '../../blobs/fs-blob-store';
import { InvalidResultError } from '../../common/errors';
import { validateTaskResult } from '../../tasks/tasks.service';
import { compareNodeIds, nasContext, NasJobKind } from './nas.kind';

/**
 * What the coordinator accepts from an agent for each NAS task kind (refused results go to another agent): the task
 * kind's contract, then the NAS kind's own check of the blobs a result names. The kind's other collaborators are not
 * used by that check; the blob store is real, on a temporary directory.
 */
describe('NAS results are checked before they are stored', () => {
  const spec = CreateNasJobSchema.parse({ kind: 'nas', dataset: 'uci-digits', space: { width: 4 } });
  const c = nasContext(spec, { numFeatures: 64, inputShape: [64], numClasses: 10, featureRange: [0, 16] });
  const supernet = (c.space as { spec: SupernetSpec }).spec;
  const n = supernetLayout(supernet).size;
  let dir: string;
  let blobs: BlobStore;
  let kind: NasJobKind;
  let weights: string;
  let short: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'flotilla-nas-unit-'));
    blobs = new FsBlobStore(dir);
    await blobs.init();
    const unused = undefined as never;
    kind = new NasJobKind(unused, unused, unused, unused, unused, blobs);
    weights = await blobs.putFloat32(new Float32Array(n).fill(0.5));
    short = await blobs.putFloat32(new Float32Array(n - 1));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const task = (kind: string, payload: unknown) => ({ kind, payload });
  const validate = (t: { kind: string; payload: unknown }, result: unknown) => validateTaskResult(t, result, kind);
  const mask = supernet.edges.map((e) => e.ops.map(() => true));
  const from = () => ({ params: weights, velocity: weights, step: 10 });
  const train = (derive: boolean): NasTrainPayload => ({
    ...c.envelope,
    from: from(),
    task: {
      phase: 'final',
      steps: 5,
      scheduleSteps: 5,
      seed: 1,
      node: 'root.0.0',
      mask: mask.map((r, e) => (e === 0 ? [true, false, true, false] : r)),
      training: c.training,
      derive: derive ? { seed: 1 } : null,
    },
  });
  const refused = async (t: { kind: string; payload: unknown }, result: unknown, message: RegExp) => {
    await expect(validate(t, result)).rejects.toThrow(InvalidResultError);
    await expect(validate(t, result)).rejects.toThrow(message);
  };

  it('nas.train: the step must advance by the task steps and the weights must be uploaded with the supernet length', async () => {
    const t = task(NasTrain.kind, train(true));
    const ok = {
      params: weights,
      velocity: weights,
      step: 15,
      meanLoss: 2.1,
      candidate: { architecture: [2, 1, 3], loss: 2, accuracy: 0.25 },
      evaluated: 16,
    };
    expect(await validate(t, ok)).toEqual(ok);
    await refused(t, { ...ok, step: 14 }, /step/);
    await refused(t, { ...ok, params: short }, new RegExp(`params: must name an uploaded float32 blob of ${n} values`));
    await refused(t, { ...ok, velocity: 'f'.repeat(64) }, /velocity: must name an uploaded float32 blob/);
    await refused(
      t,
      { ...ok, candidate: { ...ok.candidate, architecture: [1, 1, 3] } },
      /candidate.architecture: must be an architecture inside the node mask/,
    );
    await refused(t, { ...ok, candidate: { ...ok.candidate, accuracy: 1.5 } }, /candidate.accuracy/);
    await refused(t, { ...ok, extra: 1 }, /extra/);
    // Above the leaves no candidate is expected.
    expect(await validate(task(NasTrain.kind, train(false)), { ...ok, candidate: null })).toMatchObject({
      candidate: null,
    });
    await refused(task(NasTrain.kind, train(false)), ok, /candidate/);
    await refused(t, { ...ok, arch: { alpha: [], m: [], v: [], t: 0 } }, /arch/); // the chain space has no α
  });

  it('nas.train in the cell space: α with its moments comes back, 6 × 5 finite numbers each', async () => {
    const cellSpec = CreateNasJobSchema.parse({ kind: 'nas', dataset: 'uci-digits', space: { type: 'cell' }, search: 'darts' });
    const cell = nasContext(cellSpec, { numFeatures: 64, inputShape: [8, 8, 1], numClasses: 10, featureRange: [0, 16] });
    const size = cellLayout((cell.space as { spec: Parameters<typeof cellLayout>[0] }).spec).size;
    expect(cell.parameterCount).toBe(size);
    const w = await blobs.putFloat32(new Float32Array(size).fill(0.25));
    const rows = (v: number) => Array.from({ length: 6 }, () => new Array<number>(5).fill(v));
    const payload: NasTrainPayload = {
      ...cell.envelope,
      from: { params: w, velocity: w, step: 0, arch: { alpha: rows(0), m: rows(0), v: rows(0), t: 0 } },
      task: {
        phase: 'final',
        steps: 4,
        scheduleSteps: 4,
        seed: 1,
        node: 'root.0.0',
        mask: fullCellMask(),
        training: cell.training,
        derive: { seed: 1 },
      },
    };
    const t = task(NasTrain.kind, payload);
    const ok = {
      params: w,
      velocity: w,
      step: 4,
      meanLoss: 2.3,
      arch: { alpha: rows(0.1), m: rows(0.01), v: rows(0.001), t: 4 },
      candidate: { architecture: [3, 1, 3, 0, 2, 4], loss: 2, accuracy: 0.3 },
      evaluated: 1,
    };
    expect(await validate(t, ok)).toEqual(ok);
    const { arch: _arch, ...withoutArch } = ok;
    await refused(t, withoutArch, /arch: the cell space returns α with its moments/);
    await refused(t, { ...ok, arch: { ...ok.arch, alpha: rows(0).slice(1) } }, /arch.alpha/);
    await refused(t, { ...ok, arch: { ...ok.arch, alpha: [...rows(0).slice(1), [0, 0, 0, 0, null]] } }, /arch.alpha.5.4/);
    await refused(t, { ...ok, params: short }, new RegExp(`params: must name an uploaded float32 blob of ${size} values`));
  });

  it('nas.gm-score: the payload edges in order, their enabled ops, |ops|² sums of at most n cosines', async () => {
    const partMask = mask.map((r, e) => (e === 0 ? [false, true, true, true] : r));
    const payload: NasScorePayload = {
      ...c.envelope,
      params: weights,
      task: {
        node: 'root.1',
        mask: partMask,
        edges: [1, 2],
        batches: 6,
        batchSize: 8,
        from: 2,
        to: 5,
        scoring: { mode: 'single-path' },
        seed: 1,
      },
    };
    const t = task(NasScore.kind, payload);
    const sums = (v: number) => Array.from({ length: 4 }, () => new Array<number>(4).fill(v));
    const edge = (e: number) => ({ edge: e, ops: [0, 1, 2, 3], sums: sums(2.5), batches: 3, degenerateBatches: 0 });
    const ok = { scores: [edge(1), edge(2)] };
    expect(await validate(t, ok)).toEqual(ok);
    await refused(t, { scores: [edge(2), edge(1)] }, /must score edges \[1,2\] in this order/);
    await refused(t, { scores: [edge(1)] }, /must score edges/);
    await refused(t, { scores: [edge(1), { ...edge(2), sums: sums(3.5) }] }, /scores.1.sums: must be 4 × 4 sums of 3 cosines/);
    await refused(t, { scores: [edge(1), { ...edge(2), ops: [1, 2, 3] }] }, /scores.1.ops: must be \[0,1,2,3\]/);
    await refused(t, { scores: [edge(1), { ...edge(2), batches: 6 }] }, /batches/);
    await refused(t, { scores: [edge(1), { ...edge(2), sums: [[null]] }] }, /scores.1.sums.0.0/); // JSON has no NaN: a diverged sum arrives as null
  });

  it('nas.standalone: a selection-split accuracy in [0, 1] and a non-negative loss', async () => {
    const payload: NasStandalonePayload = {
      ...c.envelope,
      from: from(),
      task: { candidate: 0, architecture: [0, 1, 2], steps: 20, scheduleSteps: 40, seed: 1, training: c.training },
    };
    const t = task(NasStandalone.kind, payload);
    const ok = { params: weights, velocity: weights, step: 30, meanLoss: null, selection: { loss: 1.2, accuracy: 0.6 } };
    expect(await validate(t, ok)).toEqual(ok);
    await refused(t, { ...ok, selection: { loss: -1, accuracy: 0.6 } }, /selection.loss/);
    await refused(t, { ...ok, selection: { loss: 1, accuracy: 2 } }, /selection.accuracy/);
    // A bilevel kind with a NAS payload: the payload does not parse (the kind and its payload come from one contract).
    await expect(validate(task(BilevelYChain.kind, payload), ok)).rejects.toThrow(/problem/);
  });
});

describe('NAS job context', () => {
  it('turns warm-up, splits and steps between splits into the split-level steps of runSplitSearch', () => {
    const spec = CreateNasJobSchema.parse({
      kind: 'nas',
      dataset: 'd',
      warmupSteps: 15,
      splits: 3,
      stepsBetweenSplits: 7,
      finalSteps: 30,
      space: { edges: 3 },
    });
    const c = nasContext(spec, { numFeatures: 5, inputShape: [5], numClasses: 3, featureRange: [0, 1] });
    expect(c.schedule).toEqual({ splitSteps: [15, 7, 7], finalSteps: 30, restart: 'final' });
    expect(c.space).toMatchObject({ type: 'chain', spec: { inputSize: 5, outputSize: 3, width: 16, nodes: 4 } });
    expect(c.training).toEqual({
      batchSize: 64,
      mode: 'single-path',
      optimizer: { lr: 0.05, lrMin: 0.001, momentum: 0.9, nesterov: true, weightDecay: 5e-4, clipNorm: 5 },
    });
  });

  it('builds the cell space on an image dataset, with the search mode and its α settings', () => {
    const spec = CreateNasJobSchema.parse({
      kind: 'nas',
      dataset: 'd',
      space: { type: 'cell', channels: 6 },
      search: 'snas',
      alpha: { lr: 0.01 },
      snas: { tauMin: 0.2 },
    });
    const c = nasContext(spec, { numFeatures: 8 * 8 * 3, inputShape: [8, 8, 3], numClasses: 4, featureRange: [0, 255] });
    expect(c.space).toEqual({
      type: 'cell',
      spec: { height: 8, width: 8, inputChannels: 3, channels: 6, cellsPerStage: 1, stages: 2, classes: 4 },
      search: 'snas',
      arch: { lr: 0.01 },
      snas: { tauMin: 0.2 },
    });
    expect(c.envelope.space).toBe(c.space);
    // Second-order DARTS reaches the tasks' space (and from there trainCellSupernet's α optimiser).
    const second = CreateNasJobSchema.parse({ kind: 'nas', dataset: 'd', space: { type: 'cell' }, search: 'darts', alpha: { order: 2 } });
    expect(nasContext(second, { numFeatures: 64, inputShape: [8, 8, 1], numClasses: 10, featureRange: [0, 16] }).space).toMatchObject({
      search: 'darts',
      arch: { order: 2 },
    });
    expect(() => nasContext(spec, { numFeatures: 64, inputShape: [64], numClasses: 4, featureRange: [0, 1] })).toThrow(
      /the cell space needs images \(\[height, width, channels\]\); the dataset's examples have shape \[64\]/,
    );
    // 3 stages halve an image twice: 6 × 6 does not divide by 4.
    const deep = CreateNasJobSchema.parse({ kind: 'nas', dataset: 'd', space: { type: 'cell', stages: 3 } });
    expect(() => nasContext(deep, { numFeatures: 36, inputShape: [6, 6, 1], numClasses: 4, featureRange: [0, 1] })).toThrow(
      /space: 3 stages halve the image 2 time\(s\); 6×6 is not divisible by 4/,
    );
  });

  it('refuses a search mode the space does not have, and α or temperature settings the mode does not use', () => {
    const issues = (json: object) =>
      CreateNasJobSchema.safeParse({ kind: 'nas', dataset: 'd', ...json }).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues({ search: 'darts' })).toEqual([
      "search: darts learns architecture weights, which only the cell space has: use space: {type: 'cell'} or search 'rsps'",
    ]);
    expect(issues({ space: { type: 'cell' }, alpha: { lr: 0.1 } })).toEqual(["alpha: applies to search 'darts' or 'snas' only"]);
    expect(issues({ space: { type: 'cell' }, search: 'snas', alpha: { order: 2 } })).toEqual([
      "alpha.order: the second-order α gradient is DARTS': needs search 'darts'",
    ]);
    expect(issues({ space: { type: 'cell' }, search: 'darts', alpha: { order: 3 } })).toEqual([expect.stringMatching(/^alpha\.order: /)]);
    expect(issues({ space: { type: 'cell' }, search: 'darts', snas: {} })).toEqual(["snas: applies to search 'snas' only"]);
    expect(issues({ space: { type: 'cell' }, search: 'snas', snas: { tauMax: 0.1, tauMin: 1 } })).toEqual([
      'snas: tauMin must be <= tauMax',
    ]);
    expect(issues({ space: { type: 'cell', width: 8 } })).toEqual([expect.stringMatching(/^space: .*width/)]);
    expect(issues({ space: { type: 'cell' }, splits: 3, groups: 2 })).toBeUndefined();
    expect(issues({ space: { type: 'cell' }, splits: 4, groups: 3 })).toEqual(['splits: at most 64 leaves (groups^splits)']);
    // A spec stored before the cell space (no type) still reads as the chain space.
    expect(CreateNasJobSchema.parse({ kind: 'nas', dataset: 'd', space: { width: 8 } }).space).toEqual({
      type: 'chain',
      edges: 3,
      ops: ['linear', 'relu-linear', 'tanh-linear', 'skip'],
      width: 8,
    });
  });

  it('orders node ids as a tree walk (numerically, parents first)', () => {
    expect(['root.1.10', 'root.0', 'root.1.9', 'root', 'root.1'].sort(compareNodeIds)).toEqual([
      'root',
      'root.0',
      'root.1',
      'root.1.9',
      'root.1.10',
    ]);
  });
});
