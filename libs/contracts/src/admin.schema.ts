import { z } from 'zod';

/**
 * `POST /admin/blobs/gc`: delete blobs that no row names any more (see the README, "Blob storage").
 * A dry run (the default) only reports what would be deleted.
 */
export const BlobSweepRequestSchema = z.strictObject({
  /** true (default): report only; false: delete. */
  dryRun: z.boolean().default(true),
  /** Only blobs whose file is older than this are deleted; default BLOB_GC_GRACE_MS; at most ten years. */
  graceMs: z
    .number()
    .int()
    .min(0)
    .max(10 * 365 * 86_400_000)
    .optional(),
});
export type BlobSweepRequest = z.infer<typeof BlobSweepRequestSchema>;
