import { createRng, type Rng } from '../random';
import { createAvailability, stationaryRate } from './availability';
import { participationProbabilities, patternSpecs, PARTICIPATION_PATTERNS } from './probabilities';

/** An Rng whose Dirichlet draw is fixed, to check the formula by hand. */
function fixedDirichlet(m: number[]): Rng {
  const base = createRng(0);
  return { ...base, dirichlet: () => m.slice() };
}

describe('participation probabilities tied to the data (docs/algorithms/fedau.md §6.2)', () => {
  it('p_n = min(1, max(p_min, C · p̄ · ⟨h_n, m⟩)) with the defaults p̄ = 0.1, p_min = 0.02', () => {
    // C = 2, m = (0.75, 0.25):
    //   h = (1, 0)     → 2 · 0.1 · 0.75 = 0.15
    //   h = (0, 1)     → 2 · 0.1 · 0.25 = 0.05
    //   h = (0.5, 0.5) → 2 · 0.1 · 0.5  = 0.1
    //   h = (0, 0) (a client without data) → 0 → raised to 0.02
    const r = participationProbabilities(
      [
        [1, 0],
        [0, 1],
        [0.5, 0.5],
        [0, 0],
      ],
      fixedDirichlet([0.75, 0.25]),
    );
    expect(r.p[0]).toBeCloseTo(0.15, 15);
    expect(r.p[1]).toBeCloseTo(0.05, 15);
    expect(r.p[2]).toBeCloseTo(0.1, 15);
    expect(r.p[3]).toBe(0.02);
    expect(r.classWeights).toEqual([0.75, 0.25]);
    expect(r.raisedToMin).toBe(1);
    expect(r.clippedAtOne).toBe(0);
  });

  it('clips at 1 (§6.2) and counts the clipped clients', () => {
    // mean 0.9: h = (1, 0) → 2 · 0.9 · 0.75 = 1.35 → 1; h = (0, 1) → 2 · 0.9 · 0.25 = 0.45.
    const r = participationProbabilities(
      [
        [1, 0],
        [0, 1],
      ],
      fixedDirichlet([0.75, 0.25]),
      { mean: 0.9 },
    );
    expect(r.p[0]).toBe(1);
    expect(r.p[1]).toBeCloseTo(0.45, 15);
    expect(r.clippedAtOne).toBe(1);
  });

  it('averages about p̄ over clients with uniform label mixes, for any m', () => {
    // h_n = (1/C, …) gives ⟨h, m⟩ = 1/C exactly (m sums to 1), so every p_n = p̄ whatever m is drawn.
    const C = 10;
    const r = participationProbabilities(
      Array.from({ length: 5 }, () => new Array<number>(C).fill(1 / C)),
      createRng(3),
    );
    for (const p of r.p) expect(p).toBeCloseTo(0.1, 12);
    expect(r.classWeights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it('is deterministic for a seed', () => {
    const h = Array.from({ length: 20 }, (_, n) => createRng(n).dirichlet(0.1, 10));
    expect(participationProbabilities(h, createRng(9)).p).toEqual(participationProbabilities(h, createRng(9)).p);
  });

  it('checks its arguments, naming the function', () => {
    expect(() => participationProbabilities([], createRng(1))).toThrow(/participationProbabilities: histograms is empty/);
    expect(() => participationProbabilities([[1, 0], [1]], createRng(1))).toThrow(/histograms\[1\] has 1 classes, expected 2/);
    expect(() => participationProbabilities([[1, 0]], createRng(1), { min: 0 })).toThrow(/min must be in \(0, 1\]/);
    expect(() => participationProbabilities([[1, 0]], createRng(1), { mean: 2 })).toThrow(/mean/);
    expect(() => participationProbabilities([[-1, 2]], createRng(1))).toThrow(/not a non-negative number/);
  });
});

describe('patternSpecs (docs/algorithms/fedau.md §6.3)', () => {
  it('maps p_n to the agents’ generators with the experiment parameters', () => {
    expect(PARTICIPATION_PATTERNS).toEqual(['bernoulli', 'markov', 'cyclic']);
    expect(patternSpecs('bernoulli', [0.2])).toEqual([{ kind: 'bernoulli', p: 0.2 }]);
    expect(patternSpecs('markov', [0.2])).toEqual([{ kind: 'markov', p: 0.2, activation: 0.05 }]);
    expect(patternSpecs('cyclic', [0.2], { cycleLength: 20 })).toEqual([{ kind: 'cyclic', p: 0.2, cycleLength: 20 }]);
    expect(() => patternSpecs('weekly' as 'cyclic', [0.2])).toThrow(/unknown pattern 'weekly'/);
  });

  it('§10, check 7 for p_n drawn as in §6.2: each client’s long-run frequency is its stationary rate ± 0.01', () => {
    // The drawn p_n are 0.020 … 0.245. The slowest-mixing case is Markov with p = 0.245: a = 0.05,
    // b = 0.05 · (1/p − 1) = 0.154, λ = 1 − a − b = 0.80, SD of the mean over T rounds
    // = sqrt(p(1−p)/T · (1+λ)/(1−λ)) = 0.004 at T = 10^5, so 4·10^5 rounds (SD 0.002, the bound is 5 SD).
    // Bernoulli SDs are smaller; the cyclic pattern is deterministic after its phase (off by < A/T).
    const h = Array.from({ length: 6 }, (_, n) => createRng(100 + n).dirichlet(0.1, 10));
    const { p } = participationProbabilities(h, createRng(7));
    for (const pattern of PARTICIPATION_PATTERNS) {
      patternSpecs(pattern, p).forEach((spec, n) => {
        const gen = createAvailability(spec, createRng(1000 + n));
        let on = 0;
        const T = 400_000;
        for (let t = 0; t < T; t++) if (gen.next()) on++;
        expect(Math.abs(on / T - stationaryRate(spec))).toBeLessThan(0.01);
      });
    }
  });
});
