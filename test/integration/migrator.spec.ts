import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
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
    expect(first).toEqual(['0001_init']);
    expect(await migrate(db.url)).toEqual([]);
    const c = new Client({ connectionString: db.url });
    await c.connect();
    const tables = (await c.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)).rows.map((r) => r.tablename);
    await c.end();
    expect(tables).toEqual(expect.arrayContaining(['agents', 'jobs', 'rounds', 'participations', 'updates', 'checkpoints', 'client_states']));
    expect(defaultMigrationsDir()).toMatch(/prisma[/\\]migrations$/);
  });

  it('rolls back a failing migration and refuses one edited after it was applied', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mig-'));
    mkdirSync(path.join(dir, '0001_a'));
    writeFileSync(path.join(dir, '0001_a', 'migration.sql'), 'CREATE TABLE a (x int);');
    mkdirSync(path.join(dir, '0002_b'));
    writeFileSync(path.join(dir, '0002_b', 'migration.sql'), 'CREATE TABLE b (x int); SELECT * FROM missing_table;');
    await expect(migrate(db.url, dir)).rejects.toThrow(/0002_b failed/);
    const c = new Client({ connectionString: db.url });
    await c.connect();
    const tables = (await c.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)).rows.map((r) => r.tablename);
    await c.end();
    expect(tables).toEqual(['_flotilla_migrations', 'a']); // b rolled back with its failing statement
    writeFileSync(path.join(dir, '0002_b', 'migration.sql'), 'CREATE TABLE b (x int);');
    writeFileSync(path.join(dir, '0001_a', 'migration.sql'), 'CREATE TABLE a (x bigint);');
    await expect(migrate(db.url, dir)).rejects.toThrow(/0001_a was changed/);
  });
});
