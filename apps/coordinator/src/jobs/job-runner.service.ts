import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { ControlJobName } from '@flotilla/contracts';
import { ControlService } from '../control/control.service';
import { QueueService } from '../queue/queue.service';
import { JobFailure, JobKindRegistry } from './job-kind';
import { JobsRepository } from './jobs.repository';

/**
 * Runs jobs of every kind: `job.advance` control jobs call the job's kind (after submission, after each finished
 * task or round, at start-up, and whenever a kind asks to look again later). A {@link JobFailure} fails the job;
 * any other error is retried by the control queue.
 */
@Injectable()
export class JobRunner implements OnModuleInit {
  private readonly logger = new Logger(JobRunner.name);

  constructor(
    private readonly jobs: JobsRepository,
    private readonly kinds: JobKindRegistry,
    private readonly queues: QueueService,
    private readonly control: ControlService,
  ) {}

  onModuleInit(): void {
    this.control.handle(ControlJobName.AdvanceJob, ({ jobId }) => this.advance(jobId));
    // A previous process may have stopped anywhere, and Redis may have lost a pending advance: every running job looks
    // at its state again (its kind's advance is idempotent, and wake-ups of a job are coalesced).
    this.control.onReconcile('running jobs', async () => {
      for (const job of await this.jobs.running()) await this.wake(job.id);
    });
  }

  /** The job's kind will look at its state soon (coalesced with other wake-ups of the same job). */
  wake(jobId: string): Promise<void> {
    return this.queues.wake(jobId);
  }

  /** The job's kind will look at its state again after `delayMs` (e.g. waiting for agents). */
  wakeLater(jobId: string, delayMs: number): Promise<void> {
    return this.queues.wakeLater(jobId, delayMs);
  }

  async advance(jobId: string): Promise<void> {
    const job = await this.jobs.findById(jobId);
    if (!job || job.status !== 'running') return;
    const kind = this.kinds.get(job.kind);
    if (!kind) {
      await this.fail(jobId, `this coordinator has no '${job.kind}' job kind`);
      return;
    }
    try {
      await kind.advance(job);
    } catch (e) {
      if (!(e instanceof JobFailure)) throw e;
      await this.fail(jobId, e.message);
    }
  }

  private async fail(jobId: string, message: string): Promise<void> {
    if (await this.jobs.fail(jobId, message)) this.logger.error(`job ${jobId} failed: ${message}`);
  }
}
