import { kendallTau, top1Regret } from './ranking';

describe('ranking metrics (docs/algorithms/gm-nas.md §8.2)', () => {
  it('Kendall τ: 1 for the same order, −1 reversed, hand-counted otherwise', () => {
    expect(kendallTau([1, 2, 3, 4], [10, 20, 30, 40])).toBe(1);
    expect(kendallTau([1, 2, 3, 4], [4, 3, 2, 1])).toBe(-1);
    // One swapped pair out of 6: (5 − 1) / 6.
    expect(kendallTau([1, 2, 3, 4], [1, 3, 2, 4])).toBeCloseTo(2 / 3, 12);
    // τ-b with a tie in a: pairs (0,1) tied, (0,2) and (1,2) concordant → 2 / √((3 − 1)(3 − 0)).
    expect(kendallTau([1, 1, 2], [1, 2, 3])).toBeCloseTo(2 / Math.sqrt(6), 12);
    expect(kendallTau([1, 1, 1], [1, 2, 3])).toBe(0);
    expect(() => kendallTau([1], [1])).toThrow(/kendallTau: needs two score lists/);
    expect(() => kendallTau([1, NaN], [1, 2])).toThrow(/finite/);
  });

  it('top-1 regret: the true loss of the estimated best minus the true best', () => {
    // Estimate picks item 2 (0.1); its true loss 0.5, the best true loss 0.2.
    expect(top1Regret([0.3, 0.2, 0.1], [0.2, 0.4, 0.5])).toBeCloseTo(0.3, 12);
    expect(top1Regret([0.1, 0.2, 0.3], [0.2, 0.4, 0.5])).toBe(0);
  });
});
