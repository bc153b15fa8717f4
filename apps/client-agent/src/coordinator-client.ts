import { agentBearer, type ErrorBody, type RegisterAgent, type RegisterAgentResponse, type UpdateMeta } from '@flotilla/contracts';

export class CoordinatorError extends Error {
  constructor(
    readonly status: number,
    readonly body: Partial<ErrorBody>,
  ) {
    super(`coordinator answered ${status}${body.code ? ` ${body.code}` : ''}: ${body.message ?? 'no message'}`);
  }
}

/** Statuses that mean "the coordinator is restarting or overloaded", worth another try (never 4xx: those are final). */
const RETRYABLE_STATUS = new Set([502, 503, 504]);

/**
 * The agent's side of the REST API (register, heartbeat, weights down, updates up, task results). Answers that
 * are idempotent on the coordinator (an update, a decline, a task result or failure) are retried with backoff
 * while the coordinator is unreachable, until the caller's deadline: a result computed while the coordinator
 * restarts is delivered when it is back instead of being recomputed elsewhere.
 */
export class CoordinatorClient {
  private credentials?: { agentId: string; secret: string };

  constructor(
    private readonly baseUrl: string,
    /** First pause between tries; it doubles up to 8×. */
    private readonly retryBaseMs = 250,
  ) {}

  async register(input: RegisterAgent): Promise<RegisterAgentResponse> {
    const res = await this.request('POST', '/api/v1/agents/register', { json: input, auth: false });
    const body = (await res.json()) as RegisterAgentResponse;
    this.credentials = { agentId: body.agentId, secret: body.agentSecret };
    return body;
  }

  /** Uses credentials from an earlier registration (an identity file). */
  useCredentials(agentId: string, secret: string): void {
    this.credentials = { agentId, secret };
  }

  async heartbeat(status: 'idle' | 'busy', datasetHashes?: Record<string, string>): Promise<void> {
    await this.request('POST', '/api/v1/agents/heartbeat', { json: datasetHashes ? { status, datasetHashes } : { status } });
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

  async decline(jobId: string, round: number, reason: 'unavailable' | 'busy' | 'error', message?: string): Promise<void> {
    await this.request('POST', `/api/v1/jobs/${jobId}/rounds/${round}/decline`, {
      json: message ? { reason, message: message.slice(0, 500) } : { reason },
    });
  }

  private async request(
    method: string,
    path: string,
    opts: { json?: unknown; raw?: Uint8Array; auth?: boolean; retryUntil?: number } = {},
  ): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.requestOnce(method, path, opts);
      } catch (e) {
        // fetch rejects with a TypeError on network errors (checked by name: it may come from another realm).
        const retryable =
          e instanceof CoordinatorError ? RETRYABLE_STATUS.has(e.status) : (e as { name?: unknown } | null)?.name === 'TypeError';
        const pause = this.retryBaseMs * 2 ** Math.min(attempt, 3);
        if (!retryable || Date.now() + pause > (opts.retryUntil ?? 0)) throw e;
        await new Promise((r) => setTimeout(r, pause));
      }
    }
  }

  private async requestOnce(method: string, path: string, opts: { json?: unknown; raw?: Uint8Array; auth?: boolean }): Promise<Response> {
    const headers: Record<string, string> = {};
    if (opts.auth !== false) {
      if (!this.credentials) throw new Error('agent is not registered');
      headers.authorization = agentBearer(this.credentials.agentId, this.credentials.secret);
    }
    let body: RequestInit['body'];
    if (opts.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.json);
    } else if (opts.raw) {
      headers['content-type'] = 'application/octet-stream';
      body = opts.raw;
    }
    const res = await fetch(this.baseUrl.replace(/\/$/, '') + path, { method, headers, body, signal: AbortSignal.timeout(60_000) });
    if (!res.ok) {
      const text = await res.text();
      let parsed: Partial<ErrorBody> = {};
      try {
        parsed = JSON.parse(text) as Partial<ErrorBody>;
      } catch {
        parsed = { message: text.slice(0, 200) };
      }
      throw new CoordinatorError(res.status, parsed);
    }
    return res;
  }
}
