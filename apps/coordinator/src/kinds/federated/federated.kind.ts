import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import {
  arrangeWeights,
  describeModel,
  evaluate,
  initialParameters,
  layeredModel,
  modelJson,
  ModelSpecError,
  validateUpdate,
  type ModelJson,
  type ModelShape,
} from '@flotilla/algorithms';
import {
  ControlJobName,
  RoundMetricsSchema,
  type AgentCensus,
  type CreateFederatedJob,
  type FederatedJobView,
  type Page,
  type ParticipationOutcome,
  type ParticipationView,
  type RoundMetrics,
  type RoundView,
} from '@flotilla/contracts';
import { BLOB_STORE, BlobStore, bytesToFloat32 } from '../../blobs/blob-store';
import { NotFoundError, ValidationError } from '../../common/errors';
import { APP_CONFIG, type AppConfig } from '../../config/config';
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
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'MAX_MODEL_PARAMETERS' | 'MAX_MODEL_MACS'>,
  ) {}

  onModuleInit(): void {
    this.registry.register(this);
  }

  /**
   * A `cnn` or `layers` model is checked against the allowlist and the MAX_MODEL_* limits from its configuration
   * alone (libs/algorithms topology.ts) before any weight is allocated; a model that cannot be built is a 400 naming
   * the layer and the problem.
   */
  async submit(spec: CreateFederatedJob): Promise<StoredJob> {
    const dataset = this.catalog.get(spec.dataset);
    const shape: ModelShape = { numFeatures: dataset.numFeatures, numClasses: dataset.manifest.numClasses, inputShape: dataset.inputShape };
    const model = spec.model;
    let initial: Float32Array;
    if (model.arch === 'cnn' || model.arch === 'layers') {
      const limits = { maxParameters: this.config.MAX_MODEL_PARAMETERS, maxMacs: this.config.MAX_MODEL_MACS };
      const described = orBadRequest(() => describeModel(model, shape, limits));
      const given = model.arch === 'layers' ? model.initialWeights : undefined;
      if (given) {
        const values = await this.uploadedWeights(given.hash);
        initial = orBadRequest(() => arrangeWeights(values, described.weights, given.weights));
      } else {
        initial = initialParameters(model, shape, spec.seed);
      }
    } else {
      initial = initialParameters(model, shape, spec.seed);
    }
    // The walk above mirrors TF.js's own shape rules; should TF.js still refuse the model, that is the model's fault.
    const e =
      model.arch === 'cnn' || model.arch === 'layers'
        ? orBadRequest(() => evaluate(model, initial, dataset.test), true)
        : evaluate(model, initial, dataset.test);
    const hash = await this.blobs.putFloat32(initial);
    const metrics: RoundMetrics = { testAccuracy: e.accuracy, testLoss: e.loss, trainLoss: null };
    return this.repo.createJob(spec, { parameterCount: initial.length, hash, metrics });
  }

  /** An initial-weights blob (POST /models/weights): float32 values, all finite. */
  private async uploadedWeights(hash: string): Promise<Float32Array> {
    let bytes: Buffer;
    try {
      bytes = await this.blobs.get(hash);
    } catch (e) {
      if (e instanceof NotFoundError) {
        throw new ValidationError(`model.initialWeights.hash: no weights were uploaded under ${hash} (POST /api/v1/models/weights)`);
      }
      throw e;
    }
    if (bytes.byteLength % 4 !== 0) throw new ValidationError(`model.initialWeights: ${bytes.byteLength} bytes are not float32 values`);
    const values = bytesToFloat32(bytes);
    const problem = validateUpdate(values, values.length);
    if (problem) throw new ValidationError(`model.initialWeights: the weights are not usable: ${problem}`);
    return values;
  }

  /**
   * model.json of checkpoint `round` (default: the latest model): the model as TF.js layers (softmax and mlp as Dense
   * layers), its weights in one file, `weightsPath`, which is the checkpoint's float32 blob as it is.
   */
  async modelJson(job: JobOf<'federated'>, round: number | undefined, weightsPath: string): Promise<{ json: ModelJson; round: number }> {
    const { round: r } = await this.checkpoint(job, round);
    const dataset = this.catalog.get(job.spec.dataset);
    const shape: ModelShape = { numFeatures: dataset.numFeatures, numClasses: dataset.manifest.numClasses, inputShape: dataset.inputShape };
    return { json: modelJson(layeredModel(job.spec.model, shape), weightsPath), round: r };
  }

  /** The float32 parameters of checkpoint `round` (default: the latest model), as model.json's weights file. */
  async checkpointWeights(job: JobOf<'federated'>, round: number | undefined): Promise<{ bytes: Buffer; hash: string; round: number }> {
    const c = await this.checkpoint(job, round);
    return { bytes: await this.blobs.get(c.hash), ...c };
  }

  private async checkpoint(job: JobOf<'federated'>, round: number | undefined): Promise<{ hash: string; round: number }> {
    const r = round ?? job.progressDone - 1;
    const hash = await this.repo.checkpointHash(job.id, r);
    if (!hash) {
      throw new NotFoundError(
        `Job ${job.id} has no checkpoint of round ${r}: checkpoints are -1 (the initial model) to ${job.progressDone - 1}`,
      );
    }
    return { hash, round: r };
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
  /** A page of a job's rounds (GET /jobs/:id/rounds), and how many it has. */
  async roundsOf(job: JobOf<'federated'>, page: Page): Promise<{ items: RoundView[]; total: number }> {
    const { items, total } = await this.repo.list(job.id, page);
    const views = items.map((r): RoundView => ({
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
    return { items: views, total };
  }

  /**
   * GET /jobs/:id/participation: agents × rounds, 1 participated, 0 eligible but absent, null not asked; with each
   * cell's outcome (a clipped or rejected update shows there), the update's norm and a clipped update's scale.
   */
  async participation(
    job: JobOf<'federated'>,
    rounds: Page,
    agentPage: Page,
  ): Promise<{ view: ParticipationView; totalRounds: number; totalAgents: number }> {
    const page = await this.repo.participation(job.id, rounds, agentPage);
    const agents = page.agents.map((a) => a.agentId);
    const col = new Map(agents.map((a, i) => [a, i]));
    const byRound = new Map<number, ParticipationView['rounds'][number]>();
    for (const p of page.rows) {
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
    }
    // Rates count every round the agent was asked in, not only the page's.
    return {
      view: { agents, rounds: [...byRound.values()], rates: page.agents.map((a) => (a.asked ? a.took / a.asked : 0)) },
      totalRounds: page.totalRounds,
      totalAgents: page.totalAgents,
    };
  }
}

/**
 * Runs a model check; a ModelSpecError (the submitter's model cannot be built) becomes a 400 naming the layer, and
 * with `anyError` so does whatever TF.js throws building or running a model the checks accepted.
 */
function orBadRequest<T>(check: () => T, anyError = false): T {
  try {
    return check();
  } catch (e) {
    if (e instanceof ModelSpecError) throw new ValidationError(`model: ${e.message}`, { field: 'model', layer: e.layer ?? null });
    if (anyError && e instanceof Error)
      throw new ValidationError(`model: TF.js cannot run it: ${e.message.slice(0, 300)}`, { field: 'model' });
    throw e;
  }
}

/** A participation row's outcome as the view names it. */
function outcomeOf(p: { participated: boolean; absence: string | null; clipScale: number | null }): ParticipationOutcome {
  if (p.participated) return p.clipScale === null ? 'participated' : 'clipped';
  return p.absence === 'declined' || p.absence === 'rejected' ? p.absence : 'timeout';
}
