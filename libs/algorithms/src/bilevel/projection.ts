/**
 * Feasible sets of the bilevel variables and their Euclidean projections (docs/algorithms/bilevel.md §3.3). A set is a plain JSON-safe object so that a job can carry it and the
 * coordinator can persist it; {@link projectInPlace} applies it to a vector.
 */

/**
 * A closed convex set X ⊆ R^d or Y ⊆ R^d (docs/algorithms/bilevel.md §3.3):
 * - `none`: R^d (projection = identity);
 * - `box`: [lower, upper] coordinate-wise; each bound a number (same for every coordinate) or one number per
 *   coordinate; ±Infinity allowed for a one-sided box;
 * - `nonnegative`: the orthant max(0, ·);
 * - `ball`: the ℓ2 ball of `radius` around `center` (default the origin);
 * - `simplex`: {v ≥ 0, Σ v = total} (default total 1, the probability simplex), sort-and-threshold projection.
 */
export type BilevelSet =
  | { kind: 'none' }
  | { kind: 'box'; lower: number | readonly number[]; upper: number | readonly number[] }
  | { kind: 'nonnegative' }
  | { kind: 'ball'; radius: number; center?: readonly number[] }
  | { kind: 'simplex'; total?: number };

/** R^d: the projection is the identity. */
export const UNCONSTRAINED: BilevelSet = Object.freeze({ kind: 'none' });

function bound(b: number | readonly number[], i: number): number {
  return typeof b === 'number' ? b : b[i];
}

/**
 * Checks that `set` is a valid set for vectors of dimension `dim`; throws naming `where` otherwise.
 * Run it once when a problem or job is created, not in the hot loop.
 */
export function checkBilevelSet(set: BilevelSet, dim: number, where: string): void {
  if (!Number.isInteger(dim) || dim < 1) throw new Error(`${where}: dimension must be a positive integer, got ${dim}`);
  switch (set.kind) {
    case 'none':
    case 'nonnegative':
      return;
    case 'box': {
      for (const [name, b] of [
        ['lower', set.lower],
        ['upper', set.upper],
      ] as const) {
        if (typeof b !== 'number' && b.length !== dim) throw new Error(`${where}: box ${name} has ${b.length} values, expected ${dim}`);
      }
      for (let i = 0; i < dim; i++) {
        const lo = bound(set.lower, i);
        const hi = bound(set.upper, i);
        if (Number.isNaN(lo) || Number.isNaN(hi) || !(lo <= hi) || lo === Infinity || hi === -Infinity) {
          throw new Error(`${where}: box coordinate ${i} needs lower <= upper (not NaN), got [${lo}, ${hi}]`);
        }
      }
      return;
    }
    case 'ball':
      if (!(set.radius >= 0 && set.radius < Infinity)) throw new Error(`${where}: ball radius must be finite and >= 0, got ${set.radius}`);
      if (set.center && set.center.length !== dim)
        throw new Error(`${where}: ball center has ${set.center.length} values, expected ${dim}`);
      if (set.center?.some((c) => !Number.isFinite(c))) throw new Error(`${where}: ball center must be finite`);
      return;
    case 'simplex': {
      const total = set.total ?? 1;
      if (!(total > 0 && total < Infinity)) throw new Error(`${where}: simplex total must be positive and finite, got ${total}`);
      return;
    }
  }
}

/**
 * Euclidean projection of `v` onto `set`, in place; returns `v`. Assumes `set` passed {@link checkBilevelSet}.
 * The simplex projection sorts a copy of v (O(d log d)); the others are O(d) without allocation.
 */
export function projectInPlace(set: BilevelSet, v: Float64Array): Float64Array {
  switch (set.kind) {
    case 'none':
      return v;
    case 'nonnegative':
      for (let i = 0; i < v.length; i++) if (v[i] < 0) v[i] = 0;
      return v;
    case 'box':
      for (let i = 0; i < v.length; i++) {
        const lo = bound(set.lower, i);
        const hi = bound(set.upper, i);
        if (v[i] < lo) v[i] = lo;
        else if (v[i] > hi) v[i] = hi;
      }
      return v;
    case 'ball': {
      const c = set.center;
      let sq = 0;
      for (let i = 0; i < v.length; i++) {
        const d = v[i] - (c ? c[i] : 0);
        sq += d * d;
      }
      const norm = Math.sqrt(sq);
      if (norm > set.radius) {
        const s = set.radius / norm;
        for (let i = 0; i < v.length; i++) {
          const ci = c ? c[i] : 0;
          v[i] = ci + (v[i] - ci) * s;
        }
      }
      return v;
    }
    case 'simplex': {
      // Held & Wolfe / Duchi et al. 2008: θ = (Σ_{i≤ρ} u_i − total)/ρ over the sorted values u, v ← max(v − θ, 0).
      const total = set.total ?? 1;
      const u = Float64Array.from(v).sort().reverse();
      let cum = 0;
      let theta = 0;
      for (let j = 0; j < u.length; j++) {
        cum += u[j];
        const t = (cum - total) / (j + 1);
        if (u[j] - t > 0) theta = t;
      }
      for (let i = 0; i < v.length; i++) v[i] = Math.max(v[i] - theta, 0);
      return v;
    }
  }
}

/**
 * One projected gradient step, Proj_set(v − step · grad) (docs/algorithms/bilevel.md §3.2), into `out` (a new array unless given;
 * `out` may be `v` itself). The step every method takes on x, y and z.
 */
export function projectedStep(
  set: BilevelSet,
  v: ArrayLike<number>,
  grad: ArrayLike<number>,
  step: number,
  out?: Float64Array,
): Float64Array {
  const w = out ?? new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) w[i] = v[i] - step * grad[i];
  return projectInPlace(set, w);
}

/**
 * Norm of the projected-gradient mapping G_β(v) = (v − Proj(v − β·grad)) / β (docs/algorithms/bilevel.md §3.4, the practical
 * stationarity measure; the ICLR 2024 paper's Moreau-envelope measure could not be checked, §14 item 3). Equals ‖grad‖ when
 * the set is R^d. Allocates one scratch vector unless `scratch` (length d) is given.
 * @param step β > 0.
 */
export function projectedGradientNorm(
  set: BilevelSet,
  v: ArrayLike<number>,
  grad: ArrayLike<number>,
  step: number,
  scratch?: Float64Array,
): number {
  if (!(step > 0)) throw new Error(`projectedGradientNorm: step must be positive, got ${step}`);
  const w = projectedStep(set, v, grad, step, scratch);
  let sq = 0;
  for (let i = 0; i < v.length; i++) {
    const d = v[i] - w[i];
    sq += d * d;
  }
  return Math.sqrt(sq) / step;
}
