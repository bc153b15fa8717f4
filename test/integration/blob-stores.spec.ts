import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { BlobStore, StoredFile } from '../../apps/coordinator/src/blobs/blob-store';
import { FsBlobStore } from '../../apps/coordinator/src/blobs/fs-blob-store';
import { S3BlobStore } from '../../apps/coordinator/src/blobs/s3-blob-store';
import { NotFoundError, ValidationError } from '../../apps/coordinator/src/common/errors';
import { startS3 } from '../support/s3';

/** A driver under test, with a way to put something into its storage that the driver did not write. */
interface Driver {
  store: BlobStore;
  writeForeign(name: string): Promise<void>;
  stop(): Promise<void>;
}

const drivers: [string, () => Promise<Driver>][] = [
  [
    'fs (a directory)',
    async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'blobs-'));
      return {
        store: new FsBlobStore(dir),
        writeForeign: async (name) => {
          await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
          await writeFile(path.join(dir, name), 'not a blob');
        },
        stop: () => rm(dir, { recursive: true, force: true }),
      };
    },
  ],
  [
    's3 (s3rver, a real S3-protocol server)',
    async () => {
      const s3 = await startS3();
      const credentials = { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
      const store = new S3BlobStore({
        bucket: s3.bucket,
        prefix: 'fl/',
        region: 'us-east-1',
        endpoint: s3.endpoint,
        forcePathStyle: true,
        credentials,
      });
      const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
      return {
        store,
        writeForeign: async (name) => {
          await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `fl/${name}`, Body: 'not a blob' }));
        },
        stop: async () => {
          store.close();
          client.destroy();
          await s3.stop();
        },
      };
    },
  ],
];

describe('S3BlobStore', () => {
  it('refuses to start on a bucket it cannot use, naming the bucket and the answer (and no credentials)', async () => {
    const s3 = await startS3();
    const store = new S3BlobStore({
      bucket: 'no-such-bucket',
      prefix: '',
      region: 'us-east-1',
      endpoint: s3.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: 'a-secret-that-must-not-show' },
    });
    try {
      const refused = await store.init().then(
        () => null,
        (e: Error) => e.message,
      );
      expect(refused).toMatch(/^S3 bucket 'no-such-bucket' is not usable: (NotFound|NoSuchBucket) \(HTTP 404\)$/);
    } finally {
      store.close();
      await s3.stop();
    }
  });
});

/**
 * Every blob-store driver keeps the one contract the coordinator relies on (apps/coordinator/src/blobs/blob-store.ts):
 * content addressing, the float reads aggregation uses, NotFound/Validation errors, and the sweeper's list/remove.
 */
describe.each(drivers)('BlobStore driver: %s', (_name, start) => {
  let driver: Driver;
  let store: BlobStore;
  beforeEach(async () => {
    driver = await start();
    store = driver.store;
    await store.init();
  });
  afterEach(() => driver.stop());

  const values = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 1e-3);
  const all = async (): Promise<StoredFile[]> => {
    const out: StoredFile[] = [];
    for await (const f of store.list()) out.push(f);
    return out.sort((a, b) => a.name.localeCompare(b.name));
  };

  it('stores by sha256, reads back the same bytes, and knows what it has', async () => {
    const bytes = new Uint8Array([1, 2, 3, 250]);
    const hash = await store.put(bytes);
    // sha256 of the bytes 01 02 03 fa (node -e "crypto.createHash('sha256').update(Buffer.from([1,2,3,250]))...")
    expect(hash).toBe('bacdef9c76b37eb70caaf81ea41ecddd56d625b72e453de5eabbd59745279847');
    expect(await store.put(bytes)).toBe(hash); // putting it again is harmless
    expect([...(await store.get(hash))]).toEqual([1, 2, 3, 250]);
    expect(await store.has(hash)).toBe(true);
    expect(await store.byteLength(hash)).toBe(4);
    expect(await store.has('0'.repeat(64))).toBe(false);
    expect(await store.byteLength('0'.repeat(64))).toBeNull();
    expect(await store.byteLength('../etc/passwd')).toBeNull();
    await expect(store.get('0'.repeat(64))).rejects.toThrow(NotFoundError);
    await expect(store.get('../../etc/passwd')).rejects.toThrow(ValidationError);
  });

  it('getFloat32 returns the stored values in a new array; float64 vectors round-trip', async () => {
    const hash = await store.putFloat32(values);
    const got = await store.getFloat32(hash);
    expect(got).toEqual(values);
    expect(got.buffer).not.toBe(values.buffer);
    const sums = Float64Array.from([1e-300, -2.5, 1 / 3]);
    expect(await store.getFloat64(await store.putFloat64(sums))).toEqual(sums);
  });

  it('readFloat32Into fills a view at an offset of a larger buffer, and nothing around it', async () => {
    const hash = await store.putFloat32(values);
    const big = new Float32Array(values.length + 8).fill(-7);
    const view = big.subarray(3, 3 + values.length);
    expect(await store.readFloat32Into(hash, view)).toBe(view);
    expect(view).toEqual(values);
    expect([...big.subarray(0, 3), ...big.subarray(3 + values.length)]).toEqual([-7, -7, -7, -7, -7, -7, -7, -7]);
  });

  it('readFloat32Range reads values [from, from + n) into a view (a tile of a robust round), and refuses a range beyond the blob', async () => {
    const hash = await store.putFloat32(values);
    const big = new Float32Array(12).fill(-7);
    const view = big.subarray(2, 9);
    expect(await store.readFloat32Range(hash, 993, view)).toBe(view);
    expect(view).toEqual(values.subarray(993, 1000));
    expect([...big.subarray(0, 2), ...big.subarray(9)]).toEqual([-7, -7, -7, -7, -7]);
    await expect(store.readFloat32Range(hash, 994, view)).rejects.toThrow(/has 4000 bytes; values \[994, 1001\) do not lie in it/);
    await expect(store.readFloat32Range(hash, -1, new Float32Array(1))).rejects.toThrow(ValidationError);
    await expect(store.readFloat32Range('0'.repeat(64), 0, new Float32Array(1))).rejects.toThrow(NotFoundError);
  });

  it('refuses a target of another length, a blob that is not float32, a malformed or unknown hash', async () => {
    const hash = await store.putFloat32(values);
    await expect(store.readFloat32Into(hash, new Float32Array(999))).rejects.toThrow(/has 4000 bytes, expected 3996/);
    const odd = await store.put(new Uint8Array([1, 2, 3]));
    await expect(store.getFloat32(odd)).rejects.toThrow(/3 bytes is not a float32 array/);
    await expect(store.getFloat32('nope')).rejects.toThrow(ValidationError);
    await expect(store.getFloat32('0'.repeat(64))).rejects.toThrow(NotFoundError);
    await expect(store.readFloat32Into('f'.repeat(64), new Float32Array(1))).rejects.toThrow(NotFoundError);
  });

  it("lists its blobs with size and time (and nothing it did not write), refreshes a re-put blob's time, and removes", async () => {
    const a = await store.put(new Uint8Array([1]));
    const b = await store.putFloat32(values);
    await driver.writeForeign('README.txt');
    await driver.writeForeign(`${b.slice(0, 2)}/not-a-hash`);
    await driver.writeForeign(`zz/${b}`); // a hash in the wrong shard
    const listed = await all();
    const expected = [
      [a, 'blob', 1],
      [b, 'blob', 4000],
    ].sort((x, y) => String(x[0]).localeCompare(String(y[0])));
    expect(listed.map((f) => [f.name, f.kind, f.bytes])).toEqual(expected);
    const before = listed.find((f) => f.name === a)!.modifiedMs;
    expect(Math.abs(before - Date.now())).toBeLessThan(60_000);

    // S3 keeps whole seconds: past the next one, a second put moves the time on (the sweeper's grace restarts).
    await new Promise((r) => setTimeout(r, 1100));
    await store.put(new Uint8Array([1]));
    const after = (await all()).find((f) => f.name === a)!.modifiedMs;
    expect(after).toBeGreaterThan(before);

    await store.remove({ name: a, kind: 'blob' });
    await store.remove({ name: a, kind: 'blob' }); // already gone: not an error
    expect((await all()).map((f) => f.name)).toEqual([b]);
    expect(await store.has(a)).toBe(false);
  });
});
