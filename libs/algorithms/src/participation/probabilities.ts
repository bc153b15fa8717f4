import type { Rng } from '../random';
import { DEFAULT_CYCLE_LENGTH, DEFAULT_MARKOV_ACTIVATION, type AvailabilitySpec } from './availability';

/**
 * Participation probabilities tied to the clients' data, as in the FedAU experiments (docs/algorithms/fedau.md §6.2;
 * IBM/fedau `util/util.py`): one "participation weight" per class m ~ Dirichlet(α · 1_C), and
 * p_n = min(1, max(p_min, C · p_mean · ⟨h_n, m⟩)) where h_n is client n's label histogram. Clients rich in
 * the favoured classes participate more, which is what biases plain FedAvg towards Σ p_n F_n.
 */

/** Options of {@link participationProbabilities}; defaults are the official code's (docs/algorithms/fedau.md §5). */
export interface ParticipationProbabilityOptions {
  /** Dirichlet concentration of the class weights m, default 0.1 (`-participation-dirichlet-alpha`). */
  alpha?: number;
  /** Target mean p̄, default 0.1 (`-participation-prob-mean`). E[C · p̄ · ⟨h_n, m⟩] = p̄ since E[m_c] = 1/C. */
  mean?: number;
  /** Lower bound p_min, default 0.02 (`-participation-prob-min`). */
  min?: number;
}

/** Result of {@link participationProbabilities}. */
export interface ParticipationProbabilities {
  /** p_n for each client, in [p_min, 1]. */
  p: number[];
  /** The class weights m (sum 1). */
  classWeights: number[];
  /** How many p_n were clipped at 1 (docs/algorithms/fedau.md §6.2: the official code does not clip; with many classes values above 1 are possible). */
  clippedAtOne: number;
  /** How many p_n were raised to p_min. */
  raisedToMin: number;
}

/**
 * Draws the class weights m ~ Dir(α · 1_C) from `rng` (C draws, nothing else) and returns every client's p_n
 * (docs/algorithms/fedau.md §6.2).
 * @param histograms one label histogram h_n per client (C non-negative fractions; an empty client's all-zero
 *   histogram gives p_min).
 * @throws naming the argument when a histogram has the wrong length or an option is out of range.
 */
export function participationProbabilities(
  histograms: readonly (readonly number[])[],
  rng: Rng,
  options: ParticipationProbabilityOptions = {},
): ParticipationProbabilities {
  const alpha = options.alpha ?? 0.1;
  const mean = options.mean ?? 0.1;
  const min = options.min ?? 0.02;
  const where = 'participationProbabilities';
  if (histograms.length === 0) throw new Error(`${where}: histograms is empty`);
  if (!(alpha > 0 && alpha < Infinity)) throw new Error(`${where}: alpha must be positive and finite, got ${alpha}`);
  if (!(mean > 0 && mean <= 1)) throw new Error(`${where}: mean must be in (0, 1], got ${mean}`);
  if (!(min > 0 && min <= 1)) throw new Error(`${where}: min must be in (0, 1], got ${min}`);
  const C = histograms[0].length;
  if (C < 1) throw new Error(`${where}: histograms need at least one class`);
  const m = rng.dirichlet(alpha, C);
  let clippedAtOne = 0;
  let raisedToMin = 0;
  const p = histograms.map((h, n) => {
    if (h.length !== C) throw new Error(`${where}: histograms[${n}] has ${h.length} classes, expected ${C}`);
    let dot = 0;
    for (let c = 0; c < C; c++) {
      if (!(h[c] >= 0)) throw new Error(`${where}: histograms[${n}][${c}] = ${h[c]} is not a non-negative number`);
      dot += h[c] * m[c];
    }
    const raw = C * mean * dot;
    if (raw > 1) clippedAtOne++;
    if (raw < min) raisedToMin++;
    return Math.min(1, Math.max(min, raw));
  });
  return { p, classWeights: m, clippedAtOne, raisedToMin };
}

/** The three participation patterns of the paper's experiments (docs/algorithms/fedau.md §6.3). */
export type ParticipationPattern = 'bernoulli' | 'markov' | 'cyclic';

/** The patterns in the order of the result tables (docs/results/fedau.md). */
export const PARTICIPATION_PATTERNS: readonly ParticipationPattern[] = Object.freeze(['bernoulli', 'markov', 'cyclic'] as const);

/** Options of {@link patternSpecs}. */
export interface PatternOptions {
  /** Markov P(inactive → active), default 0.05 (`markov-0.05`, docs/algorithms/fedau.md §6.3). */
  markovActivation?: number;
  /** Cyclic cycle length L, default 100 (`cyclic-100`, docs/algorithms/fedau.md §6.3). */
  cycleLength?: number;
}

/**
 * One availability spec per client for a pattern and the clients' p_n: the generators of
 * `availability.ts` (the same ones the agents' `--availability` option uses) with the experiment's parameters.
 */
export function patternSpecs(pattern: ParticipationPattern, p: readonly number[], options: PatternOptions = {}): AvailabilitySpec[] {
  switch (pattern) {
    case 'bernoulli':
      return p.map((pn) => ({ kind: 'bernoulli', p: pn }));
    case 'markov':
      return p.map((pn) => ({ kind: 'markov', p: pn, activation: options.markovActivation ?? DEFAULT_MARKOV_ACTIVATION }));
    case 'cyclic':
      return p.map((pn) => ({ kind: 'cyclic', p: pn, cycleLength: options.cycleLength ?? DEFAULT_CYCLE_LENGTH }));
    default: {
      const unknown: never = pattern;
      throw new Error(`patternSpecs: unknown pattern '${String(unknown)}' (expected bernoulli, markov or cyclic)`);
    }
  }
}
