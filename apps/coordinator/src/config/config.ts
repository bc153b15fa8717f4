import { z } from 'zod';

/**
 * Every setting the coordinator reads, validated once at boot. Nothing else reads process.env.
 * Secrets (ADMIN_TOKEN, JOIN_TOKEN) have no defaults.
 */
export const ConfigSchema = z.object({
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgresql:// URL'),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// URL'),
  /**
   * PostgreSQL connections one coordinator keeps at most. Beyond them a query waits up to 5 s for one, then the call
   * is answered 503 with Retry-After. Mind the server's max_connections across every replica.
   */
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(1000).default(10),
  /** The bootstrap admin key (role admin, cannot be revoked through the API). */
  ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters'),
  /** A bootstrap join token that never expires; without it agents join only with tokens issued by POST /join-tokens. */
  JOIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().min(1).default('127.0.0.1'),
  /** Where blobs live: `fs` (BLOB_DIR, one host or a shared volume) or `s3` (any S3-compatible store: the S3_* settings). */
  BLOB_STORE: z.enum(['fs', 's3']).default('fs'),
  BLOB_DIR: z.string().min(1).default('.flotilla/blobs'),
  /** The S3 endpoint (e.g. http://minio:9000); unset: AWS's own for S3_REGION. */
  S3_ENDPOINT: z.string().url().optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  /** The bucket (must exist; the coordinator never creates one). Required with BLOB_STORE=s3. */
  S3_BUCKET: z.string().min(3).max(63).optional(),
  /** Prefix of every key, e.g. `flotilla/` to share a bucket. */
  S3_PREFIX: z
    .string()
    .max(200)
    .regex(/^([A-Za-z0-9._-]+\/)*$/, 'must be empty or path segments each ending in /')
    .default(''),
  /** Path-style addressing (http://host/bucket/key), which most self-hosted stores need. */
  S3_FORCE_PATH_STYLE: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  /** Credentials; unset: the AWS SDK's default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, instance roles, ...). */
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  /**
   * `true`: an agent's blob download is answered with a redirect to a pre-signed URL of the bucket, so agents download
   * models straight from the store (the coordinator still checks the agent's credentials; the agent still checks the
   * sha256). Needs BLOB_STORE=s3 and a store the agents can reach.
   */
  S3_PRESIGNED_DOWNLOADS: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  /** How long a pre-signed download URL works, in seconds. */
  S3_PRESIGN_TTL_S: z.coerce.number().int().min(10).max(86_400).default(300),
  /** The store's address as agents reach it, when it differs from S3_ENDPOINT (e.g. a public name); default S3_ENDPOINT. */
  S3_PUBLIC_ENDPOINT: z.string().url().optional(),
  DATA_DIR: z.string().min(1).default('data'),
  /** An agent without a heartbeat for this long is not asked to train. */
  AGENT_OFFLINE_AFTER_MS: z.coerce.number().int().min(1000).default(30_000),
  /** A task (NAS, bilevel) is given to at most this many agents before its job fails. */
  TASK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(3),
  /** How often to delete blobs no row names any more (closed rounds' updates, mostly); 0: never. See BlobGcService. */
  BLOB_GC_INTERVAL_MS: z.coerce.number().int().min(0).default(3_600_000),
  /** A blob no row names is deleted only once its file is this old (a blob is written before the row naming it). */
  BLOB_GC_GRACE_MS: z.coerce.number().int().min(0).default(86_400_000),
  /**
   * Largest update body and task blob, decompressed (413 beyond). One body is one Buffer, and a blob's size is
   * counted in an int4 column, hence at most 2 GiB − 1.
   */
  MAX_UPDATE_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(2 ** 31 - 1)
    .default(256 * 1024 * 1024),
  /** Largest JSON body of every route but task results and registration, decompressed (413 beyond). */
  MAX_JSON_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(2 ** 31 - 1)
    .default(1024 * 1024),
  /** Largest task result body (JSON, decompressed): a bilevel result carries vectors as long as the problem's x. */
  MAX_TASK_RESULT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(2 ** 31 - 1)
    .default(16 * 1024 * 1024),
  /**
   * Most parameters of a `cnn` or `layers` model (float32 each; 4 × this is also the largest initial-weights upload).
   * Checked from the model's configuration at submission, before any weight is allocated.
   */
  MAX_MODEL_PARAMETERS: z.coerce.number().int().min(1).max(500_000_000).default(5_000_000),
  /**
   * Most multiply-accumulates of one example's forward pass through a `cnn` or `layers` model: the coordinator
   * evaluates every round's model on its whole held-out split, so this bounds that work.
   */
  MAX_MODEL_MACS: z.coerce.number().int().min(1).default(5_000_000),
  /** Uploads and downloads (updates, blobs, task results) one agent may have in flight on one process (429 beyond). */
  AGENT_MAX_TRANSFERS: z.coerce.number().int().min(1).max(1000).default(4),
  /** Bytes of blobs one agent may have uploaded for the tasks it holds open (403 beyond). */
  AGENT_BLOB_QUOTA_BYTES: z.coerce
    .number()
    .int()
    .min(4)
    .default(1024 * 1024 * 1024),
  /** Blobs one agent may have uploaded for the tasks it holds open (403 beyond). */
  AGENT_BLOB_QUOTA_COUNT: z.coerce.number().int().min(1).max(1_000_000).default(32),
  MIGRATE_ON_START: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  /** Prefix for BullMQ keys, so several deployments (or test runs) can share one Redis. */
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default('bull'),
  LOG_LEVEL: z.enum(['error', 'warn', 'log', 'debug']).default('log'),
  /** Browser origins allowed to call the API (CORS), comma-separated; empty: none (same-origin pages only). */
  CORS_ORIGINS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, 'each origin must be scheme://host[:port]'))),
  /** PEM certificate chain and private key: both set, the coordinator serves HTTPS only. */
  TLS_CERT_FILE: z.string().min(1).optional(),
  TLS_KEY_FILE: z.string().min(1).optional(),
  /**
   * Express's `trust proxy`: which proxies' X-Forwarded-For to believe for the client's address (rate limits by
   * source). `false` (default: the TCP peer is the client), `true`, a hop count, or addresses/`loopback`.
   */
  TRUST_PROXY: z
    .string()
    .regex(/^(false|true|\d+|[0-9A-Za-z.:/, ]+)$/, 'false, true, a hop count or addresses')
    .default('false'),
  /** Registrations per minute from one source address (HTTP 429 beyond; a burst of as many is allowed). */
  REGISTER_RATE_PER_MINUTE: z.coerce.number().int().min(1).default(30),
  /** Calls per second of one agent on the agent data plane (a burst of twice as many is allowed). */
  AGENT_RATE_PER_SECOND: z.coerce.number().int().min(1).default(50),
  /**
   * Lock of a running control job (renewed every half of it): a coordinator that dies in the middle of a step is
   * taken over after one to two times this. Handlers must not block the event loop this long.
   */
  CONTROL_LOCK_MS: z.coerce.number().int().min(1000).max(600_000).default(10_000),
  /**
   * Control jobs one coordinator runs at once (round closes, advances, task deadlines). Steps of different jobs run in
   * parallel, here and on other replicas; one job's steps run one at a time everywhere (a lease in PostgreSQL).
   */
  CONTROL_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  /**
   * How often every coordinator compares what PostgreSQL says must be scheduled (round closes, task deadlines, running
   * jobs) with what Redis holds and re-arms what is missing (also at start-up and each time Redis is back).
   */
  RECONCILE_INTERVAL_MS: z.coerce.number().int().min(200).max(600_000).default(10_000),
  /** The longest wait between two tries of a control job that failed because PostgreSQL or Redis was away (it never gives up). */
  CONTROL_RETRY_MAX_MS: z.coerce.number().int().min(100).max(600_000).default(5_000),
  /** How often the agents seen (polls, heartbeats) are written to the database, in one statement. */
  PRESENCE_FLUSH_MS: z.coerce.number().int().min(100).max(60_000).default(2_000),
});

export type AppConfig = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export function loadConfig(env: Record<string, string | undefined>): AppConfig {
  const result = ConfigSchema.safeParse(env);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const c = result.data;
  if ((c.TLS_CERT_FILE === undefined) !== (c.TLS_KEY_FILE === undefined)) {
    throw new ConfigError(['TLS_CERT_FILE and TLS_KEY_FILE: set both (HTTPS) or neither (HTTP)']);
  }
  if (c.BLOB_STORE === 's3' && c.S3_BUCKET === undefined) throw new ConfigError(['S3_BUCKET: required with BLOB_STORE=s3']);
  if (c.S3_PRESIGNED_DOWNLOADS && c.BLOB_STORE !== 's3') {
    throw new ConfigError(['S3_PRESIGNED_DOWNLOADS: needs BLOB_STORE=s3 (a directory has no URLs to hand out)']);
  }
  if ((c.S3_ACCESS_KEY_ID === undefined) !== (c.S3_SECRET_ACCESS_KEY === undefined)) {
    throw new ConfigError(['S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY: set both or neither (the AWS SDK default chain)']);
  }
  return c;
}

/** Injection token for the typed config object. */
export const APP_CONFIG = Symbol('APP_CONFIG');
