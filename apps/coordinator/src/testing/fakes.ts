import {
  agentTaskId,
  ControlJobName,
  CreateJobSchema,
  describeIssues,
  trainTaskId,
  type AgentTask,
  type ControlJob,
  type CreateFederatedJob,
  type CreateJob,
  type Page,
  type RoundMetrics,
  type TaskRef,
  type TrainTask,
} from '@flotilla/contracts';
import type {
  Agent,
  Checkpoint,
  ClientState,
  FederatedJob,
  Job,
  Participation,
  Prisma,
  Round,
  Task,
  TaskStatus,
  Update,
} from '@prisma/client';
import type { AgentsRepository } from '../agents/agents.repository';
import { BlobStore } from '../blobs/blob-store';
import type { JobLeasesRepository } from '../control/job-leases.repository';
import { NotFoundError, ValidationError } from '../common/errors';
import type { JobRunner } from '../jobs/job-runner.service';
import type { JobsRepository, StoredJob } from '../jobs/jobs.repository';
import type { AnswerGate, CloseRoundWrite, NewAnswer, RecordedAnswer, RoundsRepository } from '../kinds/federated/rounds.repository';
import type { QueueService } from '../queue/queue.service';
import type { NewTask, TaskRow, TasksRepository } from '../tasks/tasks.repository';

/**
 * In-memory stand-ins for the coordinator's repositories, queues and blob store, for unit specs of the services'
 * decisions (no PostgreSQL, no Redis, no files). Each fake repository implements the methods the services call
 * with the semantics of the real Prisma code next to it: the same compare-and-set conditions on status and
 * attempt, the same "returns the stored row" on a duplicate key, the same ordering. Every method reads and writes
 * the shared {@link World} synchronously, so a method is atomic like the real one's transaction; rows handed out
 * are copies, like rows read from a database.
 *
 * Not shipped: the build ignores testing/, and no production folder may import it (module-map.spec.ts).
 */

/**
 * A stand-in passed where a constructor wants a T. `impl` must give the members it has T's types; the members it
 * lacks are never called by the code under test (a call would fail loudly: "is not a function").
 */
export function fake<T>(impl: Partial<T>): T {
  return impl as T;
}

/**
 * Freezes `Date` (Date.now(), new Date()) at `at`; timers, promises and ticks stay real. Undo with
 * jest.useRealTimers(). The services compute deadlines and delays from Date.now(), so the specs can state them exactly.
 */
export function freezeClock(at: Date): { advance(ms: number): void } {
  jest.useFakeTimers({
    now: at,
    doNotFake: [
      'hrtime',
      'nextTick',
      'performance',
      'queueMicrotask',
      'requestAnimationFrame',
      'cancelAnimationFrame',
      'requestIdleCallback',
      'cancelIdleCallback',
      'setImmediate',
      'clearImmediate',
      'setInterval',
      'clearInterval',
      'setTimeout',
      'clearTimeout',
    ],
  });
  return { advance: (ms) => jest.setSystemTime(Date.now() + ms) };
}

const now = (): Date => new Date(Date.now());
/** A database row read back: a copy, so that changing it changes nothing stored. */
const copy = <T>(row: T): T => structuredClone(row);
/** What a Json column reads back as (JSON text round trip, like toJson in database/json.ts). */
const json = (value: unknown): Prisma.JsonValue => JSON.parse(JSON.stringify(value)) as Prisma.JsonValue;

/** Thrown where PostgreSQL would refuse a row with a duplicate primary or unique key. */
export class UniqueViolation extends Error {}

/** The persisted state: one array or map per table the services touch. */
export class World {
  readonly jobs = new Map<string, Job>();
  readonly federatedJobs = new Map<string, FederatedJob>();
  readonly rounds: Round[] = [];
  /** The `updates` table: the answers (updates and declines) of rounds. */
  readonly answers: Update[] = [];
  readonly participation: Participation[] = [];
  readonly clientStates: ClientState[] = [];
  readonly checkpoints: Checkpoint[] = [];
  readonly tasks: Task[] = [];
  readonly agents: Agent[] = [];
  private lastId = 0;

  /** A fresh uuid (deterministic: 00000000-0000-4000-8000-000000000001, …). */
  newId(): string {
    this.lastId += 1;
    return `00000000-0000-4000-8000-${this.lastId.toString(16).padStart(12, '0')}`;
  }

  round(jobId: string, index: number): Round | undefined {
    return this.rounds.find((r) => r.jobId === jobId && r.index === index);
  }

  answer(jobId: string, round: number, agentId: string): Update | undefined {
    return this.answers.find((a) => a.jobId === jobId && a.round === round && a.agentId === agentId);
  }

  checkpoint(jobId: string, round: number): Checkpoint | undefined {
    return this.checkpoints.find((c) => c.jobId === jobId && c.round === round);
  }

  task(id: string): Task | undefined {
    return this.tasks.find((t) => t.id === id);
  }

  agent(id: string): Agent | undefined {
    return this.agents.find((a) => a.id === id);
  }

  /**
   * Registers an agent whose last heartbeat was `heartbeatAgoMs` ago (null: never). Agents are created one
   * millisecond apart, in call order, which is the order the repositories list them in (created_at).
   */
  addAgent(
    name: string,
    o: {
      datasets?: string[];
      datasetHashes?: Record<string, string> | null;
      heartbeatAgoMs?: number | null;
      labels?: Record<string, string>;
      backend?: string | null;
    } = {},
  ): Agent {
    const heartbeat = o.heartbeatAgoMs === undefined ? 0 : o.heartbeatAgoMs;
    const agent: Agent = {
      id: this.newId(),
      name,
      secretHash: 'unused',
      datasets: o.datasets ?? [],
      exampleCounts: null,
      datasetHashes: o.datasetHashes ?? null,
      lastHeartbeatAt: heartbeat === null ? null : new Date(Date.now() - heartbeat),
      lastTaskTimeoutAt: null,
      revokedAt: null,
      netRetries: null,
      netFailures: null,
      netReportedAt: null,
      lastError: null,
      lastErrorAt: null,
      leftAt: null,
      labels: o.labels ?? {},
      backend: o.backend ?? null,
      device: null,
      createdAt: new Date(Date.UTC(2020, 0, 1) + this.agents.length),
    };
    this.agents.push(agent);
    return copy(agent);
  }

  /** The agent's heartbeat arrives now. */
  heartbeat(agentId: string): void {
    const a = this.agent(agentId);
    if (!a) throw new Error(`agent ${agentId} not found`);
    a.lastHeartbeatAt = now();
  }
}

/** A stored job's spec parsed back into its type, as JobsRepository's `stored`. */
function storedJob(job: Job): StoredJob {
  const parsed = CreateJobSchema.safeParse(job.spec);
  if (!parsed.success) throw new Error(`job ${job.id}: its stored spec no longer parses (${describeIssues(parsed.error)})`);
  if (parsed.data.kind !== job.kind) throw new Error(`job ${job.id}: a ${job.kind} job with a ${parsed.data.kind} spec`);
  return { ...copy(job), kind: parsed.data.kind, spec: parsed.data };
}

/** JobsRepository: status changes only ever move a `running` job. */
export class FakeJobsRepository implements Pick<
  JobsRepository,
  'create' | 'findById' | 'running' | 'setProgress' | 'complete' | 'fail' | 'cancel'
> {
  constructor(private readonly world: World) {}

  create(data: { spec: CreateJob; progressTotal: number }): Promise<StoredJob> {
    const job: Job = {
      id: this.world.newId(),
      kind: data.spec.kind,
      name: data.spec.name ?? null,
      status: 'running',
      spec: json(data.spec),
      progressDone: 0,
      progressTotal: data.progressTotal,
      error: null,
      result: null,
      createdAt: now(),
      finishedAt: null,
    };
    this.world.jobs.set(job.id, job);
    return Promise.resolve(storedJob(job));
  }

  findById(id: string): Promise<StoredJob | null> {
    const job = this.world.jobs.get(id);
    return Promise.resolve(job ? storedJob(job) : null);
  }

  running(): Promise<StoredJob[]> {
    return Promise.resolve([...this.world.jobs.values()].filter((j) => j.status === 'running').map(storedJob));
  }

  setProgress(id: string, done: number): Promise<void> {
    const job = this.runningJob(id);
    if (job && job.progressDone !== done) job.progressDone = done;
    return Promise.resolve();
  }

  complete(id: string, end: { progressDone: number; result?: unknown }): Promise<boolean> {
    const job = this.runningJob(id);
    if (!job) return Promise.resolve(false);
    Object.assign(job, { status: 'completed', progressDone: end.progressDone, finishedAt: now() });
    if (end.result !== undefined) job.result = json(end.result);
    return Promise.resolve(true);
  }

  fail(id: string, error: string): Promise<boolean> {
    const job = this.runningJob(id);
    if (job) Object.assign(job, { status: 'failed', error, finishedAt: now() });
    return Promise.resolve(Boolean(job));
  }

  cancel(id: string): Promise<boolean> {
    const job = this.runningJob(id);
    if (job) Object.assign(job, { status: 'cancelled', finishedAt: now() });
    return Promise.resolve(Boolean(job));
  }

  private runningJob(id: string): Job | undefined {
    const job = this.world.jobs.get(id);
    return job?.status === 'running' ? job : undefined;
  }
}

/** RoundsRepository: rounds open → closing → closed by compare-and-set; answers only while open and before the deadline. */
export class FakeRoundsRepository implements Pick<
  RoundsRepository,
  | 'createJob'
  | 'model'
  | 'find'
  | 'list'
  | 'openRoundsOf'
  | 'unfinished'
  | 'answeredAgentIds'
  | 'open'
  | 'answers'
  | 'gate'
  | 'findAnswer'
  | 'recordAnswers'
  | 'beginClosing'
  | 'finishClosing'
  | 'abandon'
  | 'clientStates'
  | 'memorySumHash'
  | 'checkpoints'
> {
  constructor(
    private readonly world: World,
    private readonly jobs: FakeJobsRepository,
  ) {}

  async createJob(spec: CreateFederatedJob, model: { parameterCount: number; hash: string; metrics: RoundMetrics }): Promise<StoredJob> {
    const job = await this.jobs.create({ spec, progressTotal: spec.rounds });
    this.world.federatedJobs.set(job.id, { jobId: job.id, parameterCount: model.parameterCount, modelHash: model.hash });
    this.insertCheckpoint({
      jobId: job.id,
      round: -1,
      hash: model.hash,
      metrics: json(model.metrics),
      memorySumHash: null,
      createdAt: now(),
    });
    return job;
  }

  model(jobId: string): Promise<FederatedJob> {
    const m = this.world.federatedJobs.get(jobId);
    if (!m) return Promise.reject(new Error(`federated job ${jobId} has no model row`));
    return Promise.resolve(copy(m));
  }

  find(jobId: string, round: number): Promise<Round | null> {
    const r = this.world.round(jobId, round);
    return Promise.resolve(r ? copy(r) : null);
  }

  list(jobId: string, page: Page): Promise<{ items: Round[]; total: number }> {
    const all = this.world.rounds.filter((r) => r.jobId === jobId).sort((x, y) => x.index - y.index);
    return Promise.resolve({ items: all.slice(page.offset, page.offset + page.limit).map(copy), total: all.length });
  }

  /** Rounds open or half-closed in running jobs. */
  unfinished(): Promise<Round[]> {
    return Promise.resolve(
      this.world.rounds
        .filter((r) => (r.status === 'open' || r.status === 'closing') && this.world.jobs.get(r.jobId)?.status === 'running')
        .map(copy),
    );
  }

  answeredAgentIds(jobId: string, round: number): Promise<Set<string>> {
    return Promise.resolve(new Set(this.world.answers.filter((u) => u.jobId === jobId && u.round === round).map((u) => u.agentId)));
  }

  /** Open rounds that asked this agent. */
  openRoundsOf(agentId: string): Promise<Round[]> {
    return Promise.resolve(this.world.rounds.filter((r) => r.status === 'open' && r.eligibleAgentIds.includes(agentId)).map(copy));
  }

  open(data: { jobId: string; index: number; eligibleAgentIds: string[]; inputModelHash: string; deadlineAt: Date }): Promise<Round> {
    const existing = this.world.round(data.jobId, data.index);
    if (existing) return Promise.resolve(copy(existing));
    const r: Round = {
      jobId: data.jobId,
      index: data.index,
      status: 'open',
      eligibleAgentIds: [...data.eligibleAgentIds],
      inputModelHash: data.inputModelHash,
      outputModelHash: null,
      openedAt: now(),
      deadlineAt: new Date(data.deadlineAt),
      closedAt: null,
      participants: 0,
      answers: 0,
      weightMin: null,
      weightMax: null,
      normBound: null,
      normReference: null,
      rejected: 0,
      clipped: 0,
      metrics: null,
    };
    this.world.rounds.push(r);
    return Promise.resolve(copy(r));
  }

  /** In the order they were received. */
  answers(jobId: string, round: number): Promise<Update[]> {
    return Promise.resolve(this.world.answers.filter((a) => a.jobId === jobId && a.round === round).map(copy));
  }

  /** Null without the round; open: open, before its deadline, its job running; eligible: the agent was asked. */
  gate(jobId: string, round: number, agentId: string): Promise<AnswerGate | null> {
    const r = this.world.round(jobId, round);
    if (!r) return Promise.resolve(null);
    const job = this.world.jobs.get(jobId);
    return Promise.resolve({
      open: r.status === 'open' && r.deadlineAt.getTime() >= Date.now() && job?.status === 'running',
      eligible: r.eligibleAgentIds.includes(agentId),
    });
  }

  findAnswer(jobId: string, round: number, agentId: string): Promise<Update | null> {
    const a = this.world.answer(jobId, round, agentId);
    return Promise.resolve(a ? copy(a) : null);
  }

  /**
   * Per answer, in order: 'closed' when the round is not open, its deadline passed or the agent was not asked
   * (checked first, as by the statement's gate), then 'duplicate'; else the count after the batch.
   */
  recordAnswers(batch: NewAnswer[]): Promise<RecordedAnswer[]> {
    const outcomes = batch.map((a) => this.recordOne(a));
    // The statement reports each round's count after the whole batch.
    return Promise.resolve(
      outcomes.map((o, i) => (o.outcome === 'recorded' ? { ...o, answers: this.world.round(batch[i].jobId, batch[i].round)!.answers } : o)),
    );
  }

  private recordOne(data: NewAnswer): RecordedAnswer {
    const r = this.world.round(data.jobId, data.round);
    if (!r || r.status !== 'open' || r.deadlineAt.getTime() < Date.now() || !r.eligibleAgentIds.includes(data.agentId))
      return { outcome: 'closed' };
    if (this.world.answer(data.jobId, data.round, data.agentId)) return { outcome: 'duplicate' };
    r.answers += 1;
    this.world.answers.push({
      jobId: data.jobId,
      round: data.round,
      agentId: data.agentId,
      blobHash: data.blobHash ?? null,
      declined: data.declined ?? false,
      rejected: data.rejected ?? false,
      updateNorm: data.updateNorm ?? null,
      exampleCount: data.exampleCount ?? null,
      trainLoss: data.trainLoss ?? null,
      durationMs: data.durationMs ?? null,
      receivedAt: now(),
    });
    return { outcome: 'recorded', answers: r.answers, eligible: r.eligibleAgentIds.length };
  }

  /** open → closing (true); true as well when it is closing already (a resumed close); false otherwise. */
  beginClosing(jobId: string, round: number): Promise<boolean> {
    const r = this.world.round(jobId, round);
    if (r?.status !== 'open') return Promise.resolve(r?.status === 'closing');
    r.status = 'closing';
    return Promise.resolve(true);
  }

  /** closing → closed with everything the round wrote, all or nothing; false when the round was not closing. */
  async finishClosing(w: CloseRoundWrite): Promise<boolean> {
    const r = this.world.round(w.jobId, w.round);
    if (r?.status !== 'closing') return false;
    // The unique keys are checked before anything is written: the real transaction would roll back.
    for (const p of w.participation)
      if (this.world.participation.some((x) => x.jobId === w.jobId && x.round === w.round && x.agentId === p.agentId))
        throw new UniqueViolation(`participation (${w.jobId}, ${w.round}, ${p.agentId}) exists`);
    const model = this.world.federatedJobs.get(w.jobId);
    if (!model) throw new Error(`federated job ${w.jobId} has no model row`);
    this.insertCheckpoint({
      jobId: w.jobId,
      round: w.round,
      hash: w.outputModelHash,
      metrics: json(w.metrics),
      memorySumHash: w.memorySumHash,
      createdAt: now(),
    });
    Object.assign(r, {
      status: 'closed',
      closedAt: now(),
      outputModelHash: w.outputModelHash,
      participants: w.participants,
      weightMin: w.weightMin,
      weightMax: w.weightMax,
      normBound: w.normBound,
      normReference: w.normReference,
      rejected: w.rejected,
      clipped: w.clipped,
      metrics: json(w.metrics),
    });
    this.world.participation.push(...w.participation.map((p) => ({ jobId: w.jobId, round: w.round, ...p })));
    for (const s of w.clientStates) {
      const stored = this.world.clientStates.find((c) => c.jobId === w.jobId && c.agentId === s.agentId);
      if (stored) Object.assign(stored, { state: json(s.state), memoryHash: s.memoryHash });
      else this.world.clientStates.push({ jobId: w.jobId, agentId: s.agentId, state: json(s.state), memoryHash: s.memoryHash });
    }
    model.modelHash = w.outputModelHash;
    if (w.finished) await this.jobs.complete(w.jobId, { progressDone: w.round + 1 });
    else await this.jobs.setProgress(w.jobId, w.round + 1);
    return true;
  }

  abandon(jobId: string, round: number): Promise<void> {
    const r = this.world.round(jobId, round);
    if (r && (r.status === 'open' || r.status === 'closing')) Object.assign(r, { status: 'closed', closedAt: now() });
    return Promise.resolve();
  }

  clientStates(jobId: string): Promise<{ agentId: string; state: Prisma.JsonValue; memoryHash: string | null }[]> {
    return Promise.resolve(
      this.world.clientStates
        .filter((c) => c.jobId === jobId)
        .map((c) => ({ agentId: c.agentId, state: copy(c.state), memoryHash: c.memoryHash })),
    );
  }

  memorySumHash(jobId: string, round: number): Promise<string | null> {
    return Promise.resolve(this.world.checkpoint(jobId, round)?.memorySumHash ?? null);
  }

  checkpoints(jobId: string): Promise<Checkpoint[]> {
    return Promise.resolve(
      this.world.checkpoints
        .filter((c) => c.jobId === jobId)
        .sort((a, b) => a.round - b.round)
        .map(copy),
    );
  }

  private insertCheckpoint(c: Checkpoint): void {
    if (this.world.checkpoint(c.jobId, c.round)) throw new UniqueViolation(`checkpoint (${c.jobId}, ${c.round}) exists`);
    this.world.checkpoints.push(c);
  }
}

/** A task row with its JSON text parsed, as TasksRepository's `row`. */
function taskRow(t: Task): TaskRow {
  return { ...copy(t), payload: JSON.parse(t.payload) as unknown, result: t.result === null ? null : (JSON.parse(t.result) as unknown) };
}

function withoutBodies(t: Task): Omit<Task, 'payload' | 'result'> {
  const { payload: _payload, result: _result, ...rest } = copy(t);
  return rest;
}

/** TasksRepository: one task per (job, key); pending → running → pending | done | failed by compare-and-set on status and attempt. */
export class FakeTasksRepository implements Pick<
  TasksRepository,
  'create' | 'find' | 'byKeys' | 'list' | 'unfinished' | 'runningOn' | 'runningCounts' | 'assign' | 'release' | 'complete'
> {
  constructor(private readonly world: World) {}

  /** Inserts the task unless (job, key) exists; returns the stored row either way. */
  create(data: NewTask): Promise<TaskRow> {
    const existing = this.world.tasks.find((t) => t.jobId === data.jobId && t.key === data.key);
    if (existing) return Promise.resolve(taskRow(existing));
    const t: Task = {
      id: this.world.newId(),
      jobId: data.jobId,
      key: data.key,
      kind: data.kind,
      payload: JSON.stringify(data.payload),
      status: 'pending',
      agentId: null,
      attempt: 0,
      failedAgentIds: [],
      dataset: data.dataset,
      dataHash: data.dataHash,
      result: null,
      error: null,
      deadlineAt: null,
      timeoutMs: data.timeoutMs,
      createdAt: now(),
      assignedAt: null,
      finishedAt: null,
      durationMs: null,
    };
    this.world.tasks.push(t);
    return Promise.resolve(taskRow(t));
  }

  find(id: string): Promise<TaskRow | null> {
    const t = this.world.task(id);
    return Promise.resolve(t ? taskRow(t) : null);
  }

  byKeys(jobId: string, keys: string[]): Promise<TaskRow[]> {
    return Promise.resolve(this.world.tasks.filter((t) => t.jobId === jobId && keys.includes(t.key)).map(taskRow));
  }

  list(jobId: string, status: TaskStatus | undefined, limit: number): Promise<Omit<Task, 'payload' | 'result'>[]> {
    return Promise.resolve(
      this.world.tasks
        .filter((t) => t.jobId === jobId && (!status || t.status === status))
        .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.key.localeCompare(b.key))
        .slice(0, limit)
        .map(withoutBodies),
    );
  }

  /** Pending or running tasks of running jobs. */
  unfinished(): Promise<Omit<Task, 'payload' | 'result'>[]> {
    return Promise.resolve(
      this.world.tasks.filter((t) => (t.status === 'pending' || t.status === 'running') && this.jobRunning(t)).map(withoutBodies),
    );
  }

  /** Tasks running on an agent (of running jobs). */
  runningOn(agentId: string): Promise<Omit<Task, 'payload' | 'result'>[]> {
    return Promise.resolve(
      this.world.tasks.filter((t) => t.agentId === agentId && t.status === 'running' && this.jobRunning(t)).map(withoutBodies),
    );
  }

  /** Running tasks of running jobs, per agent. */
  runningCounts(): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const t of this.world.tasks)
      if (t.status === 'running' && t.agentId && this.jobRunning(t)) counts.set(t.agentId, (counts.get(t.agentId) ?? 0) + 1);
    return Promise.resolve(counts);
  }

  assign(id: string, attempt: number, agentId: string, deadlineAt: Date): Promise<boolean> {
    const t = this.world.task(id);
    if (!t || t.status !== 'pending' || t.attempt !== attempt) return Promise.resolve(false);
    Object.assign(t, { status: 'running', agentId, attempt: attempt + 1, deadlineAt: new Date(deadlineAt), assignedAt: now() });
    return Promise.resolve(true);
  }

  release(id: string, attempt: number, agentId: string, error: string, giveUp: boolean): Promise<boolean> {
    const t = this.world.task(id);
    if (!t || t.status !== 'running' || t.attempt !== attempt) return Promise.resolve(false);
    t.failedAgentIds.push(agentId);
    if (giveUp) Object.assign(t, { status: 'failed', error, finishedAt: now() });
    else Object.assign(t, { status: 'pending', error, agentId: null, deadlineAt: null });
    return Promise.resolve(true);
  }

  complete(id: string, result: unknown, durationMs: number, agentId: string): Promise<boolean> {
    const t = this.world.task(id);
    if (!t || (t.status !== 'pending' && t.status !== 'running')) return Promise.resolve(false);
    Object.assign(t, { status: 'done', result: JSON.stringify(result), durationMs, agentId, finishedAt: now(), error: null });
    return Promise.resolve(true);
  }

  private jobRunning(t: Task): boolean {
    return this.world.jobs.get(t.jobId)?.status === 'running';
  }
}

/** AgentsRepository: an agent may compute when it is not revoked or gone and its last heartbeat is at or after `since`; lists are in creation order. */
export class FakeAgentsRepository implements Pick<
  AgentsRepository,
  'findById' | 'markTaskTimeout' | 'recordError' | 'list' | 'online' | 'onlineAny' | 'countOnline'
> {
  constructor(private readonly world: World) {}

  findById(id: string): Promise<Agent | null> {
    const a = this.world.agent(id);
    return Promise.resolve(a ? copy(a) : null);
  }

  markTaskTimeout(id: string, at = now()): Promise<void> {
    const a = this.world.agent(id);
    if (a) a.lastTaskTimeoutAt = new Date(at);
    return Promise.resolve();
  }

  recordError(id: string, message: string, at = now()): Promise<void> {
    const a = this.world.agent(id);
    if (a) Object.assign(a, { lastError: message.slice(0, 2000), lastErrorAt: new Date(at) });
    return Promise.resolve();
  }

  list(page: Page): Promise<{ items: Agent[]; total: number }> {
    const all = this.sorted(() => true);
    return Promise.resolve({ items: all.slice(page.offset, page.offset + page.limit), total: all.length });
  }

  online(dataset: string, since: Date): Promise<Agent[]> {
    return Promise.resolve(this.sorted((a) => a.datasets.includes(dataset) && this.active(a, since)));
  }

  onlineAny(since: Date): Promise<Agent[]> {
    return Promise.resolve(this.sorted((a) => this.active(a, since)));
  }

  countOnline(since: Date): Promise<number> {
    return Promise.resolve(this.world.agents.filter((a) => this.active(a, since)).length);
  }

  private active(a: Agent, since: Date): boolean {
    return a.revokedAt === null && a.leftAt === null && a.lastHeartbeatAt !== null && a.lastHeartbeatAt.getTime() >= since.getTime();
  }

  private sorted(keep: (a: Agent) => boolean): Agent[] {
    return this.world.agents
      .filter(keep)
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
      .map(copy);
  }
}

/** A control job other than an advance or an assignment retry (what scheduleControl takes). */
export type ScheduledControl = Exclude<ControlJob, { name: typeof ControlJobName.AdvanceJob | typeof ControlJobName.AssignTask }>;

/** One call of the QueueService, with the BullMQ job id the real one would use (its idempotency key). */
export type QueueCall =
  | { op: 'enqueueTrain'; agentId: string; id: string; task: TrainTask }
  | { op: 'removeTrain'; agentId: string; jobId: string; round: number }
  | { op: 'enqueueTask'; agentId: string; id: string; task: AgentTask }
  | { op: 'removeTask'; agentId: string; taskId: string; upTo: number }
  | { op: 'wake'; jobId: string }
  | { op: 'wakeLater'; jobId: string; delayMs: number }
  | { op: 'retryAssign'; ref: TaskRef; delayMs: number; dedup: string }
  | ({ op: 'scheduleControl'; delayMs: number; suffix: string; id: string } & ScheduledControl);

/**
 * The QueueService, recording every call in order (nothing is delivered anywhere). It also keeps which work items the
 * agents' queues hold (enqueued, not removed), for ensureTrain/ensureTask; {@link loseEverything} is a Redis restart.
 */
export class RecordingQueue implements Pick<
  QueueService,
  | 'enqueueTrain'
  | 'ensureTrain'
  | 'removeTrain'
  | 'enqueueTask'
  | 'ensureTask'
  | 'removeTask'
  | 'wake'
  | 'wakeLater'
  | 'retryAssign'
  | 'scheduleControl'
> {
  readonly calls: QueueCall[] = [];
  /** Ids of the work items on agents' queues. */
  readonly held = new Set<string>();

  /** Redis came back empty: no work item is held any more. */
  loseEverything(): void {
    this.held.clear();
  }

  /** The calls of one kind, in order. */
  of<O extends QueueCall['op']>(op: O): Extract<QueueCall, { op: O }>[] {
    return this.calls.filter((c): c is Extract<QueueCall, { op: O }> => c.op === op);
  }

  /** What was sent to agents or scheduled (every call but the removals of queued work). */
  sent(): Exclude<QueueCall, { op: 'removeTrain' | 'removeTask' }>[] {
    return this.calls.filter(
      (c): c is Exclude<QueueCall, { op: 'removeTrain' | 'removeTask' }> => c.op !== 'removeTrain' && c.op !== 'removeTask',
    );
  }

  clear(): void {
    this.calls.length = 0;
  }

  enqueueTrain(agentId: string, task: TrainTask): Promise<void> {
    const id = trainTaskId(task.jobId, task.round, agentId);
    this.calls.push({ op: 'enqueueTrain', agentId, id, task: copy(task) });
    this.held.add(`${agentId}/${id}`);
    return Promise.resolve();
  }

  async ensureTrain(agentId: string, task: TrainTask): Promise<boolean> {
    if (this.held.has(`${agentId}/${trainTaskId(task.jobId, task.round, agentId)}`)) return false;
    await this.enqueueTrain(agentId, task);
    return true;
  }

  removeTrain(agentId: string, jobId: string, round: number): Promise<void> {
    this.calls.push({ op: 'removeTrain', agentId, jobId, round });
    this.held.delete(`${agentId}/${trainTaskId(jobId, round, agentId)}`);
    return Promise.resolve();
  }

  enqueueTask(agentId: string, task: AgentTask): Promise<void> {
    const id = agentTaskId(task.taskId, task.attempt);
    this.calls.push({ op: 'enqueueTask', agentId, id, task: copy(task) });
    this.held.add(`${agentId}/${id}`);
    return Promise.resolve();
  }

  async ensureTask(agentId: string, task: AgentTask): Promise<boolean> {
    if (this.held.has(`${agentId}/${agentTaskId(task.taskId, task.attempt)}`)) return false;
    await this.enqueueTask(agentId, task);
    return true;
  }

  removeTask(agentId: string, taskId: string, upTo: number): Promise<void> {
    this.calls.push({ op: 'removeTask', agentId, taskId, upTo });
    for (let a = 1; a <= upTo; a++) this.held.delete(`${agentId}/${agentTaskId(taskId, a)}`);
    return Promise.resolve();
  }

  wake(jobId: string): Promise<void> {
    this.calls.push({ op: 'wake', jobId });
    return Promise.resolve();
  }

  wakeLater(jobId: string, delayMs: number): Promise<void> {
    this.calls.push({ op: 'wakeLater', jobId, delayMs });
    return Promise.resolve();
  }

  /** `dedup` is the deduplication id the real one uses: one pending retry per task attempt. */
  retryAssign(ref: TaskRef, delayMs: number): Promise<void> {
    this.calls.push({ op: 'retryAssign', ref: { ...ref }, delayMs, dedup: `assign.${ref.taskId}.${ref.attempt}` });
    return Promise.resolve();
  }

  scheduleControl(job: ScheduledControl, delayMs = 0, suffix = ''): Promise<void> {
    const d = job.data;
    const ids = 'round' in d ? [d.jobId, d.round] : [d.jobId, d.taskId, d.attempt];
    const id = [job.name, ...ids, ...(suffix ? [suffix] : [])].join('.');
    this.calls.push({ op: 'scheduleControl', ...copy(job), delayMs, suffix, id });
    return Promise.resolve();
  }
}

export type RunnerCall = { op: 'wake'; jobId: string } | { op: 'wakeLater'; jobId: string; delayMs: number };

/** The JobRunner's wake-ups, recorded (no job is advanced). */
export class RecordingRunner implements Pick<JobRunner, 'wake' | 'wakeLater'> {
  readonly calls: RunnerCall[] = [];

  wake(jobId: string): Promise<void> {
    this.calls.push({ op: 'wake', jobId });
    return Promise.resolve();
  }

  wakeLater(jobId: string, delayMs: number): Promise<void> {
    this.calls.push({ op: 'wakeLater', jobId, delayMs });
    return Promise.resolve();
  }
}

const HASH = /^[0-9a-f]{64}$/;

/** The BlobStore in memory: content-addressed by sha256 like the real one, every read a fresh array. */
export class MemoryBlobStore implements Pick<
  BlobStore,
  'put' | 'has' | 'byteLength' | 'get' | 'getFloat32' | 'readFloat32Into' | 'readFloat32Range' | 'putFloat32' | 'putFloat64' | 'getFloat64'
> {
  readonly blobs = new Map<string, Uint8Array>();

  put(bytes: Uint8Array): Promise<string> {
    const hash = BlobStore.hash(bytes);
    if (!this.blobs.has(hash)) this.blobs.set(hash, Uint8Array.from(bytes));
    return Promise.resolve(hash);
  }

  has(hash: string): Promise<boolean> {
    return Promise.resolve(this.blobs.has(hash));
  }

  byteLength(hash: string): Promise<number | null> {
    return Promise.resolve(HASH.test(hash) ? (this.blobs.get(hash)?.byteLength ?? null) : null);
  }

  async get(hash: string): Promise<Buffer> {
    return Buffer.from(await this.bytes(hash, NotFoundError));
  }

  async getFloat32(hash: string): Promise<Float32Array> {
    const bytes = await this.bytes(hash, ValidationError);
    if (bytes.byteLength % 4 !== 0) throw new ValidationError(`Blob ${hash} of ${bytes.byteLength} bytes is not a float32 array`);
    const out = new Float32Array(bytes.byteLength / 4);
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }

  async readFloat32Into(hash: string, into: Float32Array): Promise<Float32Array> {
    const bytes = await this.bytes(hash, ValidationError);
    if (bytes.byteLength !== into.byteLength)
      throw new ValidationError(`Blob ${hash} has ${bytes.byteLength} bytes, expected ${into.byteLength} (${into.length} float32 values)`);
    new Uint8Array(into.buffer, into.byteOffset, into.byteLength).set(bytes);
    return into;
  }

  /** Values [from, from + into.length) of a float32 blob; a range beyond it is refused like the real store's. */
  async readFloat32Range(hash: string, from: number, into: Float32Array): Promise<Float32Array> {
    const bytes = await this.bytes(hash, ValidationError);
    const end = (from + into.length) * 4;
    if (!(Number.isInteger(from) && from >= 0 && end <= bytes.byteLength))
      throw new ValidationError(`Blob ${hash} has ${bytes.byteLength} bytes; values [${from}, ${from + into.length}) do not lie in it`);
    new Uint8Array(into.buffer, into.byteOffset, into.byteLength).set(bytes.subarray(from * 4, end));
    return into;
  }

  putFloat32(values: Float32Array): Promise<string> {
    return this.put(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }

  putFloat64(values: Float64Array): Promise<string> {
    return this.put(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }

  async getFloat64(hash: string): Promise<Float64Array> {
    const bytes = await this.get(hash);
    if (bytes.byteLength % 8 !== 0) throw new ValidationError(`Blob ${hash} of ${bytes.byteLength} bytes is not a float64 array`);
    const out = new Float64Array(bytes.byteLength / 8);
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }

  /** The stored bytes; a malformed hash is refused with `malformed` (the real store's error differs by method). */
  private bytes(hash: string, malformed: typeof NotFoundError | typeof ValidationError): Promise<Uint8Array> {
    if (!HASH.test(hash)) return Promise.reject(new malformed(`Not a sha256 hex digest: ${hash.slice(0, 80)}`));
    const bytes = this.blobs.get(hash);
    return bytes ? Promise.resolve(bytes) : Promise.reject(new NotFoundError(`Blob ${hash} not found`));
  }
}

/** Job leases in memory, with the table's rules (an expired lease is taken over; only its holder renews or releases). */
export class FakeJobLeases implements Pick<JobLeasesRepository, 'acquire' | 'renew' | 'release' | 'holder'> {
  readonly leases = new Map<string, { holder: string; expiresAt: number }>();

  acquire(jobId: string, holder: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    const l = this.leases.get(jobId);
    if (l && l.expiresAt >= now && l.holder !== holder) return Promise.resolve(false);
    this.leases.set(jobId, { holder, expiresAt: now + ttlMs });
    return Promise.resolve(true);
  }

  renew(jobId: string, holder: string, ttlMs: number): Promise<boolean> {
    const l = this.leases.get(jobId);
    if (l?.holder !== holder) return Promise.resolve(false);
    l.expiresAt = Date.now() + ttlMs;
    return Promise.resolve(true);
  }

  release(jobId: string, holder: string): Promise<void> {
    if (this.leases.get(jobId)?.holder === holder) this.leases.delete(jobId);
    return Promise.resolve();
  }

  holder(jobId: string): Promise<string | null> {
    const l = this.leases.get(jobId);
    return Promise.resolve(l && l.expiresAt >= Date.now() ? l.holder : null);
  }
}
