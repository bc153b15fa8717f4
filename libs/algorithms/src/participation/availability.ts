import type { Rng } from '../random';

/**
 * Participation patterns of spec fedau.md §6.3, one independent generator per client.
 * The coordinator never sees these: agents follow them and the coordinator only observes answers.
 */
export type AvailabilitySpec =
  | { kind: 'always' }
  | { kind: 'bernoulli'; p: number }
  /** Two-state chain with stationary P(active) = p; `activation` = P(inactive→active), default 0.05. */
  | { kind: 'markov'; p: number; activation?: number }
  /** Active for round(L·p) consecutive rounds of every L (default 100), random phase. */
  | { kind: 'cyclic'; p: number; cycleLength?: number };

export interface Availability {
  /** Whether the client participates in the next round. */
  next(): boolean;
}

function checkP(kind: string, p: number): void {
  if (!(p > 0 && p <= 1)) throw new Error(`availability ${kind}: p must be in (0, 1], got ${p}`);
}

export function createAvailability(spec: AvailabilitySpec, rng: Rng): Availability {
  switch (spec.kind) {
    case 'always':
      return { next: () => true };
    case 'bernoulli': {
      checkP('bernoulli', spec.p);
      return { next: () => rng.next() < spec.p };
    }
    case 'markov': {
      checkP('markov', spec.p);
      let a = spec.activation ?? 0.05;
      if (!(a > 0 && a <= 1)) throw new Error(`availability markov: activation must be in (0, 1], got ${a}`);
      let b = a * (1 / spec.p - 1);
      if (b > 1) {
        a = a / b;
        b = 1;
      }
      let active = rng.next() < spec.p;
      // Transition first, then report the new state (spec §6.3).
      return {
        next: () => {
          active = active ? rng.next() >= b : rng.next() < a;
          return active;
        },
      };
    }
    case 'cyclic': {
      checkP('cyclic', spec.p);
      const L = spec.cycleLength ?? 100;
      if (!Number.isInteger(L) || L < 2) throw new Error(`availability cyclic: cycleLength must be an integer >= 2, got ${L}`);
      const A = Math.max(1, Math.round(L * spec.p));
      const B = Math.max(1, L - A);
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

/** Long-run participation frequency of a pattern (p, or A/(A+B) for cyclic). */
export function stationaryRate(spec: AvailabilitySpec): number {
  switch (spec.kind) {
    case 'always':
      return 1;
    case 'bernoulli':
    case 'markov':
      return spec.p;
    case 'cyclic': {
      const L = spec.cycleLength ?? 100;
      const A = Math.max(1, Math.round(L * spec.p));
      return A / (A + Math.max(1, L - A));
    }
  }
}

/** Parses `always`, `bernoulli:P`, `markov:P[:A]`, `cyclic:P[:L]` (CLI form). */
export function parseAvailability(text: string): AvailabilitySpec {
  const [kind, ...rest] = text.trim().split(':');
  const nums = rest.map(Number);
  const bad = (why: string): never => {
    throw new Error(`'${text}': ${why} (expected always | bernoulli:P | markov:P[:A] | cyclic:P[:L])`);
  };
  if (nums.some((n) => !Number.isFinite(n))) bad('parameters must be numbers');
  let spec: AvailabilitySpec;
  switch (kind) {
    case 'always':
      if (nums.length) bad('always takes no parameters');
      spec = { kind: 'always' };
      break;
    case 'bernoulli':
      if (nums.length !== 1) bad('bernoulli takes one parameter');
      spec = { kind: 'bernoulli', p: nums[0]! };
      break;
    case 'markov':
      if (nums.length < 1 || nums.length > 2) bad('markov takes one or two parameters');
      spec = { kind: 'markov', p: nums[0]!, ...(nums.length === 2 ? { activation: nums[1]! } : {}) };
      break;
    case 'cyclic':
      if (nums.length < 1 || nums.length > 2) bad('cyclic takes one or two parameters');
      spec = { kind: 'cyclic', p: nums[0]!, ...(nums.length === 2 ? { cycleLength: nums[1]! } : {}) };
      break;
    default:
      return bad(`unknown pattern '${kind}'`);
  }
  // Validate the parameters now rather than at the first round.
  createAvailability(spec, { next: () => 0.5, int: () => 0 } as unknown as Rng);
  return spec;
}
