import { TooManyRequestsError } from './errors';
import { RateLimiter } from './rate-limiter';

describe('RateLimiter', () => {
  let now = 0;
  const clock = () => now;
  beforeEach(() => (now = 1_000_000));

  it('lets a burst through, then refills at the rate, and says when to come back', () => {
    const l = new RateLimiter(2, 3, 10, clock); // 2 per second, burst 3
    for (let i = 0; i < 3; i++) l.take('a', 'calls');
    expect(() => l.take('a', 'calls')).toThrow(TooManyRequestsError);
    try {
      l.take('a', 'calls');
    } catch (e) {
      // Empty bucket at 2 tokens/s: one token in 0.5 s, rounded up to whole seconds.
      expect((e as TooManyRequestsError).retryAfterSeconds).toBe(1);
      expect((e as Error).message).toBe('Too many calls; retry in 1 s');
    }
    now += 500; // +1 token
    l.take('a', 'calls');
    expect(() => l.take('a', 'calls')).toThrow(TooManyRequestsError);
    l.take('b', 'calls'); // keys are independent
  });

  it('never holds more than maxKeys buckets, dropping the least recently used', () => {
    const l = new RateLimiter(1, 1, 100, clock);
    for (let i = 0; i < 1000; i++) l.take(`source-${i}`, 'registrations');
    expect(l.size).toBe(100);
    // source-0 was dropped, so it starts full again; source-999 is still empty.
    l.take('source-0', 'registrations');
    expect(() => l.take('source-999', 'registrations')).toThrow(TooManyRequestsError);
  });

  it('refuses a nonsensical configuration', () => {
    expect(() => new RateLimiter(0, 1)).toThrow(/rate 0/);
  });
});
