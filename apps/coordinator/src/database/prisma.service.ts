import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '@prisma/client';
import { APP_CONFIG, type AppConfig } from '../config/config';

/** How long opening a database connection may take (the database down or unreachable: the query fails then). */
const DB_CONNECT_TIMEOUT_MS = 5_000;

/**
 * The Prisma client over the pg driver adapter (no Rust engine binaries needed). It disconnects in the last phase of
 * shutdown (`onApplicationShutdown`), after everything that writes to the database stopped in `onModuleDestroy`.
 */
@Injectable()
export class PrismaService extends PrismaClient implements OnApplicationShutdown {
  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    // A connection that cannot be had in this time (server away, or every pooled one busy) fails, and the API answers
    // 503 with Retry-After, instead of waiting for ever.
    super({
      adapter: new PrismaPg({
        connectionString: config.DATABASE_URL,
        connectionTimeoutMillis: DB_CONNECT_TIMEOUT_MS,
        max: config.DATABASE_POOL_MAX,
      }),
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.$disconnect();
  }
}
