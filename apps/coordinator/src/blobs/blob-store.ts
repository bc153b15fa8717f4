import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { NotFoundError, ValidationError } from '../common/errors';

const HASH = /^[0-9a-f]{64}$/;

/** Content-addressed storage of model weights and updates: the file name is the sha256 of its bytes. */
export class BlobStore {
  constructor(private readonly dir: string) {}

  static hash(bytes: Uint8Array): string {
    return createHash('sha256').update(bytes).digest('hex');
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  /** Writes atomically (temp file + rename), so a crash never leaves a truncated blob under a valid hash. */
  async put(bytes: Uint8Array): Promise<string> {
    const hash = BlobStore.hash(bytes);
    const file = this.file(hash);
    if (await this.has(hash)) return hash;
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${randomUUID()}.tmp`;
    await writeFile(tmp, bytes);
    await rename(tmp, file);
    return hash;
  }

  async has(hash: string): Promise<boolean> {
    return stat(this.file(hash)).then(
      () => true,
      () => false,
    );
  }

  /** Size in bytes of a stored blob, or null when there is none (or the hash is malformed). */
  async byteLength(hash: string): Promise<number | null> {
    if (!HASH.test(hash)) return null;
    return stat(this.file(hash)).then(
      (s) => s.size,
      () => null,
    );
  }

  async get(hash: string): Promise<Buffer> {
    try {
      return await readFile(this.file(hash));
    } catch {
      throw new NotFoundError(`Blob ${hash} not found`);
    }
  }

  async getFloat32(hash: string): Promise<Float32Array> {
    const buf = await this.get(hash);
    return bytesToFloat32(buf);
  }

  async putFloat32(values: Float32Array): Promise<string> {
    return this.put(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }

  /** Float64 vectors (MIFA/FedVarp's Σ of client memories), little-endian like every blob. */
  async putFloat64(values: Float64Array): Promise<string> {
    return this.put(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }

  async getFloat64(hash: string): Promise<Float64Array> {
    const bytes = await this.get(hash);
    if (bytes.byteLength % 8 !== 0) throw new ValidationError(`Blob ${hash} of ${bytes.byteLength} bytes is not a float64 array`);
    const out = new Float64Array(bytes.byteLength / 8);
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }

  private file(hash: string): string {
    if (!HASH.test(hash)) throw new ValidationError(`Not a sha256 hex digest: ${hash.slice(0, 80)}`);
    return path.join(this.dir, hash.slice(0, 2), hash);
  }
}

/** Copies into an aligned buffer (a Node Buffer may sit at an odd offset of its pool). */
export function bytesToFloat32(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % 4 !== 0) throw new ValidationError(`Body of ${bytes.byteLength} bytes is not a float32 array`);
  const out = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}
