import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { BLOB_TASK_KINDS } from '@flotilla/contracts';
import { BlobGcService } from '../blobs/blob-gc.service';
import { BLOB_STORE, BlobStore } from '../blobs/blob-store';
import { QuotaExceededError, UploadNotExpectedError } from '../common/errors';
import { MetricsRegistry } from '../common/metrics.registry';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { BlobUploadsRepository, type UploadState } from './blob-uploads.repository';

/**
 * Blob uploads are part of the task protocol: an agent uploads the blobs a result will name (nas.train,
 * nas.standalone: the trained weights and momentum) and then posts the result. So an upload is accepted only while
 * the agent holds an open task of a kind whose result names blobs, and each agent's uploads for its open tasks are
 * bounded by AGENT_BLOB_QUOTA_BYTES and AGENT_BLOB_QUOTA_COUNT. When a task ends its uploads stop counting: those its
 * result named are kept with the job, the others are swept (BlobGcService) like any blob no row names.
 */
@Injectable()
export class BlobUploadsService implements OnModuleInit {
  constructor(
    private readonly repo: BlobUploadsRepository,
    @Inject(BLOB_STORE) private readonly blobs: BlobStore,
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'AGENT_BLOB_QUOTA_BYTES' | 'AGENT_BLOB_QUOTA_COUNT'>,
    private readonly metrics: MetricsRegistry,
    private readonly gc: BlobGcService,
  ) {}

  /** Every blob sweep that deletes also deletes the ledger rows of tasks that have ended. */
  onModuleInit(): void {
    this.gc.onSweep('blob upload ledger rows of ended tasks', () => this.repo.deleteClosed());
  }

  /**
   * Before the body is read: 403 when no open task of the agent names blobs, or when the declared size alone is over
   * the quota. (The rest of the quota is checked once the blob's hash is known, so a retried upload is not refused.)
   */
  async admit(agentId: string, declaredBytes: number | null): Promise<void> {
    const state = await this.repo.state(agentId, BLOB_TASK_KINDS);
    this.requireTask(state);
    const max = this.config.AGENT_BLOB_QUOTA_BYTES;
    if (declaredBytes !== null && declaredBytes > max)
      throw this.refused(
        new QuotaExceededError(`A blob of ${declaredBytes} bytes is over this agent's whole blob quota (AGENT_BLOB_QUOTA_BYTES = ${max})`),
      );
  }

  /** Counts the blob against the agent's quota (once per blob and task: a retry is free), then stores it; its sha256. */
  async store(agentId: string, bytes: Uint8Array): Promise<string> {
    const hash = BlobStore.hash(bytes);
    await this.repo.record(agentId, hash, bytes.byteLength, BLOB_TASK_KINDS, (state) => this.checkQuota(state, bytes.byteLength));
    await this.blobs.put(bytes);
    return hash;
  }

  private requireTask(state: UploadState): void {
    if (!state.taskId)
      throw this.refused(
        new UploadNotExpectedError(
          `This agent holds no open task whose result names blobs (${BLOB_TASK_KINDS.join(', ')}): no upload was asked for`,
        ),
      );
  }

  private checkQuota(state: UploadState, bytes: number): void {
    this.requireTask(state);
    const { AGENT_BLOB_QUOTA_BYTES: maxBytes, AGENT_BLOB_QUOTA_COUNT: maxCount } = this.config;
    if (state.count >= maxCount)
      throw this.refused(
        new QuotaExceededError(
          `Blob quota used up: this agent uploaded ${state.count} blobs for its open tasks, the most allowed (AGENT_BLOB_QUOTA_COUNT)`,
        ),
      );
    if (state.bytes + bytes > maxBytes)
      throw this.refused(
        new QuotaExceededError(
          `Blob quota: this agent uploaded ${state.bytes} bytes for its open tasks; ${bytes} more would pass AGENT_BLOB_QUOTA_BYTES (${maxBytes})`,
        ),
      );
  }

  private refused<E extends Error>(e: E): E {
    this.metrics.inc('flotilla_blob_uploads_refused_total');
    return e;
  }
}
