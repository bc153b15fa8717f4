/**
 * How long the agent's next poll for work may wait at the coordinator. A proxy, load balancer or NAT that closes
 * connections after some seconds (idle, or simply old) cuts every poll that waits longer; such a cut is not an
 * outage — the coordinator answered the moment the connection opened — so instead of backing off, the agent shortens
 * its polls to fit: to 3/4 of how long the cut poll lasted, never below `minMs`. Each poll that ends normally
 * lengthens the wait by a quarter again, up to the configured one, so a passing fault does not shorten polls for ever.
 */
export class PollWait {
  private current: number;

  constructor(
    readonly configuredMs: number,
    readonly minMs = 1_000,
  ) {
    if (!(configuredMs >= 0)) throw new RangeError(`PollWait: configuredMs must be ≥ 0, got ${configuredMs}`);
    this.current = configuredMs;
  }

  /** The wait of the next poll: 80–100 % of the current one, so polls of a fleet that reconnected together spread out. */
  next(random = Math.random): number {
    return Math.round(this.current * (0.8 + 0.2 * random()));
  }

  /** The current wait (ms). */
  get ms(): number {
    return this.current;
  }

  /**
   * A poll failed on the network after `lastedMs`. True when it was cut while waiting (it lasted at least `minMs`):
   * the wait is shortened and the agent should poll again at once; false for a failure to reach the coordinator.
   */
  cut(lastedMs: number): boolean {
    if (lastedMs < this.minMs) return false;
    this.current = Math.max(this.minMs, Math.min(this.current, Math.floor(0.75 * lastedMs)));
    return true;
  }

  /** A poll ended normally (work, or nothing came in time). */
  completed(): void {
    this.current = Math.min(this.configuredMs, Math.ceil(1.25 * this.current));
  }
}
