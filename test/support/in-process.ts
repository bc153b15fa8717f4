import type { INestApplication } from '@nestjs/common';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startCoordinator } from '../../apps/coordinator/src/bootstrap';
import { loadConfig } from '../../apps/coordinator/src/config/config';
import { freshDatabase, TEST_REDIS_URL, uniquePrefix } from './database';
import { deletePrefix } from './redis';

export const TEST_ADMIN_TOKEN = 'admin-token-for-tests-0123456789';
export const TEST_JOIN_TOKEN = 'join-token-for-tests-0123456789';

/** A coordinator running in the test's process, on a fresh database, its own blob directory and queue prefix. */
export interface InProcessCoordinator {
  app: INestApplication;
  /** http://127.0.0.1:<port> */
  base: string;
  dbUrl: string;
  blobDir: string;
  /** Closes the app, deletes its queues, drops its database and removes its blobs. */
  stop(): Promise<void>;
}

/**
 * Starts one on an ephemeral port with real PostgreSQL and Redis (the suite's `tag` names its queue prefix); `extra`
 * adds or overrides settings.
 */
export async function startInProcessCoordinator(tag: string, extra: Record<string, string> = {}): Promise<InProcessCoordinator> {
  const db = await freshDatabase();
  const blobDir = mkdtempSync(path.join(os.tmpdir(), 'flotilla-blobs-'));
  const prefix = uniquePrefix(tag);
  const app = await startCoordinator(
    loadConfig({
      DATABASE_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      JOIN_TOKEN: TEST_JOIN_TOKEN,
      PORT: '0',
      BLOB_DIR: blobDir,
      DATA_DIR: path.resolve(__dirname, '../../data'),
      QUEUE_PREFIX: prefix,
      LOG_LEVEL: 'error',
      MIGRATE_ON_START: 'false',
      ...extra,
    }),
  );
  return {
    app,
    base: (await app.getUrl()).replace('[::1]', '127.0.0.1'),
    dbUrl: db.url,
    blobDir,
    stop: async () => {
      await app.close();
      await deletePrefix(prefix);
      await db.drop();
      rmSync(blobDir, { recursive: true, force: true });
    },
  };
}
