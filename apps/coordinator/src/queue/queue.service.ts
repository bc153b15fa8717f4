import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import {
  AgentJobName,
  CONTROL_QUEUE,
  ControlJobName,
  agentQueueName,
  agentTaskId,
  trainTaskId,
  type AgentTask,
  type ControlJob,
  type TrainTask,
} from '@flotilla/contracts';
import { Queue, Worker, type Job } from 'bullmq';
import IORedis from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config/config';

/** Retry policy of control jobs: a handler that throws (e.g. the database is briefly away) runs again later. */
const CONTROL_ATTEMPTS = 5;

/**
 * The one enqueue facade over BullMQ: owns the Redis connections, every job id and deduplication id (idempotency
 * keys), retry policies, and the queues of the agents. It knows queues, not jobs: what a control job does is decided
 * by the ControlService that consumes them.
 */
@Injectable()
export class QueueService implements OnApplicationShutdown {
  private readonly logger = new Logger(QueueService.name);
  readonly connection: IORedis;
  private readonly control: Queue;
  private readonly agentQueues = new Map<string, Queue>();
  private worker?: Worker;
  private workerConnection?: IORedis;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.connection = new IORedis(config.REDIS_URL, { maxRetriesPerRequest: null, lazyConnect: false });
    this.connection.on('error', (e) => this.logger.warn(`redis: ${e.message}`));
    this.control = new Queue(CONTROL_QUEUE, { connection: this.connection, prefix: config.QUEUE_PREFIX });
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
  }

  /** Removes a waiting train task (the round closed before the agent picked it up). */
  async removeTrain(agentId: string, jobId: string, round: number): Promise<void> {
    const job = await this.agentQueue(agentId).getJob(trainTaskId(jobId, round, agentId));
    if (job && (await job.isWaiting())) await job.remove().catch(() => undefined);
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
  }

  /** Removes a task attempt that its agent has not started (it was reassigned or finished elsewhere). */
  async removeTask(agentId: string, taskId: string, attempt: number): Promise<void> {
    const job = await this.agentQueue(agentId).getJob(agentTaskId(taskId, attempt));
    if (job && (await job.isWaiting())) await job.remove().catch(() => undefined);
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

  /** An advance of the job after `delayMs` (e.g. to look for agents again); at most one such is pending per job. */
  async wakeLater(jobId: string, delayMs: number): Promise<void> {
    await this.control.add(
      ControlJobName.AdvanceJob,
      { jobId },
      { deduplication: { id: `advance-later.${jobId}` }, delay: Math.max(0, Math.round(delayMs)), ...this.controlRetries() },
    );
  }

  /**
   * A control job other than an advance, idempotent by (name, ids, suffix): scheduling one that is still pending
   * does nothing. Round closes and task deadlines are such jobs, delayed until their time.
   */
  async scheduleControl(job: Exclude<ControlJob, { name: typeof ControlJobName.AdvanceJob }>, delayMs = 0, suffix = ''): Promise<void> {
    const d = job.data;
    const ids = 'round' in d ? [d.jobId, d.round] : [d.jobId, d.taskId, d.attempt];
    await this.control.add(job.name, d, {
      jobId: [job.name, ...ids, ...(suffix ? [suffix] : [])].join('.'),
      delay: Math.max(0, Math.round(delayMs)),
      ...this.controlRetries(),
    });
  }

  private controlRetries() {
    return { attempts: CONTROL_ATTEMPTS, backoff: { type: 'exponential', delay: 500 }, removeOnComplete: true, removeOnFail: 1000 };
  }

  /** Starts consuming the control queue (one job at a time) with `handle`; the ControlService routes by name. */
  consumeControl(handle: (name: string, data: unknown) => Promise<void>): void {
    this.worker = new Worker(CONTROL_QUEUE, (job: Job) => handle(job.name, job.data), {
      connection: (this.workerConnection = this.connection.duplicate()),
      prefix: this.config.QUEUE_PREFIX,
      concurrency: 1,
    });
    this.worker.on('failed', (job, err) => this.logger.error(`control job ${job?.name} ${job?.id} failed: ${err.message}`));
  }

  private agentQueue(agentId: string): Queue {
    const name = agentQueueName(agentId);
    let q = this.agentQueues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.connection, prefix: this.config.QUEUE_PREFIX });
      this.agentQueues.set(name, q);
    }
    return q;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.worker?.close();
    await Promise.all([this.control.close(), ...[...this.agentQueues.values()].map((q) => q.close())]);
    // BullMQ never closes a connection it was given, so both are quit here.
    const connections = this.workerConnection ? [this.workerConnection, this.connection] : [this.connection];
    await Promise.all(connections.map((c) => c.quit().catch(() => undefined)));
  }
}
