import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import {
  AgentJobName,
  CONTROL_QUEUE,
  agentQueueName,
  agentTaskId,
  controlJobId,
  trainTaskId,
  type AgentTask,
  type ControlJob,
  type TrainTask,
} from '@flotilla/contracts';
import { Queue, Worker, type Job } from 'bullmq';
import IORedis from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config/config';

export type ControlHandlers = { [K in ControlJob['name']]: (data: Extract<ControlJob, { name: K }>['data']) => Promise<void> };

/**
 * The one enqueue facade: owns the Redis connection, job ids (idempotency keys), retry policy and
 * the control worker that drives the round loop.
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

  async scheduleControl(job: ControlJob, delayMs = 0, suffix = ''): Promise<void> {
    await this.control.add(job.name, job.data, {
      jobId: controlJobId(job.name, job.data, suffix),
      delay: Math.max(0, Math.round(delayMs)),
      attempts: 5,
      backoff: { type: 'exponential', delay: 500 },
      removeOnComplete: true,
      removeOnFail: 1000,
    });
  }

  /** Starts the control worker. Every control job name must have exactly one handler (checked by the type). */
  startControlWorker(handlers: ControlHandlers): void {
    this.worker = new Worker(
      CONTROL_QUEUE,
      async (job: Job) => {
        const handler = handlers[job.name as ControlJob['name']] as ((d: unknown) => Promise<void>) | undefined;
        if (!handler) throw new Error(`No handler for control job '${job.name}'`);
        await handler(job.data);
      },
      { connection: (this.workerConnection = this.connection.duplicate()), prefix: this.config.QUEUE_PREFIX, concurrency: 1 },
    );
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
