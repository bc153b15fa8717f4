// Prisma CLI config. The js engine with the pg driver adapter needs no downloaded engine binaries,
// so `prisma generate` and `prisma migrate diff` work offline.
import { PrismaPg } from '@prisma/adapter-pg';
import { defineConfig } from 'prisma/config';

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: 'prisma/schema.prisma',
  adapter: () =>
    Promise.resolve(new PrismaPg({ connectionString: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres' })),
});
