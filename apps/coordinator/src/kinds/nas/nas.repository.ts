import { Injectable } from '@nestjs/common';
import type { NasResult } from '@flotilla/contracts';
import type { NasCandidate, NasNode } from '@prisma/client';
import { z } from 'zod';
import { toJson } from '../../database/json';
import { PrismaService } from '../../database/prisma.service';
import { JobsRepository, type StoredJob } from '../../jobs/jobs.repository';

/*
 * The JSON columns of nas_nodes and nas_candidates, parsed back into their types when a row is read.
 */
const MaskSchema = z.array(z.array(z.boolean()));
const NullableNumber = z.number().nullable();

/** What nas_nodes.metrics holds (filled in as the node trains and is scored). */
const NodeMetricsSchema = z.strictObject({
  trainSteps: z.number().optional(),
  trainLoss: NullableNumber.optional(),
  trainAgentId: z.string().nullable().optional(),
  scoreParts: z.number().optional(),
  scoreAgentIds: z.array(z.string()).optional(),
  gmPasses: z.number().optional(),
});
export type NodeMetrics = z.infer<typeof NodeMetricsSchema>;

/** One candidate edge as nas_nodes.edge_scores stores it: the merged GM matrix and its best partition. */
const StoredEdgeScoreSchema = z.strictObject({
  edge: z.number(),
  ops: z.array(z.number()),
  matrix: z.array(z.array(z.number())),
  batches: z.number(),
  degenerateBatches: z.number(),
  groups: z.array(z.array(z.number())),
  cut: z.number(),
  withinDistance: z.number(),
  crossDistance: z.number(),
});
export type StoredEdgeScore = z.infer<typeof StoredEdgeScoreSchema>;

const SplitSchema = z.strictObject({
  edge: z.number(),
  groups: z.array(z.array(z.number())),
  criterion: z.string(),
  children: z.array(z.string()),
});
export type StoredSplit = z.infer<typeof SplitSchema>;

/** A leaf's proposal: its architecture, the supernet's estimate on the selection split (NaN accuracy is null), how many it evaluated. */
const ProposalSchema = z.strictObject({
  architecture: z.array(z.number().int()),
  loss: NullableNumber,
  accuracy: NullableNumber,
  evaluated: z.number().int().optional(),
});
export type Proposal = z.infer<typeof ProposalSchema>;

/** One completed rung of a candidate (nas_candidates.history). */
const HistoryEntrySchema = z.strictObject({
  rung: z.number().int(),
  steps: z.number().int(),
  trainLoss: NullableNumber,
  loss: z.number(),
  accuracy: z.number(),
  agentId: z.string().nullable(),
});
export type HistoryEntry = z.infer<typeof HistoryEntrySchema>;

/** nas_nodes.arch: α with its Adam moments (cell space), stored as JSON text so that the floats come back exact. */
const ArchSchema = z.strictObject({
  alpha: z.array(z.array(z.number())),
  m: z.array(z.array(z.number())),
  v: z.array(z.array(z.number())),
  t: z.number().int(),
});
export type StoredArch = z.infer<typeof ArchSchema>;

const NODE_STATUSES = ['training', 'scoring', 'split', 'leaf'] as const;
const CANDIDATE_STATUSES = ['active', 'eliminated', 'chosen'] as const;

/** A node row with its JSON columns parsed. */
export type NasNodeRow = Omit<NasNode, 'mask' | 'status' | 'init' | 'metrics' | 'split' | 'edgeScores' | 'candidate' | 'arch'> & {
  mask: boolean[][];
  status: (typeof NODE_STATUSES)[number];
  init: 'root' | 'inherit' | 'reinit';
  metrics: NodeMetrics;
  split: StoredSplit | null;
  edgeScores: StoredEdgeScore[] | null;
  candidate: Proposal | null;
  arch: StoredArch | null;
};

/** A candidate row with its JSON columns parsed. */
export type NasCandidateRow = Omit<NasCandidate, 'architecture' | 'estimate' | 'status' | 'rungs' | 'history'> & {
  architecture: number[];
  estimate: { loss: number | null; accuracy: number | null };
  status: (typeof CANDIDATE_STATUSES)[number];
  rungs: number[];
  history: HistoryEntry[];
};

function nodeRow(n: NasNode): NasNodeRow {
  return {
    ...n,
    mask: MaskSchema.parse(n.mask),
    status: z.enum(NODE_STATUSES).parse(n.status),
    init: z.enum(['root', 'inherit', 'reinit']).parse(n.init),
    metrics: NodeMetricsSchema.parse(n.metrics),
    split: n.split === null ? null : SplitSchema.parse(n.split),
    edgeScores: n.edgeScores === null ? null : z.array(StoredEdgeScoreSchema).parse(n.edgeScores),
    candidate: n.candidate === null ? null : ProposalSchema.parse(n.candidate),
    arch: n.arch === null ? null : ArchSchema.parse(JSON.parse(n.arch)),
  };
}

function candidateRow(c: NasCandidate): NasCandidateRow {
  return {
    ...c,
    architecture: z.array(z.number().int()).parse(c.architecture),
    estimate: z.strictObject({ loss: NullableNumber, accuracy: NullableNumber }).parse(c.estimate),
    status: z.enum(CANDIDATE_STATUSES).parse(c.status),
    rungs: z.array(z.number().int()).parse(c.rungs),
    history: z.array(HistoryEntrySchema).parse(c.history),
  };
}

/** A node row to insert (the root at submit, children at their parent's split). */
export interface NewNasNode {
  nodeId: string;
  parentId: string | null;
  depth: number;
  mask: boolean[][];
  init: NasNodeRow['init'];
  dataHash: string | null;
}

/** A node's trained state and what its training reported (training → scoring, or training → leaf). */
export interface TrainedNode {
  weightsHash: string;
  velocityHash: string;
  step: number;
  /** Cell space: α with its moments after the training; null in the chain space. */
  arch: StoredArch | null;
  metrics: NodeMetrics;
  candidate: Proposal | null;
}

/** A node's split decision (scoring → split) with its children. */
export interface NodeSplitWrite {
  splitEdge: number;
  split: StoredSplit;
  edgeScores: StoredEdgeScore[];
  metrics: NodeMetrics;
  children: NewNasNode[];
}

export interface NewNasCandidate {
  index: number;
  nodeId: string;
  architecture: number[];
  estimate: { loss: number | null; accuracy: number | null };
  slots: number;
  rungs: number[];
}

export interface RungWrite {
  weightsHash: string;
  velocityHash: string;
  step: number;
  history: HistoryEntry[];
}

/**
 * The persisted state of NAS jobs: the supernet tree (nas_nodes) and the final selection (nas_candidates). Every
 * state change is a compare-and-set on the row's current status or rung, so a repeated advance (after a restart, or
 * a duplicate wake-up) writes nothing twice.
 */
@Injectable()
export class NasRepository {
  constructor(
    private readonly prisma: PrismaService,
    private readonly jobs: JobsRepository,
  ) {}

  /** The job row and the root node in one transaction. */
  createJob(spec: StoredJob['spec'], progressTotal: number, root: NewNasNode): Promise<StoredJob> {
    return this.prisma.$transaction(async (tx) => {
      const job = await this.jobs.create({ spec, progressTotal }, tx);
      await tx.nasNode.create({ data: { ...root, mask: toJson(root.mask), jobId: job.id } });
      return job;
    });
  }

  /** Every node of the job, parents before children (by depth, then id). */
  async nodes(jobId: string): Promise<NasNodeRow[]> {
    return (await this.prisma.nasNode.findMany({ where: { jobId }, orderBy: [{ depth: 'asc' }, { nodeId: 'asc' }] })).map(nodeRow);
  }

  /** Pins the data file of a node that has none yet; returns the node's data hash afterwards. */
  async pinDataHash(jobId: string, nodeId: string, dataHash: string): Promise<string> {
    await this.prisma.nasNode.updateMany({ where: { jobId, nodeId, dataHash: null }, data: { dataHash } });
    const n = await this.prisma.nasNode.findUniqueOrThrow({ where: { jobId_nodeId: { jobId, nodeId } } });
    return n.dataHash!;
  }

  /** Fixes how many score tasks a node's batches are cut into, once; returns the stored count. */
  async fixScoreParts(jobId: string, nodeId: string, parts: number): Promise<number> {
    await this.prisma.nasNode.updateMany({ where: { jobId, nodeId, scoreParts: null }, data: { scoreParts: parts } });
    const n = await this.prisma.nasNode.findUniqueOrThrow({ where: { jobId_nodeId: { jobId, nodeId } } });
    return n.scoreParts!;
  }

  /** training → `next` with the trained state; false when the node had already moved on. */
  async recordTraining(jobId: string, nodeId: string, next: 'scoring' | 'leaf', t: TrainedNode): Promise<boolean> {
    const r = await this.prisma.nasNode.updateMany({
      where: { jobId, nodeId, status: 'training' },
      data: {
        status: next,
        weightsHash: t.weightsHash,
        velocityHash: t.velocityHash,
        step: t.step,
        ...(t.arch ? { arch: JSON.stringify(t.arch) } : {}),
        metrics: toJson(t.metrics),
        ...(t.candidate ? { candidate: toJson(t.candidate) } : {}),
      },
    });
    return r.count === 1;
  }

  /** scoring → split with the decision, and the children, atomically; false when the node was already split. */
  recordSplit(jobId: string, nodeId: string, w: NodeSplitWrite): Promise<boolean> {
    return this.prisma.$transaction(async (tx) => {
      const r = await tx.nasNode.updateMany({
        where: { jobId, nodeId, status: 'scoring' },
        data: {
          status: 'split',
          splitEdge: w.splitEdge,
          split: toJson(w.split),
          edgeScores: toJson(w.edgeScores),
          metrics: toJson(w.metrics),
        },
      });
      if (r.count !== 1) return false;
      await tx.nasNode.createMany({ data: w.children.map((c) => ({ ...c, mask: toJson(c.mask), jobId })) });
      return true;
    });
  }

  async candidates(jobId: string): Promise<NasCandidateRow[]> {
    return (await this.prisma.nasCandidate.findMany({ where: { jobId }, orderBy: { index: 'asc' } })).map(candidateRow);
  }

  /** The selection's candidates with their plan, all at once (a second call finds them there and adds nothing). */
  async createCandidates(jobId: string, rows: NewNasCandidate[]): Promise<void> {
    await this.prisma.nasCandidate.createMany({
      data: rows.map((r) => ({ ...r, architecture: toJson(r.architecture), estimate: toJson(r.estimate), rungs: toJson(r.rungs), jobId })),
      skipDuplicates: true,
    });
  }

  /** Rung `rung` of a candidate is done: its new state and history; false when it was already recorded. */
  async recordRung(jobId: string, index: number, rung: number, w: RungWrite): Promise<boolean> {
    const r = await this.prisma.nasCandidate.updateMany({
      where: { jobId, index, rung, status: 'active' },
      data: { rung: rung + 1, weightsHash: w.weightsHash, velocityHash: w.velocityHash, step: w.step, history: toJson(w.history) },
    });
    return r.count === 1;
  }

  /** active → eliminated for the given candidates (the worse half of a rung). */
  async eliminate(jobId: string, indices: number[]): Promise<void> {
    await this.prisma.nasCandidate.updateMany({
      where: { jobId, index: { in: indices }, status: 'active' },
      data: { status: 'eliminated' },
    });
  }

  /** The winner is marked and the job completed with its result, atomically; false when the job was not running. */
  finish(jobId: string, chosen: number, end: { result: NasResult; progressDone: number }): Promise<boolean> {
    return this.prisma.$transaction(async (tx) => {
      if (!(await this.jobs.complete(jobId, end, tx))) return false;
      await tx.nasCandidate.updateMany({ where: { jobId, index: chosen }, data: { status: 'chosen' } });
      return true;
    });
  }

  progress(jobId: string, stages: number): Promise<void> {
    return this.jobs.setProgress(jobId, stages);
  }
}
