import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data/dataset';
import { sgdLoop, unflatten, type Evaluation, type LocalTrainingOptions, type LocalTrainingResult } from './local-sgd';
import type { LayerDesc, LayeredModel } from './topology';

/**
 * `cnn` and `layers` models as TF.js LayersModels. A model is rebuilt from its {@link LayeredModel} wherever it is
 * needed (an agent's round, an evaluation, an export), then given the flat parameters in the order of its
 * `weights`; layers are named as the description names them, so the weights keep their names (`conv1/kernel`) and
 * a model.json written here loads with `tf.loadLayersModel`.
 */

/** How the last layer is built: as declared (export), or without its softmax (training and evaluation on logits). */
export type Head = 'declared' | 'logits';

/**
 * A Sequential model of `m`'s layers. Kernels are created as zeros (the caller sets the weights), so building costs
 * no random draws. With `head: 'logits'` a final softmax is left out: the cross-entropy is computed from logits,
 * which is stable where log(softmax) is not, and leaves the argmax unchanged.
 */
export function buildLayersModel(m: LayeredModel, head: Head): tf.Sequential {
  let layers = m.layers;
  if (head === 'logits' && m.output === 'softmax') {
    const last = layers[layers.length - 1];
    layers = last.kind === 'activation' ? layers.slice(0, -1) : [...layers.slice(0, -1), { ...last, activation: 'linear' } as LayerDesc];
  }
  const model = tf.sequential({
    name: 'flotilla',
    layers: layers.map((l, i) => toTfLayer(l, i === 0 ? [null, ...m.inputShape] : undefined)),
  });
  const names = model.weights.map((w) => w.originalName);
  if (names.join('\n') !== m.weights.map((w) => w.name).join('\n')) {
    model.dispose();
    throw new Error(`buildLayersModel: TF.js orders the weights as ${names.join(', ')}, not as described`);
  }
  return model;
}

function toTfLayer(l: LayerDesc, batchInputShape: (number | null)[] | undefined): tf.layers.Layer {
  const common = { name: l.name, ...(batchInputShape ? { batchInputShape } : {}) };
  const init = { kernelInitializer: 'zeros', biasInitializer: 'zeros' } as const;
  switch (l.kind) {
    case 'dense':
      return tf.layers.dense({ ...common, ...init, units: l.units, useBias: l.useBias, activation: l.activation });
    case 'conv2d':
      return tf.layers.conv2d({
        ...common,
        ...init,
        filters: l.filters,
        kernelSize: l.kernelSize,
        strides: l.strides,
        padding: l.padding,
        useBias: l.useBias,
        activation: l.activation,
      });
    case 'maxPooling2d':
      return tf.layers.maxPooling2d({ ...common, poolSize: l.poolSize, strides: l.strides, padding: l.padding });
    case 'averagePooling2d':
      return tf.layers.averagePooling2d({ ...common, poolSize: l.poolSize, strides: l.strides, padding: l.padding });
    case 'globalMaxPooling2d':
      return tf.layers.globalMaxPooling2d(common);
    case 'globalAveragePooling2d':
      return tf.layers.globalAveragePooling2d(common);
    case 'flatten':
      return tf.layers.flatten(common);
    case 'reshape':
      return tf.layers.reshape({ ...common, targetShape: l.targetShape });
    case 'activation':
      return tf.layers.activation({ ...common, activation: l.activation });
  }
}

/** Runs `fn` with `m` built (logits head) and holding `params`; the model is disposed afterwards. */
function withModel<T>(m: LayeredModel, params: Float32Array, fn: (model: tf.Sequential) => T): T {
  const model = buildLayersModel(m, 'logits');
  try {
    const tensors = unflatten(
      params,
      m.weights.map((w) => w.shape),
    );
    model.setWeights(tensors);
    tf.dispose(tensors);
    return fn(model);
  } finally {
    model.dispose();
  }
}

/** trainLocal for a layered model (the caller checked the arguments). */
export function trainLayered(m: LayeredModel, global: Float32Array, data: Dataset, opts: LocalTrainingOptions): LocalTrainingResult {
  return withModel(m, global, (model) => {
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const x = tf.tensor(data.features, [data.size, ...m.inputShape], 'float32');
    try {
      return sgdLoop(vars, x, data, opts, (xb) => model.apply(xb, { training: true }) as tf.Tensor);
    } finally {
      x.dispose();
    }
  });
}

/** Examples per forward pass of an evaluation: bounds its activations' memory whatever the test split's size. */
const EVAL_CHUNK = 256;

/** evaluate for a layered model: summed over chunks of examples, so memory does not grow with the split. */
export function evaluateLayered(m: LayeredModel, params: Float32Array, data: Dataset): Evaluation {
  return withModel(m, params, (model) => {
    const per = m.inputShape.reduce((a, b) => a * b, 1);
    let lossSum = 0;
    let correct = 0;
    for (let start = 0; start < data.size; start += EVAL_CHUNK) {
      const n = Math.min(EVAL_CHUNK, data.size - start);
      const [l, c] = tf.tidy(() => {
        const x = tf.tensor(data.features.subarray(start * per, (start + n) * per), [n, ...m.inputShape], 'float32');
        const labels = tf.tensor1d(data.labels.subarray(start, start + n), 'int32');
        const out = model.apply(x) as tf.Tensor2D;
        const loss = tf.losses.softmaxCrossEntropy(tf.oneHot(labels, data.numClasses), out, undefined, 0, tf.Reduction.SUM);
        const hits = tf.sum(tf.cast(tf.equal(tf.argMax(out, 1), labels), 'float32'));
        return [loss.dataSync()[0], hits.dataSync()[0]];
      });
      lossSum += l;
      correct += c;
    }
    return { accuracy: correct / data.size, loss: lossSum / data.size };
  });
}

/** A TF.js model.json (format `layers-model`) whose single weights file, `weightsPath`, is the flat parameter vector. */
export interface ModelJson {
  format: 'layers-model';
  generatedBy: string;
  convertedBy: null;
  modelTopology: object;
  weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; dtype: 'float32' }[] }[];
}

/**
 * model.json for `m` with its declared head (a final softmax stays, so `predict` gives probabilities). The weights
 * file is the flat parameter vector as it is (little-endian float32 in the order of `m.weights`).
 */
export function modelJson(m: LayeredModel, weightsPath: string): ModelJson {
  const model = buildLayersModel(m, 'declared');
  try {
    return {
      format: 'layers-model',
      generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
      convertedBy: null,
      modelTopology: model.toJSON(null, false) as object,
      weightsManifest: [{ paths: [weightsPath], weights: m.weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })) }],
    };
  } finally {
    model.dispose();
  }
}
