/**
 * A federated job's update policy (docs/algorithms/fedau.md §11): which clients' updates a round aggregates, judged
 * by their L2 norms, so that one client cannot wreck the model with an update that is finite but huge. One pure
 * function decides for a whole round ({@link decideUpdates}); the coordinator runs it when it closes a round (it
 * stores every update's norm when the update arrives) and the simulator runs it on each round's updates. What can be
 * decided from one update alone is also offered when the update arrives ({@link verdictOnArrival}).
 */

/** The largest finite float32, (2 − 2^−23)·2^127 ≈ 3.4028235e38. */
export const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * How large an update's L2 norm may be.
 * - `relative`: at most `factor` × the round's reference norm, the lower median of the round's update norms (see
 *   {@link decideUpdates}); needs no knowledge of the model's scale, and is decided when the round closes.
 * - `absolute`: at most `maxNorm`; decided as each update arrives.
 * - `none`: no bound (the float32 ceiling of {@link decideUpdates} still applies).
 */
export type NormBound = { kind: 'relative'; factor: number } | { kind: 'absolute'; maxNorm: number } | { kind: 'none' };

/** What happens to an update beyond the bound: `reject` (not aggregated, the client is a non-participant) or `clip` (scaled down to the bound). */
export type PolicyAction = 'reject' | 'clip';

/** A job's update policy. Plain JSON, as the job spec holds it. */
export interface UpdatePolicy {
  bound: NormBound;
  action: PolicyAction;
}

/** No bound: only the float32 ceiling (an update whose norm does not fit in a float32 is always rejected). */
export const NO_UPDATE_POLICY: Readonly<UpdatePolicy> = Object.freeze({
  bound: Object.freeze({ kind: 'none' as const }),
  action: 'reject',
});

/**
 * The verdict on one update. `scale` is the multiplier the update is aggregated with: 1 accepted, in (0, 1) clipped
 * (its norm times `scale` is the bound), 0 rejected.
 * `reason` of a rejection: `bound` (beyond the policy's bound) or `overflow` (its norm is not a finite number that
 * fits in a float32: NaN, ±Infinity or above {@link FLOAT32_MAX}, e.g. an update of 3e38 everywhere).
 */
export type UpdateVerdict =
  | { outcome: 'accepted'; scale: 1 }
  | { outcome: 'clipped'; scale: number }
  | { outcome: 'rejected'; scale: 0; reason: 'bound' | 'overflow' };

/** The decision on a round's updates. */
export interface PolicyDecision {
  /**
   * A relative bound's reference norm: the lower median the bound is a multiple of (also when it bounds nothing).
   * Persist it: the next round's {@link decideUpdates} takes it as `previousReference`. null for the other bounds,
   * and when there was nothing to measure against.
   */
  reference: number | null;
  /** The largest norm the round admits unchanged (factor × reference, or maxNorm); null when no bound applies. */
  bound: number | null;
  /** One verdict per norm, in the order of the norms. */
  verdicts: UpdateVerdict[];
}

/** A rejecting verdict. */
export type UpdateRejection = Extract<UpdateVerdict, { outcome: 'rejected' }>;

const ACCEPTED: UpdateVerdict = Object.freeze({ outcome: 'accepted', scale: 1 });
const OVERFLOW: UpdateRejection = Object.freeze({ outcome: 'rejected', scale: 0, reason: 'overflow' });
const BEYOND: UpdateRejection = Object.freeze({ outcome: 'rejected', scale: 0, reason: 'bound' });

/**
 * A relative bound measures against the lower median of at least this many norms: with fewer (a round with one
 * update), the previous round's reference joins them, so that a lone update is not its own yardstick.
 */
export const MIN_NORMS_FOR_REFERENCE = 2;

function fail(message: string): never {
  throw new Error(`update policy: ${message}`);
}

/**
 * Checks a policy's shape and numbers (the API's schema checks the same; this guards library callers).
 * @throws naming the field.
 */
export function validateUpdatePolicy(policy: UpdatePolicy): UpdatePolicy {
  if (typeof policy !== 'object' || policy === null) fail(`expected { bound, action }, got ${JSON.stringify(policy)}`);
  const { bound, action } = policy;
  if (action !== 'reject' && action !== 'clip') fail(`action must be 'reject' or 'clip', got ${JSON.stringify(action)}`);
  switch (bound?.kind) {
    case 'relative':
      if (!(Number.isFinite(bound.factor) && bound.factor >= 1)) fail(`bound.factor must be a finite number >= 1, got ${bound.factor}`);
      break;
    case 'absolute':
      if (!(Number.isFinite(bound.maxNorm) && bound.maxNorm > 0)) fail(`bound.maxNorm must be a finite number > 0, got ${bound.maxNorm}`);
      break;
    case 'none':
      break;
    default:
      fail(`bound.kind must be 'relative', 'absolute' or 'none', got ${JSON.stringify(bound)}`);
  }
  return policy;
}

/** True when an update of this norm can be aggregated at all: a finite norm within the float32 range. */
function fits(norm: number): boolean {
  return norm >= 0 && norm <= FLOAT32_MAX;
}

/**
 * The lower median: the ⌈n/2⌉-th smallest value (for two values, the smaller one), so that one outlier among two
 * cannot raise it. Does not modify `values`.
 * @throws for an empty list.
 */
export function lowerMedian(values: readonly number[]): number {
  if (values.length === 0) fail('lowerMedian of no values');
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[(sorted.length - 1) >> 1];
}

function judge(norm: number, bound: number | null, action: PolicyAction): UpdateVerdict {
  if (!fits(norm)) return OVERFLOW;
  if (bound === null || norm <= bound) return ACCEPTED;
  if (action === 'reject') return BEYOND;
  // bound < norm, so the scale is in (0, 1); bound/norm > 0 as the bound is positive and the norm finite.
  return { outcome: 'clipped', scale: bound / norm };
}

/**
 * Decides which of a round's updates are aggregated, rejected or clipped, from their L2 norms alone.
 *
 * - An update whose norm does not fit in a float32 (NaN, ±Infinity, > {@link FLOAT32_MAX}) is rejected whatever the
 *   policy (`overflow`): no honest float32 training produces one, and clipping it would only measure its direction.
 * - `absolute`: bound = maxNorm.
 * - `relative`: reference = the lower median ({@link lowerMedian}) of the positive norms that fit in a float32 (zero
 *   updates, e.g. from clients without data, carry no scale). With fewer than {@link MIN_NORMS_FOR_REFERENCE} of them,
 *   `previousReference` (the last round's reference) joins them. bound = factor × reference; with nothing to measure
 *   against (no positive norm and no previous reference) no bound applies.
 * - A norm above the bound is rejected (`reject`) or clipped to it (`clip`: scale = bound / norm); a norm at or below
 *   it is accepted (scale 1).
 *
 * The lower median keeps an honest reference as long as more than half of the round's updates are honest (and for
 * two updates, as long as one is): a majority of colluding clients can move it, which no norm rule prevents.
 * Pure and deterministic: the verdicts depend on the multiset of norms and `previousReference` only.
 *
 * @param norms the round's update norms (float64; any order).
 * @param previousReference the reference of the previous round ({@link PolicyDecision.reference}), or null.
 */
export function decideUpdates(policy: UpdatePolicy, norms: readonly number[], previousReference: number | null = null): PolicyDecision {
  validateUpdatePolicy(policy);
  const { bound: spec, action } = policy;
  let reference: number | null = null;
  let bound: number | null = null;
  if (spec.kind === 'absolute') bound = spec.maxNorm;
  else if (spec.kind === 'relative') {
    const pool = norms.filter((n) => n > 0 && fits(n));
    if (pool.length < MIN_NORMS_FOR_REFERENCE && previousReference !== null && previousReference > 0 && fits(previousReference))
      pool.push(previousReference);
    if (pool.length > 0) {
      reference = lowerMedian(pool);
      bound = spec.factor * reference;
    }
  }
  return { reference, bound, verdicts: norms.map((n) => judge(n, bound, action)) };
}

/**
 * The verdict on an update that can be given when it arrives, before the round closes: a rejection when its norm
 * does not fit in a float32 (any policy), or is beyond an absolute bound whose action is `reject`. null otherwise:
 * a relative bound and clipping are decided by {@link decideUpdates} at the close, which gives the same verdict for
 * the updates refused here.
 */
export function verdictOnArrival(policy: UpdatePolicy, norm: number): UpdateRejection | null {
  validateUpdatePolicy(policy);
  if (!fits(norm)) return OVERFLOW;
  if (policy.bound.kind === 'absolute' && policy.action === 'reject' && norm > policy.bound.maxNorm) return BEYOND;
  return null;
}
