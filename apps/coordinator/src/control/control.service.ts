import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { ControlJobName, ControlJobSchemas, describeIssues, type ControlJobData } from '@flotilla/contracts';
import { UnrecoverableError } from 'bullmq';
import { QueueService } from '../queue/queue.service';

type Handler = (data: unknown) => Promise<void>;

/**
 * The coordinator's control loop: the one consumer of the control queue, routing each control job to the handler
 * the owning module registered (jobs: advance; tasks: deadlines and assignment; the federated kind: round closes),
 * and, once every handler exists, the modules' resume steps (what a previous process left unfinished).
 */
@Injectable()
export class ControlService implements OnApplicationBootstrap {
  private readonly logger = new Logger(ControlService.name);
  private readonly handlers = new Map<string, Handler>();
  private readonly resumers: { name: string; run: () => Promise<void> }[] = [];

  constructor(private readonly queues: QueueService) {}

  /** Registers the handler of a control job (at module init); its data is parsed with the job's schema first. */
  handle<N extends ControlJobName>(name: N, handler: (data: ControlJobData<N>) => Promise<void>): void {
    if (this.handlers.has(name)) throw new Error(`control job '${name}' has two handlers`);
    const schema = ControlJobSchemas[name];
    this.handlers.set(name, async (data) => {
      const parsed = schema.safeParse(data);
      // Not retried: the same data would fail the same way.
      if (!parsed.success) throw new UnrecoverableError(`control job '${name}' with malformed data: ${describeIssues(parsed.error)}`);
      await handler(parsed.data as ControlJobData<N>);
    });
  }

  /** A step to run once at start-up, after the control worker started. */
  onResume(name: string, run: () => Promise<void>): void {
    this.resumers.push({ name, run });
  }

  async onApplicationBootstrap(): Promise<void> {
    const missing = Object.values(ControlJobName).filter((n) => !this.handlers.has(n));
    if (missing.length) throw new Error(`control jobs without a handler: ${missing.join(', ')}`);
    this.queues.consumeControl(async (name, data) => {
      const handler = this.handlers.get(name);
      if (!handler) throw new Error(`no handler for control job '${name}'`);
      await handler(data);
    });
    for (const r of this.resumers) {
      await r.run();
      this.logger.debug(`resumed: ${r.name}`);
    }
  }
}
