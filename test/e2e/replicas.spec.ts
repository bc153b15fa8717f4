import type { BilevelRunView, RoundView } from '@flotilla/contracts';
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { S3BlobStore } from '../../apps/coordinator/src/blobs/s3-blob-store';
import { RoundRobinProxy } from '../../scripts/lib/round-robin-proxy';
import { freePort, sleep, startPrivateRedis, type PrivateRedis } from '../../scripts/lib/services';
import { startAgentProcess, startCoordinatorProcess, type AgentProcess, type CoordinatorProcess } from '../../scripts/lib/stack';
import { expectExactAggregation } from '../support/aggregation';
import { DIGITS_FILE, T1_OPTIONS, reference } from '../support/bilevel';
import { coordinatorEnv, freshDatabase, uniquePrefix, type TestDatabase } from '../support/database';
import { call, waitFor } from '../support/http';
import { startS3, type TestS3 } from '../support/s3';
import { stopStack } from '../support/stack';

const REPLICAS = 3;
const AGENTS = 6;
const ROUNDS = 12;

/**
 * Coordinator replicas as an operator runs them: three processes sharing one PostgreSQL, one Redis and an S3 bucket
 * (s3rver), behind a round-robin HTTP proxy, so every call of every agent and of the test may land on any replica.
 * A federated job and a bilevel job run at once while one replica is SIGKILLed twice (once while a round's answers
 * arrive and its close runs, once two rounds later) and started again. Every round must be exactly the FedAU step of the updates it recorded,
 * every round's participation rows complete, and the bilevel iterates those of one process.
 */
describe('coordinator replicas behind a load balancer (real processes, S3 blobs)', () => {
  let db: TestDatabase;
  let redis: PrivateRedis;
  let s3: TestS3;
  let work: string;
  let env: Record<string, string>;
  let proxy: RoundRobinProxy;
  const ports: number[] = [];
  const replicas: (CoordinatorProcess | null)[] = [];
  const agents: AgentProcess[] = [];
  const prefix = uniquePrefix('replicas');

  const api = async <T>(method: string, p: string, json?: unknown): Promise<T> => {
    const r = await call<T>(proxy.url, method, p, { token: env.ADMIN_TOKEN, json });
    if (r.status >= 300) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const rounds = (jobId: string) => api<RoundView[]>('GET', `/api/v1/jobs/${jobId}/rounds`);
  /** Waits until the job's current round is at least `round` (fails with the rounds and every process's last lines). */
  const progressAtLeast = (jobId: string, round: number) =>
    waitFor(
      `round ${round} reached`,
      async () => (await api<{ currentRound: number }>('GET', `/api/v1/jobs/${jobId}`)).currentRound >= round,
      60_000,
    ).catch(async (e: Error) => {
      const state = (await rounds(jobId)).map((r) => `${r.round}:${r.status}:${r.participants}/${r.eligible}`).join(' ');
      throw new Error(`${e.message}\nrounds ${state}\n${logs()}\n${agents.map((x) => x.output.slice(-5).join('\n')).join('\n--\n')}`);
    });
  const logs = () => replicas.map((r, i) => `replica ${i}:\n${(r?.output ?? []).slice(-15).join('\n')}`).join('\n');
  const kill = async (i: number): Promise<void> => {
    const r = replicas[i]!;
    r.proc.kill('SIGKILL');
    await new Promise((resolve) => r.proc.once('exit', resolve));
    replicas[i] = null;
  };
  const restart = async (i: number): Promise<void> => {
    replicas[i] = await startCoordinatorProcess(env, ports[i]);
  };

  beforeAll(async () => {
    redis = await startPrivateRedis();
    db = await freshDatabase();
    s3 = await startS3();
    work = mkdtempSync(path.join(os.tmpdir(), 'flotilla-replicas-'));
    env = coordinatorEnv(db, redis, work, prefix, {
      ...s3.env,
      // Agents download models straight from the bucket (a redirect to a pre-signed URL), as an operator at scale would.
      S3_PRESIGNED_DOWNLOADS: 'true',
      AGENT_OFFLINE_AFTER_MS: '5000',
      RECONCILE_INTERVAL_MS: '1000',
      CONTROL_RETRY_MAX_MS: '1000',
      CONTROL_LOCK_MS: '3000',
      MIGRATE_ON_START: 'false',
    });
    for (let i = 0; i < REPLICAS; i++) ports.push(await freePort());
    for (let i = 0; i < REPLICAS; i++) replicas.push(await startCoordinatorProcess(env, ports[i]));
    proxy = await RoundRobinProxy.start(ports.map((p) => `http://127.0.0.1:${p}`));
    for (let i = 0; i < AGENTS; i++) {
      agents.push(
        startAgentProcess({
          name: `r-${i}`,
          coordinatorUrl: proxy.url,
          joinToken: env.JOIN_TOKEN,
          dataFile: DIGITS_FILE,
          heartbeatMs: 500,
          seed: i,
        }),
      );
    }
    await waitFor(
      `${AGENTS} agents online`,
      async () => (await api<{ online: boolean }[]>('GET', '/api/v1/agents')).filter((x) => x.online).length >= AGENTS,
      90_000,
    );
  }, 180_000);

  afterAll(async () => {
    await proxy?.close();
    for (const r of replicas) if (r) await stopStack({ agents: [], coordinator: r });
    await stopStack({ agents, redis, db, work });
    await s3?.stop();
  }, 90_000);

  it('runs a federated and a bilevel job to the same results while a replica is killed twice', async () => {
    const federated = await api<{ id: string }>('POST', '/api/v1/jobs', {
      kind: 'federated',
      dataset: 'uci-digits',
      model: { arch: 'softmax' },
      rounds: ROUNDS,
      localSteps: 3,
      batchSize: 16,
      localLr: 0.2,
      roundDeadlineMs: 4000,
      minAgents: 4,
      seed: 11,
    });
    const bilevelSpec = {
      kind: 'bilevel',
      problem: { kind: 'test-case', name: 'T1' },
      methods: ['penalty-single-loop'],
      seeds: [5],
      penalties: [{ kind: 'fixed', lambda: 20 }],
      iterations: 8,
      innerSteps: 10,
      stepX: 0.2,
      momentum: 0.5,
      taskTimeoutMs: 4000,
    };
    const bilevel = await api<{ id: string }>('POST', '/api/v1/jobs', bilevelSpec);

    // First kill: while round 1 is answered (its close comes when the last answer does, on whichever replica takes it).
    await progressAtLeast(federated.id, 1);
    await sleep(300);
    await kill(0);
    await restart(0);
    // Second kill: the replica just back, two rounds later, while the job goes on.
    const now = (await api<{ currentRound: number }>('GET', `/api/v1/jobs/${federated.id}`)).currentRound;
    await progressAtLeast(federated.id, now + 2);
    await kill(0);
    await sleep(1000);
    await restart(0);

    const finished = async (id: string) =>
      waitFor(
        `job ${id} finished`,
        async () => {
          const j = await api<{ status: string; error: string | null }>('GET', `/api/v1/jobs/${id}`);
          return j.status !== 'running' ? j : undefined;
        },
        120_000,
      ).catch((e: Error) => {
        throw new Error(`${e.message}\n${logs()}`);
      });
    expect(await finished(federated.id)).toMatchObject({ status: 'completed', error: null });
    expect(await finished(bilevel.id)).toMatchObject({ status: 'completed', error: null });

    // Every round exactly once, from the blobs in the bucket; every eligible agent has its participation row.
    const store = new S3BlobStore({
      bucket: s3.bucket,
      prefix: '',
      region: 'us-east-1',
      endpoint: s3.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
    try {
      await expectExactAggregation(db.url, (hash) => store.getFloat32(hash), federated.id, ROUNDS);
    } finally {
      store.close();
    }

    // The bilevel iterates are those of one process: no gradient lost or applied twice.
    const [run] = await api<BilevelRunView[]>('GET', `/api/v1/jobs/${bilevel.id}/bilevel`);
    expect(run.x).toEqual(reference({ kind: 'test-case', name: 'T1' }, 'penalty-single-loop', 5, T1_OPTIONS, 8).state.x);

    // The balancer spread the calls: every replica served some.
    expect(proxy.served.every((n) => n > 0)).toBe(true);
    expect(proxy.unserved).toBe(0); // two replicas were up at every moment: no call found none
    console.log(`replicas: requests served per replica ${proxy.served.join(', ')}; ${proxy.unserved} found none`);
  }, 300_000);
});
