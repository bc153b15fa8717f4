import { z } from 'zod';

/** The built-in model architectures. Sizes of input and output come from the dataset. */
export const ModelSpecSchema = z.discriminatedUnion('arch', [
  z.strictObject({ arch: z.literal('softmax') }),
  z.strictObject({ arch: z.literal('mlp'), hidden: z.number().int().min(1).max(1024).default(32) }),
]);
export type ModelSpec = z.infer<typeof ModelSpecSchema>;

/**
 * The server aggregation rule of a federated job (spec fedau.md §3, §5; libs/algorithms `createAggregationRule`).
 * `known-p` is not offered here: it needs every client's true participation probability, which only a
 * simulation knows (`npm run simulate`).
 */
export const AggregationSchema = z.discriminatedUnion('rule', [
  z.strictObject({
    rule: z.literal('fedau'),
    /**
     * FedAU interval cutoff K (spec fedau.md §3.2). null means no cutoff (K = ∞, the paper's default);
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

export const JOB_STATUSES = ['running', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const CreateFederatedJobSchema = z.strictObject({
  kind: z.literal('federated'),
  name: z.string().min(1).max(120).optional(),
  dataset: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'lower-case letters, digits and dashes'),
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
  seed: z.number().int().min(0).max(2 ** 31 - 1).default(0),
});
export type CreateFederatedJob = z.infer<typeof CreateFederatedJobSchema>;

/** One discriminated union so NAS and bilevel jobs plug in as new members. */
export const CreateJobSchema = z.discriminatedUnion('kind', [CreateFederatedJobSchema]);
export type CreateJob = z.infer<typeof CreateJobSchema>;

export const ListJobsQuerySchema = z.strictObject({
  status: z.enum(JOB_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});
export type ListJobsQuery = z.infer<typeof ListJobsQuerySchema>;

export interface RoundMetrics {
  testAccuracy: number;
  testLoss: number;
  /** Mean local training loss of the participants (null when nobody participated). */
  trainLoss: number | null;
}

export interface JobView {
  id: string;
  kind: 'federated';
  name: string | null;
  status: JobStatus;
  spec: CreateFederatedJob;
  currentRound: number;
  totalRounds: number;
  parameterCount: number;
  modelHash: string;
  initialMetrics: RoundMetrics | null;
  latestMetrics: RoundMetrics | null;
  error: string | null;
  createdAt: string;
  finishedAt: string | null;
}

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
