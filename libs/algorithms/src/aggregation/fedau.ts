/**
 * FedAU's online weight estimator (Wang & Ji, ICLR 2024, Algorithm 2; spec fedau.md §3.1–3.2).
 * Per client it keeps three numbers; the weight ω ≈ 1/p_n is the mean length of the intervals
 * between participations, which is what makes FedAvg unbiased under unknown participation.
 */
export interface FedAuClientState {
  /** Rounds since the last recorded event in which the client did not participate. */
  miss: number;
  /** Sum of recorded interval lengths. */
  sum: number;
  /** Number of recorded intervals. */
  cnt: number;
}

export const FEDAU_INITIAL_STATE: Readonly<FedAuClientState> = Object.freeze({ miss: 0, sum: 0, cnt: 0 });

/** K = ∞: no cutoff (the official code's K = 100000 behaves the same for any realistic run). */
export const FEDAU_NO_CUTOFF = Infinity;

/**
 * The weight used in a round, computed from participation in earlier rounds only (§3.1):
 * sum/cnt, or 1 before the first recorded interval.
 */
export function fedauWeight(state: FedAuClientState): number {
  return state.cnt > 0 ? state.sum / state.cnt : 1;
}

/**
 * Advances a client's state at the end of a round (§3.2), for every client, participating or not.
 * A participation closes an interval of miss + 1 rounds; a run of K misses records a "virtual"
 * interval of K (cutoff), which trades bias for variance and bounds the weight by K.
 * @param cutoffK positive integer, or Infinity for no cutoff (default of the paper).
 */
export function advanceFedAu(state: FedAuClientState, participated: boolean, cutoffK: number = FEDAU_NO_CUTOFF): FedAuClientState {
  if (!(cutoffK === Infinity || (Number.isInteger(cutoffK) && cutoffK >= 1))) {
    throw new Error(`FedAU: cutoffK must be a positive integer or Infinity, got ${cutoffK}`);
  }
  if (participated) return { miss: 0, sum: state.sum + state.miss + 1, cnt: state.cnt + 1 };
  const miss = state.miss + 1;
  if (miss >= cutoffK) return { miss: 0, sum: state.sum + cutoffK, cnt: state.cnt + 1 };
  return { miss, sum: state.sum, cnt: state.cnt };
}
