import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, stat, unlink, utimes, writeFile, type FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { NotFoundError, ValidationError } from '../common/errors';
import { BlobStore, checkHash, HASH, type StoredFile } from './blob-store';

/**
 * The blob store in a directory (one host, or a volume every replica mounts): `<dir>/<first two hex digits>/<hash>`,
 * written to a temp file and renamed into place.
 */
export class FsBlobStore extends BlobStore {
  constructor(private readonly dir: string) {
    super();
  }

  override async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  /**
   * Writes atomically (temp file + rename), so a crash never leaves a truncated blob under a valid hash. When the
   * blob exists already, its file's time is refreshed instead: the blob sweep (BlobGcService) deletes only blobs
   * that no row names AND whose file is older than its grace period, and the row naming this blob comes after.
   */
  override async put(bytes: Uint8Array): Promise<string> {
    const hash = BlobStore.hash(bytes);
    const file = this.file(hash);
    const now = new Date();
    if (
      await utimes(file, now, now).then(
        () => true,
        () => false,
      )
    )
      return hash;
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${randomUUID()}.tmp`;
    await writeFile(tmp, bytes);
    await rename(tmp, file);
    return hash;
  }

  override async has(hash: string): Promise<boolean> {
    return stat(this.file(hash)).then(
      () => true,
      () => false,
    );
  }

  /** Size in bytes of a stored blob, or null when there is none (or the hash is malformed). */
  override async byteLength(hash: string): Promise<number | null> {
    if (!HASH.test(hash)) return null;
    return stat(this.file(hash)).then(
      (s) => s.size,
      () => null,
    );
  }

  override async get(hash: string): Promise<Buffer> {
    const file = this.file(hash);
    try {
      return await readFile(file);
    } catch {
      throw new NotFoundError(`Blob ${hash} not found`);
    }
  }

  /** A float32 blob as a new array (read straight into it: no intermediate Buffer). */
  override async getFloat32(hash: string): Promise<Float32Array> {
    return this.withFile(hash, async (file, size) => {
      if (size % 4 !== 0) throw new ValidationError(`Blob ${hash} of ${size} bytes is not a float32 array`);
      const out = new Float32Array(size / 4);
      await readFully(file, new Uint8Array(out.buffer), hash);
      return out;
    });
  }

  /**
   * Reads a float32 blob straight into `into` (e.g. an aggregation round's update buffer, which lies in WebAssembly
   * memory), which must have exactly the blob's length.
   */
  override async readFloat32Into(hash: string, into: Float32Array): Promise<Float32Array> {
    return this.withFile(hash, async (file, size) => {
      if (size !== into.byteLength)
        throw new ValidationError(`Blob ${hash} has ${size} bytes, expected ${into.byteLength} (${into.length} float32 values)`);
      await readFully(file, new Uint8Array(into.buffer, into.byteOffset, into.byteLength), hash);
      return into;
    });
  }

  /**
   * Reads float32 values [from, from + into.length) of a blob into `into`: one tile of an update in a robust round,
   * which reads every update a tile at a time instead of whole.
   */
  override async readFloat32Range(hash: string, from: number, into: Float32Array): Promise<Float32Array> {
    return this.withFile(hash, async (file, size) => {
      const end = (from + into.length) * 4;
      if (!(Number.isInteger(from) && from >= 0 && end <= size))
        throw new ValidationError(`Blob ${hash} has ${size} bytes; values [${from}, ${from + into.length}) do not lie in it`);
      await readFully(file, new Uint8Array(into.buffer, into.byteOffset, into.byteLength), hash, from * 4);
      return into;
    });
  }

  private async withFile<T>(hash: string, use: (file: FileHandle, size: number) => Promise<T>): Promise<T> {
    let file: FileHandle;
    try {
      file = await open(this.file(hash), 'r');
    } catch (err) {
      if (err instanceof ValidationError) throw err;
      throw new NotFoundError(`Blob ${hash} not found`);
    }
    try {
      return await use(file, (await file.stat()).size);
    } finally {
      await file.close();
    }
  }

  /**
   * Every blob and leftover temp file of the store (the sweeper's view; the layout stays private to this class).
   * Files that are neither are not the store's and are not listed.
   */
  override async *list(): AsyncGenerator<StoredFile> {
    for (const shard of await readdir(this.dir).catch(() => [] as string[])) {
      if (!/^[0-9a-f]{2}$/.test(shard)) continue;
      for (const name of await readdir(path.join(this.dir, shard)).catch(() => [] as string[])) {
        const kind = HASH.test(name) && name.startsWith(shard) ? 'blob' : name.endsWith('.tmp') ? 'temp' : null;
        if (!kind) continue;
        const s = await stat(path.join(this.dir, shard, name)).catch(() => null);
        if (s?.isFile()) yield { name, kind, bytes: s.size, modifiedMs: s.mtimeMs };
      }
    }
  }

  /** Deletes a listed file (a blob by hash, or a temp file by name); one that is already gone is not an error. */
  override async remove(file: Pick<StoredFile, 'name' | 'kind'>): Promise<void> {
    const where = file.kind === 'blob' ? this.file(file.name) : path.join(this.dir, file.name.slice(0, 2), path.basename(file.name));
    try {
      await unlink(where);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }

  private file(hash: string): string {
    return path.join(this.dir, checkHash(hash).slice(0, 2), hash);
  }
}

/** Fills `target` from byte `position` of the file on (a read may return fewer bytes than asked). */
async function readFully(file: FileHandle, target: Uint8Array, hash: string, position = 0): Promise<void> {
  let at = 0;
  while (at < target.byteLength) {
    const { bytesRead } = await file.read(target, at, target.byteLength - at, position + at);
    if (bytesRead === 0) throw new Error(`Blob ${hash} ended after ${at} of ${target.byteLength} bytes`);
    at += bytesRead;
  }
}
