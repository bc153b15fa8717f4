import { createRng, type Rng } from '../random';
import type { Architecture, Mask, MaskShape, OpWeights } from './search-space';

/**
 * The NAS-Bench-201-style cell search space (docs/algorithms/gm-nas.md §2.2), in plain TypeScript on
 * Float32Arrays so that it trains fast on a CPU. A network is a stem, `stages` stages of
 * `cellsPerStage` cells separated by reduction blocks, and a classifier; every cell is the same DAG of
 * 4 nodes and 6 edges and all cells share one architecture (one mask, one α), each cell with its own
 * weights. Each edge holds one of {@link CELL_OPS}, so the space has 5^6 = 15,625 architectures.
 *
 * Input rows are images of `channels × height × width` values, channel-major
 * inside a row (for one input channel, the row-major pixels of the image).
 */

/**
 * The candidate ops of every edge, in index order: NAS-Bench-201's five. The convolutions are ReLU–conv–BN without
 * bias and with a parameter-free batch norm (NAS-Bench-201's search setting); the pool averages the pixels inside the image.
 */
export const CELL_OPS = ['none', 'skip', 'conv1x1', 'conv3x3', 'avgpool3x3'] as const;
export type CellOp = (typeof CELL_OPS)[number];

/** The 6 edges of a cell as [from, to] nodes, in NAS-Bench-201's order: 0→1, 0→2, 1→2, 0→3, 1→3, 2→3. */
export const CELL_EDGES: readonly (readonly [number, number])[] = [
  [0, 1],
  [0, 2],
  [1, 2],
  [0, 3],
  [1, 3],
  [2, 3],
];

/** The shape every cell-space mask has: 6 edges of 5 ops. */
export const CELL_MASK_SHAPE: MaskShape = { edges: CELL_EDGES.map(() => ({ ops: CELL_OPS })) };

/** Nodes of a cell, including its input node 0; the last node is the cell's output. */
export const CELL_NODES = 4;

/** A network of the cell space. JSON-safe. */
export interface CellSpaceSpec {
  /** Image height in pixels (8 for the UCI digits). Must be divisible by 2^(stages − 1). */
  height: number;
  /** Image width in pixels (8 for the UCI digits). */
  width: number;
  /** Channels of the input images (1 for the UCI digits). */
  inputChannels: number;
  /** Channels C of the first stage; stage s has C · 2^s (NAS-Bench-201 uses 16; 4–8 here for a CPU). */
  channels: number;
  /** Cells per stage (NAS-Bench-201 uses 5; 1–2 here). */
  cellsPerStage: number;
  /** Stages (NAS-Bench-201 uses 3; 1–2 here for 8 × 8 images). */
  stages: number;
  /** Number of classes (softmax cross-entropy). */
  classes: number;
}

/** Where a block of the flat parameter vector belongs. */
export interface CellSegment {
  owner: 'stem' | 'cell' | 'reduce' | 'head';
  /** The stage (−1 for the stem and head; the stage a reduction block leads into). */
  stage: number;
  /** The cell's index in the whole network (−1 outside cells). */
  cell: number;
  /** The edge and op of a cell's parameters (−1 outside cells). */
  edge: number;
  op: number;
  role: 'weight' | 'bias';
  offset: number;
  /** `[out, in, k, k]` for convolutions, `[in, out]` for the classifier, `[classes]` for its bias. */
  shape: number[];
  size: number;
}

export interface CellLayout {
  segments: CellSegment[];
  size: number;
}

/** Checks a cell-space spec; throws naming `where` and the first problem. */
export function checkCellSpace(spec: CellSpaceSpec, where = 'cell space'): void {
  for (const key of ['height', 'width', 'inputChannels', 'channels', 'cellsPerStage', 'stages'] as const) {
    const v = spec[key];
    if (!(Number.isInteger(v) && v >= 1)) throw new Error(`${where}: ${key} must be a positive integer, got ${v}`);
  }
  if (!(Number.isInteger(spec.classes) && spec.classes >= 2))
    throw new Error(`${where}: classes must be an integer >= 2, got ${spec.classes}`);
  const f = 2 ** (spec.stages - 1);
  if (spec.height % f !== 0 || spec.width % f !== 0) {
    throw new Error(
      `${where}: ${spec.stages} stages halve the image ${spec.stages - 1} time(s); ${spec.height}×${spec.width} is not divisible by ${f}`,
    );
  }
}

/** Whether an op has weights (the two convolutions). */
export function cellOpHasParameters(op: number): boolean {
  return CELL_OPS[op] === 'conv1x1' || CELL_OPS[op] === 'conv3x3';
}

/** The kernel size of a convolution op. */
export function cellOpKernel(op: number): number {
  return CELL_OPS[op] === 'conv3x3' ? 3 : 1;
}

/** Channels of stage s. */
export function stageChannels(spec: CellSpaceSpec, stage: number): number {
  return spec.channels * 2 ** stage;
}

/**
 * The flat parameter layout: stem (conv 3×3–BN, input → C), then per stage its reduction block (stages
 * after the first: average pool 2×2 then conv 1×1–BN, C_{s−1} → C_s) and its cells (per cell, per edge,
 * the conv 1×1 and conv 3×3 weights), then the classifier (C_last → classes, with bias). Every convolution is
 * followed by a parameter-free batch norm, so only the classifier has a bias.
 */
export function cellLayout(spec: CellSpaceSpec): CellLayout {
  checkCellSpace(spec, 'cellLayout');
  const segments: CellSegment[] = [];
  let offset = 0;
  const add = (s: Omit<CellSegment, 'offset' | 'size'>): void => {
    const size = s.shape.reduce((a, b) => a * b, 1);
    segments.push({ ...s, offset, size });
    offset += size;
  };
  const none = { stage: -1, cell: -1, edge: -1, op: -1 };
  const c0 = spec.channels;
  add({ owner: 'stem', ...none, role: 'weight', shape: [c0, spec.inputChannels, 3, 3] });
  let cell = 0;
  for (let stage = 0; stage < spec.stages; stage++) {
    const c = stageChannels(spec, stage);
    if (stage > 0) {
      const at = { stage, cell: -1, edge: -1, op: -1 };
      add({ owner: 'reduce', ...at, role: 'weight', shape: [c, c / 2, 1, 1] });
    }
    for (let k = 0; k < spec.cellsPerStage; k++, cell++) {
      for (let edge = 0; edge < CELL_EDGES.length; edge++) {
        for (let op = 0; op < CELL_OPS.length; op++) {
          if (!cellOpHasParameters(op)) continue;
          const kk = cellOpKernel(op);
          add({ owner: 'cell', stage, cell, edge, op, role: 'weight', shape: [c, c, kk, kk] });
        }
      }
    }
  }
  const last = stageChannels(spec, spec.stages - 1);
  add({ owner: 'head', ...none, role: 'weight', shape: [last, spec.classes] });
  add({ owner: 'head', ...none, role: 'bias', shape: [spec.classes] });
  return { segments, size: offset };
}

/** Total number of cells in the network. */
export function cellCount(spec: CellSpaceSpec): number {
  return spec.stages * spec.cellsPerStage;
}

/**
 * Deterministic initial parameters: Kaiming-normal weights (std √(2 / fan-in), as the cell convs follow a
 * ReLU; std √(1 / fan-in) for the stem, the reduction and the classifier) and a zero classifier bias.
 */
export function initialCellParameters(spec: CellSpaceSpec, seed: number): Float32Array {
  const layout = cellLayout(spec);
  const out = new Float32Array(layout.size);
  const rng = createRng(seed);
  for (const s of layout.segments) {
    if (s.role !== 'weight') continue;
    const fanIn = s.owner === 'head' ? s.shape[0] : s.shape[1] * s.shape[2] * s.shape[3];
    const std = Math.sqrt((s.owner === 'stem' || s.owner === 'reduce' ? 1 : 2) / fanIn);
    for (let i = 0; i < s.size; i++) out[s.offset + i] = rng.normal() * std;
  }
  return out;
}

/** The mask with every op of every edge enabled. */
export function fullCellMask(): Mask {
  return CELL_EDGES.map(() => CELL_OPS.map(() => true));
}

/** Checks that a mask has 6 rows of 5 booleans, each with an enabled op. */
export function checkCellMask(mask: Mask, where: string): void {
  if (!Array.isArray(mask) || mask.length !== CELL_EDGES.length) throw new Error(`${where}: a cell mask needs ${CELL_EDGES.length} rows`);
  mask.forEach((row, e) => {
    if (!Array.isArray(row) || row.length !== CELL_OPS.length || !row.every((b) => typeof b === 'boolean'))
      throw new Error(`${where}: mask row ${e} must hold ${CELL_OPS.length} booleans`);
    if (!row.includes(true)) throw new Error(`${where}: mask row ${e} enables no op`);
  });
}

/** Checks an architecture: one op index per edge. */
export function checkCellArchitecture(arch: Architecture, where: string): void {
  if (
    !Array.isArray(arch) ||
    arch.length !== CELL_EDGES.length ||
    !arch.every((o) => Number.isInteger(o) && o >= 0 && o < CELL_OPS.length)
  ) {
    throw new Error(
      `${where}: an architecture picks one op index in [0, ${CELL_OPS.length}) for each of ${CELL_EDGES.length} edges, got ${JSON.stringify(arch)}`,
    );
  }
}

/** NAS-Bench-201's string of an architecture: `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`. */
export function cellArchitectureString(arch: Architecture): string {
  checkCellArchitecture(arch, 'cellArchitectureString');
  const op = (e: number): string => `${CELL_OPS[arch[e]]}~${CELL_EDGES[e][0]}`;
  return `|${op(0)}|+|${op(1)}|${op(2)}|+|${op(3)}|${op(4)}|${op(5)}|`;
}

/** The index of an architecture in 0 … 5^6 − 1 (edge 0 most significant). */
export function cellArchitectureIndex(arch: Architecture): number {
  checkCellArchitecture(arch, 'cellArchitectureIndex');
  return arch.reduce((n, o) => n * CELL_OPS.length + o, 0);
}

/** The architecture with a given index (inverse of {@link cellArchitectureIndex}). */
export function cellArchitectureFromIndex(index: number): Architecture {
  const total = CELL_OPS.length ** CELL_EDGES.length;
  if (!(Number.isInteger(index) && index >= 0 && index < total))
    throw new Error(`cellArchitectureFromIndex: index must be in [0, ${total}), got ${index}`);
  const arch = new Array<number>(CELL_EDGES.length);
  for (let e = CELL_EDGES.length - 1; e >= 0; e--) {
    arch[e] = index % CELL_OPS.length;
    index = Math.floor(index / CELL_OPS.length);
  }
  return arch;
}

/**
 * Whether information flows from the cell's input to its output: some path of ops other than `none`
 * from node 0 to node 3 (NAS-Bench-201 calls the others invalid; their output is the classifier's bias).
 */
export function isCellConnected(arch: Architecture): boolean {
  const reached = [true, false, false, false];
  CELL_EDGES.forEach(([from, to], e) => {
    if (reached[from] && CELL_OPS[arch[e]] !== 'none') reached[to] = true;
  });
  return reached[CELL_NODES - 1];
}

/** The number of parameterised ops (convolutions) of an architecture: a cost proxy and a stratum of the ground-truth sample. */
export function cellConvCount(arch: Architecture): number {
  return arch.filter((o) => cellOpHasParameters(o)).length;
}

/** One-hot op weights of a single path. */
export function cellPathWeights(arch: Architecture): OpWeights {
  return CELL_EDGES.map((_, e) => CELL_OPS.map((_op, o) => (o === arch[e] ? 1 : 0)));
}

/**
 * A uniformly random single path inside the mask (RSPS), redrawn while it is disconnected, at most 100
 * times. `fixed` pins one edge's op (GM scoring); it then counts as connected when it is not `none`
 * or when `countsAsConnected` says the caller varies it.
 */
export function sampleCellPath(mask: Mask, rng: Rng, fixed?: { edge: number; op: number; countsAsConnected?: boolean }): Architecture {
  let arch: Architecture = [];
  for (let attempt = 0; attempt < 100; attempt++) {
    arch = mask.map((row, e) => {
      if (fixed && e === fixed.edge) return fixed.op;
      const ops: number[] = [];
      row.forEach((on, o) => on && ops.push(o));
      return ops[rng.int(ops.length)];
    });
    const check = fixed?.countsAsConnected ? arch.map((o, e) => (e === fixed.edge ? 1 : o)) : arch;
    if (isCellConnected(check)) return arch;
  }
  return arch;
}

/** The architectures inside a mask, in index order. */
export function cellArchitecturesInMask(mask: Mask): Architecture[] {
  let out: Architecture[] = [[]];
  mask.forEach((row) => {
    const next: Architecture[] = [];
    for (const prefix of out) row.forEach((on, o) => on && next.push([...prefix, o]));
    out = next;
  });
  return out;
}

/** Whether an architecture lies inside a mask. */
export function cellArchitectureInMask(arch: Architecture, mask: Mask): boolean {
  return arch.every((o, e) => mask[e][o]);
}
