import { advanceFedAu, fedauWeight, FEDAU_INITIAL_STATE, type FedAuClientState } from './fedau';
import { allFinite, applyScaled, BufferedAccumulator, checkBufferedUpdates } from './kernels';

/**
 * Precision of a server-side accumulator.
 * - `'float64'` (the default): the sum of a round depends on the arrival order only through float64
 *   rounding, far below the float32 rounding of the result (spec fedau.md §9), and 1e8 + 1 − 1e8 = 1.
 * - `'float32'`: half the accumulator memory (4·d bytes) and less memory traffic per update, which is
 *   what matters once d·8 bytes no longer fits in the caches (d ≳ 10^6). Each addition rounds to float32
 *   (relative 6e-8), so the result can change in the last bits with the arrival order, and large
 *   cancellations lose precision.
 */
export type AccumulatorPrecision = 'float64' | 'float32';

/**
 * The default number of updates a round's aggregation holds before folding them into its accumulator in one
 * pass: 8 for the aggregation rules (`createAggregationRule`'s `bufferedUpdates`) and {@link fedauRound}. Each
 * fold reads and writes the d-sized accumulator once for up to this many updates instead of once per update.
 */
export const DEFAULT_BUFFERED_UPDATES = 8;

/** Options of {@link StreamingAggregator}. */
export interface StreamingAggregatorOptions {
  /** Accumulator precision, default `'float64'` (see {@link AccumulatorPrecision}). */
  accumulator?: AccumulatorPrecision;
  /**
   * B, how many updates `add`/`addValidated` may hold BY REFERENCE before folding them into the accumulator
   * together (a positive integer; default 1: each update is folded before `add` returns, nothing is held).
   * With B > 1 the accumulator (8·d bytes in float64) is read and written once per B updates instead of once
   * per update, which is what limits the throughput once d·8 bytes exceed the caches
   * ({@link DEFAULT_BUFFERED_UPDATES} is a good value). The sum is bit for bit the same for every B: each
   * element still adds the updates in arrival order. The cost: up to B updates (B·4·d bytes) stay alive
   * until they are folded, and the caller must not modify an update passed to `add` until then, i.e. until
   * B updates have been added since, or {@link StreamingAggregator.apply} was called.
   */
  bufferedUpdates?: number;
}

/**
 * Weighted sum of client updates, added one at a time (spec fedau.md §9: "streaming accumulation is
 * fine"), so the server never holds more than one update (B with the `bufferedUpdates` option) besides the
 * accumulator: memory is d float64 values whatever the number of clients.
 *
 * Accumulates in float64, so the result depends on the arrival order only through float64 rounding,
 * far below the float32 rounding of the output (spec §9: the result should not depend on the order
 * in which agents report).
 *
 * One instance serves one round; it holds a d-sized buffer, so it is deliberately not serialisable
 * (a round that is interrupted is re-aggregated from the stored updates).
 */
export class StreamingAggregator {
  private readonly acc: BufferedAccumulator;
  private readonly dim: number;
  private added = 0;

  /**
   * @param dimension number of model parameters d, a positive integer.
   * @param options.accumulator `'float64'` (default) or `'float32'`, see {@link AccumulatorPrecision}.
   * @param options.bufferedUpdates B, updates held by reference before they are folded in (default 1), see {@link StreamingAggregatorOptions.bufferedUpdates}.
   */
  constructor(dimension: number, options: StreamingAggregatorOptions = {}) {
    if (!Number.isInteger(dimension) || dimension < 1)
      throw new Error(`StreamingAggregator: dimension must be a positive integer, got ${dimension}`);
    const precision = options.accumulator ?? 'float64';
    if (precision !== 'float64' && precision !== 'float32') {
      throw new Error(`StreamingAggregator: accumulator must be 'float64' or 'float32', got ${String(precision)}`);
    }
    const problem = checkBufferedUpdates(options.bufferedUpdates ?? 1);
    if (problem !== null) throw new Error(`StreamingAggregator: ${problem}`);
    this.dim = dimension;
    this.acc = new BufferedAccumulator(dimension, precision, options.bufferedUpdates ?? 1);
  }

  /** The accumulator precision chosen at construction. */
  get precision(): AccumulatorPrecision {
    return this.acc.sum instanceof Float64Array ? 'float64' : 'float32';
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
   * leaves the aggregator as it was. With `bufferedUpdates` B > 1 the update is held by reference and folded
   * in later (see {@link StreamingAggregatorOptions.bufferedUpdates}): do not modify it afterwards.
   * @param update a client's Δ_n, of length {@link dimension}, all values finite.
   * @param weight the aggregation weight (ω_n for FedAU), finite and ≥ 0.
   * @throws naming the argument when the update has the wrong length or a NaN/±Infinity, or the weight is bad.
   */
  add(update: Float32Array, weight: number): void {
    const problem = validateUpdate(update, this.dim);
    if (problem !== null) throw new Error(`StreamingAggregator.add: update ${problem}`);
    if (!(weight >= 0 && weight < Infinity)) throw new Error(`StreamingAggregator.add: weight must be finite and >= 0, got ${weight}`);
    this.accumulate(update, weight);
  }

  /**
   * acc += weight · update, without {@link add}'s scan for NaN/±Infinity: for updates that already passed
   * {@link validateUpdate} and cannot have changed since (the coordinator validates every update when it is
   * submitted and stores it content-addressed). Saves one read of the update, which is most of the gain
   * when d·4 bytes no longer fit in the caches. The length and the weight are still checked.
   * A non-finite value passed here makes the sum non-finite; {@link apply} does not check the result.
   * @throws naming the argument when the update has the wrong length or the weight is bad.
   */
  addValidated(update: Float32Array, weight: number): void {
    if (update.length !== this.dim)
      throw new Error(`StreamingAggregator.addValidated: update has length ${update.length}, expected ${this.dim}`);
    if (!(weight >= 0 && weight < Infinity))
      throw new Error(`StreamingAggregator.addValidated: weight must be finite and >= 0, got ${weight}`);
    this.accumulate(update, weight);
  }

  private accumulate(update: Float32Array, weight: number): void {
    this.acc.add(update, weight);
    this.added++;
  }

  /**
   * The new global model x_{t+1} = x_t + globalLr · acc / divisor (spec §3.3), as a NEW array;
   * `global` is not modified. With no update added it returns a copy of `global` (an empty round
   * leaves the model unchanged). Can be called more than once; it does not reset the sum. Folds the updates
   * still held (`bufferedUpdates`) into the sum first, so afterwards the aggregator holds none.
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
    if (this.added === 0) return new Float32Array(global);
    const sum = this.acc.flush();
    // Every element is written below, so a zeroed array (not a copy of global) is enough.
    const out = new Float32Array(this.dim);
    // Divides per element rather than multiplying by 1/divisor: with γ = 1 and unit weights this is then
    // exactly FedAvg's x + (Σ Δ)/N (spec §8 test 4), e.g. for N = 3 where 1/3 is inexact.
    applyScaled(out, global, sum, options.globalLr, options.divisor);
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
  // Fast path: one branch-free reduction; the per-element search below runs only for a bad update.
  if (allFinite(delta)) return null;
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
  // `updates` holds every update anyway, so buffering them costs no memory.
  const agg = new StreamingAggregator(global.length, { bufferedUpdates: DEFAULT_BUFFERED_UPDATES });
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
