import { TooManyRequestsError } from './errors';

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Token buckets by key (a source address, an agent id): `rate` tokens per second up to `burst`. At most `maxKeys`
 * buckets are kept (the least recently used go first; a bucket that is dropped is full again when it comes back, so
 * a flood of new keys cannot grow memory, only forget old debts). No timer: a bucket refills when it is used.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly maxKeys = 100_000,
    private readonly now: () => number = Date.now,
  ) {
    if (!(rate > 0 && burst >= 1 && maxKeys >= 1)) throw new Error(`RateLimiter: rate ${rate}, burst ${burst}, maxKeys ${maxKeys}`);
  }

  /** Takes one token for `key`, or throws a TooManyRequestsError saying when to try again. */
  take(key: string, what: string): void {
    const t = this.now();
    let b = this.buckets.get(key);
    if (b) {
      this.buckets.delete(key);
      b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.rate);
      b.at = t;
    } else {
      b = { tokens: this.burst, at: t };
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    }
    this.buckets.set(key, b);
    if (b.tokens < 1) {
      const retryAfter = Math.max(1, Math.ceil((1 - b.tokens) / this.rate));
      throw new TooManyRequestsError(`Too many ${what}; retry in ${retryAfter} s`, retryAfter);
    }
    b.tokens -= 1;
  }

  /** Buckets held (bounded by maxKeys). */
  get size(): number {
    return this.buckets.size;
  }
}
