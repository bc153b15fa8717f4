import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { MetricsRegistry } from '../common/metrics.registry';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { AgentsRepository } from './agents.repository';

/**
 * Agents' heartbeats without a database write per call: every poll and heartbeat marks its agent as seen here, and
 * every PRESENCE_FLUSH_MS (at most a quarter of AGENT_OFFLINE_AFTER_MS) one statement writes the time for all agents
 * seen since the last flush (and for every agent
 * that holds a poll open right now, which the transport reports). One timer per process, not per agent.
 */
@Injectable()
export class PresenceService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(PresenceService.name);
  private seenSince = new Set<string>();
  /** When each agent's heartbeat was last written by this process. */
  private readonly written = new Map<string, number>();
  private readonly sources: (() => Iterable<string>)[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly agents: AgentsRepository,
    private readonly metrics: MetricsRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    // Often enough that an agent seen just after a flush is written long before it would count as offline.
    const every = Math.min(this.config.PRESENCE_FLUSH_MS, Math.floor(this.config.AGENT_OFFLINE_AFTER_MS / 4));
    this.timer = setInterval(() => void this.flush(), every);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  seen(agentId: string): void {
    this.seenSince.add(agentId);
  }

  /** Agents that count as seen at every flush while they are connected (e.g. those holding a poll open). */
  addSource(source: () => Iterable<string>): void {
    this.sources.push(source);
  }

  /**
   * Writes the agents seen since the last flush whose heartbeat this process has not written for a third of
   * AGENT_OFFLINE_AFTER_MS (often enough that none looks offline, rarely enough that a connected agent costs one row
   * update per third of that window, not one per flush); a failed write is logged and its agents kept for the next.
   */
  async flush(): Promise<void> {
    const seen = this.seenSince;
    this.seenSince = new Set();
    for (const source of this.sources) for (const id of source()) seen.add(id);
    const now = Date.now();
    const stale = now - Math.floor(this.config.AGENT_OFFLINE_AFTER_MS / 3);
    const ids = new Set([...seen].filter((id) => (this.written.get(id) ?? 0) <= stale));
    if (!ids.size) return;
    try {
      await this.agents.touchMany([...ids], new Date(now));
      for (const id of ids) {
        this.written.delete(id); // re-inserted last: the map stays ordered by write time
        this.written.set(id, now);
      }
      // Agents not written for a whole window are forgotten (they are offline now, or written by another process).
      for (const [id, at] of this.written) {
        if (at > now - this.config.AGENT_OFFLINE_AFTER_MS) break;
        this.written.delete(id);
      }
      this.metrics.inc('flotilla_presence_writes_total');
      this.metrics.inc('flotilla_presence_agents_written_total', ids.size);
    } catch (e) {
      for (const id of ids) this.seenSince.add(id);
      this.logger.warn(`could not record ${ids.size} agents' heartbeats: ${(e as Error).message}`);
    }
  }
}
