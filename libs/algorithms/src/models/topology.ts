/**
 * The layered models (`cnn` and `layers`) described without TensorFlow.js: a pure walk over the layers that checks
 * every config against an allowlist, carries the running shape of one example through them and counts parameters
 * and multiply-accumulates. Nothing is allocated before this walk has accepted the model, so a hostile topology (a
 * Dense layer of 10⁹ units, a 10⁶-deep graph) is refused for the price of reading its JSON.
 */

/** An activation that the layered models accept: each has a gradient on the cpu, wasm and native backends. */
export const ACTIVATIONS = ['linear', 'relu', 'relu6', 'sigmoid', 'tanh', 'softmax', 'elu', 'selu', 'softplus'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

/** One layer of a layered model, normalised from its Keras/TF.js config (channels-last, unit dilation). */
export type LayerDesc =
  | { kind: 'dense'; name: string; units: number; useBias: boolean; activation: Activation }
  | {
      kind: 'conv2d';
      name: string;
      filters: number;
      kernelSize: [number, number];
      strides: [number, number];
      padding: 'same' | 'valid';
      useBias: boolean;
      activation: Activation;
    }
  | {
      kind: 'maxPooling2d' | 'averagePooling2d';
      name: string;
      poolSize: [number, number];
      strides: [number, number];
      padding: 'same' | 'valid';
    }
  | { kind: 'globalMaxPooling2d' | 'globalAveragePooling2d' | 'flatten'; name: string }
  | { kind: 'reshape'; name: string; targetShape: number[] }
  | { kind: 'activation'; name: string; activation: Activation };

/** A parameter tensor of a layered model, named as TF.js names it (`<layer>/kernel`, `<layer>/bias`). */
export interface WeightDesc {
  name: string;
  shape: number[];
}

/** A layered model that passed {@link describeLayers}: what the builders, the trainer and the exporter need. */
export interface LayeredModel {
  /** One example's shape (no batch dimension). */
  inputShape: number[];
  layers: LayerDesc[];
  /**
   * The parameter tensors in flat-vector order: layers in order, each layer's kernel then its bias (the order of
   * `model.getWeights()` and of model.json's weightsManifest).
   */
  weights: WeightDesc[];
  parameterCount: number;
  /** Multiply-accumulates of one example's forward pass (a measure of the coordinator's evaluation cost). */
  macs: number;
  /** Whether the last layer applies a softmax (trained and evaluated on the logits before it) or nothing. */
  output: 'softmax' | 'logits';
}

/** What a layered model may cost. */
export interface ModelLimits {
  /** Most parameters (float32 each). */
  maxParameters: number;
  /** Most multiply-accumulates per example. */
  maxMacs: number;
  /** Most values one layer's output may hold per example (bounds the activations' memory). Default 1,048,576. */
  maxActivations?: number;
  /** Most layers. Default 64. */
  maxLayers?: number;
}

/** A model spec that cannot be built: `layer` names the offending layer (its name, or its index) when there is one. */
export class ModelSpecError extends Error {
  constructor(
    message: string,
    readonly layer?: string,
  ) {
    super(message);
    this.name = 'ModelSpecError';
  }
}

const DEFAULT_MAX_ACTIVATIONS = 1 << 20;
const DEFAULT_MAX_LAYERS = 64;
const NAME = /^[A-Za-z0-9_.-]{1,100}$/;

/**
 * Checks `layers` on examples of shape `inputShape` for `numClasses` outputs and describes the model: running
 * shapes, parameter tensors, cost. Throws a {@link ModelSpecError} naming the layer and the problem.
 */
export function describeLayers(layers: LayerDesc[], inputShape: number[], numClasses: number, limits: ModelLimits): LayeredModel {
  const maxActivations = limits.maxActivations ?? DEFAULT_MAX_ACTIVATIONS;
  const maxLayers = limits.maxLayers ?? DEFAULT_MAX_LAYERS;
  if (layers.length === 0) throw new ModelSpecError('the model has no layers');
  if (layers.length > maxLayers) throw new ModelSpecError(`the model has ${layers.length} layers, at most ${maxLayers} are allowed`);
  const names = new Set<string>();
  const weights: WeightDesc[] = [];
  let shape = [...inputShape];
  let parameterCount = 0;
  let macs = 0;
  const fail = (l: LayerDesc, problem: string): never => {
    throw new ModelSpecError(`layer '${l.name}' (${l.kind}): ${problem}`, l.name);
  };
  const add = (l: LayerDesc, suffix: string, s: number[]): void => {
    parameterCount += s.reduce((a, b) => a * b, 1);
    if (parameterCount > limits.maxParameters) {
      fail(l, `the model has more than ${limits.maxParameters} parameters (the limit) once this layer's ${suffix} is counted`);
    }
    weights.push({ name: `${l.name}/${suffix}`, shape: s });
  };
  for (const l of layers) {
    if (!NAME.test(l.name)) fail(l, 'its name must be 1 to 100 letters, digits, _ . or -');
    if (names.has(l.name)) fail(l, 'two layers have this name');
    names.add(l.name);
    switch (l.kind) {
      case 'dense': {
        const fanIn = shape[shape.length - 1];
        add(l, 'kernel', [fanIn, l.units]);
        if (l.useBias) add(l, 'bias', [l.units]);
        macs += (size(shape) / fanIn) * fanIn * l.units;
        shape = [...shape.slice(0, -1), l.units];
        break;
      }
      case 'conv2d': {
        if (shape.length !== 3) fail(l, `needs an input of shape [height, width, channels], gets [${shape.join(', ')}]`);
        const out = windowed(l, shape, l.kernelSize, l.strides, l.padding, fail);
        add(l, 'kernel', [l.kernelSize[0], l.kernelSize[1], shape[2], l.filters]);
        if (l.useBias) add(l, 'bias', [l.filters]);
        macs += out[0] * out[1] * l.filters * l.kernelSize[0] * l.kernelSize[1] * shape[2];
        shape = [out[0], out[1], l.filters];
        break;
      }
      case 'maxPooling2d':
      case 'averagePooling2d': {
        if (shape.length !== 3) fail(l, `needs an input of shape [height, width, channels], gets [${shape.join(', ')}]`);
        const out = windowed(l, shape, l.poolSize, l.strides, l.padding, fail);
        shape = [out[0], out[1], shape[2]];
        break;
      }
      case 'globalMaxPooling2d':
      case 'globalAveragePooling2d':
        if (shape.length !== 3) fail(l, `needs an input of shape [height, width, channels], gets [${shape.join(', ')}]`);
        shape = [shape[2]];
        break;
      case 'flatten':
        // TF.js's Flatten refuses a vector (it wants min_ndim 3 with the batch), so the walk does too.
        if (shape.length < 2) fail(l, `needs an input of at least 2 dimensions, gets [${shape.join(', ')}]`);
        shape = [size(shape)];
        break;
      case 'reshape':
        if (size(l.targetShape) !== size(shape)) {
          fail(l, `cannot reshape [${shape.join(', ')}] (${size(shape)} values) to [${l.targetShape.join(', ')}]`);
        }
        shape = [...l.targetShape];
        break;
      case 'activation':
        break;
    }
    if (macs > limits.maxMacs) fail(l, `the model needs more than ${limits.maxMacs} multiply-accumulates per example (the limit)`);
    if (size(shape) > maxActivations) {
      fail(l, `its output holds ${size(shape)} values per example, more than the limit of ${maxActivations}`);
    }
  }
  const last = layers[layers.length - 1];
  const activation = 'activation' in last ? last.activation : 'linear';
  if (activation !== 'softmax' && activation !== 'linear') {
    fail(last, `the last layer's activation must be softmax or linear (the loss is cross-entropy), not ${activation}`);
  }
  if (shape.length !== 1 || shape[0] !== numClasses) {
    fail(last, `the model's output has shape [${shape.join(', ')}]; the dataset has ${numClasses} classes, so it must be [${numClasses}]`);
  }
  if (parameterCount === 0) throw new ModelSpecError('the model has no parameters to train');
  return { inputShape: [...inputShape], layers, weights, parameterCount, macs, output: activation === 'softmax' ? 'softmax' : 'logits' };
}

function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Output height and width of a convolution or pooling window (TF's 'same' and 'valid' padding, unit dilation). */
function windowed(
  l: LayerDesc,
  shape: number[],
  window: [number, number],
  strides: [number, number],
  padding: 'same' | 'valid',
  fail: (l: LayerDesc, problem: string) => never,
): [number, number] {
  const out = [0, 1].map((i) =>
    padding === 'same' ? Math.ceil(shape[i] / strides[i]) : Math.floor((shape[i] - window[i]) / strides[i]) + 1,
  ) as [number, number];
  if (out[0] < 1 || out[1] < 1) {
    fail(l, `a ${window[0]}x${window[1]} window with 'valid' padding does not fit its ${shape[0]}x${shape[1]} input`);
  }
  return out;
}

/** The built-in convolutional net (`cnn`): conv → max-pool → conv → max-pool → flatten → dense(relu) → dense. */
export function cnnLayers(spec: { filters: [number, number]; kernelSize: number; dense: number }, numClasses: number): LayerDesc[] {
  const conv = (name: string, filters: number): LayerDesc => ({
    kind: 'conv2d',
    name,
    filters,
    kernelSize: [spec.kernelSize, spec.kernelSize],
    strides: [1, 1],
    padding: 'same',
    useBias: true,
    activation: 'relu',
  });
  // 'same' pooling rounds up, so an 8x8 image is 4x4 then 2x2, and even a 3x3 one survives both pools.
  const pool = (name: string): LayerDesc => ({ kind: 'maxPooling2d', name, poolSize: [2, 2], strides: [2, 2], padding: 'same' });
  return [
    conv('conv1', spec.filters[0]),
    pool('pool1'),
    conv('conv2', spec.filters[1]),
    pool('pool2'),
    { kind: 'flatten', name: 'flatten' },
    { kind: 'dense', name: 'hidden', units: spec.dense, useBias: true, activation: 'relu' },
    { kind: 'dense', name: 'output', units: numClasses, useBias: true, activation: 'softmax' },
  ];
}

/** The `softmax` and `mlp` models as Dense layers with the parameter layout they have always had (for export). */
export function denseLayers(hidden: number | null, numClasses: number): LayerDesc[] {
  const out: LayerDesc = { kind: 'dense', name: 'output', units: numClasses, useBias: true, activation: 'softmax' };
  return hidden === null ? [out] : [{ kind: 'dense', name: 'hidden', units: hidden, useBias: true, activation: 'relu' }, out];
}

/** Most bytes of a `layers` topology's JSON, and its deepest nesting: checked before the walk reads it. */
export const TOPOLOGY_LIMITS = { maxBytes: 256 * 1024, maxDepth: 32 } as const;

/** The depth of a JSON value, counting up to `limit + 1` only (so a 10⁶-deep value costs no more than a shallow one). */
export function jsonDepth(value: unknown, limit: number): number {
  let deepest = 0;
  const stack: { v: unknown; d: number }[] = [{ v: value, d: 0 }];
  while (stack.length) {
    const { v, d } = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (d + 1 > deepest) deepest = d + 1;
    if (deepest > limit) return deepest;
    for (const child of Object.values(v)) stack.push({ v: child, d: d + 1 });
  }
  return deepest;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Parses the `modelTopology` of a TF.js model.json (as `model.save()` or the Keras converter writes it) into layers
 * and the input shape it declares. Sequential models only; every layer class and option outside the allowlist is
 * refused, naming the layer.
 */
export function parseTopology(topology: unknown): { layers: LayerDesc[]; inputShape: number[] } {
  if (!isObject(topology)) throw new ModelSpecError('the topology must be a JSON object (model.json\'s "modelTopology")');
  // A whole model.json, or Keras's {model_config, ...} wrapper, holds the topology one level down.
  let t: Json = topology;
  if (isObject(t.modelTopology)) t = t.modelTopology;
  if (isObject(t.model_config)) t = t.model_config;
  const cls = t.class_name;
  if (cls !== 'Sequential') {
    throw new ModelSpecError(
      `only Sequential topologies are supported, this one is ${typeof cls === 'string' ? `'${cls.slice(0, 40)}'` : 'not a Keras model'}`,
    );
  }
  const config = t.config;
  const list: unknown = Array.isArray(config) ? config : isObject(config) ? config.layers : undefined;
  if (!Array.isArray(list)) throw new ModelSpecError('the Sequential topology has no layer list (config.layers)');
  let inputShape: number[] | undefined;
  const layers: LayerDesc[] = [];
  list.forEach((entry, i) => {
    const where = `layers[${i}]`;
    if (!isObject(entry) || !isObject(entry.config)) throw new ModelSpecError(`${where}: must be {class_name, config}`, where);
    const c = entry.config;
    const name = typeof c.name === 'string' ? c.name : where;
    const at = `layer '${name}' (${typeof entry.class_name === 'string' ? entry.class_name.slice(0, 40) : '?'})`;
    const bad = (problem: string): never => {
      throw new ModelSpecError(`${at}: ${problem}`, name);
    };
    if (typeof c.name !== 'string') bad('needs a name (config.name)');
    const declared = c.batch_input_shape ?? c.batch_shape;
    if (declared !== undefined && declared !== null) {
      if (layers.length > 0 || inputShape) bad('only the first layer may declare an input shape');
      if (!Array.isArray(declared) || declared.length < 2 || declared[0] !== null) bad('batch_input_shape must be [null, ...dims]');
      inputShape = (declared as unknown[]).slice(1).map((d) => positive(d, 'batch_input_shape', bad));
    }
    if (c.dtype !== undefined && c.dtype !== null && c.dtype !== 'float32' && !(isObject(c.dtype) && c.dtype.config)) {
      bad(`dtype must be float32, not ${JSON.stringify(c.dtype).slice(0, 40)}`);
    }
    if (c.trainable === false) bad('frozen layers (trainable: false) are not supported: every parameter is trained');
    for (const key of ['kernel_regularizer', 'bias_regularizer', 'activity_regularizer', 'kernel_constraint', 'bias_constraint']) {
      if (c[key] !== undefined && c[key] !== null) bad(`${key} is not supported (set it to null; use the job's weightDecay instead)`);
    }
    if (c.data_format !== undefined && c.data_format !== null && c.data_format !== 'channels_last') {
      bad(`data_format must be channels_last, not ${JSON.stringify(c.data_format).slice(0, 40)}`);
    }
    const activation = (): Activation => {
      const a = c.activation ?? 'linear';
      if (typeof a !== 'string' || !(ACTIVATIONS as readonly string[]).includes(a)) {
        return bad(`activation ${JSON.stringify(a).slice(0, 40)} is not supported (one of ${ACTIVATIONS.join(', ')})`);
      }
      return a as Activation;
    };
    const pair = (key: string, fallback?: [number, number]): [number, number] => {
      const v = c[key] ?? fallback;
      if (typeof v === 'number') return [positive(v, key, bad), positive(v, key, bad)];
      if (Array.isArray(v) && v.length === 2) return [positive(v[0], key, bad), positive(v[1], key, bad)];
      return bad(`${key} must be a positive integer or two of them`);
    };
    const padding = (): 'same' | 'valid' => {
      const p = c.padding ?? 'valid';
      if (p !== 'same' && p !== 'valid') bad(`padding must be 'same' or 'valid', not ${JSON.stringify(p).slice(0, 40)}`);
      return p as 'same' | 'valid';
    };
    const useBias = (): boolean => {
      if (c.use_bias !== undefined && typeof c.use_bias !== 'boolean') bad('use_bias must be true or false');
      return c.use_bias !== false;
    };
    switch (entry.class_name) {
      case 'InputLayer':
        if (layers.length > 0) bad('an InputLayer must come first');
        if (!inputShape) bad('an InputLayer needs batch_input_shape');
        return;
      case 'Dense':
        layers.push({ kind: 'dense', name, units: positive(c.units, 'units', bad), useBias: useBias(), activation: activation() });
        return;
      case 'Conv2D': {
        const dilation = pair('dilation_rate', [1, 1]);
        if (dilation[0] !== 1 || dilation[1] !== 1) bad('dilation_rate must be 1 (dilated convolutions have no gradient in TF.js)');
        if (c.groups !== undefined && c.groups !== 1) bad('groups must be 1');
        layers.push({
          kind: 'conv2d',
          name,
          filters: positive(c.filters, 'filters', bad),
          kernelSize: pair('kernel_size'),
          strides: pair('strides', [1, 1]),
          padding: padding(),
          useBias: useBias(),
          activation: activation(),
        });
        return;
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        const poolSize = pair('pool_size', [2, 2]);
        layers.push({
          kind: entry.class_name === 'MaxPooling2D' ? 'maxPooling2d' : 'averagePooling2d',
          name,
          poolSize,
          strides: pair('strides', poolSize),
          padding: padding(),
        });
        return;
      }
      case 'GlobalMaxPooling2D':
      case 'GlobalAveragePooling2D':
        if (c.keepdims === true) bad('keepdims must be false');
        layers.push({ kind: entry.class_name === 'GlobalMaxPooling2D' ? 'globalMaxPooling2d' : 'globalAveragePooling2d', name });
        return;
      case 'Flatten':
        layers.push({ kind: 'flatten', name });
        return;
      case 'Reshape': {
        const target = c.target_shape;
        if (!Array.isArray(target) || target.length < 1 || target.length > 4) bad('target_shape must be 1 to 4 positive integers');
        layers.push({ kind: 'reshape', name, targetShape: (target as unknown[]).map((d) => positive(d, 'target_shape', bad)) });
        return;
      }
      case 'Activation':
        layers.push({ kind: 'activation', name, activation: activation() });
        return;
      default:
        bad(
          'this layer class is not supported (supported: InputLayer, Dense, Conv2D, MaxPooling2D, AveragePooling2D, ' +
            'GlobalMaxPooling2D, GlobalAveragePooling2D, Flatten, Reshape, Activation)',
        );
    }
  });
  if (!inputShape) throw new ModelSpecError('the first layer must declare its input shape (batch_input_shape)');
  return { layers, inputShape };
}

function positive(v: unknown, key: string, bad: (problem: string) => never): number {
  // 2^31: every count and size of a sane model is far below, and products of a few stay exact in a double.
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 2 ** 31) return bad(`${key} must hold positive integers`);
  return v;
}

/**
 * Initial weights for a layered model from the bytes of a model.json's weight files (concatenated, float32
 * little-endian) and, optionally, the `weights` entries of its manifest: those are matched to `described` by name
 * and shape, in whatever order they come; without them the bytes must already be in the model's order. Returns the
 * flat parameter vector, or throws a ModelSpecError saying which weight does not fit.
 */
export function arrangeWeights(
  values: Float32Array,
  described: WeightDesc[],
  manifest?: { name: string; shape: number[] }[],
): Float32Array {
  const total = described.reduce((n, w) => n + size(w.shape), 0);
  if (!manifest) {
    if (values.length !== total) {
      throw new ModelSpecError(`initialWeights: the blob holds ${values.length} float32 values, the model has ${total} parameters`);
    }
    return values;
  }
  const offsets = new Map<string, { offset: number; shape: number[] }>();
  let offset = 0;
  for (const w of manifest) {
    if (offsets.has(w.name)) throw new ModelSpecError(`initialWeights: the manifest names '${w.name}' twice`);
    offsets.set(w.name, { offset, shape: w.shape });
    offset += size(w.shape);
  }
  if (offset !== values.length) {
    throw new ModelSpecError(`initialWeights: the manifest describes ${offset} float32 values, the blob holds ${values.length}`);
  }
  if (manifest.length !== described.length) {
    throw new ModelSpecError(`initialWeights: the manifest has ${manifest.length} weights, the model ${described.length}`);
  }
  const out = new Float32Array(total);
  let at = 0;
  for (const w of described) {
    const found = offsets.get(w.name);
    if (!found) throw new ModelSpecError(`initialWeights: the manifest has no weight '${w.name}'`, w.name.split('/')[0]);
    if (found.shape.join(',') !== w.shape.join(',')) {
      throw new ModelSpecError(
        `initialWeights: weight '${w.name}' has shape [${found.shape.join(', ')}] in the manifest, [${w.shape.join(', ')}] in the model`,
        w.name.split('/')[0],
      );
    }
    const n = size(w.shape);
    out.set(values.subarray(found.offset, found.offset + n), at);
    at += n;
  }
  return out;
}
