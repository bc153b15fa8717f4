/**
 * When the agent tries a call to the coordinator again, and after how long. Pure: the HTTP client
 * (coordinator-client.ts) applies it to every call; the tests check it without a network.
 *
 * Edge networks reset connections, drop idle sockets and cut TLS handshakes short; a coordinator restarts or
 * sheds load (429/503 with Retry-After). All of that is worth another try. What a retry cannot change is final: a
 * 4xx other than 408/429 (a refused token, a closed round, an invalid update), a certificate the agent does not
 * trust, the agent's own decision to stop.
 */
export interface RetryOptions {
  /** Ceiling of the first pause (ms); each failed try doubles it. Default 250. */
  baseDelayMs: number;
  /** Largest pause between two tries (ms), whatever the number of failures. Default 30 000. */
  maxDelayMs: number;
  /** How long one try may take (ms), and never longer than what is left of the call's budget. Default 60 000. */
  attemptTimeoutMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { baseDelayMs: 250, maxDelayMs: 30_000, attemptTimeoutMs: 60_000 };

/** Answers that mean "not now": timed out, rate-limited, the coordinator or a proxy in front of it unavailable. */
export const RETRYABLE_STATUS: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

/** Socket-level failures of a connection or of a try on it (Node and undici codes). */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** An HTTP answer that is not 2xx; `retryAfterMs` from its Retry-After header (seconds or a date), when it has one. */
export interface HttpFailure {
  readonly status: number;
  readonly retryAfterMs: number | null;
}

/** Bytes that are not what was asked for (truncated, corrupted): fetched again. */
export class IntegrityError extends Error {
  override readonly name = 'IntegrityError';
}

function isHttpFailure(e: unknown): e is HttpFailure {
  return typeof e === 'object' && e !== null && typeof (e as HttpFailure).status === 'number' && 'retryAfterMs' in e;
}

/** The first `code` along an error's `cause` chain (undici puts the socket's error there). */
export function errorCode(e: unknown): string | null {
  for (let cur = e, depth = 0; cur && depth < 5; cur = (cur as { cause?: unknown }).cause, depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return null;
}

/**
 * Why a failed try may be repeated (a short label for the log: `ECONNRESET`, `HTTP 503`, `timeout`), or null when
 * the failure is final.
 */
export function retryReason(e: unknown): string | null {
  if (isHttpFailure(e)) return RETRYABLE_STATUS.has(e.status) ? `HTTP ${e.status}` : null;
  if (e instanceof IntegrityError) return e.message.startsWith('malformed answer') ? 'malformed answer' : 'corrupt download';
  const name = (e as { name?: unknown } | null)?.name;
  // Our own per-try timeout (AbortSignal.timeout); an AbortError is the agent stopping, which is final.
  if (name === 'TimeoutError') return 'timeout';
  if (name === 'AbortError') return null;
  const code = errorCode(e);
  if (code && NETWORK_CODES.has(code)) return code;
  // A certificate the agent does not trust, or a TLS/HTTP mismatch, is a configuration error: retrying cannot fix it.
  if (code && /CERT|SELF_SIGNED|TLS|SSL|PROTO|VERIFY|SIGNATURE|ISSUER|EXPIRED/.test(code)) return null;
  // fetch's own network errors without a recognised code ("fetch failed", "terminated", "other side closed").
  if (name === 'TypeError' && /fetch failed|terminated|other side closed|socket/i.test(String((e as Error).message))) {
    return code ?? 'network error';
  }
  return null;
}

/**
 * The pause before try `failures + 1` (`failures` ≥ 1 tries failed): "full jitter" — uniform in
 * [0, min(max, base·2^(failures−1))] — so a fleet that failed together does not retry together. A Retry-After is
 * honoured as a lower bound.
 */
export function backoffDelay(failures: number, options: RetryOptions, retryAfterMs: number | null = null, random = Math.random): number {
  if (!Number.isInteger(failures) || failures < 1) throw new RangeError(`backoffDelay: failures must be an integer ≥ 1, got ${failures}`);
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.min(failures - 1, 30));
  const jittered = Math.floor(random() * ceiling);
  return retryAfterMs !== null ? Math.max(retryAfterMs, jittered) : jittered;
}

export type RetryDecision = { retry: false; reason: string | null } | { retry: true; reason: string; delayMs: number };

/**
 * What to do after try number `failures` failed with `error` at `now`, for a call that must be over by `until`
 * (epoch ms): retry after a pause, unless the failure is final or the next try could not start before `until`.
 */
export function decideRetry(
  error: unknown,
  failures: number,
  now: number,
  until: number,
  options: RetryOptions,
  random = Math.random,
): RetryDecision {
  const reason = retryReason(error);
  if (reason === null) return { retry: false, reason: null };
  const delayMs = backoffDelay(failures, options, isHttpFailure(error) ? error.retryAfterMs : null, random);
  if (now + delayMs >= until) return { retry: false, reason };
  return { retry: true, reason, delayMs };
}

/** How long the next try may take: the per-try timeout, cut to what is left of the budget (at least 1 ms). */
export function attemptTimeout(now: number, until: number, options: RetryOptions): number {
  return Math.max(1, Math.min(options.attemptTimeoutMs, until - now));
}

/** A Retry-After header in ms: delay-seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, at - now) : null;
}
