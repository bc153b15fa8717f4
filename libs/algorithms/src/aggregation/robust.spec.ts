import { robustCombine, robustTileElements, ROBUST_TILE_BYTES, validateRobustAggregation, type RobustAggregation } from './robust';
import { createAggregationRule, type AggregationClientState, type AggregationSpec, type RoundOutcome } from './rules';

/** Every expected value is derived by hand in the comment next to it (docs/algorithms/fedau.md §11.3). */
const median: RobustAggregation = { kind: 'median' };
const trimmed = (trim: number): RobustAggregation => ({ kind: 'trimmed-mean', trim });

/** robustCombine on plain arrays. */
function combine(spec: RobustAggregation, values: number[], weights: number[] = values.map(() => 1)): number {
  const total = weights.reduce((s, w) => s + w, 0);
  return robustCombine(spec, Float64Array.from(values), Float64Array.from(weights), values.length, total, new Uint32Array(values.length));
}

describe('robust combination of one coordinate', () => {
  it('median: the middle value, the mean of the two middle ones for an even count', () => {
    expect(combine(median, [3, 1, 2])).toBe(2);
    expect(combine(median, [4, 1, 3, 2])).toBe(2.5); // 1 2 | 3 4: cumulative weight reaches 2 = W/2 at 2 → (2 + 3)/2
    expect(combine(median, [7])).toBe(7);
    expect(combine(median, [])).toBe(0);
    expect(combine(median, [-1e30, 0.5, 3e38])).toBe(0.5); // an extreme value on either side changes nothing
  });

  it('weighted median: where the cumulative weight passes half the total', () => {
    // Sorted 1 (w 1, c 1), 2 (w 1, c 2), 10 (w 3, c 5): half is 2.5, passed at 10.
    expect(combine(median, [10, 1, 2], [3, 1, 1])).toBe(10);
    // Sorted 1 (w 2.5, c 2.5 = half exactly) → mean of 1 and the next value 4.
    expect(combine(median, [4, 1], [2.5, 2.5])).toBe(2.5);
  });

  it('trimmed mean: trim of the weight off each end, a straddling value counted with what is left of it', () => {
    // W = 5, cuts at 1 and 4: 1 and 100 are cut, mean of 2 3 4 = 3.
    expect(combine(trimmed(0.2), [100, 2, 1, 4, 3])).toBe(3);
    // W = 4, cuts at 0.4 and 3.6: 0 keeps 0.6, 10 and 20 keep 1, 30 keeps 0.6 → (0 + 10 + 20 + 18)/3.2 = 15.
    expect(combine(trimmed(0.1), [30, 0, 20, 10])).toBeCloseTo(15, 12);
    // Weighted: sorted 1 (w 2), 2 (w 1), 3 (w 1); W = 4, cuts at 1 and 3: 1 keeps 1, 2 keeps 1, 3 keeps 0 → 3/2.
    expect(combine(trimmed(0.25), [3, 1, 2], [1, 2, 1])).toBe(1.5);
  });

  it('sorts by value then index, the same above and below the insertion-sort size', () => {
    for (const n of [5, 62, 63, 101]) {
      // 0..n−1 shuffled deterministically, with one huge outlier at each end.
      const values = Array.from({ length: n }, (_, i) => (i * 37) % n);
      values.push(-1e30, 1e30);
      expect(combine(median, values)).toBe((n - 1) / 2); // n + 2 values: the middle of 0..n−1
      // Trim one value's weight off each end: the two outliers, then the mean of 0..n−1.
      expect(combine(trimmed(1 / (n + 2)), values)).toBeCloseTo((n - 1) / 2, 9);
    }
  });

  it('tiles hold T coordinates of all K updates within 32 MiB', () => {
    expect(robustTileElements(4, 100)).toBe(100); // everything fits
    expect(robustTileElements(4, 1e8)).toBe(ROBUST_TILE_BYTES / 16); // 4 updates · 4 bytes per coordinate
    expect(robustTileElements(1e9, 10)).toBe(1); // at least one coordinate
    expect(robustTileElements(0, 10)).toBe(10);
    expect(robustTileElements(3, 10, 36)).toBe(3);
  });

  it('refuses malformed specs', () => {
    expect(() => validateRobustAggregation(trimmed(0.5))).toThrow(/trim must be a number in \(0, 0.5\), got 0.5/);
    expect(() => validateRobustAggregation(trimmed(0))).toThrow(/trim/);
    expect(() => validateRobustAggregation({ kind: 'mean' } as unknown as RobustAggregation)).toThrow(
      /kind must be 'median' or 'trimmed-mean'/,
    );
  });
});

describe('robust rounds (rule.beginRobustRound)', () => {
  const states = (rule: ReturnType<typeof createAggregationRule>, ids: string[]) =>
    new Map<string, AggregationClientState>(ids.map((id) => [id, rule.initialClientState()]));

  /** Runs one robust round over in-memory updates; `scales` per client id. */
  function robustRound(
    spec: AggregationSpec,
    robust: RobustAggregation,
    clients: string[],
    updates: Record<string, number[]>,
    x: number[],
    o: { scales?: Record<string, number>; tileBytes?: number; reads?: [number, number, number][] } = {},
  ): RoundOutcome {
    const rule = createAggregationRule(spec, { globalLr: 1 });
    const round = rule.beginRobustRound(x.length, { clientStates: states(rule, clients) }, robust, { tileBytes: o.tileBytes });
    const order = Object.keys(updates);
    for (const id of order) round.add(id, { scale: o.scales?.[id] });
    return round.finish(Float32Array.from(x), (k, from, into) => {
      o.reads?.push([k, from, into.length]);
      into.set(Float32Array.from(updates[order[k]]).subarray(from, from + into.length));
    });
  }

  const updates = { a: [1, 10], b: [2, -5], c: [100, 0] };

  it('avg-participating: x + γ · median (W = |S| = D)', () => {
    // Coordinate 0: median(1, 2, 100) = 2; coordinate 1: median(10, −5, 0) = 0.
    const out = robustRound({ rule: 'avg-participating' }, median, ['a', 'b', 'c'], updates, [0.5, 1]);
    expect([...out.model]).toEqual([2.5, 1]);
    expect([...out.weights]).toEqual([
      ['a', 1],
      ['b', 1],
      ['c', 1],
    ]);
  });

  it('fedau: x + γ · (Σ_S ω / N) · median; the absent client counts in N and records a miss', () => {
    // First round: ω = 1 for everyone, W = 3, N = 4 → step 3/4: [2 · 0.75, 0 · 0.75].
    const out = robustRound({ rule: 'fedau', cutoffK: null }, median, ['a', 'b', 'c', 'd'], updates, [0, 0]);
    expect([...out.model]).toEqual([1.5, 0]);
    expect(out.states.get('a')).toEqual({ miss: 0, sum: 1, cnt: 1 });
    expect(out.states.get('d')).toEqual({ miss: 1, sum: 0, cnt: 0 });
  });

  it('clipped updates are combined as s·Δ', () => {
    // c clipped by 0.01 → [1, 0]: coordinate 0 median(1, 2, 1) = 1; coordinate 1 unchanged, 0.
    const out = robustRound({ rule: 'avg-participating' }, median, ['a', 'b', 'c'], updates, [0, 0], { scales: { c: 0.01 } });
    expect([...out.model]).toEqual([1, 0]);
    expect(() => robustRound({ rule: 'avg-participating' }, median, ['a', 'b', 'c'], updates, [0, 0], { scales: { c: 2 } })).toThrow(
      /scale of client 'c' must be in \(0, 1\], got 2/,
    );
  });

  it('trimmed mean with 5 participants, avg-all (D = N = 5)', () => {
    // Coordinate 0: values 1 2 3 4 100, trim 0.2 of W = 5 → mean(2, 3, 4) = 3; step W/N = 1.
    const five = { a: [1], b: [2], c: [3], d: [4], e: [100] };
    const out = robustRound({ rule: 'avg-all' }, trimmed(0.2), Object.keys(five), five, [0]);
    expect([...out.model]).toEqual([3]);
  });

  it('reads tile by tile: the same bits for any tile size, each update read once per tile', () => {
    const d = 7;
    const many: Record<string, number[]> = {};
    for (const [i, id] of ['a', 'b', 'c'].entries()) many[id] = Array.from({ length: d }, (_, j) => Math.sin(1 + i * d + j));
    const whole = robustRound({ rule: 'fedau', cutoffK: null }, trimmed(0.25), ['a', 'b', 'c'], many, new Array<number>(d).fill(0.1));
    const reads: [number, number, number][] = [];
    // 36 bytes = 3 coordinates of 3 updates: tiles [0, 3), [3, 6), [6, 7).
    const tiled = robustRound({ rule: 'fedau', cutoffK: null }, trimmed(0.25), ['a', 'b', 'c'], many, new Array<number>(d).fill(0.1), {
      tileBytes: 36,
      reads,
    });
    expect([...tiled.model]).toEqual([...whole.model]);
    expect(reads).toEqual([
      [0, 0, 3],
      [1, 0, 3],
      [2, 0, 3],
      [0, 3, 3],
      [1, 3, 3],
      [2, 3, 3],
      [0, 6, 1],
      [1, 6, 1],
      [2, 6, 1],
    ]);
  });

  it('finishAsync gives what finish gives; an empty round reads nothing and keeps the model', async () => {
    const rule = createAggregationRule({ rule: 'avg-all' }, { globalLr: 1 });
    const s = states(rule, ['a', 'b', 'c']);
    const sync = rule.beginRobustRound(2, { clientStates: s }, median);
    const async = rule.beginRobustRound(2, { clientStates: s }, median);
    const rows = Object.values(updates);
    for (const id of Object.keys(updates)) {
      sync.add(id);
      async.add(id);
    }
    const a = sync.finish(Float32Array.from([0, 0]), (k, from, into) => into.set(rows[k].slice(from, from + into.length)));
    const b = await async.finishAsync(Float32Array.from([0, 0]), (k, from, into) => {
      into.set(rows[k].slice(from, from + into.length));
      return Promise.resolve();
    });
    expect([...b.model]).toEqual([...a.model]);
    const x = Float32Array.from([3, 4]);
    const empty = rule.beginRobustRound(2, { clientStates: s }, median).finish(x, () => {
      throw new Error('nothing to read');
    });
    expect([...empty.model]).toEqual([3, 4]);
  });

  it('checks unvalidated updates tile by tile, and is not defined for MIFA and FedVarp', () => {
    const rule = createAggregationRule({ rule: 'avg-all' });
    const round = rule.beginRobustRound(2, { clientStates: states(rule, ['a']) }, median);
    round.add('a');
    expect(() => round.finish(new Float32Array(2), (_k, _from, into) => into.set([1, Number.NaN]))).toThrow(
      /update of client 'a' contains NaN or ±Infinity in \[0, 2\)/,
    );
    expect(() => round.add('a')).toThrow(/already finished/);
    const fresh = rule.beginRobustRound(2, { clientStates: states(rule, ['a']) }, median);
    fresh.add('a');
    expect(() => fresh.add('a')).toThrow(/second update from client 'a'/);
    expect(() => fresh.add('z')).toThrow(/not in the round's clientStates/);
    for (const spec of [{ rule: 'mifa' }, { rule: 'fedvarp' }] as const) {
      expect(() => createAggregationRule(spec).beginRobustRound(2, { clientStates: new Map(), memorySum: null }, median)).toThrow(
        /robust aggregation is defined for fedau, known-p, avg-participating and avg-all/,
      );
    }
  });
});
