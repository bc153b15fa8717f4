import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { NotFoundError, ValidationError } from '../common/errors';
import { BlobStore, checkHash, HASH, type StoredFile } from './blob-store';

/** Where the S3 driver keeps blobs, and how it reaches the store (from the S3_* settings). */
export interface S3BlobStoreOptions {
  bucket: string;
  /** Prepended to every key (`''` or segments ending in `/`). */
  prefix: string;
  region: string;
  /** A self-hosted store's URL; absent: AWS. */
  endpoint?: string;
  forcePathStyle: boolean;
  /** Absent: the AWS SDK's default credential chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Where agents reach the store, for pre-signed URLs (default: `endpoint`). */
  publicEndpoint?: string;
}

/**
 * The blob store in an S3-compatible bucket: `<prefix><first two hex digits>/<hash>`, so that a listing can be cut by
 * shard like the directory layout. A PUT is atomic in S3 (an object is whole or absent), so there are no temp objects.
 *
 * Refreshing a blob that exists (see {@link BlobStore}) rewrites it: an object's LastModified is only set by a write,
 * and a copy onto itself is not refreshed by every store. A rewrite of existing bytes costs one upload; the
 * coordinator re-puts a blob only when the same bytes come again (an identical update, a resumed job's model).
 */
export class S3BlobStore extends BlobStore {
  private readonly s3: S3Client;
  /** Signs download URLs for the address agents use (which may differ from the coordinator's). */
  private readonly signer: S3Client;

  constructor(private readonly options: S3BlobStoreOptions) {
    super();
    this.s3 = new S3Client({
      region: options.region,
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle,
      credentials: options.credentials,
      // Outages are the callers' to handle (503 to the API, control jobs retried): the SDK's own retries stay short.
      maxAttempts: 3,
    });
    this.signer =
      options.publicEndpoint && options.publicEndpoint !== options.endpoint
        ? new S3Client({
            region: options.region,
            endpoint: options.publicEndpoint,
            forcePathStyle: options.forcePathStyle,
            credentials: options.credentials,
          })
        : this.s3;
  }

  /** A pre-signed GET of the blob, valid `ttlSeconds`; null when there is no such blob. */
  override async downloadUrl(hash: string, ttlSeconds: number): Promise<string | null> {
    if ((await this.byteLength(hash)) === null) return null;
    return getSignedUrl(this.signer, new GetObjectCommand({ Bucket: this.options.bucket, Key: this.key(hash) }), { expiresIn: ttlSeconds });
  }

  /** Fails (with the store's answer, never the credentials) when the bucket cannot be reached or is not ours to use. */
  override async init(): Promise<void> {
    try {
      await this.s3.send(new HeadBucketCommand({ Bucket: this.options.bucket }));
    } catch (e) {
      throw new Error(`S3 bucket '${this.options.bucket}' is not usable: ${describe(e)}`);
    }
  }

  override async put(bytes: Uint8Array): Promise<string> {
    const hash = BlobStore.hash(bytes);
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.options.bucket,
        Key: this.key(hash),
        Body: bytes,
        ContentLength: bytes.byteLength,
        ContentType: 'application/octet-stream',
      }),
    );
    return hash;
  }

  override async has(hash: string): Promise<boolean> {
    return (await this.byteLength(hash)) !== null;
  }

  override async byteLength(hash: string): Promise<number | null> {
    if (!HASH.test(hash)) return null;
    try {
      const head = await this.s3.send(new HeadObjectCommand({ Bucket: this.options.bucket, Key: this.key(hash) }));
      return head.ContentLength ?? 0;
    } catch (e) {
      if (isMissing(e)) return null;
      throw e;
    }
  }

  override async get(hash: string): Promise<Buffer> {
    return Buffer.from(await this.read(hash));
  }

  override async getFloat32(hash: string): Promise<Float32Array> {
    const bytes = await this.read(hash);
    if (bytes.byteLength % 4 !== 0) throw new ValidationError(`Blob ${hash} of ${bytes.byteLength} bytes is not a float32 array`);
    return copyFloat32(bytes, new Float32Array(bytes.byteLength / 4));
  }

  override async readFloat32Into(hash: string, into: Float32Array): Promise<Float32Array> {
    const bytes = await this.read(hash);
    if (bytes.byteLength !== into.byteLength)
      throw new ValidationError(`Blob ${hash} has ${bytes.byteLength} bytes, expected ${into.byteLength} (${into.length} float32 values)`);
    return copyFloat32(bytes, into);
  }

  override async readFloat32Range(hash: string, from: number, into: Float32Array): Promise<Float32Array> {
    const size = await this.byteLength(hash);
    if (size === null) throw new NotFoundError(`Blob ${checkHash(hash)} not found`);
    const end = (from + into.length) * 4;
    if (!(Number.isInteger(from) && from >= 0 && end <= size))
      throw new ValidationError(`Blob ${hash} has ${size} bytes; values [${from}, ${from + into.length}) do not lie in it`);
    if (into.length === 0) return into;
    const bytes = await this.read(hash, `bytes=${from * 4}-${end - 1}`);
    if (bytes.byteLength !== into.byteLength) throw new Error(`Blob ${hash}: asked for ${into.byteLength} bytes, got ${bytes.byteLength}`);
    return copyFloat32(bytes, into);
  }

  override async *list(): AsyncGenerator<StoredFile> {
    let token: string | undefined;
    do {
      const page = await this.s3.send(
        new ListObjectsV2Command({ Bucket: this.options.bucket, Prefix: this.options.prefix, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) {
        const rest = (o.Key ?? '').slice(this.options.prefix.length);
        const [shard, name, ...more] = rest.split('/');
        // Only what this driver writes: <shard>/<hash>, the shard being the hash's first two digits.
        if (more.length || !name || !HASH.test(name) || !name.startsWith(shard)) continue;
        yield { name, kind: 'blob', bytes: o.Size ?? 0, modifiedMs: o.LastModified?.getTime() ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  override async remove(file: Pick<StoredFile, 'name' | 'kind'>): Promise<void> {
    // S3 has no temp objects; a delete of a missing key succeeds.
    if (file.kind !== 'blob') return;
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: this.key(file.name) }));
  }

  override close(): void {
    this.s3.destroy();
    if (this.signer !== this.s3) this.signer.destroy();
  }

  private async read(hash: string, range?: string): Promise<Uint8Array> {
    try {
      const got = await this.s3.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: this.key(hash), Range: range }));
      if (!got.Body) throw new Error(`Blob ${hash}: the store answered without a body`);
      return await got.Body.transformToByteArray();
    } catch (e) {
      if (isMissing(e)) throw new NotFoundError(`Blob ${hash} not found`);
      throw e;
    }
  }

  private key(hash: string): string {
    return `${this.options.prefix}${checkHash(hash).slice(0, 2)}/${hash}`;
  }
}

function isMissing(e: unknown): boolean {
  return e instanceof S3ServiceException && (e.$metadata.httpStatusCode === 404 || e.name === 'NoSuchKey' || e.name === 'NotFound');
}

/** The store's error as one line: its code and HTTP status, or the network error. */
function describe(e: unknown): string {
  if (e instanceof S3ServiceException) return `${e.name} (HTTP ${e.$metadata.httpStatusCode ?? '?'})`;
  return e instanceof Error ? e.message : String(e);
}

/** The SDK's bytes may sit at any offset of a shared buffer: copied into an aligned Float32Array. */
function copyFloat32(bytes: Uint8Array, into: Float32Array): Float32Array {
  new Uint8Array(into.buffer, into.byteOffset, into.byteLength).set(bytes);
  return into;
}
