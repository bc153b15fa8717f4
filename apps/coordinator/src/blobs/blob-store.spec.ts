import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { NotFoundError, ValidationError } from '../common/errors';
import { BlobStore } from './blob-store';

describe('BlobStore float32 reads', () => {
  let dir: string;
  let store: BlobStore;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'blobs-'));
    store = new BlobStore(dir);
    await store.init();
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const values = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 1e-3);

  it('getFloat32 returns the stored values in a new array', async () => {
    const hash = await store.putFloat32(values);
    const got = await store.getFloat32(hash);
    expect(got).toEqual(values);
    expect(got.buffer).not.toBe(values.buffer);
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
  });

  it('refuses a target of another length, a blob that is not float32, a malformed or unknown hash', async () => {
    const hash = await store.putFloat32(values);
    await expect(store.readFloat32Into(hash, new Float32Array(999))).rejects.toThrow(ValidationError);
    await expect(store.readFloat32Into(hash, new Float32Array(999))).rejects.toThrow(/has 4000 bytes, expected 3996/);
    const odd = await store.put(new Uint8Array([1, 2, 3]));
    await expect(store.getFloat32(odd)).rejects.toThrow(/3 bytes is not a float32 array/);
    await expect(store.getFloat32('nope')).rejects.toThrow(ValidationError);
    await expect(store.getFloat32('0'.repeat(64))).rejects.toThrow(NotFoundError);
    await expect(store.readFloat32Into('f'.repeat(64), new Float32Array(1))).rejects.toThrow(NotFoundError);
  });
});
