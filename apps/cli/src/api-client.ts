import type { ErrorBody } from '@flotilla/contracts';
import type { Connection } from './config';
import { CliError, ExitCode, usageError, type FieldError } from './exit-codes';

/** How long one request may take before the coordinator counts as unreachable. */
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * The coordinator's REST API (`/api/v1`) with the caller's API key. Every failure becomes a {@link CliError} with the
 * exit code scripts branch on; no message ever holds the key.
 */
export class ApiClient {
  constructor(private readonly conn: Connection) {}

  get url(): string {
    return this.conn.url;
  }

  /** A JSON request; resolves to the parsed body of a 2xx answer. */
  async json<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const res = await this.send(method, path, body);
    const text = await res.text();
    return (text ? JSON.parse(text) : null) as T;
  }

  /** A binary download; resolves to its bytes and headers. */
  async bytes(path: string): Promise<{ bytes: Uint8Array; headers: Headers }> {
    const res = await this.send('GET', path);
    return { bytes: new Uint8Array(await res.arrayBuffer()), headers: res.headers };
  }

  private async send(method: string, path: string, body?: unknown): Promise<Response> {
    if (!this.conn.apiKey) {
      throw usageError(
        'no API key: pass --key, set FLOTILLA_API_KEY, or put {"apiKey": "…"} in ~/.config/flotilla/config.json (mode 0600)',
      );
    }
    const headers: Record<string, string> = { authorization: `Bearer ${this.conn.apiKey}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${this.conn.url}/api/v1${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (e) {
      throw new CliError(ExitCode.Unreachable, `cannot reach the coordinator at ${this.conn.url}: ${networkReason(e)}`);
    }
    if (res.ok) return res;
    throw await refusal(res, this.conn);
  }
}

/** The cause of a failed fetch in a few words (ECONNREFUSED, a timeout, a DNS failure), never the request. */
function networkReason(e: unknown): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError') return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  const reason = err.cause?.code ?? err.cause?.message ?? err.message ?? String(e);
  // fetch refuses some ports outright (6000, 6665–6669, …: the WHATWG "bad ports"), before any connection.
  return reason === 'bad port' ? 'fetch refuses to connect to this port (a WHATWG "bad port"); use another' : reason;
}

/** Turns a non-2xx answer into the error a person can act on, with the API's field errors. */
async function refusal(res: Response, conn: Connection): Promise<CliError> {
  const text = await res.text().catch(() => '');
  let body: Partial<ErrorBody> | null = null;
  try {
    body = JSON.parse(text) as Partial<ErrorBody>;
  } catch {
    body = null;
  }
  const message = typeof body?.message === 'string' ? body.message : `HTTP ${res.status} ${res.statusText}`.trim();
  const fields = fieldsOf(body?.details);
  const api = { status: res.status, code: body?.code, requestId: body?.requestId ?? res.headers.get('x-request-id') ?? undefined, fields };
  if (res.status === 401) {
    return new CliError(ExitCode.AuthRefused, `the coordinator refused the API key (from ${conn.keySource ?? 'nowhere'}): ${message}`, api);
  }
  if (res.status === 403) return new CliError(ExitCode.AuthRefused, message, api);
  if (res.status === 503) return new CliError(ExitCode.Unreachable, `the coordinator at ${conn.url} is unavailable: ${message}`, api);
  return new CliError(ExitCode.Refused, message, api);
}

function fieldsOf(details: unknown): FieldError[] | undefined {
  const fields = (details as { fields?: unknown } | undefined)?.fields;
  if (!Array.isArray(fields)) return undefined;
  return fields
    .filter((f): f is FieldError => typeof (f as FieldError)?.field === 'string' && typeof (f as FieldError)?.message === 'string')
    .map((f) => ({ field: f.field, message: f.message }));
}
