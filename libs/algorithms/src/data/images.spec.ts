import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { decodeImages, imageHeaderSize, type ImageFile } from './images';

/** A PNG of width × height whose pixel p is rgba(p). */
function png(width: number, height: number, rgba: (p: number) => [number, number, number, number], options: { interlace?: boolean } = {}): Uint8Array {
  const img = new PNG({ width, height });
  for (let p = 0; p < width * height; p++) img.data.set(rgba(p), 4 * p);
  const bytes = PNG.sync.write(img);
  if (options.interlace) bytes[28] = 1; // the IHDR interlace byte: the header is what is checked before decoding
  return bytes;
}

/** A JPEG (quality 100) of one flat colour. */
function flatJpeg(width: number, height: number, [r, g, b]: [number, number, number]): Uint8Array {
  const data = Buffer.alloc(width * height * 4);
  for (let p = 0; p < width * height; p++) data.set([r, g, b, 255], 4 * p);
  return jpeg.encode({ data, width, height }, 100).data;
}

const file = (className: string, name: string, bytes: Uint8Array): ImageFile => ({ className, name, bytes });

describe('decodeImages', () => {
  // A 3×2 RGB image: pixel p = (10p, 20p, 30p); grey (BT.601) = round(0.299·10p + 0.587·20p + 0.114·30p) = round(18.15 p).
  const rgb = png(3, 2, (p) => [10 * p, 20 * p, 30 * p, p === 0 ? 0 : 255]);

  it('keeps R, G, B row by row with 3 channels, ignoring alpha', () => {
    const ds = decodeImages([file('cat', 'cat/a.png', rgb)], { inputShape: [2, 3, 3], classes: ['dog', 'cat'] });
    expect(ds.numFeatures).toBe(18);
    expect(Array.from(ds.features)).toEqual([0, 0, 0, 10, 20, 30, 20, 40, 60, 30, 60, 90, 40, 80, 120, 50, 100, 150]);
    expect(Array.from(ds.labels)).toEqual([1]);
    expect(ds.numClasses).toBe(2);
  });

  it('turns colour into grey by the BT.601 luma with 1 channel, and keeps grey values as they are', () => {
    const grey = png(3, 2, (p) => [40 * p, 40 * p, 40 * p, 255]);
    const ds = decodeImages(
      [file('dog', 'dog/rgb.png', rgb), file('cat', 'cat/grey.png', grey)],
      { inputShape: [2, 3, 1], classes: ['dog', 'cat'] },
    );
    // 18.15 p for p = 0..5: 0, 18.15, 36.3, 54.45, 72.6, 90.75 → 0, 18, 36, 54, 73, 91.
    expect(Array.from(ds.features.subarray(0, 6))).toEqual([0, 18, 36, 54, 73, 91]);
    expect(Array.from(ds.features.subarray(6))).toEqual([0, 40, 80, 120, 160, 200]);
    expect(Array.from(ds.labels)).toEqual([0, 1]);
  });

  it('decodes a JPEG (lossy: a flat colour comes back within a few levels)', () => {
    const ds = decodeImages([file('0', '0/a.jpg', flatJpeg(8, 8, [200, 100, 50]))], { inputShape: [8, 8, 3], classes: ['0'] });
    for (let p = 0; p < 64; p++) {
      expect(Math.abs(ds.features[3 * p] - 200)).toBeLessThanOrEqual(3);
      expect(Math.abs(ds.features[3 * p + 1] - 100)).toBeLessThanOrEqual(3);
      expect(Math.abs(ds.features[3 * p + 2] - 50)).toBeLessThanOrEqual(3);
    }
  });

  it('reads the size from the header before decoding (PNG IHDR, JPEG start of frame)', () => {
    expect(imageHeaderSize(png(5, 7, () => [0, 0, 0, 255]))).toEqual({ width: 5, height: 7, interlaced: false });
    expect(imageHeaderSize(flatJpeg(9, 4, [0, 0, 0]))).toEqual({ width: 9, height: 4 });
  });

  it.each<[string, ImageFile, RegExp]>([
    ['a PNG of another size', file('0', '0/big.png', png(4, 2, () => [0, 0, 0, 255])), /^0\/big\.png: 4×2 pixels, the dataset's images are 3×2 \(inputShape \[2, 3, 1\]\)/],
    ['a JPEG of another size', file('0', '0/big.jpg', flatJpeg(2, 3, [0, 0, 0])), /^0\/big\.jpg: 2×3 pixels, the dataset's images are 3×2/],
    ['a file that is neither', file('0', '0/notes.png', new TextEncoder().encode('hello')), /^0\/notes\.png: neither PNG nor JPEG \(the file starts with 0x68656c6c\)/],
    ['a broken PNG', file('0', '0/cut.png', rgb.subarray(0, 40)), /^0\/cut\.png: cannot decode the PNG/],
    ['an interlaced PNG', file('0', '0/i.png', png(3, 2, () => [0, 0, 0, 255], { interlace: true })), /^0\/i\.png: an interlaced \(Adam7\) PNG/],
    ['a class not in the list', file('bird', 'bird/a.png', rgb), /^bird\/a\.png: class 'bird' is not one of the dataset's classes \(0, 1\)/],
  ])('refuses %s, naming the file', (_what, f, message) => {
    expect(() => decodeImages([f], { inputShape: [2, 3, 1], classes: ['0', '1'] })).toThrow(message);
  });

  it('needs inputShape [height, width, 1 or 3]', () => {
    expect(() => decodeImages([file('0', 'a', rgb)], { inputShape: [2, 3, 2], classes: ['0'] })).toThrow(
      /decodeImages: images need inputShape \[height, width, channels\] with 1 \(grey\) or 3 \(RGB\) channels, got \[2, 3, 2\]/,
    );
    expect(() => decodeImages([file('0', 'a', rgb)], { inputShape: [6], classes: ['0'] })).toThrow(/got \[6\]/);
  });
});
