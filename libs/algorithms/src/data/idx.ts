import { gunzipSync } from 'node:zlib';
import type { Dataset } from './dataset';

/**
 * IDX, the format of the MNIST files: two zero bytes, a type byte, the number of dimensions, then each dimension as a
 * big-endian uint32, then the values row-major, big-endian. A file may be gzipped (told by its first two bytes,
 * 0x1f 0x8b, not by its name). Pure: bytes in, arrays out; the caller reads the files.
 */

/** The IDX element types, by type byte. */
export const IDX_TYPES = {
  0x08: { name: 'ubyte', bytes: 1 },
  0x09: { name: 'byte', bytes: 1 },
  0x0b: { name: 'short', bytes: 2 },
  0x0c: { name: 'int', bytes: 4 },
  0x0d: { name: 'float', bytes: 4 },
  0x0e: { name: 'double', bytes: 8 },
} as const;
export type IdxTypeName = (typeof IDX_TYPES)[keyof typeof IDX_TYPES]['name'];

/** One IDX array: its dimensions (the first one counts examples) and its values. */
export interface IdxArray {
  type: IdxTypeName;
  dims: number[];
  values: Float32Array;
}

/** Limits that keep a hostile or broken file from exhausting memory. */
export interface IdxLimits {
  /** Largest array after decompression, in bytes (header included). Default {@link IDX_MAX_BYTES}. */
  maxBytes?: number;
}

/** 256 MiB: five times MNIST's 60,000 training images; its float32 values take four times that. */
export const IDX_MAX_BYTES = 256 * 1024 * 1024;

const GZIP = [0x1f, 0x8b];
const MAX_DIMS = 4;

/** Whether `bytes` start like a gzip stream. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === GZIP[0] && bytes[1] === GZIP[1];
}

/** Whether `bytes` (gunzipped) start like an IDX file: two zero bytes and a known type byte. */
export function looksLikeIdx(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0 && bytes[1] === 0 && bytes[2] in IDX_TYPES;
}

/**
 * Parses one IDX array, gunzipping it first when it starts with the gzip magic bytes. Every header field is checked
 * before anything is allocated: the magic number, the type byte, 1..4 dimensions, none of them 0, and the values
 * the dimensions promise must be exactly the bytes that follow the header (a truncated file, or a header that lies
 * about its size, is refused instead of read past or allocated for). Float values must be finite.
 * @param name what to call the file in errors (its path).
 * @throws an Error starting with `name` that says what is wrong.
 */
export function parseIdx(bytes: Uint8Array, name: string, limits: IdxLimits = {}): IdxArray {
  const maxBytes = limits.maxBytes ?? IDX_MAX_BYTES;
  if (isGzip(bytes)) {
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: maxBytes });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
        throw new Error(`${name}: decompresses to more than ${maxBytes} bytes, the limit for an IDX file`);
      }
      throw new Error(`${name}: starts like gzip but does not decompress (${err.message})`);
    }
  }
  if (bytes.length > maxBytes) throw new Error(`${name}: ${bytes.length} bytes, more than the ${maxBytes} allowed for an IDX file`);
  if (bytes.length < 4) throw new Error(`${name}: truncated: ${bytes.length} bytes, an IDX header needs at least 4`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new Error(
      `${name}: not an IDX file: bad magic number 0x${hex(bytes, 0, 4)} (IDX starts with two zero bytes, a type byte and the number of dimensions)`,
    );
  }
  const type = IDX_TYPES[bytes[2] as keyof typeof IDX_TYPES];
  if (!type) {
    throw new Error(
      `${name}: unknown IDX type byte 0x${hex(bytes, 2, 3)} (known: 0x08 ubyte, 0x09 byte, 0x0b short, 0x0c int, 0x0d float, 0x0e double)`,
    );
  }
  const ndims = bytes[3];
  if (ndims < 1 || ndims > MAX_DIMS) throw new Error(`${name}: ${ndims} dimensions in the header, expected 1 to ${MAX_DIMS}`);
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) {
    throw new Error(`${name}: truncated header: ${ndims} dimensions need ${headerBytes} bytes, the file has ${bytes.length}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  const available = bytes.length - headerBytes;
  let count = 1;
  for (let d = 0; d < ndims; d++) {
    const n = view.getUint32(4 + 4 * d, false);
    if (n === 0) throw new Error(`${name}: dimension ${d} is 0 in the header`);
    dims.push(n);
    count *= n; // at most (2^32)^4 = 2^128: a double holds it, inexactly past 2^53, and then it exceeds any file
  }
  const expected = count * type.bytes;
  if (expected !== available) {
    const what = expected > available ? 'truncated or a header that lies about its size' : 'trailing bytes after the values';
    const need = Number.isSafeInteger(expected) ? String(expected) : 'more than 2^53';
    throw new Error(
      `${name}: ${what}: dimensions [${dims.join(', ')}] of ${type.name} need ${need} bytes after the ${headerBytes}-byte header, the file has ${available}`,
    );
  }
  const values = new Float32Array(count);
  const at = headerBytes;
  switch (type.name) {
    case 'ubyte':
      values.set(bytes.subarray(at, at + count));
      break;
    case 'byte':
      for (let i = 0; i < count; i++) values[i] = view.getInt8(at + i);
      break;
    case 'short':
      for (let i = 0; i < count; i++) values[i] = view.getInt16(at + 2 * i, false);
      break;
    case 'int':
      for (let i = 0; i < count; i++) values[i] = view.getInt32(at + 4 * i, false);
      break;
    case 'float':
    case 'double':
      for (let i = 0; i < count; i++) {
        const v = type.name === 'float' ? view.getFloat32(at + 4 * i, false) : view.getFloat64(at + 8 * i, false);
        if (!Number.isFinite(v)) throw new Error(`${name}: value ${i} is ${v}; IDX values must be finite`);
        values[i] = v;
      }
      break;
  }
  return { type: type.name, dims, values };
}

/** Options of {@link parseIdxDataset}. */
export interface IdxDatasetOptions extends IdxLimits {
  /** Labels must lie in [0, numClasses); default max label + 1. */
  numClasses?: number;
  /**
   * One example's shape as the manifest declares it, e.g. `[28, 28, 1]`: the images' dimensions after the first must
   * hold as many values (a trailing channel of 1 may be left out of the file: MNIST's images are [n, 28, 28]).
   */
  inputShape?: readonly number[];
}

/** An IDX pair read: the dataset, and one example's dimensions as the images file states them (e.g. `[28, 28]`). */
export interface IdxDataset {
  dataset: Dataset;
  exampleShape: number[];
}

/**
 * An IDX pair as a dataset: images `[n, …]` (any type) and labels `[n]` (an integer type), as in MNIST.
 * Features are the images' values row-major per example (height, width, channels), unscaled.
 * @param images the images file's bytes (gzipped or not) and its name for errors; likewise `labels`.
 * @throws an Error naming the file and the problem.
 */
export function parseIdxDataset(
  images: { bytes: Uint8Array; name: string },
  labels: { bytes: Uint8Array; name: string },
  options: IdxDatasetOptions = {},
): IdxDataset {
  const given = options.numClasses;
  if (given !== undefined && !(Number.isInteger(given) && given >= 1)) {
    throw new Error(`parseIdxDataset: numClasses must be a positive integer, got ${given}`);
  }
  const x = parseIdx(images.bytes, images.name, options);
  const y = parseIdx(labels.bytes, labels.name, options);
  if (x.dims.length < 2) {
    throw new Error(`${images.name}: images need at least 2 dimensions (examples and values), the header has [${x.dims.join(', ')}]`);
  }
  if (y.dims.length !== 1) throw new Error(`${labels.name}: labels need 1 dimension, the header has [${y.dims.join(', ')}]`);
  if (y.type === 'float' || y.type === 'double') throw new Error(`${labels.name}: labels must be of an integer type, not ${y.type}`);
  const size = x.dims[0];
  if (y.dims[0] !== size) throw new Error(`${labels.name}: ${y.dims[0]} labels for the ${size} images of ${images.name}`);
  const perExample = x.dims.slice(1);
  const numFeatures = perExample.reduce((a, b) => a * b, 1);
  if (options.inputShape) {
    const want = options.inputShape;
    const wanted = want.reduce((a, b) => a * b, 1);
    const sameLeadingDims = perExample.every((d, i) => d === want[i]) || perExample.length === 1;
    if (wanted !== numFeatures || !sameLeadingDims) {
      throw new Error(
        `${images.name}: each image is [${perExample.join(', ')}] (${numFeatures} values), the dataset's inputShape is [${want.join(', ')}] (${wanted} values)`,
      );
    }
  }
  const out = new Int32Array(size);
  let maxLabel = 0;
  for (let i = 0; i < size; i++) {
    const label = y.values[i];
    if (label < 0) throw new Error(`${labels.name}: label ${i} is ${label}; labels are class indices 0, 1, …`);
    if (given !== undefined && label >= given) {
      throw new Error(`${labels.name}: label ${i} is ${label}, outside 0..${given - 1} (${given} classes)`);
    }
    out[i] = label;
    if (label > maxLabel) maxLabel = label;
  }
  return { dataset: { features: x.values, labels: out, numFeatures, numClasses: given ?? maxLabel + 1, size }, exampleShape: perExample };
}

/**
 * Writes an IDX array (not gzipped): `ubyte` when every value is an integer in 0..255, else `float`. The inverse of
 * {@link parseIdx} for those two types.
 */
export function toIdx(dims: readonly number[], values: ArrayLike<number>): Uint8Array {
  if (dims.length < 1 || dims.length > MAX_DIMS || dims.some((d) => !(Number.isInteger(d) && d >= 1 && d < 2 ** 32))) {
    throw new Error(`toIdx: dims must be 1 to ${MAX_DIMS} positive 32-bit integers, got [${dims.join(', ')}]`);
  }
  const count = dims.reduce((a, b) => a * b, 1);
  if (values.length !== count) throw new Error(`toIdx: dims [${dims.join(', ')}] need ${count} values, got ${values.length}`);
  let bytesPerValue = 1;
  for (let i = 0; i < count; i++) {
    const v = values[i];
    if (!(v >= 0 && v <= 255 && v % 1 === 0)) {
      if (!Number.isFinite(v)) throw new Error(`toIdx: value ${i} is ${v}; IDX values must be finite`);
      bytesPerValue = 4;
    }
  }
  const header = 4 + 4 * dims.length;
  const out = new Uint8Array(header + count * bytesPerValue);
  const view = new DataView(out.buffer);
  out[2] = bytesPerValue === 1 ? 0x08 : 0x0d;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  if (bytesPerValue === 1) for (let i = 0; i < count; i++) out[header + i] = values[i];
  else for (let i = 0; i < count; i++) view.setFloat32(header + 4 * i, values[i], false);
  return out;
}

function hex(bytes: Uint8Array, from: number, to: number): string {
  return Array.from(bytes.subarray(from, to), (b) => b.toString(16).padStart(2, '0')).join('');
}
