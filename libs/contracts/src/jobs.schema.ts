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

const DatasetName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'lower-case letters, digits and dashes');
const NonNeg = z.number().min(0).max(1e9);

/** λ_k of a bilevel run (spec bilevel-penalty.md §4.3; libs/algorithms `PenaltySchedule`). */
export const PenaltyScheduleSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('fixed'), lambda: NonNeg }),
  z.strictObject({ kind: z.literal('linear'), start: NonNeg, end: NonNeg, steps: z.number().int().min(1).max(10_000_000) }),
  z
    .strictObject({ kind: z.literal('polynomial'), start: NonNeg, rate: NonNeg, power: z.number().positive().max(10), max: NonNeg.optional() })
    .refine((p) => p.max === undefined || p.max >= p.start, { message: 'max must be >= start', path: ['max'] }),
]);
export type PenaltyScheduleSpec = z.infer<typeof PenaltyScheduleSchema>;

/** The problems a bilevel job can name (libs/algorithms `BilevelProblemDef`). */
export const BilevelProblemSchema = z.discriminatedUnion('kind', [
  /** The closed-form test problems of spec §7: the answer is known, so the result reports the error to it. */
  z.strictObject({ kind: z.literal('test-case'), name: z.enum(['T1', 'T2', 'T3', 'T4', 'T5']) }),
  /**
   * Data hyper-cleaning (spec §8.1) on a dataset the agents hold: each agent splits its file with `dataSeed`
   * into train / validation / test rows and flips `corruptFraction` of the training labels. Both chains of a run
   * go only to agents whose file has the same sha256, so they see the same problem.
   */
  z.strictObject({
    kind: z.literal('hyper-cleaning'),
    dataset: DatasetName,
    trainSize: z.number().int().min(2).max(100_000).default(500),
    validationSize: z.number().int().min(1).max(100_000).default(200),
    testSize: z.number().int().min(1).max(100_000).default(300),
    corruptFraction: z.number().min(0).max(1).default(0.5),
    l2: z.number().min(0).max(1e6).default(1e-3),
    dataSeed: z.number().int().min(0).max(2 ** 31 - 1).default(0),
  }),
]);
export type BilevelProblemSpec = z.infer<typeof BilevelProblemSchema>;

/** The methods of spec bilevel-penalty.md §4–§6; all run on agents (libs/algorithms `planDistributedRound`). */
export const BILEVEL_METHOD_NAMES = ['penalty-double-loop', 'penalty-single-loop', 'v-pbgd', 'f2sa'] as const;

export const CreateBilevelJobSchema = z
  .strictObject({
    kind: z.literal('bilevel'),
    name: z.string().min(1).max(120).optional(),
    problem: BilevelProblemSchema,
    /** The job runs every combination methods × seeds × penalties as an independent run (a sweep). */
    methods: z.array(z.enum(BILEVEL_METHOD_NAMES)).min(1).max(4).default(['penalty-double-loop']),
    seeds: z.array(z.number().int().min(0).max(2 ** 31 - 1)).min(1).max(16).default([0]),
    penalties: z.array(PenaltyScheduleSchema).min(1).max(8).default([{ kind: 'fixed', lambda: 10 }]),
    /** Outer iterations of each run (its budget); a run stops earlier when `tolerance` is met. */
    iterations: z.number().int().min(1).max(100_000).default(100),
    /** Inner steps T of each chain per outer iteration (double loop, F2SA; V-PBGD's w-chain). */
    innerSteps: z.number().int().min(1).max(10_000).default(10),
    /**
     * Base steps (spec §4.1): x and y steps are scaled by s(λ); F2SA's x-step ratio is stepX / stepY; V-PBGD's
     * w-chain step is stepZ.
     */
    stepX: z.number().positive().max(1e9).default(0.5),
    stepY: z.number().positive().max(1e6).default(0.5),
    stepZ: z.number().positive().max(1e6).default(0.5),
    /** Single loop: momentum β ∈ (0, 1] of the recursive estimators (spec §4.2; 1 = plain SGD). */
    momentum: z.number().gt(0).max(1).default(0.1),
    /** Single loop: one sample at (x, y) and (x, z) ('common', spec §4.2) or independent ones. */
    sampling: z.enum(['common', 'independent']).default('common'),
    stepScaling: z.enum(['inverse-one-plus', 'inverse-capped', 'none']).default('inverse-one-plus'),
    /** Stop a run once λ is final and its stationarity and both chain residuals are ≤ tolerance (spec §4.4); 0 never. */
    tolerance: z.number().min(0).max(1e6).default(0),
    /** A chain task not answered within this time goes to another agent. */
    taskTimeoutMs: z.number().int().min(100).max(86_400_000).default(60_000),
  })
  .refine((j) => j.methods.length * j.seeds.length * j.penalties.length <= 64, {
    message: 'at most 64 runs (methods × seeds × penalties)',
    path: ['seeds'],
  });
export type CreateBilevelJob = z.infer<typeof CreateBilevelJobSchema>;

/** One discriminated union: each job kind is a member. */
export const CreateJobSchema = z.discriminatedUnion('kind', [CreateFederatedJobSchema, CreateBilevelJobSchema]);
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

export type JobKind = CreateJob['kind'];

export interface JobView {
  id: string;
  kind: JobKind;
  name: string | null;
  status: JobStatus;
  spec: CreateJob;
  currentRound: number;
  totalRounds: number;
  parameterCount: number;
  modelHash: string;
  initialMetrics: RoundMetrics | null;
  latestMetrics: RoundMetrics | null;
  error: string | null;
  /** Final result of a NAS or bilevel job (null for federated jobs and while running). */
  result: unknown;
  createdAt: string;
  finishedAt: string | null;
}

/** One run of a bilevel job (GET /jobs/:id/bilevel). */
export interface BilevelRunView {
  run: number;
  method: string;
  seed: number;
  penalty: PenaltyScheduleSpec;
  status: 'running' | 'completed';
  iteration: number;
  stopReason: string | null;
  lambda: number;
  oracleCalls: number;
  /** Final x when dim(x) ≤ 100 (test cases); hyper-cleaning reports the cleaner metrics instead. */
  x: number[] | null;
  /** |x − x*| / ‖x − x*‖ for test cases with a known solution. */
  errorToSolution: number | null;
  testAccuracy: number | null;
  cleaner: { precision: number; recall: number; f1: number; keptFraction: number } | null;
  curve: BilevelPointView[];
}

export interface BilevelPointView {
  iteration: number;
  lambda: number;
  gradXNorm: number;
  stationarity: number;
  upperObjective: number | null;
  testAccuracy: number | null;
  oracleCalls: number;
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
