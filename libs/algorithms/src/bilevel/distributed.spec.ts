import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { completeRound } from './penalty';
import { bilevelStep } from './runner';
import { createBilevelState } from './state';
import {
  bilevelProblemShape,
  buildBilevelProblem,
  inProcessOptions,
  joinChainTasks,
  planDistributedRound,
  runYChainTask,
  runZChainTask,
  type BilevelProblemDef,
  type DistributedBilevelMethod,
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

describe('distributed double-loop rounds (spec bilevel-penalty.md §9)', () => {
  const cases: [string, BilevelProblemDef][] = [
    ['T1', { kind: 'test-case', name: 'T1' }],
    ['T3 (box-constrained)', { kind: 'test-case', name: 'T3' }],
    ['hyper-cleaning', CLEANING],
  ];
  for (const method of ['penalty-double-loop', 'f2sa'] as DistributedBilevelMethod[]) {
    for (const [name, def] of cases) {
      it(`${method} on ${name}: y- and z-tasks joined after a JSON round trip take exactly the in-process steps`, () => {
        const built = buildBilevelProblem(def, { csv: DIGITS, featureRange: [0, 16], numClasses: 10 });
        const shape = bilevelProblemShape(def, { numFeatures: 64, numClasses: 10 });
        expect([shape.dimX, shape.dimY]).toEqual([built.problem.dimX, built.problem.dimY]);
        const options = { ...OPTIONS, stepX: def.kind === 'hyper-cleaning' ? 50 : 0.5 };
        let distributed = createBilevelState(shape.problem as typeof built.problem, method, { ...shape.start, seed: 7 });
        let local = createBilevelState(built.problem, method, { ...shape.start, seed: 7 });
        for (let k = 0; k < 4; k++) {
          const plan = JSON.parse(JSON.stringify(planDistributedRound(distributed, options))) as ReturnType<typeof planDistributedRound>;
          // Each half runs in its own "agent" and comes back as JSON.
          const y = JSON.parse(JSON.stringify(runYChainTask(built.problem, plan))) as ReturnType<typeof runYChainTask>;
          const z = JSON.parse(JSON.stringify(runZChainTask(built.problem, plan))) as ReturnType<typeof runZChainTask>;
          distributed = completeRound(shape.problem.setX, distributed, plan, joinChainTasks(y, z)).state;
          local = bilevelStep(built.problem, local, inProcessOptions(method, options)).state;
        }
        expect(distributed).toEqual(local);
        expect(distributed.iteration).toBe(4);
      });
    }
  }

  it('refuses the single-loop methods with a message naming the distributed ones', () => {
    const shape = bilevelProblemShape({ kind: 'test-case', name: 'T1' });
    const state = createBilevelState(shape.problem as never, 'v-pbgd', shape.start);
    expect(() => planDistributedRound(state, OPTIONS)).toThrow(/penalty-double-loop and f2sa/);
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
