import { createRng } from '../random';
import { releaseIdleAggregationMemory } from './kernels';
import { setSimdFold, simdFold64, simdFoldAvailable, SIMD_TILE, takeWasmRoundSum, type WasmRoundSum } from './simd-fold';

/** The reference: one `acc[i] += w·x[i]` pass per update, in order (what the scalar kernels compute). */
function sequential(acc0: Float64Array, xs: Float32Array[], ws: Float64Array, n: number): Float64Array {
  const acc = Float64Array.from(acc0);
  for (let u = 0; u < n; u++) for (let i = 0; i < acc.length; i++) acc[i] += ws[u] * xs[u][i];
  return acc;
}

/** Values spanning ~40 bits of magnitude with inexact weights: any change of summation order changes the bits. */
function data(d: number, n: number, seed: number) {
  const rng = createRng(seed);
  const xs = Array.from({ length: n }, () =>
    Float32Array.from({ length: d }, () => (rng.next() - 0.5) * 2 ** Math.floor(rng.next() * 40 - 20)),
  );
  const ws = Float64Array.from({ length: n }, () => 0.1 + rng.next() / 3);
  const acc = Float64Array.from({ length: d }, () => (rng.next() - 0.5) * 1e3);
  return { xs, ws, acc };
}

describe('WebAssembly SIMD fold', () => {
  it('is available in the supported runtime (Node 20)', () => {
    expect(simdFoldAvailable()).toBe(true);
  });

  for (const [d, n] of [
    [1, 1],
    [7, 3],
    [SIMD_TILE, 4],
    [2 * SIMD_TILE + 7, 5],
    [SIMD_TILE + 4, 17], // more updates than slots: folded in chunks
    [1000, 40],
  ] as const) {
    it(`d = ${d}, ${n} updates: bit for bit the sequential sum`, () => {
      const { xs, ws, acc } = data(d, n, d * 31 + n);
      const want = sequential(acc, xs, ws, n);
      const got = Float64Array.from(acc);
      expect(simdFold64(got, xs, null, ws, n)).toBe(true);
      expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer))).toBe(true);
    });
  }

  it('folds differences x − y (MIFA/FedVarp) mixed with plain updates (empty y), bit for bit the sequential sums', () => {
    for (const [d, n] of [
      [7, 3],
      [SIMD_TILE + 13, 6],
      [300, 21], // more than one chunk
    ] as const) {
      const { xs, ws, acc } = data(d, n, d + n);
      const ys = xs.map((_, u) => (u % 3 === 1 ? new Float32Array(0) : data(d, 1, 100 * d + u).xs[0]));
      const want = Float64Array.from(acc);
      for (let u = 0; u < n; u++) {
        for (let i = 0; i < d; i++) want[i] = ys[u].length > 0 ? want[i] + ws[u] * (xs[u][i] - ys[u][i]) : want[i] + ws[u] * xs[u][i];
      }
      const got = Float64Array.from(acc);
      expect(simdFold64(got, xs, ys, ws, n)).toBe(true);
      expect({ d, n, same: Buffer.from(got.buffer).equals(Buffer.from(want.buffer)) }).toEqual({ d, n, same: true });
    }
  });

  it('the data can tell a different order apart (so the test above can fail)', () => {
    const { xs, ws, acc } = data(2 * SIMD_TILE + 7, 5, 3);
    const forward = sequential(acc, xs, ws, 5);
    const backward = sequential(acc, [...xs].reverse(), Float64Array.from(ws).reverse(), 5);
    expect(Buffer.from(forward.buffer).equals(Buffer.from(backward.buffer))).toBe(false);
  });

  it('only the first n slots are folded; switched off, it declines and leaves acc alone', () => {
    const { xs, ws, acc } = data(100, 6, 9);
    const got = Float64Array.from(acc);
    simdFold64(got, xs, null, ws, 2);
    expect(Buffer.from(got.buffer).equals(Buffer.from(sequential(acc, xs, ws, 2).buffer))).toBe(true);
    const was = setSimdFold(false);
    try {
      const untouched = Float64Array.from(acc);
      expect(simdFold64(untouched, xs, null, ws, 6)).toBe(false);
      expect(untouched).toEqual(acc);
    } finally {
      setSimdFold(was);
    }
  });
});

/** The reference round: acc = 0; acc[i] += w·x[i] per update in order; out[i] = g[i] + (scale·acc[i]) / divisor, in float32. */
function sequentialRound(g: Float32Array, xs: Float32Array[], ws: Float64Array, scale: number, divisor: number): Float32Array {
  const acc = sequential(new Float64Array(g.length), xs, ws, xs.length);
  const out = new Float32Array(g.length);
  for (let i = 0; i < g.length; i++) out[i] = g[i] + (scale * acc[i]) / divisor;
  return out;
}

function same(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

describe('WasmRoundSum (a round in WebAssembly memory)', () => {
  /** Runs one round: update u goes into the round's update buffer when `inBuffer(u)`, else is passed as it is. */
  function run(sum: WasmRoundSum, g: Float32Array, xs: Float32Array[], ws: Float64Array, inBuffer: (u: number) => boolean, into: boolean) {
    for (let u = 0; u < xs.length; u++) {
      if (inBuffer(u)) {
        const buf = sum.updateBuffer();
        expect(buf.length).toBe(g.length);
        buf.set(xs[u]);
        sum.add(buf, ws[u]);
      } else sum.add(xs[u], ws[u]);
    }
    const out = into ? Float32Array.from(g) : new Float32Array(g.length);
    sum.finishInto(out, into ? out : g, 0.7, 3);
    sum.release();
    return out;
  }

  const modes: [string, (u: number) => boolean][] = [
    ['update buffers', () => true],
    ['ordinary arrays', () => false],
    ['both, alternating', (u) => u % 2 === 0],
  ];
  for (const d of [1, 7, 8, 9, 100, SIMD_TILE + 3, 2 * SIMD_TILE + 7]) {
    for (const capacity of [1, 3, 8]) {
      it(`d = ${d}, B = ${capacity}: bit for bit the sequential round, for K = 0 … 2B + 1 and every way in`, () => {
        for (const k of [0, 1, capacity, 2 * capacity + 1]) {
          const { xs, ws, acc } = data(d, k, d * 7 + capacity * 3 + k);
          const g = Float32Array.from(acc);
          const want = sequentialRound(g, xs, ws, 0.7, 3);
          for (const [mode, inBuffer] of modes) {
            for (const into of [false, true]) {
              const sum = takeWasmRoundSum(d, capacity)!;
              expect({ k, mode, into, same: same(run(sum, g, xs, ws, inBuffer, into), want) }).toEqual({ k, mode, into, same: true });
            }
          }
        }
      });
    }
  }

  it('a reused sum starts from zero, not from the last round (the first fold does not read the accumulator)', () => {
    const d = 50;
    const first = data(d, 5, 1);
    const second = data(d, 2, 2); // fewer updates than B: the whole round is the fused finish
    const g = new Float32Array(d);
    const a = takeWasmRoundSum(d, 4)!;
    run(a, g, first.xs, first.ws, () => true, false); // folds 4, leaves the accumulator non-zero, is released
    const b = takeWasmRoundSum(d, 4)!;
    expect(b).toBe(a);
    expect(
      same(
        run(b, g, second.xs, second.ws, () => true, false),
        sequentialRound(g, second.xs, second.ws, 0.7, 3),
      ),
    ).toBe(true);
    const c = takeWasmRoundSum(d, 4)!;
    const more = data(d, 9, 3); // and with folds before the finish
    expect(
      same(
        run(c, g, more.xs, more.ws, (u) => u !== 4, false),
        sequentialRound(g, more.xs, more.ws, 0.7, 3),
      ),
    ).toBe(true);
  });

  it('hands out one update buffer per queue slot, and copies in a view of its memory that is not the current slot', () => {
    const d = 20;
    const sum = takeWasmRoundSum(d, 2)!;
    const { xs, ws } = data(d, 4, 4);
    const b0 = sum.updateBuffer();
    expect(sum.updateBuffer().byteOffset).toBe(b0.byteOffset); // the same slot until add
    b0.set(xs[0]);
    sum.add(b0, ws[0]);
    const b1 = sum.updateBuffer();
    expect(b1.buffer).toBe(b0.buffer);
    expect(b1.byteOffset).toBe(b0.byteOffset + 4 * d);
    b1.set(xs[1]);
    sum.add(b1, ws[1]); // B = 2 queued: folded, slot 0 is next
    // A stale view (slot 1) passed for slot 0: copied into slot 0 at once, so that writing the next update into
    // slot 1 cannot change it.
    sum.add(b1, ws[2]);
    const b3 = sum.updateBuffer();
    expect(b3.byteOffset).toBe(b1.byteOffset);
    b3.set(xs[3]);
    sum.add(b3, ws[3]);
    const out = new Float32Array(d);
    sum.finishInto(out, new Float32Array(d), 1, 1);
    sum.release();
    expect(same(out, sequentialRound(new Float32Array(d), [xs[0], xs[1], xs[1], xs[3]], ws, 1, 1))).toBe(true);
  });

  it('releaseIdleAggregationMemory lets go of the idle sum: the next round gets a new one', () => {
    const a = takeWasmRoundSum(30, 2)!;
    a.release();
    releaseIdleAggregationMemory();
    const b = takeWasmRoundSum(30, 2)!;
    expect(b).not.toBe(a);
    b.release();
    expect(takeWasmRoundSum(30, 2)).toBe(b);
  });

  it('is not taken while the SIMD fold is switched off', () => {
    const was = setSimdFold(false);
    try {
      expect(takeWasmRoundSum(10, 2)).toBeNull();
    } finally {
      setSimdFold(was);
    }
  });
});
