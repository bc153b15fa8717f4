import { BatchLoader, Batcher } from './batcher';

/** A database's answer comes back in a later turn of the event loop. */
const roundTrip = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('BatchLoader', () => {
  it('answers the loads of one turn of the event loop with one fetch, and a missing key with null', async () => {
    const calls: string[][] = [];
    const loader = new BatchLoader<string, number>(async (keys) => {
      await roundTrip();
      calls.push(keys);
      return new Map(keys.filter((k) => k !== 'missing').map((k) => [k, k.length]));
    });
    const got = await Promise.all(['a', 'bb', 'missing', 'ccc'].map((k) => loader.load(k)));
    expect(got).toEqual([1, 2, null, 3]);
    expect(calls).toEqual([['a', 'bb', 'missing', 'ccc']]);
    // A later turn is a new batch.
    await expect(loader.load('dddd')).resolves.toBe(4);
    expect(calls).toHaveLength(2);
  });

  it('shares one answer among concurrent loads of the same key, and loads it again once that answer is in', async () => {
    let fetched = 0;
    const loader = new BatchLoader<string, number>(async (keys) => {
      await roundTrip();
      fetched += keys.length;
      return new Map(keys.map((k) => [k, fetched]));
    });
    const [x, y] = await Promise.all([loader.load('k'), loader.load('k')]);
    expect([x, y, fetched]).toEqual([1, 1, 1]);
    await expect(loader.load('k')).resolves.toBe(2);
  });

  it('splits a batch at maxBatch keys', async () => {
    const sizes: number[] = [];
    const loader = new BatchLoader<number, number>(async (keys) => {
      await roundTrip();
      sizes.push(keys.length);
      return new Map(keys.map((k) => [k, k]));
    }, 3);
    const got = await Promise.all([1, 2, 3, 4, 5, 6, 7].map((k) => loader.load(k)));
    expect(got).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(sizes).toEqual([3, 3, 1]);
  });

  it('rejects every load of a batch whose fetch failed, and tries those keys again on the next load', async () => {
    let fail = true;
    const loader = new BatchLoader<string, string>(async (keys) => {
      await roundTrip();
      if (fail) throw new Error('pool busy');
      return new Map(keys.map((k) => [k, k.toUpperCase()]));
    });
    const results = await Promise.allSettled([loader.load('a'), loader.load('b')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect((results[0] as PromiseRejectedResult).reason).toEqual(new Error('pool busy'));
    fail = false;
    await expect(loader.load('a')).resolves.toBe('A');
  });

  it('refuses a maxBatch that is not a positive integer', () => {
    expect(() => new BatchLoader(() => Promise.resolve(new Map()), 0)).toThrow(/maxBatch must be a positive integer/);
  });
});

describe('Batcher', () => {
  it('runs the inputs of one turn together, in order', async () => {
    const batches: number[][] = [];
    const batcher = new Batcher<number, string>(async (inputs) => {
      await roundTrip();
      batches.push(inputs);
      return inputs.map((i) => `#${i}`);
    });
    await expect(Promise.all([3, 1, 2].map((i) => batcher.run(i)))).resolves.toEqual(['#3', '#1', '#2']);
    expect(batches).toEqual([[3, 1, 2]]);
  });

  it('rejects the whole batch when runMany gives a different number of outputs', async () => {
    const batcher = new Batcher<number, number>((inputs) => Promise.resolve(inputs.slice(1)));
    const results = await Promise.allSettled([batcher.run(1), batcher.run(2)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(String((results[0] as PromiseRejectedResult).reason)).toMatch(/2 inputs gave 1 outputs/);
  });
});
