import { createRng, deriveSeed } from './random';

describe('seeded random numbers', () => {
  it('repeats for a seed and differs across seeds', () => {
    const a = Array.from({ length: 5 }, createRng(42).next);
    const r = createRng(42);
    expect(Array.from({ length: 5 }, () => r.next())).toEqual(a);
    const s = createRng(43);
    expect(Array.from({ length: 5 }, () => s.next())).not.toEqual(a);
    expect(deriveSeed(1, 'client', 3)).not.toBe(deriveSeed(1, 'client', 4));
  });

  it('draws gamma and normal with the right moments and Dirichlet on the simplex', () => {
    const r = createRng(7);
    const n = 200_000;
    let g = 0;
    let g2 = 0;
    let z = 0;
    let z2 = 0;
    for (let i = 0; i < n; i++) {
      const x = r.gamma(0.3); // E = 0.3, Var = 0.3
      g += x;
      g2 += x * x;
      const y = r.normal();
      z += y;
      z2 += y * y;
    }
    expect(g / n).toBeCloseTo(0.3, 2);
    expect(g2 / n - (g / n) ** 2).toBeCloseTo(0.3, 1);
    expect(z / n).toBeCloseTo(0, 2);
    expect(z2 / n).toBeCloseTo(1, 2);
    const d = r.dirichlet(0.1, 10);
    expect(d.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 12);
    expect(d.every((x) => x >= 0)).toBe(true);
  });
});
