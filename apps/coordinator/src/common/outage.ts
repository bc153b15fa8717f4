import { DependencyUnavailableError } from './errors';

/** Prisma's codes for "the database cannot be reached / the connection broke / no connection in time". */
const PRISMA_OUTAGE_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2037']);

/**
 * The driver adapter's kinds of failure that are about the connection, not the query (@prisma/adapter-pg maps pg's
 * ECONNREFUSED, "Connection terminated", socket timeouts to these).
 */
const ADAPTER_OUTAGE_KINDS = new Set([
  'DatabaseNotReachable',
  'ConnectionClosed',
  'SocketTimeout',
  'TooManyConnections',
  'TlsConnectionError',
]);

/**
 * What pg says when no connection came in time: every pooled connection busy for DATABASE_CONNECT_TIMEOUT (a load
 * peak), or the server slow to accept. The adapter passes these on as plain Errors (measured).
 */
const PG_NO_CONNECTION = /^timeout exceeded when trying to connect$|^Connection terminated due to connection timeout$/;

/** What ioredis says when a command cannot reach the server (offline queue off, or its retries used up). */
const REDIS_OUTAGE = /enableOfflineQueue|Connection is closed|max retries per request|Stream isn't writeable/i;

/**
 * The outage behind an error, when it is one: PostgreSQL (Prisma over adapter-pg) or Redis (ioredis) unreachable.
 * Such errors are transient for everyone: the API answers 503 with Retry-After, control jobs retry without a limit.
 * Anything else (a bug, a constraint) is not an outage and returns null.
 */
export function outageOf(e: unknown): DependencyUnavailableError | null {
  if (e instanceof DependencyUnavailableError) return e;
  if (!(e instanceof Error)) return null;
  if (PG_NO_CONNECTION.test(e.message))
    return new DependencyUnavailableError('postgres', 'no connection in time (pool busy or server slow)');
  const err = e as Error & { code?: unknown; meta?: { driverAdapterError?: { cause?: { kind?: string } } }; cause?: unknown };
  const name = err.constructor?.name ?? err.name;
  if (name === 'PrismaClientInitializationError') return new DependencyUnavailableError('postgres', 'cannot connect');
  if (name.startsWith('PrismaClient')) {
    const kind = err.meta?.driverAdapterError?.cause?.kind;
    if (kind && ADAPTER_OUTAGE_KINDS.has(kind)) return new DependencyUnavailableError('postgres', kind);
    if (typeof err.code === 'string' && PRISMA_OUTAGE_CODES.has(err.code)) return new DependencyUnavailableError('postgres', err.code);
    return null;
  }
  if (err.name === 'DriverAdapterError') {
    const kind = (err.cause as { kind?: string } | undefined)?.kind;
    return kind && ADAPTER_OUTAGE_KINDS.has(kind) ? new DependencyUnavailableError('postgres', kind) : null;
  }
  if (name === 'MaxRetriesPerRequestError' || REDIS_OUTAGE.test(err.message))
    return new DependencyUnavailableError('redis', 'not connected');
  return null;
}
