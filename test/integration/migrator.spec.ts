import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { defaultMigrationsDir, migrate } from '../../apps/coordinator/src/database/migrator';
import { freshDatabase, type TestDatabase } from '../support/database';

describe('migrator (real PostgreSQL)', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await freshDatabase({ migrate: false });
  });
  afterEach(() => db.drop());

  it('applies every migration once and records it', async () => {
    const first = await migrate(db.url);
    expect(first).toEqual(readdirSync(defaultMigrationsDir()).sort());
    expect(first[0]).toBe('0001_init');
    expect(await migrate(db.url)).toEqual([]);
    const c = new Client({ connectionString: db.url });
    await c.connect();
    const tables = (await c.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)).rows.map(
      (r) => r.tablename,
    );
    await c.end();
    expect(tables).toEqual(
      expect.arrayContaining(['agents', 'jobs', 'rounds', 'participations', 'updates', 'checkpoints', 'client_states']),
    );
    expect(defaultMigrationsDir()).toMatch(/prisma[/\\]migrations$/);
  });

  it('leaves the database exactly as prisma/schema.prisma describes it (no drift)', async () => {
    // The schema's own DDL, as Prisma generates it, applied to a second fresh database.
    const fromSchema = await freshDatabase({ migrate: false });
    try {
      const root = path.resolve(__dirname, '../..');
      const ddl = execFileSync(
        process.execPath,
        [
          require.resolve('prisma/build/index.js', { paths: [root] }),
          'migrate',
          'diff',
          '--from-empty',
          '--to-schema-datamodel',
          'prisma/schema.prisma',
          '--script',
        ],
        { cwd: root, env: { ...process.env, DATABASE_URL: fromSchema.url }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
      );
      await migrate(db.url);
      const columns = async (url: string): Promise<string[]> => {
        const c = new Client({ connectionString: url });
        await c.connect();
        if (url === fromSchema.url) await c.query(ddl);
        const rows = (
          await c.query<{ row: string }>(
            `SELECT concat_ws(' ', table_name, column_name, data_type, is_nullable, column_default) AS row
               FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '_flotilla_migrations'`,
          )
        ).rows.map((r) => r.row);
        const indexes = (
          await c.query<{ row: string }>(
            `SELECT indexdef AS row FROM pg_indexes WHERE schemaname = 'public' AND tablename <> '_flotilla_migrations'`,
          )
        ).rows.map((r) => r.row);
        await c.end();
        return [...rows, ...indexes].sort();
      };
      expect(await columns(db.url)).toEqual(await columns(fromSchema.url));
    } finally {
      await fromSchema.drop();
    }
  }, 60_000);

  it('rolls back a failing migration and refuses one edited after it was applied', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mig-'));
    mkdirSync(path.join(dir, '0001_a'));
    writeFileSync(path.join(dir, '0001_a', 'migration.sql'), 'CREATE TABLE a (x int);');
    mkdirSync(path.join(dir, '0002_b'));
    writeFileSync(path.join(dir, '0002_b', 'migration.sql'), 'CREATE TABLE b (x int); SELECT * FROM missing_table;');
    await expect(migrate(db.url, dir)).rejects.toThrow(/0002_b failed/);
    const c = new Client({ connectionString: db.url });
    await c.connect();
    const tables = (
      await c.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)
    ).rows.map((r) => r.tablename);
    await c.end();
    expect(tables).toEqual(['_flotilla_migrations', 'a']); // b rolled back with its failing statement
    writeFileSync(path.join(dir, '0002_b', 'migration.sql'), 'CREATE TABLE b (x int);');
    writeFileSync(path.join(dir, '0001_a', 'migration.sql'), 'CREATE TABLE a (x bigint);');
    await expect(migrate(db.url, dir)).rejects.toThrow(/0001_a was changed/);
  });
});
