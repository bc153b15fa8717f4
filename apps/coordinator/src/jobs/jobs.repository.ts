import { Injectable } from '@nestjs/common';
import type { Job, JobStatus, Prisma } from '@prisma/client';
import { PrismaService } from '../database/prisma.service';

@Injectable()
export class JobsRepository {
  constructor(private readonly prisma: PrismaService) {}

  /** The job row and its initial checkpoint (round −1) together. */
  create(data: {
    kind: string;
    name: string | null;
    spec: Prisma.InputJsonValue;
    totalRounds: number;
    parameterCount: number;
    modelHash: string;
    initialMetrics: Prisma.InputJsonValue;
  }): Promise<Job> {
    const { initialMetrics, ...job } = data;
    return this.prisma.job.create({
      data: { ...job, checkpoints: { create: { round: -1, hash: job.modelHash, metrics: initialMetrics } } },
    });
  }

  findById(id: string): Promise<Job | null> {
    return this.prisma.job.findUnique({ where: { id } });
  }

  list(status: JobStatus | undefined, limit: number): Promise<Job[]> {
    return this.prisma.job.findMany({ where: status ? { status } : {}, orderBy: { createdAt: 'desc' }, take: limit });
  }

  running(): Promise<Job[]> {
    return this.prisma.job.findMany({ where: { status: 'running' } });
  }

  /** running → cancelled; false when the job had already finished. */
  async cancel(id: string): Promise<boolean> {
    const r = await this.prisma.job.updateMany({ where: { id, status: 'running' }, data: { status: 'cancelled', finishedAt: new Date() } });
    return r.count === 1;
  }

  async fail(id: string, error: string): Promise<void> {
    await this.prisma.job.updateMany({ where: { id, status: 'running' }, data: { status: 'failed', error, finishedAt: new Date() } });
  }

  async metricsOf(jobId: string, round: number): Promise<Prisma.JsonValue | null> {
    const c = await this.prisma.checkpoint.findUnique({ where: { jobId_round: { jobId, round } } });
    return c?.metrics ?? null;
  }

  async countByStatus(): Promise<{ status: JobStatus; count: number }[]> {
    const rows = await this.prisma.job.groupBy({ by: ['status'], _count: { _all: true } });
    return rows.map((r) => ({ status: r.status, count: r._count._all }));
  }
}
