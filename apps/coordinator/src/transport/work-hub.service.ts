import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { AgentWork } from '@flotilla/contracts';
import { PresenceService } from '../agents/presence.service';
import { MetricsRegistry } from '../common/metrics.registry';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { QueueService } from '../queue/queue.service';

/** Why a waiting poll woke up. */
type Wake = 'work' | 'credentials' | 'timeout' | 'gone';

/** One poll held open: woken by a `work` or `agents` message for its agent, by its deadline, or by the client leaving. */
interface Waiter {
  agentId: string;
  deadline: number;
  /** Set by a wake that came while the poll was not waiting (between two looks at the queue). */
  pending: Wake | null;
  resolve: ((why: Wake) => void) | null;
}

/** How often the one sweep timer ends polls whose time is up. */
const SWEEP_MS = 100;
/** How long an agent's queue is taken to be empty without looking (unless a `work` message for it came). */
const EMPTY_TRUST_MS = 60_000;
/** Agents whose announcements and empty queues are remembered (the oldest forgotten first). */
const MAX_TRACKED = 200_000;

/**
 * Long polls of agents for work (GET /agents/me/work), built for many thousands of connected agents on one process:
 * no Redis connection, BullMQ worker or timer per agent. A waiting poll is an entry in a map; work enqueued on any
 * coordinator process is announced on the `work` channel (one subscriber connection per process), which wakes the
 * polls of those agents at once; one sweep timer ends polls whose time is up. Whatever wakes it, a poll looks at its
 * agent's queue again, so a wake-up that races with a look is never lost: the poll registers before it looks.
 */
@Injectable()
export class WorkHub implements OnModuleInit, OnModuleDestroy {
  private readonly waiting = new Map<string, Set<Waiter>>();
  /** `work` messages seen per agent (a counter, so a look knows whether one came while it ran). */
  private readonly announced = new Map<string, number>();
  /** Agents whose queue was empty at their last look: the `announced` count then, and when (ms). */
  private readonly empty = new Map<string, { announced: number; at: number }>();
  private sweeper?: NodeJS.Timeout;

  constructor(
    private readonly queues: QueueService,
    private readonly presence: PresenceService,
    private readonly metrics: MetricsRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    this.queues.subscribe('work', (ids) => {
      for (const id of ids.split(',')) {
        this.announced.set(id, (this.announced.get(id) ?? 0) + 1);
        this.wake(id, 'work');
      }
    });
    // Messages may have been missed while Redis was away: every queue is looked at again.
    this.queues.onReconnect(() => this.empty.clear());
    // A revoked agent's or rotated secret's open polls check their credentials again (the service forgot them first).
    this.queues.subscribe('agents', (id) => this.wake(id, 'credentials'));
    // An agent holding a poll open is connected: it counts as seen at every presence flush.
    this.presence.addSource(() => this.waiting.keys());
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.sweeper);
    for (const set of this.waiting.values()) for (const w of set) this.settle(w, 'gone');
  }

  /** Polls held open now (for /metrics and the fleet benchmark). */
  get openPolls(): number {
    let n = 0;
    for (const set of this.waiting.values()) n += set.size;
    return n;
  }

  /**
   * The agent's next work item, waiting up to `waitMs` for one; null when none came. `stillValid` re-checks the
   * agent's credentials when they changed meanwhile (it throws a 401 for a revoked agent or a rotated secret), and
   * `gone` ends the wait when the client disconnects.
   */
  async next(agentId: string, waitMs: number, stillValid: () => Promise<void>, gone: AbortSignal): Promise<AgentWork | null> {
    // A poll must end before the agent would count as offline, whatever the client asked.
    const deadline = Date.now() + Math.min(waitMs, Math.floor(this.config.AGENT_OFFLINE_AFTER_MS / 2));
    const w: Waiter = { agentId, deadline, pending: null, resolve: null };
    this.add(w);
    const onGone = () => this.settle(w, 'gone');
    gone.addEventListener('abort', onGone);
    try {
      for (;;) {
        const why = w.pending;
        w.pending = null;
        if (why === 'credentials') await stillValid();
        if (why === 'gone') return null;
        const work = await this.look(agentId);
        if (work) {
          this.metrics.inc('flotilla_work_delivered_total');
          return work;
        }
        if (w.pending) continue; // woken while looking: look again
        if (Date.now() >= w.deadline) return null;
        w.pending = await new Promise<Wake>((resolve) => (w.resolve = resolve));
        if (w.pending === 'timeout') return null;
      }
    } finally {
      gone.removeEventListener('abort', onGone);
      this.remove(w);
    }
  }

  /**
   * The agent's queue, unless it was empty at the last look and no `work` message for the agent came since: then
   * there is nothing new (work is announced after it is enqueued), and the poll waits without asking Redis. An idle
   * fleet re-polling every 25 s so costs no Redis command per poll. A `known empty` is trusted for EMPTY_TRUST_MS at
   * most, and forgotten when Redis reconnects (a message may have been lost).
   */
  private async look(agentId: string): Promise<AgentWork | null> {
    const announced = this.announced.get(agentId) ?? 0;
    const known = this.empty.get(agentId);
    if (known && known.announced === announced && Date.now() - known.at < EMPTY_TRUST_MS) return null;
    const work = await this.queues.nextWork(agentId);
    this.empty.delete(agentId);
    if (!work) {
      if (this.empty.size >= MAX_TRACKED) this.empty.delete(this.empty.keys().next().value!);
      this.empty.set(agentId, { announced, at: Date.now() });
    }
    if (this.announced.size > MAX_TRACKED) this.announced.delete(this.announced.keys().next().value!);
    return work;
  }

  private wake(agentId: string, why: Wake): void {
    for (const w of this.waiting.get(agentId) ?? []) this.settle(w, why);
  }

  private settle(w: Waiter, why: Wake): void {
    if (w.resolve) {
      const resolve = w.resolve;
      w.resolve = null;
      resolve(why);
    } else if (w.pending !== 'gone' && w.pending !== 'credentials') {
      w.pending = why;
    }
  }

  private sweep(): void {
    const now = Date.now();
    for (const set of this.waiting.values()) for (const w of set) if (w.deadline <= now && w.resolve) this.settle(w, 'timeout');
  }

  private add(w: Waiter): void {
    let set = this.waiting.get(w.agentId);
    if (!set) this.waiting.set(w.agentId, (set = new Set()));
    set.add(w);
  }

  private remove(w: Waiter): void {
    const set = this.waiting.get(w.agentId);
    set?.delete(w);
    if (set?.size === 0) this.waiting.delete(w.agentId);
  }
}
