import { buildBilevelProblem, runYChainTask, runZChainTask, type BilevelProblemDef, type BilevelRoundPlan, type BuiltBilevelProblem } from '@flotilla/algorithms';
import type { TaskContext, TaskHandler } from './task-context';

interface BilevelPayload {
  run: number;
  problem: BilevelProblemDef;
  data: { featureRange: [number, number]; numClasses: number } | null;
  plan: BilevelRoundPlan;
}

/** Problems built on this agent, by definition: hyper-cleaning parses and splits the file once per job. */
const built = new Map<string, BuiltBilevelProblem>();

function problemFor(p: BilevelPayload, ctx: TaskContext): BuiltBilevelProblem {
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

/** The y-chain of one outer iteration, its x-gradient terms, and the run's metrics at (x_k, y_{k+1}). */
export const bilevelYChain: TaskHandler = (payload, ctx) => {
  const p = payload as BilevelPayload;
  const b = problemFor(p, ctx);
  const r = runYChainTask(b.problem, p.plan);
  const metrics = {
    upperObjective: b.problem.f(Float64Array.from(p.plan.x), Float64Array.from(r.point)),
    testAccuracy: b.testAccuracy ? b.testAccuracy(r.point) : null,
    cleaner: b.cleaner ? b.cleaner(p.plan.x) : null,
  };
  return Promise.resolve({ ...r, metrics });
};

/** The z-chain of one outer iteration and ∇_x g at its end point. */
export const bilevelZChain: TaskHandler = (payload, ctx) => {
  const p = payload as BilevelPayload;
  return Promise.resolve(runZChainTask(problemFor(p, ctx).problem, p.plan));
};
