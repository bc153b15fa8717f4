import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import * as path from 'node:path';
import { migrate } from '../../apps/coordinator/src/database/migrator';
import { ROOT, token } from '../../scripts/lib/stack';

/** The server tests create their throw-away databases on (CI: the machine's PostgreSQL). */
export const ADMIN_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A fresh, migrated database per test file, dropped afterwards. */
export async function freshDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = `flotilla_test_${randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  if (options.migrate !== false) await migrate(url.toString());
  return {
    url: url.toString(),
    drop: async () => {
      const c = new Client({ connectionString: ADMIN_DATABASE_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export function uniquePrefix(tag: string): string {
  return `t${tag}${randomBytes(4).toString('hex')}`;
}

/**
 * The environment of a coordinator process under test: its own database, blob directory, password-protected Redis
 * (only the coordinator gets its URL) and queue prefix, fresh tokens, the shipped datasets. `extra` overrides or adds
 * settings.
 */
export function coordinatorEnv(
  db: TestDatabase,
  redis: { url: string },
  work: string,
  prefix: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    ADMIN_TOKEN: token(),
    JOIN_TOKEN: token(),
    BLOB_DIR: path.join(work, 'blobs'),
    DATA_DIR: path.join(ROOT, 'data'),
    QUEUE_PREFIX: prefix,
    LOG_LEVEL: 'warn',
    // A killed coordinator's control job is taken over after 4–8 s instead of 10–20 s (the suites kill some).
    CONTROL_LOCK_MS: '4000',
    ...extra,
  };
}
