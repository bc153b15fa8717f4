import {
  DEFAULT_RETRY,
  IntegrityError,
  attemptTimeout,
  backoffDelay,
  decideRetry,
  parseRetryAfter,
  retryReason,
  type HttpFailure,
} from './retry-policy';

const http = (status: number, retryAfterMs: number | null = null): HttpFailure => ({ status, retryAfterMs });
/** fetch's network error: a TypeError whose cause carries the socket's code. */
const network = (code: string, message = 'fetch failed'): TypeError =>
  new TypeError(message, { cause: Object.assign(new Error(`socket: ${code}`), { code }) });
const named = (name: string): Error => Object.assign(new Error(name), { name });
const options = { baseDelayMs: 100, maxDelayMs: 1_000, attemptTimeoutMs: 5_000 };

describe('retryReason: which failures are tried again', () => {
  it.each([408, 429, 500, 502, 503, 504])('HTTP %i is retried', (status) => {
    expect(retryReason(http(status))).toBe(`HTTP ${status}`);
  });

  it.each([400, 401, 403, 404, 409, 413, 415, 422, 501])('HTTP %i is final', (status) => {
    expect(retryReason(http(status))).toBeNull();
  });

  it.each(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_CONNECT_TIMEOUT', 'EAI_AGAIN'])(
    'a connection failure %s is retried (and named by its code)',
    (code) => {
      expect(retryReason(network(code))).toBe(code);
    },
  );

  it('a body cut short ("terminated", the socket closed mid-body) and a corrupt download are retried', () => {
    expect(retryReason(network('UND_ERR_SOCKET', 'terminated'))).toBe('UND_ERR_SOCKET');
    expect(retryReason(new TypeError('terminated'))).toBe('network error');
    expect(retryReason(new IntegrityError('sha256 differs'))).toBe('corrupt download');
  });

  it('a TLS handshake cut short is retried; a certificate the agent does not trust is final', () => {
    expect(retryReason(network('ECONNRESET', 'Client network socket disconnected before secure TLS connection was established'))).toBe(
      'ECONNRESET',
    );
    expect(retryReason(network('DEPTH_ZERO_SELF_SIGNED_CERT'))).toBeNull();
    expect(retryReason(network('UNABLE_TO_VERIFY_LEAF_SIGNATURE'))).toBeNull();
    expect(retryReason(network('ERR_TLS_CERT_ALTNAME_INVALID'))).toBeNull();
    expect(retryReason(network('ERR_SSL_WRONG_VERSION_NUMBER'))).toBeNull();
  });

  it('a try that timed out is retried; the agent stopping (AbortError) and programming errors are final', () => {
    expect(retryReason(named('TimeoutError'))).toBe('timeout');
    expect(retryReason(named('AbortError'))).toBeNull();
    expect(retryReason(new TypeError('Cannot read properties of undefined'))).toBeNull();
    expect(retryReason(new Error('weights diverged'))).toBeNull();
    expect(retryReason(undefined)).toBeNull();
  });
});

describe('backoffDelay: capped exponential pauses with full jitter', () => {
  it('draws uniformly below base·2^(failures−1), capped at maxDelayMs', () => {
    // random() → 1⁻ gives the ceiling: 100, 200, 400, 800, then the cap 1000 for ever.
    const top = () => 0.999999;
    expect([1, 2, 3, 4, 5, 6, 60].map((n) => backoffDelay(n, options, null, top))).toEqual([99, 199, 399, 799, 999, 999, 999]);
    expect(backoffDelay(3, options, null, () => 0)).toBe(0);
    expect(backoffDelay(3, options, null, () => 0.5)).toBe(200);
  });

  it('never waits less than a Retry-After says, even past the cap', () => {
    expect(backoffDelay(1, options, 3_000, () => 0)).toBe(3_000);
    expect(backoffDelay(5, options, 10, () => 0.5)).toBe(500);
  });

  it('refuses a failure count below 1', () => {
    expect(() => backoffDelay(0, options)).toThrow(/failures must be an integer ≥ 1/);
  });

  it('spreads a fleet: 1,000 agents failing together retry across the whole window, not at once', () => {
    const delays = Array.from({ length: 1000 }, () => backoffDelay(4, options));
    expect(Math.min(...delays)).toBeLessThan(100);
    expect(Math.max(...delays)).toBeGreaterThan(700);
    expect(delays.every((d) => d >= 0 && d < 800)).toBe(true);
  });
});

describe('decideRetry: the budget', () => {
  const now = 1_000_000;

  it('retries while the next try can start before the deadline', () => {
    expect(decideRetry(http(503), 1, now, now + 10_000, options, () => 0.5)).toEqual({ retry: true, reason: 'HTTP 503', delayMs: 50 });
  });

  it('gives up when the pause would reach the deadline (a retry never outlives the round)', () => {
    expect(decideRetry(http(503), 4, now, now + 400, options, () => 0.5)).toEqual({ retry: false, reason: 'HTTP 503' });
    expect(decideRetry(http(429, 5_000), 1, now, now + 4_000, options)).toEqual({ retry: false, reason: 'HTTP 429' });
    expect(decideRetry(network('ECONNRESET'), 1, now, 0, options)).toEqual({ retry: false, reason: 'ECONNRESET' });
  });

  it('never retries a final failure, whatever the budget', () => {
    expect(decideRetry(http(409), 1, now, Infinity, options)).toEqual({ retry: false, reason: null });
  });

  it('an unbounded budget (start-up) keeps retrying', () => {
    expect(decideRetry(network('ECONNREFUSED'), 1_000, now, Infinity, options, () => 0.5)).toMatchObject({ retry: true, delayMs: 500 });
  });
});

describe('attemptTimeout and Retry-After', () => {
  it('a try gets its own timeout, cut to what is left of the budget', () => {
    expect(attemptTimeout(0, Infinity, options)).toBe(5_000);
    expect(attemptTimeout(0, 2_000, options)).toBe(2_000);
    expect(attemptTimeout(5_000, 2_000, options)).toBe(1);
    expect(DEFAULT_RETRY).toEqual({ baseDelayMs: 250, maxDelayMs: 30_000, attemptTimeoutMs: 60_000 });
  });

  it('reads delay-seconds and HTTP dates', () => {
    const now = Date.parse('2026-12-07T10:00:00Z');
    expect(parseRetryAfter('2', now)).toBe(2_000);
    expect(parseRetryAfter('Mon, 07 Dec 2026 10:00:05 GMT', now)).toBe(5_000);
    expect(parseRetryAfter('Mon, 07 Dec 2026 09:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(null, now)).toBeNull();
    expect(parseRetryAfter('soon', now)).toBeNull();
  });
});
