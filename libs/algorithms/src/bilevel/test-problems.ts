import type { BilevelProblem } from './problem';
import { UNCONSTRAINED, type BilevelSet } from './projection';

/**
 * The test problems T1–T4 of docs/algorithms/bilevel.md §11, with closed-form oracles and their known answers.
 * (T5, ridge regularisation, is in `hyperparameter.ts`.) Used by the unit tests and by `bench/bilevel.ts`.
 */

/** A test problem with its reference answers. */
export interface BilevelTestCase {
  /** The name in docs/algorithms/bilevel.md §11, e.g. 'T1'. */
  name: string;
  problem: BilevelProblem;
  /** The bilevel solution x* (and the optimistic y* ∈ S(x*)) and ψ* = ψ(x*). */
  solution: { x: number[]; y: number[]; value: number };
  /** x*_λ, the minimiser of the penalised hyper-objective ψ_{1/λ}, where known in closed form. */
  penaltySolution?: (lambda: number) => number[];
  /** The starting point of docs/algorithms/bilevel.md §11. */
  start: { x: number[]; y: number[] };
}

type Oracle = BilevelProblem['gradF'];

function problem(
  dimX: number,
  dimY: number,
  sets: { setX?: BilevelSet; setY?: BilevelSet },
  f: (x: Float64Array, y: Float64Array) => number,
  g: (x: Float64Array, y: Float64Array) => number,
  gradF: Oracle,
  gradG: Oracle,
): BilevelProblem {
  return { dimX, dimY, setX: sets.setX ?? UNCONSTRAINED, setY: sets.setY ?? UNCONSTRAINED, f, g, gradF, gradG };
}

/**
 * T1, strongly convex lower level (docs/algorithms/bilevel.md §11): g = ½y² − xy (y*(x) = x), f = ½(y − 1)² + ½x².
 * ψ(x) = ½(x − 1)² + ½x², x* = ½, y* = ½, ψ* = ¼. Penalty: y_λ(x) = (1 + λx)/(1 + λ), ψ_{1/λ}(x) = ½x² + λ(x − 1)²/(2(1 + λ)),
 * x*_λ = λ/(1 + 2λ). Start (x, y) = (2, 0).
 */
export function bilevelCaseT1(): BilevelTestCase {
  return {
    name: 'T1',
    problem: problem(
      1,
      1,
      {},
      (x, y) => 0.5 * (y[0] - 1) ** 2 + 0.5 * x[0] ** 2,
      (x, y) => 0.5 * y[0] ** 2 - x[0] * y[0],
      (x, y, gx, gy) => {
        if (gx) gx[0] = x[0];
        if (gy) gy[0] = y[0] - 1;
      },
      (x, y, gx, gy) => {
        if (gx) gx[0] = -y[0];
        if (gy) gy[0] = y[0] - x[0];
      },
    ),
    solution: { x: [0.5], y: [0.5], value: 0.25 },
    penaltySolution: (lambda) => [lambda / (1 + 2 * lambda)],
    start: { x: [2], y: [0] },
  };
}

/**
 * T2, non-unique lower-level solutions (PL, not strongly convex; docs/algorithms/bilevel.md §11): y ∈ R², g = ½(y₁ + y₂ − x)²,
 * f = ½‖y‖² + ½(x − 1)². S(x) = {y₁ + y₂ = x}; the optimistic choice is y = (x/2, x/2), ψ(x) = x²/4 + ½(x − 1)²,
 * x* = 2/3, y* = (1/3, 1/3), ψ* = 1/6. Penalty (symmetric y = (t, t), t = λx/(1 + 2λ)): ψ_{1/λ}(x) = λx²/(2(1 + 2λ)) + ½(x − 1)²,
 * x*_λ = (1 + 2λ)/(1 + 3λ). Start (x, y) = (2, (1, −1)).
 */
export function bilevelCaseT2(): BilevelTestCase {
  return {
    name: 'T2',
    problem: problem(
      1,
      2,
      {},
      (x, y) => 0.5 * (y[0] ** 2 + y[1] ** 2) + 0.5 * (x[0] - 1) ** 2,
      (x, y) => 0.5 * (y[0] + y[1] - x[0]) ** 2,
      (x, y, gx, gy) => {
        if (gx) gx[0] = x[0] - 1;
        if (gy) {
          gy[0] = y[0];
          gy[1] = y[1];
        }
      },
      (x, y, gx, gy) => {
        const r = y[0] + y[1] - x[0];
        if (gx) gx[0] = -r;
        if (gy) {
          gy[0] = r;
          gy[1] = r;
        }
      },
    ),
    solution: { x: [2 / 3], y: [1 / 3, 1 / 3], value: 1 / 6 },
    penaltySolution: (lambda) => [(1 + 2 * lambda) / (1 + 3 * lambda)],
    start: { x: [2], y: [1, -1] },
  };
}

/**
 * T3, constrained lower level with the constraint active at the solution (docs/algorithms/bilevel.md §11): Y = [0, ∞), X = [−3, 3],
 * g = ½(y − x)² (y*(x) = max(x, 0)), f = ½(x + 1)² + ½(y − 1)². ψ(x) = ½(x + 1)² + ½ for x ≤ 0, so x* = −1, y* = 0,
 * ψ* = ½. For λ > 1 the penalty solution is exactly x = −1: near it y_λ = max(0, (1 + λx)/(1 + λ)) = 0 = z, so
 * gradX = x + 1. Ignoring Y moves the answer to x = −1/(1 + 2λ) ≈ 0 (the negative test). Start (x, y) = (2, 0.5).
 */
export function bilevelCaseT3(): BilevelTestCase {
  return {
    name: 'T3',
    problem: problem(
      1,
      1,
      { setX: { kind: 'box', lower: -3, upper: 3 }, setY: { kind: 'nonnegative' } },
      (x, y) => 0.5 * (x[0] + 1) ** 2 + 0.5 * (y[0] - 1) ** 2,
      (x, y) => 0.5 * (y[0] - x[0]) ** 2,
      (x, y, gx, gy) => {
        if (gx) gx[0] = x[0] + 1;
        if (gy) gy[0] = y[0] - 1;
      },
      (x, y, gx, gy) => {
        if (gx) gx[0] = x[0] - y[0];
        if (gy) gy[0] = y[0] - x[0];
      },
    ),
    solution: { x: [-1], y: [0], value: 0.5 },
    penaltySolution: (lambda) => {
      if (!(lambda > 1)) throw new Error(`T3: the closed-form penalty solution needs lambda > 1, got ${lambda}`);
      return [-1];
    },
    start: { x: [2], y: [0.5] },
  };
}

/** T4's upper level along the lower-level solution y = −x: ψ(x) = f(x, −x) = cos(2 − 4x)/(1 + e^{2−4x}) + ½ ln((4x − 2)² + 1). */
export function t4HyperObjective(x: number): number {
  return Math.cos(2 - 4 * x) / (1 + Math.exp(2 - 4 * x)) + 0.5 * Math.log((4 * x - 2) ** 2 + 1);
}

/**
 * The interior local minimisers of ψ on [lo, hi] found on a uniform grid of `points` values (each refined to
 * the grid spacing; docs/algorithms/bilevel.md §11, T4 uses 3·10⁵ points). Pure and deterministic.
 */
export function gridLocalMinima(psi: (x: number) => number, lo: number, hi: number, points: number): { x: number; value: number }[] {
  if (!(hi > lo) || !(Number.isInteger(points) && points >= 3))
    throw new Error(`gridLocalMinima: need hi > lo and points >= 3, got [${lo}, ${hi}], ${points}`);
  const h = (hi - lo) / (points - 1);
  const out: { x: number; value: number }[] = [];
  let a = psi(lo);
  let b = psi(lo + h);
  for (let i = 2; i < points; i++) {
    const c = psi(lo + i * h);
    if (b < a && b <= c) out.push({ x: lo + (i - 1) * h, value: b });
    a = b;
    b = c;
  }
  return out;
}

/**
 * T4, nonconvex lower level (the V-PBGD toy, docs/algorithms/bilevel.md §11 and §7): X = [0, 3], y ∈ R, g = (x + y)² + x sin²(x + y)
 * (nonconvex in y; S(x) = {−x}, g* = 0), f = cos(4y + 2)/(1 + e^{2−4x}) + ½ ln((4x − 2)² + 1). ψ(x) = f(x, −x) has
 * interior local minima at x ≈ 0.3824, 1.2152 (global, ψ ≈ 0.1999) and 2.8296. The solution below is the global
 * one from a 3·10⁵-point grid. ∂f/∂x uses the correct derivative of 1/(1 + e^{2−4x}), 4s(1 − s), not the
 * operator-precedence slip of the official toy.py (§14 item 8). Start: a placeholder (the tests draw random starts).
 */
export function bilevelCaseT4(): BilevelTestCase & { localMinima: number[] } {
  const minima = gridLocalMinima(t4HyperObjective, 0, 3, 300_001);
  const global = minima.reduce((m, p) => (p.value < m.value ? p : m));
  const sig = (x: number): number => 1 / (1 + Math.exp(2 - 4 * x));
  return {
    name: 'T4',
    problem: problem(
      1,
      1,
      { setX: { kind: 'box', lower: 0, upper: 3 } },
      (x, y) => Math.cos(4 * y[0] + 2) * sig(x[0]) + 0.5 * Math.log((4 * x[0] - 2) ** 2 + 1),
      (x, y) => (x[0] + y[0]) ** 2 + x[0] * Math.sin(x[0] + y[0]) ** 2,
      (x, y, gx, gy) => {
        const s = sig(x[0]);
        if (gx) {
          const t = 4 * x[0] - 2;
          gx[0] = 4 * s * (1 - s) * Math.cos(4 * y[0] + 2) + (4 * t) / (t * t + 1);
        }
        if (gy) gy[0] = -4 * Math.sin(4 * y[0] + 2) * s;
      },
      (x, y, gx, gy) => {
        const u = x[0] + y[0];
        const sin2u = Math.sin(2 * u);
        if (gx) gx[0] = 2 * u + Math.sin(u) ** 2 + x[0] * sin2u;
        if (gy) gy[0] = 2 * u + x[0] * sin2u;
      },
    ),
    solution: { x: [global.x], y: [-global.x], value: global.value },
    localMinima: minima.map((m) => m.x),
    start: { x: [1.5], y: [0] },
  };
}
