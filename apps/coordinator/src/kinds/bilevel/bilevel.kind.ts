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
  type BilevelProblemShape,
  type BilevelState,
  type BilevelStepResult,
  type DistributedBilevelOptions,
  type DistributedRound,
} from '@flotilla/algorithms';
import {
  BilevelGradients,
  BilevelYChain,
  BilevelZChain,
  type BilevelJobView,
  type BilevelPointView,
  type BilevelRunConfig,
  type BilevelRunOutcome,
  type BilevelRunView,
  type BilevelTaskMetrics,
  type BilevelTaskPayload,
  type CreateBilevelJob,
  type PenaltyScheduleSpec,
} from '@flotilla/contracts';
import { BLOB_STORE, BlobStore } from '../../blobs/blob-store';
import { DatasetCatalog } from '../../datasets/dataset-catalog';
import { JobFailure, JobKindRegistry, type BaseViewOf, type JobKind, type JobOf, type ModelRef } from '../../jobs/job-kind';
import { JobRunner } from '../../jobs/job-runner.service';
import type { StoredJob } from '../../jobs/jobs.repository';
import type { TaskRow } from '../../tasks/tasks.repository';
import { taskRequest, taskResult, TasksService } from '../../tasks/tasks.service';
import { BilevelRepository, type BilevelRunRow, type StepWrite } from './bilevel.repository';

/** Final x is reported in full only when it is this small (test cases); hyper-cleaning's x has one entry per training row. */
const MAX_REPORTED_X = 100;

/** How long a job with no agent holding its dataset waits before looking again. */
const WAIT_FOR_AGENT_MS = 1000;

/**
 * Bilevel jobs (docs/algorithms/bilevel.md): the coordinator owns x, λ, the projections and the stopping test. For
 * each outer iteration of each run it dispatches the y-chain and the z-chain as two tasks (any two agents) for the
 * double-loop methods, or one gradient task for the single loop and V-PBGD, and takes the step from the results
 * (`completeRound` / `completeGradientRound`, the code `runBilevel` uses in one process). Each run's state is
 * persisted after every outer iteration with its curve point, so a restarted coordinator continues from the last
 * iterate and a lost task is recomputed by another agent with the same result.
 */
@Injectable()
export class BilevelJobKind implements JobKind<'bilevel'>, OnModuleInit {
  readonly kind = 'bilevel' as const;
  readonly progressUnit = 'iterations' as const;

  constructor(
    private readonly repo: BilevelRepository,
    private readonly tasks: TasksService,
    private readonly runner: JobRunner,
    private readonly catalog: DatasetCatalog,
    private readonly registry: JobKindRegistry,
    @Inject(BLOB_STORE) private readonly blobs: BlobStore,
  ) {}

  onModuleInit(): void {
    this.registry.register(this);
  }

  /** Hyper-cleaning needs agents holding its dataset; a test case runs on any agent. */
  agentDataset(spec: CreateBilevelJob): string | null {
    return spec.problem.kind === 'hyper-cleaning' ? spec.problem.dataset : null;
  }

  async submit(spec: CreateBilevelJob): Promise<StoredJob> {
    const shape = this.shape(spec);
    const runs = this.runConfigs(spec).map((config, run) => {
      const state = createBilevelState(shape.problem, config.method, { ...shape.start, seed: config.seed });
      return { run, config, state };
    });
    return this.repo.createJob(spec, runs);
  }

  private shape(spec: CreateBilevelJob): BilevelProblemShape {
    if (spec.problem.kind === 'test-case') return bilevelProblemShape(spec.problem);
    const ds = this.catalog.get(spec.problem.dataset);
    return bilevelProblemShape(spec.problem, { numFeatures: ds.numFeatures, numClasses: ds.manifest.numClasses });
  }

  /** methods × seeds × penalties, in that nesting order (run index = position). */
  private runConfigs(spec: CreateBilevelJob): BilevelRunConfig[] {
    const out: BilevelRunConfig[] = [];
    for (const method of spec.methods)
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

  async advance(job: JobOf<'bilevel'>): Promise<void> {
    const shape = this.shape(job.spec);
    for (const run of await this.repo.runs(job.id)) {
      if (run.status === 'running') await this.advanceRun(job, shape, run);
    }
    const runs = await this.repo.runs(job.id);
    const current = Math.min(...runs.map((r) => r.iteration));
    if (runs.some((r) => r.status === 'running')) {
      await this.repo.progress(job.id, current);
      return;
    }
    await this.repo.finish(job.id, { runs: runs.map((r) => ({ run: r.run, ...r.result! })) }, current);
  }

  /** Takes every step whose tasks are done, then dispatches the tasks of the next one. */
  private async advanceRun(job: JobOf<'bilevel'>, shape: BilevelProblemShape, run: BilevelRunRow): Promise<void> {
    const spec = job.spec;
    let config = run.config;
    let state = parseBilevelState(run.state, shape);
    for (;;) {
      const k = state.iteration;
      const round = planDistributedRound(state, this.options(spec, config.penalty));
      // Double-loop methods: two independent chain tasks (any two agents); single loop / V-PBGD: one gradient task.
      const wanted =
        round.kind === 'chains'
          ? [
              { key: `r${run.run}.k${k}.y`, contract: BilevelYChain },
              { key: `r${run.run}.k${k}.z`, contract: BilevelZChain },
            ]
          : [{ key: `r${run.run}.k${k}.g`, contract: BilevelGradients }];
      const found = await this.tasks.byKeys(
        job.id,
        wanted.map((w) => w.key),
      );
      for (const t of found.values()) {
        if (t.status === 'failed')
          throw new JobFailure(`bilevel run ${run.run}, iteration ${k}: ${t.kind} failed on every agent tried (${t.error})`);
      }
      const done = wanted.map((w) => found.get(w.key)).filter((t): t is TaskRow => t?.status === 'done');
      if (done.length === wanted.length) {
        const next = this.step(spec, shape, config, state, round, done, run.run);
        // A run's final y is kept as a blob (run 0's is the job's model).
        if (next.write.stop) next.write.stop.yHash = await this.blobs.putFloat32(Float32Array.from(next.state.y));
        const written = await this.repo.recordStep({ jobId: job.id, run: run.run, from: k, ...next.write });
        if (!written || next.write.stop) return;
        state = next.state;
        continue;
      }
      if (found.size === wanted.length) return; // dispatched, still computing
      const problem = spec.problem;
      if (problem.kind === 'hyper-cleaning' && !config.dataHash) {
        const hash = await this.tasks.commonDataHash(spec, problem.dataset);
        if (!hash) {
          // No agent holding the dataset is online yet: look again shortly.
          await this.runner.wakeLater(job.id, WAIT_FOR_AGENT_MS);
          return;
        }
        config = { ...config, dataHash: hash };
        await this.repo.setConfig(job.id, run.run, config);
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
        wanted.map((w) =>
          taskRequest(w.contract, payload, {
            key: w.key,
            dataset: problem.kind === 'hyper-cleaning' ? problem.dataset : null,
            dataHash: config.dataHash ?? null,
            timeoutMs: spec.taskTimeoutMs,
          }),
        ),
      );
      return;
    }
  }

  /** The coordinator's step from the round's results, the curve point, and whether the run stops here. */
  private step(
    spec: CreateBilevelJob,
    shape: BilevelProblemShape,
    config: BilevelRunConfig,
    state: BilevelState,
    round: DistributedRound,
    done: TaskRow[],
    run: number,
  ): { state: BilevelState; write: Omit<StepWrite, 'jobId' | 'run' | 'from'> } {
    let out: BilevelStepResult;
    let metrics: BilevelTaskMetrics;
    try {
      if (round.kind === 'chains') {
        const y = taskResult(done[0], BilevelYChain);
        out = completeRound(shape.problem.setX, state, round.plan, joinChainTasks(y, taskResult(done[1], BilevelZChain)));
        metrics = y.metrics;
      } else {
        const report = taskResult(done[0], BilevelGradients);
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
    const stop: BilevelRunOutcome | null = reason && {
      method: config.method,
      seed: config.seed,
      penalty: config.penalty,
      iterations: next.iteration,
      stopReason: reason,
      lambda: next.lambda,
      oracleCalls: calls,
      x: next.x.length <= MAX_REPORTED_X ? next.x : null,
      errorToSolution: errorTo(shape, next.x),
      testAccuracy: metrics.testAccuracy,
      cleaner: metrics.cleaner,
    };
    return {
      state: next,
      write: {
        state: next,
        point: {
          lambda: info.lambda,
          gradXNorm: info.gradXNorm,
          stationarity: info.stationarity,
          upperObjective: metrics.upperObjective,
          testAccuracy: metrics.testAccuracy,
          oracleCalls: calls,
        },
        stop,
      },
    };
  }

  view(job: JobOf<'bilevel'>, base: BaseViewOf<'bilevel'>): Promise<BilevelJobView> {
    const shape = this.shape(job.spec);
    return Promise.resolve({ ...base, runs: this.runConfigs(job.spec).length, dimensions: { x: shape.dimX, y: shape.dimY } });
  }

  /** Run 0's final lower-level y (hyper-cleaning: the classifier trained on the cleaned data), once run 0 has ended. */
  async model(job: JobOf<'bilevel'>): Promise<ModelRef | null> {
    const first = (await this.repo.runs(job.id))[0];
    return first?.result?.yHash ? { hash: first.result.yHash, round: first.iteration } : null;
  }

  /** GET /jobs/:id/bilevel: every run with its curve. */
  async runsOf(job: JobOf<'bilevel'>): Promise<BilevelRunView[]> {
    const shape = this.shape(job.spec);
    const points = await this.repo.points(job.id);
    return (await this.repo.runs(job.id)).map((r) => {
      const state = parseBilevelState(r.state);
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
        method: r.config.method,
        seed: r.config.seed,
        penalty: r.config.penalty,
        status: r.status === 'completed' ? 'completed' : 'running',
        iteration: r.iteration,
        stopReason: r.stopReason,
        lambda: state.lambda,
        oracleCalls: totalOracleCalls(state.oracleCalls),
        x: state.x.length <= MAX_REPORTED_X ? state.x : null,
        errorToSolution: errorTo(shape, state.x),
        testAccuracy: r.result?.testAccuracy ?? curve.at(-1)?.testAccuracy ?? null,
        cleaner: r.result?.cleaner ?? null,
        curve,
      };
    });
  }
}

/** ‖x − x*‖ when the problem's solution is known (test cases), else null. */
function errorTo(shape: BilevelProblemShape, x: readonly number[]): number | null {
  const s = shape.solution;
  return s ? Math.sqrt(x.reduce((acc, v, i) => acc + (v - s[i]) ** 2, 0)) : null;
}
