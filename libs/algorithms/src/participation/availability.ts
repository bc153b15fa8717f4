import type { Rng } from '../random';

/**
 * Participation patterns of the FedAU experiments (docs/algorithms/fedau.md §6.3; IBM/fedau `util/util.py`), one
 * independent generator per client. In Flotilla the agents follow them (an agent declines a round it
 * is "unavailable" for); the coordinator never sees the pattern, only who answered, which is exactly
 * the "unknown participation statistics" setting of the paper.
 */
export type AvailabilitySpec =
  /** Participates in every round (p = 1). */
  | { kind: 'always' }
  /** Independently each round with probability p ∈ (0, 1] (§6.3 "Bernoulli"). */
  | { kind: 'bernoulli'; p: number }
  /**
   * Two-state Markov chain with stationary P(active) = p ∈ (0, 1] (§6.3, the official `markov-0.05`).
   * `activation` = P(inactive → active), in (0, 1], default 0.05; P(active → inactive) = activation · (1/p − 1).
   */
  | { kind: 'markov'; p: number; activation?: number }
  /**
   * Active for A = max(1, round(L·p)) consecutive rounds, then inactive for B = max(1, L − A), with a
   * random phase (§6.3, the official `cyclic-100`). `cycleLength` L is an integer ≥ 2, default 100.
   */
  | { kind: 'cyclic'; p: number; cycleLength?: number };

/** A client's participation process: one call per round, in round order. */
export interface Availability {
  /** Whether the client participates in the next round (q_n^t). */
  next(): boolean;
}

/** Default P(inactive → active) of the Markov pattern (docs/algorithms/fedau.md §6.3, `markov-0.05`). */
export const DEFAULT_MARKOV_ACTIVATION = 0.05;
/** Default cycle length L of the cyclic pattern (docs/algorithms/fedau.md §6.3, `cyclic-100`). */
export const DEFAULT_CYCLE_LENGTH = 100;

/**
 * Checks a pattern's parameters.
 * @throws an Error naming the pattern and the parameter when one is out of range.
 */
export function validateAvailability(spec: AvailabilitySpec): void {
  const kind = spec.kind;
  switch (kind) {
    case 'always':
      return;
    case 'bernoulli':
    case 'markov':
    case 'cyclic':
      if (!(spec.p > 0 && spec.p <= 1)) throw new Error(`availability ${kind}: p must be in (0, 1], got ${spec.p}`);
      if (spec.kind === 'markov' && spec.activation !== undefined && !(spec.activation > 0 && spec.activation <= 1)) {
        throw new Error(`availability markov: activation must be in (0, 1], got ${spec.activation}`);
      }
      if (spec.kind === 'cyclic' && spec.cycleLength !== undefined && !(Number.isInteger(spec.cycleLength) && spec.cycleLength >= 2)) {
        throw new Error(`availability cyclic: cycleLength must be an integer >= 2, got ${spec.cycleLength}`);
      }
      return;
    default: {
      const unknown: never = kind;
      throw new Error(`availability: unknown kind '${String(unknown)}'`);
    }
  }
}

/** The Markov transition probabilities (a, b) = (P(off→on), P(on→off)) of docs/algorithms/fedau.md §6.3, after the b > 1 rescaling. */
function markovRates(p: number, activation: number): { a: number; b: number } {
  const b = activation * (1 / p - 1);
  // b > 1 is not a probability: scale both down by b, which keeps a/(a + b) = p.
  return b > 1 ? { a: activation / b, b: 1 } : { a: activation, b };
}

/** Active and inactive run lengths (A, B) of the cyclic pattern (docs/algorithms/fedau.md §6.3). */
function cyclicLengths(p: number, cycleLength: number): { A: number; B: number } {
  const A = Math.max(1, Math.round(cycleLength * p));
  return { A, B: Math.max(1, cycleLength - A) };
}

/**
 * Creates one client's participation generator (docs/algorithms/fedau.md §6.3). Draws only from `rng`, so give every
 * client its own stream (`createRng(deriveSeed(seed, 'availability', clientIndex))`).
 *
 * - bernoulli: q = [U < p] every round.
 * - markov: initial state ~ Bernoulli(p); each round the chain transitions first, then the new state is returned.
 * - cyclic: starts inactive with counter ~ U{0, …, B−1}; each round, if the counter is 0 the state toggles and the
 *   counter is reset to A (now active) or B (now inactive); then the counter is decremented and the state returned.
 * @throws as {@link validateAvailability}.
 */
export function createAvailability(spec: AvailabilitySpec, rng: Rng): Availability {
  validateAvailability(spec);
  switch (spec.kind) {
    case 'always':
      return { next: () => true };
    case 'bernoulli': {
      const p = spec.p;
      return { next: () => rng.next() < p };
    }
    case 'markov': {
      const { a, b } = markovRates(spec.p, spec.activation ?? DEFAULT_MARKOV_ACTIVATION);
      let active = rng.next() < spec.p;
      return {
        next: () => {
          active = active ? rng.next() >= b : rng.next() < a;
          return active;
        },
      };
    }
    case 'cyclic': {
      const { A, B } = cyclicLengths(spec.p, spec.cycleLength ?? DEFAULT_CYCLE_LENGTH);
      let active = false;
      let counter = rng.int(B);
      return {
        next: () => {
          if (counter === 0) {
            active = !active;
            counter = active ? A : B;
          }
          counter -= 1;
          return active;
        },
      };
    }
  }
}

/**
 * The long-run participation frequency of a pattern: p for Bernoulli and Markov, A/(A + B) for cyclic
 * (which differs from p by the rounding of L·p), 1 for always. FedAU's weight with K = ∞ tends to its
 * inverse (docs/algorithms/fedau.md §2.4).
 */
export function stationaryRate(spec: AvailabilitySpec): number {
  validateAvailability(spec);
  switch (spec.kind) {
    case 'always':
      return 1;
    case 'bernoulli':
    case 'markov':
      return spec.p;
    case 'cyclic': {
      const { A, B } = cyclicLengths(spec.p, spec.cycleLength ?? DEFAULT_CYCLE_LENGTH);
      return A / (A + B);
    }
  }
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const USAGE = 'expected always | bernoulli:P | markov:P[:ACTIVATION] | cyclic:P[:CYCLE_LENGTH]';

/**
 * Parses the command-line form of a pattern: `always`, `bernoulli:0.3`, `markov:0.3`, `markov:0.3:0.05`,
 * `cyclic:0.5`, `cyclic:0.5:20` (case-insensitive kind, surrounding spaces ignored). Parameters are checked
 * here, so a bad value fails at start-up rather than at the first round.
 * @throws an Error quoting the text and saying what is wrong.
 */
export function parseAvailability(text: string): AvailabilitySpec {
  const fail = (why: string): never => {
    throw new Error(`availability '${text}': ${why} (${USAGE})`);
  };
  const [rawKind = '', ...params] = text.trim().split(':');
  const kind = rawKind.trim().toLowerCase();
  const nums = params.map((raw, i) => {
    const s = raw.trim();
    if (!NUMBER.test(s)) fail(`parameter ${i + 1} '${raw}' is not a number`);
    return Number(s);
  });
  const arity = (min: number, max: number): void => {
    if (nums.length < min || nums.length > max) {
      fail(`${kind} takes ${min === max ? min : `${min} or ${max}`} parameter${max === 1 ? '' : 's'}, got ${nums.length}`);
    }
  };
  let spec: AvailabilitySpec;
  switch (kind) {
    case 'always':
      arity(0, 0);
      spec = { kind: 'always' };
      break;
    case 'bernoulli':
      arity(1, 1);
      spec = { kind: 'bernoulli', p: nums[0] };
      break;
    case 'markov':
      arity(1, 2);
      spec = nums.length === 2 ? { kind: 'markov', p: nums[0], activation: nums[1] } : { kind: 'markov', p: nums[0] };
      break;
    case 'cyclic':
      arity(1, 2);
      spec = nums.length === 2 ? { kind: 'cyclic', p: nums[0], cycleLength: nums[1] } : { kind: 'cyclic', p: nums[0] };
      break;
    default:
      return fail(`unknown pattern '${rawKind}'`);
  }
  try {
    validateAvailability(spec);
  } catch (e) {
    fail((e as Error).message.replace(/^availability \w+: /, ''));
  }
  return spec;
}
