import { Prisma } from '@prisma/client';
import { DependencyUnavailableError } from './errors';
import { outageOf } from './outage';

/** Which errors are outages (503 for callers, unlimited retries for control jobs) and which are not. */
describe('outageOf', () => {
  const prisma = (code: string, meta?: Record<string, unknown>) =>
    new Prisma.PrismaClientKnownRequestError('Invalid `prisma.x()` invocation', { code, clientVersion: '6', meta });

  it('names PostgreSQL for the driver adapter losing or not reaching the server, and for Prisma connection codes', () => {
    // What @prisma/adapter-pg throws with the server away (measured through a cut TCP proxy).
    for (const kind of ['ConnectionClosed', 'DatabaseNotReachable']) {
      const outage = outageOf(prisma('P2010', { driverAdapterError: { name: 'DriverAdapterError', cause: { kind } } }));
      expect(outage).toBeInstanceOf(DependencyUnavailableError);
      expect(outage).toMatchObject({ dependency: 'postgres', status: 503 });
    }
    expect(outageOf(prisma('P1001'))).toMatchObject({ dependency: 'postgres' });
    expect(outageOf(new Prisma.PrismaClientInitializationError('no server', '6'))).toMatchObject({ dependency: 'postgres' });
  });

  it('names PostgreSQL when no pooled connection came in time (a load peak): 503 with Retry-After, not 500', () => {
    // What a query gets through @prisma/adapter-pg with every connection of the pool busy past its connect timeout
    // (measured: a plain Error, no code, no meta).
    expect(outageOf(new Error('timeout exceeded when trying to connect'))).toMatchObject({ dependency: 'postgres', status: 503 });
    expect(outageOf(new Error('Connection terminated due to connection timeout'))).toMatchObject({ dependency: 'postgres' });
    expect(outageOf(new Error('a timeout exceeded when trying to connect to the moon'))).toBeNull();
  });

  it('names Redis for ioredis refusing a command while disconnected', () => {
    expect(outageOf(new Error("Stream isn't writeable and enableOfflineQueue options is false"))).toMatchObject({ dependency: 'redis' });
    expect(outageOf(new Error('Connection is closed.'))).toMatchObject({ dependency: 'redis' });
  });

  it('is null for what is not an outage: a constraint, a query error, a bug', () => {
    expect(outageOf(prisma('P2002'))).toBeNull();
    expect(
      outageOf(prisma('P2010', { driverAdapterError: { name: 'DriverAdapterError', cause: { kind: 'UniqueConstraintViolation' } } })),
    ).toBeNull();
    expect(outageOf(new TypeError("Cannot read properties of undefined (reading 'id')"))).toBeNull();
    expect(outageOf('a string')).toBeNull();
  });
});
