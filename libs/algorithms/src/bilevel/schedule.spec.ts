import { checkPenaltySchedule, checkStepDecay, penaltyAt, penaltyScheduleDone, penaltyStepFactor, stepDecayAt } from './schedule';

describe('penalty schedules (docs/algorithms/bilevel.md §4)', () => {
  it('fixed, linear ramp and polynomial growth', () => {
    expect(penaltyAt({ kind: 'fixed', lambda: 7 }, 123)).toBe(7);
    const ramp = { kind: 'linear', start: 1, end: 101, steps: 100 } as const;
    expect([0, 50, 100, 1000].map((k) => penaltyAt(ramp, k))).toEqual([1, 51, 101, 101]);
    // λ_k = 1 + 0.5·k^{1/2}: k = 16 → 3; capped at max 4 from k = 36 on.
    const poly = { kind: 'polynomial', start: 1, rate: 0.5, power: 0.5, max: 4 } as const;
    expect(penaltyAt(poly, 0)).toBe(1);
    expect(penaltyAt(poly, 16)).toBe(3);
    expect(penaltyAt(poly, 100)).toBe(4);
  });

  it('is "done" once λ has its final value (the stationarity stop waits for it, §9)', () => {
    expect(penaltyScheduleDone({ kind: 'fixed', lambda: 1 }, 0)).toBe(true);
    expect(penaltyScheduleDone({ kind: 'linear', start: 0, end: 1, steps: 10 }, 9)).toBe(false);
    expect(penaltyScheduleDone({ kind: 'linear', start: 0, end: 1, steps: 10 }, 10)).toBe(true);
    expect(penaltyScheduleDone({ kind: 'polynomial', start: 1, rate: 1, power: 1 }, 1e9)).toBe(false);
    expect(penaltyScheduleDone({ kind: 'polynomial', start: 1, rate: 1, power: 1, max: 5 }, 4)).toBe(true);
  });

  it('step factors s(λ): 1/(1+λ), min(1, 1/λ), 1', () => {
    expect(penaltyStepFactor('inverse-one-plus', 9)).toBeCloseTo(0.1, 15);
    expect(penaltyStepFactor('inverse-capped', 10)).toBeCloseTo(0.1, 15);
    expect(penaltyStepFactor('inverse-capped', 0.2)).toBe(1); // V-PBGD hyper-cleaning: γ ≤ 1 ⇒ prefactor 1 (docs/algorithms/bilevel.md §4.2)
    expect(penaltyStepFactor('none', 100)).toBe(1);
  });

  it('step decays: constant and (1 + k/offset)^(−power)', () => {
    expect(stepDecayAt({ kind: 'constant' }, 99)).toBe(1);
    // benchopt: step/(t+1)^{5/7}; at t = 127, (128)^{−5/7} = 2^{−5} = 1/32.
    expect(stepDecayAt({ kind: 'polynomial', power: 5 / 7 }, 127)).toBeCloseTo(1 / 32, 12);
    expect(stepDecayAt({ kind: 'polynomial', power: 1, offset: 10 }, 10)).toBeCloseTo(0.5, 15);
  });

  it('rejects invalid schedules, naming the caller', () => {
    expect(() => checkPenaltySchedule({ kind: 'fixed', lambda: -1 }, 'X')).toThrow(/X: penalty fixed lambda must be finite and >= 0/);
    expect(() => checkPenaltySchedule({ kind: 'linear', start: 0, end: 1, steps: 0 }, 'X')).toThrow(/steps must be a positive integer/);
    expect(() => checkPenaltySchedule({ kind: 'polynomial', start: 2, rate: 1, power: 1, max: 1 }, 'X')).toThrow(/max must be >= start/);
    expect(() => checkStepDecay({ kind: 'polynomial', power: -1 }, 'X')).toThrow(/X: decay power/);
  });
});
