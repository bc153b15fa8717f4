import { createRng } from '../random';
import { setSimdFold, simdFold64, simdFoldAvailable, SIMD_TILE } from './simd-fold';

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
      expect(simdFold64(got, xs, ws, n)).toBe(true);
      expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer))).toBe(true);
    });
  }

  it('the data can tell a different order apart (so the test above can fail)', () => {
    const { xs, ws, acc } = data(2 * SIMD_TILE + 7, 5, 3);
    const forward = sequential(acc, xs, ws, 5);
    const backward = sequential(acc, [...xs].reverse(), Float64Array.from(ws).reverse(), 5);
    expect(Buffer.from(forward.buffer).equals(Buffer.from(backward.buffer))).toBe(false);
  });

  it('only the first n slots are folded; switched off, it declines and leaves acc alone', () => {
    const { xs, ws, acc } = data(100, 6, 9);
    const got = Float64Array.from(acc);
    simdFold64(got, xs, ws, 2);
    expect(Buffer.from(got.buffer).equals(Buffer.from(sequential(acc, xs, ws, 2).buffer))).toBe(true);
    const was = setSimdFold(false);
    try {
      const untouched = Float64Array.from(acc);
      expect(simdFold64(untouched, xs, ws, 6)).toBe(false);
      expect(untouched).toEqual(acc);
    } finally {
      setSimdFold(was);
    }
  });
});
