import { toIdx } from '@flotilla/algorithms';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { PNG } from 'pngjs';
import {
  DEFAULT_DATA_LIMITS,
  listImageFolder,
  loadManifestDataset,
  localSource,
  readDataset,
  readImageFolder,
  readManifest,
  type DataLimits,
} from './dataset-files';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'flotilla-dataset-files-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A 2×2 grey PNG whose four pixels are `v`. */
function png(v: number, side = 2): Buffer {
  const img = new PNG({ width: side, height: side });
  for (let p = 0; p < side * side; p++) img.data.set([v, v, v, 255], 4 * p);
  return PNG.sync.write(img);
}

function write(rel: string, bytes: string | Uint8Array): string {
  const file = path.join(dir, rel);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, bytes);
  return file;
}

describe('localSource: what an agent was given, told by the path', () => {
  it('a folder is an image folder, a file with labels an IDX pair, a file alone a CSV', () => {
    mkdirSync(path.join(dir, 'pics'));
    expect(localSource(path.join(dir, 'pics'))).toEqual({ format: 'image-folder', dir: path.join(dir, 'pics') });
    const images = write('x.idx', toIdx([1, 1], [0]));
    expect(localSource(images, 'y.idx')).toEqual({ format: 'idx', images, labels: 'y.idx' });
    const csv = write('a.csv', '1,0\n');
    expect(localSource(csv)).toEqual({ format: 'csv', file: csv });
  });

  it('refuses IDX without labels, labels beside a folder, and a path that is not there', () => {
    const plain = write('x', toIdx([1, 1], [0]));
    expect(() => localSource(plain)).toThrow(`${plain} looks like an IDX file: give its labels file with --labels FILE`);
    const gz = write('x.gz', gzipSync(toIdx([1, 1], [0])));
    expect(() => localSource(gz)).toThrow(`${gz} looks like an IDX file (gzipped): give its labels file with --labels FILE`);
    expect(() => localSource(dir, 'y.idx')).toThrow(`${dir} is a folder of images, labelled by sub-folder: --labels is for IDX files only`);
    expect(() => localSource(path.join(dir, 'nope.csv'))).toThrow(/nope\.csv: ENOENT/);
  });
});

describe('readDataset', () => {
  it('reads the three formats to the same examples', () => {
    // Two 2×2 examples: [0, 10, 20, 30] of class 0 and [255, 255, 255, 255] of class 1.
    const csv = readDataset({ format: 'csv', file: write('d.csv', '0,10,20,30,0\n255,255,255,255,1\n') });
    const idx = readDataset({
      format: 'idx',
      images: write('i.idx.gz', gzipSync(toIdx([2, 2, 2], [0, 10, 20, 30, 255, 255, 255, 255]))),
      labels: write('l.idx', toIdx([2], [0, 1])),
    });
    const img = new PNG({ width: 2, height: 2 });
    [0, 10, 20, 30].forEach((v, p) => img.data.set([v, v, v, 255], 4 * p));
    write('pics/dark/a.png', PNG.sync.write(img));
    write('pics/light/b.png', png(255));
    write('pics/.DS_Store', 'hidden files are skipped');
    const folder = readDataset(
      { format: 'image-folder', dir: path.join(dir, 'pics') },
      { inputShape: [2, 2, 1], classes: ['dark', 'light'] },
    );
    for (const r of [csv, idx, folder]) {
      expect(Array.from(r.dataset.features)).toEqual([0, 10, 20, 30, 255, 255, 255, 255]);
      expect(Array.from(r.dataset.labels)).toEqual([0, 1]);
    }
    expect(idx.exampleShape).toEqual([2, 2]);
    // IDX and images hash their examples: the same examples, the same hash. A CSV hashes its text.
    expect(folder.hash).toBe(idx.hash);
    expect(csv.hash).not.toBe(idx.hash);
    expect(csv.csv).toBe('0,10,20,30,0\n255,255,255,255,1\n');
  });

  it('names the file in a parse error and refuses a file over the limit unread', () => {
    const bad = write('bad.csv', '1,x,0\n');
    expect(() => readDataset({ format: 'csv', file: bad })).toThrow(`${bad}: parseLabelLastCsv: line 1, column 2: 'x' is not a number`);
    const limits: DataLimits = { ...DEFAULT_DATA_LIMITS, maxBytes: 10 };
    const big = write('big.csv', '1,2,3,4,5,6,0\n');
    expect(() => readDataset({ format: 'csv', file: big }, {}, limits)).toThrow(`${big}: 14 bytes, more than the 10 allowed`);
  });
});

describe('listImageFolder and readImageFolder', () => {
  it('lists class by class in name order, and decodes with labels from the declared class order', () => {
    write('p/b/2.png', png(2));
    write('p/b/1.png', png(1));
    write('p/a/3.png', png(3));
    const listing = listImageFolder(path.join(dir, 'p'));
    expect(listing.classNames).toEqual(['a', 'b']);
    expect(listing.files.map((f) => path.relative(dir, f.path))).toEqual(['p/a/3.png', 'p/b/1.png', 'p/b/2.png']);
    // Declared order b, a: b is label 0.
    const ds = readImageFolder(listing, { inputShape: [2, 2, 1], classes: ['b', 'a'] });
    expect(Array.from(ds.labels)).toEqual([1, 0, 0]);
    expect(Array.from(ds.features.subarray(0, 4))).toEqual([3, 3, 3, 3]);
    // Without class names, the sub-folders are the labels: "0", "1", …
    expect(() => readImageFolder(listing, { inputShape: [2, 2, 1], numClasses: 2 })).toThrow(
      `${path.join(dir, 'p')}: sub-folders 'a', 'b' are not classes of the dataset (classes: 0, 1)`,
    );
  });

  it.each<[string, () => void, (d: string) => string]>([
    [
      'a file beside the class folders',
      () => write('p/readme.txt', 'x'),
      (d) => `${d}/readme.txt: an image folder holds one sub-folder per class and nothing else`,
    ],
    ['a non-image file in a class', () => write('p/a/notes.txt', 'x'), (d) => `${d}/a/notes.txt: not a .png, .jpg or .jpeg file`],
    [
      'a folder within a class',
      () => mkdirSync(path.join(dir, 'p/a/deeper'), { recursive: true }),
      (d) => `${d}/a/deeper: not a .png, .jpg or .jpeg file`,
    ],
    ['a link', () => symlinkSync('/etc/passwd', path.join(dir, 'p/a/link.png')), (d) => `${d}/a/link.png: not a .png, .jpg or .jpeg file`],
  ])('refuses %s, naming it', (_what, arrange, message) => {
    write('p/a/ok.png', png(1));
    arrange();
    expect(() => listImageFolder(path.join(dir, 'p'))).toThrow(message(path.join(dir, 'p')));
  });

  it('refuses more images, bytes or values than the limits before decoding any', () => {
    for (let i = 0; i < 3; i++) write(`p/a/${i}.png`, png(i));
    const p = path.join(dir, 'p');
    expect(() => listImageFolder(p, { ...DEFAULT_DATA_LIMITS, maxImages: 2 })).toThrow(`${p}: more than 2 images, the limit`);
    expect(() => listImageFolder(p, { ...DEFAULT_DATA_LIMITS, maxImageBytes: 10 })).toThrow(
      /0\.png: \d+ bytes, more than the 10 allowed for an image/,
    );
    expect(() => listImageFolder(p, { ...DEFAULT_DATA_LIMITS, maxBytes: 100 })).toThrow(`${p}: more than 100 bytes of images, the limit`);
    // 3 images of [1000, 1000, 3] are 9 million values: refused from the listing, before reading a file.
    const limits = { ...DEFAULT_DATA_LIMITS, maxValues: 1_000_000 };
    expect(() => readImageFolder(listImageFolder(p), { inputShape: [1000, 1000, 3], classes: ['a'] }, limits)).toThrow(
      `${p}: 3 images of [1000, 1000, 3] are 9000000 values, more than the 1000000 allowed`,
    );
    expect(() => listImageFolder(path.join(dir, 'empty-does-not-exist'))).toThrow(/ENOENT/);
  });
});

describe('readManifest and loadManifestDataset', () => {
  const manifest = { name: 'd', featureRange: [0, 255], numClasses: 2, heldOut: { fraction: 0.5, seed: 1 } };

  it('reads each format, checks inputShape against the examples, and splits off the held-out set', () => {
    write('csv/dataset.json', JSON.stringify({ ...manifest, file: 'd.csv', inputShape: [2, 1, 1] }));
    write('csv/d.csv', '0,1,0\n2,3,0\n4,5,1\n6,7,1\n');
    const csv = loadManifestDataset(path.join(dir, 'csv'));
    expect(csv.manifest.format).toBe('csv'); // the default
    expect([csv.numFeatures, csv.train.size, csv.test.size]).toEqual([2, 2, 2]);

    write('idx/dataset.json', JSON.stringify({ ...manifest, format: 'idx', images: 'i.gz', labels: 'l', inputShape: [2, 2, 1] }));
    write(
      'idx/i.gz',
      gzipSync(
        toIdx(
          [4, 2, 2],
          Array.from({ length: 16 }, (_, i) => i),
        ),
      ),
    );
    write('idx/l', toIdx([4], [0, 1, 0, 1]));
    const idx = loadManifestDataset(path.join(dir, 'idx'));
    expect([idx.numFeatures, idx.inputShape, idx.test.size]).toEqual([4, [2, 2, 1], 2]);

    write('bad/dataset.json', JSON.stringify({ ...manifest, file: 'd.csv', inputShape: [3] }));
    write('bad/d.csv', '0,1,0\n2,3,1\n');
    expect(() => loadManifestDataset(path.join(dir, 'bad'))).toThrow(
      'dataset d: inputShape [3] holds 3 values per example, the file has 2',
    );
  });

  it('says every field of a manifest that is wrong, naming the file', () => {
    write('m/dataset.json', JSON.stringify({ ...manifest, format: 'image-folder', dir: '../etc', classes: ['a'], inputShape: [2, 2] }));
    const file = path.join(dir, 'm', 'dataset.json');
    expect(() => readManifest(path.join(dir, 'm'))).toThrow(new RegExp(`^${file}: dir: a relative path inside the dataset folder`));
    write('m/dataset.json', JSON.stringify({ ...manifest, format: 'image-folder', dir: 'images', classes: ['a'], inputShape: [2, 2] }));
    expect(() => readManifest(path.join(dir, 'm'))).toThrow(
      /classes: 1 names for numClasses 2.*inputShape: an image folder needs \[height, width, channels\]/s,
    );
    write('m/dataset.json', JSON.stringify({ ...manifest, format: 'parquet', file: 'x' }));
    expect(() => readManifest(path.join(dir, 'm'))).toThrow(/format: Invalid discriminator value/);
  });
});
