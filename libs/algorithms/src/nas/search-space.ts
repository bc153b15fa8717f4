import { createRng, type Rng } from '../random';

/**
 * The GM-NAS search space (docs/algorithms/gm-nas.md §2): a weight-sharing supernet made of one cell, a small
 * DAG whose edges each hold a list of candidate operations, between an optional linear stem and a
 * linear readout. Everything here is plain data and pure functions; the TensorFlow.js forward and
 * backward passes live in `supernet.ts`.
 *
 * All parameters of a supernet are one flat Float32Array (see {@link supernetLayout}), so that the
 * coordinator can move, persist and average them without knowing the structure.
 */

/**
 * One candidate operation on an edge, acting on row vectors of `width` values.
 * - `zero`: outputs nothing (the edge is cut); `skip`: identity.
 * - `linear`: h·W + b. `relu-linear`: relu(h)·W + b. `tanh-linear`: tanh(h)·W + b. The activation
 *   comes first, as in NAS-Bench-201's ReLU–Conv–BN (docs/algorithms/gm-nas.md §2), so ops can be chained freely.
 * - `fixed`: h·M with a constant `width × width` matrix M (row-major), no parameters: used by the
 *   toy supernet of docs/algorithms/gm-nas.md §12, check 5, whose only trainable weights are the readout.
 */
export type OpSpec =
  | { kind: 'zero' }
  | { kind: 'skip' }
  | { kind: 'linear' }
  | { kind: 'relu-linear' }
  | { kind: 'tanh-linear' }
  | { kind: 'fixed'; matrix: number[] };

/** The op kinds that {@link chainSupernet} can build from a name. */
export type OpKind = Exclude<OpSpec['kind'], 'fixed'>;

/** An edge of the cell: node `from` → node `to` (from < to), with its candidate ops. */
export interface EdgeSpec {
  from: number;
  to: number;
  ops: OpSpec[];
}

/**
 * A supernet. Node 0 of the cell is the stem output (or the input itself when there is no stem);
 * node i > 0 is the sum over its incoming edges of each edge's output; the last node feeds the
 * readout. A plain JSON-safe object.
 */
export interface SupernetSpec {
  /** Number of input features. Must equal `width` when there is no stem. */
  inputSize: number;
  /** Width of every cell node (hidden units). */
  width: number;
  /** Number of classes (cross-entropy) or of regression targets (mse). */
  outputSize: number;
  /** Whether a linear stem (x·W + b, no activation) maps the input to `width` values. */
  stem: boolean;
  /** Whether the readout has a bias (the readout weight is always present). */
  readoutBias: boolean;
  /** Number of cell nodes including the input node 0 (≥ 2). */
  nodes: number;
  /** The cell's edges; each node i > 0 needs at least one incoming edge. */
  edges: EdgeSpec[];
  /** `cross-entropy` on integer labels (softmax readout) or `mse` on real targets. */
  loss: 'cross-entropy' | 'mse';
}

/**
 * A sub-supernet's encoding mask (docs/algorithms/gm-nas.md §1; `enc` in the official code): `mask[e][o]` tells whether op o of edge e is
 * enabled. JSON-safe.
 */
export type Mask = boolean[][];

/** A single-path architecture: the chosen op index for every edge. */
export type Architecture = number[];

/**
 * Per-edge op weights θ (docs/algorithms/gm-nas.md §2): `weights[e][o]` multiplies op o's output on edge e. A one-hot
 * row is a single path; a row of 1/k over the k enabled ops is the uniform mixture.
 */
export type OpWeights = number[][];

/** Where a block of the flat parameter vector belongs. */
export interface ParameterSegment {
  owner: 'stem' | 'op' | 'readout';
  /** The edge of an op's parameters, −1 for the stem and the readout. */
  edge: number;
  /** The op's index on its edge, −1 for the stem and the readout. */
  op: number;
  role: 'weight' | 'bias';
  /** Start in the flat vector. */
  offset: number;
  /** Tensor shape: `[fanIn, fanOut]` for weights (row-major), `[n]` for biases. */
  shape: number[];
  size: number;
}

/** The flat parameter layout of a supernet: stem, then every parameterised op edge by edge, then the readout. */
export interface SupernetLayout {
  segments: ParameterSegment[];
  /** Total number of parameters. */
  size: number;
}

const OP_KINDS: readonly OpSpec['kind'][] = ['zero', 'skip', 'linear', 'relu-linear', 'tanh-linear', 'fixed'];

/** Whether an op has trainable parameters. */
export function opHasParameters(op: OpSpec): boolean {
  return op.kind === 'linear' || op.kind === 'relu-linear' || op.kind === 'tanh-linear';
}

/**
 * Checks a supernet spec and throws an Error naming `where` and the first problem: sizes, node
 * order (every edge goes forward, every non-input node has an incoming edge), op kinds, fixed
 * matrices of `width²` finite values.
 */
export function checkSupernet(spec: SupernetSpec, where = 'GM-NAS supernet'): void {
  const positive = (name: string, v: number): void => {
    if (!(Number.isInteger(v) && v >= 1)) throw new Error(`${where}: ${name} must be a positive integer, got ${v}`);
  };
  positive('inputSize', spec.inputSize);
  positive('width', spec.width);
  positive('outputSize', spec.outputSize);
  if (spec.loss !== 'cross-entropy' && spec.loss !== 'mse')
    throw new Error(`${where}: loss must be 'cross-entropy' or 'mse', got ${String(spec.loss)}`);
  if (spec.loss === 'cross-entropy' && spec.outputSize < 2)
    throw new Error(`${where}: cross-entropy needs outputSize >= 2 classes, got ${spec.outputSize}`);
  if (!spec.stem && spec.inputSize !== spec.width) {
    throw new Error(`${where}: without a stem, inputSize (${spec.inputSize}) must equal width (${spec.width})`);
  }
  if (!(Number.isInteger(spec.nodes) && spec.nodes >= 2)) throw new Error(`${where}: nodes must be an integer >= 2, got ${spec.nodes}`);
  if (!Array.isArray(spec.edges) || spec.edges.length === 0) throw new Error(`${where}: the cell needs at least one edge`);
  const hasInput = new Array<boolean>(spec.nodes).fill(false);
  spec.edges.forEach((edge, e) => {
    if (!(Number.isInteger(edge.from) && Number.isInteger(edge.to) && edge.from >= 0 && edge.from < edge.to && edge.to < spec.nodes)) {
      throw new Error(`${where}: edge ${e} must go from a lower to a higher node in [0, ${spec.nodes}), got ${edge.from} -> ${edge.to}`);
    }
    hasInput[edge.to] = true;
    if (!Array.isArray(edge.ops) || edge.ops.length === 0) throw new Error(`${where}: edge ${e} needs at least one op`);
    edge.ops.forEach((op, o) => {
      if (!OP_KINDS.includes(op.kind)) throw new Error(`${where}: edge ${e} op ${o} has unknown kind ${String(op.kind)}`);
      if (op.kind === 'fixed') {
        const m = op.matrix;
        if (!Array.isArray(m) || m.length !== spec.width * spec.width || !m.every((v) => Number.isFinite(v))) {
          throw new Error(`${where}: edge ${e} op ${o} (fixed) needs a matrix of width² = ${spec.width * spec.width} finite numbers`);
        }
      }
    });
  });
  for (let i = 1; i < spec.nodes; i++) if (!hasInput[i]) throw new Error(`${where}: node ${i} has no incoming edge`);
}

/** The flat parameter layout (see {@link SupernetLayout}). Checks the spec. */
export function supernetLayout(spec: SupernetSpec): SupernetLayout {
  checkSupernet(spec, 'supernetLayout');
  const segments: ParameterSegment[] = [];
  let offset = 0;
  const add = (owner: ParameterSegment['owner'], edge: number, op: number, role: ParameterSegment['role'], shape: number[]): void => {
    const size = shape.reduce((a, b) => a * b, 1);
    segments.push({ owner, edge, op, role, offset, shape, size });
    offset += size;
  };
  const w = spec.width;
  if (spec.stem) {
    add('stem', -1, -1, 'weight', [spec.inputSize, w]);
    add('stem', -1, -1, 'bias', [w]);
  }
  spec.edges.forEach((edge, e) =>
    edge.ops.forEach((op, o) => {
      if (!opHasParameters(op)) return;
      add('op', e, o, 'weight', [w, w]);
      add('op', e, o, 'bias', [w]);
    }),
  );
  add('readout', -1, -1, 'weight', [w, spec.outputSize]);
  if (spec.readoutBias) add('readout', -1, -1, 'bias', [spec.outputSize]);
  return { segments, size: offset };
}

/**
 * Deterministic initial parameters: normal weights with std = gain · sqrt(1 / fanIn) (gain √2 for
 * `relu-linear`, 1 elsewhere: Kaiming / LeCun) and zero biases. Used for the root supernet, for
 * children re-initialised at the final split (docs/algorithms/gm-nas.md §6.1) and for stand-alone training.
 */
export function initialSupernetParameters(spec: SupernetSpec, seed: number): Float32Array {
  const layout = supernetLayout(spec);
  const out = new Float32Array(layout.size);
  const rng = createRng(seed);
  for (const s of layout.segments) {
    if (s.role !== 'weight') continue;
    const gain = s.owner === 'op' && spec.edges[s.edge].ops[s.op].kind === 'relu-linear' ? Math.SQRT2 : 1;
    const std = gain * Math.sqrt(1 / s.shape[0]);
    for (let i = 0; i < s.size; i++) out[s.offset + i] = rng.normal() * std;
  }
  return out;
}

/**
 * What a mask must fit: the number of candidate ops on each edge. A {@link SupernetSpec} is one; the cell space has
 * its own (`CELL_MASK_SHAPE`).
 */
export interface MaskShape {
  edges: readonly { ops: readonly unknown[] }[];
}

/**
 * Up to `max` distinct architectures from `draw` (random paths), in the order first drawn; stops after 100 · `max`
 * draws, so a mask with fewer distinct paths than `max` gives what it has.
 */
export function distinctArchitectures(max: number, draw: () => Architecture): Architecture[] {
  const seen = new Set<string>();
  const out: Architecture[] = [];
  for (let tries = 0; out.length < max && tries < 100 * max; tries++) {
    const a = draw();
    const key = a.join(',');
    if (!seen.has(key)) {
      seen.add(key);
      out.push(a);
    }
  }
  return out;
}

/** The mask with every op of every edge enabled: the root of the supernet tree. */
export function fullMask(spec: MaskShape): Mask {
  return spec.edges.map((edge) => edge.ops.map(() => true));
}

/** Checks that a mask fits the spec and enables at least one op per edge. */
export function checkMask(spec: MaskShape, mask: Mask, where: string): void {
  if (!Array.isArray(mask) || mask.length !== spec.edges.length) {
    throw new Error(
      `${where}: mask must have one row per edge (${spec.edges.length}), got ${Array.isArray(mask) ? mask.length : typeof mask}`,
    );
  }
  mask.forEach((row, e) => {
    const n = spec.edges[e].ops.length;
    if (!Array.isArray(row) || row.length !== n || !row.every((b) => typeof b === 'boolean')) {
      throw new Error(`${where}: mask row ${e} must hold ${n} booleans`);
    }
    if (!row.includes(true)) throw new Error(`${where}: mask row ${e} enables no op`);
  });
}

/** Indices of the enabled ops of an edge, in increasing order. */
export function enabledOps(mask: Mask, edge: number): number[] {
  const out: number[] = [];
  mask[edge].forEach((on, o) => on && out.push(o));
  return out;
}

/** Whether every op of the edge is enabled: the only edges that may still be split (docs/algorithms/gm-nas.md §5). */
export function isUnsplit(mask: Mask, edge: number): boolean {
  return mask[edge].every((on) => on);
}

/**
 * Every single-path architecture inside a mask, in lexicographic order (edge 0 slowest).
 * The count is the product of the enabled-op counts; callers should keep it small.
 */
export function architecturesInMask(mask: Mask): Architecture[] {
  let out: Architecture[] = [[]];
  mask.forEach((_, e) => {
    const ops = enabledOps(mask, e);
    const next: Architecture[] = [];
    for (const prefix of out) for (const o of ops) next.push([...prefix, o]);
    out = next;
  });
  return out;
}

/** The uniform mixture over the enabled ops of every edge (the frozen-α mixture of docs/algorithms/gm-nas.md §3.3). */
export function uniformWeights(mask: Mask): OpWeights {
  return mask.map((row) => {
    const k = row.filter((on) => on).length;
    return row.map((on) => (on ? 1 / k : 0));
  });
}

/**
 * The masked softmax of architecture parameters α (docs/algorithms/gm-nas.md §2): a softmax over the enabled ops of each
 * edge, 0 for disabled ops.
 */
export function maskedSoftmax(alpha: number[][], mask: Mask): OpWeights {
  return mask.map((row, e) => {
    let max = -Infinity;
    row.forEach((on, o) => on && (max = Math.max(max, alpha[e][o])));
    const ex = row.map((on, o) => (on ? Math.exp(alpha[e][o] - max) : 0));
    const sum = ex.reduce((a, b) => a + b, 0);
    return ex.map((v) => v / sum);
  });
}

/** One-hot op weights of a single path. */
export function pathWeights(spec: SupernetSpec, arch: Architecture): OpWeights {
  return spec.edges.map((edge, e) => edge.ops.map((_, o) => (o === arch[e] ? 1 : 0)));
}

/**
 * Whether the output depends on the input along the architecture, i.e. some path of non-`zero` ops
 * leads from node 0 to the last node. Random single paths are resampled until this holds
 * (NAS-Bench-201's validity check, docs/algorithms/gm-nas.md §2).
 */
export function isConnected(spec: SupernetSpec, arch: Architecture): boolean {
  const reached = new Array<boolean>(spec.nodes).fill(false);
  reached[0] = true;
  // Edges go from lower to higher nodes, so one pass in order of `to` settles reachability.
  const order = spec.edges.map((_, e) => e).sort((a, b) => spec.edges[a].to - spec.edges[b].to);
  for (const e of order) {
    const edge = spec.edges[e];
    if (reached[edge.from] && edge.ops[arch[e]].kind !== 'zero') reached[edge.to] = true;
  }
  return reached[spec.nodes - 1];
}

/** Attempts at drawing a connected single path before accepting a disconnected one. */
const MAX_PATH_DRAWS = 100;

/**
 * A uniformly random single path inside the mask (one enabled op per edge), redrawn while it is
 * disconnected (docs/algorithms/gm-nas.md §2), at most 100 times; a mask without a connected path gives its last draw.
 * @param fixed an edge whose op is not drawn (the scored edge during GM scoring). With
 *   `countsAsConnected` the validity check treats it as a non-`zero` op, because the caller varies it.
 */
export function samplePath(
  spec: SupernetSpec,
  mask: Mask,
  rng: Rng,
  fixed?: { edge: number; op: number; countsAsConnected?: boolean },
): Architecture {
  let arch: Architecture = [];
  for (let attempt = 0; attempt < MAX_PATH_DRAWS; attempt++) {
    arch = mask.map((_, e) => {
      if (fixed && e === fixed.edge) return fixed.op;
      const ops = enabledOps(mask, e);
      return ops[rng.int(ops.length)];
    });
    let check = arch;
    if (fixed?.countsAsConnected) {
      // Any non-zero op on the fixed edge stands for "connected through this edge".
      const nonZero = spec.edges[fixed.edge].ops.findIndex((op) => op.kind !== 'zero');
      if (nonZero >= 0) check = arch.map((o, e) => (e === fixed.edge ? nonZero : o));
    }
    if (isConnected(spec, check)) return arch;
  }
  return arch;
}

/** Options of {@link chainSupernet}. */
export interface ChainSupernetOptions {
  inputSize: number;
  width: number;
  outputSize: number;
  /** Number of edges in the chain 0 → 1 → … → edges (default 3, docs/algorithms/gm-nas.md §2). */
  edges?: number;
  /** Candidate ops of every edge (default linear, relu-linear, tanh-linear, skip: docs/algorithms/gm-nas.md §2). */
  ops?: OpKind[];
  /** Default true (a linear stem to `width`). */
  stem?: boolean;
  /** Default true. */
  readoutBias?: boolean;
  /** Default cross-entropy. */
  loss?: SupernetSpec['loss'];
}

/** The search space of docs/algorithms/gm-nas.md §2: a chain of edges with the same candidate ops on every edge. */
export function chainSupernet(opts: ChainSupernetOptions): SupernetSpec {
  const n = opts.edges ?? 3;
  if (!(Number.isInteger(n) && n >= 1)) throw new Error(`chainSupernet: edges must be a positive integer, got ${n}`);
  const kinds = opts.ops ?? ['linear', 'relu-linear', 'tanh-linear', 'skip'];
  const spec: SupernetSpec = {
    inputSize: opts.inputSize,
    width: opts.width,
    outputSize: opts.outputSize,
    stem: opts.stem ?? true,
    readoutBias: opts.readoutBias ?? true,
    nodes: n + 1,
    edges: Array.from({ length: n }, (_, e) => ({ from: e, to: e + 1, ops: kinds.map((kind): OpSpec => ({ kind })) })),
    loss: opts.loss ?? 'cross-entropy',
  };
  checkSupernet(spec, 'chainSupernet');
  return spec;
}
