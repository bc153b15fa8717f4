import {
  AgentCredentialsSchema,
  AgentWorkSchema,
  agentBearer,
  type AgentWork,
  type ErrorBody,
  type RegisterAgent,
  type RegisterAgentResponse,
  type UpdateMeta,
} from '@flotilla/contracts';
import { readFileSync } from 'node:fs';
import { Agent, fetch, type Response } from 'undici';

export class CoordinatorError extends Error {
  constructor(
    readonly status: number,
    readonly body: Partial<ErrorBody>,
    readonly retryAfterMs: number | null = null,
  ) {
    super(`coordinator answered ${status}${body.code ? ` ${body.code}` : ''}: ${body.message ?? 'no message'}`);
  }
}

/** Statuses that mean "try again later" (restarting, overloaded, rate-limited); other 4xx are final. */
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);

export interface CoordinatorClientOptions {
  /** PEM file of a CA to trust besides the system's (a coordinator with a private certificate). */
  caFile?: string;
  /** First pause between tries; it doubles up to 8×. */
  retryBaseMs?: number;
}

/**
 * The agent's side of the REST API, the only way it talks to the coordinator (HTTP or HTTPS, every connection opened
 * by the agent): register, poll for work, heartbeat, weights down, updates and task results up. Answers that are
 * idempotent on the coordinator (an update, a decline, a task result or failure) are retried with backoff while the
 * coordinator is unreachable or says to come back later, until the caller's deadline: a result computed while the
 * coordinator restarts is delivered when it is back instead of being recomputed elsewhere.
 */
export class CoordinatorClient {
  private credentials?: { agentId: string; secret: string };
  private readonly dispatcher: Agent;
  private readonly retryBaseMs: number;

  constructor(
    private readonly baseUrl: string,
    options: CoordinatorClientOptions = {},
  ) {
    this.retryBaseMs = options.retryBaseMs ?? 250;
    this.dispatcher = new Agent({
      keepAliveTimeout: 60_000,
      ...(options.caFile ? { connect: { ca: readFileSync(options.caFile) } } : {}),
    });
  }

  async register(input: RegisterAgent): Promise<RegisterAgentResponse> {
    const res = await this.request('POST', '/api/v1/agents/register', { json: input, auth: false });
    const body = AgentCredentialsSchema.parse(await res.json());
    this.credentials = { agentId: body.agentId, secret: body.agentSecret };
    return body;
  }

  /** Uses credentials from an earlier registration (an identity file). */
  useCredentials(agentId: string, secret: string): void {
    this.credentials = { agentId, secret };
  }

  /** A new secret for this agent; the old one stops working at once (the client switches to the new one). */
  async rotateSecret(): Promise<RegisterAgentResponse> {
    const res = await this.request('POST', '/api/v1/agents/me/secret');
    const body = AgentCredentialsSchema.parse(await res.json());
    this.credentials = { agentId: body.agentId, secret: body.agentSecret };
    return body;
  }

  async heartbeat(status: 'idle' | 'busy', datasetHashes?: Record<string, string>): Promise<void> {
    await this.request('POST', '/api/v1/agents/heartbeat', { json: datasetHashes ? { status, datasetHashes } : { status } });
  }

  /**
   * The next work item, waiting up to `waitMs` for one at the coordinator (a long poll); null when none came.
   * `signal` ends the wait early (the agent is stopping).
   */
  async nextWork(waitMs: number, signal?: AbortSignal): Promise<AgentWork | null> {
    const res = await this.request('GET', `/api/v1/agents/me/work?waitMs=${waitMs}`, { timeoutMs: waitMs + 30_000, signal });
    if (res.status === 204) return null;
    return AgentWorkSchema.parse(await res.json());
  }

  /** Uploads a float32 blob (e.g. trained weights a task result names); returns its sha256. */
  async uploadBlob(values: Float32Array): Promise<string> {
    const res = await this.request('POST', '/api/v1/blobs', { raw: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) });
    return ((await res.json()) as { hash: string }).hash;
  }

  /** Posts a task's result, retrying while the coordinator is unreachable until `retryUntil` (epoch ms). */
  async taskResult(taskId: string, result: unknown, durationMs: number, retryUntil = 0): Promise<void> {
    await this.request('POST', `/api/v1/tasks/${taskId}/result`, { json: { result, durationMs }, retryUntil });
  }

  async taskFailure(taskId: string, message: string, retryUntil = 0): Promise<void> {
    await this.request('POST', `/api/v1/tasks/${taskId}/failure`, {
      json: { message: message.slice(0, 2000) || 'unknown error' },
      retryUntil,
    });
  }

  async weights(hash: string, expectedCount: number): Promise<Float32Array> {
    const res = await this.request('GET', `/api/v1/blobs/${hash}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (bytes.byteLength !== expectedCount * 4) {
      throw new Error(`weights ${hash}: got ${bytes.byteLength} bytes, expected ${expectedCount * 4}`);
    }
    const out = new Float32Array(expectedCount);
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }

  /** Uploads an update, retrying while the coordinator is unreachable until `retryUntil` (epoch ms; the round's deadline). */
  async upload(jobId: string, round: number, delta: Float32Array, meta: UpdateMeta, retryUntil = 0): Promise<{ status: string }> {
    const q = new URLSearchParams({
      exampleCount: String(meta.exampleCount),
      trainLoss: String(meta.trainLoss),
      durationMs: String(meta.durationMs),
    });
    const res = await this.request('POST', `/api/v1/jobs/${jobId}/rounds/${round}/update?${q.toString()}`, {
      raw: new Uint8Array(delta.buffer, delta.byteOffset, delta.byteLength),
      retryUntil,
    });
    return (await res.json()) as { status: string };
  }

  async decline(jobId: string, round: number, reason: 'unavailable' | 'busy' | 'error', message?: string, retryUntil = 0): Promise<void> {
    await this.request('POST', `/api/v1/jobs/${jobId}/rounds/${round}/decline`, {
      json: message ? { reason, message: message.slice(0, 500) } : { reason },
      retryUntil,
    });
  }

  /** Closes the connections (an agent that is leaving). */
  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  private async request(
    method: string,
    path: string,
    opts: { json?: unknown; raw?: Uint8Array; auth?: boolean; retryUntil?: number; timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.requestOnce(method, path, opts);
      } catch (e) {
        if (opts.signal?.aborted) throw e;
        const pause =
          e instanceof CoordinatorError && e.retryAfterMs !== null ? e.retryAfterMs : this.retryBaseMs * 2 ** Math.min(attempt, 3);
        if (!isTransient(e) || Date.now() + pause > (opts.retryUntil ?? 0)) throw e;
        await new Promise((r) => setTimeout(r, pause));
      }
    }
  }

  private async requestOnce(
    method: string,
    path: string,
    opts: { json?: unknown; raw?: Uint8Array; auth?: boolean; timeoutMs?: number; signal?: AbortSignal },
  ): Promise<Response> {
    const headers: Record<string, string> = {};
    if (opts.auth !== false) {
      if (!this.credentials) throw new Error('agent is not registered');
      headers.authorization = agentBearer(this.credentials.agentId, this.credentials.secret);
    }
    let body: string | Uint8Array | undefined;
    if (opts.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.json);
    } else if (opts.raw) {
      headers['content-type'] = 'application/octet-stream';
      body = opts.raw;
    }
    const timeout = AbortSignal.timeout(opts.timeoutMs ?? 60_000);
    const signal = opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout;
    const res = await fetch(this.baseUrl.replace(/\/$/, '') + path, { method, headers, body, signal, dispatcher: this.dispatcher });
    if (!res.ok) {
      const text = await res.text();
      let parsed: Partial<ErrorBody> = {};
      try {
        parsed = JSON.parse(text) as Partial<ErrorBody>;
      } catch {
        parsed = { message: text.slice(0, 200) };
      }
      const retryAfter = Number(res.headers.get('retry-after'));
      throw new CoordinatorError(res.status, parsed, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : null);
    }
    return res;
  }
}

/** A network error (no answer at all) or an answer that says to come back later. */
export function isTransient(e: unknown): boolean {
  if (e instanceof CoordinatorError) return RETRYABLE_STATUS.has(e.status);
  // fetch rejects with a TypeError on network errors, and our own deadline with a TimeoutError (checked by name: they
  // may come from another realm).
  const name = (e as { name?: unknown } | null)?.name;
  return name === 'TypeError' || name === 'TimeoutError';
}
