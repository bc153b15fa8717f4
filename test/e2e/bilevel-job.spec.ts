import { totalOracleCalls, type BilevelMethod, type DistributedBilevelOptions } from '@flotilla/algorithms';
import type { BilevelRunView, JobView, TaskView } from '@flotilla/contracts';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, startPrivateRedis, type PrivateRedis } from '../../scripts/lib/services';
import { startAgentProcess, startCoordinatorProcess, type AgentProcess, type CoordinatorProcess } from '../../scripts/lib/stack';
import { coordinatorEnv, freshDatabase, uniquePrefix, type TestDatabase } from '../support/database';
import { DIGITS, DIGITS_FILE, T1_OPTIONS, expectReferenceRun, expectSameCurve, reference } from '../support/bilevel';
import { call, toFloat32, waitFor } from '../support/http';
import { stopStack } from '../support/stack';

/**
 * Bilevel jobs on real agent processes (issue #5): the coordinator owns x and λ, agents run the y- and z-chains;
 * a distributed run must take exactly the steps of the in-process reference, also when an agent dies holding a
 * task and when the coordinator is SIGKILLed mid-run.
 */
describe('bilevel jobs (real processes)', () => {
  let db: TestDatabase;
  let redis: PrivateRedis;
  let work: string;
  let port: number;
  let env: Record<string, string>;
  let coordinator: CoordinatorProcess;
  const agents: AgentProcess[] = [];
  const prefix = uniquePrefix('bilevel');
  const admin = () => env.ADMIN_TOKEN;
  const base = () => coordinator.url;
  const job = async (id: string) => (await call<JobView>(base(), 'GET', `/api/v1/jobs/${id}`, { token: admin() })).body;
  const finished = (id: string, ms: number) =>
    waitFor(
      `job ${id} finished`,
      async () => {
        const j = await job(id);
        return j.status !== 'running' && j;
      },
      ms,
    );

  beforeAll(async () => {
    redis = await startPrivateRedis();
    db = await freshDatabase({ migrate: false });
    work = mkdtempSync(path.join(os.tmpdir(), 'flotilla-bilevel-'));
    port = await freePort();
    env = coordinatorEnv(db, redis, work, prefix, { AGENT_OFFLINE_AFTER_MS: '4000' });
    coordinator = await startCoordinatorProcess(env, port);
  }, 60_000);

  afterAll(() => stopStack({ agents, coordinator, redis, db, work }));

  it('refuses invalid bilevel jobs with field errors', async () => {
    const bad = [
      { kind: 'bilevel', problem: { kind: 'test-case', name: 'T9' } },
      { kind: 'bilevel', problem: { kind: 'test-case', name: 'T1' }, methods: ['sgd'] },
      { kind: 'bilevel', problem: { kind: 'test-case', name: 'T1' }, penalties: [{ kind: 'linear', start: 1, end: 10, steps: 0 }] },
      { kind: 'bilevel', problem: { kind: 'hyper-cleaning', dataset: 'no-such-data' } },
      {
        kind: 'bilevel',
        problem: { kind: 'test-case', name: 'T1' },
        seeds: Array.from({ length: 16 }, (_, i) => i),
        penalties: [1, 2, 3, 4, 5].map((l) => ({ kind: 'fixed', lambda: l })),
      },
    ];
    const messages: string[] = [];
    for (const json of bad) {
      const r = await call<{ message: string; details?: unknown }>(base(), 'POST', '/api/v1/jobs', { token: admin(), json });
      expect(r.status).toBe(400);
      messages.push(JSON.stringify(r.body));
    }
    expect(messages[1]).toContain('methods');
    expect(messages[3]).toContain('no-such-data');
    expect(messages[4]).toContain('at most 64 runs');
  });

  it('a test-case job completes on agents, retrying the tasks of a hung agent on live ones, with exactly the in-process iterates', async () => {
    // A hung agent: it registered first (so it wins ties for the least busy agent), heartbeats, and never consumes
    // its queue. Every task given to it must time out and go to a live agent.
    const dataHash = createHash('sha256').update(DIGITS).digest('hex');
    const dead = await call<{ agentId: string; agentSecret: string }>(base(), 'POST', '/api/v1/agents/register', {
      json: { joinToken: env.JOIN_TOKEN, name: 'hung', datasets: ['uci-digits'], datasetHashes: { 'uci-digits': dataHash } },
    });
    expect(dead.status).toBe(201);
    const beat = () =>
      fetch(`${base()}/api/v1/agents/heartbeat`, {
        method: 'POST',
        headers: { authorization: `Bearer ${dead.body.agentId}.${dead.body.agentSecret}`, 'content-type': 'application/json' },
        body: '{}',
      }).catch(() => undefined);
    const heartbeat = setInterval(() => void beat(), 500);
    for (const name of ['b-0', 'b-1']) {
      agents.push(
        startAgentProcess({
          name,
          coordinatorUrl: base(),
          joinToken: env.JOIN_TOKEN,
          dataFile: DIGITS_FILE,
          heartbeatMs: 500,
        }),
      );
    }
    await waitFor(
      '3 agents online',
      async () =>
        (await call<{ online: boolean }[]>(base(), 'GET', '/api/v1/agents', { token: admin() })).body.filter((a) => a.online).length >= 3,
      60_000,
    );

    const spec = {
      kind: 'bilevel',
      problem: { kind: 'test-case', name: 'T1' },
      methods: ['penalty-double-loop', 'penalty-single-loop', 'v-pbgd', 'f2sa'],
      seeds: [3],
      penalties: [{ kind: 'fixed', lambda: 20 }],
      iterations: 6,
      innerSteps: 10,
      stepX: 0.2,
      momentum: 0.5,
      taskTimeoutMs: 1500,
    };
    const submitted = await call<JobView>(base(), 'POST', '/api/v1/jobs', { token: admin(), json: spec });
    expect(submitted.status).toBe(201);
    expect(submitted.body.kind).toBe('bilevel');
    // Then it stops heartbeating too (a crash): after AGENT_OFFLINE_AFTER_MS it is no longer given tasks.
    setTimeout(() => clearInterval(heartbeat), 2000);
    const done = await finished(submitted.body.id, 60_000);
    expect(done.error).toBeNull();
    expect(done.status).toBe('completed');

    const runs = (await call<BilevelRunView[]>(base(), 'GET', `/api/v1/jobs/${done.id}/bilevel`, { token: admin() })).body;
    expect(runs.map((r) => [r.method, r.status, r.iteration, r.stopReason])).toEqual(
      ['penalty-double-loop', 'penalty-single-loop', 'v-pbgd', 'f2sa'].map((m) => [m, 'completed', 6, 'max-iterations']),
    );
    for (const r of runs) {
      expectReferenceRun(r, { kind: 'test-case', name: 'T1' }, 3, T1_OPTIONS, 6);
      // T1: x* = ½; after 6 steps at λ = 20 every method has moved x from x₀ = 2 towards it.
      expect(r.errorToSolution).toBeLessThan(1.5);
      expect(r.curve).toHaveLength(6);
    }

    const tasks = (await call<TaskView[]>(base(), 'GET', `/api/v1/jobs/${done.id}/tasks`, { token: admin() })).body;
    expect(tasks).toHaveLength((2 + 1 + 1 + 2) * 6); // chain rounds: y and z tasks; gradient rounds: one task
    expect(tasks.every((t) => t.status === 'done')).toBe(true);
    const retried = tasks.filter((t) => t.failedAgentIds.includes(dead.body.agentId));
    expect(retried.length).toBeGreaterThan(0);
    for (const t of retried) {
      expect(t.attempt).toBeGreaterThanOrEqual(2);
      expect(t.agentId).not.toBe(dead.body.agentId);
      expect(t.error).toBeNull();
    }
    // y and z of the same iteration ran on both live agents at least once.
    const byIteration = new Map<string, Set<string>>();
    for (const t of tasks) {
      const k = t.key.replace(/\.[yz]$/, '');
      byIteration.set(k, (byIteration.get(k) ?? new Set()).add(t.agentId!));
    }
    expect([...byIteration.values()].some((s) => s.size === 2)).toBe(true);
  }, 90_000);

  it('a hyper-cleaning sweep resumes after a coordinator SIGKILL and ends on the same iterates as one process', async () => {
    const problem = {
      kind: 'hyper-cleaning',
      dataset: 'uci-digits',
      trainSize: 300,
      validationSize: 150,
      testSize: 200,
      corruptFraction: 0.5,
      l2: 1e-3,
      dataSeed: 1,
    } as const;
    const iterations = 40;
    const spec = {
      kind: 'bilevel',
      problem,
      methods: ['penalty-double-loop', 'f2sa'],
      seeds: [0],
      penalties: [{ kind: 'fixed', lambda: 5 }],
      iterations,
      innerSteps: 5,
      stepX: 1000,
      stepY: 1,
      stepZ: 1,
    };
    // The previous test's hung agent must count as offline first: a task it were handed would wait out the default
    // 60 s task timeout (this test is about the coordinator's crash, not the agent's).
    await waitFor(
      'only the two live agents online',
      async () =>
        (await call<{ online: boolean }[]>(base(), 'GET', '/api/v1/agents', { token: admin() })).body.filter((a) => a.online).length === 2,
      30_000,
    );
    const submitted = await call<JobView>(base(), 'POST', '/api/v1/jobs', { token: admin(), json: spec });
    expect(submitted.status).toBe(201);
    const id = submitted.body.id;
    await waitFor('a few outer iterations', async () => (await job(id)).progress.done >= 3, 60_000);
    coordinator.proc.kill('SIGKILL');
    await new Promise((r) => coordinator.proc.once('exit', r));
    coordinator = await startCoordinatorProcess(env, port);
    const done = await finished(id, 120_000);
    expect(done.error).toBeNull();
    expect(done.status).toBe('completed');
    const killedAt = (await call<TaskView[]>(base(), 'GET', `/api/v1/jobs/${id}/tasks`, { token: admin() })).body;
    expect(killedAt).toHaveLength(2 * 2 * iterations);

    const runs = (await call<BilevelRunView[]>(base(), 'GET', `/api/v1/jobs/${id}/bilevel`, { token: admin() })).body;
    const options: DistributedBilevelOptions = {
      penalty: { kind: 'fixed', lambda: 5 },
      innerSteps: 5,
      stepX: 1000,
      stepY: 1,
      stepZ: 1,
      stepScaling: 'inverse-one-plus',
    };
    for (const r of runs) {
      const ref = reference(problem, r.method as BilevelMethod, 0, options, iterations);
      expect(r.curve.map((p) => p.iteration)).toEqual(Array.from({ length: iterations }, (_, i) => i + 1));
      expectSameCurve(
        r.curve.map((p) => p.gradXNorm),
        ref.gradXNorms,
      );
      expect(r.oracleCalls).toBe(totalOracleCalls(ref.state.oracleCalls));
      expect(r.x).toBeNull(); // dim(x) = 300 rows: reported through the cleaner metrics instead
      expect(r.cleaner!.f1).toBeGreaterThan(0);
      expect(r.testAccuracy).toBeGreaterThan(0.5);
    }
    // The job's model is run 0's lower-level softmax regression y, (64 + 1) × 10 float32 parameters: exactly the
    // reference's y after the same 40 iterations, although the coordinator was killed in between.
    const model = await call<Uint8Array>(base(), 'GET', `/api/v1/jobs/${id}/model`, { token: admin() });
    const ref0 = reference(problem, 'penalty-double-loop', 0, options, iterations);
    expect(toFloat32(model.body)).toEqual(Float32Array.from(ref0.state.y));
  }, 180_000);

  it('a task that fails on every agent fails the job with the agent’s reason', async () => {
    const spec = {
      kind: 'bilevel',
      problem: { kind: 'hyper-cleaning', dataset: 'uci-digits', trainSize: 5000, validationSize: 10, testSize: 10 },
      iterations: 2,
      taskTimeoutMs: 5000,
    };
    const submitted = await call<JobView>(base(), 'POST', '/api/v1/jobs', { token: admin(), json: spec });
    expect(submitted.status).toBe(201);
    const done = await finished(submitted.body.id, 60_000);
    expect(done.status).toBe('failed');
    expect(done.error).toMatch(/needs 5020 rows .* has 1797/);
    const tasks = (await call<TaskView[]>(base(), 'GET', `/api/v1/jobs/${done.id}/tasks`, { token: admin() })).body;
    expect(tasks.some((t) => t.status === 'failed' && t.attempt === 3)).toBe(true);
  }, 90_000);
});
