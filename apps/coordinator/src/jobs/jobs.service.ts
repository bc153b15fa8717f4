import { Inject, Injectable } from '@nestjs/common';
import { evaluate, initialParameters, parameterCount } from '@flotilla/algorithms';
import {
  ControlJobName,
  type CreateJob,
  type JobView,
  type ListJobsQuery,
  type ParticipationView,
  type RoundMetrics,
  type RoundView,
} from '@flotilla/contracts';
import type { Job, Prisma } from '@prisma/client';
import { BlobStore } from '../blobs/blob-store';
import { BLOB_STORE } from '../blobs/blobs.module';
import { ConflictError, NotFoundError, ValidationError } from '../common/errors';
import { DatasetCatalog } from '../datasets/dataset-catalog';
import { QueueService } from '../queue/queue.service';
import { RoundsRepository } from '../rounds/rounds.repository';
import { JobRunnerRegistry } from '../tasks/job-runner';
import { JobsRepository } from './jobs.repository';

@Injectable()
export class JobsService {
  constructor(
    private readonly jobs: JobsRepository,
    private readonly rounds: RoundsRepository,
    private readonly catalog: DatasetCatalog,
    private readonly queues: QueueService,
    private readonly runners: JobRunnerRegistry,
    @Inject(BLOB_STORE) private readonly blobs: BlobStore,
  ) {}

  async submit(spec: CreateJob): Promise<JobView> {
    if (spec.kind !== 'federated') {
      const runner = this.runners.get(spec.kind);
      if (!runner) throw new ValidationError(`This coordinator has no runner for '${spec.kind}' jobs`);
      return this.view(await runner.submit(spec));
    }
    const dataset = this.catalog.get(spec.dataset);
    const shape = { numFeatures: dataset.numFeatures, numClasses: dataset.manifest.numClasses };
    const initial = initialParameters(spec.model, shape, spec.seed);
    const modelHash = await this.blobs.putFloat32(initial);
    const e = evaluate(spec.model, initial, dataset.test);
    const initialMetrics: RoundMetrics = { testAccuracy: e.accuracy, testLoss: e.loss, trainLoss: null };
    const job = await this.jobs.create({
      kind: spec.kind,
      name: spec.name ?? null,
      spec: spec,
      totalRounds: spec.rounds,
      parameterCount: parameterCount(spec.model, shape),
      modelHash,
      initialMetrics: initialMetrics as unknown as Prisma.InputJsonValue,
    });
    await this.queues.scheduleControl({ name: ControlJobName.OpenRound, data: { jobId: job.id, round: 0 } });
    return this.view(job);
  }

  async list(q: ListJobsQuery): Promise<JobView[]> {
    const jobs = await this.jobs.list(q.status, q.limit);
    return Promise.all(jobs.map((j) => this.view(j)));
  }

  async get(id: string): Promise<JobView> {
    return this.view(await this.require(id));
  }

  async cancel(id: string): Promise<JobView> {
    const job = await this.require(id);
    if (!(await this.jobs.cancel(id))) throw new ConflictError(`Job ${id} is already ${job.status}`);
    if (job.kind !== 'federated') return this.get(id);
    const open = await this.rounds.find(id, job.currentRound);
    if (open && open.status !== 'closed') {
      await this.queues.scheduleControl(
        { name: ControlJobName.CloseRound, data: { jobId: id, round: open.index, reason: 'deadline' } },
        0,
        'cancel',
      );
    }
    return this.get(id);
  }

  async roundsOf(id: string): Promise<RoundView[]> {
    await this.require(id);
    return (await this.rounds.list(id)).map((r) => ({
      round: r.index,
      status: r.status,
      openedAt: r.openedAt.toISOString(),
      deadlineAt: r.deadlineAt.toISOString(),
      closedAt: r.closedAt?.toISOString() ?? null,
      eligible: r.eligibleAgentIds.length,
      participants: r.participants,
      weightMin: r.weightMin,
      weightMax: r.weightMax,
      inputModelHash: r.inputModelHash,
      outputModelHash: r.outputModelHash,
      metrics: (r.metrics as unknown as RoundMetrics | null) ?? null,
    }));
  }

  /** Agents × rounds: 1 participated, 0 eligible but absent, null not asked. */
  async participation(id: string): Promise<ParticipationView> {
    await this.require(id);
    const rows = await this.rounds.participation(id);
    const agents = [...new Set(rows.map((r) => r.agentId))].sort();
    const col = new Map(agents.map((a, i) => [a, i]));
    const byRound = new Map<number, ParticipationView['rounds'][number]>();
    const asked = new Array<number>(agents.length).fill(0);
    const took = new Array<number>(agents.length).fill(0);
    for (const p of rows) {
      let entry = byRound.get(p.round);
      if (!entry) {
        entry = {
          round: p.round,
          row: new Array<0 | 1 | null>(agents.length).fill(null),
          weights: new Array<number | null>(agents.length).fill(null),
        };
        byRound.set(p.round, entry);
      }
      const c = col.get(p.agentId)!;
      entry.row[c] = p.participated ? 1 : 0;
      entry.weights[c] = p.weight;
      asked[c]++;
      if (p.participated) took[c]++;
    }
    return { agents, rounds: [...byRound.values()], rates: agents.map((_, i) => (asked[i] ? took[i] / asked[i] : 0)) };
  }

  async latestModel(id: string): Promise<{ hash: string; bytes: Buffer; round: number }> {
    const job = await this.require(id);
    return { hash: job.modelHash, bytes: await this.blobs.get(job.modelHash), round: job.currentRound - 1 };
  }

  private async require(id: string): Promise<Job> {
    const job = await this.jobs.findById(id);
    if (!job) throw new NotFoundError(`Job ${id} not found`);
    return job;
  }

  private async view(job: Job): Promise<JobView> {
    const initial = await this.jobs.metricsOf(job.id, -1);
    const latest = job.currentRound > 0 ? await this.jobs.metricsOf(job.id, job.currentRound - 1) : null;
    return {
      id: job.id,
      kind: job.kind as JobView['kind'],
      name: job.name,
      status: job.status,
      spec: job.spec as unknown as JobView['spec'],
      currentRound: job.currentRound,
      totalRounds: job.totalRounds,
      parameterCount: job.parameterCount,
      modelHash: job.modelHash,
      initialMetrics: (initial as unknown as RoundMetrics | null) ?? null,
      latestMetrics: (latest as unknown as RoundMetrics | null) ?? null,
      error: job.error,
      result: job.result ?? null,
      createdAt: job.createdAt.toISOString(),
      finishedAt: job.finishedAt?.toISOString() ?? null,
    };
  }
}
