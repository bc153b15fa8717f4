import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Agent as UndiciAgent, fetch as undiciFetch } from 'undici';
import { freePort, startPrivateRedis, stopProcess, type PrivateRedis } from '../../scripts/lib/services';
import {
  ROOT,
  startAgentProcess,
  startCoordinatorProcess,
  writeDigitsShards,
  type AgentProcess,
  type CoordinatorProcess,
} from '../../scripts/lib/stack';
import { coordinatorEnv, freshDatabase, uniquePrefix, type TestDatabase } from '../support/database';
import { waitFor } from '../support/http';
import { stopStack } from '../support/stack';

const PROXY = path.join(ROOT, 'scripts', 'dist', 'lib', 'reverse-proxy.js');
const JOB = {
  kind: 'federated',
  dataset: 'uci-digits',
  model: { arch: 'softmax' },
  rounds: 3,
  localSteps: 5,
  roundDeadlineMs: 20_000,
  minAgents: 2,
};

/** A self-signed certificate for localhost and 127.0.0.1, made now (no key is committed). */
async function selfSignedCertificate(dir: string): Promise<{ cert: string; key: string }> {
  const selfsigned = require('selfsigned') as {
    generate(attrs: object[], opts: object): Promise<{ cert: string; private: string }>;
  };
  const pems = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    days: 1,
    keySize: 2048,
    extensions: [
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
      { name: 'basicConstraints', cA: true },
    ],
  });
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  writeFileSync(cert, pems.cert);
  writeFileSync(key, pems.private, { mode: 0o600 });
  return { cert, key };
}

/**
 * Agents reach the coordinator over HTTP(S) alone: a federated job over HTTPS with a private CA, and one through a
 * reverse proxy that forwards nothing but the coordinator's port. Redis has a password only the coordinators know,
 * and no agent process gets any Redis or database address. Nothing secret appears in any process's output.
 */
describe('agent transport: HTTPS, a reverse proxy, and a Redis only the coordinator knows', () => {
  let redis: PrivateRedis;
  const dbs: TestDatabase[] = [];
  let work: string;
  const coordinators: CoordinatorProcess[] = [];
  const agents: AgentProcess[] = [];
  let proxy: ChildProcess | undefined;
  let files: string[];

  beforeAll(async () => {
    redis = await startPrivateRedis();
    work = mkdtempSync(path.join(os.tmpdir(), 'flotilla-transport-'));
    ({ files } = writeDigitsShards(work, 2, { alpha: 1.0, seed: 4, minPerClient: 50 }));
  }, 60_000);

  afterAll(async () => {
    if (proxy) await stopProcess(proxy);
    await stopStack({ agents, redis, work });
    for (const c of coordinators) await stopProcess(c.proc);
    for (const db of dbs) await db.drop();
  }, 60_000);

  async function coordinator(tag: string, extra: Record<string, string>): Promise<CoordinatorProcess> {
    const db = await freshDatabase({ migrate: false });
    dbs.push(db);
    const c = await startCoordinatorProcess(
      coordinatorEnv(db, redis, path.join(work, tag), uniquePrefix(tag), { LOG_LEVEL: 'debug', ...extra }),
      await freePort(),
    );
    coordinators.push(c);
    return c;
  }

  /** Submits the job at `url`, waits until it ends, returns it. */
  async function runJob(url: string, adminToken: string, dispatcher?: UndiciAgent) {
    const api = async <T>(method: string, p: string, body?: unknown): Promise<T> => {
      const res = await undiciFetch(`${url}/api/v1${p}`, {
        method,
        dispatcher,
        headers: { authorization: `Bearer ${adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      return (await res.json()) as T;
    };
    const job = await api<{ id: string }>('POST', '/jobs', JOB);
    return waitFor(
      `job ${job.id} ended`,
      async () => {
        const j = await api<{ status: string; progress: { done: number }; latestMetrics: unknown }>('GET', `/jobs/${job.id}`);
        return j.status === 'running' ? undefined : j;
      },
      90_000,
    );
  }

  it('runs a federated job over HTTPS with agents that trust a private CA (--ca-file); an agent without it cannot join', async () => {
    const { cert, key } = await selfSignedCertificate(work);
    const c = await coordinator('tls', { TLS_CERT_FILE: cert, TLS_KEY_FILE: key });
    expect(c.url).toMatch(/^https:\/\//);
    files.forEach((f, i) =>
      agents.push(
        startAgentProcess({
          name: `tls-${i}`,
          coordinatorUrl: c.url,
          joinToken: c.joinToken,
          dataFile: f,
          caFile: cert,
          identityFile: path.join(work, `tls-${i}.identity.json`),
          heartbeatMs: 500,
        }),
      ),
    );
    const untrusting = startAgentProcess({ name: 'no-ca', coordinatorUrl: c.url, joinToken: c.joinToken, dataFile: files[0] });
    agents.push(untrusting);

    const tls = new UndiciAgent({ connect: { ca: readFileSync(cert) } });
    const done = await runJob(c.url, c.adminToken, tls);
    await tls.close();
    expect(done).toMatchObject({ status: 'completed', progress: { done: 3 } });
    await waitFor('the agent without the CA to give up', () => Promise.resolve(untrusting.proc.exitCode !== null), 30_000);
    expect(untrusting.proc.exitCode).toBe(1);
    expect(untrusting.output.join('\n')).toMatch(/certificate|fetch failed/i);
    // Plain HTTP to an HTTPS coordinator is refused (no silent downgrade).
    await expect(fetch(c.url.replace('https:', 'http:') + '/health')).rejects.toThrow();
  }, 150_000);

  it('runs a federated job through a reverse proxy that forwards only the coordinator port', async () => {
    const c = await coordinator('proxied', { TRUST_PROXY: 'loopback' });
    const port = await freePort();
    proxy = spawn(process.execPath, [PROXY, '--listen', String(port), '--target', c.url], { stdio: 'ignore' });
    const proxied = `http://127.0.0.1:${port}`;
    await waitFor('the proxy', async () => (await fetch(`${proxied}/health`).catch(() => null))?.ok, 10_000);
    files.forEach((f, i) =>
      agents.push(
        startAgentProcess({
          name: `proxied-${i}`,
          coordinatorUrl: proxied,
          joinToken: c.joinToken,
          dataFile: f,
          identityFile: path.join(work, `proxied-${i}.identity.json`),
          heartbeatMs: 500,
        }),
      ),
    );
    const done = await runJob(proxied, c.adminToken);
    expect(done).toMatchObject({ status: 'completed', progress: { done: 3 } });
  }, 150_000);

  it('never writes a secret to any process output: agent secrets, join and admin tokens, the Redis password', () => {
    const secrets = [
      redis.password,
      ...coordinators.flatMap((c) => [c.joinToken, c.adminToken]),
      ...['tls-0', 'tls-1', 'proxied-0', 'proxied-1'].map(
        (n) => (JSON.parse(readFileSync(path.join(work, `${n}.identity.json`), 'utf8')) as { agentSecret: string }).agentSecret,
      ),
    ];
    expect(secrets.every((s) => s.length >= 16)).toBe(true);
    const outputs = [...coordinators.map((c) => c.output.join('\n')), ...agents.map((a) => a.output.join('\n'))];
    // The logs are not empty (LOG_LEVEL=debug): the check below looks at something.
    expect(outputs.join('\n').length).toBeGreaterThan(1000);
    for (const out of outputs) for (const s of secrets) expect(out.includes(s)).toBe(false);
  });
});
