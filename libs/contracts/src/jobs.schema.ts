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
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .default(0),
});
export type CreateFederatedJob = z.infer<typeof CreateFederatedJobSchema>;

const DatasetName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'lower-case letters, digits and dashes');
const NonNeg = z.number().min(0).max(1e9);

/** λ_k of a bilevel run (spec bilevel-penalty.md §4.3; libs/algorithms `PenaltySchedule`). */
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
    dataSeed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(0),
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
    seeds: z
      .array(
        z
          .number()
          .int()
          .min(0)
          .max(2 ** 31 - 1),
      )
      .min(1)
      .max(16)
      .default([0]),
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

/** Candidate operations a NAS search space can offer on every edge (libs/algorithms `OpKind`, spec gm-nas.md §8.3). */
export const NAS_OP_KINDS = ['linear', 'relu-linear', 'tanh-linear', 'skip', 'zero'] as const;
export type NasOpKind = (typeof NAS_OP_KINDS)[number];

const Steps = z.number().int().min(0).max(1_000_000);

/**
 * A GM-NAS job (issue #4, spec gm-nas.md §3.7, §9): a chain supernet on the dataset's features, trained as a tree of
 * sub-supernets split by gradient matching, then a final selection among the leaves' architectures. Budgets are
 * in optimiser steps; `{kind: 'nas', dataset}` is a complete job with the defaults below.
 */
export const CreateNasJobSchema = z
  .strictObject({
    kind: z.literal('nas'),
    name: z.string().min(1).max(120).optional(),
    dataset: DatasetName,
    /** The search space (libs/algorithms `chainSupernet`): stem → `edges` edges in a chain → readout, `width` units. */
    space: z
      .strictObject({
        edges: z.number().int().min(1).max(8).default(3),
        ops: z
          .array(z.enum(NAS_OP_KINDS))
          .min(2)
          .max(8)
          .refine((ops) => new Set(ops).size === ops.length, { message: 'ops must not repeat' })
          .default(['linear', 'relu-linear', 'tanh-linear', 'skip']),
        width: z.number().int().min(1).max(512).default(16),
      })
      .prefault({}),
    /** Steps the root trains before its split (the warm-up, spec §3.7's first checkpoint). */
    warmupSteps: Steps.default(200),
    /** Split levels (spec §3.7 checkpoints): the tree ends with groups^splits leaves. */
    splits: z.number().int().min(1).max(4).default(2),
    /** Steps each child trains before it is split in turn (0: scored at once, as spec §8.3 proposes). */
    stepsBetweenSplits: Steps.default(0),
    /** Steps each leaf trains after the last split (the final phase). */
    finalSteps: Steps.default(200),
    /** Children per split (spec §3.3: 2 for GM-NAS). */
    groups: z.number().int().min(2).max(4).default(2),
    /** `final`: children of the last split are re-initialised (spec §3.6, every reported run); `none`: inherit everything. */
    restart: z.enum(['final', 'none']).default('final'),
    /** GM scoring (spec §3.2). */
    gm: z
      .strictObject({
        /** R: batches per node, shared by all its candidate edges (spec default 100). */
        batches: z.number().int().min(1).max(1000).default(20),
        batchSize: z.number().int().min(1).max(4096).default(64),
        /** Forward mode on the other edges; default the training mode (as in the official code). */
        mode: z.enum(['single-path', 'mixture']).optional(),
        /** Ω_e: `cells` (the official code) or `all` (also stem and readout). */
        sharedWeights: z.enum(['cells', 'all']).default('cells'),
        /** Score tasks per node; default one per online agent holding the data (fixed when the node is scored). */
        parts: z.number().int().min(1).max(64).optional(),
      })
      .prefault({}),
    /** Edge selection (spec §3.5): `minCut` (paper / NB201) or `minWithinDistance` (DARTS-space code). */
    edgeRule: z.enum(['minCut', 'minWithinDistance']).default('minCut'),
    /** Partition objective (spec §3.3). */
    partitionObjective: z.enum(['cut', 'withinDistance']).default('cut'),
    /** Weight training of every node and candidate (spec §4; lr raised for short runs as in bench/nas.ts). */
    training: z
      .strictObject({
        batchSize: z.number().int().min(1).max(4096).default(64),
        /** `single-path` (RSPS, uniform random path per step) or `mixture` (uniform frozen-α mixture). */
        mode: z.enum(['single-path', 'mixture']).default('single-path'),
        lr: z.number().positive().max(10).default(0.05),
        lrMin: z.number().min(0).max(10).default(0.001),
        momentum: z.number().min(0).lt(1).default(0.9),
        nesterov: z.boolean().default(true),
        weightDecay: z.number().min(0).max(1).default(5e-4),
        clipNorm: z.number().positive().max(1e6).default(5),
      })
      .prefault({})
      .refine((t) => t.lrMin <= t.lr, { message: 'lrMin must be <= lr', path: ['lrMin'] }),
    /** Final selection (spec §3.8). */
    selection: z
      .strictObject({
        /**
         * `standalone`: every leaf's architecture is trained from scratch and ranked on the selection split, with
         * successive halving when there are more candidates than agents; `supernet`: the leaf whose architecture
         * the supernet estimates best, no extra training.
         */
        method: z.enum(['standalone', 'supernet']).default('standalone'),
        /** Stand-alone budget T per finalist (successive halving gives the others less). */
        standaloneSteps: z.number().int().min(1).max(1_000_000).default(300),
        /** Ranking on the selection split: accuracy (ties by loss) or loss (ties by accuracy). */
        metric: z.enum(['accuracy', 'loss']).default('accuracy'),
        /** At most this many architectures a leaf evaluates to propose one (spec §3.8 RSPS: 200). */
        maxCandidates: z.number().int().min(1).max(10_000).default(200),
      })
      .prefault({}),
    /** Fraction of each class of the agents' file held out for ranking architectures (the rest trains weights). */
    selectionFraction: z.number().gt(0).lt(1).default(0.5),
    /** Seed of that split (the same rows on every agent with the same file). */
    dataSeed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(0),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(0),
    /** A task not answered within this time goes to another agent. */
    taskTimeoutMs: z.number().int().min(100).max(86_400_000).default(120_000),
  })
  .superRefine((j, ctx) => {
    if (!j.space?.ops) return; // the space itself is invalid: reported above
    if (j.splits > j.space.edges)
      ctx.addIssue({
        code: 'custom',
        path: ['splits'],
        message: `each split uses an unsplit edge: at most space.edges (${j.space.edges}) splits`,
      });
    if (j.groups > j.space.ops.length)
      ctx.addIssue({
        code: 'custom',
        path: ['groups'],
        message: `a split of ${j.space.ops.length} ops can make at most ${j.space.ops.length} groups`,
      });
    if (j.groups ** j.splits > 64) ctx.addIssue({ code: 'custom', path: ['splits'], message: 'at most 64 leaves (groups^splits)' });
  });
export type CreateNasJob = z.infer<typeof CreateNasJobSchema>;

/** One discriminated union: each job kind is a member. */
export const CreateJobSchema = z.discriminatedUnion('kind', [CreateFederatedJobSchema, CreateBilevelJobSchema, CreateNasJobSchema]);
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

/** GM matrix of one candidate edge of a node and its best partition (GET /jobs/:id/nas, spec §3.2–3.5). */
export interface NasEdgeScoreView {
  edge: number;
  /** Op indices the matrix rows stand for, and their kinds. */
  ops: number[];
  opNames: string[];
  /** Mean per-batch cosine GM(i, j) over `batches` batches. */
  matrix: number[][];
  batches: number;
  /** Batches in which every shared gradient vanished (spec §8.2's degenerate case). */
  degenerateBatches: number;
  /** The best balanced partition of the edge's ops (op indices) and its costs. */
  groups: number[][];
  cut: number;
  withinDistance: number;
  crossDistance: number;
  /** Whether this edge was split. */
  chosen: boolean;
}

/** A sub-supernet of a NAS job's tree. */
export interface NasNodeView {
  id: string;
  parent: string | null;
  depth: number;
  /** `training` → `scoring` → `split` for inner nodes; `training` → `leaf` for leaves. */
  status: 'training' | 'scoring' | 'split' | 'leaf';
  init: 'root' | 'inherit' | 'reinit';
  /** mask[e][o]: op o of edge e is enabled. */
  mask: boolean[][];
  /** Single-path architectures inside the mask. */
  architectures: number;
  split: { edge: number; groups: number[][]; criterion: string; children: string[] } | null;
  scores: NasEdgeScoreView[];
  metrics: {
    /** Steps this node trained itself (not its ancestors), its mean training loss, its schedule position after. */
    trainSteps: number | null;
    trainLoss: number | null;
    step: number | null;
    trainAgentId: string | null;
    scoreParts: number | null;
    scoreAgentIds: string[];
    /** Forward/backward passes of its GM scoring (R × |ops| per candidate edge). */
    gmPasses: number | null;
  };
  weightsHash: string | null;
  /** A leaf's proposed architecture with the supernet's estimate on the selection split. */
  candidate: NasArchitectureView | null;
}

export interface NasArchitectureView {
  architecture: number[];
  ops: string[];
  loss: number | null;
  accuracy: number | null;
}

/** One architecture of the final selection. */
export interface NasCandidateView {
  index: number;
  node: string;
  architecture: number[];
  ops: string[];
  /** The supernet's estimate that made the leaf propose it. */
  estimate: { loss: number | null; accuracy: number | null };
  status: 'active' | 'eliminated' | 'chosen';
  /** Rungs completed. */
  rung: number;
  history: { rung: number; steps: number; trainLoss: number | null; loss: number; accuracy: number; agentId: string | null }[];
}

/** The result of a NAS job (also the job's `result`). */
export interface NasResult {
  architecture: number[];
  ops: string[];
  /** The leaf that proposed it. */
  node: string;
  selectionMethod: 'standalone' | 'supernet';
  /** On the agents' selection split. */
  selectionAccuracy: number;
  selectionLoss: number;
  /** On the coordinator's held-out split of the dataset (never seen by the search): the reported accuracy. */
  accuracy: number;
  loss: number;
  /** sha256 of the weights evaluated (stand-alone weights, or the leaf supernet's). */
  weightsHash: string;
  /** Supernet optimiser steps over all nodes, stand-alone steps over all candidates and rungs, GM passes. */
  supernetSteps: number;
  standaloneSteps: number;
  gmPasses: number;
}

/** GET /jobs/:id/nas: the supernet tree with its scores and decisions, the final selection and the result. */
export interface NasView {
  jobId: string;
  status: JobStatus;
  space: { edges: number; ops: string[]; width: number; architectures: number; parameterCount: number };
  schedule: { splitSteps: number[]; checkpoints: number[]; finalSteps: number; restart: 'final' | 'none' };
  /** sha256 of the agent file every task of the job runs on (null until the first task). */
  dataHash: string | null;
  nodes: NasNodeView[];
  selection: {
    method: 'standalone' | 'supernet';
    /** Agents available when the selection started; more candidates than slots → successive halving. */
    slots: number | null;
    /** Cumulative stand-alone steps per rung. */
    rungs: number[];
    candidates: NasCandidateView[];
  };
  result: NasResult | null;
}
