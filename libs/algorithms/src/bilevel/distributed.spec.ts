import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { completeRound, evaluateGradientRequest, type GradientReport } from './penalty';
import { bilevelStep } from './runner';
import { BILEVEL_METHODS, createBilevelState, type BilevelMethod } from './state';
import {
  bilevelProblemShape,
  buildBilevelProblem,
  completeGradientRound,
  gradientReportToJson,
  inProcessOptions,
  joinChainTasks,
  planDistributedRound,
  runYChainTask,
  runZChainTask,
  type BilevelProblemDef,
  type DistributedBilevelOptions,
} from './distributed';

const OPTIONS: DistributedBilevelOptions = {
  penalty: { kind: 'linear', start: 1, end: 20, steps: 5 },
  innerSteps: 5,
  stepX: 0.5,
  stepY: 0.5,
  stepZ: 0.5,
  stepScaling: 'inverse-one-plus',
};

const DIGITS = readFileSync(path.resolve(__dirname, '../../../../data/uci-digits/digits.csv'), 'utf8');
const CLEANING: BilevelProblemDef = {
  kind: 'hyper-cleaning',
  dataset: 'uci-digits',
  trainSize: 60,
  validationSize: 30,
  testSize: 30,
  corruptFraction: 0.5,
  l2: 1e-3,
  dataSeed: 3,
};

describe('distributed double-loop rounds (docs/algorithms/bilevel.md §13)', () => {
  const cases: [string, BilevelProblemDef][] = [
    ['T1', { kind: 'test-case', name: 'T1' }],
    ['T3 (box-constrained)', { kind: 'test-case', name: 'T3' }],
    ['hyper-cleaning', CLEANING],
  ];
  for (const method of BILEVEL_METHODS as BilevelMethod[]) {
    for (const [name, def] of cases) {
      it(`${method} on ${name}: the agents' tasks, after a JSON round trip, give exactly the in-process steps`, () => {
        const built = buildBilevelProblem(def, { csv: DIGITS, featureRange: [0, 16], numClasses: 10 });
        const shape = bilevelProblemShape(def, { numFeatures: 64, numClasses: 10 });
        expect([shape.dimX, shape.dimY]).toEqual([built.problem.dimX, built.problem.dimY]);
        const options = { ...OPTIONS, stepX: def.kind === 'hyper-cleaning' ? 50 : 0.2, momentum: 0.5 };
        let distributed = createBilevelState(shape.problem, method, { ...shape.start, seed: 7 });
        let local = createBilevelState(built.problem, method, { ...shape.start, seed: 7 });
        for (let k = 0; k < 4; k++) {
          const round = JSON.parse(JSON.stringify(planDistributedRound(distributed, options))) as ReturnType<typeof planDistributedRound>;
          if (round.kind === 'chains') {
            // Each half runs in its own "agent" and comes back as JSON.
            const y = JSON.parse(JSON.stringify(runYChainTask(built.problem, round.plan))) as ReturnType<typeof runYChainTask>;
            const z = JSON.parse(JSON.stringify(runZChainTask(built.problem, round.plan))) as ReturnType<typeof runZChainTask>;
            distributed = completeRound(shape.problem.setX, distributed, round.plan, joinChainTasks(y, z)).state;
          } else {
            const report = JSON.parse(
              JSON.stringify(gradientReportToJson(evaluateGradientRequest(built.problem, round.request))),
            ) as GradientReport;
            distributed = completeGradientRound(shape.problem, distributed, options, round.request, report).state;
          }
          local = bilevelStep(built.problem, local, inProcessOptions(method, options)).state;
        }
        expect(distributed).toEqual(local);
        expect(distributed.iteration).toBe(4);
        expect(planDistributedRound(distributed, options).kind).toBe(
          method === 'penalty-double-loop' || method === 'f2sa' ? 'chains' : 'gradients',
        );
      });
    }
  }

  it('refuses a gradient report with the wrong number of points or a non-finite entry', () => {
    const shape = bilevelProblemShape({ kind: 'test-case', name: 'T1' });
    const problem = buildBilevelProblem({ kind: 'test-case', name: 'T1' }).problem;
    let state = createBilevelState(problem, 'penalty-single-loop', shape.start);
    const options = { ...OPTIONS, momentum: 0.5 };
    const first = planDistributedRound(state, options);
    if (first.kind !== 'gradients') throw new Error('expected a gradient round');
    state = completeGradientRound(problem, state, options, first.request, evaluateGradientRequest(problem, first.request)).state;
    const second = planDistributedRound(state, options);
    if (second.kind !== 'gradients') throw new Error('expected a gradient round');
    expect(second.request.points).toHaveLength(2); // current and previous iterate, one sample (docs/algorithms/bilevel.md §6)
    const report = evaluateGradientRequest(problem, second.request);
    expect(() =>
      completeGradientRound(problem, state, options, second.request, { ...report, gradients: report.gradients.slice(0, 1) }),
    ).toThrow(/1 gradient triples for 2 points/);
    const bad = { ...report, gradients: [{ ...report.gradients[0], gradX: [NaN] }, report.gradients[1]] };
    expect(() => completeGradientRound(problem, state, options, second.request, bad)).toThrow(/gradX\[0\] is not finite/);
  });

  it('hyper-cleaning: the same file and seed give the same problem; a short file is refused with the row counts', () => {
    const a = buildBilevelProblem(CLEANING, { csv: DIGITS, featureRange: [0, 16], numClasses: 10 });
    const b = buildBilevelProblem(CLEANING, { csv: DIGITS, featureRange: [0, 16], numClasses: 10 });
    const x = new Float64Array(60).fill(0.3);
    const w = Float64Array.from({ length: a.problem.dimY }, (_, i) => 0.1 * Math.sin(i));
    expect(a.problem.g(x, w)).toBe(b.problem.g(x, w));
    const other = buildBilevelProblem({ ...CLEANING, dataSeed: 4 }, { csv: DIGITS, featureRange: [0, 16], numClasses: 10 });
    expect(other.problem.g(x, w)).not.toBe(a.problem.g(x, w));
    const short = DIGITS.split('\n').slice(0, 100).join('\n');
    expect(() => buildBilevelProblem(CLEANING, { csv: short, featureRange: [0, 16], numClasses: 10 })).toThrow(/needs 120 rows .* has 100/);
    expect(a.cleaner!(new Array(60).fill(10)).recall).toBe(1);
    expect(a.testAccuracy!(new Array(a.problem.dimY).fill(0))).toBeGreaterThanOrEqual(0);
  });
});
