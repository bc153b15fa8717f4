import {
  bilevelProblemShape,
  bilevelStep,
  buildBilevelProblem,
  createBilevelState,
  inProcessOptions,
  totalOracleCalls,
  type BilevelProblemDef,
  type BilevelMethod,
  type DistributedBilevelOptions,
} from '@flotilla/algorithms';
import type { BilevelRunView } from '@flotilla/contracts';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ROOT } from '../../scripts/lib/stack';

export const DIGITS_FILE = path.join(ROOT, 'data', 'uci-digits', 'digits.csv');
export const DIGITS = readFileSync(DIGITS_FILE, 'utf8');

/** The same run in one process (libs/algorithms `bilevelStep`): what the platform must reproduce exactly. */
export function reference(
  def: BilevelProblemDef,
  method: BilevelMethod,
  seed: number,
  options: DistributedBilevelOptions,
  iterations: number,
) {
  const built = buildBilevelProblem(def, { csv: DIGITS, featureRange: [0, 16], numClasses: 10 });
  const shape = bilevelProblemShape(def, { numFeatures: 64, numClasses: 10 });
  let state = createBilevelState(built.problem, method, { ...shape.start, seed });
  const gradXNorms: number[] = [];
  for (let k = 0; k < iterations; k++) {
    const r = bilevelStep(built.problem, state, inProcessOptions(method, options));
    state = r.state;
    gradXNorms.push(r.info.gradXNorm);
  }
  return { state, gradXNorms, testAccuracy: built.testAccuracy?.(state.y) ?? null };
}

/**
 * Curve points are DOUBLE PRECISION columns, and Prisma reads float8 with a parser that can be 1 ulp off (measured;
 * that is why iterates are stored as JSON text), so curves are compared to 1e-15 relative; iterates exactly.
 */
export function expectSameCurve(got: number[], want: number[]): void {
  expect(got).toHaveLength(want.length);
  got.forEach((g, i) => expect(Math.abs(g - want[i])).toBeLessThanOrEqual(1e-15 * Math.abs(want[i])));
}

/** The settings of the small T1 job the e2e suites submit (λ = 20, 10 inner steps) as the in-process run takes them. */
export const T1_OPTIONS: DistributedBilevelOptions = {
  penalty: { kind: 'fixed', lambda: 20 },
  innerSteps: 10,
  stepX: 0.2,
  stepY: 0.5,
  stepZ: 0.5,
  stepScaling: 'inverse-one-plus',
  momentum: 0.5,
  sampling: 'common',
};

/** A distributed run took exactly the steps of the in-process reference: the same x, curve and oracle calls. */
export function expectReferenceRun(
  run: BilevelRunView,
  def: BilevelProblemDef,
  seed: number,
  options: DistributedBilevelOptions,
  iterations: number,
): ReturnType<typeof reference> {
  const ref = reference(def, run.method as BilevelMethod, seed, options, iterations);
  expect(run.x).toEqual(ref.state.x);
  expectSameCurve(
    run.curve.map((p) => p.gradXNorm),
    ref.gradXNorms,
  );
  expect(run.oracleCalls).toBe(totalOracleCalls(ref.state.oracleCalls));
  return ref;
}
