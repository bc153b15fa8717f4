/**
 * FedAU's online weight estimator: S. Wang, M. Ji, "A Lightweight Method for Tackling Unknown
 * Participation Statistics in Federated Averaging", ICLR 2024, Algorithm 2 (docs/algorithms/fedau.md §2,
 * checked against the official code IBM/fedau `main.py`).
 *
 * Under unknown participation, "divide by N" FedAvg optimises Σ p_n F_n instead of (1/N) Σ F_n.
 * FedAU weights client n's update by ω_n ≈ 1/p_n, estimated online as the mean length of the
 * intervals between the client's participations. Memory: three numbers per client, O(1).
 */

/**
 * The estimator state of one client (docs/algorithms/fedau.md §2.1). A plain JSON-safe object: persist it as is and
 * read it back with {@link parseFedAuState}.
 */
export interface FedAuClientState {
  /** Rounds since the last recorded event in which the client did not participate (integer ≥ 0). Initially 0. */
  miss: number;
  /** Sum of the recorded interval lengths (integer ≥ 0). Initially 0. */
  sum: number;
  /** Number of recorded intervals (integer ≥ 0). Initially 0. */
  cnt: number;
}

/** The state of a client that has not been seen yet: nothing recorded, so its weight is 1. Frozen. */
export const FEDAU_INITIAL_STATE: Readonly<FedAuClientState> = Object.freeze({ miss: 0, sum: 0, cnt: 0 });

/**
 * Cutoff K = ∞: never close a "virtual" interval. The official code's default K = 100000 is
 * equivalent for any run shorter than 100000 rounds (and differs after that only for clients that
 * stay away for 100000 consecutive rounds). The official README's experiments use K = ∞ and K = 50 (docs/algorithms/fedau.md §2.3, §5).
 */
export const FEDAU_NO_CUTOFF = Infinity;

// These checks run for every client every round, so they use operators only: `x % 1 === 0` is false for
// NaN, ±Infinity and fractions, and avoids global lookups such as Number.isInteger (slow in vm sandboxes like jest's).
function isCount(x: number): boolean {
  return x >= 0 && x % 1 === 0;
}

function checkCutoff(cutoffK: number): void {
  if (!(cutoffK === Infinity || (cutoffK >= 1 && cutoffK % 1 === 0))) {
    throw new Error(`FedAU: cutoffK must be a positive integer or Infinity, got ${cutoffK}`);
  }
}

function checkState(state: FedAuClientState, where: string): void {
  const { miss, sum, cnt } = state;
  if (!(isCount(miss) && isCount(sum) && isCount(cnt))) {
    throw new Error(`FedAU ${where}: state must hold non-negative integers miss, sum, cnt; got ${JSON.stringify(state)}`);
  }
  if (cnt === 0 ? sum !== 0 : sum < cnt) {
    throw new Error(
      `FedAU ${where}: state is inconsistent (every recorded interval is >= 1 round, so cnt <= sum and sum = 0 when cnt = 0); got ${JSON.stringify(state)}`,
    );
  }
}

/**
 * The aggregation weight ω_n^t of a client in round t (docs/algorithms/fedau.md §2.2): the mean recorded interval
 * sum/cnt, or 1 before the first recorded interval. Call it with the state from BEFORE round t is
 * recorded, so that ω_n^t depends on rounds 0..t−1 only (§2.2; §10, check 3).
 * The result is ≥ 1, and ≤ K when a finite cutoff is used.
 */
export function fedauWeight(state: FedAuClientState): number {
  return state.cnt > 0 ? state.sum / state.cnt : 1;
}

/**
 * Records one round in a client's state (docs/algorithms/fedau.md §2.3). Call it once per round for EVERY client,
 * participating or not, after the round's aggregation. Pure: returns a new object.
 *
 * - A participation closes an interval of `miss + 1` rounds (the first one counts from a virtual
 *   participation at round −1, so a first participation at round r records r + 1).
 * - The K-th consecutive miss closes a "virtual" interval of K and restarts the count: a finite K
 *   bounds ω by K and lets a client that disappears fade out, at the price of under-weighting rare
 *   clients: under Bernoulli(p) ω → (1 − (1−p)^K)/p instead of 1/p (§2.4).
 * - The open interval (misses since the last event) is not counted in the weight.
 *
 * @param state the client's state after the previous round ({@link FEDAU_INITIAL_STATE} at the start).
 * @param participated whether the client's update was aggregated in this round (q_n^t).
 * @param cutoffK the cutoff K: a positive integer, or {@link FEDAU_NO_CUTOFF} (the paper's K → ∞).
 *   Lowering K in the middle of a run records a pending run of misses ≥ K as one interval of K.
 */
export function advanceFedAu(state: FedAuClientState, participated: boolean, cutoffK: number): FedAuClientState {
  checkCutoff(cutoffK);
  checkState(state, 'advanceFedAu');
  if (participated) return { miss: 0, sum: state.sum + state.miss + 1, cnt: state.cnt + 1 };
  const miss = state.miss + 1;
  if (miss >= cutoffK) return { miss: 0, sum: state.sum + cutoffK, cnt: state.cnt + 1 };
  return { miss, sum: state.sum, cnt: state.cnt };
}

/**
 * Reads a persisted state back (the inverse of `JSON.stringify(state)`), checking its shape.
 * @throws when a field is missing, not a non-negative integer, or the fields are inconsistent.
 */
export function parseFedAuState(value: unknown): FedAuClientState {
  if (typeof value !== 'object' || value === null)
    throw new Error(`FedAU parseFedAuState: expected an object, got ${JSON.stringify(value)}`);
  const { miss, sum, cnt } = value as Record<string, unknown>;
  if (typeof miss !== 'number' || typeof sum !== 'number' || typeof cnt !== 'number') {
    throw new Error(`FedAU parseFedAuState: expected numbers miss, sum, cnt, got ${JSON.stringify(value)}`);
  }
  const state = { miss, sum, cnt };
  checkState(state, 'parseFedAuState');
  return state;
}
