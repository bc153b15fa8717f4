/**
 * Deterministic pseudo-random numbers for simulations, data splits, initialisation and availability
 * patterns. Every random choice in Flotilla goes through an {@link Rng} built from an explicit seed,
 * so that a run is reproducible from its configuration alone (no `Math.random`, no clock).
 *
 * Generator: sfc32 (Chris Doty-Humphrey's "small fast chaotic" generator, 128-bit state, passes
 * PractRand), its state filled from the seed by splitmix32.
 */

/** A seeded stream of random numbers. Not safe to share between independent consumers: derive a seed per consumer with {@link deriveSeed}. */
export interface Rng {
  /** Uniform in [0, 1), with 32 bits of resolution. */
  next(): number;
  /** Standard normal N(0, 1) (Box–Muller; the second value of each pair is cached and returned by the next call). */
  normal(): number;
  /**
   * Gamma(shape, scale 1), mean = variance = shape (Marsaglia & Tsang 2000; for shape < 1 the
   * boost G(shape + 1) · U^(1/shape)). For very small shapes the result can underflow to 0.
   * @param shape > 0.
   */
  gamma(shape: number): number;
  /**
   * A draw from the symmetric Dirichlet(alpha · 1_k): k non-negative numbers summing to 1
   * (normalised gammas, computed in log space so that tiny alpha cannot give 0/0).
   * @param alpha concentration > 0 (small → one dominant component; large → near 1/k each).
   * @param k number of components, integer ≥ 1.
   */
  dirichlet(alpha: number, k: number): number[];
  /** Uniform integer in [0, maxExclusive). @param maxExclusive integer in [1, 2^32]. */
  int(maxExclusive: number): number;
  /** Fisher–Yates shuffle of xs in place; returns xs. */
  shuffle<T>(xs: T[]): T[];
}

const TWO_POW_32 = 4294967296;

/** splitmix32: a fast 32-bit mixer, used to expand seeds and to finalise hashes. */
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

/**
 * Creates a seeded generator (sfc32, state from splitmix32, 12 warm-up draws).
 * The same seed always gives the same stream, on every platform.
 * @param seed any integer; it is reduced modulo 2^32, so seeds that differ by a multiple of 2^32 give the same stream.
 */
export function createRng(seed: number): Rng {
  if (!Number.isInteger(seed)) throw new Error(`createRng: seed must be an integer, got ${seed}`);
  const init = splitmix32(seed);
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

  const next = (): number => u32() / TWO_POW_32;
  /** Uniform in (0, 1): safe to take the log of. */
  const nextPositive = (): number => {
    let u = 0;
    while (u === 0) u = next();
    return u;
  };

  let spare: number | null = null;
  const normal = (): number => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(nextPositive()));
    const theta = 2 * Math.PI * next();
    spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  };

  /** Marsaglia–Tsang for shape ≥ 1. */
  const gammaAtLeastOne = (shape: number): number => {
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

  /** log of a Gamma(shape) draw; for shape < 1 this stays finite where the draw itself underflows. */
  const logGamma = (shape: number): number => {
    if (shape >= 1) return Math.log(gammaAtLeastOne(shape));
    const u = nextPositive(); // drawn before the gamma, as in gamma(), so both consume the stream alike
    return Math.log(gammaAtLeastOne(shape + 1)) + Math.log(u) / shape;
  };

  const gamma = (shape: number): number => {
    if (!(shape > 0 && shape < Infinity)) throw new Error(`Rng.gamma: shape must be a positive finite number, got ${shape}`);
    if (shape >= 1) return gammaAtLeastOne(shape);
    const u = nextPositive();
    return gammaAtLeastOne(shape + 1) * Math.pow(u, 1 / shape);
  };

  return {
    next,
    normal,
    gamma,
    dirichlet(alpha: number, k: number): number[] {
      if (!(alpha > 0 && alpha < Infinity)) throw new Error(`Rng.dirichlet: alpha must be a positive finite number, got ${alpha}`);
      if (!Number.isInteger(k) || k < 1) throw new Error(`Rng.dirichlet: k must be an integer >= 1, got ${k}`);
      const out = new Array<number>(k);
      let max = -Infinity;
      for (let i = 0; i < k; i++) {
        out[i] = logGamma(alpha);
        if (out[i] > max) max = out[i]!;
      }
      // Normalise exp(log g_i) by the largest term: the sum is >= 1, so no 0/0 even when every g_i underflows.
      let sum = 0;
      for (let i = 0; i < k; i++) {
        out[i] = Math.exp(out[i] - max);
        sum += out[i];
      }
      for (let i = 0; i < k; i++) out[i] = out[i] / sum;
      return out;
    },
    int(maxExclusive: number): number {
      if (!Number.isInteger(maxExclusive) || maxExclusive < 1 || maxExclusive > TWO_POW_32) {
        throw new Error(`Rng.int: maxExclusive must be an integer in [1, 2^32], got ${maxExclusive}`);
      }
      return Math.floor(next() * maxExclusive);
    },
    shuffle<T>(xs: T[]): T[] {
      for (let i = xs.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        const t = xs[i];
        xs[i] = xs[j]!;
        xs[j] = t;
      }
      return xs;
    },
  };
}

/** FNV-1a over the UTF-16 code units of s, continuing from h. */
function fnv1a(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * Derives a new 32-bit seed from a seed and a path of labels, e.g. `deriveSeed(runSeed, 'client', 7)`,
 * so that every consumer (client, data split, availability pattern) gets its own independent stream.
 * Deterministic; numbers and strings are told apart (`7` ≠ `'7'`), as are different groupings of the
 * same text (`'a', 'b'` ≠ `'a/b'` ≠ `'ab'`).
 * @param seed an integer (reduced modulo 2^32, as in {@link createRng}).
 * @param parts finite numbers or strings.
 * @returns an integer in [0, 2^32).
 */
export function deriveSeed(seed: number, ...parts: (number | string)[]): number {
  if (!Number.isInteger(seed)) throw new Error(`deriveSeed: seed must be an integer, got ${seed}`);
  let h = splitmix32(seed)();
  parts.forEach((part, i) => {
    if (typeof part === 'number' && !Number.isFinite(part)) throw new Error(`deriveSeed: parts[${i}] must be finite, got ${part}`);
    // Type tag + length prefix make the encoding of the part list unambiguous.
    const text = String(part);
    const encoded = `${typeof part === 'number' ? 'n' : 's'}${text.length}:${text}`;
    h = splitmix32(fnv1a(h ^ 0x811c9dc5, encoded))();
  });
  return h;
}
