import { Injectable } from '@nestjs/common';
import { CreateJobSchema, describeIssues, type CreateJob, type JobKindName } from '@flotilla/contracts';
import type { Job, JobStatus } from '@prisma/client';
import { PrismaService } from '../database/prisma.service';
import { toJson, type Db } from '../database/json';

/** A job row with its spec parsed back into its type (the spec is validated once more on every read). */
export type StoredJob = Omit<Job, 'kind' | 'spec'> & { kind: JobKindName; spec: CreateJob };

/**
 * The one owner of the jobs row: every change of a job's status and progress goes through these methods, which
 * only ever move a `running` job (running → completed | failed | cancelled; progress while running). Kinds call
 * them with their own transaction client, so a kind's state and the job's status change together.
 */
@Injectable()
export class JobsRepository {
  constructor(private readonly prisma: PrismaService) {}

  /** Inserts a running job; `tx` makes it part of the caller's transaction (the kind's initial state). */
  async create(data: { spec: CreateJob; progressTotal: number }, tx: Db = this.prisma): Promise<StoredJob> {
    return stored(
      await tx.job.create({
        data: { kind: data.spec.kind, name: data.spec.name ?? null, spec: toJson(data.spec), progressTotal: data.progressTotal },
      }),
    );
  }

  async findById(id: string): Promise<StoredJob | null> {
    const job = await this.prisma.job.findUnique({ where: { id } });
    return job && stored(job);
  }

  async list(status: JobStatus | undefined, limit: number): Promise<StoredJob[]> {
    return (await this.prisma.job.findMany({ where: status ? { status } : {}, orderBy: { createdAt: 'desc' }, take: limit })).map(stored);
  }

  async running(): Promise<StoredJob[]> {
    return (await this.prisma.job.findMany({ where: { status: 'running' } })).map(stored);
  }

  /** Progress of a running job (a no-op when it is unchanged or the job is over). */
  async setProgress(id: string, done: number, tx: Db = this.prisma): Promise<void> {
    await tx.job.updateMany({ where: { id, status: 'running', progressDone: { not: done } }, data: { progressDone: done } });
  }

  /** running → completed, with the final progress and result; false when the job was not running. */
  async complete(id: string, end: { progressDone: number; result?: unknown }, tx: Db = this.prisma): Promise<boolean> {
    const r = await tx.job.updateMany({
      where: { id, status: 'running' },
      data: {
        status: 'completed',
        progressDone: end.progressDone,
        finishedAt: new Date(),
        ...(end.result === undefined ? {} : { result: toJson(end.result) }),
      },
    });
    return r.count === 1;
  }

  /** running → failed with the reason; false when the job was not running. */
  async fail(id: string, error: string, tx: Db = this.prisma): Promise<boolean> {
    const r = await tx.job.updateMany({ where: { id, status: 'running' }, data: { status: 'failed', error, finishedAt: new Date() } });
    return r.count === 1;
  }

  /** running → cancelled; false when the job had already finished. */
  async cancel(id: string): Promise<boolean> {
    const r = await this.prisma.job.updateMany({ where: { id, status: 'running' }, data: { status: 'cancelled', finishedAt: new Date() } });
    return r.count === 1;
  }

  async countByStatus(): Promise<{ status: JobStatus; count: number }[]> {
    const rows = await this.prisma.job.groupBy({ by: ['status'], _count: { _all: true } });
    return rows.map((r) => ({ status: r.status, count: r._count._all }));
  }
}

function stored(job: Job): StoredJob {
  const parsed = CreateJobSchema.safeParse(job.spec);
  if (!parsed.success) throw new Error(`job ${job.id}: its stored spec no longer parses (${describeIssues(parsed.error)})`);
  if (parsed.data.kind !== job.kind) throw new Error(`job ${job.id}: a ${job.kind} job with a ${parsed.data.kind} spec`);
  return { ...job, kind: parsed.data.kind, spec: parsed.data };
}
