import {
  buildBilevelProblem,
  evaluateGradientRequest,
  gradientReportToJson,
  runYChainTask,
  runZChainTask,
  type BuiltBilevelProblem,
} from '@flotilla/algorithms';
import { BilevelGradients, BilevelYChain, BilevelZChain, type BilevelTaskMetrics, type BilevelTaskPayload } from '@flotilla/contracts';
import { handle, type TaskContext } from './task-context';

/** Problems built on this agent, by definition: hyper-cleaning parses and splits the file once per job. */
const built = new Map<string, BuiltBilevelProblem>();

function problemFor(p: BilevelTaskPayload, ctx: TaskContext): BuiltBilevelProblem {
  const key = JSON.stringify([p.problem, p.data]);
  let b = built.get(key);
  if (!b) {
    if (p.problem.kind === 'hyper-cleaning' && p.problem.dataset !== ctx.dataset) {
      throw new Error(`this agent holds '${ctx.dataset}', not '${p.problem.dataset}'`);
    }
    b = buildBilevelProblem(p.problem, p.data ? { csv: ctx.csv, ...p.data } : undefined);
    if (built.size >= 8) built.delete(built.keys().next().value!);
    built.set(key, b);
  }
  return b;
}

/** f(x, y), the test accuracy of y and the cleaner metrics of x, for the run's curves. */
function metrics(b: BuiltBilevelProblem, x: number[], y: ArrayLike<number>): BilevelTaskMetrics {
  return {
    upperObjective: b.problem.f(Float64Array.from(x), Float64Array.from(y)),
    testAccuracy: b.testAccuracy ? b.testAccuracy(y) : null,
    cleaner: b.cleaner ? b.cleaner(x) : null,
  };
}

function chains(p: BilevelTaskPayload) {
  if (p.round.kind !== 'chains') throw new Error(`a chain task got a ${p.round.kind} round`);
  return p.round.plan;
}

/**
 * Bilevel tasks (docs/algorithms/bilevel.md): the computation is the library's; this file builds the problem
 * from this agent's file.
 */
export const BILEVEL_HANDLERS = [
  /** The y-chain of one outer iteration, its x-gradient terms, and the run's metrics at (x_k, y_{k+1}). */
  handle(BilevelYChain, (p, ctx) => {
    const plan = chains(p);
    const b = problemFor(p, ctx);
    const r = runYChainTask(b.problem, plan);
    return Promise.resolve({ ...r, metrics: metrics(b, plan.x, r.point) });
  }),
  /** The z-chain of one outer iteration and ∇_x g at its end point. */
  handle(BilevelZChain, (p, ctx) => Promise.resolve(runZChainTask(problemFor(p, ctx).problem, chains(p)))),
  /** Single loop / V-PBGD: the penalty gradients the coordinator's step needs, and the metrics at (x_k, y_k). */
  handle(BilevelGradients, (p, ctx) => {
    if (p.round.kind !== 'gradients') throw new Error(`a gradient task got a ${p.round.kind} round`);
    const b = problemFor(p, ctx);
    const report = gradientReportToJson(evaluateGradientRequest(b.problem, p.round.request));
    const at = p.round.request.points[0];
    return Promise.resolve({ ...report, metrics: metrics(b, at.x, at.y) });
  }),
];
