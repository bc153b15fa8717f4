import { checkBilevelSet, projectedGradientNorm, projectInPlace, UNCONSTRAINED, type BilevelSet } from './projection';

const project = (set: BilevelSet, v: number[]): number[] => Array.from(projectInPlace(set, Float64Array.from(v)));

describe('projections (docs/algorithms/bilevel.md §3.3)', () => {
  it('identity, orthant and box (scalar and per-coordinate bounds, one-sided)', () => {
    expect(project(UNCONSTRAINED, [-1, 2])).toEqual([-1, 2]);
    expect(project({ kind: 'nonnegative' }, [-1, 0, 2])).toEqual([0, 0, 2]);
    expect(project({ kind: 'box', lower: -3, upper: 3 }, [-5, 0.5, 7])).toEqual([-3, 0.5, 3]);
    expect(project({ kind: 'box', lower: [0, -Infinity], upper: [1, 2] }, [-1, -100])).toEqual([0, -100]);
  });

  it('ℓ2 ball: scales the offset from the center by r/‖v − c‖ only when outside', () => {
    // (3, 4) has norm 5 → radius 1 gives (0.6, 0.8); a point inside is unchanged.
    const p = project({ kind: 'ball', radius: 1 }, [3, 4]);
    expect(p[0]).toBeCloseTo(0.6, 15);
    expect(p[1]).toBeCloseTo(0.8, 15);
    expect(project({ kind: 'ball', radius: 1 }, [0.3, 0.4])).toEqual([0.3, 0.4]);
    const q = project({ kind: 'ball', radius: 2, center: [1, 1] }, [1, 5]);
    expect(q[0]).toBeCloseTo(1, 15);
    expect(q[1]).toBeCloseTo(3, 15);
  });

  it('probability simplex: sort-and-threshold', () => {
    // v = (0.5, 0.2, −0.4): sorted u = (0.5, 0.2, −0.4); ρ = 2 (0.2 − (0.7 − 1)/2 = 0.35 > 0, −0.4 − (0.3 − 1)/3 < 0),
    // θ = (0.7 − 1)/2 = −0.15 ⇒ (0.65, 0.35, 0).
    const p = project({ kind: 'simplex' }, [0.5, 0.2, -0.4]);
    [0.65, 0.35, 0].forEach((v, i) => expect(p[i]).toBeCloseTo(v, 15));
    // A point already on the simplex is unchanged; total 2 doubles the mass.
    const r = project({ kind: 'simplex' }, [0.25, 0.75]);
    expect(r[0]).toBeCloseTo(0.25, 15);
    expect(r[1]).toBeCloseTo(0.75, 15);
    const s = project({ kind: 'simplex', total: 2 }, [1, 1, 1]);
    s.forEach((v) => expect(v).toBeCloseTo(2 / 3, 15));
  });

  it('projected-gradient mapping: ‖grad‖ in the interior, only the feasible part at an active bound', () => {
    expect(projectedGradientNorm(UNCONSTRAINED, [1, 2], [3, 4], 0.1)).toBeCloseTo(5, 12);
    // At y = 0 on Y = [0, ∞) with gradient +1 (pushing outward): ProjY(0 − β) = 0, so G = 0 (stationary).
    expect(projectedGradientNorm({ kind: 'nonnegative' }, [0], [1], 0.5)).toBe(0);
    // Box [−3, 3] at x = 2.9, grad −2, β = 1: Proj(4.9) = 3 ⇒ G = (2.9 − 3)/1 = −0.1.
    expect(projectedGradientNorm({ kind: 'box', lower: -3, upper: 3 }, [2.9], [-2], 1)).toBeCloseTo(0.1, 12);
    expect(() => projectedGradientNorm(UNCONSTRAINED, [0], [0], 0)).toThrow(/step must be positive/);
  });

  it('rejects malformed sets, naming the caller', () => {
    expect(() => checkBilevelSet({ kind: 'box', lower: 1, upper: 0 }, 1, 'T')).toThrow(/T: box coordinate 0 needs lower <= upper/);
    expect(() => checkBilevelSet({ kind: 'box', lower: [0, 0], upper: 1 }, 3, 'T')).toThrow(/T: box lower has 2 values, expected 3/);
    expect(() => checkBilevelSet({ kind: 'ball', radius: -1 }, 2, 'T')).toThrow(/radius/);
    expect(() => checkBilevelSet({ kind: 'simplex', total: 0 }, 2, 'T')).toThrow(/simplex total/);
    expect(() => checkBilevelSet(UNCONSTRAINED, 0, 'T')).toThrow(/dimension/);
  });
});
