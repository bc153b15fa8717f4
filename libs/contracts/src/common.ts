import { z } from 'zod';

/** Path parameters that are ids (jobs, tasks, agents). */
export const UuidParam = z.string().uuid();

/** A dataset's name in the coordinator's catalogue (DATA_DIR/<name>/dataset.json). */
export const DatasetNameSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'lower-case letters, digits and dashes');

/** A blob's name: the sha256 of its bytes, lower-case hex. */
export const Sha256Schema = z.string().regex(/^[0-9a-f]{64}$/, 'must be a sha256 hex digest');

/** A seed: a non-negative 31-bit integer (what every seeded generator of libs/algorithms takes). */
export const SeedSchema = z
  .number()
  .int()
  .min(0)
  .max(2 ** 31 - 1);

/** A finite number (JSON cannot carry NaN or ±Infinity, but a computed value can be one before it is sent). */
export const FiniteSchema = z.number().refine(Number.isFinite, 'must be finite');

/** A vector of finite numbers of length exactly `n`. */
export function finiteVector(n: number, name: string) {
  return z.array(FiniteSchema).refine((v) => v.length === n, { message: `${name} must have length ${n}` });
}

/** At most the first three problems of a failed parse, as `path: message` (for error messages). */
export function describeIssues(error: z.ZodError, max = 3): string {
  return error.issues
    .slice(0, max)
    .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
    .join('; ');
}

/** Binary update / weight bodies are little-endian float32. */
export const WEIGHTS_CONTENT_TYPE = 'application/octet-stream';
