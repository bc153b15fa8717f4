import { Injectable } from '@nestjs/common';
import { RoundMetricsSchema, type CreateFederatedJob, type Page, type RoundMetrics } from '@flotilla/contracts';
import { Prisma, type Checkpoint, type FederatedJob, type Round, type Update } from '@prisma/client';
import { toJson } from '../../database/json';
import { PrismaService } from '../../database/prisma.service';
import { JobsRepository, type StoredJob } from '../../jobs/jobs.repository';

export interface ParticipationRow {
  agentId: string;
  participated: boolean;
  weight: number;
  updateNorm: number | null;
  exampleCount: number | null;
  trainLoss: number | null;
  durationMs: number | null;
  /** 'declined', 'timeout', or 'rejected' (by the update policy); null for a participant. */
  absence: string | null;
  /** The multiplier of an update the update policy clipped; null otherwise. */
  clipScale: number | null;
}

/** An answer to record: an update (with its blob and metrics) or a decline. */
export interface NewAnswer {
  jobId: string;
  round: number;
  agentId: string;
  blobHash?: string | null;
  declined?: boolean;
  /** An update the update policy refused on arrival: no blob, its norm and metadata kept. */
  rejected?: boolean;
  updateNorm?: number | null;
  exampleCount?: number | null;
  trainLoss?: number | null;
  durationMs?: number | null;
}

/** Whether an agent may answer a round now (`open`: open, before its deadline, its job running; `eligible`: asked). */
export interface AnswerGate {
  open: boolean;
  eligible: boolean;
}

export type RecordedAnswer = { outcome: 'recorded'; answers: number; eligible: number } | { outcome: 'closed' | 'duplicate' };

export interface CloseRoundWrite {
  jobId: string;
  round: number;
  outputModelHash: string;
  metrics: RoundMetrics;
  participants: number;
  weightMin: number | null;
  weightMax: number | null;
  /** The update policy's bound and reference norm in this round, and how many updates it rejected and clipped. */
  normBound: number | null;
  normReference: number | null;
  rejected: number;
  clipped: number;
  participation: ParticipationRow[];
  /** Every client's rule state after the round; `memoryHash` is its memory blob (MIFA/FedVarp) or null. */
  clientStates: { agentId: string; state: unknown; memoryHash: string | null }[];
  /** MIFA/FedVarp: blob of Σ_n M_n after this round. */
  memorySumHash: string | null;
  /** The job is finished after this round. */
  finished: boolean;
}

/**
 * The persisted state of federated jobs: the global model (federated_jobs), rounds, the answers of open rounds,
 * participation, checkpoints and the aggregation rule's per-client states. The jobs row itself changes only through
 * JobsRepository, inside these transactions.
 */
@Injectable()
export class RoundsRepository {
  constructor(
    private readonly prisma: PrismaService,
    private readonly jobs: JobsRepository,
  ) {}

  /** The job row, its model and its initial checkpoint (round −1) together. */
  createJob(spec: CreateFederatedJob, model: { parameterCount: number; hash: string; metrics: RoundMetrics }): Promise<StoredJob> {
    return this.prisma.$transaction(async (tx) => {
      const job = await this.jobs.create({ spec, progressTotal: spec.rounds }, tx);
      await tx.federatedJob.create({ data: { jobId: job.id, parameterCount: model.parameterCount, modelHash: model.hash } });
      await tx.checkpoint.create({ data: { jobId: job.id, round: -1, hash: model.hash, metrics: toJson(model.metrics) } });
      return job;
    });
  }

  /** The job's model row (every federated job has one). */
  async model(jobId: string): Promise<FederatedJob> {
    const m = await this.prisma.federatedJob.findUnique({ where: { jobId } });
    if (!m) throw new Error(`federated job ${jobId} has no model row`);
    return m;
  }

  /** The held-out metrics of checkpoint `round` (−1: the initial model), or null when there is none. */
  async metricsOf(jobId: string, round: number): Promise<RoundMetrics | null> {
    const c = await this.prisma.checkpoint.findUnique({ where: { jobId_round: { jobId, round } }, select: { metrics: true } });
    return c?.metrics == null ? null : RoundMetricsSchema.parse(c.metrics);
  }

  /** The model blob of checkpoint `round` (−1: the initial model), or null when there is none. */
  async checkpointHash(jobId: string, round: number): Promise<string | null> {
    const c = await this.prisma.checkpoint.findUnique({ where: { jobId_round: { jobId, round } }, select: { hash: true } });
    return c?.hash ?? null;
  }

  find(jobId: string, round: number): Promise<Round | null> {
    return this.prisma.round.findUnique({ where: { jobId_index: { jobId, index: round } } });
  }

  /** One page of a job's rounds by index, and how many it has. */
  async list(jobId: string, page: Page): Promise<{ items: Round[]; total: number }> {
    const [items, total] = await Promise.all([
      this.prisma.round.findMany({ where: { jobId }, orderBy: { index: 'asc' }, skip: page.offset, take: page.limit }),
      this.prisma.round.count({ where: { jobId } }),
    ]);
    return { items, total };
  }

  /** Rounds open or half-closed in running jobs: what the reconciler checks against what Redis holds. */
  unfinished(): Promise<Round[]> {
    return this.prisma.round.findMany({ where: { status: { in: ['open', 'closing'] }, job: { status: 'running' } } });
  }

  /** The agents that answered (update, decline or refusal) a round so far. */
  async answeredAgentIds(jobId: string, round: number): Promise<Set<string>> {
    const rows = await this.prisma.update.findMany({ where: { jobId, round }, select: { agentId: true } });
    return new Set(rows.map((r) => r.agentId));
  }

  /** Open rounds that asked this agent. */
  openRoundsOf(agentId: string): Promise<Round[]> {
    return this.prisma.round.findMany({ where: { status: 'open', eligibleAgentIds: { has: agentId } } });
  }

  /** Creates the round unless it exists; returns the stored row either way. */
  async open(data: { jobId: string; index: number; eligibleAgentIds: string[]; inputModelHash: string; deadlineAt: Date }): Promise<Round> {
    try {
      return await this.prisma.round.create({ data });
    } catch (e) {
      if (e instanceof Prisma.PrismaClientKnownRequestError && e.code === 'P2002') {
        return (await this.find(data.jobId, data.index))!;
      }
      throw e;
    }
  }

  answers(jobId: string, round: number): Promise<Update[]> {
    return this.prisma.update.findMany({ where: { jobId, round }, orderBy: { receivedAt: 'asc' } });
  }

  /**
   * Whether `agentId` may answer round `round` of `jobId` now, without reading the round's list of eligible agents
   * (thousands of ids) into the process: null when there is no such round.
   */
  async gate(jobId: string, round: number, agentId: string): Promise<AnswerGate | null> {
    const rows = await this.prisma.$queryRaw<{ open: boolean; eligible: boolean }[]>`
      SELECT (r.status = 'open' AND r.deadline_at >= now() AND j.status = 'running') AS open,
             ${agentId}::uuid = ANY(r.eligible_agent_ids) AS eligible
        FROM rounds r JOIN jobs j ON j.id = r.job_id
       WHERE r.job_id = ${jobId}::uuid AND r.index = ${round}`;
    return rows[0] ?? null;
  }

  findAnswer(jobId: string, round: number, agentId: string): Promise<Update | null> {
    return this.prisma.update.findUnique({ where: { jobId_round_agentId: { jobId, round, agentId } } });
  }

  /**
   * Records answers of eligible agents while their rounds are open, and counts them on the round rows, in ONE
   * statement for the whole batch (no interactive transaction: a burst of thousands of answers costs a few dozen
   * statements, each queuing on the round row's lock, not on the connection pool). The round rows are locked while the
   * answers are stored, so closing (which takes the row FOR UPDATE) waits for in-flight answers and no answer lands
   * after the answers were frozen. Per answer, in order: 'closed' when the round no longer accepts this agent's answer
   * (closed, past its deadline, its job not running, or the agent was not asked), 'duplicate' when one is stored already (the count is
   * unchanged, and so for the second of two answers of one agent to one round in the batch); with 'recorded', the
   * round's answers after this batch and how many agents were asked.
   */
  async recordAnswers(batch: NewAnswer[]): Promise<RecordedAnswer[]> {
    if (!batch.length) return [];
    const rows = await this.prisma.$queryRaw<
      { i: number; open: boolean; inserted: boolean; answers: number | null; eligible: number | null }[]
    >`
      WITH input AS (
        SELECT * FROM unnest(
          ${batch.map((a) => a.jobId)}::uuid[], ${batch.map((a) => a.round)}::int[], ${batch.map((a) => a.agentId)}::uuid[],
          ${batch.map((a) => a.blobHash ?? null)}::text[], ${batch.map((a) => a.declined ?? false)}::boolean[],
          ${batch.map((a) => a.rejected ?? false)}::boolean[], ${batch.map((a) => a.updateNorm ?? null)}::float8[],
          ${batch.map((a) => a.exampleCount ?? null)}::int[], ${batch.map((a) => a.trainLoss ?? null)}::float8[],
          ${batch.map((a) => a.durationMs ?? null)}::int[]
        ) WITH ORDINALITY AS t(job_id, round, agent_id, blob_hash, declined, rejected, update_norm, example_count, train_loss, duration_ms, i)
      ), gate AS (
        SELECT r.job_id, r.index, r.eligible_agent_ids FROM rounds r JOIN jobs j ON j.id = r.job_id
         WHERE (r.job_id, r.index) IN (SELECT job_id, round FROM input) AND r.status = 'open' AND r.deadline_at >= now()
           AND j.status = 'running'
           FOR UPDATE OF r
      ), asked AS (
        -- Each open round's eligible ids once (an array of thousands, unnested once per batch, not read once per answer).
        SELECT g.job_id, g.index, unnest(g.eligible_agent_ids) AS agent_id FROM gate g
      ), allowed AS (
        SELECT input.* FROM input JOIN asked ON asked.job_id = input.job_id AND asked.index = input.round AND asked.agent_id = input.agent_id
      ), admitted AS (
        -- Two answers of one agent to one round in the batch: the first is stored, the second is a duplicate.
        SELECT DISTINCT ON (job_id, round, agent_id) * FROM allowed ORDER BY job_id, round, agent_id, i
      ), ins AS (
        INSERT INTO updates (job_id, round, agent_id, blob_hash, declined, rejected, update_norm, example_count, train_loss, duration_ms)
        SELECT job_id, round, agent_id, blob_hash, declined, rejected, update_norm, example_count, train_loss, duration_ms FROM admitted
        ON CONFLICT (job_id, round, agent_id) DO NOTHING
        RETURNING job_id, round, agent_id
      ), counted AS (
        UPDATE rounds r SET answers = r.answers + c.n
          FROM (SELECT job_id, round, count(*)::int AS n FROM ins GROUP BY job_id, round) c
         WHERE r.job_id = c.job_id AND r.index = c.round
        RETURNING r.job_id, r.index, r.answers, cardinality(r.eligible_agent_ids) AS eligible
      )
      SELECT input.i::int AS i,
             EXISTS (SELECT 1 FROM allowed a WHERE a.i = input.i) AS open,
             EXISTS (SELECT 1 FROM admitted a JOIN ins ON ins.job_id = a.job_id AND ins.round = a.round AND ins.agent_id = a.agent_id
                      WHERE a.i = input.i) AS inserted,
             c.answers, c.eligible
        FROM input LEFT JOIN counted c ON c.job_id = input.job_id AND c.index = input.round
       ORDER BY input.i`;
    return rows.map((r): RecordedAnswer => {
      if (!r.open) return { outcome: 'closed' };
      if (!r.inserted) return { outcome: 'duplicate' };
      return { outcome: 'recorded', answers: r.answers!, eligible: r.eligible! };
    });
  }

  /** open → closing: freezes the set of answers. Returns false if the round was not open. */
  async beginClosing(jobId: string, round: number): Promise<boolean> {
    return this.prisma.$transaction(async (tx) => {
      const rows = await tx.$queryRaw<{ status: string }[]>`
        SELECT status::text AS status FROM rounds WHERE job_id = ${jobId}::uuid AND index = ${round} FOR UPDATE`;
      if (rows[0]?.status !== 'open') return rows[0]?.status === 'closing';
      await tx.round.update({ where: { jobId_index: { jobId, index: round } }, data: { status: 'closing' } });
      return true;
    });
  }

  /** closing → closed with checkpoint, metrics, participation rows, client states and job progress, in one transaction. */
  async finishClosing(w: CloseRoundWrite): Promise<boolean> {
    return this.prisma.$transaction(async (tx) => {
      const flipped = await tx.round.updateMany({
        where: { jobId: w.jobId, index: w.round, status: 'closing' },
        data: {
          status: 'closed',
          closedAt: new Date(),
          outputModelHash: w.outputModelHash,
          participants: w.participants,
          weightMin: w.weightMin,
          weightMax: w.weightMax,
          normBound: w.normBound,
          normReference: w.normReference,
          rejected: w.rejected,
          clipped: w.clipped,
          metrics: toJson(w.metrics),
        },
      });
      if (flipped.count !== 1) return false;
      // Every asked agent's row in one statement of eleven array parameters (createMany binds one parameter per column
      // and row, and PostgreSQL refuses more than 65,535: a round of 10,000 agents would not close).
      if (w.participation.length) {
        const rows = w.participation;
        await tx.$executeRaw`
          INSERT INTO participations (job_id, round, agent_id, participated, weight, update_norm, example_count, train_loss, duration_ms, absence, clip_scale)
          SELECT ${w.jobId}::uuid, ${w.round}::int, p.*
            FROM unnest(${rows.map((p) => p.agentId)}::uuid[], ${rows.map((p) => p.participated)}::boolean[],
                        ${rows.map((p) => p.weight)}::float8[], ${rows.map((p) => p.updateNorm)}::float8[],
                        ${rows.map((p) => p.exampleCount)}::int[], ${rows.map((p) => p.trainLoss)}::float8[],
                        ${rows.map((p) => p.durationMs)}::int[], ${rows.map((p) => p.absence)}::text[],
                        ${rows.map((p) => p.clipScale)}::float8[])
                 AS p(agent_id, participated, weight, update_norm, example_count, train_loss, duration_ms, absence, clip_scale)`;
      }
      // Every client's state in one statement (a round of 10,000 clients is one round trip, not 10,000).
      if (w.clientStates.length) {
        await tx.$executeRaw`
          INSERT INTO client_states (job_id, agent_id, state, memory_hash)
          SELECT ${w.jobId}::uuid, s.agent_id, s.state, s.memory_hash
            FROM unnest(${w.clientStates.map((c) => c.agentId)}::uuid[], ${w.clientStates.map((c) => JSON.stringify(c.state))}::jsonb[],
                        ${w.clientStates.map((c) => c.memoryHash)}::text[]) AS s(agent_id, state, memory_hash)
          ON CONFLICT (job_id, agent_id) DO UPDATE SET state = excluded.state, memory_hash = excluded.memory_hash`;
      }
      await tx.checkpoint.create({
        data: { jobId: w.jobId, round: w.round, hash: w.outputModelHash, metrics: toJson(w.metrics), memorySumHash: w.memorySumHash },
      });
      await tx.federatedJob.update({ where: { jobId: w.jobId }, data: { modelHash: w.outputModelHash } });
      if (w.finished) await this.jobs.complete(w.jobId, { progressDone: w.round + 1 }, tx);
      else await this.jobs.setProgress(w.jobId, w.round + 1, tx);
      return true;
    });
  }

  /** Closes a round of a cancelled job without aggregating anything. */
  async abandon(jobId: string, round: number): Promise<void> {
    await this.prisma.round.updateMany({
      where: { jobId, index: round, status: { in: ['open', 'closing'] } },
      data: { status: 'closed', closedAt: new Date() },
    });
  }

  clientStates(jobId: string): Promise<{ agentId: string; state: Prisma.JsonValue; memoryHash: string | null }[]> {
    return this.prisma.clientState.findMany({ where: { jobId }, select: { agentId: true, state: true, memoryHash: true } });
  }

  /** The Σ-of-memories blob written with round `round`'s checkpoint (null before the first round, or for rules without memories). */
  async memorySumHash(jobId: string, round: number): Promise<string | null> {
    const c = await this.prisma.checkpoint.findUnique({ where: { jobId_round: { jobId, round } }, select: { memorySumHash: true } });
    return c?.memorySumHash ?? null;
  }

  /**
   * A page of a job's participation matrix: `rounds` a page over the closed rounds (those with participation rows),
   * `agents` a page over every agent ever asked, in id order; with each agent's rounds asked and participated in
   * (all rounds, not only the page's) and the totals.
   */
  async participation(jobId: string, rounds: Page, agents: Page) {
    const [roundIndices, asked, took] = await Promise.all([
      this.prisma.participation.groupBy({ by: ['round'], where: { jobId }, orderBy: { round: 'asc' } }),
      this.prisma.participation.groupBy({ by: ['agentId'], where: { jobId }, _count: { _all: true }, orderBy: { agentId: 'asc' } }),
      this.prisma.participation.groupBy({ by: ['agentId'], where: { jobId, participated: true }, _count: { _all: true } }),
    ]);
    const pageRounds = roundIndices.slice(rounds.offset, rounds.offset + rounds.limit).map((r) => r.round);
    const pageAgents = asked.slice(agents.offset, agents.offset + agents.limit);
    const tookBy = new Map(took.map((t) => [t.agentId, t._count._all]));
    const rows =
      pageRounds.length && pageAgents.length
        ? await this.prisma.participation.findMany({
            where: { jobId, round: { gte: pageRounds[0], lte: pageRounds.at(-1)! }, agentId: { in: pageAgents.map((a) => a.agentId) } },
            orderBy: [{ round: 'asc' }],
          })
        : [];
    return {
      rows,
      rounds: pageRounds,
      agents: pageAgents.map((a) => ({ agentId: a.agentId, asked: a._count._all, took: tookBy.get(a.agentId) ?? 0 })),
      totalRounds: roundIndices.length,
      totalAgents: asked.length,
    };
  }

  /** Updates the update policy rejected and clipped over the job's closed rounds. */
  async policyCounts(jobId: string): Promise<{ rejected: number; clipped: number }> {
    const sums = await this.prisma.round.aggregate({ where: { jobId }, _sum: { rejected: true, clipped: true } });
    return { rejected: sums._sum.rejected ?? 0, clipped: sums._sum.clipped ?? 0 };
  }

  checkpoints(jobId: string): Promise<Checkpoint[]> {
    return this.prisma.checkpoint.findMany({ where: { jobId }, orderBy: { round: 'asc' } });
  }
}
