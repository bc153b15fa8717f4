import { type Mask, type NasSchedule, type SupernetSpec } from '@flotilla/algorithms';
import type { NasCandidateView, NasEdgeScoreView, NasNodeView, NasResult, NasView } from '@flotilla/contracts';
import type { Job, NasCandidate, NasNode } from '@prisma/client';

/** What nas_nodes.metrics holds (filled in as the node trains and is scored). */
export interface NodeMetrics {
  trainSteps?: number;
  trainLoss?: number | null;
  trainAgentId?: string | null;
  scoreParts?: number;
  scoreAgentIds?: string[];
  gmPasses?: number;
}

/** One candidate edge as nas_nodes.edge_scores stores it: the merged GM matrix and its best partition. */
export interface StoredEdgeScore {
  edge: number;
  ops: number[];
  matrix: number[][];
  batches: number;
  degenerateBatches: number;
  groups: number[][];
  cut: number;
  withinDistance: number;
  crossDistance: number;
}

/** One completed rung of a candidate (nas_candidates.history). */
export interface HistoryEntry {
  rung: number;
  steps: number;
  trainLoss: number | null;
  loss: number;
  accuracy: number;
  agentId: string | null;
}

/** Budget spent: supernet steps over all nodes, stand-alone steps over all rungs, GM forward/backward passes. */
export function candidateStats(nodes: NasNode[], cands: NasCandidate[]): Pick<NasResult, 'supernetSteps' | 'standaloneSteps' | 'gmPasses'> {
  const metrics = nodes.map((n) => n.metrics as unknown as NodeMetrics);
  return {
    supernetSteps: metrics.reduce((s, m) => s + (m.trainSteps ?? 0), 0),
    gmPasses: metrics.reduce((s, m) => s + (m.gmPasses ?? 0), 0),
    standaloneSteps: cands.reduce((s, c) => s + (c.history as unknown as HistoryEntry[]).reduce((t, h) => t + h.steps, 0), 0),
  };
}

const opNames = (spec: SupernetSpec, edge: number, ops: readonly number[]): string[] => ops.map((o) => spec.edges[edge].ops[o].kind);
const archOps = (spec: SupernetSpec, arch: readonly number[]): string[] => arch.map((o, e) => spec.edges[e].ops[o].kind);

/** GET /jobs/:id/nas from the rows: the tree with its GM matrices and decisions, the selection and the result. */
export function nasView(
  job: Job,
  spec: SupernetSpec,
  schedule: NasSchedule,
  method: 'standalone' | 'supernet',
  nodes: NasNode[],
  cands: NasCandidate[],
): NasView {
  const nodeViews = nodes.map((n): NasNodeView => {
    const m = n.metrics as unknown as NodeMetrics;
    const split = n.split as NasNodeView['split'];
    const scores = ((n.edgeScores as unknown as StoredEdgeScore[] | null) ?? []).map((s): NasEdgeScoreView => ({
      ...s,
      opNames: opNames(spec, s.edge, s.ops),
      chosen: s.edge === n.splitEdge,
    }));
    const cand = n.candidate as { architecture: number[]; loss: number | null; accuracy: number | null } | null;
    const mask = n.mask as Mask;
    return {
      id: n.nodeId,
      parent: n.parentId,
      depth: n.depth,
      status: n.status as NasNodeView['status'],
      init: n.init as NasNodeView['init'],
      mask,
      architectures: mask.reduce((p, row) => p * row.filter(Boolean).length, 1),
      split,
      scores,
      metrics: {
        trainSteps: m.trainSteps ?? null,
        trainLoss: m.trainLoss ?? null,
        step: n.step,
        trainAgentId: m.trainAgentId ?? null,
        scoreParts: m.scoreParts ?? n.scoreParts,
        scoreAgentIds: m.scoreAgentIds ?? [],
        gmPasses: m.gmPasses ?? null,
      },
      weightsHash: n.weightsHash,
      candidate: cand && {
        architecture: cand.architecture,
        ops: archOps(spec, cand.architecture),
        loss: cand.loss,
        accuracy: cand.accuracy,
      },
    };
  });
  const candidates = cands.map((c): NasCandidateView => {
    const arch = c.architecture as number[];
    return {
      index: c.index,
      node: c.nodeId,
      architecture: arch,
      ops: archOps(spec, arch),
      estimate: c.estimate as NasCandidateView['estimate'],
      status: c.status as NasCandidateView['status'],
      rung: c.rung,
      history: c.history as unknown as HistoryEntry[],
    };
  });
  let checkpoint = 0;
  return {
    jobId: job.id,
    status: job.status,
    space: {
      edges: spec.edges.length,
      ops: spec.edges[0].ops.map((o) => o.kind),
      width: spec.width,
      architectures: spec.edges.reduce((p, e) => p * e.ops.length, 1),
      parameterCount: job.parameterCount,
    },
    schedule: {
      splitSteps: schedule.splitSteps,
      checkpoints: schedule.splitSteps.map((s) => (checkpoint += s)),
      finalSteps: schedule.finalSteps,
      restart: schedule.restart,
    },
    dataHash: nodes.find((n) => n.nodeId === 'root')?.dataHash ?? null,
    nodes: nodeViews,
    selection: { method, slots: cands[0]?.slots ?? null, rungs: (cands[0]?.rungs as number[] | undefined) ?? [], candidates },
    result: (job.result as unknown as NasResult | null) ?? null,
  };
}
