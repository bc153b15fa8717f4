import { createRng } from '../random';
import { parseLabelLastCsv, trainTestSplit, type Dataset } from './dataset';

/** Scales every feature to [0, 1] with one range for all columns: (x − lo) / (hi − lo). Returns a new dataset. */
export function scaleToUnit(ds: Dataset, range: readonly [number, number]): Dataset {
  const [lo, hi] = range;
  if (!(hi > lo)) throw new Error(`scaleToUnit: range must have hi > lo, got [${lo}, ${hi}]`);
  const features = new Float32Array(ds.features.length);
  const inv = 1 / (hi - lo);
  for (let i = 0; i < features.length; i++) features[i] = (ds.features[i] - lo) * inv;
  return { ...ds, features };
}

export interface HeldOutSpec {
  featureRange: readonly [number, number];
  numClasses: number;
  heldOut: { fraction: number; seed: number };
}

/**
 * Parses a label-last CSV and splits off the held-out test set, deterministically from the spec.
 * Values stay unscaled (agents receive raw files and scale with `featureRange` themselves).
 * The coordinator evaluates on `test`; simulations and demos shard `train` to clients.
 */
export function splitHeldOut(csvText: string, spec: HeldOutSpec): { train: Dataset; test: Dataset } {
  return splitDataset(parseLabelLastCsv(csvText, { numClasses: spec.numClasses }), spec);
}

/** {@link splitHeldOut} for a dataset already parsed (from any format): the same split for the same rows. */
export function splitDataset(all: Dataset, spec: Pick<HeldOutSpec, 'heldOut'>): { train: Dataset; test: Dataset } {
  return trainTestSplit(all, spec.heldOut.fraction, createRng(spec.heldOut.seed));
}
