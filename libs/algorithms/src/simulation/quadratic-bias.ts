import { allFinite } from '../aggregation/kernels';
import { createAggregationRule, type AggregationClientState } from '../aggregation/rules';
import { createAvailability, stationaryRate } from '../participation/availability';
import { participationProbabilities, patternSpecs, type ParticipationPattern } from '../participation/probabilities';
import { createRng, deriveSeed } from '../random';
import { algorithmSpec, parseAlgorithm } from './federated';

/**
 * The quadratic bias experiment of docs/algorithms/fedau.md §7.1: a problem whose optimum is known in closed form, so
 * the bias of each rule is a distance. Client n minimises F_n(x) = ½‖x − c_n‖² with c_n = Σ_c h_{n,c} μ_c,
 * μ_c ~ N(0, s² I), h_n ~ Dir(α); p_n from h_n as in §6.2. The target f = (1/N) Σ F_n has its optimum at
 * x* = mean(c_n); plain FedAvg drifts to the participation-weighted point x_p = Σ p_n c_n / Σ p_n.
 * Local steps use stochastic gradients (x − c_n) + N(0, σ² I). Deterministic for a seed, pure.
 */

/** Options of the quadratic experiment; defaults are the setup of docs/algorithms/fedau.md §7.1. */
export interface QuadraticBiasOptions {
  seed: number;
  /** N, default 100. */
  numClients?: number;
  /** d, default 10. */
  dimension?: number;
  /** Number of "classes" C mixing the optima, default 10. */
  numClasses?: number;
  /** s, the standard deviation of the class centres μ_c, default 3. */
  meanStd?: number;
  /** Dirichlet α of h_n and of the class participation weights, default 0.1. */
  alpha?: number;
  /** Mean / minimum participation probability, defaults 0.1 / 0.02 (§6.2). */
  meanParticipation?: number;
  minParticipation?: number;
  /** T, default 3000. */
  rounds?: number;
  /** The reported x is the mean of the models after each of the last this many rounds, default 500. */
  averageLast?: number;
  /** Local SGD steps I, default 5. */
  localSteps?: number;
  /** Local learning rate η, default 0.05 (the same for every rule in §7.1). */
  localLr?: number;
  /** σ, the gradient noise standard deviation, default 1. */
  noiseStd?: number;
}

/** A drawn instance: client optima, p_n and the two reference points. */
export interface QuadraticInstance {
  /** c_n, N vectors of d. */
  optima: Float64Array[];
  /** p_n. */
  p: number[];
  /** x* = (1/N) Σ c_n, the optimum of the target objective. */
  xStar: Float64Array;
  /** x_p = Σ p_n c_n / Σ p_n, where participation-biased FedAvg goes. */
  xBiased: Float64Array;
  /** ‖x* − x_p‖. */
  gap: number;
}

/** One rule × pattern result. */
export interface QuadraticBiasResult {
  algorithm: string;
  pattern: ParticipationPattern;
  globalLr: number;
  /** ‖x̄ − x*‖ with x̄ the average of the last `averageLast` models. */
  distanceToOptimum: number;
  /** ‖x̄ − x_p‖. */
  distanceToBiased: number;
  /** The round in which the model stopped being finite, or null. */
  divergedAtRound: number | null;
}

function distance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

/** Draws the instance of docs/algorithms/fedau.md §7.1 for a seed (independent of the rule and the pattern). */
export function quadraticInstance(options: QuadraticBiasOptions): QuadraticInstance {
  const N = options.numClients ?? 100;
  const d = options.dimension ?? 10;
  const C = options.numClasses ?? 10;
  const s = options.meanStd ?? 3;
  const alpha = options.alpha ?? 0.1;
  if (!Number.isInteger(N) || N < 1 || !Number.isInteger(d) || d < 1 || !Number.isInteger(C) || C < 1) {
    throw new Error(`quadraticInstance: numClients, dimension and numClasses must be positive integers, got ${N}, ${d}, ${C}`);
  }
  const rng = createRng(deriveSeed(options.seed, 'quadratic-instance'));
  const mu = Array.from({ length: C }, () => Array.from({ length: d }, () => s * rng.normal()));
  const h = Array.from({ length: N }, () => rng.dirichlet(alpha, C));
  const optima = h.map((hn) => {
    const c = new Float64Array(d);
    for (let k = 0; k < C; k++) for (let i = 0; i < d; i++) c[i] += hn[k] * mu[k][i];
    return c;
  });
  const { p } = participationProbabilities(h, createRng(deriveSeed(options.seed, 'quadratic-participation')), {
    alpha,
    mean: options.meanParticipation ?? 0.1,
    min: options.minParticipation ?? 0.02,
  });
  const xStar = new Float64Array(d);
  const xBiased = new Float64Array(d);
  const pSum = p.reduce((a, b) => a + b, 0);
  optima.forEach((c, n) => {
    for (let i = 0; i < d; i++) {
      xStar[i] += c[i] / N;
      xBiased[i] += (p[n] * c[i]) / pSum;
    }
  });
  return { optima, p, xStar, xBiased, gap: distance(xStar, xBiased) };
}

/**
 * Runs one rule under one pattern on the instance, with the shared rule objects of `aggregation/rules.ts`.
 * @param algorithm as `parseAlgorithm` (`fedau`, `fedau-k50`, `known-p`, …).
 * @param globalLr γ, default 1 for every rule (§7.1, which adds avg-all with γ = 10 as an extra case).
 */
export function runQuadraticBias(
  instance: QuadraticInstance,
  options: QuadraticBiasOptions,
  algorithm: string,
  pattern: ParticipationPattern,
  globalLr = 1,
): QuadraticBiasResult {
  const T = options.rounds ?? 3000;
  const L = Math.min(options.averageLast ?? 500, T);
  const I = options.localSteps ?? 5;
  const eta = options.localLr ?? 0.05;
  const sigma = options.noiseStd ?? 1;
  if (!Number.isInteger(T) || T < 1 || !Number.isInteger(I) || I < 1)
    throw new Error(`runQuadraticBias: rounds and localSteps must be positive integers, got ${T}, ${I}`);
  const { optima } = instance;
  const N = optima.length;
  const d = instance.xStar.length;
  const alg = parseAlgorithm(algorithm);
  const ids = optima.map((_, n) => `client-${n}`);
  const specs = patternSpecs(pattern, instance.p);
  const availability = specs.map((s, n) =>
    createAvailability(s, createRng(deriveSeed(options.seed, 'quadratic-availability', pattern, n))),
  );
  const noise = optima.map((_, n) => createRng(deriveSeed(options.seed, 'quadratic-noise', n)));
  const trueRates: Record<string, number> = {};
  specs.forEach((s, n) => (trueRates[ids[n]] = stationaryRate(s)));
  const rule = createAggregationRule(algorithmSpec(alg, trueRates), { globalLr });

  let x: Float32Array = new Float32Array(d);
  let states = new Map<string, AggregationClientState>(ids.map((id) => [id, rule.initialClientState()]));
  const memories: (Float32Array | null)[] = new Array<Float32Array | null>(N).fill(null);
  let memorySum: Float64Array | null = null;
  const avg = new Float64Array(d);
  const y = new Float64Array(d);
  let divergedAtRound: number | null = null;
  for (let t = 0; t < T; t++) {
    const agg = rule.beginRound(d, { clientStates: states, memorySum });
    for (let n = 0; n < N; n++) {
      if (!availability[n].next()) continue;
      const c = optima[n];
      const rng = noise[n];
      for (let i = 0; i < d; i++) y[i] = x[i];
      for (let k = 0; k < I; k++) for (let i = 0; i < d; i++) y[i] -= eta * (y[i] - c[i] + sigma * rng.normal());
      const delta = new Float32Array(d);
      for (let i = 0; i < d; i++) delta[i] = y[i] - x[i];
      if (!allFinite(delta)) {
        divergedAtRound = t;
        break;
      }
      agg.add(ids[n], delta, memories[n]);
    }
    if (divergedAtRound !== null) break;
    const out = agg.finish(x);
    x = out.model;
    states = out.states;
    memorySum = out.memorySum;
    for (const [id, m] of out.memories) memories[Number(id.slice('client-'.length))] = m;
    if (!allFinite(x)) {
      divergedAtRound = t;
      break;
    }
    if (t >= T - L) for (let i = 0; i < d; i++) avg[i] += x[i] / L;
  }
  const final = divergedAtRound === null ? avg : Float64Array.from(x);
  return {
    algorithm: alg.name,
    pattern,
    globalLr: rule.globalLr,
    distanceToOptimum: distance(final, instance.xStar),
    distanceToBiased: distance(final, instance.xBiased),
    divergedAtRound,
  };
}
