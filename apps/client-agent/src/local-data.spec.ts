import { toIdx } from '@flotilla/algorithms';
import type { DatasetShape } from '@flotilla/contracts';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { LocalData } from './local-data';

const PETS: DatasetShape = {
  name: 'pets',
  numFeatures: 4,
  inputShape: [2, 2, 1],
  numClasses: 2,
  classes: ['cat', 'dog'],
  featureRange: [0, 255],
  description: null,
};

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'flotilla-local-data-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function png(file: string, v: number): void {
  const img = new PNG({ width: 2, height: 2 });
  for (let p = 0; p < 4; p++) img.data.set([v, v, v, 255], 4 * p);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, PNG.sync.write(img));
}

describe("LocalData: an agent's examples in any format, checked against the coordinator's shape", () => {
  it('counts an image folder at once, decodes it with the coordinator’s classes, and hashes the examples', () => {
    png(path.join(dir, 'p', 'dog', 'a.png'), 9);
    png(path.join(dir, 'p', 'dog', 'b.png'), 8);
    const data = new LocalData(path.join(dir, 'p'));
    expect(data.exampleCount).toBe(2);
    expect(data.hash).toBe(''); // not decoded yet: the classes come from the coordinator
    expect(data.check(PETS)).toEqual([]);
    expect(Array.from(data.dataset.labels)).toEqual([1, 1]); // dog is class 1 of [cat, dog]
    expect(data.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(data.csv).toBe('9,9,9,9,1\n8,8,8,8,1\n');
  });

  it('says which sub-folders are not classes, and that a flat dataset takes no images', () => {
    png(path.join(dir, 'p', 'cow', 'a.png'), 1);
    png(path.join(dir, 'p', 'cat', 'a.png'), 1);
    const data = new LocalData(path.join(dir, 'p'));
    expect(data.check(PETS)).toEqual(["sub-folder 'cow' is not a class of dataset pets (its classes: cat, dog)"]);
    const flat = { ...PETS, name: 'table', classes: ['cat', 'cow'], inputShape: [4] };
    expect(data.check(flat)).toEqual(['dataset table is not made of images (inputShape [4]): give it a CSV or IDX file']);
  });

  it('reads an IDX pair at once; labels beyond a task’s classes are refused naming the example', () => {
    writeFileSync(path.join(dir, 'i'), toIdx([2, 2, 2], [0, 1, 2, 3, 4, 5, 6, 7]));
    writeFileSync(path.join(dir, 'l'), toIdx([2], [0, 2]));
    const data = new LocalData(path.join(dir, 'i'), path.join(dir, 'l'));
    expect(data.exampleCount).toBe(2);
    expect(data.check(PETS)).toEqual(['1 example has a label beyond 1 (up to 2); dataset pets has 2 classes, labels 0..1']);
    expect(data.withClasses(3).numClasses).toBe(3);
    expect(() => data.withClasses(2)).toThrow(
      `${path.join(dir, 'i')} (labels ${path.join(dir, 'l')}): example 2 has label 2, out of range for 2 classes`,
    );
  });
});
