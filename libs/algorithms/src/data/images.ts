import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import type { Dataset } from './dataset';

/**
 * PNG and JPEG images as a dataset, decoded in pure JS (pngjs, jpeg-js). Pure: bytes in, a dataset out; the caller
 * lists and reads the files (one sub-folder per class) and passes each with its class name.
 *
 * Pixels become features row by row, channels innermost (height, width, channels), as 8-bit values 0..255 (16-bit
 * PNGs are scaled down to 8 bits). With 1 channel a colour image becomes grey by the ITU-R BT.601 luma
 * Y = 0.299 R + 0.587 G + 0.114 B, rounded (what most image libraries do; a grey image keeps its values); with 3
 * channels R, G, B are kept. Alpha is ignored: a transparent pixel counts with the colour it stores.
 */

/** One image file: its class (the name of its sub-folder), its name for errors (a path) and its bytes. */
export interface ImageFile {
  className: string;
  name: string;
  bytes: Uint8Array;
}

/** Options of {@link decodeImages}. */
export interface DecodeImagesOptions {
  /** One example's shape: `[height, width, channels]`, channels 1 (grey) or 3 (RGB). Every image must have it. */
  inputShape: readonly number[];
  /** Class names in label order: an image of class `classes[k]` gets label k. */
  classes: readonly string[];
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** The image's kind by its first bytes, or null when it is neither PNG nor JPEG. */
export function imageKind(bytes: Uint8Array): 'png' | 'jpeg' | null {
  if (PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return 'png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return null;
}

/**
 * Width and height as the file's header states them (PNG: IHDR; JPEG: the first start-of-frame marker), read before
 * decoding so that an image of the wrong size is refused without allocating its pixels; null when not found.
 */
export function imageHeaderSize(bytes: Uint8Array): { width: number; height: number; interlaced?: boolean } | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const kind = imageKind(bytes);
  if (kind === 'png') {
    // Signature (8), chunk length (4), "IHDR" (4), width (4), height (4), depth, colour type, compression, filter, interlace.
    if (bytes.length < 29 || String.fromCharCode(...bytes.subarray(12, 16)) !== 'IHDR') return null;
    return { width: view.getUint32(16, false), height: view.getUint32(20, false), interlaced: bytes[28] !== 0 };
  }
  if (kind === 'jpeg') {
    let at = 2;
    while (at + 9 <= bytes.length) {
      if (bytes[at] !== 0xff) return null;
      const marker = bytes[at + 1];
      if (marker === 0xff) {
        at++; // fill byte
        continue;
      }
      // SOF0..SOF15 carry the frame size, except DHT (C4), JPG (C8) and DAC (CC).
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { height: view.getUint16(at + 5, false), width: view.getUint16(at + 7, false) };
      }
      if (marker === 0xd9 || marker === 0xda) return null; // end of image / start of scan before any frame
      at += 2 + view.getUint16(at + 2, false);
    }
  }
  return null;
}

/**
 * Decodes one image to `height × width × channels` values 0..255 written into `out` at `offset`.
 * @throws an Error starting with `name` when the bytes are not PNG or JPEG, do not decode, or the size differs.
 */
export function decodeImageInto(
  bytes: Uint8Array,
  name: string,
  shape: readonly number[],
  out: Float32Array,
  offset: number,
): void {
  const [height, width, channels] = shape;
  const kind = imageKind(bytes);
  if (!kind) throw new Error(`${name}: neither PNG nor JPEG (the file starts with 0x${hex(bytes.subarray(0, 4))})`);
  const header = imageHeaderSize(bytes);
  if (!header) throw new Error(`${name}: a ${kind.toUpperCase()} without a readable size in its header`);
  if (header.width !== width || header.height !== height) {
    throw new Error(`${name}: ${header.width}×${header.height} pixels, the dataset's images are ${width}×${height} (inputShape [${shape.join(', ')}])`);
  }
  // pngjs inflates interlaced images without a size limit, so a small header could hide a decompression bomb.
  if (header.interlaced) throw new Error(`${name}: an interlaced (Adam7) PNG; save it without interlacing`);
  let rgba: Uint8Array;
  try {
    if (kind === 'png') {
      rgba = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).data;
    } else {
      // The frame size was checked above; the limits are a second guard on what jpeg-js allocates.
      const megapixels = Math.max(1, Math.ceil((width * height) / 1e6));
      rgba = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: megapixels, maxMemoryUsageInMB: 64 + 16 * megapixels }).data;
    }
  } catch (e) {
    throw new Error(`${name}: cannot decode the ${kind.toUpperCase()}: ${(e as Error).message}`);
  }
  if (rgba.length !== width * height * 4) throw new Error(`${name}: decoded to ${rgba.length / 4} pixels, expected ${width * height}`);
  const pixels = width * height;
  if (channels === 1) {
    for (let p = 0; p < pixels; p++) {
      out[offset + p] = Math.round(0.299 * rgba[4 * p] + 0.587 * rgba[4 * p + 1] + 0.114 * rgba[4 * p + 2]);
    }
  } else {
    for (let p = 0; p < pixels; p++) {
      out[offset + 3 * p] = rgba[4 * p];
      out[offset + 3 * p + 1] = rgba[4 * p + 1];
      out[offset + 3 * p + 2] = rgba[4 * p + 2];
    }
  }
}

/** Checks an image dataset's inputShape: `[height, width, channels]` with 1 or 3 channels. */
export function checkImageShape(inputShape: readonly number[] | undefined, where: string): [number, number, number] {
  if (!inputShape || inputShape.length !== 3 || (inputShape[2] !== 1 && inputShape[2] !== 3)) {
    throw new Error(
      `${where}: images need inputShape [height, width, channels] with 1 (grey) or 3 (RGB) channels, got ${inputShape ? `[${inputShape.join(', ')}]` : 'none'}`,
    );
  }
  return [inputShape[0], inputShape[1], inputShape[2]];
}

/**
 * Decodes a set of class-labelled images into a dataset, in the order given.
 * @throws an Error naming the file: not PNG/JPEG, undecodable, of another size, or of a class not in `classes`.
 */
export function decodeImages(files: readonly ImageFile[], options: DecodeImagesOptions): Dataset {
  const shape = checkImageShape(options.inputShape, 'decodeImages');
  const { classes } = options;
  if (classes.length < 1) throw new Error('decodeImages: classes must name at least one class');
  if (files.length === 0) throw new Error('decodeImages: no images');
  const label = new Map(classes.map((c, i) => [c, i]));
  const numFeatures = shape[0] * shape[1] * shape[2];
  const features = new Float32Array(files.length * numFeatures);
  const labels = new Int32Array(files.length);
  files.forEach((f, i) => {
    const y = label.get(f.className);
    if (y === undefined) {
      throw new Error(`${f.name}: class '${f.className}' is not one of the dataset's classes (${classes.join(', ')})`);
    }
    labels[i] = y;
    decodeImageInto(f.bytes, f.name, shape, features, i * numFeatures);
  });
  return { features, labels, numFeatures, numClasses: classes.length, size: files.length };
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
