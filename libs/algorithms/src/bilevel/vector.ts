/** Small vector helpers of the bilevel module (internal: not re-exported from the library entry). */

/** A copy of `v` as Float64Array after checking its length and finiteness; `name` and `where` go in the message. */
export function toVector(v: ArrayLike<number>, dim: number, name: string, where: string): Float64Array {
  if (v.length !== dim) throw new Error(`${where}: ${name} has length ${v.length}, expected ${dim}`);
  const out = Float64Array.from(v);
  for (let i = 0; i < dim; i++) if (!Number.isFinite(out[i])) throw new Error(`${where}: ${name}[${i}] is not finite (${out[i]})`);
  return out;
}

/** ‖v‖₂. */
export function norm2(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

/** ‖a − b‖₂. */
export function distance2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    s += d * d;
  }
  return Math.sqrt(s);
}
