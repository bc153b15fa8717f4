import * as tf from '@tensorflow/tfjs';
import type { BilevelProblem } from './problem';
import { checkBilevelProblem } from './problem';
import { UNCONSTRAINED, type BilevelSet } from './projection';

/** f or g written with TensorFlow.js ops on 1-D tensors x (length dimX) and y (length dimY), returning a scalar. */
export type TfBilevelFunction = (x: tf.Tensor1D, y: tf.Tensor1D) => tf.Scalar;

/** A bilevel problem given by TF.js functions; the oracles come from reverse-mode autodiff. */
export interface AutodiffProblemSpec {
  dimX: number;
  dimY: number;
  /** Default R^dimX. */
  setX?: BilevelSet;
  /** Default R^dimY. */
  setY?: BilevelSet;
  f: TfBilevelFunction;
  g: TfBilevelFunction;
}

/**
 * Builds first-order oracles for f and g by TF.js autodiff (`tf.grads`), for problems whose gradients are tedious
 * to write by hand (issue #5: "closed form or TF.js autodiff"). Only gradients are taken (no Hessians), as the
 * methods of docs/algorithms/bilevel.md §1 require. Computation is in float32 on the active backend, every call inside `tf.tidy`, so no
 * tensor outlives a call. Deterministic: the oracle's `sample` is ignored (wrap with `withGradientNoise` or
 * subsample inside f/g for a stochastic version). Small problems run faster with closed-form Float64Array oracles.
 */
export function autodiffBilevelProblem(spec: AutodiffProblemSpec): BilevelProblem {
  const { dimX, dimY } = spec;
  const value = (fn: TfBilevelFunction, x: Float64Array, y: Float64Array): number =>
    tf.tidy(() => fn(tf.tensor1d(Float32Array.from(x)), tf.tensor1d(Float32Array.from(y))).dataSync()[0]);
  const gradient =
    (fn: TfBilevelFunction): BilevelProblem['gradF'] =>
    (x, y, gx, gy) => {
      if (!gx && !gy) return;
      tf.tidy(() => {
        const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) => fn(a as tf.Tensor1D, b as tf.Tensor1D));
        const [dx, dy] = grads([tf.tensor1d(Float32Array.from(x)), tf.tensor1d(Float32Array.from(y))]);
        if (gx) gx.set(dx.dataSync());
        if (gy) gy.set(dy.dataSync());
      });
    };
  const problem: BilevelProblem = {
    dimX,
    dimY,
    setX: spec.setX ?? UNCONSTRAINED,
    setY: spec.setY ?? UNCONSTRAINED,
    f: (x, y) => value(spec.f, x, y),
    g: (x, y) => value(spec.g, x, y),
    gradF: gradient(spec.f),
    gradG: gradient(spec.g),
  };
  checkBilevelProblem(problem, 'autodiffBilevelProblem');
  return problem;
}
