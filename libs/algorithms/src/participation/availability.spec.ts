import { createRng } from '../random';
import { createAvailability, parseAvailability, stationaryRate, type AvailabilitySpec } from './availability';

describe('participation patterns (spec fedau.md §6.3, §8 test 7)', () => {
  const rate = (spec: AvailabilitySpec, seed: number, rounds = 100_000): number => {
    const gen = createAvailability(spec, createRng(seed));
    let on = 0;
    for (let t = 0; t < rounds; t++) if (gen.next()) on++;
    return on / rounds;
  };

  it.each<[AvailabilitySpec, number]>([
    [{ kind: 'bernoulli', p: 0.02 }, 0.02],
    [{ kind: 'bernoulli', p: 0.3 }, 0.3],
    [{ kind: 'markov', p: 0.1 }, 0.1],
    [{ kind: 'markov', p: 0.6 }, 0.6], // b = 0.05·(1/0.6 − 1) ≈ 0.033
    [{ kind: 'markov', p: 0.02, activation: 0.5 }, 0.02], // b = 24.5 > 1 → a = 0.5/24.5, b = 1
    [{ kind: 'cyclic', p: 0.1 }, 10 / 100], // A = 10, B = 90
    [{ kind: 'cyclic', p: 0.333 }, 33 / 100], // A = round(33.3) = 33, B = 67
  ])('long-run frequency of %o is %d ± 0.01 over 10^5 rounds', (spec, expected) => {
    expect(stationaryRate(spec)).toBeCloseTo(expected, 10);
    expect(Math.abs(rate(spec, 11) - expected)).toBeLessThan(0.01);
  });

  it('cyclic clients are active for A consecutive rounds of every L', () => {
    const gen = createAvailability({ kind: 'cyclic', p: 0.3, cycleLength: 10 }, createRng(4));
    const seq = Array.from({ length: 60 }, () => (gen.next() ? 1 : 0)).join('');
    // After the random initial offset, the pattern is 7 off, 3 on, repeating.
    expect(seq).toMatch(/^0*(1110000000)+1{0,3}0*$/);
  });

  it('markov participation is bursty: runs are longer than under Bernoulli with the same p', () => {
    const runs = (spec: AvailabilitySpec): number => {
      const g = createAvailability(spec, createRng(9));
      let prev = false;
      let changes = 0;
      for (let t = 0; t < 50_000; t++) {
        const x = g.next();
        if (x !== prev) changes++;
        prev = x;
      }
      return changes;
    };
    expect(runs({ kind: 'markov', p: 0.5 })).toBeLessThan(runs({ kind: 'bernoulli', p: 0.5 }) / 5);
  });

  it('parses the CLI form and explains bad input', () => {
    expect(parseAvailability('always')).toEqual({ kind: 'always' });
    expect(parseAvailability('bernoulli:0.3')).toEqual({ kind: 'bernoulli', p: 0.3 });
    expect(parseAvailability('markov:0.3:0.1')).toEqual({ kind: 'markov', p: 0.3, activation: 0.1 });
    expect(parseAvailability('cyclic:0.5:20')).toEqual({ kind: 'cyclic', p: 0.5, cycleLength: 20 });
    expect(() => parseAvailability('bernoulli:1.5')).toThrow(/p must be in \(0, 1\]/);
    expect(() => parseAvailability('sometimes')).toThrow(/unknown pattern 'sometimes'/);
    expect(() => parseAvailability('bernoulli:x')).toThrow(/must be numbers/);
  });
});
