import { advanceFedAu, fedauWeight, FEDAU_INITIAL_STATE, FEDAU_NO_CUTOFF, parseFedAuState, type FedAuClientState } from './fedau';
import { allFinite, applyScaled, axpy64, BufferedAccumulator, checkBufferedUpdates, createRoundSum } from './kernels';
import { ROBUST_TILE_BYTES, robustCombine, robustTileElements, validateRobustAggregation, type RobustAggregation } from './robust';
import { validateUpdate } from './updates';

/**
 * The server aggregation rules of the FedAU paper's experiments behind one interface (docs/algorithms/fedau.md §3–§4;
 * S. Wang, M. Ji, ICLR 2024, and the official code IBM/fedau `main.py`, whose names are given below).
 * All rules share the clients' local update (I steps of plain SGD, §3.1); only the server step differs:
 *
 * | rule                | server step (S = participants, N = all clients, Δ_n = client update)            | state per client          |
 * | ------------------- | ------------------------------------------------------------------------------- | ------------------------- |
 * | `fedau`             | x += γ/N · Σ_S ω_n Δ_n, ω_n = FedAU's online estimate of 1/p_n                  | 3 numbers                 |
 * | `known-p`           | x += γ/N · Σ_S Δ_n / p_n (oracle, simulation only)                              | 1 number (p_n, in spec)   |
 * | `avg-participating` | x += γ/|S| · Σ_S Δ_n, nothing if S = ∅                                          | none                      |
 * | `avg-all`           | x += γ/N · Σ_S Δ_n                                                              | none                      |
 * | `mifa`              | M_n ← Δ_n (n ∈ S); x += γ/N · Σ_all M_n, also when S = ∅                        | d floats (M_n)            |
 * | `fedvarp`           | x += γ[1/|S| · Σ_S (Δ_n − M_n) + M̄]; M_n ← Δ_n (n ∈ S); nothing if S = ∅       | d floats (M_n)            |
 *
 * The coordinator persists per client a small JSON state ({@link AggregationClientState}) and, for MIFA and
 * FedVarp, one memory vector M_n (a float32 blob of d values) plus one float64 vector Σ_n M_n per job.
 */

/**
 * Which rule aggregates a job's updates, with its options. Plain JSON: the API accepts it as is (after
 * {@link validateAggregationSpec}) and the coordinator stores it with the job.
 */
export type AggregationSpec =
  /**
   * FedAU (Wang & Ji, ICLR 2024, Alg. 1 with the estimator of Alg. 2; docs/algorithms/fedau.md §2–§3; code name `adaptive`).
   * `cutoffK`: the estimator's cutoff K, a positive integer, or null for K = ∞ (the code's default 100000,
   * §2.3 item 4). The paper's two variants are K = ∞ and K = 50 (§5).
   */
  | { rule: 'fedau'; cutoffK: number | null }
  /**
   * FedAvg with known participation probabilities, the unbiased ideal (docs/algorithms/fedau.md §4, code name `known_prob`).
   * `p`: each client's true long-run participation probability p_n ∈ (0, 1], by client id. Only a
   * simulation knows these; a real deployment does not, which is the point of FedAU.
   */
  | { rule: 'known-p'; p: Record<string, number> }
  /** FedAvg over the participants, McMahan et al. 2017 (§4, code name `average_participating`). Biased towards Σ p_n F_n. */
  | { rule: 'avg-participating' }
  /** FedAvg dividing by all N clients (§4, code name `average_all`). Biased like avg-participating, with a ~N/|S| smaller step. */
  | { rule: 'avg-all' }
  /** MIFA, Gu et al., "Fast Federated Learning in the Presence of Arbitrary Device Unavailability", NeurIPS 2021 (§4, code name `mifa`). */
  | { rule: 'mifa' }
  /** FedVARP, Jhunjhunwala et al., "FedVARP: Tackling the Variance Due to Partial Client Participation in Federated Learning", UAI 2022 (§4, code name `fedvarp`). */
  | { rule: 'fedvarp' };

/** The name of an aggregation rule. */
export type AggregationRuleName = AggregationSpec['rule'];

/** All rule names, in the order of the table in docs/algorithms/fedau.md §4. */
export const AGGREGATION_RULE_NAMES: readonly AggregationRuleName[] = Object.freeze([
  'fedau',
  'known-p',
  'avg-participating',
  'avg-all',
  'mifa',
  'fedvarp',
] as const);

/**
 * Precision of a round's accumulator.
 * - `'float64'` (the default): the sum of a round depends on the arrival order only through float64
 *   rounding, far below the float32 rounding of the result (docs/algorithms/fedau.md §8), and 1e8 + 1 − 1e8 = 1.
 * - `'float32'`: half the accumulator memory (4·d bytes) and less memory traffic per update, which is
 *   what matters once d·8 bytes no longer fits in the caches (d ≳ 10^6). Each addition rounds to float32
 *   (relative 6e-8), so the result can change in the last bits with the arrival order, and large
 *   cancellations lose precision.
 */
export type AccumulatorPrecision = 'float64' | 'float32';

/**
 * The default number of updates a round's aggregation holds before folding them into its accumulator in one
 * pass ({@link AggregationRuleOptions.bufferedUpdates}). Each fold reads and writes the d-sized accumulator once
 * for up to this many updates instead of once per update.
 */
export const DEFAULT_BUFFERED_UPDATES = 8;

/** A local learning rate η (client SGD) and a global learning rate γ (server step). */
export interface LearningRates {
  localLr: number;
  globalLr: number;
}

/**
 * The learning rates of the official code's README for CIFAR-10 (docs/algorithms/fedau.md §5; the baselines' were tuned on
 * a grid with ratio 10^0.25): FedAU η = 0.1, γ = 1; known-p η = 0.0562, γ = 1; avg-participating
 * η = 0.0562, γ = 1.78; avg-all η = 0.1, γ = 10; MIFA and FedVarp η = 0.0562, γ = 1. Use them as defaults;
 * other datasets and models may want their own.
 */
export const DEFAULT_LEARNING_RATES: Readonly<Record<AggregationRuleName, Readonly<LearningRates>>> = Object.freeze({
  fedau: Object.freeze({ localLr: 0.1, globalLr: 1 }),
  'known-p': Object.freeze({ localLr: 0.0562, globalLr: 1 }),
  'avg-participating': Object.freeze({ localLr: 0.0562, globalLr: 1.78 }),
  'avg-all': Object.freeze({ localLr: 0.1, globalLr: 10 }),
  mifa: Object.freeze({ localLr: 0.0562, globalLr: 1 }),
  fedvarp: Object.freeze({ localLr: 0.0562, globalLr: 1 }),
});

/** The per-client state of the rules that keep none (everything but FedAU). Frozen. */
export const EMPTY_CLIENT_STATE: Readonly<Record<string, never>> = Object.freeze({});

/**
 * A client's persistent scalar state under a rule: FedAU's `{ miss, sum, cnt }` ({@link FedAuClientState}),
 * `{}` for every other rule. Plain JSON; read it back with {@link AggregationRule.parseClientState}.
 * MIFA's and FedVarp's memory vectors are NOT in here: they are d floats each, kept as blobs.
 */
export type AggregationClientState = FedAuClientState | Readonly<Record<string, never>>;

/** Options of {@link createAggregationRule}. */
export interface AggregationRuleOptions {
  /** Server learning rate γ, finite. Default: the rule's entry in {@link DEFAULT_LEARNING_RATES} (docs/algorithms/fedau.md §5). */
  globalLr?: number;
  /** Precision of the round's accumulator, default `'float64'` (see {@link AccumulatorPrecision}). MIFA's and FedVarp's Σ M stays float64. */
  accumulator?: AccumulatorPrecision;
  /**
   * B, how many updates a round's {@link RoundAggregation.add} may hold BY REFERENCE before folding them into
   * the accumulator in one tiled pass; a positive integer, default {@link DEFAULT_BUFFERED_UPDATES} (8).
   * The accumulator (8·d bytes in float64) is then read and written once per B updates rather than once per
   * update, which is what limits the throughput once it no longer fits in the caches. Results are bit for bit
   * the same for every B (each element adds the updates in arrival order, with the same operations).
   *
   * Memory: besides the accumulator, up to B updates stay alive until they are folded, B·4·d bytes
   * (MIFA and FedVarp also hold each one's previous memory: 2·B·4·d bytes), e.g. 320 MB for B = 8 and
   * d = 10^7. Use 1 to fold every update before `add` returns, as a strictly streaming server would.
   */
  bufferedUpdates?: number;
}

/** What the server keeps, in bytes, for a model of d parameters (reported by {@link AggregationRule.memoryFootprint}). */
export interface AggregationMemory {
  /** Scalars in the client's persistent state: FedAU 3 (miss, sum, cnt), known-p 1 (p_n, held in its AggregationSpec), others 0. */
  stateNumbersPerClient: number;
  /** Bytes of the client's memory vector M_n: 4·d (float32) for MIFA and FedVarp, else 0. */
  vectorBytesPerClient: number;
  /** Persistent bytes per client: 8 per scalar (as float64) plus the memory vector. */
  bytesPerClient: number;
  /** Persistent bytes per job whatever N: MIFA's and FedVarp's Σ_n M_n, 8·d (float64); else 0. */
  bytesPerJob: number;
  /**
   * Transient bytes while a round is aggregated: the accumulator, 8·d (float64) or 4·d (float32). Not counted:
   * the up to B updates (and MIFA's/FedVarp's previous memories) that `add` holds by reference until they are
   * folded in, B·4·d bytes (2·B·4·d), see {@link AggregationRuleOptions.bufferedUpdates}; for fedau, known-p and
   * avg-* with a float64 accumulator, the B update buffers of {@link RoundAggregation.updateBuffer} (B·4·d bytes
   * of WebAssembly memory, allocated when first asked for). A finished round of fedau, known-p or avg-* leaves its
   * accumulator (and update buffers) to the next round of the same precision, d and B (fresh memory costs a page
   * fault per 4 KiB on first write); the library keeps at most one such idle accumulator per thread, and one idle
   * WebAssembly round, until `releaseIdleAggregationMemory()`. MIFA and FedVarp return theirs as the new Σ M
   * (float64), so they keep none.
   */
  bytesPerRound: number;
}

/** The server's inputs of one round (besides the updates, which arrive one by one). */
export interface RoundInput {
  /**
   * Every client of the federation (so N = its size), with its state after the previous round
   * ({@link AggregationRule.initialClientState} for a new client). Not modified.
   */
  clientStates: ReadonlyMap<string, AggregationClientState>;
  /**
   * MIFA and FedVarp only, and required for them: Σ_n M_n over all clients as returned by the previous round's
   * {@link RoundAggregation.finish} (length d), or null in the first round (all memories are 0). Not modified.
   */
  memorySum?: Float64Array | null;
  /**
   * True when every update of this round already passed `validateUpdate` and cannot have changed since (the
   * coordinator checks each update on submission and stores it content-addressed): `add` then checks only the
   * length, saving a read of each update. Default false: `add` scans every update for NaN/±Infinity.
   */
  updatesValidated?: boolean;
}

/** One round being aggregated: add each participant's update, then finish once. */
export interface RoundAggregation {
  /** Number of updates added so far (|S| once all have arrived). */
  readonly participants: number;
  /**
   * An array of d values to write the next participant's update into and then pass to {@link add}. With the default
   * float64 accumulator of fedau, known-p and avg-* it lies in the WebAssembly memory the sum is folded in, so the
   * update is summed where it lies instead of being copied there tile by tile (the coordinator reads update blobs
   * straight into it); otherwise it is a new array. Until the next `add` every call returns the same buffer (or a
   * new array); like any update given to `add`, it must not be modified afterwards. Optional to use: `add` takes
   * any Float32Array.
   */
  updateBuffer(): Float32Array;
  /**
   * Adds participant `clientId`'s update Δ_n. Checked before anything is touched: a rejected update leaves the round as it was.
   * The arrays are held by reference and summed later, together with the next ones, once
   * {@link AggregationRuleOptions.bufferedUpdates} of them are waiting, or in {@link finish}: do not modify them afterwards.
   * @param delta Δ_n, length d, all finite. MIFA and FedVarp keep this array as the client's new memory: do not modify it afterwards.
   * @param previousMemory MIFA and FedVarp only, and required for them: the client's M_n before this round (length d),
   *   or null if it has never participated (M_n = 0); held like `delta` until it is summed. Ignored by the other rules.
   * @param options.scale the update's clipping multiplier (an update policy's verdict, policy.ts), default 1.
   * @throws for a client not in the round's `clientStates`, a second update from a client, a bad delta, memory or scale.
   */
  add(clientId: string, delta: Float32Array, previousMemory?: Float32Array | null, options?: AddOptions): void;
  /**
   * Ends the round: the new global model and every client's new state. Call once.
   * @param global x_t, length d; not modified unless it is `options.into`.
   * @param options.into where to write x_{t+1} (length d) instead of a new array; may be `global` itself (the
   *   update is element-wise). A server that is done with x_t after the round saves a fresh d-sized array per
   *   round, whose first-touch page faults cost more than the whole fold on some VMs (docs/results/aggregation.md).
   */
  finish(global: Float32Array, options?: FinishOptions): RoundOutcome;
}

/** Options of {@link RoundAggregation.finish}. */
export interface FinishOptions {
  into?: Float32Array;
}

/** Options of {@link RoundAggregation.add}. */
export interface AddOptions {
  /**
   * Multiplier in (0, 1] of a clipped update (an update policy's `scale`, policy.ts), default 1. The weighted-sum rules
   * fold s·ω_n·Δ_n by multiplying the weight (no copy of the update; s = 1 leaves every bit as without it); MIFA and
   * FedVarp keep the clipped update s·Δ_n, rounded to float32, as the client's memory (a new array).
   */
  scale?: number;
}

/** Reads a clipping multiplier: 1 when absent, else a number in (0, 1]. */
function clipScale(where: string, clientId: string, options: AddOptions | undefined): number {
  const s = options?.scale ?? 1;
  if (!(s > 0 && s <= 1)) fail(where, `scale of client '${clientId}' must be in (0, 1], got ${s}`);
  return s;
}

/**
 * Reads the values [from, from + into.length) of the index-th update added to a {@link RobustRoundAggregation} into
 * `into` (the caller reads its blob's range, or copies from an array it holds).
 */
export type TileReader = (index: number, from: number, into: Float32Array) => void;
/** {@link TileReader}, asynchronous (e.g. reading update blobs from disk). */
export type AsyncTileReader = (index: number, from: number, into: Float32Array) => Promise<unknown>;

/**
 * One round aggregated robustly (robust.ts; docs/algorithms/fedau.md §11.3): the participants are named with
 * {@link add} (their updates are read later, tile by tile), then {@link finish} combines every coordinate of their
 * clipped updates s_n·Δ_n with the rule's weights ω_n as masses:
 *
 *     x_{t+1} = x_t + γ · (W / D) · R(s_n Δ_n; ω_n),   W = Σ_S ω_n,
 *
 * where R is the weighted median or trimmed mean per coordinate and D the rule's divisor (N, or |S| for
 * avg-participating). R = the weighted mean would give the rule's own step γ/D · Σ_S ω_n s_n Δ_n; the weights keep
 * FedAU's correction of who participates how often (a rarely seen client counts as ω_n ≈ 1/p_n clients), but R is
 * not a mean, so the step is no longer an unbiased estimate of the full-participation step.
 *
 * Memory while finishing: one tile of T coordinates of all K updates (4·K·T bytes, about ROBUST_TILE_BYTES = 32 MiB
 * once K·d is large; the whole K·d·4 bytes when that is smaller), plus 20·K bytes of per-coordinate scratch.
 */
export interface RobustRoundAggregation {
  /** Number of participants named so far. */
  readonly participants: number;
  /** Names the next participant (index = the number named before it), with its clipping multiplier. */
  add(clientId: string, options?: AddOptions): void;
  /** Ends the round, reading the updates tile by tile through `read`; like {@link RoundAggregation.finish} otherwise. */
  finish(global: Float32Array, read: TileReader, options?: FinishOptions): RoundOutcome;
  /** {@link finish} with an asynchronous reader. */
  finishAsync(global: Float32Array, read: AsyncTileReader, options?: FinishOptions): Promise<RoundOutcome>;
}

/** The array x_{t+1} is written to: `into` (checked), or a new one. */
function modelArray(
  where: string,
  dimension: number,
  global: Float32Array,
  options: FinishOptions | undefined,
  copyGlobal: boolean,
): Float32Array {
  const into = options?.into;
  if (!into) return copyGlobal ? new Float32Array(global) : new Float32Array(dimension);
  if (into.length !== dimension) fail(where, `into has length ${into.length}, expected ${dimension}`);
  if (copyGlobal && into !== global) into.set(global);
  return into;
}

/** The result of one round. */
export interface RoundOutcome {
  /** x_{t+1}, a new array. */
  model: Float32Array;
  /** The multiplier ω_n applied to each participant's Δ_n before the rule's divisor (N or |S|): FedAU's ω_n, 1/p_n for known-p, 1 otherwise. */
  weights: Map<string, number>;
  /** Every client's state after the round, non-participants included (a new map). */
  states: Map<string, AggregationClientState>;
  /** MIFA and FedVarp: each participant's new memory M_n (the `delta` arrays given to add, not copies); empty for the other rules. */
  memories: Map<string, Float32Array>;
  /** MIFA and FedVarp: the new Σ_n M_n (a new float64 array, persist it with the job); null for the other rules. */
  memorySum: Float64Array | null;
}

/**
 * A server aggregation rule. Per client it keeps a JSON state (`initialClientState`, `weight`, `advance`)
 * and, for MIFA and FedVarp, a d-float memory vector; per round it aggregates the updates as they arrive
 * (`beginRound` → `add` … → `finish`), holding one d-sized accumulator and at most B updates
 * ({@link AggregationRuleOptions.bufferedUpdates}), never all of them.
 */
export interface AggregationRule {
  /** The validated spec this rule was built from. */
  readonly spec: AggregationSpec;
  /** Server learning rate γ. */
  readonly globalLr: number;
  /** True for MIFA and FedVarp: they keep a model-size memory vector per client and a Σ M per job. */
  readonly usesClientMemory: boolean;
  /** The state of a client that has not been seen yet (frozen). */
  initialClientState(): AggregationClientState;
  /** Reads a persisted state back, checking its shape. @throws naming the rule when it does not fit the rule. */
  parseClientState(value: unknown): AggregationClientState;
  /** The multiplier ω_n of the client's next update, from its state BEFORE the round (docs/algorithms/fedau.md §2.2; §10, check 3). */
  weight(clientId: string, state: AggregationClientState): number;
  /** Records one round in a client's state; call it for EVERY client after the round (docs/algorithms/fedau.md §2.3). Pure. */
  advance(clientId: string, state: AggregationClientState, participated: boolean): AggregationClientState;
  /** The server memory this rule needs for a model of `dimension` parameters. */
  memoryFootprint(dimension: number): AggregationMemory;
  /** Starts aggregating a round of a model with `dimension` parameters. */
  beginRound(dimension: number, input: RoundInput): RoundAggregation;
  /**
   * Starts a robust round ({@link RobustRoundAggregation}). Defined for fedau, known-p, avg-participating and
   * avg-all; MIFA and FedVarp aggregate memories of absent clients, which this does not cover.
   * @throws for MIFA and FedVarp, and for a bad spec.
   */
  beginRobustRound(dimension: number, input: RoundInput, robust: RobustAggregation, options?: RobustRoundOptions): RobustRoundAggregation;
}

/** Options of {@link AggregationRule.beginRobustRound}. */
export interface RobustRoundOptions {
  /** Bytes of update values held per tile, default ROBUST_TILE_BYTES (32 MiB); at least one coordinate per tile. */
  tileBytes?: number;
}

function fail(where: string, why: string): never {
  throw new Error(`${where}: ${why}`);
}

/**
 * Checks an aggregation spec (plain JSON, e.g. a request body field) and returns it typed. Unknown fields are
 * refused; `cutoffK` must be null or a positive integer; `p` must map at least one client id to a number in (0, 1].
 * The API's zod schema lives in libs/contracts; this function is the algorithms' own check.
 * @throws an Error naming the rule and the field.
 */
export function validateAggregationSpec(value: unknown): AggregationSpec {
  const where = 'aggregation spec';
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(where, `expected an object, got ${JSON.stringify(value)}`);
  const obj = value as Record<string, unknown>;
  const rule = obj.rule;
  const allowed = (fields: string[]): void => {
    for (const k of Object.keys(obj)) if (k !== 'rule' && !fields.includes(k)) fail(`${where} '${String(rule)}'`, `unknown field '${k}'`);
  };
  switch (rule) {
    case 'fedau': {
      allowed(['cutoffK']);
      const k = obj.cutoffK;
      if (k !== null && !(typeof k === 'number' && Number.isInteger(k) && k >= 1)) {
        fail(`${where} 'fedau'`, `cutoffK must be null (K = ∞) or a positive integer, got ${JSON.stringify(k)}`);
      }
      return { rule, cutoffK: k };
    }
    case 'known-p': {
      allowed(['p']);
      const p = obj.p;
      if (typeof p !== 'object' || p === null || Array.isArray(p))
        fail(`${where} 'known-p'`, `p must be an object of client id → probability, got ${JSON.stringify(p)}`);
      const entries = Object.entries(p as Record<string, unknown>);
      if (entries.length === 0) fail(`${where} 'known-p'`, 'p is empty');
      const out: Record<string, number> = {};
      for (const [id, v] of entries) {
        if (!(typeof v === 'number' && v > 0 && v <= 1))
          fail(`${where} 'known-p'`, `p['${id}'] must be a number in (0, 1], got ${JSON.stringify(v)}`);
        out[id] = v;
      }
      return { rule, p: out };
    }
    case 'avg-participating':
    case 'avg-all':
    case 'mifa':
    case 'fedvarp':
      allowed([]);
      return { rule };
    default:
      return fail(where, `unknown rule ${JSON.stringify(rule)} (expected one of ${AGGREGATION_RULE_NAMES.join(', ')})`);
  }
}

/** Reads `{}`, the state of the rules without per-client scalars. */
function parseEmptyState(rule: string, value: unknown): AggregationClientState {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.keys(value).length !== 0) {
    fail(`${rule} parseClientState`, `expected {}, got ${JSON.stringify(value)}`);
  }
  return EMPTY_CLIENT_STATE;
}

function checkDimension(where: string, dimension: number): void {
  if (!Number.isInteger(dimension) || dimension < 1) fail(where, `dimension must be a positive integer, got ${dimension}`);
}

/** The shared bookkeeping of one round: membership, duplicate updates, weights, advancing every state. */
class RoundBook {
  readonly weights = new Map<string, number>();
  private finished = false;

  readonly states: ReadonlyMap<string, AggregationClientState>;
  private readonly validated: boolean;

  constructor(
    readonly rule: AggregationRule,
    input: RoundInput,
    readonly dimension: number,
  ) {
    this.states = input.clientStates;
    this.validated = input.updatesValidated === true;
    if (this.states.size === 0) fail(`${rule.spec.rule} beginRound`, 'clientStates is empty (N must be at least 1)');
  }

  /** Checks that a client may add an update now; returns its weight (not yet recorded). */
  admit(clientId: string): number {
    const where = `${this.rule.spec.rule} add`;
    if (this.finished) fail(where, 'the round is already finished');
    const state = this.states.get(clientId);
    if (state === undefined) fail(where, `update from client '${clientId}', which is not in the round's clientStates`);
    if (this.weights.has(clientId)) fail(where, `second update from client '${clientId}'`);
    return this.rule.weight(clientId, state);
  }

  /** True when the round's updates were validated before (only their lengths are checked then). */
  get updatesValidated(): boolean {
    return this.validated;
  }

  /** Checks a new update; returns its weight (not yet recorded). */
  check(clientId: string, delta: Float32Array): number {
    const where = `${this.rule.spec.rule} add`;
    const weight = this.admit(clientId);
    const problem = this.validated
      ? delta.length === this.dimension
        ? null
        : `has length ${delta.length}, expected ${this.dimension}`
      : validateUpdate(delta, this.dimension);
    if (problem !== null) fail(where, `update of client '${clientId}' ${problem}`);
    return weight;
  }

  finish(global: Float32Array): Map<string, AggregationClientState> {
    const where = `${this.rule.spec.rule} finish`;
    if (this.finished) fail(where, 'the round is already finished');
    if (global.length !== this.dimension) fail(where, `global has length ${global.length}, expected ${this.dimension}`);
    this.finished = true;
    const next = new Map<string, AggregationClientState>();
    for (const [id, s] of this.states) next.set(id, this.rule.advance(id, s, this.weights.has(id)));
    return next;
  }
}

/** FedAU, known-p, avg-participating, avg-all: a weighted sum of the updates divided by N or |S|. */
class WeightedSumRule implements AggregationRule {
  readonly usesClientMemory = false;
  private readonly cutoffK: number;

  constructor(
    readonly spec: Exclude<AggregationSpec, { rule: 'mifa' } | { rule: 'fedvarp' }>,
    readonly globalLr: number,
    private readonly accumulator: AccumulatorPrecision,
    private readonly bufferedUpdates: number,
  ) {
    this.cutoffK = spec.rule === 'fedau' ? (spec.cutoffK ?? FEDAU_NO_CUTOFF) : FEDAU_NO_CUTOFF;
  }

  initialClientState(): AggregationClientState {
    return this.spec.rule === 'fedau' ? FEDAU_INITIAL_STATE : EMPTY_CLIENT_STATE;
  }

  parseClientState(value: unknown): AggregationClientState {
    return this.spec.rule === 'fedau' ? parseFedAuState(value) : parseEmptyState(this.spec.rule, value);
  }

  weight(clientId: string, state: AggregationClientState): number {
    const spec = this.spec;
    switch (spec.rule) {
      case 'fedau':
        return fedauWeight(state as FedAuClientState);
      case 'known-p': {
        const p = spec.p[clientId];
        if (p === undefined) fail('known-p', `no participation probability for client '${clientId}'`);
        return 1 / p;
      }
      case 'avg-participating':
      case 'avg-all':
        return 1;
    }
  }

  advance(_clientId: string, state: AggregationClientState, participated: boolean): AggregationClientState {
    return this.spec.rule === 'fedau' ? advanceFedAu(state as FedAuClientState, participated, this.cutoffK) : state;
  }

  memoryFootprint(dimension: number): AggregationMemory {
    checkDimension(`${this.spec.rule} memoryFootprint`, dimension);
    const numbers = this.spec.rule === 'fedau' ? 3 : this.spec.rule === 'known-p' ? 1 : 0;
    return {
      stateNumbersPerClient: numbers,
      vectorBytesPerClient: 0,
      bytesPerClient: 8 * numbers,
      bytesPerJob: 0,
      bytesPerRound: (this.accumulator === 'float64' ? 8 : 4) * dimension,
    };
  }

  beginRound(dimension: number, input: RoundInput): RoundAggregation {
    const rule = this.spec.rule;
    checkDimension(`${rule} beginRound`, dimension);
    const book = new RoundBook(this, input, dimension);
    // U = Σ_S ω_n Δ_n, on an accumulator that goes back to the next round.
    const u = createRoundSum(dimension, this.accumulator, this.bufferedUpdates);
    const globalLr = this.globalLr;
    return {
      get participants() {
        return book.weights.size;
      },
      updateBuffer() {
        return u.updateBuffer();
      },
      add(clientId, delta, _previousMemory, options) {
        const w = book.check(clientId, delta); // checks the update, so the sum need not scan it again
        if (!(w >= 0 && w < Infinity)) fail(`${rule} add`, `weight of client '${clientId}' must be finite and >= 0, got ${w}`);
        // A clipped update is folded with weight s·ω: no copy, and s = 1 multiplies exactly.
        u.add(delta, w * clipScale(`${rule} add`, clientId, options));
        book.weights.set(clientId, w);
      },
      finish(global, options) {
        const states = book.finish(global);
        const count = book.weights.size;
        // avg-participating divides by |S| and skips an empty round; the others divide by N (docs/algorithms/fedau.md §3.2, §4).
        const divisor = rule === 'avg-participating' ? Math.max(1, count) : book.states.size;
        let model: Float32Array;
        if (count === 0) model = modelArray(`${rule} finish`, dimension, global, options, true);
        else {
          model = modelArray(`${rule} finish`, dimension, global, options, false); // every element is written by finishInto
          // x + γ·U/N, dividing per element (exactly FedAvg for γ = 1 and unit weights, docs/algorithms/fedau.md §3.2; §10, check 4).
          u.finishInto(model, global, globalLr, divisor);
        }
        u.release();
        return { model, weights: book.weights, states, memories: new Map(), memorySum: null };
      },
    };
  }

  beginRobustRound(
    dimension: number,
    input: RoundInput,
    robust: RobustAggregation,
    options: RobustRoundOptions = {},
  ): RobustRoundAggregation {
    const rule = this.spec.rule;
    checkDimension(`${rule} beginRobustRound`, dimension);
    validateRobustAggregation(robust);
    const tileBytes = options.tileBytes ?? ROBUST_TILE_BYTES;
    if (!(tileBytes > 0)) fail(`${rule} beginRobustRound`, `tileBytes must be positive, got ${tileBytes}`);
    return new RobustRound(rule, new RoundBook(this, input, dimension), robust, this.globalLr, tileBytes);
  }
}

/** {@link RobustRoundAggregation} of the weighted-sum rules. */
class RobustRound implements RobustRoundAggregation {
  private readonly ids: string[] = [];
  private readonly scales: number[] = [];

  constructor(
    private readonly rule: string,
    private readonly book: RoundBook,
    private readonly robust: RobustAggregation,
    private readonly globalLr: number,
    private readonly tileBytes: number,
  ) {}

  get participants(): number {
    return this.ids.length;
  }

  add(clientId: string, options?: AddOptions): void {
    const where = `${this.rule} add`;
    const w = this.book.admit(clientId);
    // Weights are masses here: a zero weight would leave its value out of every quantile.
    if (!(w > 0 && w < Infinity)) fail(where, `weight of client '${clientId}' must be finite and > 0, got ${w}`);
    const s = clipScale(where, clientId, options);
    this.book.weights.set(clientId, w);
    this.ids.push(clientId);
    this.scales.push(s);
  }

  finish(global: Float32Array, read: TileReader, options?: FinishOptions): RoundOutcome {
    const f = this.start(global, options);
    for (let from = 0; from < f.dimension; from += f.tile) {
      const length = Math.min(f.tile, f.dimension - from);
      for (let k = 0; k < f.count; k++) read(k, from, f.values.subarray(k * f.tile, k * f.tile + length));
      f.combine(from, length);
    }
    return f.outcome;
  }

  async finishAsync(global: Float32Array, read: AsyncTileReader, options?: FinishOptions): Promise<RoundOutcome> {
    const f = this.start(global, options);
    for (let from = 0; from < f.dimension; from += f.tile) {
      const length = Math.min(f.tile, f.dimension - from);
      for (let k = 0; k < f.count; k++) await read(k, from, f.values.subarray(k * f.tile, k * f.tile + length));
      f.combine(from, length);
    }
    return f.outcome;
  }

  /** Ends the bookkeeping and sets up the tile loop of finish/finishAsync (which differ only in how they read). */
  private start(global: Float32Array, options: FinishOptions | undefined) {
    const where = `${this.rule} finish`;
    const book = this.book;
    const states = book.finish(global);
    const dimension = book.dimension;
    const count = this.ids.length;
    const model = modelArray(where, dimension, global, options, true);
    const outcome: RoundOutcome = { model, weights: book.weights, states, memories: new Map(), memorySum: null };
    const weights = Float64Array.from(this.ids, (id) => book.weights.get(id)!);
    const scales = Float64Array.from(this.scales);
    let total = 0;
    for (const w of weights) total += w;
    // The rule's divisor, as in its weighted-sum step: |S| for avg-participating, N otherwise.
    const divisor = this.rule === 'avg-participating' ? Math.max(1, count) : book.states.size;
    const step = (this.globalLr * total) / divisor;
    const tile = robustTileElements(count, dimension, this.tileBytes);
    const values = new Float32Array(count === 0 ? 0 : count * tile);
    const column = new Float64Array(count);
    const order = new Uint32Array(count);
    const robust = this.robust;
    const validated = book.updatesValidated;
    const combine = (from: number, length: number): void => {
      if (!validated) {
        for (let k = 0; k < count; k++) {
          if (!allFinite(values.subarray(k * tile, k * tile + length)))
            fail(`${this.rule} add`, `update of client '${this.ids[k]}' contains NaN or ±Infinity in [${from}, ${from + length})`);
        }
      }
      for (let j = 0; j < length; j++) {
        for (let k = 0; k < count; k++) column[k] = scales[k] * values[k * tile + j];
        const i = from + j;
        model[i] = global[i] + step * robustCombine(robust, column, weights, count, total, order);
      }
    };
    // An empty round leaves the model as it is (a copy, or `into` holding x_t): no tile is read.
    return { dimension, count, tile: count === 0 ? dimension : tile, values, combine, outcome };
  }
}

/**
 * MIFA and FedVarp: every client's latest update M_n stands in for it while it is away. Streaming form:
 * the round accumulates U = Σ_S (Δ_n − M_n) and the job keeps Σ_all M_n, so no round reads more than the
 * participants' memories:
 * - MIFA: Σ M' = Σ M + U and x' = x + γ Σ M' / N (applied even when S = ∅).
 * - FedVarp: x' = x + γ (U / |S| + Σ M / N), Σ M' = Σ M + U; nothing at all when S = ∅ (as the official code).
 */
class MemoryRule implements AggregationRule {
  readonly usesClientMemory = true;

  constructor(
    readonly spec: { rule: 'mifa' } | { rule: 'fedvarp' },
    readonly globalLr: number,
    private readonly accumulator: AccumulatorPrecision,
    private readonly bufferedUpdates: number,
  ) {}

  initialClientState(): AggregationClientState {
    return EMPTY_CLIENT_STATE;
  }

  parseClientState(value: unknown): AggregationClientState {
    return parseEmptyState(this.spec.rule, value);
  }

  weight(): number {
    return 1;
  }

  advance(_clientId: string, state: AggregationClientState): AggregationClientState {
    return state;
  }

  memoryFootprint(dimension: number): AggregationMemory {
    checkDimension(`${this.spec.rule} memoryFootprint`, dimension);
    return {
      stateNumbersPerClient: 0,
      vectorBytesPerClient: 4 * dimension,
      bytesPerClient: 4 * dimension,
      bytesPerJob: 8 * dimension,
      bytesPerRound: (this.accumulator === 'float64' ? 8 : 4) * dimension,
    };
  }

  beginRobustRound(): RobustRoundAggregation {
    return fail(
      `${this.spec.rule} beginRobustRound`,
      'robust aggregation is defined for fedau, known-p, avg-participating and avg-all, not for the rules that aggregate memories of absent clients',
    );
  }

  beginRound(dimension: number, input: RoundInput): RoundAggregation {
    const rule = this.spec.rule;
    checkDimension(`${rule} beginRound`, dimension);
    const book = new RoundBook(this, input, dimension);
    if (input.memorySum === undefined) fail(`${rule} beginRound`, 'memorySum is required (null in the first round)');
    const oldSum = input.memorySum;
    if (oldSum !== null && oldSum.length !== dimension)
      fail(`${rule} beginRound`, `memorySum has length ${oldSum.length}, expected ${dimension}`);
    // U = Σ_S (Δ_n − M_n), with Δ_n alone for a client without memory.
    const u = new BufferedAccumulator(dimension, this.accumulator, this.bufferedUpdates);
    const memories = new Map<string, Float32Array>();
    const globalLr = this.globalLr;
    return {
      get participants() {
        return memories.size;
      },
      updateBuffer() {
        return new Float32Array(dimension); // it becomes the client's memory M_n: a new array each time
      },
      add(clientId, delta, previousMemory, options) {
        const w = book.check(clientId, delta);
        if (previousMemory === undefined)
          fail(`${rule} add`, `previousMemory of client '${clientId}' is required (null if it has never participated)`);
        if (previousMemory !== null && previousMemory.length !== dimension) {
          fail(`${rule} add`, `previousMemory of client '${clientId}' has length ${previousMemory.length}, expected ${dimension}`);
        }
        // A clipped update is the client's new memory as clipped: s·Δ_n, rounded to float32 like any stored memory.
        const s = clipScale(`${rule} add`, clientId, options);
        const update = s === 1 ? delta : Float32Array.from(delta, (v) => s * v);
        u.add(update, 1, previousMemory);
        book.weights.set(clientId, w);
        memories.set(clientId, update);
      },
      finish(global, options) {
        const states = book.finish(global);
        const n = book.states.size;
        const s = memories.size;
        if (rule === 'fedvarp' && s === 0) {
          u.release();
          const memorySum = oldSum ? new Float64Array(oldSum) : new Float64Array(dimension);
          return {
            model: modelArray(`${rule} finish`, dimension, global, options, true),
            weights: book.weights,
            states,
            memories,
            memorySum,
          };
        }
        const acc = u.flush();
        // ΣM' = ΣM + U goes into U itself when U is float64 (it is then the returned memorySum, and is not handed
        // to the next round), else into a new array. Same operands, same order as ΣM[i] += U[i] on a copy of ΣM
        // (or on zeros: 0 + U[i], which turns a −0 into +0).
        const sum = acc instanceof Float64Array ? acc : new Float64Array(dimension);
        const model = modelArray(`${rule} finish`, dimension, global, options, false); // every element is written below (in place is safe)
        if (rule === 'fedvarp') {
          // x' = x + γ (U/|S| + ΣM/N), from the memories at the START of the round; then ΣM' = ΣM + U.
          if (oldSum) for (let i = 0; i < dimension; i++) model[i] = global[i] + globalLr * (acc[i] / s + oldSum[i] / n);
          else for (let i = 0; i < dimension; i++) model[i] = global[i] + globalLr * (acc[i] / s + 0 / n);
        }
        if (oldSum) for (let i = 0; i < dimension; i++) sum[i] = oldSum[i] + acc[i];
        else for (let i = 0; i < dimension; i++) sum[i] = 0 + acc[i];
        // MIFA: x' = x + γ ΣM' / N.
        if (rule === 'mifa') applyScaled(model, global, sum, globalLr, n);
        if (sum !== acc) u.release();
        return { model, weights: book.weights, states, memories, memorySum: sum };
      },
    };
  }
}

/**
 * Builds a rule from its spec (checked with {@link validateAggregationSpec}).
 * @param options.globalLr γ, default from {@link DEFAULT_LEARNING_RATES} (docs/algorithms/fedau.md §5).
 * @param options.accumulator the round accumulator's precision, default `'float64'`.
 * @param options.bufferedUpdates B, updates a round holds by reference before summing them in one pass, default 8
 *   (see {@link AggregationRuleOptions.bufferedUpdates}).
 * @throws naming the rule and the argument for a bad spec or option.
 */
export function createAggregationRule(spec: AggregationSpec, options: AggregationRuleOptions = {}): AggregationRule {
  const checked = validateAggregationSpec(spec);
  const globalLr = options.globalLr ?? DEFAULT_LEARNING_RATES[checked.rule].globalLr;
  if (!Number.isFinite(globalLr)) fail(`${checked.rule}`, `globalLr must be finite, got ${globalLr}`);
  const accumulator = options.accumulator ?? 'float64';
  if (accumulator !== 'float64' && accumulator !== 'float32') {
    fail(`${checked.rule}`, `accumulator must be 'float64' or 'float32', got ${String(accumulator)}`);
  }
  const buffered = options.bufferedUpdates ?? DEFAULT_BUFFERED_UPDATES;
  const problem = checkBufferedUpdates(buffered);
  if (problem !== null) fail(`${checked.rule}`, problem);
  switch (checked.rule) {
    case 'mifa':
    case 'fedvarp':
      return new MemoryRule(checked, globalLr, accumulator, buffered);
    case 'fedau':
    case 'known-p':
    case 'avg-participating':
    case 'avg-all':
      return new WeightedSumRule(checked, globalLr, accumulator, buffered);
  }
}

/**
 * Σ_n M_n of a set of memory vectors, in float64: to rebuild MIFA's / FedVarp's per-job sum from the stored
 * memories (e.g. after a lost write), or to check it.
 * @param dimension d; every memory must have this length.
 */
export function sumMemories(memories: Iterable<Float32Array>, dimension: number): Float64Array {
  checkDimension('sumMemories', dimension);
  const sum = new Float64Array(dimension);
  for (const m of memories) {
    if (m.length !== dimension) fail('sumMemories', `a memory has length ${m.length}, expected ${dimension}`);
    axpy64(sum, 1, m);
  }
  return sum;
}
