import { gzipSync } from 'node:zlib';
import { parseIdx, parseIdxDataset, toIdx } from './idx';

/** An IDX file built by hand: magic 00 00, type byte, dims count, dims as big-endian uint32, then `data`. */
function idx(type: number, dims: number[], data: number[]): Uint8Array {
  const header = [0, 0, type, dims.length];
  for (const d of dims) header.push((d >>> 24) & 255, (d >>> 16) & 255, (d >>> 8) & 255, d & 255);
  return Uint8Array.from([...header, ...data]);
}

// Two 2×3 ubyte images (values 0..11) and their labels 3, 7.
const IMAGES = idx(0x08, [2, 2, 3], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]);
const LABELS = idx(0x08, [2], [3, 7]);

describe('parseIdx', () => {
  it('reads unsigned bytes, plain or gzipped (told by the magic bytes, not the name)', () => {
    for (const bytes of [IMAGES, gzipSync(IMAGES)]) {
      const a = parseIdx(bytes, 'x.idx');
      expect(a.type).toBe('ubyte');
      expect(a.dims).toEqual([2, 2, 3]);
      expect(Array.from(a.values)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]);
    }
  });

  it('reads big-endian floats, ints, shorts and signed bytes', () => {
    // float32 1.5 = 0x3fc00000, -2 = 0xc0000000.
    expect(Array.from(parseIdx(idx(0x0d, [2], [0x3f, 0xc0, 0, 0, 0xc0, 0, 0, 0]), 'f').values)).toEqual([1.5, -2]);
    // int32 258 = 0x00000102, -1 = 0xffffffff.
    expect(Array.from(parseIdx(idx(0x0c, [2], [0, 0, 1, 2, 255, 255, 255, 255]), 'i').values)).toEqual([258, -1]);
    // int16 0x0102 = 258; int8 0xff = -1.
    expect(Array.from(parseIdx(idx(0x0b, [1], [1, 2]), 's').values)).toEqual([258]);
    expect(Array.from(parseIdx(idx(0x09, [1], [255]), 'b').values)).toEqual([-1]);
  });

  it.each<[string, Uint8Array, RegExp]>([
    ['bad magic', Uint8Array.from([1, 0, 8, 1, 0, 0, 0, 1, 5]), /^bad\.idx: not an IDX file: bad magic number 0x01000801/],
    ['an unknown type byte', idx(0x0a, [1], [5]), /^bad\.idx: unknown IDX type byte 0x0a/],
    ['zero dimensions', Uint8Array.from([0, 0, 8, 0]), /^bad\.idx: 0 dimensions in the header, expected 1 to 4/],
    ['five dimensions', idx(0x08, [1, 1, 1, 1, 1], [5]), /5 dimensions in the header, expected 1 to 4/],
    ['a file shorter than a header', Uint8Array.from([0, 0]), /^bad\.idx: truncated: 2 bytes, an IDX header needs at least 4/],
    ['a truncated header', Uint8Array.from([0, 0, 8, 2, 0, 0, 0, 1]), /truncated header: 2 dimensions need 12 bytes, the file has 8/],
    ['a dimension of 0', idx(0x08, [2, 0], []), /^bad\.idx: dimension 1 is 0/],
    ['truncated values', idx(0x08, [2, 3], [1, 2, 3, 4, 5]), /truncated or a header that lies about its size: dimensions \[2, 3\] of ubyte need 6 bytes .*the file has 5/],
    ['trailing bytes', idx(0x08, [2], [1, 2, 3]), /trailing bytes after the values: dimensions \[2\] of ubyte need 2 bytes/],
    ['a NaN float', idx(0x0d, [1], [0x7f, 0xc0, 0, 0]), /^bad\.idx: value 0 is NaN; IDX values must be finite/],
    ['gzip that does not decompress', Uint8Array.from([0x1f, 0x8b, 8, 0, 1, 2, 3]), /^bad\.idx: starts like gzip but does not decompress/],
  ])('refuses %s, naming the file', (_what, bytes, message) => {
    expect(() => parseIdx(bytes, 'bad.idx')).toThrow(message);
  });

  it('refuses a header that promises gigabytes without allocating them', () => {
    // [65535, 65535, 65535] ubyte = 2.8e14 bytes promised by a 16-byte header: refused by comparing with the bytes there.
    const lying = idx(0x08, [65535, 65535, 65535], [1, 2, 3]);
    expect(() => parseIdx(lying, 'lie.idx')).toThrow(
      /lie\.idx: truncated or a header that lies about its size: dimensions \[65535, 65535, 65535\] of ubyte need 281462092005375 bytes after the 16-byte header, the file has 3/,
    );
    // Dimensions whose product passes 2^53 (2^32 − 1 four times) are refused the same way.
    expect(() => parseIdx(idx(0x0e, [2 ** 32 - 1, 2 ** 32 - 1, 2 ** 32 - 1, 2 ** 32 - 1], []), 'huge.idx')).toThrow(/need more than 2\^53 bytes/);
  });

  it('refuses a file, or a gzip stream, that is larger than the limit', () => {
    const big = idx(0x08, [1000], new Array<number>(1000).fill(0));
    expect(() => parseIdx(big, 'big.idx', { maxBytes: 500 })).toThrow(/big\.idx: 1008 bytes, more than the 500 allowed/);
    // 1 MB of zeros compresses to about 1 KB: the decompressed size is what counts.
    const bomb = gzipSync(idx(0x08, [1_000_000], new Array<number>(1_000_000).fill(0)));
    expect(bomb.length).toBeLessThan(5000);
    expect(() => parseIdx(bomb, 'bomb.idx.gz', { maxBytes: 100_000 })).toThrow(/bomb\.idx\.gz: decompresses to more than 100000 bytes/);
  });
});

describe('parseIdxDataset', () => {
  const images = { bytes: IMAGES, name: 'images.idx' };
  const labels = { bytes: LABELS, name: 'labels.idx' };

  it('pairs images [n, h, w] with labels [n]: features row-major per image', () => {
    const { dataset, exampleShape } = parseIdxDataset(images, { bytes: gzipSync(LABELS), name: 'labels.idx.gz' }, { numClasses: 10 });
    expect(exampleShape).toEqual([2, 3]);
    expect(dataset.size).toBe(2);
    expect(dataset.numFeatures).toBe(6);
    expect(dataset.numClasses).toBe(10);
    expect(Array.from(dataset.labels)).toEqual([3, 7]);
    expect(Array.from(dataset.features.subarray(6))).toEqual([6, 7, 8, 9, 10, 255]);
    // Without numClasses: max label + 1.
    expect(parseIdxDataset(images, labels).dataset.numClasses).toBe(8);
  });

  it('accepts an inputShape with a trailing channel the file leaves out, and refuses one of other dimensions', () => {
    expect(parseIdxDataset(images, labels, { inputShape: [2, 3, 1] }).dataset.numFeatures).toBe(6);
    expect(() => parseIdxDataset(images, labels, { inputShape: [3, 2, 1] })).toThrow(
      /images\.idx: each image is \[2, 3\] \(6 values\), the dataset's inputShape is \[3, 2, 1\] \(6 values\)/,
    );
    expect(() => parseIdxDataset(images, labels, { inputShape: [28, 28, 1] })).toThrow(/\(784 values\)/);
  });

  it.each<[string, () => unknown, RegExp]>([
    ['a count mismatch', () => parseIdxDataset(images, { bytes: idx(8, [3], [1, 2, 3]), name: 'labels.idx' }), /labels\.idx: 3 labels for the 2 images of images\.idx/],
    ['labels beyond numClasses', () => parseIdxDataset(images, labels, { numClasses: 5 }), /labels\.idx: label 1 is 7, outside 0\.\.4 \(5 classes\)/],
    ['negative labels', () => parseIdxDataset(images, { bytes: idx(9, [2], [1, 255]), name: 'labels.idx' }), /labels\.idx: label 1 is -1/],
    ['float labels', () => parseIdxDataset(images, { bytes: idx(0x0d, [2], [0, 0, 0, 0, 0, 0, 0, 0]), name: 'labels.idx' }), /labels must be of an integer type, not float/],
    ['labels of 2 dimensions', () => parseIdxDataset(images, { bytes: idx(8, [2, 1], [1, 2]), name: 'labels.idx' }), /labels need 1 dimension, the header has \[2, 1\]/],
    ['images of 1 dimension', () => parseIdxDataset({ bytes: LABELS, name: 'images.idx' }, labels), /images\.idx: images need at least 2 dimensions/],
  ])('refuses %s, naming the file', (_what, run, message) => {
    expect(run).toThrow(message);
  });
});

describe('toIdx', () => {
  it('writes ubyte when it can and float otherwise, and parseIdx reads back the same values', () => {
    const bytes = toIdx([2, 2], [0, 1, 254, 255]);
    expect(bytes[2]).toBe(0x08);
    expect(Array.from(parseIdx(bytes, 'a').values)).toEqual([0, 1, 254, 255]);
    const floats = toIdx([3], [0.5, -1, 300]);
    expect(floats[2]).toBe(0x0d);
    expect(Array.from(parseIdx(floats, 'b').values)).toEqual([0.5, -1, 300]);
    expect(() => toIdx([2], [1])).toThrow(/toIdx: dims \[2\] need 2 values, got 1/);
  });
});
