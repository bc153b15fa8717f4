import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { PrismaService } from '../database/prisma.service';
import { MetricsRegistry } from '../common/metrics.registry';
import { BLOB_STORE, BlobStore } from './blob-store';

/**
 * Tables whose rows may name blobs: every 64-hex-digit string anywhere in a row (any column, JSON and text
 * included) keeps the blob of that name. Conservative on purpose: a column added later is covered without a
 * change here. `updates` is handled apart (below); the tables left out hold no blob names (a test checks that
 * every table of the schema is in one list or the other).
 */
export const BLOB_REFERENCING_TABLES = [
  'jobs',
  'federated_jobs',
  'rounds',
  'checkpoints',
  'client_states',
  'tasks',
  'nas_nodes',
  'nas_candidates',
  'bilevel_runs',
] as const;
/**
 * Tables that hold no blob names (the secret_hash of agents, join tokens and API keys and dataset_hashes are not
 * blobs), or whose blob names must not keep a blob: `blob_uploads` records who uploaded what, for quotas, and an
 * upload no result names is to be swept like any other.
 */
export const TABLES_WITHOUT_BLOBS = [
  'agents',
  'blob_uploads',
  'job_leases',
  'participations',
  'bilevel_points',
  'updates',
  'join_tokens',
  'api_keys',
  '_flotilla_migrations',
] as const;

/** What one sweep did (or, dry, would do). */
export interface BlobSweepReport {
  dryRun: boolean;
  /** Blob files looked at. */
  files: number;
  /** Of those, named by a row (kept). */
  referenced: number;
  /** Not named by any row but younger than the grace period (kept). */
  young: number;
  /** Deleted (or, dry, that would be), and their bytes; leftover temp files of interrupted writes included. */
  deleted: number;
  deletedBytes: number;
  /** Bytes of the blob files kept. */
  keptBytes: number;
  graceMs: number;
  durationMs: number;
}

/**
 * Deletes blobs that no row names any more, so the blob directory does not grow without bound: above all the
 * clients' updates of closed rounds (a round's K updates are by far the most blob bytes), which nothing reads once
 * the round is closed, except the MIFA/FedVarp memories that client_states still names. Kept: every blob named
 * anywhere in {@link BLOB_REFERENCING_TABLES} (models, checkpoints, memories, Σ M, task payloads and results, NAS
 * weights, ...) and the updates of rounds not yet closed of running jobs (those of a cancelled or failed job's last
 * round will never be aggregated).
 *
 * A blob is deleted only when it has been unnamed at the time of the sweep's query AND its file is older than
 * `BLOB_GC_GRACE_MS`: a blob written but not yet named by a row (an update between its write and its row, a task
 * result uploaded before the result is posted) is young, and writing a blob that already exists refreshes its
 * file's time (BlobStore.put). Runs every `BLOB_GC_INTERVAL_MS` (0: never) and on `POST /admin/blobs/gc`.
 */
@Injectable()
export class BlobGcService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('BlobGc');
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<BlobSweepReport> | null = null;
  /** Rows that matter only while something is open, deleted by every sweep that deletes (registered by their owners). */
  private readonly prunes: { what: string; run: () => Promise<number> }[] = [];

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly prisma: PrismaService,
    private readonly metrics: MetricsRegistry,
    @Inject(BLOB_STORE) private readonly blobs: BlobStore,
  ) {}

  onModuleInit(): void {
    const every = this.config.BLOB_GC_INTERVAL_MS;
    if (every > 0) {
      this.timer = setInterval(() => {
        this.sweep({ dryRun: false }).catch((e: unknown) =>
          this.logger.error(`blob sweep failed: ${e instanceof Error ? e.message : String(e)}`),
        );
      }, every);
      this.timer.unref();
    }
  }

  /** Stops the periodic sweep and waits for one in progress (before the database disconnects). */
  async onModuleDestroy(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** Registers rows to delete at every sweep that is not a dry run (their owner knows which; this service when). */
  onSweep(what: string, run: () => Promise<number>): void {
    this.prunes.push({ what, run });
  }

  /** One sweep; a sweep asked for while one runs gets that one's report. */
  sweep(options: { dryRun: boolean; graceMs?: number }): Promise<BlobSweepReport> {
    if (!this.running) {
      this.running = this.run(options.dryRun, options.graceMs ?? this.config.BLOB_GC_GRACE_MS).finally(() => (this.running = null));
    }
    return this.running;
  }

  /** The names of every blob a row names now (one SQL statement: one consistent snapshot). */
  async referencedBlobs(): Promise<Set<string>> {
    const fromRows = BLOB_REFERENCING_TABLES.map(
      (t) => `SELECT (regexp_matches(row_to_json(t)::text, '[0-9a-f]{64}', 'g'))[1] AS h FROM "${t}" t`,
    );
    const sql = `${fromRows.join('\nUNION\n')}
UNION
SELECT u.blob_hash AS h FROM updates u
  JOIN rounds r ON r.job_id = u.job_id AND r."index" = u.round
  JOIN jobs j ON j.id = u.job_id
 WHERE u.blob_hash IS NOT NULL AND r.status <> 'closed' AND j.status = 'running'`;
    const rows = await this.prisma.$queryRawUnsafe<{ h: string }[]>(sql);
    return new Set(rows.map((r) => r.h));
  }

  private async run(dryRun: boolean, graceMs: number): Promise<BlobSweepReport> {
    const started = Date.now();
    const live = await this.referencedBlobs();
    const report: BlobSweepReport = {
      dryRun,
      files: 0,
      referenced: 0,
      young: 0,
      deleted: 0,
      deletedBytes: 0,
      keptBytes: 0,
      graceMs,
      durationMs: 0,
    };
    const cutoff = Date.now() - graceMs;
    for await (const f of this.blobs.list()) {
      if (f.kind === 'blob') report.files += 1;
      if (f.kind === 'blob' && live.has(f.name)) {
        report.referenced += 1;
        report.keptBytes += f.bytes;
      } else if (f.modifiedMs > cutoff) {
        report.young += 1;
        report.keptBytes += f.bytes;
      } else {
        if (!dryRun) await this.blobs.remove(f);
        report.deleted += 1;
        report.deletedBytes += f.bytes;
      }
    }
    if (!dryRun) {
      for (const p of this.prunes) this.logger.log(`blob sweep: ${await p.run()} ${p.what} deleted`);
    }
    report.durationMs = Date.now() - started;
    if (!dryRun) {
      this.metrics.inc('flotilla_blobs_deleted_total', report.deleted);
      this.metrics.inc('flotilla_blob_bytes_deleted_total', report.deletedBytes);
    }
    this.logger.log(
      `blob sweep${dryRun ? ' (dry run)' : ''}: ${report.files} blobs, ${report.referenced} named by a row, ${report.young} younger than ${graceMs} ms, ${report.deleted} ${dryRun ? 'to delete' : 'deleted'} (${report.deletedBytes} bytes) in ${report.durationMs} ms`,
    );
    return report;
  }
}
