import { advanceFedAu, fedauWeight, FEDAU_INITIAL_STATE, type FedAuClientState } from './fedau';

/**
 * Weighted sum of client updates, one update at a time (spec fedau.md §9: "streaming accumulation
 * is fine"): memory is one accumulator of d values, whatever the number of clients. Accumulates in
 * float64 so the result does not depend on arrival order beyond float32 rounding of the output.
 */
export class StreamingAggregator {
  private readonly acc: Float64Array;
  private added = 0;

  constructor(readonly dimension: number) {
    if (!Number.isInteger(dimension) || dimension < 1) throw new Error(`StreamingAggregator: dimension must be a positive integer, got ${dimension}`);
    this.acc = new Float64Array(dimension);
  }

  get count(): number {
    return this.added;
  }

  /** acc += weight · update. Rejects wrong lengths, NaN/Inf values and bad weights before touching the sum. */
  add(update: Float32Array, weight: number): void {
    const problem = validateUpdate(update, this.dimension);
    if (problem) throw new Error(`StreamingAggregator.add: update ${problem}`);
    if (!Number.isFinite(weight) || weight < 0) throw new Error(`StreamingAggregator.add: weight must be finite and >= 0, got ${weight}`);
    const acc = this.acc;
    for (let i = 0; i < acc.length; i++) acc[i]! += weight * update[i]!;
    this.added++;
  }

  /** x_{t+1} = x_t + globalLr · acc / divisor, as a new array (x_t unchanged; a copy when nothing was added). */
  apply(global: Float32Array, options: { globalLr: number; divisor: number }): Float32Array {
    if (global.length !== this.dimension) throw new Error(`StreamingAggregator.apply: global has length ${global.length}, expected ${this.dimension}`);
    if (!(options.divisor > 0)) throw new Error(`StreamingAggregator.apply: divisor must be positive, got ${options.divisor}`);
    const out = new Float32Array(global);
    if (this.added === 0) return out;
    const scale = options.globalLr / options.divisor;
    const acc = this.acc;
    for (let i = 0; i < out.length; i++) out[i] = global[i]! + scale * acc[i]!;
    return out;
  }
}

/** Euclidean norm of an update (reported per participation, useful to spot outliers). */
export function updateNorm(delta: Float32Array): number {
  let s = 0;
  for (let i = 0; i < delta.length; i++) s += delta[i]! * delta[i]!;
  return Math.sqrt(s);
}

/** null when the update can be aggregated, else the reason (wrong length, first non-finite value). */
export function validateUpdate(delta: Float32Array, expectedLength: number): string | null {
  if (delta.length !== expectedLength) return `has ${delta.length} values, expected ${expectedLength}`;
  for (let i = 0; i < delta.length; i++) {
    if (!Number.isFinite(delta[i]!)) return `contains ${delta[i]} (not finite) at index ${i}`;
  }
  return null;
}

export interface FedAuRoundResult {
  model: Float32Array;
  /** ω used for each participant this round. */
  weights: Map<string, number>;
  /** Every client's state after the round. */
  states: Map<string, FedAuClientState>;
}

/**
 * One FedAU server round (spec §3.3): U = Σ_{n∈S} ω_n Δ_n with ω from rounds < t,
 * x ← x + γ U / N over ALL N clients, then every client's estimator advances.
 * The coordinator runs the same steps with persisted state; simulators call this directly.
 */
export function fedauRound(
  global: Float32Array,
  updates: { clientId: string; delta: Float32Array }[],
  states: ReadonlyMap<string, FedAuClientState>,
  allClientIds: readonly string[],
  opts: { cutoffK: number; globalLr: number },
): FedAuRoundResult {
  if (allClientIds.length === 0) throw new Error('fedauRound: allClientIds is empty');
  const known = new Set(allClientIds);
  const agg = new StreamingAggregator(global.length);
  const weights = new Map<string, number>();
  for (const u of updates) {
    if (!known.has(u.clientId)) throw new Error(`fedauRound: update from unknown client ${u.clientId}`);
    if (weights.has(u.clientId)) throw new Error(`fedauRound: two updates from client ${u.clientId}`);
    const w = fedauWeight(states.get(u.clientId) ?? FEDAU_INITIAL_STATE);
    weights.set(u.clientId, w);
    agg.add(u.delta, w);
  }
  const model = agg.apply(global, { globalLr: opts.globalLr, divisor: allClientIds.length });
  const next = new Map<string, FedAuClientState>();
  for (const id of allClientIds) next.set(id, advanceFedAu(states.get(id) ?? FEDAU_INITIAL_STATE, weights.has(id), opts.cutoffK));
  return { model, weights, states: next };
}
