import { updateNorm, validateUpdate } from './updates';

const f32 = (xs: number[]): Float32Array => Float32Array.from(xs);

describe('updateNorm and validateUpdate', () => {
  it('computes the L2 norm', () => {
    expect(updateNorm(f32([3, 4]))).toBe(5); // 3-4-5 triangle
    expect(updateNorm(f32([1, 2, 2, 4]))).toBe(5); // sqrt(1 + 4 + 4 + 16)
    expect(updateNorm(new Float32Array(0))).toBe(0);
  });

  it('explains why an update is refused, or returns null', () => {
    expect(validateUpdate(f32([1, 2]), 2)).toBeNull();
    expect(validateUpdate(f32([1, 2, 3]), 2)).toBe('has length 3, expected 2');
    expect(validateUpdate(f32([0, Infinity, NaN]), 3)).toBe('contains Infinity at index 1');
    expect(validateUpdate(f32([0, 0, NaN]), 3)).toBe('contains NaN at index 2');
    expect(validateUpdate(f32([-Infinity, 1]), 2)).toBe('contains -Infinity at index 0');
  });

  it('finds a bad value in the tail of the 4× unrolled scan, and raises no false alarm on large finite values', () => {
    // d = 7: four elements in the unrolled body, three in the tail.
    expect(validateUpdate(f32([0, 0, 0, 0, 0, 0, NaN]), 7)).toBe('contains NaN at index 6');
    // The scan sums in float64: five values of 3e38 overflow float32 but not float64.
    expect(validateUpdate(f32([3e38, 3e38, 3e38, 3e38, 3e38]), 5)).toBeNull();
  });
});
