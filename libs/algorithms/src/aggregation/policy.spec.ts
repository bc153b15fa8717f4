import {
  decideUpdates,
  FLOAT32_MAX,
  lowerMedian,
  NO_UPDATE_POLICY,
  validateUpdatePolicy,
  verdictOnArrival,
  type UpdatePolicy,
  type UpdateVerdict,
} from './policy';
import { updateNorm } from './updates';

/** Every expected value below is derived by hand in the comment next to it (docs/algorithms/fedau.md §11). */
const relative = (factor: number, action: UpdatePolicy['action'] = 'reject'): UpdatePolicy => ({
  bound: { kind: 'relative', factor },
  action,
});
const absolute = (maxNorm: number, action: UpdatePolicy['action'] = 'reject'): UpdatePolicy => ({
  bound: { kind: 'absolute', maxNorm },
  action,
});
const ok: UpdateVerdict = { outcome: 'accepted', scale: 1 };
const beyond: UpdateVerdict = { outcome: 'rejected', scale: 0, reason: 'bound' };
const overflow: UpdateVerdict = { outcome: 'rejected', scale: 0, reason: 'overflow' };
const clipped = (scale: number): UpdateVerdict => ({ outcome: 'clipped', scale });

describe('update policy', () => {
  it('lowerMedian is the ⌈n/2⌉-th smallest value', () => {
    expect(lowerMedian([3])).toBe(3);
    expect(lowerMedian([5, 1])).toBe(1); // of two, the smaller: one outlier cannot raise it
    expect(lowerMedian([4, 1, 3])).toBe(3); // 1 3 4
    expect(lowerMedian([4, 2, 8, 6])).toBe(4); // 2 4 6 8: the second
    const input = [9, 7, 8];
    lowerMedian(input);
    expect(input).toEqual([9, 7, 8]); // not sorted in place
    expect(() => lowerMedian([])).toThrow(/no values/);
  });

  it('relative bound: factor × the lower median of the positive norms; reject or clip what is beyond', () => {
    // Positive norms 1 2 3 100 → lower median 2 → bound 10 · 2 = 20. The zero update carries no scale and is accepted.
    const norms = [1, 2, 3, 100, 0];
    expect(decideUpdates(relative(10), norms)).toEqual({ reference: 2, bound: 20, verdicts: [ok, ok, ok, beyond, ok] });
    // Clipped to the bound: 100 · (20/100) = 20.
    expect(decideUpdates(relative(10, 'clip'), norms)).toEqual({ reference: 2, bound: 20, verdicts: [ok, ok, ok, clipped(0.2), ok] });
    // A norm exactly at the bound is inside it.
    // Median 2, bound 4: 4 is admitted, 4.5 is not.
    expect(decideUpdates(relative(2), [1, 2, 4]).verdicts).toEqual([ok, ok, ok]);
    expect(decideUpdates(relative(2), [1, 2, 4.5]).verdicts).toEqual([ok, ok, beyond]);
  });

  it('relative bound: with two updates the smaller is the yardstick; a majority moves it (documented limit)', () => {
    // [1, 50]: lower median 1, bound 10: the outlier goes, whichever order.
    expect(decideUpdates(relative(10), [50, 1]).verdicts).toEqual([beyond, ok]);
    // Three updates of which two are huge: the lower median is 1e6, the honest update passes, the attackers too.
    expect(decideUpdates(relative(10), [1, 1e6, 1e6])).toEqual({ reference: 1e6, bound: 1e7, verdicts: [ok, ok, ok] });
  });

  it('relative bound: a lone update is measured against the previous round’s reference', () => {
    // Pool [50, previous 2] → lower median 2 → bound 20 → 50 rejected.
    expect(decideUpdates(relative(10), [50], 2)).toEqual({ reference: 2, bound: 20, verdicts: [beyond] });
    // A lone honest update smaller than before: pool [0.5, 2] → reference 0.5, bound 5 → accepted; it becomes the reference.
    expect(decideUpdates(relative(10), [0.5], 2)).toEqual({ reference: 0.5, bound: 5, verdicts: [ok] });
    // Without a previous round it is its own yardstick (and passes: the first round of a job, documented).
    expect(decideUpdates(relative(10), [50])).toEqual({ reference: 50, bound: 500, verdicts: [ok] });
    // With two or more updates the previous reference is not used: [1, 50] with previous 100 still has median 1.
    expect(decideUpdates(relative(10), [1, 50], 100).reference).toBe(1);
    // No update, or only zero updates: the previous reference carries over (and bounds nothing).
    expect(decideUpdates(relative(10), [], 3)).toEqual({ reference: 3, bound: 30, verdicts: [] });
    expect(decideUpdates(relative(10), [0, 0])).toEqual({ reference: null, bound: null, verdicts: [ok, ok] });
    // A previous reference that could not be a norm is ignored.
    expect(decideUpdates(relative(10), [50], Number.POSITIVE_INFINITY).reference).toBe(50);
  });

  it('absolute bound: maxNorm; clip scales to it', () => {
    expect(decideUpdates(absolute(5), [5, 6, 0])).toEqual({ reference: null, bound: 5, verdicts: [ok, beyond, ok] });
    expect(decideUpdates(absolute(5, 'clip'), [5, 8])).toEqual({ reference: null, bound: 5, verdicts: [ok, clipped(0.625)] }); // 5/8
  });

  it('an update whose norm does not fit in a float32 is rejected whatever the policy (overflow)', () => {
    // An update of 3e38 everywhere (the probe of issue #12): each value fits in a float32, its norm does not.
    const probe = new Float32Array(650).fill(3e38);
    const norm = updateNorm(probe);
    expect(Number.isFinite(norm)).toBe(true); // float64 accumulation does not overflow
    expect(norm).toBeGreaterThan(FLOAT32_MAX); // 3e38 · √650 ≈ 7.6e39
    expect(Math.fround(norm)).toBe(Number.POSITIVE_INFINITY);
    for (const policy of [NO_UPDATE_POLICY, relative(10), relative(10, 'clip'), absolute(1e39, 'clip')]) {
      expect(decideUpdates(policy, [1, norm, Number.NaN, Number.POSITIVE_INFINITY]).verdicts).toEqual([ok, overflow, overflow, overflow]);
      expect(verdictOnArrival(policy, norm)).toEqual(overflow);
      expect(verdictOnArrival(policy, Number.NaN)).toEqual(overflow);
    }
    // Overflowing norms stay out of the reference: [1, 2, ∞] has reference 1 (lower median of 1 2), not 2.
    expect(decideUpdates(relative(10), [1, 2, Number.POSITIVE_INFINITY]).reference).toBe(1);
    // Just inside the float32 range is a finite norm like any other: 3e38 among [1, 1] is beyond 10 · 1 and clipped to 10.
    expect(decideUpdates(relative(10, 'clip'), [1, 1, 3e38]).verdicts).toEqual([ok, ok, clipped(10 / 3e38)]);
    expect(decideUpdates(NO_UPDATE_POLICY, [3e38])).toEqual({ reference: null, bound: null, verdicts: [ok] });
  });

  it('on arrival: only overflow and an absolute bound with reject can be decided; the close agrees', () => {
    expect(verdictOnArrival(absolute(5), 6)).toEqual(beyond);
    expect(verdictOnArrival(absolute(5), 5)).toBeNull();
    expect(verdictOnArrival(absolute(5, 'clip'), 6)).toBeNull(); // clipped at the close
    expect(verdictOnArrival(relative(10), 1e30)).toBeNull(); // needs the round's median
    expect(verdictOnArrival(NO_UPDATE_POLICY, 1e30)).toBeNull();
    // Whatever is refused on arrival gets the same verdict at the close, whatever the other norms.
    for (const n of [6, 1e30, Number.POSITIVE_INFINITY]) {
      const early = verdictOnArrival(absolute(5), n);
      expect(decideUpdates(absolute(5), [1, n, 0.5]).verdicts[1]).toEqual(early);
    }
  });

  it('refuses malformed policies, naming the field', () => {
    expect(() => validateUpdatePolicy(relative(0.5))).toThrow(/bound.factor must be a finite number >= 1, got 0.5/);
    expect(() => validateUpdatePolicy(relative(Number.POSITIVE_INFINITY))).toThrow(/bound.factor/);
    expect(() => validateUpdatePolicy(absolute(0))).toThrow(/bound.maxNorm must be a finite number > 0, got 0/);
    expect(() => validateUpdatePolicy({ bound: { kind: 'none' }, action: 'drop' as 'reject' })).toThrow(
      /action must be 'reject' or 'clip'/,
    );
    expect(() => validateUpdatePolicy({ bound: { kind: 'median' } as unknown as UpdatePolicy['bound'], action: 'reject' })).toThrow(
      /bound.kind must be/,
    );
    expect(() => decideUpdates(absolute(-1), [1])).toThrow(/maxNorm/);
  });
});
