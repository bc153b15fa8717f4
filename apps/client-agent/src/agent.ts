import {
  createAvailability,
  createRng,
  scaleToUnit,
  trainLocal,
  type Availability,
  type AvailabilitySpec,
  type Dataset,
} from '@flotilla/algorithms';
import type { AgentBackend, AgentLabels, AgentTask, AgentWork, DatasetShape, NetworkStats, TrainTask } from '@flotilla/contracts';
import { CoordinatorClient, CoordinatorError, describeError } from './coordinator-client';
import { PollWait } from './poll-wait';
import { sleep } from './sleep';
import { DEFAULT_RETRY, backoffDelay, retryReason, type RetryOptions } from './retry-policy';
import { LocalData } from './local-data';
import { readIdentity, writeIdentity, type AgentIdentity } from './identity';
import { TASK_HANDLERS, type TaskContext } from './tasks';

export interface AgentOptions {
  coordinatorUrl: string;
  joinToken: string;
  name: string;
  dataset: string;
  /** A label-last CSV, the images of an IDX pair (with `labelsFile`) or a folder of images per class. */
  dataFile: string;
  /** The labels of an IDX `dataFile`. */
  labelsFile?: string;
  availability: AvailabilitySpec;
  seed: number;
  heartbeatMs: number;
  /** Where the agent keeps its id and secret between runs; without it every start registers a new client. */
  identityFile?: string;
  /** A new secret at start (written to the identity file); the old one stops working. */
  rotateSecret?: boolean;
  /** Labels jobs select agents by (`--label`), sent at registration and when rejoining (default none). */
  labels?: AgentLabels;
  /** The TensorFlow.js backend this process computes with, and its device (reported to the coordinator). */
  backend?: AgentBackend;
  device?: string;
  /** PEM file of a CA to trust for the coordinator's certificate. */
  caFile?: string;
  /** How long one poll for work may wait at the coordinator (default 25 s). */
  pollWaitMs?: number;
  /** Largest pause between two tries of a call while the coordinator cannot be reached (default 30 s). */
  retryMaxDelayMs?: number;
  /** How long one try of a call may take (default 60 s). */
  requestTimeoutMs?: number;
  log: (line: string) => void;
}

/** How long a computed task result is retried while the coordinator is unreachable (e.g. restarting). */
const RESULT_RETRY_MS = 60_000;
/** A failing poll or heartbeat is reported when it has failed this long (ms), and again when it recovers. */
const INCIDENT_REPORT_MS = 10_000;
/** The agent's network counters are sent to the coordinator at most this often (ms), when they changed. */
const STATS_REPORT_MS = 10_000;

export type TaskOutcome = 'uploaded' | 'declined' | 'expired' | 'refused' | 'failed';

/**
 * A definitive answer: the coordinator refused this agent's credentials or join token (revoked, expired, used up,
 * from another deployment) or its protocol version. Retrying cannot change it: the agent must stop.
 */
export class CredentialsRefused extends Error {}

/**
 * The agent's file does not fit its dataset as the coordinator describes it (feature count, classes, value range), or
 * the coordinator does not know the dataset. Every round would fail: the agent must not join.
 */
export class DataMismatch extends Error {}

/**
 * A client agent: registers with the join token (or rejoins with its identity file), then asks the coordinator for
 * work over HTTP(S) in a loop (a long poll: it waits at the coordinator until there is work), computes it — a round
 * of a federated job trained locally with TensorFlow.js, or a task — and answers. It needs nothing but the
 * coordinator's address: no route to Redis or anything else. When its availability pattern says it is away, it
 * declines the round, so the coordinator sees it as a non-participant without waiting for the deadline.
 * Network errors and restarts of the coordinator are ridden out: the agent keeps asking, with growing pauses.
 */
export class ClientAgent {
  private readonly client: CoordinatorClient;
  private readonly data: LocalData;
  private readonly scaled = new Map<string, Dataset>();
  private readonly availability: Availability;
  private heartbeat?: NodeJS.Timeout;
  private busy = false;
  private stopping = false;
  private readonly stopPolling = new AbortController();
  private loop?: Promise<void>;
  private readonly retry: RetryOptions;
  private readonly polls: Incident;
  private readonly pollWait: PollWait;
  private readonly heartbeats: Incident;
  /** The network counters last sent to the coordinator, and when. */
  private reported = { stats: '{"retries":0,"failures":0}', at: 0 };
  agentId?: string;

  constructor(private readonly opts: AgentOptions) {
    this.retry = {
      ...DEFAULT_RETRY,
      ...(opts.retryMaxDelayMs !== undefined ? { maxDelayMs: opts.retryMaxDelayMs } : {}),
      ...(opts.requestTimeoutMs !== undefined ? { attemptTimeoutMs: opts.requestTimeoutMs } : {}),
    };
    this.client = new CoordinatorClient(opts.coordinatorUrl, { caFile: opts.caFile, log: opts.log, retry: this.retry });
    this.polls = new Incident('polling for work', opts.log);
    this.pollWait = new PollWait(opts.pollWaitMs ?? 25_000);
    this.heartbeats = new Incident('heartbeats', opts.log);
    // Read once up front so a bad file stops the agent before it registers.
    this.data = new LocalData(opts.dataFile, opts.labelsFile);
    this.exampleCount = this.data.exampleCount;
    this.availability = createAvailability(opts.availability, createRng(opts.seed));
  }

  readonly exampleCount: number;
  /** sha256 of the data: tasks that need the same data on two agents (bilevel chains) are matched by it. */
  get dataHash(): string {
    return this.data.hash;
  }

  /**
   * Joins and starts asking for work; `done()` settles when the agent stops (or fails for good). Until the coordinator
   * answers, it keeps trying; only a definitive refusal (join token, identity, protocol version) ends it, with a
   * CredentialsRefused that says why.
   */
  async start(): Promise<void> {
    try {
      const file = this.opts.identityFile;
      const identity = file ? readIdentity(file, this.opts.coordinatorUrl) : undefined;
      await this.checkData(identity);
      const reg = (identity && (await this.rejoin(identity))) ?? (await this.register());
      this.agentId = reg.agentId;
    } catch (e) {
      if (e instanceof DataMismatch) throw e;
      if (e instanceof CoordinatorError && e.status >= 400 && e.status < 500) {
        throw new CredentialsRefused(`the coordinator refused to let this agent join: ${e.message}`);
      }
      throw e;
    }
    // A poll counts as a heartbeat; these keep an agent that computes for long visible as online.
    this.heartbeat = setInterval(() => {
      if (!this.busy) return;
      this.client.heartbeat('busy', this.statsToReport(), Date.now() + this.opts.heartbeatMs).then(
        () => this.heartbeats.ok(),
        (e: unknown) => this.heartbeats.failed(e),
      );
    }, this.opts.heartbeatMs);
    this.loop = this.pollForWork();
  }

  /** Settles when the polling loop ends: after stop(), or rejecting when the coordinator refused the credentials. */
  done(): Promise<void> {
    return this.loop ?? Promise.resolve();
  }

  /** Retries and failures of this agent's calls so far. */
  get networkStats(): NetworkStats {
    return this.client.stats;
  }

  /**
   * Reads what a file for the agent's dataset must look like from the coordinator (with the identity's credentials
   * when it has them and they still work, else with the join token) and throws DataMismatch, saying what does not
   * fit, before the agent registers or counts as online: a file that does not fit would fail every round.
   */
  private async checkData(identity: AgentIdentity | undefined): Promise<void> {
    const dataset = this.opts.dataset;
    let shape: DatasetShape | undefined;
    try {
      if (identity) {
        this.client.useCredentials(identity.agentId, identity.agentSecret);
        shape = await this.client.datasetShape(dataset).catch((e: unknown) => {
          // A refused identity: the agent will register anew with the join token (rejoin says so).
          if (e instanceof CoordinatorError && e.status === 401) return undefined;
          throw e;
        });
      }
      shape ??= await this.client.datasetShape(dataset, this.opts.joinToken);
    } catch (e) {
      if (e instanceof CoordinatorError && e.status === 404) {
        throw new DataMismatch(`the coordinator does not know dataset '${dataset}' (--dataset): ${e.body.message ?? 'not found'}`);
      }
      throw e;
    }
    const problems = this.data.check(shape);
    if (problems.length) {
      throw new DataMismatch(`${this.data.describe} does not fit dataset '${dataset}' on the coordinator: ${problems.join('; ')}`);
    }
  }

  /** Rejoins with the identity file's credentials, if the coordinator still accepts them. */
  private async rejoin(identity: AgentIdentity): Promise<{ agentId: string } | undefined> {
    const file = this.opts.identityFile;
    this.client.useCredentials(identity.agentId, identity.agentSecret);
    try {
      // What this run of the agent is may have changed since the identity registered: its file, labels, backend, device.
      await this.client.heartbeat('idle', { datasetHashes: { [this.opts.dataset]: this.dataHash }, ...this.description() }, Infinity);
    } catch (e) {
      if (e instanceof CoordinatorError && (e.status === 401 || e.status === 404)) {
        this.opts.log(`identity ${identity.agentId} from ${file} was refused (${e.body.message ?? e.status}); registering anew`);
        return undefined;
      }
      throw e;
    }
    if (this.opts.rotateSecret) {
      writeIdentity(file!, this.opts.coordinatorUrl, await this.client.rotateSecret());
      this.opts.log(`rotated the secret of ${identity.agentId} (identity ${file})`);
    }
    this.opts.log(`rejoined as ${identity.agentId} (identity ${file}), ${this.exampleCount} examples`);
    return identity;
  }

  private async register(): Promise<{ agentId: string }> {
    const reg = await this.client.register({
      joinToken: this.opts.joinToken,
      name: this.opts.name,
      datasets: [this.opts.dataset],
      exampleCounts: { [this.opts.dataset]: this.exampleCount },
      datasetHashes: { [this.opts.dataset]: this.dataHash },
      ...this.description(),
    });
    if (this.opts.identityFile) writeIdentity(this.opts.identityFile, this.opts.coordinatorUrl, reg);
    this.opts.log(`registered as ${reg.agentId}, ${this.exampleCount} examples`);
    return reg;
  }

  /** What the agent says about itself besides its data: its labels (always: {} clears old ones), backend and device. */
  private description(): { labels: AgentLabels; backend?: AgentBackend; device?: string } {
    return {
      labels: this.opts.labels ?? {},
      ...(this.opts.backend ? { backend: this.opts.backend } : {}),
      ...(this.opts.device ? { device: this.opts.device } : {}),
    };
  }

  /** The network counters, when they changed since they were last sent and that was long enough ago. */
  private statsToReport(): { network?: NetworkStats } {
    const stats = this.client.stats;
    const json = JSON.stringify(stats);
    if (json === this.reported.stats || Date.now() - this.reported.at < STATS_REPORT_MS) return {};
    this.reported = { stats: json, at: Date.now() };
    return { network: stats };
  }

  /**
   * Asks for work until stopped; transient errors (no answer, 5xx, 429) only pause it. A poll the network cut while it
   * waited is no outage: the next one waits less (PollWait) and starts at once.
   */
  private async pollForWork(): Promise<void> {
    let failures = 0;
    let shortened = false;
    while (!this.stopping) {
      const started = Date.now();
      try {
        const report = this.statsToReport();
        if (report.network) await this.client.heartbeat('idle', report).catch(() => undefined);
        const work = await this.client.nextWork(this.pollWait.next(), this.stopPolling.signal);
        this.pollWait.completed();
        this.polls.ok();
        failures = 0;
        if (work && !this.stopping) await this.process(work);
      } catch (e) {
        if (this.stopping) break;
        if (e instanceof CoordinatorError && e.status === 401) {
          throw new CredentialsRefused(`the coordinator refused this agent's credentials: ${e.body.message ?? ''}`);
        }
        if (!isRetryable(e) && !(e instanceof CoordinatorError)) throw e;
        if (!(e instanceof CoordinatorError) && this.pollWait.cut(Date.now() - started)) {
          if (!shortened) {
            shortened = true;
            this.opts.log(
              `a poll for work was cut after ${((Date.now() - started) / 1000).toFixed(1)} s (${describeError(e)}): a proxy or NAT closing connections? Polls now wait at most ${(this.pollWait.ms / 1000).toFixed(1)} s`,
            );
          }
          await sleep(Math.floor(250 * Math.random()), this.stopPolling.signal);
          continue;
        }
        // A refusal of the poll itself (4xx other than 401) or a transient error: wait and ask again.
        this.polls.failed(e);
        failures++;
        await sleep(backoffDelay(failures, this.retry, e instanceof CoordinatorError ? e.retryAfterMs : null), this.stopPolling.signal);
      }
    }
  }

  private process(work: AgentWork): Promise<TaskOutcome> {
    return work.kind === 'train' ? this.train(work.train) : this.runTask(work.task);
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
      this.opts.log(`task ${task.kind} ${task.taskId} (attempt ${task.attempt}) done in ${Date.now() - started} ms`);
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
    const data = this.data;
    return {
      client: this.client,
      dataset: this.opts.dataset,
      get csv() {
        return data.csv;
      },
      dataHash: this.dataHash,
      scaled: (featureRange, numClasses) => this.dataFor({ featureRange, numClasses }),
      log: this.opts.log,
    };
  }

  /**
   * One round: decline when away, else download, train, upload. A training that fails here is declined with the
   * reason, so the round does not wait for this agent until its deadline.
   */
  async train(task: TrainTask): Promise<TaskOutcome> {
    const deadline = Date.parse(task.deadline);
    if (deadline < Date.now()) return 'expired';
    const available = this.availability.next();
    try {
      if (!available) {
        await this.client.decline(task.jobId, task.round, 'unavailable', undefined, deadline);
        return 'declined';
      }
      this.busy = true;
      const started = Date.now();
      let update: { delta: Float32Array; examples: number; meanLoss: number };
      try {
        const global = await this.client.weights(task.modelHash, task.parameterCount, deadline);
        const data = this.dataFor(task);
        const r = trainLocal(
          task.model,
          global,
          { ...data, inputShape: task.inputShape },
          {
            steps: task.localSteps,
            batchSize: task.batchSize,
            lr: task.localLr,
            momentum: task.momentum,
            weightDecay: task.weightDecay,
            seed: task.seed,
          },
        );
        update = { delta: r.delta, examples: r.examples, meanLoss: r.meanLoss };
      } catch (e) {
        if (e instanceof CoordinatorError || isRetryable(e)) throw e;
        const message = e instanceof Error ? e.message : String(e);
        this.opts.log(`round ${task.round} of ${task.jobId}: cannot train: ${message}`);
        await this.client.decline(task.jobId, task.round, 'error', message, deadline);
        return 'failed';
      }
      const durationMs = Date.now() - started;
      await this.client.upload(
        task.jobId,
        task.round,
        update.delta,
        { exampleCount: update.examples, trainLoss: update.meanLoss, durationMs },
        deadline,
      );
      this.opts.log(
        `round ${task.round} of ${task.jobId}: ${update.examples} examples, loss ${update.meanLoss.toFixed(4)}, ${durationMs} ms`,
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
      ds = scaleToUnit(this.data.withClasses(task.numClasses), task.featureRange);
      this.scaled.set(key, ds);
    }
    return ds;
  }

  /**
   * Graceful stop: the poll in flight is abandoned, the work in hand finished, then the coordinator is told that the
   * agent is leaving (it is offline at once; work it was given and did not start is let go, so no round waits for it
   * until its deadline and its tasks go to other agents), then the connections closed.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopPolling.abort();
    if (this.heartbeat) clearInterval(this.heartbeat);
    const refused = await this.loop?.then(
      () => false,
      (e: unknown) => e instanceof CredentialsRefused,
    );
    if (this.agentId && !refused) {
      await this.client.leave().then(
        () => this.opts.log(`left the coordinator (${this.agentId})`),
        (e: unknown) => this.opts.log(`could not tell the coordinator that this agent is leaving: ${describeError(e)}`),
      );
    }
    await this.client.close();
  }
}

function isRetryable(e: unknown): boolean {
  return retryReason(e) !== null;
}

/**
 * A recurring call that fails for a while (polls, heartbeats): reported once when it has failed for
 * INCIDENT_REPORT_MS, and once when it works again, with the number of failed tries and why — not a line per try.
 */
class Incident {
  private since: number | null = null;
  private tries = 0;
  private reported = false;
  private readonly reasons = new Map<string, number>();

  constructor(
    private readonly what: string,
    private readonly log: (line: string) => void,
  ) {}

  failed(e: unknown): void {
    const reason = retryReason(e) ?? (e instanceof CoordinatorError ? `HTTP ${e.status}` : 'error');
    this.since ??= Date.now();
    this.tries++;
    this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + 1);
    if (!this.reported && Date.now() - this.since >= INCIDENT_REPORT_MS) {
      this.reported = true;
      this.log(
        `${this.what}: failing for ${((Date.now() - this.since) / 1000).toFixed(0)} s (${this.tries} tries; last: ${describeError(e)}); still trying`,
      );
    }
  }

  ok(): void {
    if (this.since === null) return;
    const reasons = [...this.reasons].map(([r, n]) => (n > 1 ? `${r} ×${n}` : r)).join(', ');
    this.log(
      `${this.what}: working again after ${this.tries} failed ${this.tries === 1 ? 'try' : 'tries'} in ${((Date.now() - this.since) / 1000).toFixed(1)} s (${reasons})`,
    );
    this.since = null;
    this.tries = 0;
    this.reported = false;
    this.reasons.clear();
  }
}
