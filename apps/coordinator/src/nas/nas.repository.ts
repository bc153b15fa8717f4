import { Injectable } from '@nestjs/common';
import type { Job, NasCandidate, NasNode, Prisma } from '@prisma/client';
import { PrismaService } from '../database/prisma.service';

/** A node row to insert (the root at submit, children at their parent's split). */
export interface NewNasNode {
  nodeId: string;
  parentId: string | null;
  depth: number;
  mask: Prisma.InputJsonValue;
  init: string;
  dataHash: string | null;
}

/** A node's trained state and what its training reported (training → scoring, or training → leaf). */
export interface TrainedNode {
  weightsHash: string;
  velocityHash: string;
  step: number;
  metrics: Prisma.InputJsonValue;
  candidate: Prisma.InputJsonValue | null;
}

/** A node's split decision (scoring → split) with its children. */
export interface NodeSplitWrite {
  splitEdge: number;
  split: Prisma.InputJsonValue;
  edgeScores: Prisma.InputJsonValue;
  metrics: Prisma.InputJsonValue;
  children: NewNasNode[];
}

export interface NewNasCandidate {
  index: number;
  nodeId: string;
  architecture: Prisma.InputJsonValue;
  estimate: Prisma.InputJsonValue;
  slots: number;
  rungs: Prisma.InputJsonValue;
}

export interface RungWrite {
  weightsHash: string;
  velocityHash: string;
  step: number;
  history: Prisma.InputJsonValue;
}

/**
 * The persisted state of NAS jobs: the supernet tree (nas_nodes) and the final selection (nas_candidates). Every
 * state change is a compare-and-set on the row's current status or rung, so a repeated advance (after a restart, or
 * a duplicate wake-up) writes nothing twice.
 */
@Injectable()
export class NasRepository {
  constructor(private readonly prisma: PrismaService) {}

  /** The job row, its initial checkpoint (the root's fresh weights) and the root node in one transaction. */
  createJob(
    job: { name: string | null; spec: Prisma.InputJsonValue; totalRounds: number; parameterCount: number; modelHash: string },
    root: NewNasNode,
  ): Promise<Job> {
    return this.prisma.job.create({
      data: {
        ...job,
        kind: 'nas',
        checkpoints: { create: { round: -1, hash: job.modelHash } },
        nasNodes: { create: root },
      },
    });
  }

  /** Every node of the job, parents before children (by depth, then id). */
  nodes(jobId: string): Promise<NasNode[]> {
    return this.prisma.nasNode.findMany({ where: { jobId }, orderBy: [{ depth: 'asc' }, { nodeId: 'asc' }] });
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
        metrics: t.metrics,
        ...(t.candidate ? { candidate: t.candidate } : {}),
      },
    });
    return r.count === 1;
  }

  /** scoring → split with the decision, and the children, atomically; false when the node was already split. */
  recordSplit(jobId: string, nodeId: string, w: NodeSplitWrite): Promise<boolean> {
    return this.prisma.$transaction(async (tx) => {
      const r = await tx.nasNode.updateMany({
        where: { jobId, nodeId, status: 'scoring' },
        data: { status: 'split', splitEdge: w.splitEdge, split: w.split, edgeScores: w.edgeScores, metrics: w.metrics },
      });
      if (r.count !== 1) return false;
      await tx.nasNode.createMany({ data: w.children.map((c) => ({ ...c, jobId })) });
      return true;
    });
  }

  candidates(jobId: string): Promise<NasCandidate[]> {
    return this.prisma.nasCandidate.findMany({ where: { jobId }, orderBy: { index: 'asc' } });
  }

  /** The selection's candidates with their plan, all at once (a second call finds them there and adds nothing). */
  async createCandidates(jobId: string, rows: NewNasCandidate[]): Promise<void> {
    await this.prisma.nasCandidate.createMany({ data: rows.map((r) => ({ ...r, jobId })), skipDuplicates: true });
  }

  /** Rung `rung` of a candidate is done: its new state and history; false when it was already recorded. */
  async recordRung(jobId: string, index: number, rung: number, w: RungWrite): Promise<boolean> {
    const r = await this.prisma.nasCandidate.updateMany({
      where: { jobId, index, rung, status: 'active' },
      data: { rung: rung + 1, weightsHash: w.weightsHash, velocityHash: w.velocityHash, step: w.step, history: w.history },
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
  finish(jobId: string, chosen: number, job: { result: Prisma.InputJsonValue; modelHash: string; currentRound: number }): Promise<boolean> {
    return this.prisma.$transaction(async (tx) => {
      const r = await tx.job.updateMany({
        where: { id: jobId, status: 'running' },
        data: { status: 'completed', result: job.result, modelHash: job.modelHash, currentRound: job.currentRound, finishedAt: new Date() },
      });
      if (r.count !== 1) return false;
      await tx.nasCandidate.updateMany({ where: { jobId, index: chosen }, data: { status: 'chosen' } });
      return true;
    });
  }

  async progress(jobId: string, currentRound: number): Promise<void> {
    await this.prisma.job.updateMany({
      where: { id: jobId, status: 'running', currentRound: { not: currentRound } },
      data: { currentRound },
    });
  }
}
