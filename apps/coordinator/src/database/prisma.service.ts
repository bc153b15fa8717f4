import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '@prisma/client';
import { APP_CONFIG, type AppConfig } from '../config/config';

/** How long opening a database connection may take (the database down or unreachable: the query fails then). */
const DB_CONNECT_TIMEOUT_MS = 5_000;

/** The Prisma client over the pg driver adapter (no Rust engine binaries needed). */
@Injectable()
export class PrismaService extends PrismaClient implements OnModuleDestroy {
  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    // A connection that cannot be made in this time fails (the API answers 503) instead of waiting for ever.
    super({ adapter: new PrismaPg({ connectionString: config.DATABASE_URL, connectionTimeoutMillis: DB_CONNECT_TIMEOUT_MS }) });
  }

  async onModuleDestroy(): Promise<void> {
    await this.$disconnect();
  }
}
