import type { BilevelRunView, RoundView, TaskView } from '@flotilla/contracts';
import { mkdtempSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FaultProxy } from '../../scripts/lib/fault-proxy';
import { freePort, sleep, startPrivateRedis, type PrivateRedis } from '../../scripts/lib/services';
import { startAgentProcess, startCoordinatorProcess, type AgentProcess, type CoordinatorProcess } from '../../scripts/lib/stack';
import { expectExactAggregation, sqlRows } from '../support/aggregation';
import { DIGITS_FILE, T1_OPTIONS, reference } from '../support/bilevel';
import { coordinatorEnv, freshDatabase, uniquePrefix, type TestDatabase } from '../support/database';
import { call, toFloat32, waitFor } from '../support/http';
import { stopStack } from '../support/stack';

/** How long PostgreSQL is cut off in the outage scenario (the fault probe's outage). */
const PG_OUTAGE_MS = 20_000;

/**
 * Faults injected into a running system, each recovered from without anyone restarting anything: two coordinator
 * replicas (A and B) share a private Redis (no persistence) and a PostgreSQL reached through a TCP proxy the test cuts;
 * three agent processes talk to B. After each fault the job must finish, and every closed round must be exactly the
 * FedAU step of the updates it recorded (recomputed here from the blobs): nothing lost, nothing applied twice. The time
 * each recovery took is printed (not asserted: the machine is shared).
 */
describe('self-healing under faults (real processes)', () => {
  let db: TestDatabase;
  let redis: PrivateRedis;
  let pgProxy: FaultProxy;
  let work: string;
  let env: Record<string, string>;
  let a: CoordinatorProcess;
  let b: CoordinatorProcess;
  const agents: AgentProcess[] = [];
  const prefix = uniquePrefix('heal');
  const admin = () => env.ADMIN_TOKEN;
  const get = async <T>(p: string): Promise<T> => {
    const r = await call<T>(b.url, 'GET', p, { token: admin() });
    if (r.status !== 200) throw new Error(`GET ${p}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const rounds = (jobId: string) => get<RoundView[]>(`/api/v1/jobs/${jobId}/rounds`);
  // Straight to PostgreSQL (not through the proxy): the test reads what was written, whatever the proxy does.
  const sql = <T>(text: string, values: unknown[]): Promise<T[]> => sqlRows<T>(db.url, text, values);
  const finished = (jobId: string, timeoutMs: number) =>
    waitFor(
      `job ${jobId} finished`,
      async () => {
        const j = await get<{ status: string; error: string | null }>(`/api/v1/jobs/${jobId}`);
        return j.status !== 'running' ? j : undefined;
      },
      timeoutMs,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\ncoordinator B:\n${b.output.slice(-20).join('\n')}`);
    });
  const restartRedis = async (): Promise<void> => {
    await redis.stop();
    redis = await startPrivateRedis({ port: redis.port, password: redis.password });
  };
  const submitFederated = async (seed: number, roundDeadlineMs: number): Promise<string> => {
    const r = await call<{ id: string }>(b.url, 'POST', '/api/v1/jobs', {
      token: admin(),
      json: {
        kind: 'federated',
        dataset: 'uci-digits',
        model: { arch: 'softmax' },
        rounds: 4,
        localSteps: 3,
        batchSize: 16,
        localLr: 0.2,
        roundDeadlineMs,
        minAgents: 2,
        seed,
      },
    });
    expect(r.status).toBe(201);
    return r.body.id;
  };
  const roundOpen = (jobId: string, round: number) =>
    waitFor(`round ${round} open`, async () => (await rounds(jobId)).find((r) => r.round === round && r.status === 'open'), 30_000);
  const roundClosed = (jobId: string, round: number, timeoutMs: number) =>
    waitFor(`round ${round} closed`, async () => (await rounds(jobId)).find((r) => r.round === round && r.status === 'closed'), timeoutMs);

  const expectExact = (jobId: string) =>
    expectExactAggregation(
      db.url,
      (hash) => Promise.resolve(toFloat32(readFileSync(path.join(env.BLOB_DIR, hash.slice(0, 2), hash)))),
      jobId,
      4,
    );

  beforeAll(async () => {
    redis = await startPrivateRedis();
    db = await freshDatabase({ migrate: false });
    const direct = new URL(db.url);
    pgProxy = await FaultProxy.start({ host: direct.hostname, port: Number(direct.port || 5432) });
    const proxied = new URL(db.url);
    proxied.port = String(pgProxy.port);
    work = mkdtempSync(path.join(os.tmpdir(), 'flotilla-heal-'));
    env = coordinatorEnv(db, redis, work, prefix, {
      DATABASE_URL: proxied.toString(),
      AGENT_OFFLINE_AFTER_MS: '4000',
      RECONCILE_INTERVAL_MS: '1000',
      CONTROL_RETRY_MAX_MS: '1000',
    });
    a = await startCoordinatorProcess(env, await freePort());
    b = await startCoordinatorProcess(env, await freePort());
    for (let i = 0; i < 3; i++) {
      agents.push(
        startAgentProcess({ name: `h-${i}`, coordinatorUrl: b.url, joinToken: env.JOIN_TOKEN, dataFile: DIGITS_FILE, heartbeatMs: 500 }),
      );
    }
    await waitFor(
      '3 agents online',
      async () => (await get<{ online: boolean }[]>('/api/v1/agents')).filter((x) => x.online).length >= 3,
      60_000,
    );
  }, 120_000);

  afterAll(async () => {
    await stopStack({ agents, coordinator: a });
    await stopStack({ agents: [], coordinator: b });
    await pgProxy?.close();
    await stopStack({ agents: [], redis, db, work });
  }, 60_000);

  it('Redis restarted empty while an agent is silent: the open round still closes at its deadline', async () => {
    // Silent before the job starts (its heartbeats stop too), so it cannot have answered the round that waits for it:
    // its last heartbeat is fresh, so round 0 still counts it as online and asks it. (Stopping it after round 0 closed
    // raced round 1: a poll held open for it got round 1's work and it answered before the stop.) The deadline leaves
    // the two live agents' first round room on a loaded machine.
    const silent = agents[2];
    silent.proc.kill('SIGSTOP');
    const jobId = await submitFederated(1, 10_000);
    const open = await roundOpen(jobId, 0);
    await waitFor(
      'the two live agents answered round 0',
      async () => (await sql<{ n: string }>('SELECT count(*) AS n FROM updates WHERE job_id = $1 AND round = 0', [jobId]))[0].n === '2',
      20_000,
    ).catch(async (e: Error) => {
      const ups = await sql('SELECT agent_id, round, declined, rejected FROM updates WHERE job_id = $1', [jobId]);
      throw new Error(
        `${e.message}\n${JSON.stringify(ups)}\n${JSON.stringify(await rounds(jobId))}\nB:\n${b.output.slice(-30).join('\n')}\nA:\n${a.output.slice(-30).join('\n')}\n${agents.map((x) => x.output.slice(-8).join('\n')).join('\n--\n')}`,
      );
    });
    await restartRedis();
    const closed = await roundClosed(jobId, 0, 30_000);
    silent.proc.kill('SIGCONT');
    console.log(
      `recovery (Redis restart): round 0 closed ${Date.parse(closed.closedAt!) - Date.parse(open.deadlineAt)} ms after its deadline`,
    );
    const done = await finished(jobId, 60_000);
    expect(done).toMatchObject({ status: 'completed', error: null });
    const part = await sql<{ participated: boolean; absence: string | null }>(
      'SELECT participated, absence FROM participations p JOIN agents a ON a.id = p.agent_id WHERE p.job_id = $1 AND p.round = 0 AND a.name = $2',
      [jobId, silent.name],
    );
    expect(part).toEqual([{ participated: false, absence: 'timeout' }]);
    await expectExact(jobId);
  }, 120_000);

  it('PostgreSQL cut for 20 s mid-round: the API answers 503 naming it, and the job finishes once it is back', async () => {
    const jobId = await submitFederated(2, 3000);
    await roundOpen(jobId, 1);
    pgProxy.cut();
    const cutAt = Date.now();
    const health = await fetch(`${b.url}/health`);
    expect(health.status).toBe(503);
    expect(health.headers.get('retry-after')).toBeTruthy();
    const body = (await health.json()) as { status: string; postgres: string; redis: string };
    expect(body.status).toBe('unavailable');
    expect(body.postgres).toMatch(/^down: /);
    expect(body.redis).toBe('ok');
    const api = await fetch(`${b.url}/api/v1/jobs/${jobId}`, { headers: { authorization: `Bearer ${admin()}` } });
    expect(api.status).toBe(503);
    expect(api.headers.get('retry-after')).toBeTruthy();
    expect(((await api.json()) as { code: string }).code).toBe('dependency_unavailable');
    await sleep(PG_OUTAGE_MS - (Date.now() - cutAt));
    pgProxy.restore();
    const restoredAt = Date.now();
    await roundClosed(jobId, 1, 60_000);
    console.log(`recovery (PostgreSQL cut ${PG_OUTAGE_MS} ms): round 1 closed ${Date.now() - restoredAt} ms after it was back`);
    const done = await finished(jobId, 60_000);
    expect(done).toMatchObject({ status: 'completed', error: null });
    expect((await fetch(`${b.url}/health`)).status).toBe(200);
    await expectExact(jobId);
  }, 150_000);

  it('a coordinator replica SIGKILLed while rounds close: the other one finishes the job', async () => {
    const jobId = await submitFederated(3, 2500);
    const open = await roundOpen(jobId, 1);
    // At the deadline the close runs, on A or on B: A dies then (B takes over a close A held once its lock lapses).
    await sleep(Math.max(0, Date.parse(open.deadlineAt) - Date.now()));
    a.proc.kill('SIGKILL');
    const killedAt = Date.now();
    await new Promise((r) => a.proc.once('exit', r));
    await roundClosed(jobId, 1, 30_000);
    console.log(`recovery (coordinator SIGKILL at a close): round 1 closed ${Date.now() - killedAt} ms after the kill`);
    const done = await finished(jobId, 60_000);
    expect(done).toMatchObject({ status: 'completed', error: null });
    await expectExact(jobId);
  }, 120_000);

  it('an agent SIGKILLed holding a bilevel task, then Redis restarted empty: the task goes to another agent', async () => {
    // The first agent registered wins ties for the least busy agent: frozen, it is handed the first task and holds it.
    const listed = await get<{ id: string; name: string; online: boolean }[]>('/api/v1/agents');
    const holder = agents.find((x) => x.name === listed.filter((l) => l.online)[0].name)!;
    const holderId = listed.find((l) => l.name === holder.name)!.id;
    holder.proc.kill('SIGSTOP');
    const spec = {
      kind: 'bilevel',
      problem: { kind: 'test-case', name: 'T1' },
      methods: ['penalty-single-loop'],
      seeds: [3],
      penalties: [{ kind: 'fixed', lambda: 20 }],
      iterations: 6,
      innerSteps: 10,
      stepX: 0.2,
      momentum: 0.5,
      taskTimeoutMs: 3000,
    };
    const submitted = await call<{ id: string }>(b.url, 'POST', '/api/v1/jobs', { token: admin(), json: spec });
    expect(submitted.status).toBe(201);
    const jobId = submitted.body.id;
    const held = await waitFor(
      'a task running on the frozen agent',
      async () => (await get<TaskView[]>(`/api/v1/jobs/${jobId}/tasks?status=running`)).find((t) => t.agentId === holderId),
      20_000,
    );
    holder.proc.kill('SIGKILL');
    await restartRedis();
    const restartedAt = Date.now();
    const done = await finished(jobId, 60_000);
    console.log(`recovery (agent SIGKILL + Redis restart): bilevel job finished ${Date.now() - restartedAt} ms after the restart`);
    expect(done).toMatchObject({ status: 'completed', error: null });

    const tasks = await get<TaskView[]>(`/api/v1/jobs/${jobId}/tasks`);
    expect(tasks).toHaveLength(6);
    expect(tasks.every((t) => t.status === 'done')).toBe(true);
    const moved = tasks.find((t) => t.id === held.id)!;
    expect(moved.failedAgentIds).toContain(holderId);
    expect(moved.agentId).not.toBe(holderId);
    // The iterates are exactly those of one process: no gradient lost or applied twice.
    const [run] = await get<BilevelRunView[]>(`/api/v1/jobs/${jobId}/bilevel`);
    expect(run.x).toEqual(reference({ kind: 'test-case', name: 'T1' }, 'penalty-single-loop', 3, T1_OPTIONS, 6).state.x);
  }, 120_000);
});
