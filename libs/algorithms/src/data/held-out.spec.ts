import { agentShards, scaleToUnit, splitDataset, splitHeldOut } from './held-out';
import { parseLabelLastCsv, toCsv, type Dataset } from './dataset';

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

describe('agentShards', () => {
  // 200 rows whose first feature is the row's number, so every row is told apart by it; 5 classes.
  const ROWS = Array.from({ length: 200 }, (_, i) => `${i},${(i * 7) % 13},${(i * 3) % 5}`).join('\n');
  const spec = { featureRange: [0, 200] as const, numClasses: 5, heldOut: { fraction: 0.25, seed: 11 } };
  const ids = (ds: Dataset): number[] => Array.from({ length: ds.size }, (_, i) => ds.features[i * ds.numFeatures]);

  it.each([
    ['iid', { kind: 'iid' as const }],
    ['dirichlet', { kind: 'dirichlet' as const, alpha: 0.3 }],
  ])('%s: the shards and the held-out rows are disjoint and together are the file', (_, split) => {
    const { test, shards } = agentShards(ROWS, spec, { agents: 4, split, seed: 5, minPerAgent: 1 });
    const heldOut = ids(test);
    // The held-out side is exactly the coordinator's (splitHeldOut, the catalogue's code).
    expect(heldOut).toEqual(ids(splitHeldOut(ROWS, spec).test));
    expect(heldOut).toHaveLength(50);
    const sharded = shards.flatMap((s) => ids(s.data));
    expect(new Set(sharded).size).toBe(sharded.length); // no row in two shards
    expect(sharded.filter((id) => heldOut.includes(id))).toEqual([]); // no held-out row in a shard
    expect([...sharded, ...heldOut].sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    // Each shard's rows are the file's rows, label included (toCsv prints them as they were read).
    const lines = new Set(ROWS.split('\n'));
    for (const s of shards) for (const line of toCsv(s.data).trimEnd().split('\n')) expect(lines.has(line)).toBe(true);
  });

  it('cuts IID shards evenly and is deterministic for a seed', () => {
    const a = agentShards(ROWS, spec, { agents: 4, split: { kind: 'iid' }, seed: 5 });
    const b = agentShards(ROWS, spec, { agents: 4, split: { kind: 'iid' }, seed: 5 });
    const c = agentShards(ROWS, spec, { agents: 4, split: { kind: 'iid' }, seed: 6 });
    // 150 training rows over 4 agents: 38, 38, 37, 37.
    expect(a.shards.map((s) => s.indices.length)).toEqual([38, 38, 37, 37]);
    expect(b.shards.map((s) => s.indices)).toEqual(a.shards.map((s) => s.indices));
    expect(c.shards.map((s) => s.indices)).not.toEqual(a.shards.map((s) => s.indices));
  });

  it('makes a small alpha non-IID: shards hold mostly one or two labels, IID shards do not', () => {
    const topTwoShare = (split: { kind: 'iid' } | { kind: 'dirichlet'; alpha: number }): number => {
      const { shards } = agentShards(ROWS, spec, { agents: 5, split, seed: 1 });
      let top = 0;
      for (const s of shards) {
        const counts = new Array<number>(5).fill(0);
        for (const y of s.data.labels) counts[y]++;
        const [first, second] = counts.sort((x, y) => y - x);
        top += first + second;
      }
      return top / 150;
    };
    // Five equiprobable labels: an IID shard holds about 2/5 of its rows in its two commonest (a little more by chance).
    expect(topTwoShare({ kind: 'iid' })).toBeLessThan(0.55);
    expect(topTwoShare({ kind: 'dirichlet', alpha: 0.05 })).toBeGreaterThan(0.85);
  });

  it('refuses more agents than training rows for an IID split', () => {
    expect(() => agentShards(ROWS, spec, { agents: 151, split: { kind: 'iid' }, seed: 0 })).toThrow(/151 clients for 150 samples/);
  });
});
