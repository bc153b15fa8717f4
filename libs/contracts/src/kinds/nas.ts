import type {
  CellArchState,
  CellSpaceSpec,
  GmScoreSums,
  NasBlobState,
  NasSpace,
  NasScorePayload,
  NasScoreResult,
  NasStandalonePayload,
  NasStandaloneResult,
  NasTrainPayload,
  NasTrainResult,
  SupernetSpec,
} from '@flotilla/algorithms';
import { z } from 'zod';
import { DatasetNameSchema, FiniteSchema, int4, safeText, SeedSchema, Sha256Schema } from '../common';
import { placementFields } from '../placement';
import type { JobViewBase, JobStatus } from '../jobs.schema';
import { defineTask } from '../tasks';

/**
 * NAS jobs: GM-NAS (docs/algorithms/gm-nas.md). The coordinator owns the supernet tree as rows and advances every
 * node through tasks: train a (sub-)supernet, score its edges by gradient matching, split; then the final
 * selection trains the leaves' architectures stand-alone.
 */

/** Candidate operations the chain space can offer on every edge (libs/algorithms `OpKind`, docs/algorithms/gm-nas.md §2). */
export const NAS_OP_KINDS = ['linear', 'relu-linear', 'tanh-linear', 'skip', 'zero'] as const;
export type NasOpKind = (typeof NAS_OP_KINDS)[number];

/** How the (sub-)supernets of the cell space search (docs/algorithms/gm-nas.md §6.4; libs/algorithms `CELL_SEARCH_MODES`). */
export const NAS_SEARCH_MODES = ['rsps', 'darts', 'snas'] as const;

/** Ops of every edge of the cell space, in index order (libs/algorithms `CELL_OPS`). */
export const NAS_CELL_OPS = ['none', 'skip', 'conv1x1', 'conv3x3', 'avgpool3x3'] as const;

/** Edges of a cell of the cell space (libs/algorithms `CELL_EDGES`). */
export const NAS_CELL_EDGES = 6;

const Steps = z.number().int().min(0).max(1_000_000);

/** The chain space (libs/algorithms `chainSupernet`): stem → `edges` edges in a chain → readout, `width` units. */
const ChainSpaceSchema = z.strictObject({
  /** Optional: jobs submitted before the cell space have none. */
  type: z.literal('chain').default('chain'),
  edges: z.number().int().min(1).max(8).default(3),
  ops: z
    .array(z.enum(NAS_OP_KINDS))
    .min(2)
    .max(8)
    .refine((ops) => new Set(ops).size === ops.length, { message: 'ops must not repeat' })
    .default(['linear', 'relu-linear', 'tanh-linear', 'skip']),
  width: z.number().int().min(1).max(512).default(16),
});

/**
 * The cell space (docs/algorithms/gm-nas.md §2.2, NAS-Bench-201 style) on an image dataset: a stem, `stages` stages of
 * `cellsPerStage` cells sharing one architecture (6 edges of 5 ops: 15,625 architectures), reduction blocks between
 * stages, a classifier; stage s has `channels` · 2^s channels.
 */
const CellSpaceSchema = z.strictObject({
  type: z.literal('cell'),
  channels: z.number().int().min(1).max(64).default(4),
  cellsPerStage: z.number().int().min(1).max(5).default(1),
  stages: z.number().int().min(1).max(4).default(2),
});

/** `space` as a job gives it: the chain space when `type` is left out. */
const JobSpaceSchema = z.discriminatedUnion('type', [ChainSpaceSchema, CellSpaceSchema]);

/**
 * A GM-NAS job (docs/algorithms/gm-nas.md §6.2, §10): a supernet of the chosen space (a chain on the dataset's
 * features, or cells on its images), trained as a tree of sub-supernets split by gradient matching, then a final
 * selection among the leaves' architectures. Budgets are in optimiser steps; `{kind: 'nas', dataset}` is a complete
 * job with the defaults below.
 */
export const CreateNasJobSchema = z
  .strictObject({
    kind: z.literal('nas'),
    name: safeText().min(1).max(120).optional(),
    /** Which agents may compute for the job besides holding its data: `agentSelector` (labels) and `backend`. */
    ...placementFields,
    dataset: DatasetNameSchema,
    /** The search space: `{type: 'chain', …}` (the default) or `{type: 'cell', …}` (image datasets). */
    space: JobSpaceSchema.prefault({}),
    /**
     * How every (sub-)supernet searches (docs/algorithms/gm-nas.md §6.4): `rsps` (uniform single paths; the chain
     * space's only mode), `darts` or `snas` (architecture weights α learned on the selection split in the final
     * phase, the architecture derived by argmax; cell space only).
     */
    search: z.enum(NAS_SEARCH_MODES).default('rsps'),
    /** DARTS and SNAS: Adam on α (library defaults: lr 3e-3, betas 0.5 and 0.999, weight decay 1e-3). */
    alpha: z
      .strictObject({
        lr: z.number().positive().max(10).optional(),
        beta1: z.number().min(0).lt(1).optional(),
        beta2: z.number().min(0).lt(1).optional(),
        weightDecay: z.number().min(0).max(1).optional(),
        /** DARTS: 1 (first order) or 2 (the unrolled second-order gradient, about 2.5 times the passes per step). */
        order: z.union([z.literal(1), z.literal(2)]).optional(),
      })
      .optional(),
    /** SNAS: the Gumbel-softmax temperature falls geometrically from `tauMax` to `tauMin` over a node's schedule (1 → 0.1). */
    snas: z
      .strictObject({ tauMax: z.number().positive().max(100).optional(), tauMin: z.number().positive().max(100).optional() })
      .optional()
      .refine((t) => !t || (t.tauMin ?? 0.1) <= (t.tauMax ?? 1), { message: 'tauMin must be <= tauMax' }),
    /** Steps the root trains before its split (the warm-up, docs/algorithms/gm-nas.md §6.2). */
    warmupSteps: Steps.default(200),
    /** Split levels (docs/algorithms/gm-nas.md §6.2): the tree ends with groups^splits leaves. */
    splits: z.number().int().min(1).max(4).default(2),
    /** Steps each child trains before it is split in turn (0: scored at once, as in docs/algorithms/gm-nas.md §8.2). */
    stepsBetweenSplits: Steps.default(0),
    /** Steps each leaf trains after the last split (the final phase). */
    finalSteps: Steps.default(200),
    /** Children per split (docs/algorithms/gm-nas.md §4: 2 for GM-NAS). */
    groups: z.number().int().min(2).max(4).default(2),
    /** `final`: children of the last split are re-initialised (docs/algorithms/gm-nas.md §6.1, every reported run); `none`: inherit everything. */
    restart: z.enum(['final', 'none']).default('final'),
    /** GM scoring (docs/algorithms/gm-nas.md §3). */
    gm: z
      .strictObject({
        /** R: batches per node, shared by all its candidate edges (the paper's and the library's default is 100, docs/algorithms/gm-nas.md §9). */
        batches: z.number().int().min(1).max(1000).default(20),
        batchSize: z.number().int().min(1).max(4096).default(64),
        /** Forward mode on the other edges; default the training mode (as in the official code). */
        mode: z.enum(['single-path', 'mixture']).optional(),
        /** Ω_e: `cells` (the official code) or `all` (also stem and readout). */
        sharedWeights: z.enum(['cells', 'all']).default('cells'),
        /** Score tasks per node; default one per eligible agent online (holding the data, matching the placement; fixed when the node is scored). */
        parts: z.number().int().min(1).max(64).optional(),
      })
      .prefault({}),
    /** Edge selection (docs/algorithms/gm-nas.md §5): `minCut` (paper / NB201) or `minWithinDistance` (DARTS-space code). */
    edgeRule: z.enum(['minCut', 'minWithinDistance']).default('minCut'),
    /** Partition objective (docs/algorithms/gm-nas.md §4). */
    partitionObjective: z.enum(['cut', 'withinDistance']).default('cut'),
    /** Weight training of every node and candidate (docs/algorithms/gm-nas.md §6.3, §9; lr raised for short runs as in bench/nas.ts). */
    training: z
      .strictObject({
        batchSize: z.number().int().min(1).max(4096).default(64),
        /** Chain space: `single-path` (RSPS, uniform random path per step) or `mixture` (uniform frozen-α mixture); the cell space follows `search`. */
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
    /** Final selection (docs/algorithms/gm-nas.md §7.2). */
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
        /** At most this many architectures a leaf evaluates to propose one (docs/algorithms/gm-nas.md §7.1, RSPS: 200). */
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
    const space = j.space;
    if (!space?.type || (space.type === 'chain' && !space.ops)) return; // the space itself is invalid: reported above
    const chain = space.type === 'chain';
    const edges = space.type === 'chain' ? space.edges : NAS_CELL_EDGES;
    const ops = space.type === 'chain' ? space.ops.length : NAS_CELL_OPS.length;
    if (j.splits > edges)
      ctx.addIssue({
        code: 'custom',
        path: ['splits'],
        message: `each split uses an unsplit edge: at most ${chain ? 'space.edges' : "the cell's 6 edges"} (${edges}) splits`,
      });
    if (j.groups > ops) ctx.addIssue({ code: 'custom', path: ['groups'], message: `a split of ${ops} ops can make at most ${ops} groups` });
    if (j.groups ** j.splits > 64) ctx.addIssue({ code: 'custom', path: ['splits'], message: 'at most 64 leaves (groups^splits)' });
    if (chain && j.search !== 'rsps')
      ctx.addIssue({
        code: 'custom',
        path: ['search'],
        message: `${j.search} learns architecture weights, which only the cell space has: use space: {type: 'cell'} or search 'rsps'`,
      });
    if (j.alpha?.order === 2 && j.search !== 'darts')
      ctx.addIssue({ code: 'custom', path: ['alpha', 'order'], message: "the second-order α gradient is DARTS': needs search 'darts'" });
    for (const field of ['alpha', 'snas'] as const) {
      const applies = field === 'alpha' ? j.search !== 'rsps' : j.search === 'snas';
      if (j[field] !== undefined && !applies)
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `applies to search ${field === 'alpha' ? "'darts' or 'snas'" : "'snas'"} only`,
        });
    }
  });
export type CreateNasJob = z.infer<typeof CreateNasJobSchema>;

const OpSpecSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('zero') }),
  z.strictObject({ kind: z.literal('skip') }),
  z.strictObject({ kind: z.literal('linear') }),
  z.strictObject({ kind: z.literal('relu-linear') }),
  z.strictObject({ kind: z.literal('tanh-linear') }),
  z.strictObject({ kind: z.literal('fixed'), matrix: z.array(FiniteSchema) }),
]);
const Count = z.number().int().min(0);
const SupernetSpecSchema = z.strictObject({
  inputSize: Count,
  width: Count,
  outputSize: Count,
  stem: z.boolean(),
  readoutBias: z.boolean(),
  nodes: Count,
  edges: z.array(z.strictObject({ from: Count, to: Count, ops: z.array(OpSpecSchema) })),
  loss: z.enum(['cross-entropy', 'mse']),
}) satisfies z.ZodType<SupernetSpec>;

const CellSpaceSpecSchema = z.strictObject({
  height: Count,
  width: Count,
  inputChannels: Count,
  channels: Count,
  cellsPerStage: Count,
  stages: Count,
  classes: Count,
}) satisfies z.ZodType<CellSpaceSpec>;
const NasSpaceSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('chain'), spec: SupernetSpecSchema }),
  z.strictObject({
    type: z.literal('cell'),
    spec: CellSpaceSpecSchema,
    search: z.enum(NAS_SEARCH_MODES),
    arch: z
      .strictObject({
        lr: FiniteSchema.optional(),
        beta1: FiniteSchema.optional(),
        beta2: FiniteSchema.optional(),
        weightDecay: FiniteSchema.optional(),
        order: z.union([z.literal(1), z.literal(2)]).optional(),
      })
      .optional(),
    snas: z.strictObject({ tauMax: FiniteSchema.optional(), tauMin: FiniteSchema.optional() }).optional(),
  }),
]) satisfies z.ZodType<NasSpace>;
/** α and its Adam moments: one row of 5 ops per edge of the cell. */
const ArchRows = z.array(z.array(FiniteSchema).length(NAS_CELL_OPS.length)).length(NAS_CELL_EDGES);
const ArchStateSchema = z.strictObject({ alpha: ArchRows, m: ArchRows, v: ArchRows, t: Count }) satisfies z.ZodType<CellArchState>;

const MaskSchema = z.array(z.array(z.boolean()));
const TrainingSettingsSchema = z.strictObject({
  batchSize: z.number().int().min(1).optional(),
  mode: z.enum(['single-path', 'mixture']).optional(),
  alpha: z.array(z.array(FiniteSchema)).optional(),
  optimizer: z
    .strictObject({
      lr: FiniteSchema.optional(),
      lrMin: FiniteSchema.optional(),
      momentum: FiniteSchema.optional(),
      nesterov: z.boolean().optional(),
      weightDecay: FiniteSchema.optional(),
      clipNorm: z.number().optional(),
    })
    .optional(),
});
const BlobStateSchema = z.strictObject({
  params: Sha256Schema,
  velocity: Sha256Schema,
  step: Count,
  arch: ArchStateSchema.optional(),
}) satisfies z.ZodType<NasBlobState>;
const Envelope = {
  space: NasSpaceSchema,
  data: z.strictObject({
    featureRange: z.tuple([FiniteSchema, FiniteSchema]),
    numClasses: z.number().int().min(2),
    selectionFraction: z.number().gt(0).lt(1),
    seed: SeedSchema,
  }),
};

const NasTrainPayloadSchema = z.strictObject({
  ...Envelope,
  task: z.strictObject({
    phase: z.enum(['split', 'final']),
    steps: Count,
    scheduleSteps: Count,
    seed: z.number().int(),
    node: z.string().min(1),
    mask: MaskSchema,
    training: TrainingSettingsSchema,
    derive: z
      .strictObject({
        maxCandidates: z.number().int().min(1).optional(),
        metric: z.enum(['loss', 'accuracy']).optional(),
        seed: z.number().int().optional(),
      })
      .nullable(),
  }),
  from: BlobStateSchema,
}) satisfies z.ZodType<NasTrainPayload>;

const NasScorePayloadSchema = z.strictObject({
  ...Envelope,
  task: z.strictObject({
    node: z.string().min(1),
    mask: MaskSchema,
    edges: z.array(Count),
    batches: z.number().int().min(1),
    batchSize: z.number().int().min(1),
    from: Count,
    to: Count,
    scoring: z.strictObject({
      mode: z.enum(['mixture', 'single-path']).optional(),
      alpha: z.array(z.array(FiniteSchema)).optional(),
      sharedWeights: z.enum(['cells', 'all']).optional(),
    }),
    seed: z.number().int(),
  }),
  params: Sha256Schema,
}) satisfies z.ZodType<NasScorePayload>;

const NasStandalonePayloadSchema = z.strictObject({
  ...Envelope,
  task: z.strictObject({
    candidate: Count,
    architecture: z.array(Count),
    steps: Count,
    scheduleSteps: Count,
    seed: z.number().int(),
    training: TrainingSettingsSchema,
  }),
  from: BlobStateSchema,
}) satisfies z.ZodType<NasStandalonePayload>;

const Unit = z.number().min(0).max(1);
/**
 * A trained state as a result names it: the blobs (uploaded first; the coordinator checks their lengths), the step
 * reached and, in the cell space, α with its moments.
 */
const trainedState = (p: { space: NasSpace; from: NasBlobState; task: { steps: number } }) => ({
  params: Sha256Schema,
  velocity: Sha256Schema,
  step: z.literal(p.from.step + p.task.steps),
  meanLoss: FiniteSchema.nullable(),
  arch: ArchStateSchema.optional(),
});
/** The refinement that goes with {@link trainedState}: α comes back exactly when the space has it. */
const archPresence = (p: { space: NasSpace }): [(r: { arch?: CellArchState }) => boolean, { message: string; path: PropertyKey[] }] => [
  (r) => (r.arch !== undefined) === (p.space.type === 'cell'),
  { message: p.space.type === 'cell' ? 'the cell space returns α with its moments' : 'the chain space has no α', path: ['arch'] },
];
const enabledOps = (mask: boolean[][], edge: number): number[] => (mask[edge] ?? []).flatMap((on, o) => (on ? [o] : []));

/** Train a (sub-)supernet for some steps from given weights; a leaf also proposes its architecture. */
export const NasTrain = defineTask(
  'nas.train',
  NasTrainPayloadSchema,
  (p) => {
    const candidate = z.strictObject({
      architecture: z
        .array(z.number().int())
        .refine(
          (a) => a.length === p.task.mask.length && a.every((o, e) => p.task.mask[e][o] === true),
          'must be an architecture inside the node mask',
        ),
      loss: FiniteSchema,
      accuracy: Unit,
    });
    return z
      .strictObject({
        ...trainedState(p),
        candidate: p.task.derive ? candidate : z.null(),
        evaluated: int4(),
      })
      .refine(...archPresence(p)) satisfies z.ZodType<NasTrainResult>;
  },
  { namesBlobs: true },
);

/** GM scores (|ops|×|ops| cosine sums) of the candidate edges of a sub-supernet on some of its batches. */
export const NasScore = defineTask('nas.gm-score', NasScorePayloadSchema, (p) => {
  const n = p.task.to - p.task.from;
  const edgeScore = z.strictObject({
    edge: z.number().int(),
    ops: z.array(z.number().int()),
    sums: z.array(z.array(FiniteSchema)),
    batches: z.literal(n),
    degenerateBatches: z.number().int().min(0).max(n),
  });
  return z.strictObject({
    scores: z.array(edgeScore).superRefine((scores, ctx) => checkScores(scores, p.task.edges, p.task.mask, n, ctx)),
  }) satisfies z.ZodType<NasScoreResult>;
});

/** Train one architecture stand-alone for one rung and score it on the selection split. */
export const NasStandalone = defineTask(
  'nas.standalone',
  NasStandalonePayloadSchema,
  (p) =>
    z
      .strictObject({
        ...trainedState(p),
        selection: z.strictObject({ loss: FiniteSchema.pipe(z.number().min(0)), accuracy: Unit }),
      })
      .refine(...archPresence(p)) satisfies z.ZodType<NasStandaloneResult>,
  { namesBlobs: true },
);

export const NAS_TASKS = [NasTrain, NasScore, NasStandalone] as const;

/** The score parts must be the payload's edges, in order, each with the node's enabled ops and a k × k matrix of sums in [−n, n]. */
function checkScores(scores: GmScoreSums[], edges: number[], mask: boolean[][], n: number, ctx: z.RefinementCtx): void {
  if (scores.length !== edges.length || scores.some((s, i) => s.edge !== edges[i])) {
    ctx.addIssue({ code: 'custom', message: `must score edges [${edges.join(',')}] in this order` });
    return;
  }
  scores.forEach((s, i) => {
    const ops = enabledOps(mask, s.edge);
    const k = ops.length;
    if (s.ops.length !== k || s.ops.some((o, j) => o !== ops[j]))
      ctx.addIssue({ code: 'custom', path: [i, 'ops'], message: `must be [${ops.join(',')}]` });
    // Each batch adds a cosine (|cos| ≤ 1) to every entry.
    else if (s.sums.length !== k || s.sums.some((row) => row.length !== k || row.some((v) => Math.abs(v) > n * (1 + 1e-6))))
      ctx.addIssue({ code: 'custom', path: [i, 'sums'], message: `must be ${k} × ${k} sums of ${n} cosines` });
  });
}

/** GM matrix of one candidate edge of a node and its best partition (GET /jobs/:id/nas, docs/algorithms/gm-nas.md §3–§5). */
export interface NasEdgeScoreView {
  edge: number;
  /** Op indices the matrix rows stand for, and their kinds. */
  ops: number[];
  opNames: string[];
  /** Mean per-batch cosine GM(i, j) over `batches` batches. */
  matrix: number[][];
  batches: number;
  /** Batches in which every shared gradient vanished (docs/algorithms/gm-nas.md §3.2, degenerate batches). */
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
  /** Cell space: the architecture weights α (edges × ops) after the node's training; learned by DARTS and SNAS in the final phase. */
  alpha: number[][] | null;
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

/** A number that JSON may have turned into null (NaN, e.g. the accuracy of an mse supernet): read back as NaN. */
const NumberOrNaN = z
  .number()
  .nullable()
  .transform((v) => v ?? NaN);

/** The result of a NAS job (also the job's `result`). */
export const NasResultSchema = z.strictObject({
  architecture: z.array(z.number().int()),
  ops: z.array(z.string()),
  /** The leaf that proposed it. */
  node: z.string(),
  selectionMethod: z.enum(['standalone', 'supernet']),
  /** On the agents' selection split. */
  selectionAccuracy: NumberOrNaN,
  selectionLoss: NumberOrNaN,
  /** On the coordinator's held-out split of the dataset (never seen by the search): the reported accuracy. */
  accuracy: NumberOrNaN,
  loss: NumberOrNaN,
  /** sha256 of the weights evaluated (stand-alone weights, or the leaf supernet's). */
  weightsHash: Sha256Schema,
  /** Supernet optimiser steps over all nodes, stand-alone steps over all candidates and rungs, GM passes. */
  supernetSteps: z.number().int(),
  standaloneSteps: z.number().int(),
  gmPasses: z.number().int(),
});
export type NasResult = z.output<typeof NasResultSchema>;

/** GET /jobs/:id/nas: the supernet tree with its scores and decisions, the final selection and the result. */
export interface NasView {
  jobId: string;
  status: JobStatus;
  space: {
    type: 'chain' | 'cell';
    search: (typeof NAS_SEARCH_MODES)[number];
    edges: number;
    /** Op names of an edge (every edge offers the same ops). */
    ops: string[];
    /** Chain space: units per layer; null in the cell space. */
    width: number | null;
    architectures: number;
    parameterCount: number;
  };
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

/** GET /jobs/:id of a NAS job (the tree and the selection: GET /jobs/:id/nas). */
export interface NasJobView extends JobViewBase {
  kind: 'nas';
  spec: CreateNasJob;
  /** Float32 parameters of the supernet. */
  parameterCount: number;
}
