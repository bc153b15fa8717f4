import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { evaluate, initialParameters, parameterCount } from '@flotilla/algorithms';
import {
  ControlJobName,
  RoundMetricsSchema,
  type AgentCensus,
  type CreateFederatedJob,
  type FederatedJobView,
  type ParticipationOutcome,
  type ParticipationView,
  type RoundMetrics,
  type RoundView,
} from '@flotilla/contracts';
import { BLOB_STORE, BlobStore } from '../../blobs/blob-store';
import { DatasetCatalog } from '../../datasets/dataset-catalog';
import { JobKindRegistry, type BaseViewOf, type JobKind, type JobOf, type ModelRef } from '../../jobs/job-kind';
import type { StoredJob } from '../../jobs/jobs.repository';
import { QueueService } from '../../queue/queue.service';
import { RoundsRepository } from './rounds.repository';
import { RoundsService } from './rounds.service';

/**
 * Federated jobs (docs/algorithms/fedau.md): the round loop of RoundsService is the kind's `advance`. Submission
 * writes the initial model (seeded) and its held-out metrics as checkpoint −1.
 */
@Injectable()
export class FederatedJobKind implements JobKind<'federated'>, OnModuleInit {
  readonly kind = 'federated' as const;
  readonly progressUnit = 'rounds' as const;

  constructor(
    private readonly repo: RoundsRepository,
    private readonly rounds: RoundsService,
    private readonly queues: QueueService,
    private readonly catalog: DatasetCatalog,
    private readonly registry: JobKindRegistry,
    @Inject(BLOB_STORE) private readonly blobs: BlobStore,
  ) {}

  onModuleInit(): void {
    this.registry.register(this);
  }

  async submit(spec: CreateFederatedJob): Promise<StoredJob> {
    const dataset = this.catalog.get(spec.dataset);
    const shape = { numFeatures: dataset.numFeatures, numClasses: dataset.manifest.numClasses };
    const initial = initialParameters(spec.model, shape, spec.seed);
    const hash = await this.blobs.putFloat32(initial);
    const e = evaluate(spec.model, initial, dataset.test);
    const metrics: RoundMetrics = { testAccuracy: e.accuracy, testLoss: e.loss, trainLoss: null };
    return this.repo.createJob(spec, { parameterCount: parameterCount(spec.model, shape), hash, metrics });
  }

  agentDataset(spec: CreateFederatedJob): string {
    return spec.dataset;
  }

  /** The round in progress cannot open: fewer than `minAgents` eligible agents. */
  waiting(job: JobOf<'federated'>, agents: AgentCensus): Promise<string | null> {
    return this.rounds.waitingReason(job, agents);
  }

  advance(job: JobOf<'federated'>): Promise<void> {
    return this.rounds.advance(job);
  }

  /** The open round closes without aggregation (closeRound abandons the rounds of a job that is not running). */
  async onCancel(job: JobOf<'federated'>): Promise<void> {
    const open = await this.repo.find(job.id, job.progressDone);
    if (open && open.status !== 'closed') {
      await this.queues.scheduleControl(
        { name: ControlJobName.CloseRound, data: { jobId: job.id, round: open.index, reason: 'deadline' } },
        0,
        'cancel',
      );
    }
  }

  async view(job: JobOf<'federated'>, base: BaseViewOf<'federated'>): Promise<FederatedJobView> {
    const model = await this.repo.model(job.id);
    return {
      ...base,
      currentRound: job.progressDone,
      totalRounds: job.progressTotal,
      parameterCount: model.parameterCount,
      modelHash: model.modelHash,
      initialMetrics: await this.repo.metricsOf(job.id, -1),
      latestMetrics: job.progressDone > 0 ? await this.repo.metricsOf(job.id, job.progressDone - 1) : null,
      policy: await this.repo.policyCounts(job.id),
      evaluation: this.catalog.evaluation(job.spec.dataset),
    };
  }

  async model(job: JobOf<'federated'>): Promise<ModelRef> {
    return { hash: (await this.repo.model(job.id)).modelHash, round: job.progressDone - 1 };
  }

  /** GET /jobs/:id/rounds. */
  async roundsOf(job: JobOf<'federated'>): Promise<RoundView[]> {
    return (await this.repo.list(job.id)).map((r) => ({
      round: r.index,
      status: r.status,
      openedAt: r.openedAt.toISOString(),
      deadlineAt: r.deadlineAt.toISOString(),
      closedAt: r.closedAt?.toISOString() ?? null,
      eligible: r.eligibleAgentIds.length,
      participants: r.participants,
      weightMin: r.weightMin,
      weightMax: r.weightMax,
      normBound: r.normBound,
      rejected: r.rejected,
      clipped: r.clipped,
      inputModelHash: r.inputModelHash,
      outputModelHash: r.outputModelHash,
      metrics: r.metrics == null ? null : RoundMetricsSchema.parse(r.metrics),
    }));
  }

  /**
   * GET /jobs/:id/participation: agents × rounds, 1 participated, 0 eligible but absent, null not asked; with each
   * cell's outcome (a clipped or rejected update shows there), the update's norm and a clipped update's scale.
   */
  async participation(job: JobOf<'federated'>): Promise<ParticipationView> {
    const rows = await this.repo.participation(job.id);
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
          outcomes: new Array<ParticipationOutcome | null>(agents.length).fill(null),
          norms: new Array<number | null>(agents.length).fill(null),
          clipScales: new Array<number | null>(agents.length).fill(null),
        };
        byRound.set(p.round, entry);
      }
      const c = col.get(p.agentId)!;
      entry.row[c] = p.participated ? 1 : 0;
      entry.weights[c] = p.weight;
      entry.outcomes[c] = outcomeOf(p);
      entry.norms[c] = p.updateNorm;
      entry.clipScales[c] = p.clipScale;
      asked[c]++;
      if (p.participated) took[c]++;
    }
    return { agents, rounds: [...byRound.values()], rates: agents.map((_, i) => (asked[i] ? took[i] / asked[i] : 0)) };
  }
}

/** A participation row's outcome as the view names it. */
function outcomeOf(p: { participated: boolean; absence: string | null; clipScale: number | null }): ParticipationOutcome {
  if (p.participated) return p.clipScale === null ? 'participated' : 'clipped';
  return p.absence === 'declined' || p.absence === 'rejected' ? p.absence : 'timeout';
}
