import { nasMaskShape, nasOpName, type NasSchedule, type NasSpace } from '@flotilla/algorithms';
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

const opNames = (space: NasSpace, edge: number, ops: readonly number[]): string[] => ops.map((o) => nasOpName(space, edge, o));
const archOps = (space: NasSpace, arch: readonly number[]): string[] => arch.map((o, e) => nasOpName(space, e, o));

/** GET /jobs/:id/nas from the rows: the tree with its GM matrices and decisions, the selection and the result. */
export function nasView(
  job: JobOf<'nas'>,
  c: { space: NasSpace; schedule: NasSchedule; method: 'standalone' | 'supernet'; parameterCount: number },
  result: NasResult | null,
  nodes: NasNodeRow[],
  cands: NasCandidateRow[],
): NasView {
  const { space, schedule, method, parameterCount } = c;
  const shape = nasMaskShape(space);
  const nodeViews = nodes.map((n): NasNodeView => {
    const m = n.metrics;
    const scores = (n.edgeScores ?? []).map((s): NasEdgeScoreView => ({
      ...s,
      opNames: opNames(space, s.edge, s.ops),
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
      alpha: n.arch?.alpha ?? null,
      candidate: cand && {
        architecture: cand.architecture,
        ops: archOps(space, cand.architecture),
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
      ops: archOps(space, c.architecture),
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
      type: space.type,
      search: space.type === 'cell' ? space.search : 'rsps',
      edges: shape.edges.length,
      ops: shape.edges[0].ops.map((_, o) => nasOpName(space, 0, o)),
      width: space.type === 'chain' ? space.spec.width : null,
      architectures: shape.edges.reduce((p, e) => p * e.ops.length, 1),
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
