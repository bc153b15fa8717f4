import { checkMask, enabledOps, fullMask, type Mask, type MaskShape } from './search-space';

/**
 * The supernet tree of GM-NAS (docs/algorithms/gm-nas.md §6): every node is a (sub-)supernet given by
 * its mask; a split turns a node into one child per group of ops on the split edge. Nodes are plain
 * JSON-safe objects so the coordinator can persist them as they are and read them back with
 * {@link parseNasNode}. Weights are not part of a node: they travel as flat Float32Array blobs.
 */

/** How a node's weights start (docs/algorithms/gm-nas.md §6.1). */
export type NodeInit =
  /** The root: fresh parameters. */
  | 'root'
  /** A child of an intermediate split: parameters, optimiser state and LR schedule of the parent. */
  | 'inherit'
  /** A child of the final split with restart = 'final': fresh parameters; only the mask is inherited. */
  | 'reinit';

/** How a split was decided. */
export type SplitCriterion = 'gm' | 'random' | 'few-shot';

/** The GM matrix of one scored edge, as stored on the node. */
export interface StoredEdgeScores {
  edge: number;
  ops: number[];
  matrix: number[][];
  batches: number;
}

/** The split of a node, once decided. */
export interface NodeSplit {
  edge: number;
  /** Op indices of the edge per child, in child order. */
  groups: number[][];
  criterion: SplitCriterion;
  /** Ids of the children, in group order. */
  children: string[];
  /** GM matrices of every candidate edge scored for this decision (empty for random and few-shot splits). */
  scores: StoredEdgeScores[];
}

/** One (sub-)supernet of the tree. */
export interface NasNode {
  /** `root`, then `<parent>.<group index>`: unique and stable. */
  id: string;
  parent: string | null;
  /** 0 for the root. */
  depth: number;
  mask: Mask;
  init: NodeInit;
  split: NodeSplit | null;
}

/** The root of the tree: every op enabled. */
export function rootNode(spec: MaskShape): NasNode {
  return { id: 'root', parent: null, depth: 0, mask: fullMask(spec), init: 'root', split: null };
}

/** Options of {@link splitNode}. */
export interface SplitNodeOptions {
  /** How the split was decided (default 'gm'). */
  criterion?: SplitCriterion;
  /** GM matrices to store with the decision (default none). */
  scores?: StoredEdgeScores[];
  /**
   * Whether the children are re-initialised (docs/algorithms/gm-nas.md §6.1: true at the final split with
   * restart = 'final', the setting of every reported run; false at intermediate splits, where
   * children inherit weights, optimiser and scheduler state).
   */
  reinit: boolean;
}

/**
 * Splits a node on `edge` into one child per group (docs/algorithms/gm-nas.md §6.1): child.mask = parent.mask with row
 * `edge` set to the group's indicator. Pure: returns the parent with its split recorded and the
 * children; the input node is not modified.
 * @param groups a partition of the enabled ops of `edge` into ≥ 2 non-empty groups.
 */
export function splitNode(
  spec: MaskShape,
  node: NasNode,
  edge: number,
  groups: readonly (readonly number[])[],
  options: SplitNodeOptions,
): { parent: NasNode; children: NasNode[] } {
  checkMask(spec, node.mask, `splitNode ${node.id}`);
  if (node.split) throw new Error(`splitNode: node ${node.id} is already split on edge ${node.split.edge}`);
  if (!(Number.isInteger(edge) && edge >= 0 && edge < spec.edges.length))
    throw new Error(`splitNode: edge must be an integer in [0, ${spec.edges.length}), got ${edge}`);
  const enabled = enabledOps(node.mask, edge);
  const seen = new Set<number>();
  for (const g of groups) {
    if (g.length === 0) throw new Error(`splitNode: node ${node.id} edge ${edge}: a group is empty`);
    for (const o of g) {
      if (!enabled.includes(o) || seen.has(o))
        throw new Error(
          `splitNode: node ${node.id} edge ${edge}: groups must partition the enabled ops [${enabled.join(',')}], got ${JSON.stringify(groups)}`,
        );
      seen.add(o);
    }
  }
  if (groups.length < 2 || seen.size !== enabled.length) {
    throw new Error(
      `splitNode: node ${node.id} edge ${edge}: groups must partition the enabled ops [${enabled.join(',')}] into >= 2 groups, got ${JSON.stringify(groups)}`,
    );
  }
  const children: NasNode[] = groups.map((g, k) => ({
    id: `${node.id}.${k}`,
    parent: node.id,
    depth: node.depth + 1,
    mask: node.mask.map((row, e) => (e === edge ? row.map((_, o) => g.includes(o)) : row.slice())),
    init: options.reinit ? 'reinit' : 'inherit',
    split: null,
  }));
  const parent: NasNode = {
    ...node,
    mask: node.mask.map((row) => row.slice()),
    split: {
      edge,
      groups: groups.map((g) => [...g]),
      criterion: options.criterion ?? 'gm',
      children: children.map((c) => c.id),
      scores: (options.scores ?? []).map((s) => ({
        edge: s.edge,
        ops: s.ops.slice(),
        matrix: s.matrix.map((r) => r.slice()),
        batches: s.batches,
      })),
    },
  };
  return { parent, children };
}

function fail(why: string): never {
  throw new Error(`parseNasNode: ${why}`);
}

function isIntArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => Number.isInteger(x));
}

/**
 * Reads a node back from JSON (e.g. from the database), checking its shape against the spec.
 * @throws an Error naming the first bad field.
 */
export function parseNasNode(spec: MaskShape, value: unknown): NasNode {
  if (typeof value !== 'object' || value === null) fail(`expected an object, got ${JSON.stringify(value)}`);
  const v = value as Record<string, unknown>;
  if (typeof v.id !== 'string' || v.id === '') fail('id must be a non-empty string');
  if (!(v.parent === null || typeof v.parent === 'string')) fail('parent must be a string or null');
  if (!(Number.isInteger(v.depth) && (v.depth as number) >= 0)) fail('depth must be a non-negative integer');
  if (!(v.init === 'root' || v.init === 'inherit' || v.init === 'reinit'))
    fail(`init must be 'root', 'inherit' or 'reinit', got ${JSON.stringify(v.init)}`);
  const mask = v.mask as Mask;
  checkMask(spec, mask, 'parseNasNode');
  let split: NodeSplit | null = null;
  if (v.split !== null) {
    if (typeof v.split !== 'object' || v.split === undefined) fail('split must be an object or null');
    const s = v.split as Record<string, unknown>;
    if (!(Number.isInteger(s.edge) && (s.edge as number) >= 0 && (s.edge as number) < spec.edges.length))
      fail('split.edge is not an edge of the supernet');
    if (!(Array.isArray(s.groups) && s.groups.every(isIntArray))) fail('split.groups must be arrays of op indices');
    if (!(s.criterion === 'gm' || s.criterion === 'random' || s.criterion === 'few-shot'))
      fail(`split.criterion must be 'gm', 'random' or 'few-shot'`);
    if (!(
      Array.isArray(s.children) &&
      s.children.every((c) => typeof c === 'string') &&
      s.children.length === (s.groups as unknown[]).length
    )) {
      fail('split.children must hold one id per group');
    }
    if (!Array.isArray(s.scores)) fail('split.scores must be an array');
    const scores = (s.scores as unknown[]).map((x, i): StoredEdgeScores => {
      const r = x as Record<string, unknown>;
      const ok =
        typeof r === 'object' &&
        r !== null &&
        Number.isInteger(r.edge) &&
        isIntArray(r.ops) &&
        Number.isInteger(r.batches) &&
        Array.isArray(r.matrix) &&
        r.matrix.length === r.ops.length &&
        (r.matrix as unknown[]).every(
          (row) =>
            Array.isArray(row) &&
            row.length === (r.ops as number[]).length &&
            row.every((c) => typeof c === 'number' && Number.isFinite(c)),
        );
      if (!ok) fail(`split.scores[${i}] must hold edge, ops, a square matrix of finite numbers and batches`);
      return { edge: r.edge as number, ops: r.ops as number[], matrix: r.matrix as number[][], batches: r.batches as number };
    });
    split = { edge: s.edge as number, groups: s.groups, criterion: s.criterion, children: s.children, scores };
  }
  return { id: v.id, parent: v.parent, depth: v.depth as number, mask: mask.map((r) => r.slice()), init: v.init, split };
}
