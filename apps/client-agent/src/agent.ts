import {
  createAvailability,
  createRng,
  parseLabelLastCsv,
  scaleToUnit,
  trainLocal,
  type Availability,
  type AvailabilitySpec,
  type Dataset,
} from '@flotilla/algorithms';
import { AgentJobName, type AgentTask, type TrainTask } from '@flotilla/contracts';
import { Worker, type Job } from 'bullmq';
import IORedis from 'ioredis';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CoordinatorClient, CoordinatorError } from './coordinator-client';
import { readIdentity, writeIdentity } from './identity';
import { TASK_HANDLERS, type TaskContext } from './tasks';

export interface AgentOptions {
  coordinatorUrl: string;
  redisUrl: string;
  joinToken: string;
  name: string;
  dataset: string;
  dataFile: string;
  availability: AvailabilitySpec;
  seed: number;
  heartbeatMs: number;
  /** Where the agent keeps its id and secret between runs; without it every start registers a new client. */
  identityFile?: string;
  log: (line: string) => void;
}

/** How long a computed task result is retried while the coordinator is unreachable (e.g. restarting). */
const RESULT_RETRY_MS = 60_000;

export type TaskOutcome = 'uploaded' | 'declined' | 'expired' | 'refused' | 'failed';

/**
 * A client agent: registers with the join token, consumes its own BullMQ queue, trains each task
 * locally with TensorFlow.js and uploads the update. When its availability pattern says it is away,
 * it declines the round, so the coordinator sees it as a non-participant without waiting for the deadline.
 */
export class ClientAgent {
  private readonly client: CoordinatorClient;
  private readonly csv: string;
  private readonly scaled = new Map<string, Dataset>();
  private readonly availability: Availability;
  private worker?: Worker;
  private connection?: IORedis;
  private heartbeat?: NodeJS.Timeout;
  private busy = false;
  agentId?: string;

  constructor(private readonly opts: AgentOptions) {
    this.client = new CoordinatorClient(opts.coordinatorUrl);
    this.csv = readFileSync(opts.dataFile, 'utf8');
    this.dataHash = createHash('sha256').update(this.csv).digest('hex');
    // Parse once up front so a bad file stops the agent before it registers.
    const probe = parseLabelLastCsv(this.csv);
    this.exampleCount = probe.size;
    this.availability = createAvailability(opts.availability, createRng(opts.seed));
  }

  readonly exampleCount: number;
  /** sha256 of the data file: tasks that need the same data on two agents (bilevel chains) are matched by it. */
  readonly dataHash: string;

  async start(): Promise<void> {
    const reg = (await this.rejoin()) ?? (await this.register());
    this.agentId = reg.agentId;
    this.connection = new IORedis(this.opts.redisUrl, { maxRetriesPerRequest: null });
    this.worker = new Worker(reg.queueName, (job: Job) => this.process(job), {
      connection: this.connection,
      prefix: reg.queuePrefix,
      concurrency: 1,
    });
    this.worker.on('failed', (job, err) => this.opts.log(`task ${job?.id} failed: ${err.message}`));
    this.heartbeat = setInterval(() => {
      this.client.heartbeat(this.busy ? 'busy' : 'idle').catch((e: Error) => this.opts.log(`heartbeat failed: ${e.message}`));
    }, this.opts.heartbeatMs);
  }

  /** Rejoins with the identity file's credentials, if there is one and the coordinator still accepts them. */
  private async rejoin(): Promise<{ agentId: string; queueName: string; queuePrefix: string } | undefined> {
    const file = this.opts.identityFile;
    const identity = file ? readIdentity(file, this.opts.coordinatorUrl) : undefined;
    if (!identity) return undefined;
    this.client.useCredentials(identity.agentId, identity.agentSecret);
    try {
      await this.client.heartbeat('idle', { [this.opts.dataset]: this.dataHash });
    } catch (e) {
      if (e instanceof CoordinatorError && (e.status === 401 || e.status === 404)) {
        this.opts.log(`identity ${identity.agentId} from ${file} was refused (${e.status}); registering anew`);
        return undefined;
      }
      throw e;
    }
    this.opts.log(`rejoined as ${identity.agentId} (identity ${file}), queue ${identity.queueName}, ${this.exampleCount} examples`);
    return identity;
  }

  private async register(): Promise<{ agentId: string; queueName: string; queuePrefix: string }> {
    const reg = await this.client.register({
      joinToken: this.opts.joinToken,
      name: this.opts.name,
      datasets: [this.opts.dataset],
      exampleCounts: { [this.opts.dataset]: this.exampleCount },
      datasetHashes: { [this.opts.dataset]: this.dataHash },
    });
    if (this.opts.identityFile) writeIdentity(this.opts.identityFile, this.opts.coordinatorUrl, reg);
    this.opts.log(`registered as ${reg.agentId}, queue ${reg.queueName}, ${this.exampleCount} examples`);
    return reg;
  }

  private async process(job: Job): Promise<TaskOutcome> {
    if (job.name === AgentJobName.Train) return this.train(job.data as TrainTask);
    if (job.name === AgentJobName.Task) return this.runTask(job.data as AgentTask);
    throw new Error(`unknown queue job '${job.name}'`);
  }

  /**
   * A task of a NAS or bilevel job: compute with the kind's handler and post the result. A computation error is
   * reported as a failure (the coordinator gives the task to another agent); a refused post (409: done elsewhere,
   * job over; 422: invalid) ends it here.
   */
  async runTask(task: AgentTask): Promise<TaskOutcome> {
    // Past its deadline the coordinator has handed this attempt to another agent.
    if (Date.parse(task.deadline) < Date.now()) return 'expired';
    const handler = TASK_HANDLERS.get(task.kind);
    this.busy = true;
    const started = Date.now();
    try {
      let result: unknown;
      try {
        if (!handler) throw new Error(`this agent has no handler for task kind '${task.kind}'`);
        result = await handler(task.payload, this.taskContext());
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        this.opts.log(`task ${task.kind} ${task.taskId} failed: ${message}`);
        await this.client.taskFailure(task.taskId, message, Date.now() + RESULT_RETRY_MS);
        return 'failed';
      }
      // A late result is still accepted while the task is open, so keep trying past the deadline for a while.
      await this.client.taskResult(task.taskId, result, Date.now() - started, Date.now() + RESULT_RETRY_MS);
      return 'uploaded';
    } catch (e) {
      if (e instanceof CoordinatorError && e.status >= 400 && e.status < 500) {
        this.opts.log(`task ${task.kind} ${task.taskId}: ${e.message}`);
        return 'refused';
      }
      throw e;
    } finally {
      this.busy = false;
    }
  }

  private taskContext(): TaskContext {
    return {
      client: this.client,
      dataset: this.opts.dataset,
      csv: this.csv,
      dataHash: this.dataHash,
      scaled: (featureRange, numClasses) => this.dataFor({ featureRange, numClasses }),
      log: this.opts.log,
    };
  }

  /** One round: decline when away, else download, train, upload. */
  async train(task: TrainTask): Promise<TaskOutcome> {
    if (Date.parse(task.deadline) < Date.now()) return 'expired';
    const available = this.availability.next();
    try {
      if (!available) {
        await this.client.decline(task.jobId, task.round, 'unavailable');
        return 'declined';
      }
      this.busy = true;
      const started = Date.now();
      const global = await this.client.weights(task.modelHash, task.parameterCount);
      const data = this.dataFor(task);
      const result = trainLocal(task.model, global, data, {
        steps: task.localSteps,
        batchSize: task.batchSize,
        lr: task.localLr,
        seed: task.seed,
      });
      await this.client.upload(
        task.jobId,
        task.round,
        result.delta,
        { exampleCount: result.examples, trainLoss: result.meanLoss, durationMs: Date.now() - started },
        Date.parse(task.deadline),
      );
      return 'uploaded';
    } catch (e) {
      // A closed round or a refused update is final: retrying cannot help, so the task ends here.
      if (e instanceof CoordinatorError && e.status >= 400 && e.status < 500) {
        this.opts.log(`round ${task.round} of ${task.jobId}: ${e.message}`);
        return 'refused';
      }
      throw e;
    } finally {
      this.busy = false;
    }
  }

  private dataFor(task: Pick<TrainTask, 'featureRange' | 'numClasses'>): Dataset {
    const key = `${task.featureRange.join(',')}/${task.numClasses}`;
    let ds = this.scaled.get(key);
    if (!ds) {
      ds = scaleToUnit(parseLabelLastCsv(this.csv, { numClasses: task.numClasses }), task.featureRange);
      this.scaled.set(key, ds);
    }
    return ds;
  }

  /** Graceful stop: finish the task in hand, then close the worker and the connection. */
  async stop(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    await this.worker?.close();
    await this.connection?.quit().catch(() => undefined);
  }
}
