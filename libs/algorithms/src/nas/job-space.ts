import {
  initialCellTrainingState,
  type ArchOptimizerOptions,
  type CellArchState,
  type CellSearchMode,
  type SnasOptions,
} from './cell-search';
import { CELL_MASK_SHAPE, CELL_OPS, cellLayout, cellPathWeights, checkCellSpace, type CellSpaceSpec } from './cell-space';
import { evaluateCell } from './cell-network';
import { checkSupernet, supernetLayout, type Architecture, type MaskShape, type SupernetSpec } from './search-space';
import { evaluateArchitectures, type Samples } from './supernet';
import { initialTrainingState, type TrainingState } from './training';

/**
 * The search space of a distributed GM-NAS job (docs/algorithms/gm-nas.md §10), as every task carries it: the chain
 * supernet of §2 (uniform single-path or fixed-mixture training), or the cell space of §2.2 with the way its
 * (sub-)supernets search (§6.4: RSPS, DARTS or SNAS, with their α optimiser and temperature). JSON-safe. The
 * functions here are the seam between the two: everything the tree, the tasks and the coordinator do that depends
 * on the space goes through them.
 */
export type NasSpace = ChainNasSpace | CellNasSpace;

export interface ChainNasSpace {
  type: 'chain';
  spec: SupernetSpec;
}

export interface CellNasSpace {
  type: 'cell';
  spec: CellSpaceSpec;
  search: CellSearchMode;
  /** DARTS and SNAS: Adam on α (library defaults where absent). */
  arch?: ArchOptimizerOptions;
  /** SNAS: the temperature schedule (library defaults where absent). */
  snas?: SnasOptions;
}

/**
 * A (sub-)supernet's training state in either space: weights, SGD momentum and step, plus in the cell space α with
 * its Adam moments (`arch`), which DARTS and SNAS learn and a node's children inherit.
 */
export interface NasState extends TrainingState {
  arch?: CellArchState;
}

/** Checks a space; throws naming the first problem. */
export function checkNasSpace(space: NasSpace, where = 'NAS space'): void {
  if (space.type === 'chain') checkSupernet(space.spec, where);
  else checkCellSpace(space.spec, where);
}

/** Candidate ops per edge, which every mask of the space fits. */
export function nasMaskShape(space: NasSpace): MaskShape {
  return space.type === 'chain' ? space.spec : CELL_MASK_SHAPE;
}

/** Length of the flat float32 parameter vector (and of the momentum). */
export function nasParameterCount(space: NasSpace): number {
  return space.type === 'chain' ? supernetLayout(space.spec).size : cellLayout(space.spec).size;
}

/** Values per example the space reads. */
export function nasInputSize(space: NasSpace): number {
  return space.type === 'chain' ? space.spec.inputSize : space.spec.height * space.spec.width * space.spec.inputChannels;
}

/** The name of op `op` of edge `edge` (`relu-linear`, `conv3x3`, …). */
export function nasOpName(space: NasSpace, edge: number, op: number): string {
  return space.type === 'chain' ? space.spec.edges[edge].ops[op].kind : CELL_OPS[op];
}

/** Fresh weights from `seed`, zero momentum, step 0; in the cell space α = 0 (the uniform mixture). */
export function nasInitialState(space: NasSpace, seed: number): NasState {
  return space.type === 'chain' ? initialTrainingState(space.spec, seed) : initialCellTrainingState(space.spec, seed);
}

/** One architecture's loss and accuracy with `params` on its single path. */
export function nasEvaluate(
  space: NasSpace,
  params: Float32Array,
  architecture: Architecture,
  samples: Samples,
): { loss: number; accuracy: number } {
  if (space.type === 'cell') return evaluateCell(space.spec, params, cellPathWeights(architecture), samples);
  const [score] = evaluateArchitectures(space.spec, params, [architecture], samples);
  return { loss: score.loss, accuracy: score.accuracy };
}

/**
 * Rows as the space reads them. Datasets hold images channels-last (`inputShape` [height, width, channels]); the cell
 * network reads them channel-major, so images with more than one channel are reordered (a copy). Everything else is
 * returned as it is.
 */
export function nasSpaceSamples(space: NasSpace, samples: Samples): Samples {
  if (space.type === 'chain' || space.spec.inputChannels === 1) return samples;
  const { height: h, width: w, inputChannels: c } = space.spec;
  const f = h * w * c;
  const inputs = new Float32Array(samples.inputs.length);
  for (let r = 0; r < samples.size; r++) {
    const row = r * f;
    for (let p = 0; p < h * w; p++) for (let k = 0; k < c; k++) inputs[row + k * h * w + p] = samples.inputs[row + p * c + k];
  }
  return { ...samples, inputs };
}
