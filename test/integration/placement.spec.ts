import type { AgentView, AgentWork, JobView, ParticipationView, RoundView, TaskView } from '@flotilla/contracts';
import { BILEVEL_HANDLERS } from '../../apps/client-agent/src/tasks/bilevel';
import type { TaskContext } from '../../apps/client-agent/src/tasks/task-context';
import { call, floats, waitFor } from '../support/http';
import { startInProcessCoordinator, TEST_ADMIN_TOKEN, TEST_JOIN_TOKEN, type InProcessCoordinator } from '../support/in-process';

const ADMIN = TEST_ADMIN_TOKEN;
const P = 650; // softmax on digits

interface Registered {
  id: string;
  name: string;
  token: string;
}

/**
 * Placement against a real coordinator (in-process), PostgreSQL and Redis, with the test acting as agents over HTTP:
 * agents declare labels and report their backend; a job's agentSelector and backend decide which of them a round asks
 * and which get its tasks, every round and every task; bad labels are refused with a 400 that names them.
 */
describe('agent labels and job placement (coordinator in-process)', () => {
  let c: InProcessCoordinator;
  let base: string;

  beforeAll(async () => {
    c = await startInProcessCoordinator('placement');
    base = c.base;
  }, 60_000);
  afterAll(() => c?.stop());

  async function register(name: string, extra: Record<string, unknown> = {}): Promise<Registered> {
    const r = await call<{ agentId: string; agentSecret: string }>(base, 'POST', '/api/v1/agents/register', {
      json: { joinToken: TEST_JOIN_TOKEN, name, datasets: ['uci-digits'], ...extra },
    });
    if (r.status !== 201) throw new Error(`register ${name}: ${r.status} ${JSON.stringify(r.body)}`);
    return { id: r.body.agentId, name, token: `${r.body.agentId}.${r.body.agentSecret}` };
  }
  const heartbeat = (a: Registered, json: unknown) => call(base, 'POST', '/api/v1/agents/heartbeat', { token: a.token, json });
  const poll = (a: Registered) => call<AgentWork>(base, 'GET', '/api/v1/agents/me/work?waitMs=0', { token: a.token });
  const agents = async () => (await call<AgentView[]>(base, 'GET', '/api/v1/agents', { token: ADMIN })).body;
  const job = async (id: string) => (await call<JobView>(base, 'GET', `/api/v1/jobs/${id}`, { token: ADMIN })).body;
  const submit = async (json: unknown) => {
    const r = await call<JobView>(base, 'POST', '/api/v1/jobs', { token: ADMIN, json });
    if (r.status !== 201) throw new Error(`submit: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  type Refusal = { message: string; details: { fields: { field: string; message: string }[] } };

  it('refuses bad labels, selectors and backends with a 400 that names the label, and stores nothing', async () => {
    const bad = await call<Refusal>(base, 'POST', '/api/v1/agents/register', {
      json: { joinToken: TEST_JOIN_TOKEN, name: 'bad-labels', datasets: ['uci-digits'], labels: { gpu: 'true', 'bad key': 'x' } },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain("label 'bad key': the key's name must be");
    expect(bad.body.details.fields).toEqual([{ field: 'labels.bad key', message: expect.stringMatching(/^label 'bad key'/) }]);
    const badBackend = await call<Refusal>(base, 'POST', '/api/v1/agents/register', {
      json: { joinToken: TEST_JOIN_TOKEN, name: 'bad-backend', datasets: ['uci-digits'], backend: 'cuda' },
    });
    expect(badBackend.status).toBe(400);
    expect(badBackend.body.details.fields.map((f) => f.field)).toEqual(['backend']);
    expect(await agents()).toEqual([]);

    const ok = await register('ok', { labels: { gpu: 'true' } });
    const beat = await heartbeat(ok, { labels: { gpu: 'true', zone: 'eu west' } });
    expect(beat.status).toBe(400);
    expect((beat.body as Refusal).details.fields).toEqual([
      { field: 'labels.zone', message: expect.stringMatching(/^label 'zone': the value/) },
    ]);
    expect((await agents()).map((a) => a.labels)).toEqual([{ gpu: 'true' }]);

    const federated = { kind: 'federated', dataset: 'uci-digits', model: { arch: 'softmax' }, rounds: 1 };
    const badSelector = await call<Refusal>(base, 'POST', '/api/v1/jobs', {
      token: ADMIN,
      json: { ...federated, agentSelector: { 'example.com/': 'x' }, backend: 'gpu' },
    });
    expect(badSelector.status).toBe(400);
    expect(badSelector.body.details.fields.map((f) => f.field).sort()).toEqual(['agentSelector.example.com/', 'backend']);
    expect(badSelector.body.message).toContain("label 'example.com/': the key must not be empty");
    expect((await call<JobView[]>(base, 'GET', '/api/v1/jobs', { token: ADMIN })).body).toEqual([]);
    // Out of the way of the tests below: a revoked agent is never eligible.
    expect((await call(base, 'DELETE', `/api/v1/agents/${ok.id}`, { token: ADMIN })).status).toBe(200);
  });

  // The agents of the placement tests below: two with gpu=true, one with gpu=false, one without labels (an older agent).
  let g1: Registered;
  let g2: Registered;
  let cpu: Registered;
  let bare: Registered;

  it('a federated job asks only the agents that match its agentSelector, re-deciding every round as agents relabel', async () => {
    g1 = await register('g1', { labels: { gpu: 'true', region: 'eu' }, backend: 'tensorflow-gpu', device: 'gpu: NVIDIA H100 80GB HBM3' });
    g2 = await register('g2', { labels: { gpu: 'true' }, backend: 'wasm', device: 'cpu: test ×2' });
    cpu = await register('cpu', { labels: { gpu: 'false' }, backend: 'wasm' });
    bare = await register('bare');
    const listed = Object.fromEntries((await agents()).filter((a) => !a.revokedAt).map((a) => [a.name, [a.labels, a.backend, a.device]]));
    expect(listed).toEqual({
      g1: [{ gpu: 'true', region: 'eu' }, 'tensorflow-gpu', 'gpu: NVIDIA H100 80GB HBM3'],
      g2: [{ gpu: 'true' }, 'wasm', 'cpu: test ×2'],
      cpu: [{ gpu: 'false' }, 'wasm', null],
      bare: [{}, null, null],
    });

    const submitted = await submit({
      kind: 'federated',
      dataset: 'uci-digits',
      model: { arch: 'softmax' },
      rounds: 2,
      roundDeadlineMs: 60_000,
      minAgents: 3,
      agentSelector: { gpu: 'true' },
    });
    const jobId = submitted.id;
    expect(submitted.spec).toMatchObject({ agentSelector: { gpu: 'true' }, backend: null });
    expect(submitted.agents).toEqual({ online: 4, matching: 2 });
    expect(submitted.waiting).toBe(
      'waiting for agents: 2 of 3 required agents online match {gpu: "true"} for dataset uci-digits (4 online for it in all)',
    );

    // `bare` rejoins with gpu=true (restarted with a label): the third matching agent, and round 0 opens for the three.
    expect((await heartbeat(bare, { labels: { gpu: 'true' }, backend: 'wasm' })).status).toBe(204);
    const rounds = async () => (await call<RoundView[]>(base, 'GET', `/api/v1/jobs/${jobId}/rounds`, { token: ADMIN })).body;
    await waitFor('round 0 open', async () => (await rounds())[0]?.status === 'open');
    expect((await job(jobId)).waiting).toBeNull();
    expect((await rounds())[0].eligible).toBe(3);

    const update = (a: Registered, round: number) =>
      call(base, 'POST', `/api/v1/jobs/${jobId}/rounds/${round}/update?exampleCount=16&trainLoss=0.5&durationMs=3`, {
        token: a.token,
        raw: floats(new Float32Array(P).fill(1e-3)),
      });
    /** Every agent polls: the eligible ones get this round's train item, the others nothing. */
    const expectWork = async (round: number, eligible: Registered[], others: Registered[]) => {
      for (const a of eligible) {
        const w = await poll(a);
        expect([a.name, w.status, w.body.kind === 'train' ? w.body.train.round : null]).toEqual([a.name, 200, round]);
      }
      for (const a of others) expect([a.name, (await poll(a)).status]).toEqual([a.name, 204]);
    };

    await expectWork(0, [g1, g2, bare], [cpu]);
    expect((await update(cpu, 0)).status).toBe(403); // not asked
    expect((await update(g1, 0)).status).toBe(200);
    expect((await update(g2, 0)).status).toBe(200);
    // Between rounds: `cpu` now says gpu=true, `bare` gpu=false. Round 0 keeps whom it asked; round 1 asks anew.
    expect((await heartbeat(cpu, { labels: { gpu: 'true' } })).status).toBe(204);
    expect((await heartbeat(bare, { labels: { gpu: 'false' } })).status).toBe(204);
    expect((await update(bare, 0)).status).toBe(200);

    await waitFor('round 1 open', async () => (await rounds())[1]?.status === 'open');
    await expectWork(1, [g1, g2, cpu], [bare]);
    expect((await update(bare, 1)).status).toBe(403);
    for (const a of [g1, g2, cpu]) expect((await update(a, 1)).status).toBe(200);
    await waitFor('job completed', async () => (await job(jobId)).status === 'completed');

    // Every round's eligible agents, as the participation record has them: the matching ones of that round only.
    const p = (await call<ParticipationView>(base, 'GET', `/api/v1/jobs/${jobId}/participation`, { token: ADMIN })).body;
    const asked = (round: number) => p.agents.filter((_, i) => p.rounds.find((r) => r.round === round)!.row[i] !== null).sort();
    expect(asked(0)).toEqual([g1.id, g2.id, bare.id].sort());
    expect(asked(1)).toEqual([g1.id, g2.id, cpu.id].sort());
    expect((await rounds()).map((r) => [r.eligible, r.participants])).toEqual([
      [3, 3],
      [3, 3],
    ]);
    const done = await job(jobId);
    expect([done.agents, done.waiting]).toEqual([null, null]);
  });

  it("a bilevel job's tasks go only to agents matching its agentSelector and backend, a retry too; with none matching it says it waits", async () => {
    // Now: g1 {gpu, region} tensorflow-gpu, g2 {gpu} wasm, cpu {gpu} wasm, bare {gpu: false} wasm.
    const t1 = { kind: 'bilevel', problem: { kind: 'test-case', name: 'T1' }, iterations: 3, innerSteps: 5 };
    const none = await submit({ ...t1, agentSelector: { gpu: 'true' }, backend: 'tensorflow' });
    expect((await job(none.id)).waiting).toBe(
      'waiting for agents: 0 of 1 required agent online match {gpu: "true"} and backend tensorflow (4 online in all)',
    );
    expect((await job(none.id)).agents).toEqual({ online: 4, matching: 0 });
    expect((await call(base, 'POST', `/api/v1/jobs/${none.id}/cancel`, { token: ADMIN })).status).toBe(201);

    const submitted = await submit({ ...t1, agentSelector: { gpu: 'true' }, backend: 'wasm' });
    const jobId = submitted.id;
    expect([submitted.agents, submitted.waiting]).toEqual([{ online: 4, matching: 2 }, null]);
    const matching = new Set([g2.id, cpu.id]);
    const all = [g1, g2, cpu, bare];
    // The agents' own bilevel code computes the results (a test case needs no data file).
    const handlers = new Map(BILEVEL_HANDLERS);
    const ctx = { dataset: 'uci-digits', log: () => undefined } as unknown as TaskContext;
    let failedOne = false;
    const given: string[] = [];

    await waitFor(
      'bilevel job finished',
      async () => {
        for (const a of all) {
          const w = await poll(a);
          if (w.status === 204) continue;
          expect(w.body.kind).toBe('task');
          if (w.body.kind !== 'task') continue;
          const task = w.body.task;
          given.push(`${a.name}:${task.taskId}`);
          expect([a.name, matching.has(a.id)]).toEqual([a.name, true]);
          if (!failedOne) {
            // The first task fails on its agent: it must go to the other matching agent, not to an idle other one.
            failedOne = true;
            const f = await call(base, 'POST', `/api/v1/tasks/${task.taskId}/failure`, { token: a.token, json: { message: 'injected' } });
            expect(f.status).toBe(200);
            continue;
          }
          const result = await handlers.get(task.kind)!(task.payload, ctx);
          const r = await call(base, 'POST', `/api/v1/tasks/${task.taskId}/result`, { token: a.token, json: { result, durationMs: 1 } });
          expect(r.status).toBe(200);
        }
        const j = await job(jobId);
        return j.status !== 'running' && j;
      },
      60_000,
    );
    expect((await job(jobId)).status).toBe('completed');

    // Every task's agent, and every agent that failed one, is a matching one; the failed task went to the other.
    const tasks = (await call<TaskView[]>(base, 'GET', `/api/v1/jobs/${jobId}/tasks?limit=500`, { token: ADMIN })).body;
    expect(tasks.length).toBe(6); // 3 iterations × (y-chain, z-chain)
    for (const t of tasks) {
      expect([t.key, t.status, matching.has(t.agentId!)]).toEqual([t.key, 'done', true]);
      for (const f of t.failedAgentIds) expect([t.key, matching.has(f)]).toEqual([t.key, true]);
    }
    const retried = tasks.filter((t) => t.failedAgentIds.length > 0);
    expect(retried).toHaveLength(1);
    expect(retried[0].agentId).not.toBe(retried[0].failedAgentIds[0]);
    expect(given.length).toBe(7);
  });
});
