import {
  nasInputSize,
  nasParameterCount,
  nasSamples,
  runNasScoreTask,
  runNasStandaloneTask,
  runNasTrainTask,
  type NasBlobState,
  type NasState,
  type NasTaskEnvelope,
  type Samples,
} from '@flotilla/algorithms';
import { NasScore, NasStandalone, NasTrain } from '@flotilla/contracts';
import { handle, type TaskContext } from './task-context';

/**
 * NAS tasks (docs/algorithms/gm-nas.md): the computation is the library's (`runNasTrainTask`, `runNasScoreTask`,
 * `runNasStandaloneTask`); this file only moves weights (float32 blobs by sha256, down and up) and builds the
 * job's training / selection split of this agent's file.
 */

/** Samples per (file, scaling, split, space layout), built once per job. */
const splits = new Map<string, { train: Samples; selection: Samples }>();

function samplesFor(p: NasTaskEnvelope, ctx: TaskContext): { train: Samples; selection: Samples } {
  const key = JSON.stringify([ctx.dataHash, p.data, p.space.type === 'cell' ? p.space.spec.inputChannels : 0]);
  let s = splits.get(key);
  if (!s) {
    const ds = ctx.scaled(p.data.featureRange, p.data.numClasses);
    const expected = nasInputSize(p.space);
    if (ds.numFeatures !== expected) throw new Error(`this agent's file has ${ds.numFeatures} features, the supernet expects ${expected}`);
    s = nasSamples(p.space, ds, { selectionFraction: p.data.selectionFraction, seed: p.data.seed });
    if (splits.size >= 8) splits.delete(splits.keys().next().value!);
    splits.set(key, s);
  }
  return s;
}

async function download(p: NasTaskEnvelope, from: NasBlobState, ctx: TaskContext): Promise<NasState> {
  const n = nasParameterCount(p.space);
  return {
    params: await ctx.client.weights(from.params, n),
    velocity: await ctx.client.weights(from.velocity, n),
    step: from.step,
    ...(from.arch ? { arch: from.arch } : {}),
  };
}

/** Uploads a trained state (α travels as JSON); diverged weights or α are a task failure here rather than a refused result. */
async function upload(state: NasState, ctx: TaskContext): Promise<NasBlobState> {
  for (const v of [state.params, state.velocity]) {
    if (!v.every((x) => Number.isFinite(x))) throw new Error('training diverged: the weights hold NaN or Inf');
  }
  if (state.arch && !state.arch.alpha.every((row) => row.every((x) => Number.isFinite(x))))
    throw new Error('training diverged: α holds NaN or Inf');
  return {
    params: await ctx.client.uploadBlob(state.params),
    velocity: await ctx.client.uploadBlob(state.velocity),
    step: state.step,
    ...(state.arch ? { arch: state.arch } : {}),
  };
}

export const NAS_HANDLERS = [
  /** `nas.train`: one node's training from the given state; a leaf also proposes its architecture. */
  handle(NasTrain, async (p, ctx) => {
    const data = samplesFor(p, ctx);
    const out = runNasTrainTask(p.space, await download(p, p.from, ctx), p.task, data);
    return { ...(await upload(out.state, ctx)), meanLoss: out.meanLoss, candidate: out.candidate, evaluated: out.evaluated };
  }),
  /** `nas.gm-score`: |ops| × |ops| cosine sums per candidate edge over this part's batches (no gradients leave the agent). */
  handle(NasScore, async (p, ctx) => {
    const data = samplesFor(p, ctx);
    const params = await ctx.client.weights(p.params, nasParameterCount(p.space));
    return { scores: runNasScoreTask(p.space, params, p.task, data) };
  }),
  /** `nas.standalone`: one rung of stand-alone training of a candidate, scored on the selection split. */
  handle(NasStandalone, async (p, ctx) => {
    const data = samplesFor(p, ctx);
    const out = runNasStandaloneTask(p.space, await download(p, p.from, ctx), p.task, data);
    return { ...(await upload(out.state, ctx)), meanLoss: out.meanLoss, selection: out.selection };
  }),
];
