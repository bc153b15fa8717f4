/**
 * Penalty schedules λ_k (λ = 1/σ = γ) and step-size rules shared by the penalty methods, V-PBGD and F2SA
 * (docs/algorithms/bilevel.md §4, §7, §8). All are pure functions of the outer iteration k, so a run
 * resumed from a persisted state continues with exactly the same λ and steps.
 */

/**
 * The penalty multiplier λ_k as a function of the outer iteration k = 0, 1, …:
 * - `fixed`: λ_k = lambda (the theory of §5: σ = Θ(ε));
 * - `linear`: λ_k = start + (end − start)·min(1, k/steps), a ramp that then stays at `end` (§4.1; V-PBGD's
 *   hyper-cleaning code ramps 0 → γ_max);
 * - `polynomial`: λ_k = min(max, start + rate·k^power) (F2SA, §8: power 1/7 in the paper's fully stochastic
 *   analysis; benchopt's increments δ/(t+1)^{1/7} sum to ≈ (7/6)·δ·t^{6/7}); `max` defaults to +∞.
 */
export type PenaltySchedule =
  | { kind: 'fixed'; lambda: number }
  | { kind: 'linear'; start: number; end: number; steps: number }
  | { kind: 'polynomial'; start: number; rate: number; power: number; max?: number };

/** Throws (naming `where`) unless the schedule's numbers are finite, λ ≥ 0 throughout, and counts are integers. */
export function checkPenaltySchedule(s: PenaltySchedule, where: string): void {
  const nonNeg = (v: number, name: string): void => {
    if (!(v >= 0 && v < Infinity)) throw new Error(`${where}: penalty ${s.kind} ${name} must be finite and >= 0, got ${v}`);
  };
  switch (s.kind) {
    case 'fixed':
      nonNeg(s.lambda, 'lambda');
      return;
    case 'linear':
      nonNeg(s.start, 'start');
      nonNeg(s.end, 'end');
      if (!(Number.isInteger(s.steps) && s.steps >= 1))
        throw new Error(`${where}: penalty linear steps must be a positive integer, got ${s.steps}`);
      return;
    case 'polynomial':
      nonNeg(s.start, 'start');
      nonNeg(s.rate, 'rate');
      if (!(s.power > 0 && s.power < Infinity))
        throw new Error(`${where}: penalty polynomial power must be positive and finite, got ${s.power}`);
      if (s.max !== undefined && !(s.max >= s.start)) throw new Error(`${where}: penalty polynomial max must be >= start, got ${s.max}`);
      return;
  }
}

/** λ_k of the schedule at outer iteration k ≥ 0. */
export function penaltyAt(s: PenaltySchedule, k: number): number {
  switch (s.kind) {
    case 'fixed':
      return s.lambda;
    case 'linear':
      return s.start + (s.end - s.start) * Math.min(1, k / s.steps);
    case 'polynomial':
      return Math.min(s.max ?? Infinity, s.start + s.rate * Math.pow(k, s.power));
  }
}

/**
 * Whether λ has reached its final value at iteration k (fixed: always; linear: k ≥ steps; polynomial: when it
 * hits a finite `max`, else never). The stationarity stopping rule (docs/algorithms/bilevel.md §9) only fires once this holds, since
 * a point that is stationary for a smaller λ still carries a larger O(1/λ) bias.
 */
export function penaltyScheduleDone(s: PenaltySchedule, k: number): boolean {
  switch (s.kind) {
    case 'fixed':
      return true;
    case 'linear':
      return k >= s.steps;
    case 'polynomial':
      return s.max !== undefined && penaltyAt(s, k) >= s.max;
  }
}

/**
 * How the steps that multiply λ are shrunk as λ grows (docs/algorithms/bilevel.md §4.2: otherwise a growing λ makes the
 * iteration blow up): the factor s(λ) applied to the y-step and the x-step.
 * - `inverse-one-plus`: s = 1/(1 + λ) (the default of the penalty methods and F2SA);
 * - `inverse-capped`: s = min(1, 1/λ) (V-PBGD's official code, §7; its default there);
 * - `none`: s = 1 (the caller scales the steps itself).
 */
export type PenaltyStepScaling = 'inverse-one-plus' | 'inverse-capped' | 'none';

/** The factor s(λ) of {@link PenaltyStepScaling}. */
export function penaltyStepFactor(scaling: PenaltyStepScaling, lambda: number): number {
  switch (scaling) {
    case 'inverse-one-plus':
      return 1 / (1 + lambda);
    case 'inverse-capped':
      return lambda > 1 ? 1 / lambda : 1;
    case 'none':
      return 1;
  }
}

/**
 * A multiplicative step decay d_k (docs/algorithms/bilevel.md §4.3, §8):
 * - `constant`: d_k = 1 (deterministic oracles, §8);
 * - `polynomial`: d_k = (1 + k/offset)^(−power), i.e. ∝ (k + offset)^(−power) and 1 at k = 0 (F2SA's fully stochastic
 *   schedules: power 5/7 for the y- and x-steps, 4/7 for the z-step; benchopt uses offset 1).
 */
export type StepDecay = { kind: 'constant' } | { kind: 'polynomial'; power: number; offset?: number };

/** The factor d_k of {@link StepDecay} at iteration k ≥ 0. */
export function stepDecayAt(d: StepDecay, k: number): number {
  switch (d.kind) {
    case 'constant':
      return 1;
    case 'polynomial':
      return Math.pow(1 + k / (d.offset ?? 1), -d.power);
  }
}

/** Throws (naming `where`) unless the decay's power is ≥ 0 and its offset positive. */
export function checkStepDecay(d: StepDecay, where: string): void {
  if (d.kind === 'constant') return;
  if (!(d.power >= 0 && d.power < Infinity)) throw new Error(`${where}: decay power must be finite and >= 0, got ${d.power}`);
  if (d.offset !== undefined && !(d.offset > 0 && d.offset < Infinity))
    throw new Error(`${where}: decay offset must be positive, got ${d.offset}`);
}
