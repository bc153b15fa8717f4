import { Injectable } from '@nestjs/common';
import {
  BilevelRunConfigSchema,
  BilevelRunOutcomeSchema,
  type BilevelJobResult,
  type BilevelRunConfig,
  type BilevelRunOutcome,
  type CreateBilevelJob,
} from '@flotilla/contracts';
import type { BilevelPoint, BilevelRun } from '@prisma/client';
import { toJson } from '../../database/json';
import { PrismaService } from '../../database/prisma.service';
import { JobsRepository, type StoredJob } from '../../jobs/jobs.repository';

export interface NewBilevelRun {
  run: number;
  config: BilevelRunConfig;
  /** A BilevelState; stored as JSON text so its floats round-trip exactly. */
  state: unknown;
}

/** A run with its config, state and outcome parsed. */
export type BilevelRunRow = Omit<BilevelRun, 'state' | 'config' | 'result'> & {
  config: BilevelRunConfig;
  state: unknown;
  result: BilevelRunOutcome | null;
};

export interface StepWrite {
  jobId: string;
  run: number;
  /** The iteration the step started from (the write happens only if the run is still there). */
  from: number;
  state: unknown;
  point: Omit<BilevelPoint, 'jobId' | 'run' | 'iteration'>;
  /** Set when the run ends with this step. */
  stop: BilevelRunOutcome | null;
}

/** The persisted state of bilevel jobs: one row per run (its last outer iterate) and the runs' curves. */
@Injectable()
export class BilevelRepository {
  constructor(
    private readonly prisma: PrismaService,
    private readonly jobs: JobsRepository,
  ) {}

  /** The job row and every run's initial state in one transaction. */
  createJob(spec: CreateBilevelJob, runs: NewBilevelRun[]): Promise<StoredJob> {
    return this.prisma.$transaction(async (tx) => {
      const job = await this.jobs.create({ spec, progressTotal: spec.iterations }, tx);
      await tx.bilevelRun.createMany({
        data: runs.map((r) => ({ jobId: job.id, run: r.run, config: toJson(r.config), state: JSON.stringify(r.state) })),
      });
      return job;
    });
  }

  async runs(jobId: string): Promise<BilevelRunRow[]> {
    const rows = await this.prisma.bilevelRun.findMany({ where: { jobId }, orderBy: { run: 'asc' } });
    return rows.map((r) => ({
      ...r,
      config: BilevelRunConfigSchema.parse(r.config),
      state: JSON.parse(r.state) as unknown,
      result: r.result === null ? null : BilevelRunOutcomeSchema.parse(r.result),
    }));
  }

  points(jobId: string): Promise<BilevelPoint[]> {
    return this.prisma.bilevelPoint.findMany({ where: { jobId }, orderBy: [{ run: 'asc' }, { iteration: 'asc' }] });
  }

  async setConfig(jobId: string, run: number, config: BilevelRunConfig): Promise<void> {
    await this.prisma.bilevelRun.update({ where: { jobId_run: { jobId, run } }, data: { config: toJson(config) } });
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
          ...(w.stop ? { status: 'completed', stopReason: w.stop.stopReason, result: toJson(w.stop) } : {}),
        },
      });
      if (moved.count !== 1) return false;
      await tx.bilevelPoint.create({ data: { jobId: w.jobId, run: w.run, iteration: w.from + 1, ...w.point } });
      return true;
    });
  }

  progress(jobId: string, iteration: number): Promise<void> {
    return this.jobs.setProgress(jobId, iteration);
  }

  /** running → completed with every run's outcome; false when the job was not running. */
  finish(jobId: string, result: BilevelJobResult, iteration: number): Promise<boolean> {
    return this.jobs.complete(jobId, { progressDone: iteration, result });
  }
}
