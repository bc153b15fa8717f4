import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import {
  createAggregationRule,
  decideUpdates,
  evaluate,
  releaseIdleAggregationMemory,
  updateNorm,
  validateUpdate,
  verdictOnArrival,
  type AggregationClientState,
  type RoundOutcome,
  type UpdatePolicy,
  type UpdateRejection,
} from '@flotilla/algorithms';
import {
  ControlJobName,
  type AgentCensus,
  type CloseReason,
  type Decline,
  type RoundMetrics,
  type RoundRef,
  type TrainTask,
  type UpdateMeta,
} from '@flotilla/contracts';
import type { Round } from '@prisma/client';
import { AgentsRepository } from '../../agents/agents.repository';
import { AgentsService } from '../../agents/agents.service';
import { EligibilityService, waitingForAgents, type AgentRequirement } from '../../agents/eligibility.service';
import { BLOB_STORE, BlobStore, bytesToFloat32 } from '../../blobs/blob-store';
import { Batcher } from '../../common/batcher';
import { ConflictError, InvalidUpdateError, NotEligibleError, NotFoundError, RoundClosedError } from '../../common/errors';
import { MetricsRegistry } from '../../common/metrics.registry';
import { ControlService, type ReconcileContext } from '../../control/control.service';
import { DatasetCatalog } from '../../datasets/dataset-catalog';
import { isJobOf, type JobOf } from '../../jobs/job-kind';
import { JobRunner } from '../../jobs/job-runner.service';
import { JobsRepository } from '../../jobs/jobs.repository';
import { QueueService } from '../../queue/queue.service';
import { RoundsRepository, type NewAnswer, type ParticipationRow, type RecordedAnswer } from './rounds.repository';

/** Train tasks enqueued at once when a round opens. */
const ENQUEUE_BATCH = 200;

/** How long to wait before retrying to open a round when too few agents are online. */
const WAIT_FOR_AGENTS_MS = 1000;

/**
 * The round loop, owned by the coordinator and persisted at every step:
 * open (eligible agents recorded, train tasks enqueued, close scheduled at the deadline) →
 * answers (updates or declines) → close (answers frozen, FedAU streaming aggregation, then
 * checkpoint + participation + client states + job progress in one transaction) → next round.
 */
@Injectable()
export class RoundsService implements OnModuleInit {
  private readonly logger = new Logger(RoundsService.name);
  private readonly parameterCounts = new Map<string, number>();
  private readonly updatePolicies = new Map<string, UpdatePolicy>();
  /** Answers recorded many per statement (a round of thousands of agents answers in a burst). */
  private readonly answers: Batcher<NewAnswer, RecordedAnswer>;

  constructor(
    private readonly rounds: RoundsRepository,
    private readonly jobs: JobsRepository,
    private readonly runner: JobRunner,
    private readonly agents: AgentsRepository,
    private readonly agentsService: AgentsService,
    private readonly eligibility: EligibilityService,
    private readonly queues: QueueService,
    private readonly control: ControlService,
    private readonly catalog: DatasetCatalog,
    private readonly metrics: MetricsRegistry,
    @Inject(BLOB_STORE) private readonly blobs: BlobStore,
  ) {
    this.answers = new Batcher((batch) => this.rounds.recordAnswers(batch));
  }

  onModuleInit(): void {
    this.control.handle(ControlJobName.CloseRound, (ref) => this.closeRound(ref, ref.reason));
    this.control.onReconcile('open rounds', (ctx) => this.reconcile(ctx));
    this.agentsService.onGone('open rounds', (agentId) => this.declineOpenRounds(agentId));
  }

  /** A revoked or departed agent will not answer: it declines every open round it was asked in, so none waits for it. */
  async declineOpenRounds(agentId: string): Promise<void> {
    for (const r of await this.rounds.openRoundsOf(agentId)) {
      await this.closeIfAllAnswered(r.jobId, r.index, await this.recordAnswer({ jobId: r.jobId, round: r.index, agentId, declined: true }));
    }
  }

  /**
   * What the database says must be scheduled for unfinished rounds, re-armed where Redis lacks it: each open round's
   * close at its deadline (now, when every eligible agent answered already), the close of a half-closed round, and,
   * when Redis may have lost data, the train task of each eligible agent that has not answered yet. Every one is keyed
   * by (job, round[, agent]), so re-arming what exists does nothing, on this coordinator or another.
   */
  async reconcile(ctx: ReconcileContext): Promise<void> {
    for (const r of await this.rounds.unfinished()) {
      if (r.status === 'closing') {
        await this.queues.scheduleControl(
          { name: ControlJobName.CloseRound, data: { jobId: r.jobId, round: r.index, reason: 'resume' } },
          0,
          'resume',
        );
        continue;
      }
      await this.scheduleClose(r, 'deadline');
      await this.closeIfAllAnswered(r.jobId, r.index, { outcome: 'recorded', answers: r.answers, eligible: r.eligibleAgentIds.length });
      if (ctx.redisMayHaveLost && r.deadlineAt.getTime() > Date.now()) await this.restoreTrainTasks(r);
    }
  }

  /** Puts back the train tasks of an open round's agents that have not answered, where Redis lost them. */
  private async restoreTrainTasks(r: Round): Promise<void> {
    const job = await this.job(r.jobId);
    if (!job || job.status !== 'running') return;
    const answered = await this.rounds.answeredAgentIds(r.jobId, r.index);
    const task = this.trainTask(job, r, await this.parameterCount(r.jobId));
    let restored = 0;
    for (const agentId of r.eligibleAgentIds) if (!answered.has(agentId) && (await this.queues.ensureTrain(agentId, task))) restored++;
    if (restored) this.logger.warn(`job ${r.jobId} round ${r.index}: ${restored} train task(s) lost from Redis, put back`);
  }

  /** The train task of a round (the same for every agent it asks). */
  private trainTask(job: JobOf<'federated'>, r: Round, parameterCount: number): TrainTask {
    const spec = job.spec;
    const dataset = this.catalog.get(spec.dataset);
    return {
      jobId: job.id,
      round: r.index,
      modelHash: r.inputModelHash,
      parameterCount,
      model: spec.model,
      dataset: spec.dataset,
      featureRange: dataset.manifest.featureRange,
      numClasses: dataset.manifest.numClasses,
      inputShape: dataset.inputShape,
      localSteps: spec.localSteps,
      batchSize: spec.batchSize,
      localLr: spec.localLr,
      momentum: spec.momentum,
      weightDecay: spec.weightDecay,
      deadline: r.deadlineAt.toISOString(),
      seed: (spec.seed * 1_000_003 + r.index) % 2 ** 31,
    };
  }

  /** The federated job of a round, or undefined when it does not exist (or is not federated). */
  private async job(jobId: string): Promise<JobOf<'federated'> | undefined> {
    const job = await this.jobs.findById(jobId);
    return job && isJobOf(job, 'federated') ? job : undefined;
  }

  /**
   * What the round in progress needs now (the kind's advance): opened when it does not exist yet (or, with too few
   * agents online, a look again shortly), its close scheduled at its deadline when it is open, and closed now when
   * a previous process left it half-closed. Idempotent: opening, the close job and closing are all keyed.
   */
  async advance(job: JobOf<'federated'>): Promise<void> {
    const round = job.progressDone;
    if (round >= job.progressTotal) return;
    const r = await this.rounds.find(job.id, round);
    if (!r) return this.openRound(job, round);
    if (r.status === 'open') await this.scheduleClose(r, 'deadline');
    else if (r.status === 'closing')
      await this.queues.scheduleControl({ name: ControlJobName.CloseRound, data: { jobId: job.id, round, reason: 'resume' } }, 0, 'resume');
  }

  /**
   * What the job waits for, when it waits for something outside it: the round in progress is not open because fewer
   * than `minAgents` agents are eligible (`agents`: the online agents holding its dataset, and how many of them match
   * its placement). Null when a round is open or closing, or the job has ended.
   */
  async waitingReason(job: JobOf<'federated'>, agents: AgentCensus): Promise<string | null> {
    if (job.status !== 'running' || job.progressDone >= job.progressTotal) return null;
    if (await this.rounds.find(job.id, job.progressDone)) return null;
    if (agents.matching >= job.spec.minAgents) return null;
    return waitingForAgents(this.requirement(job), agents, job.spec.minAgents);
  }

  /** Who a round of the job may ask: online agents holding its dataset that match its agentSelector and backend. */
  requirement(job: JobOf<'federated'>): AgentRequirement {
    const { dataset, agentSelector, backend } = job.spec;
    return { dataset, placement: { agentSelector, backend } };
  }

  private async scheduleClose(r: Round, reason: CloseReason): Promise<void> {
    await this.queues.scheduleControl(
      { name: ControlJobName.CloseRound, data: { jobId: r.jobId, round: r.index, reason } },
      r.deadlineAt.getTime() - Date.now(),
    );
  }

  /** Opens round `round`: the eligible agents (EligibilityService) are recorded, each gets a train task, the close is scheduled at the deadline. */
  private async openRound(job: JobOf<'federated'>, round: number): Promise<void> {
    const { id: jobId, spec } = job;
    const eligible = await this.eligibility.eligible(this.requirement(job));
    if (eligible.length < spec.minAgents) {
      // Not enough agents yet: look again shortly.
      await this.runner.wakeLater(jobId, WAIT_FOR_AGENTS_MS);
      return;
    }
    const openStarted = performance.now();
    const model = await this.rounds.model(jobId);
    const deadlineAt = new Date(Date.now() + spec.roundDeadlineMs);
    const opened = await this.rounds.open({
      jobId,
      index: round,
      eligibleAgentIds: eligible.map((a) => a.id),
      inputModelHash: model.modelHash,
      deadlineAt,
    });
    const task = this.trainTask(job, opened, model.parameterCount);
    // In batches: the Redis commands of a batch travel together (ioredis pipelines what is issued at once).
    const ids = opened.eligibleAgentIds;
    for (let i = 0; i < ids.length; i += ENQUEUE_BATCH) {
      await Promise.all(ids.slice(i, i + ENQUEUE_BATCH).map((agentId) => this.queues.enqueueTrain(agentId, task)));
    }
    await this.scheduleClose(opened, 'deadline');
    this.metrics.inc('flotilla_rounds_opened_total');
    this.metrics.inc('flotilla_round_open_seconds_total', (performance.now() - openStarted) / 1000);
  }

  async closeRound({ jobId, round }: RoundRef, reason: CloseReason): Promise<void> {
    const r = await this.rounds.find(jobId, round);
    if (!r || r.status === 'closed') return;
    const job = await this.job(jobId);
    if (!job) return;
    if (job.status !== 'running') {
      await this.rounds.abandon(jobId, round);
      return;
    }
    if (r.status === 'open' && reason === 'all-answered' && r.answers < r.eligibleAgentIds.length) return;
    if (!(await this.rounds.beginClosing(jobId, round))) return;

    const closeStarted = performance.now();
    const spec = job.spec;
    const rule = createAggregationRule(spec.aggregation, { globalLr: spec.globalLr });
    const answers = new Map((await this.rounds.answers(jobId, round)).map((a) => [a.agentId, a]));
    const stored = await this.rounds.clientStates(jobId);
    const states = new Map<string, AggregationClientState>(stored.map((s) => [s.agentId, rule.parseClientState(s.state)]));
    const memoryHashes = new Map<string, string | null>(stored.map((s) => [s.agentId, s.memoryHash]));
    // N is every client the job has ever asked (docs/algorithms/fedau.md §3.2 divides by all clients, not by participants; what N is in a job: §8).
    for (const id of r.eligibleAgentIds) if (!states.has(id)) states.set(id, rule.initialClientState());

    // Updates are folded in the order of their content hashes (floating-point sums depend on their order): the new
    // model is a function of the set of updates, not of the order in which agents registered or answered, so a job
    // run twice on the same data, seeds and participation gives the same model bit for bit.
    const hashOf = (agentId: string): string => answers.get(agentId)?.blobHash ?? '';
    const order = [...r.eligibleAgentIds].sort((x, y) => hashOf(x).localeCompare(hashOf(y)) || x.localeCompare(y));
    // The update policy judges all of the round's updates at once (docs/algorithms/fedau.md §11): a relative bound is
    // a multiple of the round's median norm, known only now. Each norm was computed and stored when its update arrived
    // (updates refused then have no blob and are not among these).
    const submitted = order.filter((id) => answers.get(id)?.blobHash);
    const previousReference = round > 0 ? ((await this.rounds.find(jobId, round - 1))?.normReference ?? null) : null;
    const decision = decideUpdates(
      spec.updatePolicy,
      // Every stored update has its norm; a missing one could not be judged, so it counts as out of range.
      submitted.map((id) => answers.get(id)!.updateNorm ?? Number.NaN),
      previousReference,
    );
    const verdicts = new Map(submitted.map((id, i) => [id, decision.verdicts[i]]));
    const aggregated = (agentId: string): boolean => (verdicts.get(agentId)?.outcome ?? 'rejected') !== 'rejected';

    const global = await this.blobs.getFloat32(r.inputModelHash);
    // submitUpdate validated every stored update (length, NaN/Inf) before accepting it.
    const input = { clientStates: states, updatesValidated: true };
    const robust = spec.robustAggregation;
    const participation: ParticipationRow[] = [];
    const trainLosses: number[] = [];
    const clippedMemories: string[] = [];
    for (const agentId of order) {
      const a = answers.get(agentId);
      const verdict = verdicts.get(agentId);
      if (!a?.blobHash) this.queues.removeTrain(agentId, jobId, round).catch(() => undefined);
      if (verdict && aggregated(agentId)) trainLosses.push(a!.trainLoss!);
      if (verdict?.outcome === 'clipped' && rule.usesClientMemory) clippedMemories.push(agentId);
      participation.push({
        agentId,
        participated: aggregated(agentId),
        // The multiplier of this client's update, from its state before the round (docs/algorithms/fedau.md §2.2).
        weight: rule.weight(agentId, states.get(agentId)!),
        updateNorm: a?.updateNorm ?? null,
        exampleCount: a?.exampleCount ?? null,
        trainLoss: a?.trainLoss ?? null,
        durationMs: a?.durationMs ?? null,
        absence: aggregated(agentId) ? null : a?.declined ? 'declined' : a?.rejected || verdict ? 'rejected' : 'timeout',
        clipScale: verdict?.outcome === 'clipped' ? verdict.scale : null,
      });
    }
    const folded = order.filter(aggregated);
    let outcome: RoundOutcome;
    if (robust) {
      // Robust: every coordinate needs all K updates at once, so they are read tile by tile (ROBUST_TILE_BYTES of
      // values at a time) instead of streamed through one accumulator (docs/algorithms/fedau.md §11.3).
      const aggregation = rule.beginRobustRound(global.length, input, robust);
      for (const agentId of folded) aggregation.add(agentId, { scale: verdicts.get(agentId)!.scale });
      outcome = await aggregation.finishAsync(global, (k, from, into) => this.blobs.readFloat32Range(hashOf(folded[k]), from, into), {
        into: global,
      });
    } else {
      const memorySumHash = rule.usesClientMemory ? await this.rounds.memorySumHash(jobId, round - 1) : null;
      const aggregation = rule.beginRound(global.length, {
        ...input,
        memorySum: memorySumHash ? await this.blobs.getFloat64(memorySumHash) : null,
      });
      for (const agentId of folded) {
        // Streaming: at most DEFAULT_BUFFERED_UPDATES updates (and, for MIFA/FedVarp, their previous memories) are held
        // at a time; they are folded together in cache-sized tiles (libs/algorithms aggregation/kernels.ts).
        const previous = rule.usesClientMemory ? memoryHashes.get(agentId) : null;
        // The update is read straight into the round's update buffer (for fedau/known-p/avg-*, WebAssembly memory
        // where it is summed without another copy). A clipped update is folded with its weight times the clip scale.
        const delta = await this.blobs.readFloat32Into(hashOf(agentId), aggregation.updateBuffer());
        aggregation.add(agentId, delta, previous ? await this.blobs.getFloat32(previous) : null, { scale: verdicts.get(agentId)!.scale });
        // An update becomes the client's memory M_n; it is already stored under its content hash.
        if (rule.usesClientMemory) memoryHashes.set(agentId, hashOf(agentId));
      }
      // x_t was read from its blob for this round only, so x_{t+1} is written over it (no fresh d-sized array).
      outcome = aggregation.finish(global, { into: global });
    }
    // A clipped update's memory is the clipped update (MIFA/FedVarp), a new blob.
    for (const agentId of clippedMemories) memoryHashes.set(agentId, await this.blobs.putFloat32(outcome.memories.get(agentId)!));
    const next = outcome.model;
    // Every aggregated update is finite and its norm within float32, but with no bound (or a huge absolute one) their
    // sum can still leave the float32 range: such a model is never written; the job fails and says why.
    const infinite = validateUpdate(next, next.length);
    if (infinite) {
      releaseIdleAggregationMemory();
      if (await this.jobs.fail(jobId, `Round ${round} would make the model non-finite (it ${infinite}); its updates were not applied`))
        this.logger.error(`job ${jobId} failed: round ${round}'s aggregate is not finite`);
      await this.rounds.abandon(jobId, round);
      return;
    }
    const aggregatedAt = performance.now();
    const outputModelHash = await this.blobs.putFloat32(next);
    const evaluation = evaluate(spec.model, next, this.catalog.get(spec.dataset).test);
    const metrics: RoundMetrics = {
      testAccuracy: evaluation.accuracy,
      testLoss: evaluation.loss,
      trainLoss: trainLosses.length ? trainLosses.reduce((s, x) => s + x, 0) / trainLosses.length : null,
    };
    const nextMemorySumHash = outcome.memorySum ? await this.blobs.putFloat64(outcome.memorySum) : null;
    const participated = new Set(participation.filter((p) => p.participated).map((p) => p.agentId));
    const usedWeights = participation.filter((p) => p.participated).map((p) => p.weight);
    const rejected = participation.filter((p) => p.absence === 'rejected').length;
    const clipped = participation.filter((p) => p.clipScale !== null).length;
    const finished = round + 1 >= job.progressTotal;
    const persistStarted = performance.now();
    const written = await this.rounds.finishClosing({
      jobId,
      round,
      outputModelHash,
      metrics,
      participants: participated.size,
      weightMin: usedWeights.length ? Math.min(...usedWeights) : null,
      weightMax: usedWeights.length ? Math.max(...usedWeights) : null,
      normBound: decision.bound,
      normReference: decision.reference,
      rejected,
      clipped,
      participation,
      clientStates: [...outcome.states].map(([agentId, state]) => ({
        agentId,
        state,
        memoryHash: memoryHashes.get(agentId) ?? null,
      })),
      memorySumHash: nextMemorySumHash,
      finished,
    });
    // The job's last round: the accumulator and update buffers kept for its next round are not needed.
    if (finished) releaseIdleAggregationMemory();
    if (!written) return;
    const persisted = performance.now();
    this.metrics.inc('flotilla_rounds_closed_total');
    // Where a close spends its time (scripts/scale.ts reads these): reading and folding the updates, then writing the
    // model and evaluating it, then the one transaction of checkpoint, participation and client states.
    this.metrics.inc('flotilla_round_close_aggregate_seconds_total', (aggregatedAt - closeStarted) / 1000);
    this.metrics.inc('flotilla_round_close_model_seconds_total', (persistStarted - aggregatedAt) / 1000);
    this.metrics.inc('flotilla_round_close_persist_seconds_total', (persisted - persistStarted) / 1000);
    this.metrics.inc('flotilla_round_participants_total', participated.size);
    // Those refused on arrival were counted then.
    this.metrics.inc('flotilla_updates_policy_rejected_total', decision.verdicts.filter((v) => v.outcome === 'rejected').length);
    this.metrics.inc('flotilla_updates_clipped_total', clipped);
    const judged = rejected + clipped > 0 ? ` (update policy: ${rejected} rejected, ${clipped} clipped)` : '';
    this.logger.log(
      `job ${jobId} round ${round} closed (${reason}): ${participated.size}/${r.eligibleAgentIds.length} participated${judged}, accuracy ${metrics.testAccuracy.toFixed(4)}`,
    );
    // The next round opens (the kind's advance sees round + 1 does not exist yet).
    if (!finished) await this.runner.wake(jobId);
  }

  /** An agent's update for (job, round): validated, stored content-addressed, never aggregated if bad. */
  async submitUpdate(
    agentId: string,
    jobId: string,
    round: number,
    body: Buffer,
    meta: UpdateMeta,
  ): Promise<{ status: 'accepted'; hash: string }> {
    try {
      return await this.acceptUpdate(agentId, jobId, round, body, meta);
    } finally {
      // Answered, even if refused: the agent is not handed this round again.
      await this.queues.removeTrain(agentId, jobId, round);
    }
  }

  private async acceptUpdate(
    agentId: string,
    jobId: string,
    round: number,
    body: Buffer,
    meta: UpdateMeta,
  ): Promise<{ status: 'accepted'; hash: string }> {
    // A repeat (the agent retried after the first answer was lost) gets the first answer, even when that update
    // closed the round meanwhile; it is looked up before the gate for that reason.
    const repeated = await this.repeatedUpdate(agentId, jobId, round, body);
    if (repeated) return repeated;
    await this.answerable(agentId, jobId, round);
    const parameterCount = await this.parameterCount(jobId);
    const expectedBytes = parameterCount * 4;
    if (body.byteLength !== expectedBytes) {
      this.metrics.inc('flotilla_updates_rejected_total');
      throw new InvalidUpdateError(
        `Update has ${body.byteLength} bytes; this job's model has ${parameterCount} float32 parameters (${expectedBytes} bytes)`,
      );
    }
    const delta = bytesToFloat32(body);
    const problem = validateUpdate(delta, parameterCount);
    if (problem) {
      this.metrics.inc('flotilla_updates_rejected_total');
      throw new InvalidUpdateError(`Update refused: ${problem}`);
    }
    const norm = updateNorm(delta);
    const policy = await this.updatePolicy(jobId);
    const refusal = verdictOnArrival(policy, norm);
    if (refusal) return this.refuseByPolicy(agentId, jobId, round, norm, meta, refusal, policy);
    const hash = await this.blobs.putFloat32(delta);
    const outcome = await this.recordAnswer({
      jobId,
      round,
      agentId,
      blobHash: hash,
      updateNorm: norm,
      exampleCount: meta.exampleCount,
      trainLoss: meta.trainLoss,
      durationMs: meta.durationMs,
    });
    if (outcome.outcome === 'closed') throw new RoundClosedError(`Round ${round} of job ${jobId} is closed`);
    if (outcome.outcome === 'duplicate') {
      // The same update raced in on two connections: the other request stored it.
      const again = await this.repeatedUpdate(agentId, jobId, round, body);
      if (again) return again;
      throw new ConflictError('This agent already answered this round; the first answer stands');
    }
    this.metrics.inc('flotilla_updates_accepted_total');
    await this.closeIfAllAnswered(jobId, round, outcome);
    return { status: 'accepted', hash };
  }

  /**
   * An update the update policy refuses as it arrives (beyond an absolute bound with `reject`, or a norm beyond
   * float32): 422, and recorded as the agent's answer (no blob) so that the round need not wait for it; at the close
   * the agent is a non-participant with absence `rejected` (docs/algorithms/fedau.md §11).
   */
  private async refuseByPolicy(
    agentId: string,
    jobId: string,
    round: number,
    norm: number,
    meta: UpdateMeta,
    refusal: UpdateRejection,
    policy: UpdatePolicy,
  ): Promise<never> {
    const outcome = await this.recordAnswer({ jobId, round, agentId, rejected: true, updateNorm: norm, ...meta });
    if (outcome.outcome === 'closed') throw new RoundClosedError(`Round ${round} of job ${jobId} is closed`);
    if (outcome.outcome === 'recorded') this.metrics.inc('flotilla_updates_policy_rejected_total');
    await this.closeIfAllAnswered(jobId, round, outcome);
    const why =
      refusal.reason === 'bound' && policy.bound.kind === 'absolute'
        ? `exceeds the bound ${policy.bound.maxNorm}`
        : 'does not fit in a float32';
    throw new InvalidUpdateError(`Update refused by the job's update policy: its L2 norm ${norm.toExponential(3)} ${why}`);
  }

  /**
   * An agent says it will not train this round (unavailable, or it cannot: reason `error`, kept as the agent's
   * lastError): it is a non-participant, and the round need not wait for it. A repeated decline gets the first answer.
   */
  async decline(agentId: string, jobId: string, round: number, body: Decline): Promise<{ status: 'declined' }> {
    await this.queues.removeTrain(agentId, jobId, round);
    // One statement when all is well (the common case, thousands of times a round); the reasons why not after it.
    const outcome = await this.recordAnswer({ jobId, round, agentId, declined: true });
    if (outcome.outcome !== 'recorded') {
      // A repeat gets the first answer, even after the round closed.
      const stored = await this.rounds.findAnswer(jobId, round, agentId);
      if (stored) return this.repeatedDecline(stored);
      await this.answerable(agentId, jobId, round);
      throw new RoundClosedError(`Round ${round} of job ${jobId} is closed`);
    }
    if (body.reason === 'error') {
      const message = `round ${round} of job ${jobId}: ${body.message ?? 'the agent could not train (no message)'}`;
      await this.agents.recordError(agentId, message);
      this.logger.warn(`agent ${agentId} could not train ${message}`);
    }
    await this.closeIfAllAnswered(jobId, round, outcome);
    return { status: 'declined' };
  }

  /**
   * The first answer to an update this agent already gave for the round: the same status and hash when the bytes are
   * the same (a retry), 409 when they differ or the agent declined (the first answer stands); null when there is none.
   */
  private async repeatedUpdate(
    agentId: string,
    jobId: string,
    round: number,
    body: Buffer,
  ): Promise<{ status: 'accepted'; hash: string } | null> {
    const stored = await this.rounds.findAnswer(jobId, round, agentId);
    if (!stored) return null;
    if (stored.rejected)
      throw new InvalidUpdateError("This agent's update for this round was refused by the job's update policy; the first answer stands");
    const hash = BlobStore.hash(body);
    if (stored.blobHash !== hash) {
      throw new ConflictError(
        stored.declined
          ? 'This agent declined this round already; the first answer stands'
          : 'This agent already answered this round with a different update; the first answer stands',
      );
    }
    this.metrics.inc('flotilla_answers_repeated_total');
    return { status: 'accepted', hash };
  }

  private repeatedDecline(stored: { declined: boolean } | null): { status: 'declined' } {
    if (!stored?.declined) throw new ConflictError('This agent already sent an update for this round; the first answer stands');
    this.metrics.inc('flotilla_answers_repeated_total');
    return { status: 'declined' };
  }

  /** Records one answer (see RoundsRepository.recordAnswers), in a batch with those arriving at the same moment. */
  private recordAnswer(answer: NewAnswer): Promise<RecordedAnswer> {
    return this.answers.run(answer);
  }

  /** Throws what keeps the agent from answering: no such round (404), not asked (403), closed (409). */
  private async answerable(agentId: string, jobId: string, round: number): Promise<void> {
    const gate = await this.rounds.gate(jobId, round, agentId);
    if (!gate) throw new NotFoundError(`Round ${round} of job ${jobId} does not exist`);
    if (!gate.eligible) throw new NotEligibleError(`Agent ${agentId} was not asked to train in round ${round} of job ${jobId}`);
    if (!gate.open) throw new RoundClosedError(`Round ${round} of job ${jobId} is closed`);
  }

  /** A job's parameter count never changes: read once per process (every update's length is checked against it). */
  private async parameterCount(jobId: string): Promise<number> {
    let n = this.parameterCounts.get(jobId);
    if (n === undefined) {
      n = (await this.rounds.model(jobId)).parameterCount;
      if (this.parameterCounts.size >= 1000) this.parameterCounts.delete(this.parameterCounts.keys().next().value!);
      this.parameterCounts.set(jobId, n);
    }
    return n;
  }

  /** A job's update policy never changes either: read once per process (every update's norm is checked against it). */
  private async updatePolicy(jobId: string): Promise<UpdatePolicy> {
    let policy = this.updatePolicies.get(jobId);
    if (policy === undefined) {
      const job = await this.job(jobId);
      if (!job) throw new NotFoundError(`Job ${jobId} does not exist`);
      policy = job.spec.updatePolicy;
      if (this.updatePolicies.size >= 1000) this.updatePolicies.delete(this.updatePolicies.keys().next().value!);
      this.updatePolicies.set(jobId, policy);
    }
    return policy;
  }

  /** The last eligible agent answered: the round closes now instead of at its deadline. */
  private async closeIfAllAnswered(jobId: string, round: number, recorded: RecordedAnswer): Promise<void> {
    if (recorded.outcome === 'recorded' && recorded.answers >= recorded.eligible) {
      await this.queues.scheduleControl({ name: ControlJobName.CloseRound, data: { jobId, round, reason: 'all-answered' } }, 0, 'answered');
    }
  }
}
