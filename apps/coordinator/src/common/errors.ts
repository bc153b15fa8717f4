/**
 * Typed domain errors. Services throw these; one global filter maps them to HTTP statuses,
 * so controllers stay thin and nothing leaks internals.
 */
export abstract class DomainError extends Error {
  abstract readonly status: number;
  abstract readonly code: string;
  constructor(
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class ValidationError extends DomainError {
  readonly status = 400;
  readonly code = 'validation_failed';
}
export class UnauthorizedError extends DomainError {
  readonly status = 401;
  readonly code = 'unauthorized';
}
export class ForbiddenError extends DomainError {
  readonly status = 403;
  readonly code = 'forbidden';
}
export class NotFoundError extends DomainError {
  readonly status = 404;
  readonly code = 'not_found';
}
export class ConflictError extends DomainError {
  readonly status = 409;
  readonly code = 'conflict';
}
/** An upload for a round that is already closed (or not open yet). */
export class RoundClosedError extends DomainError {
  readonly status = 409;
  readonly code = 'round_closed';
}
/** An upload from an agent that was not asked to train in this round. */
export class NotEligibleError extends DomainError {
  readonly status = 403;
  readonly code = 'not_eligible';
}
/** An update that must never be aggregated: wrong length, NaN/Inf. */
export class InvalidUpdateError extends DomainError {
  readonly status = 422;
  readonly code = 'invalid_update';
}
/** A task result that fails its kind's checks (shape, lengths, NaN/Inf): refused, and the task goes to another agent. */
export class InvalidResultError extends DomainError {
  readonly status = 422;
  readonly code = 'invalid_result';
}
/** A result for a task that is already done or failed, or whose job is no longer running. */
export class TaskClosedError extends DomainError {
  readonly status = 409;
  readonly code = 'task_closed';
}
/** A body over its route's limit (decompressed size included): refused from Content-Length before it is read, or while it streams. */
export class PayloadTooLargeError extends DomainError {
  readonly status = 413;
  readonly code = 'payload_too_large';
}
/** A body in a Content-Encoding (or charset) the coordinator does not decode. */
export class UnsupportedMediaTypeError extends DomainError {
  readonly status = 415;
  readonly code = 'unsupported_media_type';
}
/** A blob upload no task asked for: the agent holds no open task whose result names blobs. */
export class UploadNotExpectedError extends DomainError {
  readonly status = 403;
  readonly code = 'upload_not_expected';
}
/** An agent's blob quota (AGENT_BLOB_QUOTA_BYTES / _COUNT) is used up: final, retrying does not help. */
export class QuotaExceededError extends DomainError {
  readonly status = 403;
  readonly code = 'quota_exceeded';
}
/** An agent that speaks another agent protocol than this coordinator: final, the agent must be replaced. */
export class IncompatibleVersionError extends DomainError {
  readonly status = 400;
  readonly code = 'incompatible_version';
}
/** A caller over its rate limit: 429 with Retry-After. */
export class TooManyRequestsError extends DomainError {
  readonly status = 429;
  readonly code: string = 'rate_limited';
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}
/** An agent with AGENT_MAX_TRANSFERS uploads and downloads in flight already: 429 with Retry-After. */
export class TooManyTransfersError extends TooManyRequestsError {
  override readonly code: string = 'too_many_transfers';
}
/**
 * PostgreSQL or Redis cannot be reached right now (down, restarting, the network): 503 with Retry-After. Nothing was
 * lost that the caller did not get an answer for; the same request later succeeds or gets its first answer.
 */
export class DependencyUnavailableError extends DomainError {
  readonly status = 503;
  readonly code = 'dependency_unavailable';
  constructor(
    readonly dependency: 'postgres' | 'redis',
    reason: string,
    readonly retryAfterSeconds = 2,
  ) {
    super(`${dependency === 'postgres' ? 'PostgreSQL' : 'Redis'} is unavailable (${reason}); retry later`, { dependency });
  }
}
