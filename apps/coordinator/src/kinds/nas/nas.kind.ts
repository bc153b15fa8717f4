import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import {
  candidateEdges,
  chainSupernet,
  checkNasSpace,
  decideGmSplit,
  deriveSeedFor,
  fullMask,
  nasEvaluate,
  nasMaskShape,
  nasOpName,
  nasParameterCount,
  nasSpaceSamples,
  nodeInitialState,
  nodeTraining,
  rankCandidates,
  samplesFromDataset,
  scorePartRanges,
  splitReinitialises,
  standaloneInitialState,
  standaloneRungTask,
  successiveHalvingPlan,
  type NasBlobState,
  type NasNode as TreeNode,
  type NasSchedule,
  type NasScorePayload,
  type NasSpace,
  type NasStandalonePayload,
  type NasState,
  type NasTaskEnvelope,
  type NasTrainingSettings,
  type NasTrainPayload,
  type RungScore,
} from '@flotilla/algorithms';
import {
  NasResultSchema,
  NasScore,
  NasStandalone,
  NasTrain,
  type CreateNasJob,
  type NasJobView,
  type NasResult,
  type NasView,
} from '@flotilla/contracts';
import { BLOB_STORE, BlobStore } from '../../blobs/blob-store';
import { InvalidResultError, ValidationError } from '../../common/errors';
import { DatasetCatalog } from '../../datasets/dataset-catalog';
import { JobFailure, JobKindRegistry, type BaseViewOf, type JobKind, type JobOf, type ModelRef } from '../../jobs/job-kind';
import { JobRunner } from '../../jobs/job-runner.service';
import type { StoredJob } from '../../jobs/jobs.repository';
import { taskRequest, taskResult, TasksService, type TaskRequest } from '../../tasks/tasks.service';
import {
  NasRepository,
  type HistoryEntry,
  type NasCandidateRow,
  type NasNodeRow,
  type NodeMetrics,
  type StoredEdgeScore,
} from './nas.repository';
import { candidateStats, nasView } from './nas.view';

/** Everything the runner derives from a job's spec and the catalogue (the same on every advance). */
export interface NasContext {
  spec: CreateNasJob;
  space: NasSpace;
  parameterCount: number;
  schedule: NasSchedule;
  training: NasTrainingSettings;
  envelope: NasTaskEnvelope;
}

/**
 * The search space of a job on a dataset's shape: the chain supernet on its features, or the cell space on its
 * images (`inputShape` [height, width, channels]). Throws, saying why, when the space cannot be built on the data.
 */
export function nasSpace(spec: CreateNasJob, data: { numFeatures: number; inputShape: number[]; numClasses: number }): NasSpace {
  const s = spec.space;
  if (s.type === 'chain') {
    const supernet = chainSupernet({
      inputSize: data.numFeatures,
      width: s.width,
      outputSize: data.numClasses,
      edges: s.edges,
      ops: s.ops,
    });
    return { type: 'chain', spec: supernet };
  }
  if (data.inputShape.length !== 3)
    throw new Error(
      `the cell space needs images ([height, width, channels]); the dataset's examples have shape [${data.inputShape.join(', ')}]`,
    );
  const [height, width, inputChannels] = data.inputShape;
  const space: NasSpace = {
    type: 'cell',
    spec: {
      height,
      width,
      inputChannels,
      channels: s.channels,
      cellsPerStage: s.cellsPerStage,
      stages: s.stages,
      classes: data.numClasses,
    },
    search: spec.search,
    ...(spec.alpha ? { arch: spec.alpha } : {}),
    ...(spec.snas ? { snas: spec.snas } : {}),
  };
  checkNasSpace(space, 'space');
  return space;
}

/** Builds the context of a NAS job: its search space on the dataset's shape and the step schedule. */
export function nasContext(
  spec: CreateNasJob,
  data: { numFeatures: number; inputShape: number[]; numClasses: number; featureRange: [number, number] },
): NasContext {
  const space = nasSpace(spec, data);
  const { lr, lrMin, momentum, nesterov, weightDecay, clipNorm } = spec.training;
  return {
    spec,
    space,
    parameterCount: nasParameterCount(space),
    schedule: {
      splitSteps: [spec.warmupSteps, ...new Array<number>(spec.splits - 1).fill(spec.stepsBetweenSplits)],
      finalSteps: spec.finalSteps,
      restart: spec.restart,
    },
    training: {
      batchSize: spec.training.batchSize,
      mode: spec.training.mode,
      optimizer: { lr, lrMin, momentum, nesterov, weightDecay, clipNorm },
    },
    envelope: {
      space,
      data: {
        featureRange: data.featureRange,
        numClasses: data.numClasses,
        selectionFraction: spec.selectionFraction,
        seed: spec.dataSeed,
      },
    },
  };
}

/** How long a job with no agent holding its dataset waits before looking again. */
const WAIT_FOR_AGENT_MS = 1000;

/**
 * NAS jobs (docs/algorithms/gm-nas.md): the coordinator owns the supernet tree as rows of nas_nodes and
 * advances every node on its own — train (`nas.train`), score (`nas.gm-score`, the node's R batches cut into parts
 * that run on different agents; each returns |ops|² cosine sums per candidate edge), split (`decideGmSplit`,
 * children written in the same transaction) — so siblings proceed in parallel on different agents. When every
 * leaf has trained and proposed its architecture, the final selection trains the candidates stand-alone
 * (`nas.standalone`), halving them rung by rung while they outnumber the agents, and the winner is evaluated on the
 * coordinator's held-out split. Each step is the same computation `runSplitSearch` makes in one process, with the
 * same seeds, and every task runs only on agents whose data file has the sha256 pinned at the root, so a task
 * retried on another agent returns the same result and a restarted coordinator resumes from the rows.
 */
@Injectable()
export class NasJobKind implements JobKind<'nas'>, OnModuleInit {
  readonly kind = 'nas' as const;
  readonly progressUnit = 'stages' as const;
  private readonly contexts = new Map<string, NasContext>();

  constructor(
    private readonly repo: NasRepository,
    private readonly tasks: TasksService,
    private readonly runner: JobRunner,
    private readonly catalog: DatasetCatalog,
    private readonly registry: JobKindRegistry,
    @Inject(BLOB_STORE) private readonly blobs: BlobStore,
  ) {}

  onModuleInit(): void {
    this.registry.register(this);
  }

  /** The job and the root of its tree; progress counts the split levels, the leaves' training and the selection. */
  agentDataset(spec: CreateNasJob): string {
    return spec.dataset;
  }

  async submit(spec: CreateNasJob): Promise<StoredJob> {
    const c = this.build(spec);
    const mask = fullMask(nasMaskShape(c.space));
    return this.repo.createJob(spec, spec.splits + 2, { nodeId: 'root', parentId: null, depth: 0, mask, init: 'root', dataHash: null });
  }

  private build(spec: CreateNasJob): NasContext {
    const ds = this.catalog.get(spec.dataset);
    try {
      return nasContext(spec, {
        numFeatures: ds.numFeatures,
        inputShape: ds.inputShape,
        numClasses: ds.manifest.numClasses,
        featureRange: ds.manifest.featureRange,
      });
    } catch (e) {
      throw new ValidationError(`Invalid NAS search space for dataset '${spec.dataset}': ${(e as Error).message}`);
    }
  }

  private context(job: JobOf<'nas'>): NasContext {
    let c = this.contexts.get(job.id);
    if (!c) {
      c = this.build(job.spec);
      if (this.contexts.size >= 64) this.contexts.delete(this.contexts.keys().next().value!);
      this.contexts.set(job.id, c);
    }
    return c;
  }

  /** Advances every node of the tree as far as its finished tasks allow, then the final selection. */
  async advance(job: JobOf<'nas'>): Promise<void> {
    const c = this.context(job);
    for (let moved = true; moved;) {
      moved = false;
      const nodes = await this.repo.nodes(job.id);
      for (const n of nodes) {
        if (n.status === 'training') moved = (await this.advanceTraining(job, c, n, nodes)) || moved;
        else if (n.status === 'scoring') moved = (await this.advanceScoring(job, c, n)) || moved;
      }
    }
    const nodes = await this.repo.nodes(job.id);
    await this.repo.progress(job.id, stagesDone(c, nodes));
    if (nodes.some((n) => n.status === 'training' || n.status === 'scoring')) return;
    await this.advanceSelection(job, c, nodes);
  }

  /** A node in training: dispatch its `nas.train` task, or record its result (→ scoring, or → leaf). */
  private async advanceTraining(job: JobOf<'nas'>, c: NasContext, n: NasNodeRow, nodes: NasNodeRow[]): Promise<boolean> {
    const node = treeNode(n);
    const plan = nodeTraining(c.schedule, node, c.spec.seed, c.space.type);
    const leaf = plan.phase === 'final';
    const key = `${n.nodeId}.train`;
    if (plan.steps === 0 && !leaf) {
      // Nothing to compute (e.g. children scored right after their parent's split): the start state is the trained one.
      const from = await this.startState(c, n, nodes);
      const metrics: NodeMetrics = { ...n.metrics, trainSteps: 0, trainLoss: null, trainAgentId: null };
      return this.repo.recordTraining(job.id, n.nodeId, 'scoring', {
        weightsHash: from.params,
        velocityHash: from.velocity,
        step: from.step,
        arch: from.arch ?? null,
        metrics,
        candidate: null,
      });
    }
    const task = (await this.tasks.byKeys(job.id, [key])).get(key);
    if (!task) {
      const dataHash = await this.dataHash(job, n);
      if (!dataHash) return false;
      const payload: NasTrainPayload = {
        ...c.envelope,
        task: {
          ...plan,
          node: n.nodeId,
          mask: node.mask,
          training: c.training,
          derive: leaf
            ? { maxCandidates: c.spec.selection.maxCandidates, metric: c.spec.selection.metric, seed: deriveSeedFor(c.spec.seed, n.nodeId) }
            : null,
        },
        from: await this.startState(c, n, nodes),
      };
      await this.tasks.dispatch(job.id, [
        taskRequest(NasTrain, payload, { key, dataset: c.spec.dataset, dataHash, timeoutMs: c.spec.taskTimeoutMs }),
      ]);
      return false;
    }
    if (task.status === 'failed') throw new JobFailure(`NAS node ${n.nodeId}: training failed on every agent tried (${task.error})`);
    if (task.status !== 'done') return false;
    const r = taskResult(task, NasTrain);
    const metrics: NodeMetrics = { ...n.metrics, trainSteps: plan.steps, trainLoss: r.meanLoss, trainAgentId: task.agentId };
    const candidate = r.candidate ? { ...r.candidate, evaluated: r.evaluated } : null;
    return this.repo.recordTraining(job.id, n.nodeId, leaf ? 'leaf' : 'scoring', {
      weightsHash: r.params,
      velocityHash: r.velocity,
      step: r.step,
      arch: r.arch ?? null,
      metrics,
      candidate,
    });
  }

  /** The state a node's training starts from: fresh weights (root, re-initialised) or its parent's trained state. */
  private async startState(c: NasContext, n: NasNodeRow, nodes: NasNodeRow[]): Promise<NasBlobState> {
    const fresh = nodeInitialState(c.space, treeNode(n), c.spec.seed);
    if (fresh) return this.putState(fresh);
    const parent = nodes.find((p) => p.nodeId === n.parentId);
    if (!parent?.weightsHash || !parent.velocityHash || parent.step === null || (c.space.type === 'cell' && !parent.arch))
      throw new JobFailure(`NAS node ${n.nodeId}: its parent ${n.parentId} has no trained state`);
    return { params: parent.weightsHash, velocity: parent.velocityHash, step: parent.step, ...(parent.arch ? { arch: parent.arch } : {}) };
  }

  private async putState(s: NasState): Promise<NasBlobState> {
    return {
      params: await this.blobs.putFloat32(s.params),
      velocity: await this.blobs.putFloat32(s.velocity),
      step: s.step,
      ...(s.arch ? { arch: s.arch } : {}),
    };
  }

  /** A node being scored: fix the number of parts, dispatch them, and split once all are in. */
  private async advanceScoring(job: JobOf<'nas'>, c: NasContext, n: NasNodeRow): Promise<boolean> {
    const node = treeNode(n);
    const edges = candidateEdges(c.space, node.mask, c.spec.groups);
    if (edges.length === 0) throw new JobFailure(`NAS node ${n.nodeId}: no unsplit edge with ${c.spec.groups} ops is left to split`);
    const dataHash = await this.dataHash(job, n);
    if (!dataHash) return false;
    const R = c.spec.gm.batches;
    const parts =
      n.scoreParts ??
      (await this.repo.fixScoreParts(
        job.id,
        n.nodeId,
        c.spec.gm.parts ?? Math.max(1, (await this.tasks.eligibleAgents(c.spec, c.spec.dataset, dataHash)).length),
      ));
    const ranges = scorePartRanges(R, parts);
    const keys = ranges.map((_, k) => `${n.nodeId}.score.${k}`);
    const found = await this.tasks.byKeys(job.id, keys);
    for (const t of found.values())
      if (t.status === 'failed')
        throw new JobFailure(`NAS node ${n.nodeId}: GM scoring (${t.key}) failed on every agent tried (${t.error})`);
    const missing = ranges.flatMap(([from, to], k) => (found.has(keys[k]) ? [] : [{ k, from, to }]));
    if (missing.length) {
      await this.tasks.dispatch(
        job.id,
        missing.map(({ k, from, to }) => {
          const payload: NasScorePayload = {
            ...c.envelope,
            params: n.weightsHash!,
            task: {
              node: n.nodeId,
              mask: node.mask,
              edges,
              batches: R,
              batchSize: c.spec.gm.batchSize,
              from,
              to,
              scoring: this.scoring(c, n),
              seed: c.spec.seed,
            },
          };
          return taskRequest(NasScore, payload, { key: keys[k], dataset: c.spec.dataset, dataHash, timeoutMs: c.spec.taskTimeoutMs });
        }),
      );
      return false;
    }
    const done = keys.map((k) => found.get(k)!);
    if (done.some((t) => t.status !== 'done')) return false;
    let decision;
    try {
      decision = decideGmSplit(
        c.space,
        node,
        done.map((t) => taskResult(t, NasScore).scores),
        {
          groups: c.spec.groups,
          selection: { rule: c.spec.edgeRule, objective: c.spec.partitionObjective },
          reinit: splitReinitialises(c.schedule, n.depth),
        },
      );
    } catch (e) {
      throw new JobFailure(`NAS node ${n.nodeId}: split decision failed: ${(e as Error).message}`);
    }
    const split = decision.parent.split!;
    const edgeScores: StoredEdgeScore[] = decision.scores.map((s, i) => {
      const cand = decision.candidates[i];
      return {
        edge: s.edge,
        ops: s.ops,
        matrix: s.matrix,
        batches: s.batches,
        degenerateBatches: s.degenerateBatches,
        groups: cand.opGroups,
        cut: cand.cut,
        withinDistance: cand.withinDistance,
        crossDistance: cand.crossDistance,
      };
    });
    const metrics: NodeMetrics = {
      ...n.metrics,
      scoreParts: parts,
      scoreAgentIds: done.map((t) => t.agentId ?? ''),
      gmPasses: decision.scores.reduce((s, m) => s + m.batches * m.ops.length, 0),
    };
    return this.repo.recordSplit(job.id, n.nodeId, {
      splitEdge: split.edge,
      split: { edge: split.edge, groups: split.groups, criterion: split.criterion, children: split.children },
      edgeScores,
      metrics,
      children: decision.children.map((ch) => ({
        nodeId: ch.id,
        parentId: n.nodeId,
        depth: ch.depth,
        mask: ch.mask,
        init: ch.init,
        dataHash,
      })),
    });
  }

  /**
   * How a node's GM scores weight the other edges (docs/algorithms/gm-nas.md §3.3): the job's `gm.mode`, else the
   * training's. Chain space: `training.mode`; cell space: single path for RSPS, the mixture under the node's α for
   * DARTS and SNAS (as `runCellSearch` scores).
   */
  private scoring(c: NasContext, n: NasNodeRow): NasScorePayload['task']['scoring'] {
    const sharedWeights = c.spec.gm.sharedWeights;
    if (c.space.type === 'chain') return { mode: c.spec.gm.mode ?? c.spec.training.mode, sharedWeights };
    const mode = c.spec.gm.mode ?? (c.space.search === 'rsps' ? 'single-path' : 'mixture');
    return { mode, sharedWeights, ...(mode === 'mixture' && n.arch ? { alpha: n.arch.alpha } : {}) };
  }

  /**
   * The data file of a node's tasks: the root pins the sha256 most eligible agents (online, holding the dataset,
   * matching the job's placement) report, so every task of the job computes on the same rows; children inherit it.
   * Undefined while no such agent is online.
   */
  private async dataHash(job: JobOf<'nas'>, n: NasNodeRow): Promise<string | undefined> {
    if (n.dataHash) return n.dataHash;
    const best = await this.tasks.commonDataHash(job.spec, job.spec.dataset);
    if (!best) {
      await this.runner.wakeLater(job.id, WAIT_FOR_AGENT_MS);
      return undefined;
    }
    return this.repo.pinDataHash(job.id, n.nodeId, best);
  }

  /**
   * The final selection (docs/algorithms/gm-nas.md §7.2). `standalone`: the leaves' architectures are trained from scratch rung by rung
   * (successive halving while they outnumber the agents that were online when it started, `successiveHalvingPlan`),
   * the better half by selection-split accuracy going on; `supernet`: the best leaf estimate wins at once.
   */
  private async advanceSelection(job: JobOf<'nas'>, c: NasContext, nodes: NasNodeRow[]): Promise<void> {
    const leaves = nodes.filter((n) => n.status === 'leaf').sort((a, b) => compareNodeIds(a.nodeId, b.nodeId));
    let cands = await this.repo.candidates(job.id);
    if (cands.length === 0) {
      const dataHash = leaves[0]?.dataHash;
      if (!dataHash) throw new JobFailure('NAS: the tree has no trained leaf');
      const standalone = c.spec.selection.method === 'standalone';
      const slots = standalone ? Math.max(1, (await this.tasks.eligibleAgents(c.spec, c.spec.dataset, dataHash)).length) : 0;
      const rungs = standalone ? successiveHalvingPlan(leaves.length, slots, c.spec.selection.standaloneSteps).rungs : [];
      await this.repo.createCandidates(
        job.id,
        leaves.map((l, index) => {
          const cand = l.candidate;
          if (!cand) throw new JobFailure(`NAS leaf ${l.nodeId} proposed no architecture`);
          return {
            index,
            nodeId: l.nodeId,
            architecture: cand.architecture,
            estimate: { loss: cand.loss, accuracy: cand.accuracy },
            slots,
            rungs,
          };
        }),
      );
      cands = await this.repo.candidates(job.id);
    }
    const rungs = cands[0].rungs;
    if (rungs.length === 0) {
      const active = cands.filter((x) => x.status === 'active');
      return this.finish(
        job,
        c,
        nodes,
        cands,
        rankCandidates(active.map(estimateScore), c.spec.selection.metric).map((i) => active[i]),
      );
    }
    const plan = successiveHalvingPlan(cands.length, cands[0].slots, c.spec.selection.standaloneSteps);
    if (plan.rungs.join() !== rungs.join())
      throw new JobFailure(`NAS selection: stored rungs [${rungs.join(',')}] do not match the plan [${plan.rungs.join(',')}]`);
    for (;;) {
      const active = cands.filter((x) => x.status === 'active');
      const rung = Math.min(...active.map((x) => x.rung));
      const ranked = () => rankCandidates(active.map(lastScore), c.spec.selection.metric).map((i) => active[i]);
      if (rung >= rungs.length) return this.finish(job, c, nodes, cands, ranked());
      if (active.every((x) => x.rung === rung) && active.length > plan.survivors[rung]) {
        // Every candidate finished the previous rung: the worse ones stop here (idempotent: decided from the rows).
        await this.repo.eliminate(
          job.id,
          ranked()
            .slice(plan.survivors[rung])
            .map((x) => x.index),
        );
      } else if (
        !(await this.advanceRung(
          job,
          c,
          nodes,
          active.filter((x) => x.rung === rung),
          rung,
          rungs,
        ))
      )
        return;
      cands = await this.repo.candidates(job.id);
    }
  }

  /** Rung `rung` for the candidates still at it: dispatch missing tasks, record finished ones; whether anything was recorded. */
  private async advanceRung(
    job: JobOf<'nas'>,
    c: NasContext,
    nodes: NasNodeRow[],
    at: NasCandidateRow[],
    rung: number,
    rungs: number[],
  ): Promise<boolean> {
    const keys = at.map((x) => `candidate.${x.index}.rung.${rung}`);
    const found = await this.tasks.byKeys(job.id, keys);
    const dataHash = nodes.find((n) => n.nodeId === 'root')!.dataHash!;
    const dispatch: TaskRequest[] = [];
    let recorded = false;
    for (const [k, x] of at.entries()) {
      const t = found.get(keys[k]);
      if (!t) {
        const from =
          x.weightsHash && x.velocityHash
            ? { params: x.weightsHash, velocity: x.velocityHash, step: x.step }
            : await this.putState(standaloneInitialState(c.space, c.spec.seed, x.index));
        const payload: NasStandalonePayload = {
          ...c.envelope,
          task: standaloneRungTask({ rungs }, rung, x.index, x.architecture, c.spec.seed, c.training),
          from,
        };
        dispatch.push(
          taskRequest(NasStandalone, payload, { key: keys[k], dataset: c.spec.dataset, dataHash, timeoutMs: c.spec.taskTimeoutMs }),
        );
        continue;
      }
      if (t.status === 'failed')
        throw new JobFailure(`NAS candidate ${x.index}: stand-alone rung ${rung} failed on every agent tried (${t.error})`);
      if (t.status !== 'done') continue;
      const r = taskResult(t, NasStandalone);
      const entry: HistoryEntry = {
        rung,
        steps: rungs[rung] - (rung > 0 ? rungs[rung - 1] : 0),
        trainLoss: r.meanLoss,
        loss: r.selection.loss,
        accuracy: r.selection.accuracy,
        agentId: t.agentId,
      };
      recorded =
        (await this.repo.recordRung(job.id, x.index, rung, {
          weightsHash: r.params,
          velocityHash: r.velocity,
          step: r.step,
          history: [...x.history, entry],
        })) || recorded;
    }
    if (dispatch.length) await this.tasks.dispatch(job.id, dispatch);
    return recorded;
  }

  /** The winner: evaluated on the coordinator's held-out split, the job completed with the result. */
  private async finish(
    job: JobOf<'nas'>,
    c: NasContext,
    nodes: NasNodeRow[],
    cands: NasCandidateRow[],
    ranked: NasCandidateRow[],
  ): Promise<void> {
    const chosen = ranked[0];
    const standalone = c.spec.selection.method === 'standalone';
    const leaf = nodes.find((n) => n.nodeId === chosen.nodeId)!;
    const weightsHash = standalone ? chosen.weightsHash! : leaf.weightsHash!;
    const params = await this.blobs.getFloat32(weightsHash);
    const architecture = chosen.architecture;
    const test = nasEvaluate(
      c.space,
      params,
      architecture,
      nasSpaceSamples(c.space, samplesFromDataset(this.catalog.get(c.spec.dataset).test)),
    );
    const sel = standalone ? lastScore(chosen) : estimateScore(chosen);
    const stats = candidateStats(nodes, cands);
    const result: NasResult = {
      architecture,
      ops: architecture.map((o, e) => nasOpName(c.space, e, o)),
      node: chosen.nodeId,
      selectionMethod: c.spec.selection.method,
      selectionAccuracy: sel.accuracy,
      selectionLoss: sel.loss,
      accuracy: test.accuracy,
      loss: test.loss,
      weightsHash,
      ...stats,
    };
    await this.repo.finish(job.id, chosen.index, { result, progressDone: job.progressTotal });
  }

  /** The blobs a train or stand-alone result names must have been uploaded, with the supernet's length (the agent uploads first). */
  async checkTaskResult(task: { kind: string; payload: unknown }, result: unknown): Promise<void> {
    const named = (): { space: NasSpace; params: string; velocity: string } | null => {
      if (task.kind === NasTrain.kind) {
        const p = NasTrain.payload.parse(task.payload);
        return { space: p.space, ...NasTrain.result(p).parse(result) };
      }
      if (task.kind === NasStandalone.kind) {
        const p = NasStandalone.payload.parse(task.payload);
        return { space: p.space, ...NasStandalone.result(p).parse(result) };
      }
      return null;
    };
    const r = named();
    if (!r) return;
    const count = nasParameterCount(r.space);
    for (const [name, hash] of [
      ['params', r.params],
      ['velocity', r.velocity],
    ]) {
      if ((await this.blobs.byteLength(hash)) !== count * 4)
        throw new InvalidResultError(`${task.kind} result: ${name}: must name an uploaded float32 blob of ${count} values`);
    }
  }

  view(job: JobOf<'nas'>, base: BaseViewOf<'nas'>): Promise<NasJobView> {
    return Promise.resolve({ ...base, parameterCount: this.context(job).parameterCount });
  }

  /** The chosen architecture's weights, once the job has chosen. */
  model(job: JobOf<'nas'>): Promise<ModelRef | null> {
    const result = this.result(job);
    return Promise.resolve(result && { hash: result.weightsHash, round: -1 });
  }

  private result(job: StoredJob): NasResult | null {
    return job.result === null ? null : NasResultSchema.parse(job.result);
  }

  /** GET /jobs/:id/nas. */
  async tree(job: JobOf<'nas'>): Promise<NasView> {
    const c = this.context(job);
    return nasView(
      job,
      { space: c.space, schedule: c.schedule, method: c.spec.selection.method, parameterCount: c.parameterCount },
      this.result(job),
      await this.repo.nodes(job.id),
      await this.repo.candidates(job.id),
    );
  }
}

/** A node row as the library's tree node (the split is not needed to advance it). */
function treeNode(n: NasNodeRow): TreeNode {
  return { id: n.nodeId, parent: n.parentId, depth: n.depth, mask: n.mask, init: n.init, split: null };
}

function estimateScore(x: NasCandidateRow): RungScore {
  return { loss: x.estimate.loss ?? NaN, accuracy: x.estimate.accuracy ?? NaN };
}

function lastScore(x: NasCandidateRow): RungScore {
  const h = x.history.at(-1);
  return h ? { loss: h.loss, accuracy: h.accuracy } : { loss: NaN, accuracy: NaN };
}

/** Node ids in tree order: `root.1.10` after `root.1.9`. */
export function compareNodeIds(a: string, b: string): number {
  const pa = a.split('.').slice(1).map(Number);
  const pb = b.split('.').slice(1).map(Number);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return pa.length - pb.length;
}

/** Progress for GET /jobs/:id: split levels whose nodes are all split, then 1 when every leaf has trained. */
function stagesDone(c: NasContext, nodes: NasNodeRow[]): number {
  let done = 0;
  for (let d = 0; d < c.spec.splits; d++) {
    const level = nodes.filter((n) => n.depth === d);
    if (level.length === 0 || level.some((n) => n.status !== 'split')) return done;
    done++;
  }
  const leaves = nodes.filter((n) => n.depth === c.spec.splits);
  return leaves.length > 0 && leaves.every((n) => n.status === 'leaf') ? done + 1 : done;
}
