import { jsonDepth, TOPOLOGY_LIMITS, type ModelArch, type RobustAggregation, type UpdatePolicy } from '@flotilla/algorithms';
import { z } from 'zod';
import { DatasetNameSchema, FiniteSchema, int4, safeText, SeedSchema, Sha256Schema } from '../common';
import type { EvaluationSource } from '../datasets';
import { placementFields } from '../placement';
import type { JobViewBase } from '../jobs.schema';

/**
 * Federated jobs: FedAU (or a baseline rule) over rounds. Each round the coordinator asks the online agents that
 * hold the dataset and match the job's placement to train ({@link TrainTask}), aggregates the updates they upload and
 * evaluates the new model on its held-out split (docs/algorithms/fedau.md).
 */

/**
 * A `layers` model's topology: the `modelTopology` object of a TF.js model.json (or the whole model.json). Its size
 * and nesting are bounded here, before anything walks it; the coordinator then checks every layer against the
 * allowlist and its limits (libs/algorithms topology.ts) before any weight exists.
 */
export const TopologySchema = z.record(z.string(), z.unknown()).superRefine((t, ctx) => {
  // Depth first: it stops counting at the limit, where JSON.stringify of a very deep value would recurse through it.
  if (jsonDepth(t, TOPOLOGY_LIMITS.maxDepth) > TOPOLOGY_LIMITS.maxDepth) {
    ctx.addIssue({ code: 'custom', message: `the topology is nested deeper than ${TOPOLOGY_LIMITS.maxDepth} levels` });
  } else if (JSON.stringify(t).length > TOPOLOGY_LIMITS.maxBytes) {
    ctx.addIssue({ code: 'custom', message: `the topology's JSON is longer than ${TOPOLOGY_LIMITS.maxBytes} characters` });
  }
});

/**
 * Initial weights of a `layers` model: a float32 blob uploaded with POST /api/v1/models/weights (a model.json's
 * weight files concatenated), and optionally the `weights` entries of its weightsManifest (all groups in order):
 * given, they are matched to the model's weights by name and shape (and reordered when they come in another order).
 */
export const InitialWeightsSchema = z.strictObject({
  hash: Sha256Schema,
  weights: z
    .array(
      z.strictObject({
        name: z.string().min(1).max(200),
        shape: z
          .array(
            z
              .number()
              .int()
              .min(0)
              .max(2 ** 31),
          )
          .max(8),
        dtype: z.literal('float32', { message: 'only float32 weights are supported' }),
      }),
    )
    .max(1024)
    .optional(),
});
export type InitialWeights = z.infer<typeof InitialWeightsSchema>;

/** The model architectures (README "Models"). Sizes of input and output come from the dataset. */
export const ModelSpecSchema = z.discriminatedUnion('arch', [
  z.strictObject({ arch: z.literal('softmax') }),
  // Up to 16,384 hidden units: 1.2M parameters on 64 features (75·H + 10 on the digits), a 4.9 MB model.
  z.strictObject({ arch: z.literal('mlp'), hidden: z.number().int().min(1).max(16_384).default(32) }),
  /** conv → max-pool → conv → max-pool → flatten → dense(relu) → dense, 'same' padding: for datasets of images. */
  z.strictObject({
    arch: z.literal('cnn'),
    /** Filters of the two convolutions (default [16, 32]). */
    filters: z.tuple([z.number().int().min(1).max(1024), z.number().int().min(1).max(1024)]).default([16, 32]),
    /** Side of the square kernels (default 3). */
    kernelSize: z.number().int().min(1).max(15).default(3),
    /** Units of the hidden dense layer (default 64). */
    dense: z.number().int().min(1).max(16_384).default(64),
  }),
  /** A Sequential TF.js LayersModel (README "Models": the allowed layers). */
  z.strictObject({ arch: z.literal('layers'), topology: TopologySchema, initialWeights: InitialWeightsSchema.optional() }),
]) satisfies z.ZodType<ModelArch>;
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
    cutoffK: int4(1).nullable().default(null),
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

/**
 * The update policy of a job's default: updates whose L2 norm exceeds 10 × the round's lower-median norm are
 * rejected. Honest updates of the demo stay below 4.4 × (docs/algorithms/fedau.md §11.2), so it judges nothing of
 * theirs, while an update that is orders of magnitude larger never reaches the model.
 */
export const DEFAULT_UPDATE_POLICY: UpdatePolicy = Object.freeze({
  bound: Object.freeze({ kind: 'relative' as const, factor: 10 }),
  action: 'reject' as const,
});

/**
 * A federated job's update policy (docs/algorithms/fedau.md §11; libs/algorithms `decideUpdates`): a bound on each
 * update's L2 norm and what to do beyond it. Whatever the policy, an update whose norm does not fit in a float32 is
 * rejected.
 */
export const UpdatePolicySchema = z.strictObject({
  /**
   * `{kind: "relative", factor}` (default factor 10): at most factor × the lower median of the round's update norms,
   * decided when the round closes. `{kind: "absolute", maxNorm}`: at most maxNorm, decided when the update arrives
   * (a rejected upload is answered 422). `{kind: "none"}`: no bound.
   */
  bound: z
    .discriminatedUnion('kind', [
      z.strictObject({ kind: z.literal('relative'), factor: z.number().min(1).max(1e6) }),
      z.strictObject({ kind: z.literal('absolute'), maxNorm: z.number().positive().max(1e38) }),
      z.strictObject({ kind: z.literal('none') }),
    ])
    .default(DEFAULT_UPDATE_POLICY.bound),
  /** `reject` (default): the update is not aggregated and its agent is a non-participant of the round (`rejected`). `clip`: scaled down to the bound. */
  action: z.enum(['reject', 'clip']).default(DEFAULT_UPDATE_POLICY.action),
}) satisfies z.ZodType<UpdatePolicy>;

/**
 * Robust aggregation (docs/algorithms/fedau.md §11.3): per coordinate, the weighted median or trimmed mean of the
 * round's updates instead of their weighted mean. It bounds what a minority of clients can do to any coordinate, at
 * the price of FedAU's unbiasedness (a median of non-IID clients' updates is not their mean). Not for `mifa` and
 * `fedvarp`.
 */
export const RobustAggregationSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('median') }),
  /** `trim`: the fraction of the total weight cut from each end of every coordinate's sorted values, in (0, 0.5). */
  z.strictObject({ kind: z.literal('trimmed-mean'), trim: z.number().gt(0).lt(0.5) }),
]) satisfies z.ZodType<RobustAggregation>;

export const CreateFederatedJobSchema = z
  .strictObject({
    kind: z.literal('federated'),
    name: safeText().min(1).max(120).optional(),
    /** Which agents may compute for the job besides holding its data: `agentSelector` (labels) and `backend`. */
    ...placementFields,
    dataset: DatasetNameSchema,
    model: ModelSpecSchema,
    rounds: z.number().int().min(1).max(100_000),
    localSteps: z.number().int().min(1).max(10_000).default(5),
    batchSize: z.number().int().min(1).max(4096).default(16),
    localLr: z.number().positive().max(100).default(0.1),
    /** Local SGD momentum μ in [0, 1) (default 0: plain SGD; docs/algorithms/models.md). */
    momentum: z.number().min(0).lt(1).default(0),
    /** Local L2 weight decay λ (default 0), on every parameter. */
    weightDecay: z.number().min(0).max(10).default(0),
    globalLr: z.number().positive().max(1000).default(1),
    roundDeadlineMs: z.number().int().min(100).max(86_400_000).default(30_000),
    aggregation: AggregationSchema.default({ rule: 'fedau', cutoffK: null }),
    /** Which updates a round aggregates (default: {@link DEFAULT_UPDATE_POLICY}). */
    updatePolicy: UpdatePolicySchema.default(DEFAULT_UPDATE_POLICY),
    /** null (default): the rule's weighted mean; else a robust combination of the updates. */
    robustAggregation: RobustAggregationSchema.nullable().default(null),
    /**
     * Eligible agents are the online agents that hold `dataset` and match `agentSelector` and `backend`; the job waits
     * for at least this many.
     */
    minAgents: z.number().int().min(1).max(100_000).default(1),
    seed: SeedSchema.default(0),
  })
  .refine((j) => j.robustAggregation === null || (j.aggregation.rule !== 'mifa' && j.aggregation.rule !== 'fedvarp'), {
    message: 'robust aggregation is not defined for mifa and fedvarp (they aggregate memories of absent clients)',
    path: ['robustAggregation'],
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
  /** One example's shape (the dataset's inputShape; `cnn` and `layers` need it). Absent: [number of features]. */
  inputShape: z.array(z.number().int().min(1)).min(1).max(4).optional(),
  localSteps: z.number().int().min(1),
  batchSize: z.number().int().min(1),
  localLr: z.number().positive(),
  /** Local momentum and weight decay (absent: 0, plain SGD). */
  momentum: z.number().min(0).lt(1).optional(),
  weightDecay: z.number().min(0).optional(),
  /** ISO timestamp after which an upload is refused (the round is closed without it). */
  deadline: z.string().datetime(),
  /** Seed for the agent's minibatch order this round (reproducibility). */
  seed: SeedSchema,
});
export type TrainTask = z.infer<typeof TrainTaskSchema>;

/** A round index in a path (`…/rounds/:round/…`): decimal digits, at most what the rounds table's int4 holds. */
export const RoundParam = z
  .string()
  .regex(/^\d{1,10}$/, 'must be a round index (decimal digits)')
  .transform(Number)
  .pipe(int4());

/**
 * `?round=r` of the model export (GET /jobs/:id/model/model.json and …/weights.bin): checkpoint r, −1 being the
 * initial model; absent, the latest.
 */
export const ModelExportQuerySchema = z.strictObject({
  round: z
    .string()
    .regex(/^-?\d{1,10}$/, 'must be a round index (-1 for the initial model)')
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(-1)
        .max(2 ** 31 - 1),
    )
    .optional(),
});
export type ModelExportQuery = z.infer<typeof ModelExportQuerySchema>;

/** Metadata of an update upload, sent as query parameters next to the binary body (integers as the columns hold them). */
export const UpdateMetaSchema = z.strictObject({
  exampleCount: z.coerce.number().pipe(int4()),
  trainLoss: z.coerce.number().refine(Number.isFinite, 'must be finite'),
  durationMs: z.coerce.number().pipe(int4()),
});
export type UpdateMeta = z.infer<typeof UpdateMetaSchema>;

export const DeclineSchema = z.strictObject({
  reason: z.enum(['unavailable', 'busy', 'error']).default('unavailable'),
  message: safeText().max(500).optional(),
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
  /** The largest update norm the round admitted unchanged (factor × reference, or maxNorm); null when none applied or not closed. */
  normBound: number | null;
  /** Updates the update policy rejected, and clipped, in this round. */
  rejected: number;
  clipped: number;
  inputModelHash: string;
  outputModelHash: string | null;
  metrics: RoundMetrics | null;
}

/**
 * What became of an eligible agent in a round: `participated` (aggregated as sent), `clipped` (aggregated, scaled down
 * to the bound), `rejected` (its update refused by the update policy: a non-participant), `declined`, `timeout`.
 */
export type ParticipationOutcome = 'participated' | 'clipped' | 'rejected' | 'declined' | 'timeout';

export interface ParticipationView {
  agents: string[];
  /**
   * row[a]: 1 participated (clipped included), 0 eligible but absent (rejected included), null not eligible;
   * weights[a] the FedAU weight ω; outcomes[a] as {@link ParticipationOutcome}; norms[a] the L2 norm of the update it
   * sent (null without one); clipScales[a] the multiplier of a clipped update (else null).
   */
  rounds: {
    round: number;
    row: (0 | 1 | null)[];
    weights: (number | null)[];
    outcomes: (ParticipationOutcome | null)[];
    norms: (number | null)[];
    clipScales: (number | null)[];
  }[];
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
  /** Updates the update policy rejected, and clipped, over all closed rounds. */
  policy: { rejected: number; clipped: number };
  /**
   * Where `testAccuracy`/`testLoss` come from: the coordinator's held-out split of the dataset (null when the dataset
   * has left the catalogue). Agents' files exclude those rows only when they were cut with `flotilla data split`.
   */
  evaluation: EvaluationSource | null;
}
