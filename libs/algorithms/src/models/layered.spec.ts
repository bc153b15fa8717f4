import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data/dataset';
import { useWasmBackend } from './backend';
import { buildLayersModel, evaluateLayered, modelJson } from './layered';
import {
  describeModel,
  evaluate,
  initialParameters,
  layeredModel,
  parameterCount,
  parameterShapes,
  trainLocal,
  type ModelArch,
} from './model';
import { arrangeWeights, ModelSpecError, parseTopology } from './topology';

/** 8×8 one-channel images of two classes: a bright left half, or a bright top half (with a deterministic ripple). */
function images(n: number): Dataset {
  const features = new Float32Array(n * 64);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const y = i % 2;
    labels[i] = y;
    for (let r = 0; r < 8; r++) {
      for (let c = 0; c < 8; c++) {
        const on = y === 0 ? c < 4 : r < 4;
        features[i * 64 + r * 8 + c] = (on ? 0.8 : 0.1) + ((i * 31 + r * 7 + c * 3) % 10) / 100;
      }
    }
  }
  return { features, labels, numFeatures: 64, numClasses: 2, size: n, inputShape: [8, 8, 1] };
}

const CNN: ModelArch = { arch: 'cnn', filters: [4, 8], kernelSize: 3, dense: 16 };

/** A Sequential model.json topology as TF.js's `model.save()` writes it (snake_case Keras configs). */
function sequential(layers: { class_name: string; config: Record<string, unknown> }[]) {
  return {
    class_name: 'Sequential',
    config: { name: 'sequential_1', layers },
    keras_version: 'tfjs-layers 4.22.0',
    backend: 'tensor_flow.js',
  };
}
const convTopology = () =>
  sequential([
    {
      class_name: 'Conv2D',
      config: {
        name: 'c1',
        filters: 4,
        kernel_size: [3, 3],
        strides: [1, 1],
        padding: 'valid',
        activation: 'relu',
        use_bias: true,
        batch_input_shape: [null, 8, 8, 1],
        dtype: 'float32',
        kernel_regularizer: null,
      },
    },
    { class_name: 'MaxPooling2D', config: { name: 'p1', pool_size: [2, 2], padding: 'valid', strides: null } },
    { class_name: 'Flatten', config: { name: 'f' } },
    { class_name: 'Dense', config: { name: 'out', units: 2, activation: 'softmax', use_bias: true } },
  ]);

beforeAll(async () => {
  expect(await useWasmBackend()).toBe('wasm');
});

describe('layered models', () => {
  it('lays out cnn parameters per layer, kernel then bias, as TF.js orders its weights', () => {
    const shape = { numFeatures: 64, numClasses: 10, inputShape: [8, 8, 1] };
    // 'same' convolutions and pools: 8×8 → 4×4 → 2×2, so flatten gives 2·2·8 = 32 values.
    expect(parameterShapes(CNN, shape)).toEqual([[3, 3, 1, 4], [4], [3, 3, 4, 8], [8], [32, 16], [16], [16, 10], [10]]);
    // 36+4 + 288+8 + 512+16 + 160+10
    expect(parameterCount(CNN, shape)).toBe(1034);
    const m = describeModel(CNN, shape);
    const model = buildLayersModel(m, 'logits');
    expect(model.weights.map((w) => w.originalName)).toEqual(m.weights.map((w) => w.name));
    expect(model.weights.map((w) => w.shape)).toEqual(m.weights.map((w) => w.shape));
    model.dispose();
  });

  it('refuses a cnn on data that are not images', () => {
    expect(() => describeModel(CNN, { numFeatures: 64, numClasses: 10 })).toThrow(/cnn needs images.*\[64\]/);
  });

  it('trains a cnn on wasm (conv filter gradient included) without leaking tensors, reproducibly', () => {
    const data = images(64);
    const x0 = initialParameters(CNN, data, 1);
    const before = evaluate(CNN, x0, data);
    const tensors = tf.memory().numTensors;
    const opts = { steps: 30, batchSize: 16, lr: 0.05, momentum: 0.5, seed: 3 };
    const r = trainLocal(CNN, x0, data, opts);
    expect(tf.memory().numTensors).toBe(tensors);
    const after = evaluate(
      CNN,
      x0.map((v, i) => v + r.delta[i]),
      data,
    );
    expect(tf.memory().numTensors).toBe(tensors);
    expect(after.loss).toBeLessThan(before.loss);
    expect(after.accuracy).toBe(1);
    expect(trainLocal(CNN, x0, data, opts).delta).toEqual(r.delta);
    // The first layer's kernel moved: its gradient (Conv2DBackpropFilter, registered for wasm) is not zero.
    expect(r.delta.subarray(0, 36).some((d) => d !== 0)).toBe(true);
  });

  it('computes the conv filter gradient on wasm as the cpu backend does', async () => {
    const x = tf.tensor4d(
      Array.from({ length: 2 * 5 * 5 * 2 }, (_, i) => Math.sin(i)),
      [2, 5, 5, 2],
    );
    const w = tf.tensor4d(
      Array.from({ length: 3 * 3 * 2 * 3 }, (_, i) => Math.cos(i)),
      [3, 3, 2, 3],
    );
    const grad = (padding: 'same' | 'valid', stride: number) =>
      tf.tidy(() =>
        Array.from(
          tf
            .grad((f) => tf.sum(tf.square(tf.conv2d(x, f as tf.Tensor4D, stride, padding))))(w)
            .dataSync(),
        ),
      );
    const cases = [
      ['same', 1],
      ['valid', 1],
      ['same', 2],
      ['valid', 2],
    ] as const;
    const onWasm = cases.map(([p, s]) => grad(p, s));
    await tf.setBackend('cpu');
    try {
      cases.forEach(([p, s], k) => grad(p, s).forEach((v, i) => expect(onWasm[k][i]).toBeCloseTo(v, 3)));
    } finally {
      await tf.setBackend('wasm');
      x.dispose();
      w.dispose();
    }
  });

  it('builds a Sequential topology, trains it and evaluates on logits of its softmax head', () => {
    const data = images(32);
    const model: ModelArch = { arch: 'layers', topology: convTopology() };
    const m = describeModel(model, data);
    // valid 3×3: 8 → 6, pool 2 → 3; flatten 3·3·4 = 36; 36·2 + 2.
    expect(m.weights).toEqual([
      { name: 'c1/kernel', shape: [3, 3, 1, 4] },
      { name: 'c1/bias', shape: [4] },
      { name: 'out/kernel', shape: [36, 2] },
      { name: 'out/bias', shape: [2] },
    ]);
    expect(m.output).toBe('softmax');
    const x0 = initialParameters(model, data, 2);
    const r = trainLocal(model, x0, data, { steps: 20, batchSize: 8, lr: 0.2, seed: 1 });
    expect(
      evaluate(
        model,
        x0.map((v, i) => v + r.delta[i]),
        data,
      ).accuracy,
    ).toBe(1);
    // The loss is computed on logits: at zero weights every class has probability 1/2, a loss of ln 2 (not ln(1 + e^{-…})).
    expect(evaluate(model, new Float32Array(x0.length), data).loss).toBeCloseTo(Math.log(2), 6);
  });

  it('trains through every allowed layer class and activation on wasm (each has its gradient kernels there)', () => {
    const data = images(8);
    const layer = (class_name: string, config: Record<string, unknown>) => ({ class_name, config });
    const topology = sequential([
      layer('InputLayer', { name: 'in', batch_input_shape: [null, 8, 8, 1] }),
      layer('Conv2D', { name: 'c1', filters: 2, kernel_size: 3, strides: 1, padding: 'same', activation: 'relu' }),
      layer('AveragePooling2D', { name: 'ap', pool_size: 2, padding: 'valid' }),
      layer('Conv2D', { name: 'c2', filters: 3, kernel_size: [2, 2], strides: [2, 2], padding: 'valid', activation: 'elu' }),
      layer('MaxPooling2D', { name: 'mp', pool_size: [1, 1] }),
      layer('Reshape', { name: 'r', target_shape: [2, 2, 3] }),
      layer('GlobalAveragePooling2D', { name: 'gap' }),
      ...(['relu6', 'sigmoid', 'tanh', 'selu', 'softplus', 'linear'] as const).map((a, i) =>
        layer('Dense', { name: `d${i}`, units: 4, activation: a, use_bias: i % 2 === 0 }),
      ),
      layer('Reshape', { name: 'r2', target_shape: [2, 2, 1] }),
      layer('Flatten', { name: 'f' }),
      layer('Reshape', { name: 'r3', target_shape: [2, 2, 1] }),
      layer('GlobalMaxPooling2D', { name: 'gmp' }),
      layer('Dense', { name: 'out', units: 2 }),
      layer('Activation', { name: 'soft', activation: 'softmax' }),
    ]);
    const model: ModelArch = { arch: 'layers', topology };
    expect(describeModel(model, data).output).toBe('softmax');
    const x0 = initialParameters(model, data, 5);
    const tensors = tf.memory().numTensors;
    const r = trainLocal(model, x0, data, { steps: 2, batchSize: 4, lr: 0.1, momentum: 0.5, weightDecay: 0.01, seed: 0 });
    expect(tf.memory().numTensors).toBe(tensors);
    // Every parameter tensor got a gradient: weight decay alone moves every non-zero weight, and the first kernel
    // moves through the conv filter gradient.
    expect(r.delta.every(Number.isFinite)).toBe(true);
    expect(r.delta.subarray(0, 18).some((d) => d !== 0)).toBe(true);
  });

  it('writes a model.json whose weights are the flat vector in manifest order', () => {
    const m = describeModel(CNN, { numFeatures: 64, numClasses: 10, inputShape: [8, 8, 1] });
    const json = modelJson(m, 'weights.bin?round=2');
    expect(json.format).toBe('layers-model');
    expect(json.weightsManifest[0].paths).toEqual(['weights.bin?round=2']);
    expect(json.weightsManifest[0].weights.map((w) => w.name)).toEqual(m.weights.map((w) => w.name));
    const topology = json.modelTopology as { class_name: string; config: { layers: { config: { activation?: string } }[] } };
    expect(topology.class_name).toBe('Sequential');
    // The export keeps the declared softmax head, so predict() gives probabilities.
    expect(topology.config.layers.at(-1)!.config.activation).toBe('softmax');
    // What TF.js wrote parses back to the same layers.
    expect(parseTopology(topology).layers).toEqual(m.layers);
    // As the Keras converter writes it (under model_config), or a whole model.json: the same layers.
    expect(parseTopology({ modelTopology: { keras_version: '2.15.0', model_config: topology } }).layers).toEqual(m.layers);
  });
});

describe('softmax and mlp as layers', () => {
  it('keep their parameter layout as Dense layers, and predict as the functional graph evaluates', () => {
    const shape = { numFeatures: 64, numClasses: 10, inputShape: [8, 8, 1] };
    const data = { ...images(16), numClasses: 10 };
    for (const model of [{ arch: 'softmax' as const }, { arch: 'mlp' as const, hidden: 5 }]) {
      const m = layeredModel(model, shape);
      expect(m.weights.map((w) => w.shape)).toEqual(parameterShapes(model, shape));
      expect(m.layers[0].kind).toBe('flatten');
      const x = initialParameters(model, shape, 4);
      const functional = evaluate(model, x, data);
      const layered = evaluateLayered(m, x, data);
      expect(layered.accuracy).toBe(functional.accuracy);
      expect(layered.loss).toBeCloseTo(functional.loss, 5);
    }
  });
});

describe('topology validation', () => {
  const shape = { numFeatures: 64, numClasses: 2, inputShape: [8, 8, 1] };
  const limits = { maxParameters: 10_000, maxMacs: 1e7 };
  const withLayer = (i: number, patch: Record<string, unknown>, cls?: string) => {
    const t = convTopology();
    const l = t.config.layers[i];
    t.config.layers[i] = { class_name: cls ?? l.class_name, config: { ...l.config, ...patch } };
    return { arch: 'layers' as const, topology: t };
  };

  it('refuses an unknown layer class, naming the layer', () => {
    expect(() => describeModel(withLayer(1, {}, 'LSTM'), shape, limits)).toThrow(/layer 'p1' \(LSTM\): this layer class is not supported/);
  });

  it('refuses an input shape other than the dataset’s', () => {
    expect(() => describeModel(withLayer(0, { batch_input_shape: [null, 28, 28, 1] }), shape, limits)).toThrow(
      /input shape \[28, 28, 1\] differs from the dataset's inputShape \[8, 8, 1\]/,
    );
  });

  it('refuses a last layer without one unit per class', () => {
    expect(() => describeModel(withLayer(3, { units: 3 }), shape, limits)).toThrow(
      /layer 'out' \(dense\): the model's output has shape \[3\].*must be \[2\]/,
    );
  });

  it('refuses a model over the parameter limit before allocating anything', () => {
    const tensors = tf.memory().numTensors;
    const bytes = tf.memory().numBytes;
    // 36 · 10⁹ weights (144 GB): counted from the config, never built.
    expect(() => describeModel(withLayer(3, { units: 1e9 }), { ...shape, numClasses: 1e9 }, limits)).toThrow(
      /layer 'out' \(dense\): the model has more than 10000 parameters \(the limit\)/,
    );
    expect(() => describeModel(withLayer(0, { filters: 5000 }), shape, limits)).toThrow(
      /layer 'c1' \(conv2d\).*more than 10000 parameters/,
    );
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.memory().numBytes).toBe(bytes);
  });

  it('refuses too many multiply-accumulates, a bad window, an unsupported option and a non-Sequential model', () => {
    expect(() => describeModel(withLayer(0, { filters: 100 }), shape, { maxParameters: 1e6, maxMacs: 10_000 })).toThrow(
      /layer 'c1' \(conv2d\): the model needs more than 10000 multiply-accumulates/,
    );
    expect(() => describeModel(withLayer(0, { kernel_size: 9 }), shape, limits)).toThrow(
      /layer 'c1' \(conv2d\): a 9x9 window with 'valid' padding does not fit its 8x8 input/,
    );
    expect(() => describeModel(withLayer(0, { kernel_regularizer: { class_name: 'L2' } }), shape, limits)).toThrow(
      /layer 'c1' \(Conv2D\): kernel_regularizer is not supported/,
    );
    expect(() => describeModel(withLayer(3, { activation: 'sigmoid' }), shape, limits)).toThrow(
      /last layer's activation must be softmax or linear/,
    );
    expect(() => describeModel(withLayer(2, { units: 2 }, 'Bogus'), shape, limits)).toThrow(/layer 'f' \(Bogus\)/);
    const flatTwice = convTopology();
    flatTwice.config.layers.splice(3, 0, { class_name: 'Flatten', config: { name: 'f2' } });
    expect(() => describeModel({ arch: 'layers', topology: flatTwice }, shape, limits)).toThrow(
      /layer 'f2' \(flatten\): needs an input of at least 2 dimensions, gets \[36\]/,
    );
    expect(() => describeModel({ arch: 'layers', topology: { class_name: 'Functional', config: {} } }, shape, limits)).toThrow(
      /only Sequential topologies are supported, this one is 'Functional'/,
    );
    expect(() => describeModel({ arch: 'layers', topology: [] }, shape, limits)).toThrow(ModelSpecError);
  });
});

describe('initial weights', () => {
  const described = [
    { name: 'a/kernel', shape: [2, 2] },
    { name: 'a/bias', shape: [2] },
  ];

  it('takes the blob as it is without a manifest, and reorders by name with one', () => {
    const values = Float32Array.from([1, 2, 3, 4, 5, 6]);
    expect(arrangeWeights(values, described)).toEqual(values);
    // The manifest lists the bias first: its two values come first in the blob.
    const manifest = [
      { name: 'a/bias', shape: [2] },
      { name: 'a/kernel', shape: [2, 2] },
    ];
    expect([...arrangeWeights(values, described, manifest)]).toEqual([3, 4, 5, 6, 1, 2]);
  });

  it('refuses a blob of the wrong length, a missing weight and a wrong shape', () => {
    expect(() => arrangeWeights(new Float32Array(5), described)).toThrow(/holds 5 float32 values, the model has 6 parameters/);
    expect(() => arrangeWeights(new Float32Array(6), described, [{ name: 'a/kernel', shape: [2, 3] }])).toThrow(
      /describes 6.*the model 2|has 1 weights, the model 2/,
    );
    const wrong = [
      { name: 'a/kernel', shape: [4, 1] },
      { name: 'a/bias', shape: [2] },
    ];
    expect(() => arrangeWeights(new Float32Array(6), described, wrong)).toThrow(
      /'a\/kernel' has shape \[4, 1\] in the manifest, \[2, 2\] in the model/,
    );
    const other = [
      { name: 'b/kernel', shape: [2, 2] },
      { name: 'a/bias', shape: [2] },
    ];
    expect(() => arrangeWeights(new Float32Array(6), described, other)).toThrow(/the manifest has no weight 'a\/kernel'/);
  });
});
