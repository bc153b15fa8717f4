import type { NasSchedule, SupernetSpec } from '@flotilla/algorithms';
import type { NasCandidateView, NasEdgeScoreView, NasNodeView, NasResult, NasView } from '@flotilla/contracts';
import type { JobOf } from '../../jobs/job-kind';
import type { NasCandidateRow, NasNodeRow } from './nas.repository';

/** Budget spent: supernet steps over all nodes, stand-alone steps over all rungs, GM forward/backward passes. */
export function candidateStats(
  nodes: NasNodeRow[],
  cands: NasCandidateRow[],
): Pick<NasResult, 'supernetSteps' | 'standaloneSteps' | 'gmPasses'> {
  const metrics = nodes.map((n) => n.metrics);
  return {
    supernetSteps: metrics.reduce((s, m) => s + (m.trainSteps ?? 0), 0),
    gmPasses: metrics.reduce((s, m) => s + (m.gmPasses ?? 0), 0),
    standaloneSteps: cands.reduce((s, c) => s + c.history.reduce((t, h) => t + h.steps, 0), 0),
  };
}

const opNames = (spec: SupernetSpec, edge: number, ops: readonly number[]): string[] => ops.map((o) => spec.edges[edge].ops[o].kind);
const archOps = (spec: SupernetSpec, arch: readonly number[]): string[] => arch.map((o, e) => spec.edges[e].ops[o].kind);

/** GET /jobs/:id/nas from the rows: the tree with its GM matrices and decisions, the selection and the result. */
export function nasView(
  job: JobOf<'nas'>,
  c: { spec: SupernetSpec; schedule: NasSchedule; method: 'standalone' | 'supernet'; parameterCount: number },
  result: NasResult | null,
  nodes: NasNodeRow[],
  cands: NasCandidateRow[],
): NasView {
  const { spec, schedule, method, parameterCount } = c;
  const nodeViews = nodes.map((n): NasNodeView => {
    const m = n.metrics;
    const scores = (n.edgeScores ?? []).map((s): NasEdgeScoreView => ({
      ...s,
      opNames: opNames(spec, s.edge, s.ops),
      chosen: s.edge === n.splitEdge,
    }));
    const cand = n.candidate;
    const mask = n.mask;
    return {
      id: n.nodeId,
      parent: n.parentId,
      depth: n.depth,
      status: n.status,
      init: n.init,
      mask,
      architectures: mask.reduce((p, row) => p * row.filter(Boolean).length, 1),
      split: n.split,
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
    return {
      index: c.index,
      node: c.nodeId,
      architecture: c.architecture,
      ops: archOps(spec, c.architecture),
      estimate: c.estimate,
      status: c.status,
      rung: c.rung,
      history: c.history,
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
      parameterCount,
    },
    schedule: {
      splitSteps: schedule.splitSteps,
      checkpoints: schedule.splitSteps.map((s) => (checkpoint += s)),
      finalSteps: schedule.finalSteps,
      restart: schedule.restart,
    },
    dataHash: nodes.find((n) => n.nodeId === 'root')?.dataHash ?? null,
    nodes: nodeViews,
    selection: { method, slots: cands[0]?.slots ?? null, rungs: cands[0]?.rungs ?? [], candidates },
    result,
  };
}
