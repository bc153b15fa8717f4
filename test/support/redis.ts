import IORedis from 'ioredis';
import { TEST_REDIS_URL } from './database';

/** Deletes every BullMQ key under a test's prefix. */
export async function deletePrefix(prefix: string): Promise<void> {
  const r = new IORedis(TEST_REDIS_URL);
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await r.del(...keys);
  } while (cursor !== '0');
  await r.quit();
}
