import { createRng } from '../random';
import { createAvailability, parseAvailability, stationaryRate, validateAvailability, type AvailabilitySpec } from './availability';

/** Fraction of rounds a generator participates in. */
function rate(spec: AvailabilitySpec, seed: number, rounds: number): number {
  const gen = createAvailability(spec, createRng(seed));
  let on = 0;
  for (let t = 0; t < rounds; t++) if (gen.next()) on++;
  return on / rounds;
}

describe('participation patterns (docs/algorithms/fedau.md §6.3)', () => {
  // §10, check 7: long-run frequency ≈ p (Bernoulli, Markov) or A/(A+B) (cyclic), ±0.01 over 10^5 rounds.
  // Noise: a two-state chain with λ = 1 − a − b has Var(mean of T rounds) ≈ p(1−p)/T · (1+λ)/(1−λ)
  // (λ = 0 for Bernoulli). Each case notes its SD; all are ≤ 0.0025, so ±0.01 is ≥ 4 SD.
  it.each<[string, AvailabilitySpec, number, number]>([
    ['bernoulli p=0.02 (SD 0.0004)', { kind: 'bernoulli', p: 0.02 }, 0.02, 1e5],
    ['bernoulli p=0.3 (SD 0.0015)', { kind: 'bernoulli', p: 0.3 }, 0.3, 1e5],
    ['markov p=0.1: a=0.05, b=0.45, λ=0.5 (SD 0.0016)', { kind: 'markov', p: 0.1 }, 0.1, 1e5],
    ['markov p=0.02: b=2.45>1 → a=0.05/2.45, b=1 (SD 0.0004)', { kind: 'markov', p: 0.02 }, 0.02, 1e5],
    ['markov p=0.6, activation 0.5: b=1/3, λ=1/6 (SD 0.0018)', { kind: 'markov', p: 0.6, activation: 0.5 }, 0.6, 1e5],
    // a = b = 0.05: λ = 0.9 mixes slowly (SD 0.007 at 10^5 rounds), so 10^6 rounds (SD 0.0022).
    ['markov p=0.5: a=b=0.05, λ=0.9 (10^6 rounds, SD 0.0022)', { kind: 'markov', p: 0.5 }, 0.5, 1e6],
    ['cyclic p=0.1: A=10, B=90', { kind: 'cyclic', p: 0.1 }, 10 / 100, 1e5],
    ['cyclic p=0.333: A=round(33.3)=33, B=67', { kind: 'cyclic', p: 0.333 }, 33 / 100, 1e5],
    ['cyclic p=0.995: A=round(99.5)=100, B=max(1, 0)=1', { kind: 'cyclic', p: 0.995 }, 100 / 101, 1e5],
    ['cyclic p=0.004: A=max(1, 0)=1, B=99', { kind: 'cyclic', p: 0.004 }, 1 / 100, 1e5],
    ['cyclic p=0.3, L=20: A=6, B=14', { kind: 'cyclic', p: 0.3, cycleLength: 20 }, 6 / 20, 1e5],
    ['always', { kind: 'always' }, 1, 1e5],
  ])('check 7: %s', (_name, spec, expected, rounds) => {
    expect(stationaryRate(spec)).toBeCloseTo(expected, 12);
    expect(Math.abs(rate(spec, 11, rounds) - expected)).toBeLessThan(0.01);
  });

  it('markov: switches on with probability a and off with b = a(1/p − 1)', () => {
    // p = 0.2, a = 0.05 → b = 0.05 · 4 = 0.2. Over 2·10^5 rounds ≈ 160000 off-rounds (SE of â ≈ 0.0005)
    // and ≈ 40000 on-rounds (SE of b̂ ≈ 0.002); tolerances 0.003 and 0.01 (≥ 5 SE).
    const gen = createAvailability({ kind: 'markov', p: 0.2 }, createRng(21));
    let prev = gen.next();
    const from = { on: 0, off: 0 };
    const switched = { on: 0, off: 0 };
    for (let t = 0; t < 200_000; t++) {
      const x = gen.next();
      from[prev ? 'on' : 'off']++;
      if (x !== prev) switched[prev ? 'on' : 'off']++;
      prev = x;
    }
    expect(Math.abs(switched.off / from.off - 0.05)).toBeLessThan(0.003);
    expect(Math.abs(switched.on / from.on - 0.2)).toBeLessThan(0.01);
  });

  it('markov: when b would exceed 1, it is clamped to 1 and a scaled down to a/b', () => {
    // p = 0.02, activation 0.5: b = 0.5 · 49 = 24.5 → a = 0.5/24.5 ≈ 0.0204, b = 1.
    // b = 1 means an active round is always followed by an inactive one.
    const gen = createAvailability({ kind: 'markov', p: 0.02, activation: 0.5 }, createRng(22));
    let prev = false;
    let offRounds = 0;
    let activations = 0;
    for (let t = 0; t < 100_000; t++) {
      const x = gen.next();
      if (prev) expect(x).toBe(false);
      else {
        offRounds++;
        if (x) activations++;
      }
      prev = x;
    }
    // SE of â ≈ sqrt(0.0204/98000) ≈ 0.00046; tolerance 0.002.
    expect(Math.abs(activations / offRounds - 0.5 / 24.5)).toBeLessThan(0.002);
  });

  it('markov: the initial state is drawn from Bernoulli(p), so round 0 is already at the stationary rate', () => {
    // P(q^0 = 1) = p(1 − b) + (1 − p)a = p when the initial state ~ Bernoulli(p). With p = 0.5, a = b = 0.05:
    // starting always inactive would give 0.05, always active 0.95. 20000 clients: SD 0.0035, tolerance 0.02.
    const rng = createRng(23);
    let on = 0;
    for (let n = 0; n < 20_000; n++) if (createAvailability({ kind: 'markov', p: 0.5 }, rng).next()) on++;
    expect(Math.abs(on / 20_000 - 0.5)).toBeLessThan(0.02);
  });

  it('cyclic: after a random offset, exactly A rounds on and B rounds off, repeating', () => {
    // L = 10, p = 0.3: A = 3, B = 7. The counter starts at c ∈ {0..6}: c inactive rounds, then the cycle.
    const rng = createRng(24);
    for (let client = 0; client < 50; client++) {
      const gen = createAvailability({ kind: 'cyclic', p: 0.3, cycleLength: 10 }, rng);
      const seq = Array.from({ length: 60 }, () => (gen.next() ? '1' : '0')).join('');
      const c = seq.indexOf('1');
      expect(c).toBeGreaterThanOrEqual(0);
      expect(c).toBeLessThanOrEqual(6);
      expect(seq).toBe(('0'.repeat(c) + '1110000000'.repeat(7)).slice(0, 60));
    }
  });

  it('cyclic: the phase is uniform over {0, …, B − 1}', () => {
    // B = 7: each first-active round index has probability 1/7. 7000 clients: counts 1000 ± 29 (SD); tolerance 150.
    const rng = createRng(25);
    const counts = new Array<number>(10).fill(0);
    for (let n = 0; n < 7000; n++) {
      const gen = createAvailability({ kind: 'cyclic', p: 0.3, cycleLength: 10 }, rng);
      let t = 0;
      while (!gen.next()) t++;
      counts[t]++;
    }
    expect(counts.slice(7)).toEqual([0, 0, 0]);
    counts.slice(0, 7).forEach((c) => expect(Math.abs(c - 1000)).toBeLessThan(150));
  });

  it('is reproducible for a seed', () => {
    const seq = (seed: number) => {
      const g = createAvailability({ kind: 'markov', p: 0.3 }, createRng(seed));
      return Array.from({ length: 200 }, () => g.next());
    };
    expect(seq(5)).toEqual(seq(5));
    expect(seq(5)).not.toEqual(seq(6));
  });

  it('rejects parameters out of range, naming the pattern and the parameter', () => {
    const rng = createRng(0);
    for (const p of [0, -0.1, 1.5, NaN]) {
      expect(() => createAvailability({ kind: 'bernoulli', p }, rng)).toThrow(/availability bernoulli: p must be in \(0, 1\]/);
    }
    expect(() => createAvailability({ kind: 'markov', p: 0.3, activation: 0 }, rng)).toThrow(
      /availability markov: activation must be in \(0, 1\]/,
    );
    expect(() => createAvailability({ kind: 'cyclic', p: 0.3, cycleLength: 1 }, rng)).toThrow(
      /availability cyclic: cycleLength must be an integer >= 2/,
    );
    expect(() => validateAvailability({ kind: 'cyclic', p: 0.3, cycleLength: 2.5 })).toThrow(/cycleLength/);
    expect(() => stationaryRate({ kind: 'markov', p: 2 })).toThrow(/p must be in/);
  });
});

describe('parseAvailability', () => {
  it.each<[string, AvailabilitySpec]>([
    ['always', { kind: 'always' }],
    ['bernoulli:0.3', { kind: 'bernoulli', p: 0.3 }],
    ['markov:0.3', { kind: 'markov', p: 0.3 }],
    ['markov:0.3:0.05', { kind: 'markov', p: 0.3, activation: 0.05 }],
    ['cyclic:0.5', { kind: 'cyclic', p: 0.5 }],
    ['cyclic:0.5:20', { kind: 'cyclic', p: 0.5, cycleLength: 20 }],
    ['  Bernoulli:1  ', { kind: 'bernoulli', p: 1 }],
    ['markov:.25:5e-2', { kind: 'markov', p: 0.25, activation: 0.05 }],
  ])("parses '%s'", (text, spec) => {
    expect(parseAvailability(text)).toEqual(spec);
  });

  it.each<[string, RegExp]>([
    ['sometimes', /availability 'sometimes': unknown pattern 'sometimes'/],
    ['', /unknown pattern ''/],
    ['bernoulli', /bernoulli takes 1 parameter, got 0/],
    ['bernoulli:0.1:2', /bernoulli takes 1 parameter, got 2/],
    ['always:1', /always takes 0 parameters, got 1/],
    ['markov:0.1:0.2:0.3', /markov takes 1 or 2 parameters, got 3/],
    ['bernoulli:x', /parameter 1 'x' is not a number/],
    ['markov:0.3:', /parameter 2 '' is not a number/],
    ['bernoulli:0x1', /parameter 1 '0x1' is not a number/],
    ['bernoulli:1.5', /'bernoulli:1.5': p must be in \(0, 1\], got 1.5/],
    ['markov:0.3:2', /activation must be in \(0, 1\], got 2/],
    ['cyclic:0.5:2.5', /cycleLength must be an integer >= 2, got 2.5/],
  ])("rejects '%s' with a clear message", (text, message) => {
    expect(() => parseAvailability(text)).toThrow(message);
    expect(() => parseAvailability(text)).toThrow(/expected always \| bernoulli:P/); // and shows the accepted forms
  });
});
