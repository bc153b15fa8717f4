import { request } from 'node:http';

/** Small HTTP helpers for tests that talk to a real coordinator. */
export interface Reply<T = unknown> {
  status: number;
  body: T;
  /** The answer's headers (absent from helpers that do not read them). */
  headers?: Headers;
}

export async function call<T = unknown>(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; json?: unknown; raw?: Uint8Array } = {},
): Promise<Reply<T>> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: RequestInit['body'];
  if (opts.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.raw) {
    headers['content-type'] = 'application/octet-stream';
    body = opts.raw;
  }
  const res = await fetch(base + path, { method, headers, body });
  const type = res.headers.get('content-type') ?? '';
  const parsed = type.includes('application/json') ? await res.json() : new Uint8Array(await res.arrayBuffer());
  return { status: res.status, body: parsed as T, headers: res.headers };
}

export function floats(values: number[] | Float32Array): Uint8Array {
  const f = values instanceof Float32Array ? values : Float32Array.from(values);
  return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
}

export function toFloat32(bytes: Uint8Array): Float32Array {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength % 4 !== 0)
    throw new Error(
      `not a float32 body (${Object.prototype.toString.call(bytes)}, ${String((bytes as Uint8Array | undefined)?.byteLength)} bytes)`,
    );
  const out = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** What {@link rawRequest} got back. */
export interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/**
 * One request on a connection of its own, sent exactly as given (any method, raw path and query, any headers,
 * a body with a Content-Length or chunked), for tests that send what `fetch` would refuse or normalise.
 */
export function rawRequest(
  base: string,
  r: { method: string; path: string; headers?: Record<string, string>; body?: Uint8Array; chunked?: boolean; timeoutMs?: number },
): Promise<RawReply> {
  const url = new URL(base);
  const headers: Record<string, string> = { ...r.headers };
  if (r.body && !r.chunked) headers['content-length'] = String(r.body.byteLength);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method: r.method, path: r.path, headers, agent: false });
    req.setTimeout(r.timeoutMs ?? 15_000, () =>
      req.destroy(new Error(`no answer to ${r.method} ${r.path} in ${r.timeoutMs ?? 15_000} ms`)),
    );
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(r.body);
  });
}

/**
 * Starts an upload and stops sending after `first` (of a body announced by `headers`, e.g. a Content-Length of
 * 40 MiB): resolves with the coordinator's answer, which must therefore have come before the body was complete, and
 * how many bytes had been sent by then. The connection is closed afterwards.
 */
export function answerBeforeBody(
  base: string,
  r: { method: string; path: string; headers: Record<string, string>; first: Uint8Array; timeoutMs?: number },
): Promise<{ status: number; text: string; sent: number; closed: boolean }> {
  const url = new URL(base);
  // Asking to keep the connection, so that `closed` says the coordinator chose to close it.
  const headers = { connection: 'keep-alive', ...r.headers };
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method: r.method, path: r.path, headers, agent: false });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer to ${r.method} ${r.path} before its body was complete`));
    }, r.timeoutMs ?? 15_000);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        const closed = res.headers.connection === 'close';
        req.destroy();
        resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString('utf8'), sent: r.first.byteLength, closed });
      });
    });
    // The connection may be reset once the answer is in: only an error before it counts.
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.write(r.first);
  });
}

/** An upload held open: its headers and a first part of its body sent, the rest never (see {@link holdUpload}). */
export interface HeldUpload {
  /** The coordinator's answer, if it gives one before the upload is aborted. */
  answer: Promise<RawReply>;
  /** Drops the connection (the coordinator sees the client go away). */
  abort(): void;
}

/** Starts an upload whose body never completes: it stays in flight on the coordinator until it is aborted. */
export function holdUpload(base: string, r: { path: string; headers: Record<string, string>; first: Uint8Array }): HeldUpload {
  const url = new URL(base);
  const req = request({ host: url.hostname, port: url.port, method: 'POST', path: r.path, headers: r.headers, agent: false });
  const answer = new Promise<RawReply>((resolve, reject) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
  });
  answer.catch(() => undefined);
  req.write(r.first);
  return { answer, abort: () => req.destroy() };
}
