import type { Prisma } from '@prisma/client';

/**
 * A JSON-safe value as Prisma's Json input. The round trip through JSON text drops what JSON cannot hold
 * (undefined fields) and gives Prisma a plain value, whatever the declared type was (an interface has no index
 * signature, so Prisma's input type does not accept it directly).
 */
export function toJson(value: unknown): Prisma.InputJsonValue {
  return JSON.parse(JSON.stringify(value)) as Prisma.InputJsonValue;
}

/** A Prisma client or the transaction client of the caller's transaction. */
export type Db = Prisma.TransactionClient;
