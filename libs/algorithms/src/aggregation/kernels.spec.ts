import { createRng } from '../random';
import { axpy32, axpy64, axpyDiff32, axpyDiff64, BufferedAccumulator, FOLD_TILE } from './kernels';

/** The first index at which two arrays differ in any bit (so −0 ≠ +0), −1 when none. */
function firstDiff(a: Float64Array | Float32Array, b: Float64Array | Float32Array): number {
  const x =
    a instanceof Float64Array ? new Uint32Array(a.buffer, a.byteOffset, 2 * a.length) : new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y =
    b instanceof Float64Array ? new Uint32Array(b.buffer, b.byteOffset, 2 * b.length) : new Uint32Array(b.buffer, b.byteOffset, b.length);
  if (x.length !== y.length) return Math.min(x.length, y.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

describe('BufferedAccumulator', () => {
  // Two full fold tiles and a ragged third one whose length (3) is not a multiple of the 4× unrolled loops.
  const d = 2 * FOLD_TILE + 3;
  const rng = createRng(31);
  // Magnitudes spread over ~40 bits between the updates at one element and weights that are not short binary
  // fractions, so float64 sums are inexact and any change in the order of the additions shows in the bits.
  const vec = (n: number): Float32Array =>
    Float32Array.from({ length: d }, (_, i) => (i % 89 === 0 ? -0 : rng.normal() * 10 ** (((5 * n + i) % 13) - 6)));
  const K = 23;
  const xs = Array.from({ length: K }, (_, n) => vec(n));
  // A previous memory for some updates only (MIFA/FedVarp: null for a client that never participated), in
  // irregular runs so that 4-way runs of plain updates, of differences and mixed stretches all occur.
  const ys = xs.map((_, n) => ([0, 1, 2, 3, 8, 10, 11, 12, 13, 14, 20].includes(n) ? vec(n + 40) : null));
  const ws = xs.map((_, n) => (n === 6 ? 0 : 1 / (0.3 + 0.07 * n)));

  /** The reference: one update after the other, with the one-update kernels over the whole array. */
  function oneByOne(precision: 'float64' | 'float32', k: number, withMemory: boolean): Float64Array | Float32Array {
    if (precision === 'float64') {
      const acc = new Float64Array(d);
      for (let n = 0; n < k; n++) {
        const y = withMemory ? ys[n] : null;
        if (y) axpyDiff64(acc, ws[n], xs[n], y);
        else axpy64(acc, ws[n], xs[n]);
      }
      return acc;
    }
    const acc = new Float32Array(d);
    for (let n = 0; n < k; n++) {
      const y = withMemory ? ys[n] : null;
      if (y) axpyDiff32(acc, ws[n], xs[n], y);
      else axpy32(acc, ws[n], xs[n]);
    }
    return acc;
  }

  it('uses data on which the order of the additions changes the float64 sum (else the tests below prove nothing)', () => {
    const forward = oneByOne('float64', K, true);
    const acc = new Float64Array(d);
    for (let n = K - 1; n >= 0; n--) {
      const y = ys[n];
      if (y) axpyDiff64(acc, ws[n], xs[n], y);
      else axpy64(acc, ws[n], xs[n]);
    }
    let differing = 0;
    for (let i = 0; i < d; i++) if (acc[i] !== forward[i]) differing++;
    expect(differing).toBeGreaterThan(d / 10);
  });

  it('sums bit for bit like one update at a time, for every capacity, count and precision, with and without memories', () => {
    for (const precision of ['float64', 'float32'] as const) {
      for (const withMemory of [false, true]) {
        for (const k of [0, 1, 3, 4, 5, 8, 9, 12, 16, 17, K]) {
          const expected = oneByOne(precision, k, withMemory);
          for (const capacity of [1, 2, 3, 4, 5, 7, 8, 16, 64]) {
            const acc = new BufferedAccumulator(d, precision, capacity);
            for (let n = 0; n < k; n++) acc.add(xs[n], ws[n], withMemory ? ys[n] : null);
            const where = `${precision} memories=${withMemory} K=${k} capacity=${capacity}`;
            expect({ where, diff: firstDiff(acc.flush(), expected) }).toEqual({ where, diff: -1 });
            // Flushing again (an empty queue) changes nothing; more updates after a flush continue the same sum.
            expect({ where, diff: firstDiff(acc.flush(), expected) }).toEqual({ where, diff: -1 });
          }
        }
      }
    }
  });

  it('keeps summing correctly after a flush in the middle of a queue', () => {
    for (const capacity of [3, 8]) {
      const acc = new BufferedAccumulator(d, 'float64', capacity);
      for (let n = 0; n < K; n++) {
        acc.add(xs[n], ws[n], ys[n]);
        if (n === 4 || n === 13) acc.flush();
      }
      expect(firstDiff(acc.flush(), oneByOne('float64', K, true))).toBe(-1);
    }
  });

  it('handles dimensions smaller than one unrolled step and than one tile', () => {
    for (const dim of [1, 2, 3, 5, FOLD_TILE - 1, FOLD_TILE, FOLD_TILE + 1]) {
      const expected = new Float64Array(dim);
      const acc = new BufferedAccumulator(dim, 'float64', 4);
      for (let n = 0; n < 9; n++) {
        const x = xs[n].subarray(0, dim);
        axpy64(expected, ws[n], x);
        acc.add(x, ws[n]);
      }
      expect({ dim, diff: firstDiff(acc.flush(), expected) }).toEqual({ dim, diff: -1 });
    }
  });
});
