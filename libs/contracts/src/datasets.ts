import { z } from 'zod';
import { DatasetNameSchema } from './common';

/**
 * A dataset in the coordinator's catalogue (DATA_DIR/<name>/dataset.json). The held-out split is
 * what the coordinator evaluates global models on; agents train on their own files, scaled with the
 * same `featureRange` so that a model means the same thing everywhere.
 */
export const DatasetManifestSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/),
  file: z.string().min(1),
  description: z.string().optional(),
  /** Features are scaled to [0, 1] by (x - lo) / (hi - lo). */
  featureRange: z.tuple([z.number(), z.number()]).refine(([lo, hi]) => hi > lo, 'hi must exceed lo'),
  numClasses: z.number().int().min(2),
  /**
   * The shape of one example as models see it, e.g. `[8, 8, 1]` (height, width, channels) for 8×8 grey images; the
   * product must equal the number of feature values per example. Absent: a flat vector of them.
   */
  inputShape: z.array(z.number().int().min(1).max(65_536)).min(1).max(4).optional(),
  heldOut: z.strictObject({ fraction: z.number().gt(0).lt(1), seed: z.number().int().min(0) }),
});
export type DatasetManifest = z.infer<typeof DatasetManifestSchema>;

/**
 * GET /datasets/:name: what an agent's file for a dataset must look like, as the coordinator's catalogue says, so that
 * an agent with the wrong file refuses to start instead of failing every round. Names and shapes only: never the
 * coordinator's rows, paths or held-out split.
 */
export const DatasetShapeSchema = z.strictObject({
  name: DatasetNameSchema,
  /** Feature columns of every row (the label is one more column, the last). */
  numFeatures: z.number().int().min(1),
  /** One example's shape as models see it (its product is numFeatures); `[numFeatures]` for flat data. */
  inputShape: z.array(z.number().int().min(1)).min(1).max(4),
  /** Labels are integers in 0..numClasses − 1. */
  numClasses: z.number().int().min(2),
  /** Every feature value lies in [lo, hi] (models see (x − lo) / (hi − lo)). */
  featureRange: z.tuple([z.number(), z.number()]),
  description: z.string().nullable(),
});
export type DatasetShape = z.infer<typeof DatasetShapeSchema>;

/**
 * GET /datasets (people, viewer): every catalogue dataset's shape and the size of its held-out split, the rows the
 * coordinator evaluates every global model on (agents' files must not hold them: `flotilla data split`).
 */
export interface DatasetSummary extends DatasetShape {
  heldOut: { rows: number; fraction: number };
}

/** Where a federated job's test metrics come from: the coordinator's held-out split of its dataset. */
export interface EvaluationSource {
  dataset: string;
  /** Rows of the held-out split every global model is evaluated on. */
  heldOutRows: number;
  /** The split's share of the dataset's file (the manifest's heldOut.fraction). */
  fraction: number;
}
