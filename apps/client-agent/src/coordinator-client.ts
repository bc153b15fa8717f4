import {
  AGENT_PROTOCOL_VERSION,
  AgentCredentialsSchema,
  AgentWorkSchema,
  DatasetShapeSchema,
  agentBearer,
  type DatasetShape,
  type AgentWork,
  type ErrorBody,
  type Heartbeat,
  type NetworkStats,
  type RegisterAgent,
  type RegisterAgentResponse,
  type UpdateMeta,
} from '@flotilla/contracts';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, fetch, type Response } from 'undici';
import {
  DEFAULT_RETRY,
  IntegrityError,
  attemptTimeout,
  decideRetry,
  errorCode,
  parseRetryAfter,
  type HttpFailure,
  type RetryOptions,
} from './retry-policy';
import { sleep } from './sleep';

/** A non-2xx answer of the coordinator, with its error body. */
export class CoordinatorError extends Error implements HttpFailure {
  constructor(
    readonly status: number,
    readonly body: Partial<ErrorBody>,
    readonly retryAfterMs: number | null = null,
  ) {
    super(`coordinator answered ${status}${body.code ? ` ${body.code}` : ''}: ${body.message ?? 'no message'}`);
  }
}

export interface CoordinatorClientOptions {
  /** PEM file of a CA to trust besides the system's (a coordinator with a private certificate). */
  caFile?: string;
  /** Pauses and per-try timeout (retry-policy.ts); defaults DEFAULT_RETRY. */
  retry?: Partial<RetryOptions>;
  /** How long a call without a deadline of its own is retried (ms). Default 60 000. */
  defaultBudgetMs?: number;
  /** Where an incident (a call that needed more than one try) is reported, once; default: nowhere. */
  log?: (line: string) => void;
}

/** A call's budget: an epoch-ms deadline, or `Infinity` to wait for the coordinator for as long as it takes. */
export type Until = number;

interface CallSpec {
  method: 'GET' | 'POST';
  path: string;
  /** What the call is, for the log ("upload of round 3 of job …"). */
  what: string;
  json?: unknown;
  raw?: Uint8Array;
  auth?: boolean;
  /** A bearer token to send instead of the agent's credentials (the join token, before the agent has any). */
  bearer?: string;
  until?: Until;
  signal?: AbortSignal;
  /** Overrides the per-try timeout (a long poll waits longer than a call). */
  attemptTimeoutMs?: number;
  /** Says "waiting for the coordinator" at the first failed try instead of once the incident is over. */
  announce?: boolean;
}

/**
 * How long the agent's pool keeps an idle connection. The coordinator keeps them open longer (its keepAliveTimeout,
 * bootstrap.ts), so the agent always drops an idle socket first and never sends a request on a socket the coordinator
 * is closing at that moment (a request lost with UND_ERR_SOCKET a few ms after it started).
 */
const POOL_IDLE_MS = 30_000;

/**
 * The agent's side of the REST API, the only way it talks to the coordinator (HTTP or HTTPS, every connection opened
 * by the agent): register, poll for work, heartbeat, weights down, updates and task results up. Every call goes
 * through one retry policy (retry-policy.ts): network errors, stale sockets, timeouts and 408/429/5xx are tried again
 * with jittered exponential pauses until the call's budget (a round's deadline, a task's) runs out; other 4xx are
 * final. Every call is safe to repeat: the coordinator answers a repeated registration, update, decline, task
 * result or failure with its first answer. Downloads are checked against their sha256 and fetched again when they
 * are not what was asked for.
 */
export class CoordinatorClient {
  private credentials?: { agentId: string; secret: string };
  private readonly dispatcher: Agent;
  private readonly retry: RetryOptions;
  private readonly defaultBudgetMs: number;
  private readonly log: (line: string) => void;
  /** Tries repeated, and calls that failed for a reason worth retrying (network trouble, not refusals). */
  private readonly counters = { retries: 0, failures: 0 };

  constructor(
    private readonly baseUrl: string,
    options: CoordinatorClientOptions = {},
  ) {
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.defaultBudgetMs = options.defaultBudgetMs ?? 60_000;
    this.log = options.log ?? (() => undefined);
    this.dispatcher = new Agent({
      keepAliveTimeout: POOL_IDLE_MS,
      // A server's `Keep-Alive: timeout=…` hint may shorten the idle time, never lengthen it past ours.
      keepAliveMaxTimeout: POOL_IDLE_MS,
      ...(options.caFile ? { connect: { ca: readFileSync(options.caFile) } } : {}),
    });
  }

  /** Retries and failures so far (reported to the coordinator in heartbeats, shown on the dashboard). */
  get stats(): NetworkStats {
    return { ...this.counters };
  }

  /**
   * Registers with the join token, waiting for the coordinator as long as it takes (`until`). The agent chooses its
   * secret, so a registration repeated after its answer was lost gets the same agent back, never a second one.
   */
  async register(input: Omit<RegisterAgent, 'agentSecret' | 'protocolVersion'>, until: Until = Infinity): Promise<RegisterAgentResponse> {
    const agentSecret = newSecret();
    const body = await this.call(
      {
        method: 'POST',
        path: '/api/v1/agents/register',
        what: 'registration',
        json: { ...input, agentSecret, protocolVersion: AGENT_PROTOCOL_VERSION },
        auth: false,
        until,
        announce: true,
      },
      async (res) => AgentCredentialsSchema.parse(await res.json()),
    );
    this.credentials = { agentId: body.agentId, secret: body.agentSecret };
    return body;
  }

  /** Uses credentials from an earlier registration (an identity file). */
  useCredentials(agentId: string, secret: string): void {
    this.credentials = { agentId, secret };
  }

  /**
   * A new secret for this agent, chosen here; the old one stops working at once (the client switches to the new one).
   * When the coordinator took the rotation but the answer was lost, the repeat is refused (401: the old secret is
   * gone); the new secret then works, and that is the answer.
   */
  async rotateSecret(until: Until = Infinity): Promise<RegisterAgentResponse> {
    const { agentId, secret: old } = this.requireCredentials();
    const agentSecret = newSecret();
    try {
      await this.call(
        { method: 'POST', path: '/api/v1/agents/me/secret', what: 'secret rotation', json: { agentSecret }, until, announce: true },
        async (res) => AgentCredentialsSchema.parse(await res.json()),
      );
    } catch (e) {
      if (!(e instanceof CoordinatorError && e.status === 401)) throw e;
      this.credentials = { agentId, secret: agentSecret };
      try {
        await this.heartbeat('idle', undefined, until);
      } catch {
        this.credentials = { agentId, secret: old };
        throw e;
      }
    }
    this.credentials = { agentId, secret: agentSecret };
    return { agentId, agentSecret };
  }

  /**
   * Says the agent is alive (and, with `datasetHashes`, what its files hold now; with `network`, its retry counters;
   * with `labels`, `backend` and `device`, what it is now).
   * Retried until `until`, by default for a few seconds: the next heartbeat comes soon anyway.
   */
  async heartbeat(
    status: 'idle' | 'busy',
    extra: Omit<Partial<Heartbeat>, 'status'> = {},
    until: Until = Date.now() + 5_000,
  ): Promise<void> {
    await this.call(
      {
        method: 'POST',
        path: '/api/v1/agents/heartbeat',
        what: 'heartbeat',
        json: { status, ...extra },
        until,
        announce: until === Infinity,
      },
      ignoreBody,
    );
  }

  /**
   * The next work item, waiting up to `waitMs` for one at the coordinator (a long poll); null when none came. One try:
   * the polling loop decides when to ask again. `signal` ends the wait early (the agent is stopping).
   */
  async nextWork(waitMs: number, signal?: AbortSignal): Promise<AgentWork | null> {
    return this.call(
      {
        method: 'GET',
        path: `/api/v1/agents/me/work?waitMs=${waitMs}`,
        what: 'poll for work',
        until: 0,
        signal,
        attemptTimeoutMs: waitMs + 30_000,
      },
      async (res) => (res.status === 204 ? null : AgentWorkSchema.parse(await res.json())),
    );
  }

  /** Uploads a float32 blob (e.g. trained weights a task result names); returns its sha256. */
  async uploadBlob(values: Float32Array, until?: Until): Promise<string> {
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    const expected = sha256(bytes);
    return this.call({ method: 'POST', path: '/api/v1/blobs', what: 'blob upload', raw: bytes, until }, async (res) => {
      const { hash } = (await res.json()) as { hash: string };
      if (hash !== expected) throw new Error(`blob upload: the coordinator stored ${hash}, expected ${expected}`);
      return hash;
    });
  }

  /** Posts a task's result, retrying until `until` (epoch ms); a repeat gets the first answer. */
  async taskResult(taskId: string, result: unknown, durationMs: number, until?: Until): Promise<void> {
    await this.call(
      { method: 'POST', path: `/api/v1/tasks/${taskId}/result`, what: `result of task ${taskId}`, json: { result, durationMs }, until },
      ignoreBody,
    );
  }

  async taskFailure(taskId: string, message: string, until?: Until): Promise<void> {
    await this.call(
      {
        method: 'POST',
        path: `/api/v1/tasks/${taskId}/failure`,
        what: `failure report of task ${taskId}`,
        json: { message: message.slice(0, 2000) || 'unknown error' },
        until,
      },
      ignoreBody,
    );
  }

  /**
   * A float32 blob by its sha256: `count` values, checked against the hash; a truncated or corrupted download is
   * fetched again (until `until`), never returned.
   */
  async weights(hash: string, count: number, until?: Until): Promise<Float32Array> {
    return this.call({ method: 'GET', path: `/api/v1/blobs/${hash}`, what: `download of ${hash.slice(0, 12)}`, until }, async (res) => {
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (bytes.byteLength !== count * 4) {
        throw new IntegrityError(`blob ${hash}: got ${bytes.byteLength} bytes, expected ${count * 4}`);
      }
      if (sha256(bytes) !== hash) throw new IntegrityError(`blob ${hash}: the bytes received have another sha256`);
      const out = new Float32Array(count);
      new Uint8Array(out.buffer).set(bytes);
      return out;
    });
  }

  /** Uploads an update, retrying until `until` (the round's deadline); a repeat gets the first answer. */
  async upload(jobId: string, round: number, delta: Float32Array, meta: UpdateMeta, until?: Until): Promise<{ status: string }> {
    const q = new URLSearchParams({
      exampleCount: String(meta.exampleCount),
      trainLoss: String(meta.trainLoss),
      durationMs: String(meta.durationMs),
    });
    return this.call(
      {
        method: 'POST',
        path: `/api/v1/jobs/${jobId}/rounds/${round}/update?${q.toString()}`,
        what: `update for round ${round} of job ${jobId}`,
        raw: new Uint8Array(delta.buffer, delta.byteOffset, delta.byteLength),
        until,
      },
      async (res) => (await res.json()) as { status: string },
    );
  }

  async decline(jobId: string, round: number, reason: 'unavailable' | 'busy' | 'error', message?: string, until?: Until): Promise<void> {
    await this.call(
      {
        method: 'POST',
        path: `/api/v1/jobs/${jobId}/rounds/${round}/decline`,
        what: `decline of round ${round} of job ${jobId}`,
        json: message ? { reason, message: message.slice(0, 500) } : { reason },
        until,
      },
      ignoreBody,
    );
  }

  /**
   * What a file for `dataset` must look like (features, classes, value range), read before the agent joins: with the
   * join token when `joinToken` is given (a registration to come), else with the agent's credentials (a rejoin).
   * Waits for the coordinator as long as it takes (`until`); a 404 names the datasets the coordinator knows.
   */
  async datasetShape(dataset: string, joinToken?: string, until: Until = Infinity): Promise<DatasetShape> {
    return this.call(
      {
        method: 'GET',
        path: `/api/v1/datasets/${encodeURIComponent(dataset)}`,
        what: `shape of dataset ${dataset}`,
        ...(joinToken !== undefined ? { bearer: joinToken } : {}),
        until,
        announce: until === Infinity,
      },
      async (res) => DatasetShapeSchema.parse(await res.json()),
    );
  }

  /**
   * Tells the coordinator this agent is leaving: it is offline at once, and what it holds (open rounds, running tasks)
   * is let go, so nothing waits for it. Retried briefly (`until`): a stopping agent does not wait long.
   */
  async leave(until: Until = Date.now() + 10_000): Promise<void> {
    await this.call({ method: 'POST', path: '/api/v1/agents/me/leave', what: 'leave', until }, ignoreBody);
  }

  /** Closes the connections (an agent that is leaving). */
  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  /**
   * One call, tried until it succeeds, fails for good or its budget runs out. `read` runs inside the try, so a body
   * cut short or failing its check is retried like a reset connection. An incident (a call that needed more than one
   * try) is logged once, when it ends, with the number of tries and what went wrong.
   */
  private async call<T>(spec: CallSpec, read: (res: Response) => Promise<T>): Promise<T> {
    const until = spec.until ?? Date.now() + this.defaultBudgetMs;
    const started = Date.now();
    const reasons = new Map<string, number>();
    const retry = spec.attemptTimeoutMs ? { ...this.retry, attemptTimeoutMs: spec.attemptTimeoutMs } : this.retry;
    for (let failures = 0; ;) {
      try {
        const res = await this.send(spec, attemptTimeout(Date.now(), until === 0 ? Infinity : until, retry));
        const value = await read(res).catch((e: unknown) => {
          // A 2xx answer that does not parse (its bytes damaged on the way, over plain HTTP): fetched again like a
          // corrupt download, not a reason for the agent to stop.
          if (e instanceof SyntaxError || (e as { name?: unknown } | null)?.name === 'ZodError') {
            throw new IntegrityError(
              `malformed answer (${(e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').slice(0, 200)})`,
            );
          }
          throw e;
        });
        if (failures) this.log(`${spec.what}: done after ${failures + 1} tries in ${seconds(started)} (${summary(reasons)})`);
        return value;
      } catch (e) {
        if (spec.signal?.aborted) throw e;
        failures++;
        const decision = decideRetry(e, failures, Date.now(), until, this.retry);
        if (!decision.retry) {
          if (decision.reason !== null) {
            this.counters.failures++;
            reasons.set(decision.reason, (reasons.get(decision.reason) ?? 0) + 1);
            if (failures > 1) this.log(`${spec.what}: gave up after ${failures} tries in ${seconds(started)} (${summary(reasons)})`);
          }
          throw e;
        }
        this.counters.retries++;
        reasons.set(decision.reason, (reasons.get(decision.reason) ?? 0) + 1);
        if (spec.announce && failures === 1) {
          this.log(
            `waiting for the coordinator at ${this.baseUrl} (${spec.what}: ${describeError(e)}); trying again with pauses up to ${this.retry.maxDelayMs / 1000} s`,
          );
        }
        await sleep(decision.delayMs, spec.signal);
      }
    }
  }

  private async send(spec: CallSpec, timeoutMs: number): Promise<Response> {
    const headers: Record<string, string> = {};
    if (spec.bearer !== undefined) {
      headers.authorization = `Bearer ${spec.bearer}`;
    } else if (spec.auth !== false) {
      const { agentId, secret } = this.requireCredentials();
      headers.authorization = agentBearer(agentId, secret);
    }
    let body: string | Uint8Array | undefined;
    if (spec.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(spec.json);
    } else if (spec.raw) {
      headers['content-type'] = 'application/octet-stream';
      body = spec.raw;
    }
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = spec.signal ? AbortSignal.any([timeout, spec.signal]) : timeout;
    const res = await fetch(this.baseUrl.replace(/\/$/, '') + spec.path, {
      method: spec.method,
      headers,
      body,
      signal,
      dispatcher: this.dispatcher,
    });
    if (!res.ok) {
      const text = await res.text();
      let parsed: Partial<ErrorBody> = {};
      try {
        parsed = JSON.parse(text) as Partial<ErrorBody>;
      } catch {
        parsed = { message: text.slice(0, 200) };
      }
      throw new CoordinatorError(res.status, parsed, parseRetryAfter(res.headers.get('retry-after')));
    }
    return res;
  }

  private requireCredentials(): { agentId: string; secret: string } {
    if (!this.credentials) throw new Error('agent is not registered');
    return this.credentials;
  }
}

/**
 * For calls whose answer says nothing beyond its status: the body is still read to its end, so the connection goes
 * back to the pool (an unread body holds it) and an answer cut short counts as a failed try.
 */
async function ignoreBody(res: Response): Promise<undefined> {
  await res.arrayBuffer();
  return undefined;
}

/** A secret chosen by the agent: 256 random bits, base64url. */
function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** An error as an operator wants to read it: fetch's "fetch failed" with the socket's code and message behind it. */
export function describeError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const code = errorCode(e);
  const cause = e.cause instanceof Error ? e.cause.message : null;
  return [e.message, cause && cause !== e.message ? cause : null, code && !String(cause).includes(code) ? code : null]
    .filter(Boolean)
    .join(': ');
}

function summary(reasons: Map<string, number>): string {
  return [...reasons].map(([r, n]) => (n > 1 ? `${r} ×${n}` : r)).join(', ');
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}
