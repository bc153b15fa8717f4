import { createHash } from 'node:crypto';
import { ValidationError } from '../common/errors';

/** Injection token of the BlobStore. */
export const BLOB_STORE = Symbol('BLOB_STORE');

export const HASH = /^[0-9a-f]{64}$/;

/** One file of the store as {@link BlobStore.list} sees it: a blob, or the leftover of an interrupted write. */
export interface StoredFile {
  /** A blob's hash, or the temp file's name. */
  name: string;
  kind: 'blob' | 'temp';
  bytes: number;
  /** Last write (or refresh, see `put`) in epoch ms. */
  modifiedMs: number;
}

/**
 * Content-addressed storage of model weights and updates: a blob's name is the sha256 of its bytes. Two drivers
 * ({@link FsBlobStore} for a directory, {@link S3BlobStore} for any S3-compatible store) behind one contract:
 * - `put` is atomic (a reader never sees a blob under its hash that is not whole) and, for a blob that exists already,
 *   refreshes its modification time: the sweeper (BlobGcService) deletes only blobs no row names AND older than its
 *   grace period, and the row that names a blob is written after the blob;
 * - reads of a missing blob throw NotFoundError, a malformed hash ValidationError;
 * - `list` and `remove` are the sweeper's view, so the layout stays the driver's own.
 */
export abstract class BlobStore {
  static hash(bytes: Uint8Array): string {
    return createHash('sha256').update(bytes).digest('hex');
  }

  /** Prepares the store (creates the directory; checks that the bucket answers). */
  abstract init(): Promise<void>;
  /** Stores `bytes` under their hash, or refreshes the blob's time when it exists; returns the hash. */
  abstract put(bytes: Uint8Array): Promise<string>;
  abstract has(hash: string): Promise<boolean>;
  /** Size in bytes of a stored blob, or null when there is none (or the hash is malformed). */
  abstract byteLength(hash: string): Promise<number | null>;
  abstract get(hash: string): Promise<Buffer>;
  /** A float32 blob as a new array. */
  abstract getFloat32(hash: string): Promise<Float32Array>;
  /**
   * Reads a float32 blob straight into `into` (e.g. an aggregation round's update buffer, which lies in WebAssembly
   * memory), which must have exactly the blob's length.
   */
  abstract readFloat32Into(hash: string, into: Float32Array): Promise<Float32Array>;
  /**
   * Reads float32 values [from, from + into.length) of a blob into `into`: one tile of an update in a robust round,
   * which reads every update a tile at a time instead of whole.
   */
  abstract readFloat32Range(hash: string, from: number, into: Float32Array): Promise<Float32Array>;
  /** Every blob and leftover of an interrupted write (the sweeper's view). Anything else in the store is not listed. */
  abstract list(): AsyncGenerator<StoredFile>;
  /** Deletes a listed blob or leftover; one that is already gone is not an error. */
  abstract remove(file: Pick<StoredFile, 'name' | 'kind'>): Promise<void>;

  /** Releases the driver's connections (at shutdown). */
  close(): void {}

  /**
   * A URL an agent can download the blob from without the coordinator (pre-signed, valid `ttlSeconds`), or null
   * when this driver has none (a directory), or the blob does not exist.
   */
  downloadUrl(_hash: string, _ttlSeconds: number): Promise<string | null> {
    return Promise.resolve(null);
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
}

/** Throws ValidationError unless `hash` is a sha256 hex digest (a blob's name; never a path). */
export function checkHash(hash: string): string {
  if (!HASH.test(hash)) throw new ValidationError(`Not a sha256 hex digest: ${hash.slice(0, 80)}`);
  return hash;
}

/** Copies into an aligned buffer (a Node Buffer may sit at an odd offset of its pool). */
export function bytesToFloat32(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % 4 !== 0) throw new ValidationError(`Body of ${bytes.byteLength} bytes is not a float32 array`);
  const out = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}
