import type {
  BilevelProblemDef,
  BilevelRoundPlan,
  ChainSpec,
  DistributedRound,
  GradientReport,
  GradientRequest,
  YChainTaskResult,
  ZChainTaskResult,
} from '@flotilla/algorithms';
import { z } from 'zod';
import { DatasetNameSchema, FiniteSchema, finiteVector, int4, safeText, SeedSchema, Sha256Schema } from '../common';
import { placementFields } from '../placement';
import type { JobViewBase } from '../jobs.schema';
import { defineTask } from '../tasks';

/**
 * Bilevel jobs: first-order penalty methods (docs/algorithms/bilevel.md). The coordinator owns x, λ, the steps and
 * the stopping rule of every run; agents evaluate the oracles on their data as tasks.
 */

const NonNeg = z.number().min(0).max(1e9);

/** λ_k of a bilevel run (docs/algorithms/bilevel.md; libs/algorithms `PenaltySchedule`). */
export const PenaltyScheduleSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('fixed'), lambda: NonNeg }),
  z.strictObject({ kind: z.literal('linear'), start: NonNeg, end: NonNeg, steps: z.number().int().min(1).max(10_000_000) }),
  z
    .strictObject({
      kind: z.literal('polynomial'),
      start: NonNeg,
      rate: NonNeg,
      power: z.number().positive().max(10),
      max: NonNeg.optional(),
    })
    .refine((p) => p.max === undefined || p.max >= p.start, { message: 'max must be >= start', path: ['max'] }),
]);
export type PenaltyScheduleSpec = z.infer<typeof PenaltyScheduleSchema>;

/** The problems a bilevel job can name (libs/algorithms `BilevelProblemDef`). */
export const BilevelProblemSchema = z.discriminatedUnion('kind', [
  /** The closed-form test problems: the answer is known, so the result reports the error to it. */
  z.strictObject({ kind: z.literal('test-case'), name: z.enum(['T1', 'T2', 'T3', 'T4', 'T5']) }),
  /**
   * Data hyper-cleaning on a dataset the agents hold: each agent splits its file with `dataSeed` into
   * train / validation / test rows and flips `corruptFraction` of the training labels. Both chains of a run go only
   * to agents whose file has the same sha256, so they see the same problem.
   */
  z.strictObject({
    kind: z.literal('hyper-cleaning'),
    dataset: DatasetNameSchema,
    trainSize: z.number().int().min(2).max(100_000).default(500),
    validationSize: z.number().int().min(1).max(100_000).default(200),
    testSize: z.number().int().min(1).max(100_000).default(300),
    corruptFraction: z.number().min(0).max(1).default(0.5),
    l2: z.number().min(0).max(1e6).default(1e-3),
    dataSeed: SeedSchema.default(0),
  }),
]) satisfies z.ZodType<BilevelProblemDef>;

/** The methods of docs/algorithms/bilevel.md; all run on agents (libs/algorithms `planDistributedRound`). */
export const BILEVEL_METHOD_NAMES = ['penalty-double-loop', 'penalty-single-loop', 'v-pbgd', 'f2sa'] as const;
export type BilevelMethodName = (typeof BILEVEL_METHOD_NAMES)[number];

export const CreateBilevelJobSchema = z
  .strictObject({
    kind: z.literal('bilevel'),
    name: safeText().min(1).max(120).optional(),
    /** Which agents may compute for the job besides holding its data: `agentSelector` (labels) and `backend`. */
    ...placementFields,
    problem: BilevelProblemSchema,
    /** The job runs every combination methods × seeds × penalties as an independent run (a sweep). */
    methods: z.array(z.enum(BILEVEL_METHOD_NAMES)).min(1).max(4).default(['penalty-double-loop']),
    seeds: z.array(SeedSchema).min(1).max(16).default([0]),
    penalties: z
      .array(PenaltyScheduleSchema)
      .min(1)
      .max(8)
      .default([{ kind: 'fixed', lambda: 10 }]),
    /** Outer iterations of each run (its budget); a run stops earlier when `tolerance` is met. */
    iterations: z.number().int().min(1).max(100_000).default(100),
    /** Inner steps T of each chain per outer iteration (double loop, F2SA; V-PBGD's w-chain). */
    innerSteps: z.number().int().min(1).max(10_000).default(10),
    /**
     * Base steps: x and y steps are scaled by s(λ); F2SA's x-step ratio is stepX / stepY; V-PBGD's w-chain step is
     * stepZ.
     */
    stepX: z.number().positive().max(1e9).default(0.5),
    stepY: z.number().positive().max(1e6).default(0.5),
    stepZ: z.number().positive().max(1e6).default(0.5),
    /** Single loop: momentum β ∈ (0, 1] of the recursive estimators (1 = plain SGD). */
    momentum: z.number().gt(0).max(1).default(0.1),
    /** Single loop: one sample at (x, y) and (x, z) ('common') or independent ones. */
    sampling: z.enum(['common', 'independent']).default('common'),
    stepScaling: z.enum(['inverse-one-plus', 'inverse-capped', 'none']).default('inverse-one-plus'),
    /** Stop a run once λ is final and its stationarity and both chain residuals are ≤ tolerance; 0 never. */
    tolerance: z.number().min(0).max(1e6).default(0),
    /** A chain task not answered within this time goes to another agent. */
    taskTimeoutMs: z.number().int().min(100).max(86_400_000).default(60_000),
  })
  .refine((j) => j.methods.length * j.seeds.length * j.penalties.length <= 64, {
    message: 'at most 64 runs (methods × seeds × penalties)',
    path: ['seeds'],
  });
export type CreateBilevelJob = z.infer<typeof CreateBilevelJobSchema>;

/** A run's fixed settings, stored with it; `dataHash` (hyper-cleaning) is pinned when its first task is dispatched. */
export const BilevelRunConfigSchema = z.strictObject({
  method: z.enum(BILEVEL_METHOD_NAMES),
  seed: SeedSchema,
  penalty: PenaltyScheduleSchema,
  dataHash: z.string().optional(),
});
export type BilevelRunConfig = z.infer<typeof BilevelRunConfigSchema>;

const UnitSchema = z.number().min(0).max(1);
const CleanerSchema = z.strictObject({ precision: UnitSchema, recall: UnitSchema, f1: UnitSchema, keptFraction: UnitSchema });

/**
 * Metrics an agent adds to a y-chain or gradient result: f(x_k, y), the test accuracy of y and the cleaner metrics
 * of x_k (hyper-cleaning), where y is the chain's end point y_{k+1} (double loop, F2SA) or the evaluated y_k (single
 * loop, V-PBGD, whose y-step the coordinator takes).
 */
export const BilevelTaskMetricsSchema = z.strictObject({
  upperObjective: FiniteSchema,
  testAccuracy: UnitSchema.nullable(),
  cleaner: CleanerSchema.nullable(),
});
export type BilevelTaskMetrics = z.infer<typeof BilevelTaskMetricsSchema>;

/** How a run ended (a member of the job's result, and stored with the run). */
export const BilevelRunOutcomeSchema = z.strictObject({
  method: z.enum(BILEVEL_METHOD_NAMES),
  seed: SeedSchema,
  penalty: PenaltyScheduleSchema,
  iterations: z.number().int().min(0),
  stopReason: z.enum(['max-iterations', 'tolerance']),
  lambda: FiniteSchema,
  oracleCalls: z.number().int().min(0),
  /** Final x when dim(x) ≤ 100 (test cases); hyper-cleaning reports the cleaner metrics instead. */
  x: z.array(FiniteSchema).nullable(),
  errorToSolution: FiniteSchema.nullable(),
  testAccuracy: UnitSchema.nullable(),
  cleaner: CleanerSchema.nullable(),
  /**
   * sha256 of the final lower-level y as a float32 blob (hyper-cleaning: the trained classifier's weights). Run 0's
   * is what GET /jobs/:id/model serves.
   */
  yHash: Sha256Schema.optional(),
});
export type BilevelRunOutcome = z.infer<typeof BilevelRunOutcomeSchema>;

/** The result of a bilevel job: every run's outcome, by run index. */
export interface BilevelJobResult {
  runs: (BilevelRunOutcome & { run: number })[];
}

const Vector = z.array(FiniteSchema);
/** Oracle calls of one task (bounded like the int4 column their sums go to). */
const Calls = z.strictObject({ f: int4(), g: int4() });
const ChainSpecSchema = z.strictObject({
  steps: z.number().int().min(1),
  stepSize: FiniteSchema,
  sampleSeed: z.number().int(),
  proximal: FiniteSchema.optional(),
}) satisfies z.ZodType<ChainSpec>;

const RoundPlanSchema = z.strictObject({
  iteration: z.number().int().min(0),
  lambda: FiniteSchema,
  x: Vector,
  yStart: Vector,
  zStart: Vector,
  yChain: ChainSpecSchema,
  zChain: ChainSpecSchema,
  stepX: FiniteSchema,
  xSampleSeed: z.number().int(),
}) satisfies z.ZodType<BilevelRoundPlan>;

const GradientRequestSchema = z.strictObject({
  lambda: FiniteSchema,
  sample: z.number().int(),
  sampling: z.enum(['independent', 'common']),
  points: z.array(z.strictObject({ x: Vector, y: Vector, z: Vector })).min(1),
  wChain: z.strictObject({ start: Vector, spec: ChainSpecSchema }).nullable(),
}) satisfies z.ZodType<GradientRequest>;

const DistributedRoundSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('chains'), plan: RoundPlanSchema }),
  z.strictObject({ kind: z.literal('gradients'), request: GradientRequestSchema }),
]) satisfies z.ZodType<DistributedRound>;

/** What every bilevel task carries: the run, the problem, how to read the data and the round to compute. */
export const BilevelTaskPayloadSchema = z.strictObject({
  run: z.number().int().min(0),
  problem: BilevelProblemSchema,
  /** Hyper-cleaning: how the agent scales and labels its file (from the coordinator's catalogue). */
  data: z.strictObject({ featureRange: z.tuple([FiniteSchema, FiniteSchema]), numClasses: z.number().int().min(2) }).nullable(),
  round: DistributedRoundSchema,
});
export type BilevelTaskPayload = z.infer<typeof BilevelTaskPayloadSchema>;

/** dim x and dim y of the round a payload carries. */
function dims(p: BilevelTaskPayload): { x: number; y: number } {
  return p.round.kind === 'chains'
    ? { x: p.round.plan.x.length, y: p.round.plan.yStart.length }
    : { x: p.round.request.points[0].x.length, y: p.round.request.points[0].y.length };
}

const Residual = FiniteSchema.pipe(z.number().min(0));

/** The y-chain of one outer iteration plus ∇_x f and ∇_x g at its end point, and the run's metrics there. */
export const BilevelYChain = defineTask('bilevel.y-chain', BilevelTaskPayloadSchema, (p) => {
  const d = dims(p);
  return z.strictObject({
    point: finiteVector(d.y, 'point'),
    residual: Residual,
    oracleCalls: Calls,
    fx: finiteVector(d.x, 'fx'),
    gxAtY: finiteVector(d.x, 'gxAtY'),
    metrics: BilevelTaskMetricsSchema,
  }) satisfies z.ZodType<YChainTaskResult & { metrics: BilevelTaskMetrics }>;
});

/** The z-chain of one outer iteration plus ∇_x g at its end point. */
export const BilevelZChain = defineTask('bilevel.z-chain', BilevelTaskPayloadSchema, (p) => {
  const d = dims(p);
  return z.strictObject({
    point: finiteVector(d.y, 'point'),
    residual: Residual,
    oracleCalls: Calls,
    gxAtZ: finiteVector(d.x, 'gxAtZ'),
  }) satisfies z.ZodType<ZChainTaskResult>;
});

/** Single loop, V-PBGD: the penalty gradients at the current (and previous) iterate, after V-PBGD's w-chain. */
export const BilevelGradients = defineTask('bilevel.gradients', BilevelTaskPayloadSchema, (p) => {
  const d = dims(p);
  const points = p.round.kind === 'gradients' ? p.round.request.points.length : 0;
  const withW = p.round.kind === 'gradients' && p.round.request.wChain !== null;
  const triple = z.strictObject({
    gradX: finiteVector(d.x, 'gradX'),
    gradY: finiteVector(d.y, 'gradY'),
    gradZ: finiteVector(d.y, 'gradZ'),
  });
  const chain = z.strictObject({ point: finiteVector(d.y, 'point'), residual: Residual, oracleCalls: Calls });
  return z.strictObject({
    gradients: z.array(triple).refine((g) => g.length === points, { message: `must have ${points} gradient triples` }),
    w: withW ? chain : z.null(),
    oracleCalls: Calls,
    metrics: BilevelTaskMetricsSchema,
  }) satisfies z.ZodType<GradientReport & { metrics: BilevelTaskMetrics }>;
});

export const BILEVEL_TASKS = [BilevelYChain, BilevelZChain, BilevelGradients] as const;

/** One point of a run's curves. */
export interface BilevelPointView {
  iteration: number;
  lambda: number;
  gradXNorm: number;
  stationarity: number;
  upperObjective: number | null;
  testAccuracy: number | null;
  oracleCalls: number;
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
  /** ‖x − x*‖ for test cases with a known solution. */
  errorToSolution: number | null;
  testAccuracy: number | null;
  cleaner: { precision: number; recall: number; f1: number; keptFraction: number } | null;
  curve: BilevelPointView[];
}

/** GET /jobs/:id of a bilevel job: progress is the smallest outer iteration over its runs. */
export interface BilevelJobView extends JobViewBase {
  kind: 'bilevel';
  spec: CreateBilevelJob;
  runs: number;
  /** dim x and dim y of the problem. */
  dimensions: { x: number; y: number };
}
