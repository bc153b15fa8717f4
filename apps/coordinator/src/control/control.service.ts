import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { ControlJobName, ControlJobSchemas, describeIssues, type ControlJobData } from '@flotilla/contracts';
import { UnrecoverableError } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { outageOf } from '../common/outage';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { ControlBusy, QueueService } from '../queue/queue.service';
import { JobLeasesRepository } from './job-leases.repository';

/** How long a control step waits before it looks again at a job whose lease another replica holds. */
const LEASE_BUSY_RETRY_MS = 100;

type Handler = (data: unknown) => Promise<void>;

/** Why a reconciliation runs; `redisMayHaveLost` also puts back the agents' work items (not only control jobs). */
export interface ReconcileContext {
  /** Start-up or Redis reconnected: Redis may have lost anything (it keeps nothing on disk). */
  redisMayHaveLost: boolean;
}

/**
 * The coordinator's control loop: the one consumer of the control queue, routing each control job to the handler
 * the owning module registered (jobs: advance; tasks: deadlines and assignment; the federated kind: round closes),
 * and the reconciler: the modules' steps that compare what PostgreSQL says must be scheduled with what Redis holds
 * and re-arm what is missing, at start-up, every RECONCILE_INTERVAL_MS and each time Redis is back.
 */
@Injectable()
export class ControlService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(ControlService.name);
  private readonly handlers = new Map<string, Handler>();
  private readonly steps: { name: string; run: (ctx: ReconcileContext) => Promise<void> }[] = [];
  private timer?: NodeJS.Timeout;
  /** The reconciliation running now, and whether another was asked for meanwhile (and whether it is a full one). */
  private running: Promise<void> | null = null;
  private again: ReconcileContext | null = null;
  private stopped = false;
  /** Per job, the tail of this process's control steps (a step waits for the one before it here, not for a lease). */
  private readonly local = new Map<string, Promise<void>>();
  private readonly process = `${hostname()}:${process.pid}`;

  constructor(
    private readonly queues: QueueService,
    private readonly leases: JobLeasesRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Registers the handler of a control job (at module init); its data is parsed with the job's schema first. */
  handle<N extends ControlJobName>(name: N, handler: (data: ControlJobData<N>) => Promise<void>): void {
    if (this.handlers.has(name)) throw new Error(`control job '${name}' has two handlers`);
    const schema = ControlJobSchemas[name];
    this.handlers.set(name, async (data) => {
      const parsed = schema.safeParse(data);
      // Not retried: the same data would fail the same way.
      if (!parsed.success) throw new UnrecoverableError(`control job '${name}' with malformed data: ${describeIssues(parsed.error)}`);
      await this.exclusive(parsed.data.jobId, () => handler(parsed.data as ControlJobData<N>));
    });
  }

  /**
   * Runs one control step of a job while no other step of that job runs, in this process or another: steps of one job
   * queue up here, then take the job's lease in PostgreSQL (held for CONTROL_LOCK_MS, renewed every third of it). A
   * lease another replica holds throws {@link ControlBusy}: the control job comes back a moment later. A replica that
   * dies mid-step leaves a lease that expires, and BullMQ hands the step to another replica once its lock lapses.
   */
  private async exclusive(jobId: string, step: () => Promise<void>): Promise<void> {
    const before = this.local.get(jobId) ?? Promise.resolve();
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    const tail = before.then(() => mine);
    this.local.set(jobId, tail);
    try {
      await before;
      const holder = `${this.process}:${randomUUID()}`;
      const ttl = this.config.CONTROL_LOCK_MS;
      if (!(await this.leases.acquire(jobId, holder, ttl))) throw new ControlBusy(jobId, LEASE_BUSY_RETRY_MS);
      const renew = setInterval(
        () => {
          this.leases.renew(jobId, holder, ttl).then(
            (held) => held || this.logger.warn(`job ${jobId}: the lease of a running control step expired and was taken over`),
            (e: unknown) => this.logger.warn(`job ${jobId}: renewing the lease failed: ${e instanceof Error ? e.message : String(e)}`),
          );
        },
        Math.floor(ttl / 3),
      );
      try {
        await step();
      } finally {
        clearInterval(renew);
        // When the database is away the lease cannot be given back: it expires.
        await this.leases.release(jobId, holder).catch(() => undefined);
      }
    } finally {
      done();
      if (this.local.get(jobId) === tail) this.local.delete(jobId);
    }
  }

  /**
   * A reconciliation step (registered at module init): re-arms, idempotently, what the database says must be scheduled
   * (every control job and work item has a deterministic id or deduplication id, so re-arming what exists does
   * nothing, here or on another coordinator). Runs at start-up (what a previous process left unfinished), every
   * RECONCILE_INTERVAL_MS, and after Redis reconnects.
   */
  onReconcile(name: string, run: (ctx: ReconcileContext) => Promise<void>): void {
    this.steps.push({ name, run });
  }

  async onApplicationBootstrap(): Promise<void> {
    const missing = Object.values(ControlJobName).filter((n) => !this.handlers.has(n));
    if (missing.length) throw new Error(`control jobs without a handler: ${missing.join(', ')}`);
    this.queues.consumeControl(async (name, data) => {
      const handler = this.handlers.get(name);
      if (!handler) throw new Error(`no handler for control job '${name}'`);
      await handler(data);
    });
    await this.reconcile({ redisMayHaveLost: true });
    this.timer = setInterval(() => void this.reconcile({ redisMayHaveLost: false }), this.config.RECONCILE_INTERVAL_MS);
    this.timer.unref();
    // Redis (which keeps nothing on disk) may come back empty: delayed round closes and task deadlines are re-armed now,
    // not at the next period.
    this.queues.onReconnect(() => {
      this.logger.warn('redis reconnected: reconciling the schedule with the database');
      void this.reconcile({ redisMayHaveLost: true });
    });
  }

  /**
   * Runs every step once, one reconciliation at a time: one asked for while another runs follows it (once, however
   * often it was asked for). A step that fails (the database is away) is logged and tried at the next one.
   */
  reconcile(ctx: ReconcileContext): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = { redisMayHaveLost: ctx.redisMayHaveLost || (this.again?.redisMayHaveLost ?? false) };
      return this.running;
    }
    this.running = (async () => {
      let next: ReconcileContext | null = ctx;
      while (next && !this.stopped) {
        for (const step of this.steps) await this.runStep(step, next);
        next = this.again;
        this.again = null;
      }
    })().finally(() => (this.running = null));
    return this.running;
  }

  private async runStep(step: (typeof this.steps)[number], ctx: ReconcileContext): Promise<void> {
    try {
      await step.run(ctx);
      this.logger.debug(`reconciled: ${step.name}`);
    } catch (e) {
      const outage = outageOf(e);
      const why = outage ? outage.message : e instanceof Error ? e.message : String(e);
      this.logger.warn(`reconciling ${step.name} failed, tried again in ${this.config.RECONCILE_INTERVAL_MS} ms: ${why}`);
    }
  }

  /** Stops reconciling and waits for a reconciliation in progress (before the database disconnects). */
  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }
}
