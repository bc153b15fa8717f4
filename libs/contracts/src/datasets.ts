import { z } from 'zod';
import { DatasetNameSchema } from './common';

/** A file or folder name inside the dataset's folder: relative, no `..`, no hidden files. */
const DataPathSchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^(?!\/)(?!.*(^|\/)\.)[^\0\\]+$/, 'a relative path inside the dataset folder, without .. or hidden parts');

/** A class name, which is also the name of its sub-folder in an image folder. */
const ClassNameSchema = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[^/\\\0]+$/, 'no slashes')
  .refine((s) => s !== '.' && s !== '..', 'not . or ..');

const commonManifest = {
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/),
  description: z.string().optional(),
  /** Features are scaled to [0, 1] by (x - lo) / (hi - lo). */
  featureRange: z.tuple([z.number(), z.number()]).refine(([lo, hi]) => hi > lo, 'hi must exceed lo'),
  numClasses: z.number().int().min(2).max(10_000),
  /**
   * The shape of one example as models see it, e.g. `[8, 8, 1]` (height, width, channels) for 8×8 grey images; the
   * product must equal the number of feature values per example. Absent: a flat vector of them.
   */
  inputShape: z.array(z.number().int().min(1).max(65_536)).min(1).max(4).optional(),
  /**
   * The classes' names in label order (label k is `classes[k]`); an image folder's sub-folders carry these names.
   * Default: "0", "1", …, the labels themselves.
   */
  classes: z.array(ClassNameSchema).optional(),
  heldOut: z.strictObject({ fraction: z.number().gt(0).lt(1), seed: z.number().int().min(0) }),
};

/** The formats a dataset's examples may be stored in. */
export const DATASET_FORMATS = ['csv', 'idx', 'image-folder'] as const;
export type DatasetFormat = (typeof DATASET_FORMATS)[number];

/**
 * A dataset in the coordinator's catalogue (DATA_DIR/<name>/dataset.json). The held-out split is
 * what the coordinator evaluates global models on; agents train on their own files, scaled with the
 * same `featureRange` so that a model means the same thing everywhere. `format` says how the examples are stored:
 * - `csv` (the default): `file`, numbers with the label in the last column;
 * - `idx`: `images` and `labels`, IDX files as MNIST ships them (gzipped or not), images `[n, …inputShape]`;
 * - `image-folder`: `dir` with one sub-folder of PNG/JPEG images per class, named as in `classes`; needs
 *   `inputShape` `[height, width, channels]` (1 grey or 3 RGB).
 * Paths are relative to the manifest's folder.
 */
export const DatasetManifestSchema = z
  .discriminatedUnion('format', [
    z.strictObject({ ...commonManifest, format: z.literal('csv').default('csv'), file: DataPathSchema }),
    z.strictObject({ ...commonManifest, format: z.literal('idx'), images: DataPathSchema, labels: DataPathSchema }),
    z.strictObject({ ...commonManifest, format: z.literal('image-folder'), dir: DataPathSchema }),
  ])
  .superRefine((m, ctx) => {
    if (m.classes && m.classes.length !== m.numClasses) {
      ctx.addIssue({ code: 'custom', path: ['classes'], message: `${m.classes.length} names for numClasses ${m.numClasses}` });
    }
    if (m.classes && new Set(m.classes).size !== m.classes.length) {
      ctx.addIssue({ code: 'custom', path: ['classes'], message: 'class names must differ' });
    }
    const shape = m.inputShape;
    if (m.format === 'image-folder' && !(shape && shape.length === 3 && (shape[2] === 1 || shape[2] === 3))) {
      ctx.addIssue({ code: 'custom', path: ['inputShape'], message: 'an image folder needs [height, width, channels], channels 1 or 3' });
    }
  });
export type DatasetManifest = z.infer<typeof DatasetManifestSchema>;

/** The class names of a dataset in label order: its manifest's `classes`, or "0", "1", … */
export function classNames(manifest: Pick<DatasetManifest, 'classes' | 'numClasses'>): string[] {
  return manifest.classes ?? Array.from({ length: manifest.numClasses }, (_, i) => String(i));
}

/**
 * GET /datasets/:name: what an agent's file for a dataset must look like, as the coordinator's catalogue says, so that
 * an agent with the wrong file refuses to start instead of failing every round. Names and shapes only: never the
 * coordinator's rows, paths or held-out split.
 */
export const DatasetShapeSchema = z.strictObject({
  name: DatasetNameSchema,
  /** Feature values per example (in a CSV, the columns before the label). */
  numFeatures: z.number().int().min(1),
  /** One example's shape as models see it (its product is numFeatures); `[numFeatures]` for flat data. */
  inputShape: z.array(z.number().int().min(1)).min(1).max(4),
  /** Labels are integers in 0..numClasses − 1. */
  numClasses: z.number().int().min(2),
  /** The classes' names in label order; an agent's image folder has sub-folders of these names. */
  classes: z.array(z.string().min(1).max(100)).min(2),
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
