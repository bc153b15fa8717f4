import { z } from 'zod';

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
  heldOut: z.strictObject({ fraction: z.number().gt(0).lt(1), seed: z.number().int().min(0) }),
});
export type DatasetManifest = z.infer<typeof DatasetManifestSchema>;
