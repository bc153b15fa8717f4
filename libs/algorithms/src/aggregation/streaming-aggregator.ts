import { advanceFedAu, fedauWeight, FEDAU_INITIAL_STATE, type FedAuClientState } from './fedau';

/**
 * Weighted sum of client updates, added one at a time (spec fedau.md §9: "streaming accumulation is
 * fine"), so the server never holds more than one update besides the accumulator: memory is d
 * float64 values whatever the number of clients.
 *
 * Accumulates in float64, so the result depends on the arrival order only through float64 rounding,
 * far below the float32 rounding of the output (spec §9: the result should not depend on the order
 * in which agents report).
 *
 * One instance serves one round; it holds a d-sized buffer, so it is deliberately not serialisable
 * (a round that is interrupted is re-aggregated from the stored updates).
 */
export class StreamingAggregator {
  private readonly acc: Float64Array;
  private readonly dim: number;
  private added = 0;

  /** @param dimension number of model parameters d, a positive integer. */
  constructor(dimension: number) {
    if (!Number.isInteger(dimension) || dimension < 1)
      throw new Error(`StreamingAggregator: dimension must be a positive integer, got ${dimension}`);
    this.dim = dimension;
    this.acc = new Float64Array(dimension);
  }

  /** Number of updates added so far (weight-0 updates included). */
  get count(): number {
    return this.added;
  }

  /** Number of model parameters d. */
  get dimension(): number {
    return this.dim;
  }

  /**
   * acc += weight · update. Everything is checked before the sum is touched, so a rejected update
   * leaves the aggregator as it was.
   * @param update a client's Δ_n, of length {@link dimension}, all values finite.
   * @param weight the aggregation weight (ω_n for FedAU), finite and ≥ 0.
   * @throws naming the argument when the update has the wrong length or a NaN/±Infinity, or the weight is bad.
   */
  add(update: Float32Array, weight: number): void {
    const problem = validateUpdate(update, this.dim);
    if (problem !== null) throw new Error(`StreamingAggregator.add: update ${problem}`);
    if (!(weight >= 0 && weight < Infinity)) throw new Error(`StreamingAggregator.add: weight must be finite and >= 0, got ${weight}`);
    const acc = this.acc;
    for (let i = 0; i < acc.length; i++) acc[i] += weight * update[i];
    this.added++;
  }

  /**
   * The new global model x_{t+1} = x_t + globalLr · acc / divisor (spec §3.3), as a NEW array;
   * `global` is not modified. With no update added it returns a copy of `global` (an empty round
   * leaves the model unchanged). Can be called more than once; it does not reset the sum.
   * @param global x_t, of length {@link dimension}.
   * @param options.globalLr the server learning rate γ (FedAU's default 1, spec §4), finite.
   * @param options.divisor N, the number of ALL clients for FedAU (spec §3.3, §10), not the number of participants; > 0.
   */
  apply(global: Float32Array, options: { globalLr: number; divisor: number }): Float32Array {
    if (global.length !== this.dim) throw new Error(`StreamingAggregator.apply: global has length ${global.length}, expected ${this.dim}`);
    if (!Number.isFinite(options.globalLr)) throw new Error(`StreamingAggregator.apply: globalLr must be finite, got ${options.globalLr}`);
    if (!(options.divisor > 0 && options.divisor < Infinity)) {
      throw new Error(`StreamingAggregator.apply: divisor must be positive and finite, got ${options.divisor}`);
    }
    const out = new Float32Array(global);
    if (this.added === 0) return out;
    const { globalLr, divisor } = options;
    const acc = this.acc;
    // Divide per element rather than multiply by 1/divisor: with γ = 1 and unit weights this is then
    // exactly FedAvg's x + (Σ Δ)/N (spec §8 test 4), e.g. for N = 3 where 1/3 is inexact.
    for (let i = 0; i < out.length; i++) out[i] = global[i] + (globalLr * acc[i]) / divisor;
    return out;
  }
}

/** Euclidean (L2) norm of an update, accumulated in float64; reported per participation to spot outliers. */
export function updateNorm(delta: Float32Array): number {
  let s = 0;
  for (let i = 0; i < delta.length; i++) s += delta[i] * delta[i];
  return Math.sqrt(s);
}

/**
 * Checks that an update can be aggregated.
 * @param expectedLength the model's parameter count d.
 * @returns null when it can, else a human-readable reason: the wrong length, or the first NaN/±Infinity and its index.
 */
export function validateUpdate(delta: Float32Array, expectedLength: number): string | null {
  if (delta.length !== expectedLength) return `has length ${delta.length}, expected ${expectedLength}`;
  for (let i = 0; i < delta.length; i++) {
    const v = delta[i];
    // v - v is 0 for finite v and NaN for NaN or ±Infinity; cheaper than Number.isFinite in this hot loop.
    if (v - v !== 0) return `contains ${v} at index ${i}`;
  }
  return null;
}

/** Options of {@link fedauRound}. */
export interface FedAuRoundOptions {
  /** Cutoff K of the estimator: a positive integer or FEDAU_NO_CUTOFF (∞). The paper's variants: ∞ and 50 (spec §4). */
  cutoffK: number;
  /** Server learning rate γ; FedAU's default is 1 (spec §4). */
  globalLr: number;
}

/** Result of {@link fedauRound}. */
export interface FedAuRoundResult {
  /** x_{t+1}, a new array. */
  model: Float32Array;
  /** ω_n^t used for each participant in this round (from the states before the round). */
  weights: Map<string, number>;
  /** Every client's estimator state after the round (a new map; the input map is not modified). */
  states: Map<string, FedAuClientState>;
}

/**
 * One complete FedAU server round (spec §3.3):
 * U = Σ_{n∈S_t} ω_n^t Δ_n with ω from the states before this round, x_{t+1} = x_t + γ U / N with
 * N = allClientIds.length (ALL clients, not |S_t|), then every client's estimator advances (§3.2),
 * non-participants included. A client missing from `states` starts from FEDAU_INITIAL_STATE;
 * states of ids not in `allClientIds` are not carried over.
 *
 * A convenience for tests and simulators; the coordinator runs the same steps on persisted state
 * with {@link fedauWeight}, {@link StreamingAggregator} and {@link advanceFedAu}.
 * @param global x_t (not modified).
 * @param updates this round's participants S_t and their Δ_n; at most one per client, each client in allClientIds.
 * @param states the estimator states after the previous round.
 * @param allClientIds the N clients of the federation, without duplicates.
 */
export function fedauRound(
  global: Float32Array,
  updates: readonly { clientId: string; delta: Float32Array }[],
  states: ReadonlyMap<string, FedAuClientState>,
  allClientIds: readonly string[],
  opts: FedAuRoundOptions,
): FedAuRoundResult {
  if (allClientIds.length === 0) throw new Error('fedauRound: allClientIds is empty');
  const known = new Set(allClientIds);
  if (known.size !== allClientIds.length) throw new Error('fedauRound: allClientIds contains duplicates');
  // advanceFedAu checks cutoffK too, but only after the aggregation; fail before any work.
  advanceFedAu(FEDAU_INITIAL_STATE, false, opts.cutoffK);
  const agg = new StreamingAggregator(global.length);
  const weights = new Map<string, number>();
  for (const u of updates) {
    if (!known.has(u.clientId)) throw new Error(`fedauRound: update from unknown client '${u.clientId}'`);
    if (weights.has(u.clientId)) throw new Error(`fedauRound: two updates from client '${u.clientId}'`);
    const w = fedauWeight(states.get(u.clientId) ?? FEDAU_INITIAL_STATE);
    weights.set(u.clientId, w);
    agg.add(u.delta, w);
  }
  const model = agg.apply(global, { globalLr: opts.globalLr, divisor: allClientIds.length });
  const next = new Map<string, FedAuClientState>();
  for (const id of allClientIds) next.set(id, advanceFedAu(states.get(id) ?? FEDAU_INITIAL_STATE, weights.has(id), opts.cutoffK));
  return { model, weights, states: next };
}
