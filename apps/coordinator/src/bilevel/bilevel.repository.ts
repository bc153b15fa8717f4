import { Injectable } from '@nestjs/common';
import type { BilevelPoint, BilevelRun, Job, Prisma } from '@prisma/client';
import { PrismaService } from '../database/prisma.service';

export interface NewBilevelRun {
  run: number;
  config: Prisma.InputJsonValue;
  /** A BilevelState; stored as JSON text so its floats round-trip exactly. */
  state: unknown;
}

/** A run with its state parsed. */
export type BilevelRunRow = Omit<BilevelRun, 'state'> & { state: unknown };

export interface StepWrite {
  jobId: string;
  run: number;
  /** The iteration the step started from (the write happens only if the run is still there). */
  from: number;
  state: unknown;
  point: Omit<BilevelPoint, 'jobId' | 'run' | 'iteration'>;
  /** Set when the run ends with this step. */
  stop: { reason: string; result: Prisma.InputJsonValue } | null;
}

@Injectable()
export class BilevelRepository {
  constructor(private readonly prisma: PrismaService) {}

  /** The job row, its initial checkpoint and every run's initial state in one transaction. */
  createJob(
    job: { name: string | null; spec: Prisma.InputJsonValue; totalRounds: number; parameterCount: number; modelHash: string },
    runs: NewBilevelRun[],
  ): Promise<Job> {
    return this.prisma.job.create({
      data: {
        ...job,
        kind: 'bilevel',
        checkpoints: { create: { round: -1, hash: job.modelHash } },
        bilevelRuns: { create: runs.map((r) => ({ ...r, state: JSON.stringify(r.state) })) },
      },
    });
  }

  async runs(jobId: string): Promise<BilevelRunRow[]> {
    const rows = await this.prisma.bilevelRun.findMany({ where: { jobId }, orderBy: { run: 'asc' } });
    return rows.map((r) => ({ ...r, state: JSON.parse(r.state) as unknown }));
  }

  points(jobId: string): Promise<BilevelPoint[]> {
    return this.prisma.bilevelPoint.findMany({ where: { jobId }, orderBy: [{ run: 'asc' }, { iteration: 'asc' }] });
  }

  async setConfig(jobId: string, run: number, config: Prisma.InputJsonValue): Promise<void> {
    await this.prisma.bilevelRun.update({ where: { jobId_run: { jobId, run } }, data: { config } });
  }

  /**
   * The outer iterate after step `from` and its curve point, atomically; false when the run has already moved
   * past `from` (a duplicate advance), in which case nothing is written.
   */
  async recordStep(w: StepWrite): Promise<boolean> {
    return this.prisma.$transaction(async (tx) => {
      const moved = await tx.bilevelRun.updateMany({
        where: { jobId: w.jobId, run: w.run, iteration: w.from, status: 'running' },
        data: {
          state: JSON.stringify(w.state),
          iteration: w.from + 1,
          ...(w.stop ? { status: 'completed', stopReason: w.stop.reason, result: w.stop.result } : {}),
        },
      });
      if (moved.count !== 1) return false;
      await tx.bilevelPoint.create({ data: { jobId: w.jobId, run: w.run, iteration: w.from + 1, ...w.point } });
      return true;
    });
  }

  async progress(jobId: string, currentRound: number): Promise<void> {
    await this.prisma.job.updateMany({ where: { id: jobId, status: 'running' }, data: { currentRound } });
  }

  /** running → completed with the result and the final lower-level model; false when the job was not running. */
  async finish(jobId: string, result: Prisma.InputJsonValue, modelHash: string, currentRound: number): Promise<boolean> {
    const r = await this.prisma.job.updateMany({
      where: { id: jobId, status: 'running' },
      data: { status: 'completed', result, modelHash, currentRound, finishedAt: new Date() },
    });
    return r.count === 1;
  }
}
