/**
 * Deterministic pseudo-random numbers for simulations, data splits, initialisation and availability
 * patterns. sfc32 seeded through splitmix32: fast, 128-bit state, good statistical quality.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Standard normal (Box–Muller, the spare value cached). */
  normal(): number;
  /** Gamma(shape, 1) (Marsaglia–Tsang; shape < 1 boosted with U^(1/shape)). */
  gamma(shape: number): number;
  /** A draw from Dirichlet(alpha · 1_k). */
  dirichlet(alpha: number, k: number): number[];
  /** Uniform integer in [0, maxExclusive). */
  int(maxExclusive: number): number;
  /** Fisher–Yates shuffle in place; returns xs. */
  shuffle<T>(xs: T[]): T[];
}

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export function createRng(seed: number): Rng {
  if (!Number.isFinite(seed)) throw new Error(`createRng: seed must be a finite number, got ${seed}`);
  const init = splitmix32(Math.floor(seed));
  let a = init();
  let b = init();
  let c = init();
  let d = init();
  const u32 = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t;
  };
  for (let i = 0; i < 12; i++) u32();
  let spare: number | null = null;
  const next = (): number => u32() / 4294967296;
  const normal = (): number => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = next();
    const v = next();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
  const gamma = (shape: number): number => {
    if (!(shape > 0)) throw new Error(`gamma: shape must be positive, got ${shape}`);
    if (shape < 1) {
      let u = 0;
      while (u === 0) u = next();
      return gamma(shape + 1) * Math.pow(u, 1 / shape);
    }
    const dd = shape - 1 / 3;
    const cc = 1 / Math.sqrt(9 * dd);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = normal();
        v = 1 + cc * x;
      } while (v <= 0);
      v = v * v * v;
      const u = next();
      if (u < 1 - 0.0331 * x * x * x * x) return dd * v;
      if (Math.log(u) < 0.5 * x * x + dd * (1 - v + Math.log(v))) return dd * v;
    }
  };
  return {
    next,
    normal,
    gamma,
    dirichlet(alpha: number, k: number): number[] {
      if (!(alpha > 0) || !Number.isInteger(k) || k < 1) throw new Error(`dirichlet: need alpha > 0 and integer k >= 1, got ${alpha}, ${k}`);
      for (;;) {
        const g = Array.from({ length: k }, () => gamma(alpha));
        const sum = g.reduce((s, x) => s + x, 0);
        // With tiny alpha every draw can underflow to 0; redraw rather than divide by zero.
        if (sum > 0) return g.map((x) => x / sum);
      }
    },
    int(maxExclusive: number): number {
      if (!Number.isInteger(maxExclusive) || maxExclusive < 1) throw new Error(`int: maxExclusive must be a positive integer, got ${maxExclusive}`);
      return Math.floor(next() * maxExclusive);
    },
    shuffle<T>(xs: T[]): T[] {
      for (let i = xs.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        const t = xs[i]!;
        xs[i] = xs[j]!;
        xs[j] = t;
      }
      return xs;
    },
  };
}

/** Derives an independent 32-bit seed from a seed and labels (e.g. one stream per client). */
export function deriveSeed(seed: number, ...parts: (number | string)[]): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (const ch of [seed, ...parts].join('/')) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return splitmix32(h)();
}
