import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import {
  AgentJobName,
  AgentTaskSchema,
  CONTROL_QUEUE,
  ControlJobName,
  TrainTaskSchema,
  agentQueueName,
  agentTaskId,
  trainTaskId,
  type AgentTask,
  type AgentWork,
  type ControlJob,
  type TaskRef,
  type TrainTask,
} from '@flotilla/contracts';
import { DelayedError, Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import IORedis from 'ioredis';
import { outageOf } from '../common/outage';
import { APP_CONFIG, type AppConfig } from '../config/config';

/**
 * Tries of a control job whose handler fails for another reason than an outage (a bug, bad state): it is dropped after
 * these, and the reconciler schedules it again later if the database still says it is due.
 */
const CONTROL_ATTEMPTS = 5;

/**
 * BullMQ's limit on tries, never reached: a control job that fails because PostgreSQL or Redis is away retries (with a
 * capped backoff) for as long as the outage lasts; the cap on other failures is CONTROL_ATTEMPTS, applied by the consumer.
 */
const CONTROL_ATTEMPTS_UNBOUNDED = 1_000_000_000;

/** The first retry of a failed control job waits this long, each next one twice as long up to CONTROL_RETRY_MAX_MS. */
const CONTROL_RETRY_FIRST_MS = 250;

/** Agent queues kept open at once (a Queue object costs no connection, but 10,000 of them cost memory). */
const AGENT_QUEUE_CACHE = 1000;

/** Work items read per look at an agent's queue (expired ones are removed and the look repeated). */
const WORK_SCAN = 10;

/** The pub/sub channels between coordinator processes: work for an agent, and an agent's credentials changed. */
export type Channel = 'work' | 'agents';

/**
 * The one enqueue facade over BullMQ: owns the Redis connections, every job id and deduplication id (idempotency
 * keys), retry policies, and the queues of the agents. It knows queues, not jobs: what a control job does is decided
 * by the ControlService that consumes them.
 */
@Injectable()
export class QueueService implements OnModuleInit, OnModuleDestroy, OnApplicationShutdown {
  private readonly logger = new Logger(QueueService.name);
  readonly connection: IORedis;
  private readonly control: Queue;
  private readonly agentQueues = new Map<string, Queue>();
  private worker?: Worker;
  private workerConnection?: IORedis;
  private subscriber?: IORedis;
  private readonly listeners = new Map<string, ((message: string) => void)[]>();
  private readonly reconnectListeners: (() => void)[] = [];
  /** Agents with work enqueued in this tick: one `work` message names them all. */
  private pendingWork: Set<string> | null = null;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    // No offline queue: while Redis is away, a command fails at once (the API answers 503) instead of waiting for it to
    // come back while the request hangs. The worker and subscriber connections keep theirs.
    this.connection = new IORedis(config.REDIS_URL, { maxRetriesPerRequest: null, lazyConnect: false, enableOfflineQueue: false });
    this.connection.on('error', (e) => this.logger.warn(`redis: ${e.message}`));
    // 'ready' again after the first time: Redis was away (restarted, or the network): tell who must look again.
    let connectedBefore = false;
    this.connection.on('ready', () => {
      if (connectedBefore) for (const l of this.reconnectListeners) l();
      connectedBefore = true;
    });
    this.control = new Queue(CONTROL_QUEUE, { connection: this.connection, prefix: config.QUEUE_PREFIX });
  }

  /**
   * A connection of its own (the worker's blocking one, the subscriber), with an offline queue: its commands wait for
   * Redis to come back. Made anew rather than duplicated from the command connection, whose options BullMQ shares.
   */
  private newConnection(): IORedis {
    return new IORedis(this.config.REDIS_URL, { maxRetriesPerRequest: null });
  }

  /** Start-up waits for Redis: without an offline queue, a command sent before the connection is ready would fail. */
  async onModuleInit(): Promise<void> {
    if (this.connection.status === 'ready') return;
    await new Promise<void>((resolve) => this.connection.once('ready', () => resolve()));
  }

  get prefix(): string {
    return this.config.QUEUE_PREFIX;
  }

  async ping(): Promise<boolean> {
    return (await this.connection.ping()) === 'PONG';
  }

  /** Enqueues a train task on the agent's own queue; enqueuing the same (job, round, agent) twice is a no-op. */
  async enqueueTrain(agentId: string, task: TrainTask): Promise<void> {
    await this.agentQueue(agentId).add(AgentJobName.Train, task, {
      jobId: trainTaskId(task.jobId, task.round, agentId),
      // A task is only useful until its round's deadline; an agent that was down skips it.
      attempts: 1,
      removeOnComplete: true,
      removeOnFail: 1000,
    });
    this.notifyWork(agentId);
  }

  /**
   * Puts a train task back on the agent's queue when it is not there (Redis lost it); true when it was missing. The
   * agent is told only then: an agent that already has the item is not woken for nothing.
   */
  async ensureTrain(agentId: string, task: TrainTask): Promise<boolean> {
    if (await this.agentQueue(agentId).getJob(trainTaskId(task.jobId, task.round, agentId))) return false;
    await this.enqueueTrain(agentId, task);
    return true;
  }

  /** Removes a train task from the agent's queue (the agent answered it, or the round closed). */
  async removeTrain(agentId: string, jobId: string, round: number): Promise<void> {
    await this.agentQueue(agentId).remove(trainTaskId(jobId, round, agentId));
  }

  /** Enqueues one attempt of a task on the agent's queue; the same (task, attempt) twice is a no-op. */
  async enqueueTask(agentId: string, task: AgentTask): Promise<void> {
    await this.agentQueue(agentId).add(AgentJobName.Task, task, {
      jobId: agentTaskId(task.taskId, task.attempt),
      // The coordinator retries on another agent (tasks.service.ts), not BullMQ on the same one.
      attempts: 1,
      removeOnComplete: true,
      removeOnFail: 1000,
    });
    this.notifyWork(agentId);
  }

  /** Puts an attempt of a task back on its agent's queue when it is not there (Redis lost it); true when it was missing. */
  async ensureTask(agentId: string, task: AgentTask): Promise<boolean> {
    if (await this.agentQueue(agentId).getJob(agentTaskId(task.taskId, task.attempt))) return false;
    await this.enqueueTask(agentId, task);
    return true;
  }

  /** Removes attempts 1…`upTo` of a task from the agent's queue (it answered, or the task went elsewhere). */
  async removeTask(agentId: string, taskId: string, upTo: number): Promise<void> {
    const q = this.agentQueue(agentId);
    for (let attempt = 1; attempt <= upTo; attempt++) await q.remove(agentTaskId(taskId, attempt));
  }

  /** Everything waiting for an agent (it was revoked). */
  async removeAgentWork(agentId: string): Promise<void> {
    const q = this.agentQueue(agentId);
    await q.obliterate({ force: true });
    this.agentQueues.delete(agentQueueName(agentId));
    await q.close();
  }

  /**
   * The oldest work item of the agent's queue that is still useful, or null. An item stays in the queue when it is
   * handed out (it is removed when the agent answers it, or when its round closes or its task goes elsewhere), so an
   * agent that lost a response gets it again on its next look; items past their deadline are removed here.
   */
  async nextWork(agentId: string, now = Date.now()): Promise<AgentWork | null> {
    const q = this.agentQueue(agentId);
    for (;;) {
      const jobs = await q.getJobs(['waiting'], 0, WORK_SCAN - 1, true);
      if (!jobs.length) return null;
      for (const job of jobs) {
        const work = toWork(job);
        const deadline = work ? Date.parse(work.kind === 'train' ? work.train.deadline : work.task.deadline) : 0;
        if (work && deadline > now) return work;
        if (!work) this.logger.warn(`dropping malformed work item ${job.id} of agent ${agentId}`);
        if (job.id) await q.remove(job.id);
      }
    }
  }

  /** Tells every coordinator process (pub/sub) that these agents have new work, in one message per tick. */
  private notifyWork(agentId: string): void {
    if (!this.pendingWork) {
      this.pendingWork = new Set();
      setImmediate(() => {
        const ids = [...this.pendingWork!];
        this.pendingWork = null;
        this.publish('work', ids.join(',')).catch((e: Error) => this.logger.warn(`work notification lost: ${e.message}`));
      });
    }
    this.pendingWork.add(agentId);
  }

  async publish(channel: Channel, message: string): Promise<void> {
    await this.connection.publish(this.channelName(channel), message);
  }

  /** Calls `listener` with every message on `channel` from any coordinator process (one subscriber connection in all). */
  subscribe(channel: Channel, listener: (message: string) => void): void {
    const name = this.channelName(channel);
    if (!this.subscriber) {
      this.subscriber = this.newConnection();
      this.subscriber.on('error', (e) => this.logger.warn(`redis subscriber: ${e.message}`));
      // The subscriber lost its connection: messages published meanwhile never arrived.
      let subscribedBefore = false;
      this.subscriber.on('ready', () => {
        if (subscribedBefore) for (const l of this.reconnectListeners) l();
        subscribedBefore = true;
      });
      this.subscriber.on('message', (ch: string, message: string) => {
        for (const l of this.listeners.get(ch) ?? []) l(message);
      });
    }
    if (!this.listeners.has(name)) {
      this.listeners.set(name, []);
      // Subscribed once the connection is ready (ioredis re-subscribes by itself after a reconnect): a SUBSCRIBE queued
      // while connecting can reach Redis before the connection's ready check, which Redis then refuses in subscriber mode.
      const sub = this.subscriber;
      const subscribe = () => void sub.subscribe(name).catch((e: Error) => this.logger.error(`cannot subscribe to ${name}: ${e.message}`));
      if (sub.status === 'ready') subscribe();
      else sub.once('ready', subscribe);
    }
    this.listeners.get(name)!.push(listener);
  }

  /** Called each time the connection to Redis is back after it was lost (messages may have been missed meanwhile). */
  onReconnect(listener: () => void): void {
    this.reconnectListeners.push(listener);
  }

  private channelName(channel: Channel): string {
    return `${this.config.QUEUE_PREFIX}:flotilla:${channel}`;
  }

  /**
   * Asks for `job.advance` of a job, coalesced: at most one advance per job waits while another runs (BullMQ
   * deduplication with keepLastIfActive), so N wake-ups in a burst cost one or two advances, never N, and a wake-up
   * that arrives while an advance is running is never lost (that advance may have read the state before it).
   */
  async wake(jobId: string): Promise<void> {
    await this.control.add(
      ControlJobName.AdvanceJob,
      { jobId },
      { deduplication: { id: `advance.${jobId}`, keepLastIfActive: true }, ...this.controlRetries() },
    );
  }

  /**
   * An advance of the job after `delayMs` (e.g. to look for agents again); at most one such is pending per job. Asked
   * for from inside such an advance (still no agent), it is kept and scheduled when that one ends (keepLastIfActive):
   * without it, the request would be dropped as a duplicate of the running job, and the job would never look again.
   */
  async wakeLater(jobId: string, delayMs: number): Promise<void> {
    await this.control.add(
      ControlJobName.AdvanceJob,
      { jobId },
      {
        deduplication: { id: `advance-later.${jobId}`, keepLastIfActive: true },
        delay: Math.max(0, Math.round(delayMs)),
        ...this.controlRetries(),
      },
    );
  }

  /**
   * Another look for an agent for a pending task attempt after `delayMs`; at most one is pending per attempt, and one
   * asked for from inside a running look is kept for when it ends (keepLastIfActive: with a plain job id it would be
   * dropped as a duplicate of the running job, and the task would wait for ever).
   */
  async retryAssign(ref: TaskRef, delayMs: number): Promise<void> {
    await this.control.add(ControlJobName.AssignTask, ref, {
      deduplication: { id: `assign.${ref.taskId}.${ref.attempt}`, keepLastIfActive: true },
      delay: Math.max(0, Math.round(delayMs)),
      ...this.controlRetries(),
    });
  }

  /**
   * A control job other than an advance or a task's assignment, idempotent by (name, ids, suffix): scheduling one that is still pending
   * does nothing. Round closes and task deadlines are such jobs, delayed until their time.
   */
  async scheduleControl(
    job: Exclude<ControlJob, { name: typeof ControlJobName.AdvanceJob | typeof ControlJobName.AssignTask }>,
    delayMs = 0,
    suffix = '',
  ): Promise<void> {
    const d = job.data;
    const ids = 'round' in d ? [d.jobId, d.round] : [d.jobId, d.taskId, d.attempt];
    await this.control.add(job.name, d, {
      jobId: [job.name, ...ids, ...(suffix ? [suffix] : [])].join('.'),
      delay: Math.max(0, Math.round(delayMs)),
      ...this.controlRetries(),
    });
  }

  /**
   * Done or failed, a control job is removed: its id is free again, so the same job can be scheduled anew (a failed
   * round close re-armed by the reconciler or the next advance). Retries wait longer each time, up to
   * CONTROL_RETRY_MAX_MS ({@link controlBackoff}); how many there are is decided by the consumer.
   */
  private controlRetries() {
    return { attempts: CONTROL_ATTEMPTS_UNBOUNDED, backoff: { type: 'capped' }, removeOnComplete: true, removeOnFail: true };
  }

  /**
   * Starts consuming the control queue (CONTROL_CONCURRENCY jobs at a time) with `handle`; the ControlService routes by
   * name and keeps one job's steps one at a time ({@link ControlBusy}: put back for a moment). A control job whose
   * process died is picked up again once its lock has lapsed (CONTROL_LOCK_MS, checked every half of it):
   * until then the wake-ups of its job wait behind it, so the lock is short. Handlers are idempotent, so a job run
   * again after a lost lock (or after a crash, up to 5 times) does nothing twice. A handler that fails because
   * PostgreSQL or Redis is away is tried again for as long as the outage lasts; one that fails otherwise, up to
   * CONTROL_ATTEMPTS times.
   */
  consumeControl(handle: (name: string, data: unknown) => Promise<void>): void {
    const run = async (job: Job, token?: string): Promise<void> => {
      try {
        await handle(job.name, job.data);
      } catch (e) {
        if (e instanceof ControlBusy && token !== undefined) {
          // Another step of the same job runs (here or on another replica): this one waits, and no try is used up.
          await job.moveToDelayed(Date.now() + e.retryInMs, token);
          throw new DelayedError();
        }
        if (e instanceof UnrecoverableError || outageOf(e)) throw e;
        // attemptsMade counts the tries before this one.
        if (job.attemptsMade + 1 >= CONTROL_ATTEMPTS) throw new UnrecoverableError(e instanceof Error ? e.message : String(e));
        throw e;
      }
    };
    this.worker = new Worker(CONTROL_QUEUE, run, {
      connection: (this.workerConnection = this.newConnection()),
      prefix: this.config.QUEUE_PREFIX,
      concurrency: this.config.CONTROL_CONCURRENCY,
      lockDuration: this.config.CONTROL_LOCK_MS,
      stalledInterval: Math.ceil(this.config.CONTROL_LOCK_MS / 2),
      maxStalledCount: 5,
      settings: { backoffStrategy: (attemptsMade: number) => controlBackoff(attemptsMade, this.config.CONTROL_RETRY_MAX_MS) },
    });
    this.worker.on('failed', (job, err) => {
      const outage = outageOf(err);
      // An outage is one line per try (it says what is away), not a stack trace each time.
      if (outage) this.logger.warn(`control job ${job?.name} ${job?.id} waits for ${outage.dependency} (try ${job?.attemptsMade})`);
      else
        this.logger.error(
          `control job ${job?.name} ${job?.id} failed${err instanceof UnrecoverableError ? ' for good' : ''}: ${err.message}`,
        );
    });
    // The worker's own connection errors (Redis away) are reported by the connection; without this listener they would be unhandled.
    this.worker.on('error', (e) => this.logger.warn(`control worker: ${e.message}`));
  }

  /** The agent's queue object (least recently used ones are closed: they share the one connection). */
  private agentQueue(agentId: string): Queue {
    const name = agentQueueName(agentId);
    let q = this.agentQueues.get(name);
    if (q) {
      this.agentQueues.delete(name);
    } else {
      q = new Queue(name, { connection: this.connection, prefix: this.config.QUEUE_PREFIX });
      if (this.agentQueues.size >= AGENT_QUEUE_CACHE) {
        const [oldest, evicted] = this.agentQueues.entries().next().value!;
        this.agentQueues.delete(oldest);
        evicted.close().catch(() => undefined);
      }
    }
    this.agentQueues.set(name, q);
    return q;
  }

  /** Stops taking control jobs and waits for the active one (it may still write to the database and Redis). */
  async onModuleDestroy(): Promise<void> {
    await this.worker?.close();
  }

  /** Closes the queues and connections, in the last phase of shutdown (the HTTP server is closed by then). */
  async onApplicationShutdown(): Promise<void> {
    await Promise.all([this.control.close(), ...[...this.agentQueues.values()].map((q) => q.close())]);
    // BullMQ never closes a connection it was given, so both are quit here.
    const connections = [this.workerConnection, this.subscriber, this.connection].filter((c): c is IORedis => c !== undefined);
    await Promise.all(connections.map((c) => c.quit().catch(() => undefined)));
  }
}

/** The wait before try `attemptsMade + 1` of a failed control job: exponential from CONTROL_RETRY_FIRST_MS, capped. */
export function controlBackoff(attemptsMade: number, maxMs: number): number {
  return Math.min(maxMs, CONTROL_RETRY_FIRST_MS * 2 ** Math.min(30, Math.max(0, attemptsMade - 1)));
}

/** A job of an agent's queue as the work item the agent receives; null when its data is not what its name says. */
function toWork(job: Pick<Job, 'id' | 'name' | 'data' | 'timestamp'>): AgentWork | null {
  const id = job.id ?? '';
  if (job.name === AgentJobName.Train) {
    const train = TrainTaskSchema.safeParse(job.data);
    return train.success ? { kind: 'train', id, queuedAt: job.timestamp, train: train.data } : null;
  }
  if (job.name === AgentJobName.Task) {
    const task = AgentTaskSchema.safeParse(job.data);
    return task.success ? { kind: 'task', id, queuedAt: job.timestamp, task: task.data } : null;
  }
  return null;
}

/**
 * Thrown by a control handler whose job's lease another step holds: the control job is put back, delayed by
 * `retryInMs`, without counting as a failed try.
 */
export class ControlBusy extends Error {
  constructor(
    readonly jobId: string,
    readonly retryInMs: number,
  ) {
    super(`job ${jobId} is busy with another control step`);
  }
}
