import { z } from 'zod';
import { DatasetNameSchema, FiniteSchema, SeedSchema, Sha256Schema } from '../common';
import type { JobViewBase } from '../jobs.schema';

/**
 * Federated jobs: FedAU (or a baseline rule) over rounds. Each round the coordinator asks the online agents that
 * hold the dataset to train ({@link TrainTask}), aggregates the updates they upload and evaluates the new model on
 * its held-out split (docs/algorithms/fedau.md).
 */

/** The built-in model architectures. Sizes of input and output come from the dataset. */
export const ModelSpecSchema = z.discriminatedUnion('arch', [
  z.strictObject({ arch: z.literal('softmax') }),
  // Up to 16,384 hidden units: 1.2M parameters on 64 features (75·H + 10 on the digits), a 4.9 MB model.
  z.strictObject({ arch: z.literal('mlp'), hidden: z.number().int().min(1).max(16_384).default(32) }),
]);
export type ModelSpec = z.infer<typeof ModelSpecSchema>;

/**
 * The server aggregation rule of a federated job (docs/algorithms/fedau.md; libs/algorithms `createAggregationRule`).
 * `known-p` is not offered here: it needs every client's true participation probability, which only a
 * simulation knows (`npm run simulate`).
 */
export const AggregationSchema = z.discriminatedUnion('rule', [
  z.strictObject({
    rule: z.literal('fedau'),
    /**
     * FedAU interval cutoff K (docs/algorithms/fedau.md). null means no cutoff (K = ∞, the paper's default);
     * 50 is the paper's second variant.
     */
    cutoffK: z.number().int().min(1).nullable().default(null),
  }),
  /** FedAvg over the participants (biased towards frequent participants). */
  z.strictObject({ rule: z.literal('avg-participating') }),
  /** FedAvg dividing by all N clients. */
  z.strictObject({ rule: z.literal('avg-all') }),
  /** MIFA: keeps every client's latest update (d floats per client on the coordinator). */
  z.strictObject({ rule: z.literal('mifa') }),
  /** FedVarp: variance reduction with per-client memories (d floats per client on the coordinator). */
  z.strictObject({ rule: z.literal('fedvarp') }),
]);
export type Aggregation = z.infer<typeof AggregationSchema>;

export const CreateFederatedJobSchema = z.strictObject({
  kind: z.literal('federated'),
  name: z.string().min(1).max(120).optional(),
  dataset: DatasetNameSchema,
  model: ModelSpecSchema,
  rounds: z.number().int().min(1).max(100_000),
  localSteps: z.number().int().min(1).max(10_000).default(5),
  batchSize: z.number().int().min(1).max(4096).default(16),
  localLr: z.number().positive().max(100).default(0.1),
  globalLr: z.number().positive().max(1000).default(1),
  roundDeadlineMs: z.number().int().min(100).max(86_400_000).default(30_000),
  aggregation: AggregationSchema.default({ rule: 'fedau', cutoffK: null }),
  /** Eligible agents are the online agents that hold `dataset`; the job waits for at least this many. */
  minAgents: z.number().int().min(1).max(100_000).default(1),
  seed: SeedSchema.default(0),
});
export type CreateFederatedJob = z.infer<typeof CreateFederatedJobSchema>;

/** What an agent receives for one round of one federated job (a work item of kind `train`). */
export const TrainTaskSchema = z.strictObject({
  jobId: z.string().uuid(),
  round: z.number().int().min(0),
  /** sha256 of the global weights the agent must start from (GET /api/v1/blobs/:hash). */
  modelHash: Sha256Schema,
  /** Number of float32 parameters; the agent checks the downloaded blob against it. */
  parameterCount: z.number().int().min(1),
  model: ModelSpecSchema,
  dataset: DatasetNameSchema,
  /** Features are scaled to [0, 1] with this range (from the dataset manifest), identically everywhere. */
  featureRange: z.tuple([FiniteSchema, FiniteSchema]),
  numClasses: z.number().int().min(2),
  localSteps: z.number().int().min(1),
  batchSize: z.number().int().min(1),
  localLr: z.number().positive(),
  /** ISO timestamp after which an upload is refused (the round is closed without it). */
  deadline: z.string().datetime(),
  /** Seed for the agent's minibatch order this round (reproducibility). */
  seed: SeedSchema,
});
export type TrainTask = z.infer<typeof TrainTaskSchema>;

/** Metadata of an update upload, sent as query parameters next to the binary body. */
export const UpdateMetaSchema = z.strictObject({
  exampleCount: z.coerce.number().int().min(0),
  trainLoss: z.coerce.number().refine(Number.isFinite, 'must be finite'),
  durationMs: z.coerce.number().int().min(0),
});
export type UpdateMeta = z.infer<typeof UpdateMetaSchema>;

export const DeclineSchema = z.strictObject({
  reason: z.enum(['unavailable', 'busy', 'error']).default('unavailable'),
  message: z.string().max(500).optional(),
});
export type Decline = z.infer<typeof DeclineSchema>;

/** A global model's quality on the coordinator's held-out split (stored with every checkpoint and closed round). */
export const RoundMetricsSchema = z.strictObject({
  testAccuracy: FiniteSchema,
  testLoss: FiniteSchema,
  /** Mean local training loss of the participants (null when nobody participated, and for the initial model). */
  trainLoss: FiniteSchema.nullable(),
});
export type RoundMetrics = z.infer<typeof RoundMetricsSchema>;

export interface RoundView {
  round: number;
  status: 'open' | 'closing' | 'closed';
  openedAt: string;
  deadlineAt: string;
  closedAt: string | null;
  eligible: number;
  participants: number;
  weightMin: number | null;
  weightMax: number | null;
  inputModelHash: string;
  outputModelHash: string | null;
  metrics: RoundMetrics | null;
}

export interface ParticipationView {
  agents: string[];
  /** rows[r][a]: 1 participated, 0 eligible but absent, null not eligible. */
  rounds: { round: number; row: (0 | 1 | null)[]; weights: (number | null)[] }[];
  rates: number[];
}

/** GET /jobs/:id of a federated job: the common fields and the round loop's state. */
export interface FederatedJobView extends JobViewBase {
  kind: 'federated';
  spec: CreateFederatedJob;
  /** Rounds closed so far (the index of the round in progress), `rounds` when finished. */
  currentRound: number;
  totalRounds: number;
  parameterCount: number;
  /** sha256 of the latest global model (GET /jobs/:id/model). */
  modelHash: string;
  initialMetrics: RoundMetrics | null;
  latestMetrics: RoundMetrics | null;
}
