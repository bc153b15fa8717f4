import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data/dataset';
import { createRng } from '../random';
import { evaluateLayered, trainLayered } from './layered';
import { sgdLoop, unflatten, type Evaluation, type LocalTrainingOptions, type LocalTrainingResult } from './local-sgd';
import {
  cnnLayers,
  denseLayers,
  describeLayers,
  ModelSpecError,
  parseTopology,
  type LayerDesc,
  type LayeredModel,
  type ModelLimits,
} from './topology';

/**
 * The model architectures, as flat float32 parameter vectors so that the coordinator can aggregate them without
 * knowing their structure. Layout: for each layer in order, its kernel (row-major; fan_in × fan_out for a dense
 * layer, height × width × in × out for a convolution) followed by its bias: the order of a TF.js model's
 * `getWeights()`. `softmax` and `mlp` train on their own small graph (the numbers they have always produced);
 * `cnn` and `layers` are TF.js LayersModels (layered.ts).
 */
export type ModelArch =
  | { arch: 'softmax' }
  | { arch: 'mlp'; hidden: number }
  /** conv(f₁) → max-pool → conv(f₂) → max-pool → flatten → dense(relu) → dense: for inputs of shape [h, w, c]. */
  | { arch: 'cnn'; filters: [number, number]; kernelSize: number; dense: number }
  /** Any Sequential TF.js LayersModel within the allowlist of topology.ts, given by model.json's `modelTopology`. */
  | { arch: 'layers'; topology: unknown };

export interface ModelShape {
  numFeatures: number;
  numClasses: number;
  /** One example's shape, features row-major (default `[numFeatures]`); `cnn` needs [height, width, channels]. */
  inputShape?: number[];
}

/** No limit: what agents and the coordinator's evaluations use once a job's model was accepted at submission. */
export const NO_MODEL_LIMITS: ModelLimits = { maxParameters: Infinity, maxMacs: Infinity, maxActivations: Infinity, maxLayers: Infinity };

/**
 * The layers, parameter tensors and cost of a `cnn` or `layers` model on a dataset of `shape`, checked against
 * `limits`. Throws a ModelSpecError (naming the layer and the problem) for a model that cannot be built.
 */
export function describeModel(model: ModelArch, shape: ModelShape, limits: ModelLimits = NO_MODEL_LIMITS): LayeredModel {
  checkShape(shape);
  const inputShape = shape.inputShape ?? [shape.numFeatures];
  if (inputShape.reduce((a, b) => a * b, 1) !== shape.numFeatures) {
    throw new ModelSpecError(`model: inputShape [${inputShape.join(', ')}] does not hold ${shape.numFeatures} features`);
  }
  switch (model.arch) {
    case 'softmax':
    case 'mlp':
      throw new Error(`describeModel: ${model.arch} is not a layered model`);
    case 'cnn':
      if (inputShape.length !== 3) {
        throw new ModelSpecError(
          `cnn needs images: the dataset's inputShape must be [height, width, channels], it is [${inputShape.join(', ')}]`,
        );
      }
      return describeLayers(cnnLayers(model, shape.numClasses), inputShape, shape.numClasses, limits);
    case 'layers': {
      const parsed = parseTopology(model.topology);
      if (parsed.inputShape.join(',') !== inputShape.join(',')) {
        throw new ModelSpecError(
          `the topology's input shape [${parsed.inputShape.join(', ')}] differs from the dataset's inputShape [${inputShape.join(', ')}]`,
          parsed.layers[0]?.name,
        );
      }
      return describeLayers(parsed.layers, inputShape, shape.numClasses, limits);
    }
  }
}

/**
 * Any model as layers: `cnn` and `layers` as {@link describeModel}, `softmax` and `mlp` as Dense layers (after a
 * Flatten when examples are not vectors) whose weights are their flat parameters in the same order. What a
 * model.json export describes: every exported model takes examples of the dataset's inputShape.
 */
export function layeredModel(model: ModelArch, shape: ModelShape): LayeredModel {
  if (model.arch === 'cnn' || model.arch === 'layers') return describeModel(model, shape);
  checkShape(shape);
  const inputShape = shape.inputShape ?? [shape.numFeatures];
  const flatten: LayerDesc[] = inputShape.length > 1 ? [{ kind: 'flatten', name: 'flatten' }] : [];
  const dense = denseLayers(model.arch === 'mlp' ? model.hidden : null, shape.numClasses);
  return describeLayers([...flatten, ...dense], inputShape, shape.numClasses, NO_MODEL_LIMITS);
}

function checkShape(shape: ModelShape): void {
  const { numFeatures: f, numClasses: c } = shape;
  if (!Number.isInteger(f) || f < 1 || !Number.isInteger(c) || c < 2) {
    throw new Error(`model: shape needs numFeatures >= 1 and numClasses >= 2, got ${f} and ${c}`);
  }
}

/** Shapes of the parameter tensors in flat-vector order. */
export function parameterShapes(model: ModelArch, shape: ModelShape): number[][] {
  checkShape(shape);
  const { numFeatures: f, numClasses: c } = shape;
  switch (model.arch) {
    case 'softmax':
      return [[f, c], [c]];
    case 'mlp':
      return [[f, model.hidden], [model.hidden], [model.hidden, c], [c]];
    case 'cnn':
    case 'layers':
      return describeModel(model, shape).weights.map((w) => w.shape);
  }
}

export function parameterCount(model: ModelArch, shape: ModelShape): number {
  return parameterShapes(model, shape).reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
}

/**
 * Deterministic initial parameters: Kaiming-normal kernels (std = sqrt(2 / fan_in), fan_in the product of all but a
 * kernel's last dimension) and zero biases, as in the FedAU reference models (docs/algorithms/fedau.md §6.4).
 */
export function initialParameters(model: ModelArch, shape: ModelShape, seed: number): Float32Array {
  const shapes = parameterShapes(model, shape);
  const out = new Float32Array(parameterCount(model, shape));
  const rng = createRng(seed);
  let offset = 0;
  for (const s of shapes) {
    const size = s.reduce((a, b) => a * b, 1);
    if (s.length >= 2) {
      const std = Math.sqrt(2 / (size / s[s.length - 1]));
      for (let i = 0; i < size; i++) out[offset + i] = rng.normal() * std;
    }
    offset += size;
  }
  return out;
}

function logits(model: ModelArch, params: tf.Tensor[], x: tf.Tensor2D): tf.Tensor2D {
  switch (model.arch) {
    case 'softmax':
      return tf.add(tf.matMul(x, params[0] as tf.Tensor2D), params[1]);
    case 'mlp': {
      const h = tf.relu(tf.add(tf.matMul(x, params[0] as tf.Tensor2D), params[1])) as tf.Tensor2D;
      return tf.add(tf.matMul(h, params[2] as tf.Tensor2D), params[3]);
    }
    case 'cnn':
    case 'layers':
      throw new Error(`logits: ${model.arch} runs as a LayersModel`);
  }
}

function checkInputs(where: string, model: ModelArch, data: Dataset, flat: Float32Array): ModelShape {
  const shape = { numFeatures: data.numFeatures, numClasses: data.numClasses, inputShape: data.inputShape };
  const expected = parameterCount(model, shape);
  if (flat.length !== expected) {
    throw new Error(
      `${where}: parameters have length ${flat.length}, ${model.arch} on ${data.numFeatures}x${data.numClasses} needs ${expected}`,
    );
  }
  if (data.size === 0) throw new Error(`${where}: dataset is empty`);
  return shape;
}

/**
 * Runs I steps of minibatch SGD (with optional momentum and weight decay) from `global` on `data`
 * (docs/algorithms/fedau.md §3.1): batches follow a seeded permutation, reshuffled when an epoch ends, with a short
 * last batch dropped. `cnn` and `layers` models need `data.inputShape` when it is not `[numFeatures]`.
 */
export function trainLocal(model: ModelArch, global: Float32Array, data: Dataset, opts: LocalTrainingOptions): LocalTrainingResult {
  const shape = checkInputs('trainLocal', model, data, global);
  if (!Number.isInteger(opts.steps) || opts.steps < 1) throw new Error(`trainLocal: steps must be a positive integer, got ${opts.steps}`);
  if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1)
    throw new Error(`trainLocal: batchSize must be a positive integer, got ${opts.batchSize}`);
  if (!(opts.lr > 0)) throw new Error(`trainLocal: lr must be positive, got ${opts.lr}`);
  const momentum = opts.momentum ?? 0;
  const weightDecay = opts.weightDecay ?? 0;
  if (!(momentum >= 0 && momentum < 1)) throw new Error(`trainLocal: momentum must be in [0, 1), got ${momentum}`);
  if (!(weightDecay >= 0 && Number.isFinite(weightDecay))) throw new Error(`trainLocal: weightDecay must be >= 0, got ${weightDecay}`);
  if (model.arch === 'cnn' || model.arch === 'layers') return trainLayered(describeModel(model, shape), global, data, opts);
  const shapes = parameterShapes(model, shape);
  const initial = unflatten(global, shapes);
  const vars = initial.map((t) => tf.variable(t));
  initial.forEach((t) => t.dispose());
  const x = tf.tensor2d(data.features, [data.size, data.numFeatures]);
  try {
    return sgdLoop(vars, x, data, opts, (xb) => logits(model, vars, xb as tf.Tensor2D));
  } finally {
    vars.forEach((v) => v.dispose());
    x.dispose();
  }
}

/** Accuracy and mean cross-entropy of the model on a whole dataset. */
export function evaluate(model: ModelArch, params: Float32Array, data: Dataset): Evaluation {
  const shape = checkInputs('evaluate', model, data, params);
  if (model.arch === 'cnn' || model.arch === 'layers') return evaluateLayered(describeModel(model, shape), params, data);
  return tf.tidy(() => {
    const tensors = unflatten(params, parameterShapes(model, shape));
    const x = tf.tensor2d(data.features, [data.size, data.numFeatures]);
    const out = logits(model, tensors, x);
    const labels = tf.tensor1d(data.labels, 'int32');
    const loss = tf.losses.softmaxCrossEntropy(tf.oneHot(labels, shape.numClasses), out).dataSync()[0];
    const correct = tf.sum(tf.cast(tf.equal(tf.argMax(out, 1), labels), 'float32')).dataSync()[0];
    return { accuracy: correct / data.size, loss };
  });
}
