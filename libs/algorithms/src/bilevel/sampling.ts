/**
 * Oracle-sample identifiers for the bilevel methods. Every stochastic oracle call gets a 32-bit sample id that is
 * a pure function of the run's seed, the outer iteration, the role (y-chain, z-chain, x-terms) and the inner step,
 * so a resumed run and a run split over agents draw exactly the same minibatches (docs/algorithms/bilevel.md §3.5, §13).
 *
 * These ids are derived by integer hashing rather than with `deriveSeed`/`createRng` (random.ts) because they are
 * needed once per oracle call, millions of times in a run; the hash is a few arithmetic operations, while
 * `deriveSeed` formats strings. Seeds of whole runs and data splits still come from random.ts.
 */

// Module-level copies: global lookups are slow inside vm sandboxes such as jest's, and these run per oracle call.
const { imul, sqrt, log, cos, PI } = Math;

/** A 32-bit finaliser (the "lowbias32" mixer: xor-shift-multiply, full avalanche). */
function hash32(a: number): number {
  a ^= a >>> 16;
  a = imul(a, 0x7feb352d);
  a ^= a >>> 15;
  a = imul(a, 0x846ca68b);
  a ^= a >>> 16;
  return a >>> 0;
}

/**
 * Sample id for the parts (a, b) under `seed`: mixSample(seed, a, b) = mixSample(mixSample(seed, a), b). Distinct
 * parts give unrelated ids. Integers only (reduced modulo 2^32).
 */
export function mixSample(seed: number, a: number, b?: number): number {
  const h = hash32(hash32(seed ^ 0x5bd1e995) ^ hash32((a + 0x9e3779b9) >>> 0));
  return b === undefined ? h : mixSample(h, b);
}

/** Role tags of the samples of one round (numbers so that hashing stays arithmetic). */
export const BILEVEL_SAMPLE_ROLE = Object.freeze({ yChain: 1, zChain: 2, xTerms: 3, atY: 4, atZ: 5, single: 6, wChain: 7, f: 8, g: 9 });

/** Uniform in (0, 1) from a stream and a counter. */
function hashedUniform(stream: number, counter: number): number {
  return (hash32((stream ^ hash32((counter + 0x7f4a7c15) >>> 0)) >>> 0) + 0.5) / 4294967296;
}

/**
 * Adds `scale`·N(0, 1) draws to `out[0..count)`, the draw for index i being a pure function of (stream, offset + i)
 * (counter-based Box–Muller on two hashed uniforms), so the same stream adds the same noise wherever it is used.
 */
export function addHashedNormals(stream: number, out: Float64Array, offset: number, count: number, scale: number): void {
  for (let i = 0; i < count; i++) {
    const c = 2 * (offset + i);
    const r = sqrt(-2 * log(hashedUniform(stream, c)));
    out[i] += scale * r * cos(2 * PI * hashedUniform(stream, c + 1));
  }
}
