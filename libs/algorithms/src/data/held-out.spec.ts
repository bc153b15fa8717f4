import { scaleToUnit, splitDataset, splitHeldOut } from './held-out';
import { parseLabelLastCsv } from './dataset';

const CSV = Array.from({ length: 50 }, (_, i) => `${i % 17},${(i * 3) % 17},${i % 4}`).join('\n');
const SPEC = { featureRange: [0, 16] as const, numClasses: 4, heldOut: { fraction: 0.2, seed: 7 } };

describe('splitHeldOut', () => {
  it('splits every row into exactly one side, with the requested test fraction', () => {
    const { train, test } = splitHeldOut(CSV, SPEC);
    expect(train.size + test.size).toBe(50);
    expect(test.size).toBe(10);
    const rows = (ds: typeof train) =>
      Array.from({ length: ds.size }, (_, i) => `${ds.features[2 * i]},${ds.features[2 * i + 1]},${ds.labels[i]}`);
    const all = parseLabelLastCsv(CSV);
    const expected = Array.from(
      { length: all.size },
      (_, i) => `${all.features[2 * i]},${all.features[2 * i + 1]},${all.labels[i]}`,
    ).sort();
    expect([...rows(train), ...rows(test)].sort()).toEqual(expected);
  });

  it('gives the split splitDataset gives for the same rows parsed from any format', () => {
    const a = splitHeldOut(CSV, SPEC);
    const b = splitDataset(parseLabelLastCsv(CSV, { numClasses: 4 }), SPEC);
    expect(b.test.features).toEqual(a.test.features);
    expect(b.train.labels).toEqual(a.train.labels);
  });

  it('is deterministic for a seed and differs for another seed', () => {
    const a = splitHeldOut(CSV, SPEC);
    const b = splitHeldOut(CSV, SPEC);
    const c = splitHeldOut(CSV, { ...SPEC, heldOut: { fraction: 0.2, seed: 8 } });
    expect(Array.from(b.test.labels)).toEqual(Array.from(a.test.labels));
    expect(Array.from(b.test.features)).toEqual(Array.from(a.test.features));
    expect(Array.from(c.test.features)).not.toEqual(Array.from(a.test.features));
  });

  it('keeps raw (unscaled) values', () => {
    const { train, test } = splitHeldOut(CSV, SPEC);
    expect(Math.max(...train.features, ...test.features)).toBe(16);
  });
});

describe('scaleToUnit', () => {
  it('maps the range onto [0, 1] without touching the input', () => {
    const ds = parseLabelLastCsv('0,8,0\n16,4,1\n');
    const scaled = scaleToUnit(ds, [0, 16]);
    expect(Array.from(scaled.features)).toEqual([0, 0.5, 1, 0.25]);
    expect(Array.from(ds.features)).toEqual([0, 8, 16, 4]);
    expect(Array.from(scaled.labels)).toEqual([0, 1]);
  });

  it('refuses an empty range', () => {
    expect(() => scaleToUnit(parseLabelLastCsv('1,0\n'), [3, 3])).toThrow(/hi > lo/);
  });
});
