import * as tf from '@tensorflow/tfjs';
import { autodiffBilevelProblem } from './autodiff';
import { runBilevel } from './runner';
import { bilevelCaseT1, bilevelCaseT4 } from './test-problems';

describe('TF.js autodiff oracles', () => {
  // IS_TEST silences the CPU backend's "install tfjs-node" hint (tfjs's own switch for test runs).
  beforeAll(() => tf.env().set('IS_TEST', true));

  // T4 written with TF.js ops: g = (x + y)² + x·sin²(x + y), f = cos(4y + 2)·σ(4x − 2) + ½ ln((4x − 2)² + 1).
  const t4 = bilevelCaseT4();
  const auto = autodiffBilevelProblem({
    dimX: 1,
    dimY: 1,
    setX: t4.problem.setX,
    f: (x, y) =>
      tf
        .add(
          tf.mul(tf.cos(tf.add(tf.mul(y, 4), 2)), tf.sigmoid(tf.sub(tf.mul(x, 4), 2))),
          tf.mul(0.5, tf.log1p(tf.square(tf.sub(tf.mul(x, 4), 2)))),
        )
        .sum(),
    g: (x, y) => tf.add(tf.square(tf.add(x, y)), tf.mul(x, tf.square(tf.sin(tf.add(x, y))))).sum(),
  });

  it('match the closed-form gradients of T4 to float32 precision and leak no tensors', () => {
    const before = tf.memory().numTensors;
    for (const [xv, yv] of [
      [0.3, -0.1],
      [1.2, -1.5],
      [2.7, 0.4],
    ]) {
      const x = Float64Array.from([xv]);
      const y = Float64Array.from([yv]);
      for (const which of ['gradF', 'gradG'] as const) {
        const a = [new Float64Array(1), new Float64Array(1)];
        const b = [new Float64Array(1), new Float64Array(1)];
        auto[which](x, y, a[0], a[1], 0);
        t4.problem[which](x, y, b[0], b[1], 0);
        // float32 has ~7 significant digits and these values are O(10): 1e-4 absolute.
        expect(Math.abs(a[0][0] - b[0][0])).toBeLessThan(1e-4);
        expect(Math.abs(a[1][0] - b[1][0])).toBeLessThan(1e-4);
      }
      expect(auto.f(x, y)).toBeCloseTo(t4.problem.f(x, y), 5);
      expect(auto.g(x, y)).toBeCloseTo(t4.problem.g(x, y), 5);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('drive a method to the closed-form answer (T1 by autodiff, λ = 10: x*_λ = 10/21)', () => {
    const t1 = bilevelCaseT1();
    const p = autodiffBilevelProblem({
      dimX: 1,
      dimY: 1,
      f: (x, y) => tf.add(tf.mul(0.5, tf.square(tf.sub(y, 1))), tf.mul(0.5, tf.square(x))).sum(),
      g: (x, y) => tf.sub(tf.mul(0.5, tf.square(y)), tf.mul(x, y)).sum(),
    });
    const r = runBilevel(p, { method: 'v-pbgd', penalty: { kind: 'fixed', lambda: 10 } }, t1.start, {
      stop: { maxIterations: 1500, tolerance: 1e-4 },
    });
    expect(Math.abs(r.x[0] - 10 / 21)).toBeLessThan(1e-3);
  });
});
