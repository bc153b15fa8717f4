import { z } from 'zod';

/** Path parameters that are ids (jobs, tasks, agents). */
export const UuidParam = z.string().uuid();

/** The largest value of PostgreSQL's `integer` (int4): every integer input that reaches such a column is bounded by it. */
export const INT4_MAX = 2 ** 31 - 1;

/** An integer in [min, max] that an int4 column holds (max is clamped to {@link INT4_MAX}). */
export function int4(min = 0, max = INT4_MAX) {
  return z.number().int().min(min).max(Math.min(max, INT4_MAX));
}

/** NUL (PostgreSQL text cannot hold it) or a UTF-16 surrogate without its pair (not encodable as UTF-8). */
const UNSAFE_TEXT = /[\u0000\p{Cs}]/u;

/** Whether PostgreSQL can store `s` as text and UTF-8 can carry it: no NUL, no lone surrogate. */
export function isSafeText(s: string): boolean {
  return !UNSAFE_TEXT.test(s);
}

/**
 * The first string (value or object key) of a parsed JSON value that is not {@link isSafeText}, as a path
 * (`a.b[2]`, `(root)`), or null when there is none. Every JSON body is checked with it before its schema. Iterative:
 * a body nested a million levels deep is checked like any other.
 */
export function unsafeTextPath(value: unknown): string | null {
  const stack: [unknown, string][] = [[value, '']];
  while (stack.length) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'string') {
      if (!isSafeText(v)) return path || '(root)';
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--)
        if (typeof v[i] === 'string' || (v[i] !== null && typeof v[i] === 'object')) stack.push([v[i], `${path}[${i}]`]);
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (!isSafeText(k)) return `${path ? `${path}.` : ''}${JSON.stringify(k)}`;
        if (typeof x === 'string' || (x !== null && typeof x === 'object')) stack.push([x, path ? `${path}.${k}` : k]);
      }
    }
  }
  return null;
}

/** Free text (names, labels, messages, map keys): any string without NUL or a lone UTF-16 surrogate. */
export function safeText() {
  return z.string().refine(isSafeText, 'must not contain NUL or an unpaired UTF-16 surrogate');
}

/** A dataset's name in the coordinator's catalogue (DATA_DIR/<name>/dataset.json); also the key of per-dataset maps. */
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

/** A map keyed by dataset name with at most `max` entries (an agent holds a few datasets, not thousands). */
export function perDataset<V extends z.ZodType>(value: V, max = 64) {
  return z.record(DatasetNameSchema, value).refine((r) => Object.keys(r).length <= max, `at most ${max} datasets`);
}

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

/** A query-string integer (digits only) in [min, max], named in the message when it is not one. */
function queryInt(name: string, min: number, max: number) {
  return z
    .string()
    .regex(/^\d{1,10}$/, `${name} must be a non-negative integer`)
    .transform(Number)
    .pipe(z.number().int().min(min, `${name} must be at least ${min}`).max(max, `${name} must be at most ${max}`))
    .optional();
}

/** Default and largest page size of a list endpoint. */
export interface PageLimits {
  default: number;
  max: number;
}

/**
 * `?limit=&offset=` of a list endpoint: `limit` items (1 to `limits.max`, default `limits.default`) from position
 * `offset` (default 0). The total is in the answer's `X-Total-Count` header.
 */
export function pageQuerySchema(limits: PageLimits) {
  return z.strictObject({ limit: queryInt('limit', 1, limits.max), offset: queryInt('offset', 0, INT4_MAX) });
}

/** A page as the coordinator uses it: defaults applied. */
export interface Page {
  limit: number;
  offset: number;
}

/** The page a parsed query asks for, with the endpoint's defaults. */
export function pageOf(q: { limit?: number; offset?: number }, limits: PageLimits): Page {
  return { limit: q.limit ?? limits.default, offset: q.offset ?? 0 };
}

/** GET /agents: 1,000 agents a page by default (oldest first), 10,000 at most. */
export const AGENT_PAGE: PageLimits = { default: 1000, max: 10_000 };
export const AgentListQuerySchema = pageQuerySchema(AGENT_PAGE);
export type AgentListQuery = z.infer<typeof AgentListQuerySchema>;

/** GET /jobs/:id/rounds: 1,000 rounds a page by default (by index), 10,000 at most. */
export const ROUND_PAGE: PageLimits = { default: 1000, max: 10_000 };
export const RoundListQuerySchema = pageQuerySchema(ROUND_PAGE);
export type RoundListQuery = z.infer<typeof RoundListQuerySchema>;

/**
 * GET /jobs/:id/participation pages both ways: `limit`/`offset` over the job's closed rounds (1,000 by default and at
 * most), `agentLimit`/`agentOffset` over its agents in id order (1,000 by default, 10,000 at most). The defaults give
 * the whole matrix of a job of up to 1,000 agents and 1,000 rounds; the totals are in `X-Total-Count` (rounds) and
 * `X-Total-Agents`.
 */
export const PARTICIPATION_ROUND_PAGE: PageLimits = { default: 1000, max: 1000 };
export const PARTICIPATION_AGENT_PAGE: PageLimits = { default: 1000, max: 10_000 };
export const ParticipationQuerySchema = z.strictObject({
  limit: queryInt('limit', 1, PARTICIPATION_ROUND_PAGE.max),
  offset: queryInt('offset', 0, INT4_MAX),
  agentLimit: queryInt('agentLimit', 1, PARTICIPATION_AGENT_PAGE.max),
  agentOffset: queryInt('agentOffset', 0, INT4_MAX),
});
export type ParticipationQuery = z.infer<typeof ParticipationQuerySchema>;
