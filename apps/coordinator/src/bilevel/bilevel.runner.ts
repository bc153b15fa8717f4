import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import {
  bilevelProblemShape,
  completeGradientRound,
  completeRound,
  createBilevelState,
  joinChainTasks,
  parseBilevelState,
  penaltyScheduleDone,
  planDistributedRound,
  totalOracleCalls,
  type BilevelProblem,
  type BilevelProblemDef,
  type BilevelProblemShape,
  type BilevelMethod,
  type BilevelState,
  type BilevelStepResult,
  type DistributedBilevelOptions,
  type DistributedRound,
  type GradientReport,
  type YChainTaskResult,
  type ZChainTaskResult,
} from '@flotilla/algorithms';
import {
  ControlJobName,
  TaskKind,
  type BilevelPointView,
  type BilevelRunView,
  type CreateBilevelJob,
  type PenaltyScheduleSpec,
} from '@flotilla/contracts';
import type { Job, Prisma } from '@prisma/client';
import { z } from 'zod';
import { BlobStore } from '../blobs/blob-store';
import { BLOB_STORE } from '../blobs/blobs.module';
import { InvalidResultError, NotFoundError, ValidationError } from '../common/errors';
import { DatasetCatalog } from '../datasets/dataset-catalog';
import { JobsRepository } from '../jobs/jobs.repository';
import { QueueService } from '../queue/queue.service';
import { JobFailure, JobRunnerRegistry, type TaskJobRunner } from '../tasks/job-runner';
import { TasksService } from '../tasks/tasks.service';
import { BilevelRepository, type BilevelRunRow } from './bilevel.repository';
import type { TaskRow } from '../tasks/tasks.repository';

/** A run's fixed settings, stored with it (dataHash is pinned when its first task is dispatched). */
interface RunConfig {
  method: BilevelMethod;
  seed: number;
  penalty: PenaltyScheduleSpec;
  dataHash?: string;
}

/** What a y- or z-chain task carries to the agent. */
export interface BilevelTaskPayload {
  run: number;
  problem: BilevelProblemDef;
  /** Hyper-cleaning: how the agent scales and labels its file (from the coordinator's catalogue). */
  data: { featureRange: [number, number]; numClasses: number } | null;
  round: DistributedRound;
}

/**
 * Metrics an agent adds to a y-chain or gradient result: f(x_k, y), the test accuracy of y and the cleaner metrics
 * of x_k (hyper-cleaning), where y is the chain's end point y_{k+1} (double loop, F2SA) or the evaluated y_k (single
 * loop, V-PBGD, whose y-step the coordinator takes).
 */
export interface BilevelTaskMetrics {
  upperObjective: number;
  testAccuracy: number | null;
  cleaner: { precision: number; recall: number; f1: number; keptFraction: number } | null;
}

const finite = z.number().refine(Number.isFinite, 'must be finite');
const vector = (n: number, name: string) => z.array(finite).refine((v) => v.length === n, { message: `${name} must have length ${n}` });
const calls = z.strictObject({ f: z.number().int().min(0), g: z.number().int().min(0) });
const unit = z.number().min(0).max(1);
const metricsSchema = z.strictObject({
  upperObjective: finite,
  testAccuracy: unit.nullable(),
  cleaner: z.strictObject({ precision: unit, recall: unit, f1: unit, keptFraction: unit }).nullable(),
});

function yResultSchema(dimX: number, dimY: number) {
  return z.strictObject({
    point: vector(dimY, 'point'),
    residual: finite.pipe(z.number().min(0)),
    oracleCalls: calls,
    fx: vector(dimX, 'fx'),
    gxAtY: vector(dimX, 'gxAtY'),
    metrics: metricsSchema,
  });
}
function zResultSchema(dimX: number, dimY: number) {
  return z.strictObject({
    point: vector(dimY, 'point'),
    residual: finite.pipe(z.number().min(0)),
    oracleCalls: calls,
    gxAtZ: vector(dimX, 'gxAtZ'),
  });
}
function gradientResultSchema(dimX: number, dimY: number, points: number, withW: boolean) {
  const triple = z.strictObject({ gradX: vector(dimX, 'gradX'), gradY: vector(dimY, 'gradY'), gradZ: vector(dimY, 'gradZ') });
  const chain = z.strictObject({ point: vector(dimY, 'point'), residual: finite.pipe(z.number().min(0)), oracleCalls: calls });
  return z.strictObject({
    gradients: z.array(triple).refine((g) => g.length === points, { message: `must have ${points} gradient triples` }),
    w: withW ? chain : z.null(),
    oracleCalls: calls,
    metrics: metricsSchema,
  });
}

/** Final x is reported in full only when it is this small (test cases); hyper-cleaning's x has one entry per training row. */
const MAX_REPORTED_X = 100;

/**
 * Bilevel jobs (issue #5, spec bilevel-penalty.md §9): the coordinator owns x, λ, the projections and the stopping
 * test. For each outer iteration of each run it dispatches the y-chain and the z-chain as two tasks (any two agents)
 * for the double-loop methods, or one gradient task for the single loop and V-PBGD, and takes the step from the
 * results (`completeRound` / `completeGradientRound`, the code `runBilevel` uses in one process).
 * Each run's state is persisted after every outer iteration with its curve point, so a restarted coordinator
 * continues from the last iterate and a lost task is recomputed by another agent with the same result.
 */
@Injectable()
export class BilevelRunner implements TaskJobRunner<'bilevel'>, OnModuleInit {
  readonly kind = 'bilevel' as const;

  constructor(
    private readonly repo: BilevelRepository,
    private readonly jobs: JobsRepository,
    private readonly tasks: TasksService,
    private readonly queues: QueueService,
    private readonly catalog: DatasetCatalog,
    private readonly registry: JobRunnerRegistry,
    @Inject(BLOB_STORE) private readonly blobs: BlobStore,
  ) {}

  onModuleInit(): void {
    this.registry.register(this);
  }

  async submit(spec: CreateBilevelJob): Promise<Job> {
    const shape = this.shape(spec);
    const runs = this.runConfigs(spec).map((config, run) => {
      const state = createBilevelState(shape.problem as BilevelProblem, config.method, { ...shape.start, seed: config.seed });
      return { run, config: config as unknown as Prisma.InputJsonValue, state };
    });
    const modelHash = await this.blobs.putFloat32(Float32Array.from(shape.start.y));
    const job = await this.repo.createJob(
      { name: spec.name ?? null, spec: spec, totalRounds: spec.iterations, parameterCount: shape.dimY, modelHash },
      runs,
    );
    await this.tasks.wake(job.id);
    return job;
  }

  private shape(spec: CreateBilevelJob): BilevelProblemShape {
    if (spec.problem.kind === 'test-case') return bilevelProblemShape(spec.problem);
    const ds = this.catalog.get(spec.problem.dataset);
    return bilevelProblemShape(spec.problem, { numFeatures: ds.numFeatures, numClasses: ds.manifest.numClasses });
  }

  /** methods × seeds × penalties, in that nesting order (run index = position). */
  private runConfigs(spec: CreateBilevelJob): RunConfig[] {
    const out: RunConfig[] = [];
    for (const method of spec.methods as BilevelMethod[])
      for (const seed of spec.seeds) for (const penalty of spec.penalties) out.push({ method, seed, penalty });
    return out;
  }

  private options(spec: CreateBilevelJob, penalty: PenaltyScheduleSpec): DistributedBilevelOptions {
    return {
      penalty: penalty,
      innerSteps: spec.innerSteps,
      stepX: spec.stepX,
      stepY: spec.stepY,
      stepZ: spec.stepZ,
      stepScaling: spec.stepScaling,
      momentum: spec.momentum,
      sampling: spec.sampling,
    };
  }

  async advance(job: Job): Promise<void> {
    const spec = job.spec as unknown as CreateBilevelJob;
    const shape = this.shape(spec);
    for (const run of await this.repo.runs(job.id)) {
      if (run.status === 'running') await this.advanceRun(job, spec, shape, run);
    }
    const runs = await this.repo.runs(job.id);
    const current = Math.min(...runs.map((r) => r.iteration));
    if (runs.some((r) => r.status === 'running')) {
      if (current !== job.currentRound) await this.repo.progress(job.id, current);
      return;
    }
    const first = parseBilevelState(runs[0].state);
    const modelHash = await this.blobs.putFloat32(Float32Array.from(first.y));
    const result = { runs: runs.map((r) => ({ run: r.run, ...(r.result as object) })) };
    await this.repo.finish(job.id, result, modelHash, current);
  }

  /** Takes every step whose tasks are done, then dispatches the tasks of the next one. */
  private async advanceRun(job: Job, spec: CreateBilevelJob, shape: BilevelProblemShape, run: BilevelRunRow): Promise<void> {
    let config = run.config as unknown as RunConfig;
    let state = parseBilevelState(run.state, shape);
    for (;;) {
      const k = state.iteration;
      const round = planDistributedRound(state, this.options(spec, config.penalty));
      // Double-loop methods: two independent chain tasks (any two agents); single loop / V-PBGD: one gradient task.
      const wanted =
        round.kind === 'chains'
          ? [
              { key: `r${run.run}.k${k}.y`, kind: TaskKind.BilevelY },
              { key: `r${run.run}.k${k}.z`, kind: TaskKind.BilevelZ },
            ]
          : [{ key: `r${run.run}.k${k}.g`, kind: TaskKind.BilevelGradients }];
      const found = await this.tasks.byKeys(
        job.id,
        wanted.map((w) => w.key),
      );
      for (const t of found.values()) {
        if (t.status === 'failed')
          throw new JobFailure(`bilevel run ${run.run}, iteration ${k}: ${t.kind} failed on every agent tried (${t.error})`);
      }
      const done = wanted.map((w) => found.get(w.key)).filter((t) => t?.status === 'done') as TaskRow[];
      if (done.length === wanted.length) {
        const next = this.step(spec, shape, config, state, round, done, run.run);
        const written = await this.repo.recordStep({ jobId: job.id, run: run.run, from: k, ...next });
        if (!written || next.stop) return;
        state = next.parsed;
        continue;
      }
      if (found.size === wanted.length) return; // dispatched, still computing
      const problem = spec.problem;
      if (problem.kind === 'hyper-cleaning' && !config.dataHash) {
        const hash = await this.tasks.commonDataHash(problem.dataset);
        if (!hash) {
          // No agent holding the dataset is online yet: look again shortly.
          await this.queues.scheduleControl({ name: ControlJobName.AdvanceJob, data: { jobId: job.id } }, 1000, `wait${Date.now()}`);
          return;
        }
        config = { ...config, dataHash: hash };
        await this.repo.setConfig(job.id, run.run, config as unknown as Prisma.InputJsonValue);
      }
      const ds = problem.kind === 'hyper-cleaning' ? this.catalog.get(problem.dataset).manifest : null;
      const payload: BilevelTaskPayload = {
        run: run.run,
        problem,
        data: ds ? { featureRange: ds.featureRange, numClasses: ds.numClasses } : null,
        round,
      };
      await this.tasks.dispatch(
        job.id,
        wanted.map((w) => ({
          ...w,
          payload,
          dataset: problem.kind === 'hyper-cleaning' ? problem.dataset : null,
          dataHash: config.dataHash ?? null,
          timeoutMs: spec.taskTimeoutMs,
        })),
      );
      return;
    }
  }

  /** The coordinator's step from the round's results, the curve point, and whether the run stops here (spec §4.4). */
  private step(
    spec: CreateBilevelJob,
    shape: BilevelProblemShape,
    config: RunConfig,
    state: BilevelState,
    round: DistributedRound,
    done: TaskRow[],
    run: number,
  ) {
    let out: BilevelStepResult;
    let metrics: BilevelTaskMetrics;
    try {
      if (round.kind === 'chains') {
        const yr = done[0].result as YChainTaskResult & { metrics: BilevelTaskMetrics };
        out = completeRound(shape.problem.setX, state, round.plan, joinChainTasks(yr, done[1].result as ZChainTaskResult));
        metrics = yr.metrics;
      } else {
        const report = done[0].result as GradientReport & { metrics: BilevelTaskMetrics };
        out = completeGradientRound(shape.problem, state, this.options(spec, config.penalty), round.request, report);
        metrics = report.metrics;
      }
    } catch (e) {
      throw new JobFailure(`bilevel run ${run}, iteration ${state.iteration}: ${(e as Error).message}`);
    }
    const { state: next, info } = out;
    const calls = totalOracleCalls(next.oracleCalls);
    const reason =
      next.iteration >= spec.iterations
        ? 'max-iterations'
        : spec.tolerance > 0 &&
            penaltyScheduleDone(config.penalty, state.iteration) &&
            info.stationarity <= spec.tolerance &&
            info.yResidual <= spec.tolerance &&
            info.zResidual <= spec.tolerance
          ? 'tolerance'
          : null;
    const error = shape.solution ? Math.sqrt(next.x.reduce((s, v, i) => s + (v - shape.solution![i]) ** 2, 0)) : null;
    const result = reason && {
      method: config.method,
      seed: config.seed,
      penalty: config.penalty,
      iterations: next.iteration,
      stopReason: reason,
      lambda: next.lambda,
      oracleCalls: calls,
      x: next.x.length <= MAX_REPORTED_X ? next.x : null,
      errorToSolution: error,
      testAccuracy: metrics.testAccuracy,
      cleaner: metrics.cleaner,
    };
    return {
      parsed: next,
      state: next,
      point: {
        lambda: info.lambda,
        gradXNorm: info.gradXNorm,
        stationarity: info.stationarity,
        upperObjective: metrics.upperObjective,
        testAccuracy: metrics.testAccuracy,
        oracleCalls: calls,
      },
      stop: reason ? { reason, result: result as unknown as Prisma.InputJsonValue } : null,
    };
  }

  validateResult(task: TaskRow, result: unknown): unknown {
    const { round } = task.payload as BilevelTaskPayload;
    const dims =
      round.kind === 'chains'
        ? { x: round.plan.x.length, y: round.plan.yStart.length }
        : { x: round.request.points[0].x.length, y: round.request.points[0].y.length };
    const schema =
      task.kind === TaskKind.BilevelY
        ? yResultSchema(dims.x, dims.y)
        : task.kind === TaskKind.BilevelZ
          ? zResultSchema(dims.x, dims.y)
          : gradientResultSchema(
              dims.x,
              dims.y,
              round.kind === 'gradients' ? round.request.points.length : 0,
              round.kind === 'gradients' && !!round.request.wChain,
            );
    const parsed = schema.safeParse(result);
    if (!parsed.success) {
      throw new InvalidResultError(
        `${task.kind} result: ${parsed.error.issues
          .slice(0, 3)
          .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
          .join('; ')}`,
      );
    }
    return parsed.data;
  }

  /** GET /jobs/:id/bilevel: every run with its curve. */
  async runsOf(jobId: string): Promise<BilevelRunView[]> {
    const job = await this.jobs.findById(jobId);
    if (!job) throw new NotFoundError(`Job ${jobId} not found`);
    if (job.kind !== 'bilevel') throw new ValidationError(`Job ${jobId} is a ${job.kind} job, not a bilevel job`);
    const spec = job.spec as unknown as CreateBilevelJob;
    const shape = this.shape(spec);
    const points = await this.repo.points(jobId);
    return (await this.repo.runs(jobId)).map((r) => {
      const config = r.config as unknown as RunConfig;
      const state = parseBilevelState(r.state);
      const result = r.result as { testAccuracy?: number | null; cleaner?: BilevelRunView['cleaner'] } | null;
      const curve: BilevelPointView[] = points
        .filter((p) => p.run === r.run)
        .map((p) => ({
          iteration: p.iteration,
          lambda: p.lambda,
          gradXNorm: p.gradXNorm,
          stationarity: p.stationarity,
          upperObjective: p.upperObjective,
          testAccuracy: p.testAccuracy,
          oracleCalls: p.oracleCalls,
        }));
      return {
        run: r.run,
        method: config.method,
        seed: config.seed,
        penalty: config.penalty,
        status: r.status as BilevelRunView['status'],
        iteration: r.iteration,
        stopReason: r.stopReason,
        lambda: state.lambda,
        oracleCalls: totalOracleCalls(state.oracleCalls),
        x: state.x.length <= MAX_REPORTED_X ? state.x : null,
        errorToSolution: shape.solution ? Math.sqrt(state.x.reduce((s, v, i) => s + (v - shape.solution![i]) ** 2, 0)) : null,
        testAccuracy: result?.testAccuracy ?? curve.at(-1)?.testAccuracy ?? null,
        cleaner: result?.cleaner ?? null,
        curve,
      };
    });
  }
}
