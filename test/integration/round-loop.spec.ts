import type { INestApplication } from '@nestjs/common';
import { startCoordinator } from '../../apps/coordinator/src/bootstrap';
import { loadConfig } from '../../apps/coordinator/src/config/config';
import { freshDatabase, TEST_REDIS_URL, uniquePrefix, type TestDatabase } from '../support/database';
import { call, floats, toFloat32, waitFor } from '../support/http';
import { deletePrefix } from '../support/redis';
import * as os from 'node:os';
import * as path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';

const ADMIN = 'admin-token-for-tests-0123456789';
const JOIN = 'join-token-for-tests-0123456789';
const P = 650; // softmax on digits: 64×10 weights + 10 biases

/**
 * The round state machine against real PostgreSQL and Redis, driven over real HTTP by the test
 * acting as two agents, so every FedAU weight and every model can be checked by hand.
 */
describe('round loop (coordinator in-process, real PostgreSQL + Redis)', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let base: string;
  let blobDir: string;
  const prefix = uniquePrefix('loop');

  beforeAll(async () => {
    db = await freshDatabase();
    blobDir = mkdtempSync(path.join(os.tmpdir(), 'flotilla-blobs-'));
    app = await startCoordinator(
      loadConfig({
        DATABASE_URL: db.url,
        REDIS_URL: TEST_REDIS_URL,
        ADMIN_TOKEN: ADMIN,
        JOIN_TOKEN: JOIN,
        PORT: '0',
        BLOB_DIR: blobDir,
        DATA_DIR: path.resolve(__dirname, '../../data'),
        QUEUE_PREFIX: prefix,
        LOG_LEVEL: 'error',
        MIGRATE_ON_START: 'false',
      }),
    );
    base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });

  afterAll(async () => {
    await app?.close();
    await deletePrefix(prefix);
    await db?.drop();
    rmSync(blobDir, { recursive: true, force: true });
  });

  async function register(name: string): Promise<string> {
    const r = await call<{ agentId: string; agentSecret: string }>(base, 'POST', '/api/v1/agents/register', {
      json: { joinToken: JOIN, name, datasets: ['uci-digits'] },
    });
    expect(r.status).toBe(201);
    return `${r.body.agentId}.${r.body.agentSecret}`;
  }

  async function roundOpen(jobId: string, round: number): Promise<void> {
    await waitFor(`round ${round} open`, async () => {
      const r = await call<{ round: number; status: string }[]>(base, 'GET', `/api/v1/jobs/${jobId}/rounds`, { token: ADMIN });
      return r.body.find((x) => x.round === round && x.status === 'open');
    });
  }

  async function model(jobId: string): Promise<Float32Array> {
    const r = await call<Uint8Array>(base, 'GET', `/api/v1/jobs/${jobId}/model`, { token: ADMIN });
    expect(r.status).toBe(200);
    return toFloat32(r.body);
  }

  async function roundClosed(jobId: string, round: number): Promise<void> {
    await waitFor(`round ${round} closed`, async () => {
      const r = await call<{ currentRound: number }>(base, 'GET', `/api/v1/jobs/${jobId}`, { token: ADMIN });
      return r.body.currentRound > round;
    });
  }

  const upload = (token: string, jobId: string, round: number, values: Float32Array | number[]) =>
    call(base, 'POST', `/api/v1/jobs/${jobId}/rounds/${round}/update?exampleCount=16&trainLoss=0.5&durationMs=3`, { token, raw: floats(values) });
  const decline = (token: string, jobId: string, round: number) =>
    call(base, 'POST', `/api/v1/jobs/${jobId}/rounds/${round}/decline`, { token, json: { reason: 'unavailable' } });

  // The three test agents (tokens), shared by the tests below in order.
  let a: string;
  let b: string;
  let c: string;

  it('aggregates with FedAU weights from earlier rounds, divides by N, and refuses bad input', async () => {
    a = await register('agent-a');
    b = await register('agent-b');

    const bad = await call<{ message: string; details: { fields: { field: string }[] } }>(base, 'POST', '/api/v1/jobs', {
      token: ADMIN,
      json: { kind: 'federated', dataset: 'uci-digits', model: { arch: 'softmax' }, rounds: 0, colour: 'red' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.details.fields.map((f) => f.field).sort()).toEqual(['(root)', 'rounds']);
    expect(bad.body.message).toMatch(/unknown field\(s\): colour/);
    expect((await call(base, 'POST', '/api/v1/jobs', { json: {} })).status).toBe(401);
    const unknownDataset = await call(base, 'POST', '/api/v1/jobs', {
      token: ADMIN,
      json: { kind: 'federated', dataset: 'no-such-data', model: { arch: 'softmax' }, rounds: 1 },
    });
    expect(unknownDataset.status).toBe(400);

    const submitted = await call<{ id: string; parameterCount: number }>(base, 'POST', '/api/v1/jobs', {
      token: ADMIN,
      json: { kind: 'federated', dataset: 'uci-digits', model: { arch: 'softmax' }, rounds: 3, roundDeadlineMs: 60_000, minAgents: 2 },
    });
    expect(submitted.status).toBe(201);
    const jobId = submitted.body.id;
    expect(submitted.body.parameterCount).toBe(P);
    const x0 = await model(jobId);

    const dA = new Float32Array(P).fill(0.01);
    const dB = Float32Array.from({ length: P }, (_, i) => -0.02 + i * 1e-5);

    // Round 0: A trains, B declines. No history yet, so both weights are 1 (spec §3.2 point 1).
    await roundOpen(jobId, 0);
    expect((await upload(a, jobId, 0, dA.subarray(1))).status).toBe(422); // wrong length
    const nan = new Float32Array(P).fill(0.1);
    nan[7] = NaN;
    const refused = await upload(a, jobId, 0, nan);
    expect(refused.status).toBe(422);
    expect(JSON.stringify(refused.body)).toMatch(/NaN|finite/i);
    expect((await upload('not-a-token', jobId, 0, dA)).status).toBe(401);
    expect((await upload(`${a.split('.')[0]}.wrongsecretwrongsecret`, jobId, 0, dA)).status).toBe(401);
    expect((await upload(a, '00000000-0000-4000-8000-000000000000', 0, dA)).status).toBe(404);
    expect((await upload(a, jobId, 0, dA)).body).toMatchObject({ status: 'accepted' });
    expect((await upload(a, jobId, 0, dA)).body).toMatchObject({ status: 'duplicate' }); // idempotent
    expect((await upload(a, jobId, 0, dB)).status).toBe(409); // a different second answer changes nothing
    // A latecomer is not eligible in the round that opened before it joined.
    c = await register('agent-c');
    expect((await upload(c, jobId, 0, dA)).status).toBe(403);
    expect((await decline(b, jobId, 0)).status).toBe(200);
    await roundClosed(jobId, 0);
    const x1 = await model(jobId);
    // x1 = x0 + γ·(1·dA)/N with N = 2 (divide by all clients, not by the one participant).
    for (const i of [0, 100, 649]) expect(x1[i]).toBeCloseTo(x0[i] + 0.01 / 2, 6);
    expect((await upload(b, jobId, 0, dB)).status).toBe(409); // round closed

    // Round 1: C is eligible now, so N = 3. A declines, B trains, C declines.
    // Weights: A recorded interval 1 → ω=1; B and C have no interval yet → ω=1.
    await roundOpen(jobId, 1);
    expect((await decline(a, jobId, 1)).status).toBe(200);
    expect((await upload(b, jobId, 1, dB)).status).toBe(200);
    expect((await decline(c, jobId, 1)).status).toBe(200);
    await roundClosed(jobId, 1);
    const x2 = await model(jobId);
    for (const i of [0, 100, 649]) expect(x2[i]).toBeCloseTo(x1[i] + dB[i] / 3, 6);

    // Round 2: A and B train. B's first participation (round 1) recorded interval 2 → ω_B = 2; ω_A = 1.
    await roundOpen(jobId, 2);
    expect((await upload(a, jobId, 2, dA)).status).toBe(200);
    expect((await upload(b, jobId, 2, dB)).status).toBe(200);
    expect((await decline(c, jobId, 2)).status).toBe(200);
    await roundClosed(jobId, 2);
    const x3 = await model(jobId);
    for (const i of [0, 100, 649]) expect(x3[i]).toBeCloseTo(x2[i] + (1 * dA[i] + 2 * dB[i]) / 3, 6);

    const job = await call<{ status: string; latestMetrics: { testAccuracy: number } }>(base, 'GET', `/api/v1/jobs/${jobId}`, { token: ADMIN });
    expect(job.body.status).toBe('completed');
    const rounds = await call<{ round: number; participants: number; weightMin: number; weightMax: number }[]>(base, 'GET', `/api/v1/jobs/${jobId}/rounds`, { token: ADMIN });
    expect(rounds.body.map((r) => r.participants)).toEqual([1, 1, 2]);
    expect(rounds.body[2]).toMatchObject({ weightMin: 1, weightMax: 2 });
    const part = await call<{ agents: string[]; rounds: { round: number; row: (number | null)[]; weights: (number | null)[] }[]; rates: number[] }>(
      base,
      'GET',
      `/api/v1/jobs/${jobId}/participation`,
      { token: ADMIN },
    );
    expect(part.body.rounds).toHaveLength(3);
    const idx = (t: string) => part.body.agents.indexOf(t.split('.')[0]);
    expect(part.body.rounds.map((r) => r.row[idx(a)])).toEqual([1, 0, 1]);
    expect(part.body.rounds.map((r) => r.row[idx(b)])).toEqual([0, 1, 1]);
    expect(part.body.rounds.map((r) => r.row[idx(c)])).toEqual([null, 0, 0]);
    expect(part.body.rounds[2].weights[idx(b)]).toBe(2);
  }, 60_000);

  it('keeps MIFA memories across rounds in blobs and applies them even when nobody participates', async () => {
    const submitted = await call<{ id: string }>(base, 'POST', '/api/v1/jobs', {
      token: ADMIN,
      json: { kind: 'federated', dataset: 'uci-digits', model: { arch: 'softmax' }, rounds: 4, roundDeadlineMs: 60_000, minAgents: 3, aggregation: { rule: 'mifa' } },
    });
    expect(submitted.status).toBe(201);
    const jobId = submitted.body.id;
    const x0 = await model(jobId);
    const dA = Float32Array.from({ length: P }, (_, i) => 0.001 * (i % 7));
    const dB = new Float32Array(P).fill(-0.004);
    const dA2 = new Float32Array(P).fill(0.02);
    // MIFA (spec fedau.md §5): for n ∈ S, M_n ← Δ_n; x += (1/N) Σ_all M_n, with N = 3 and M_n = 0 until n first participates.
    const play = async (round: number, uploads: [string, Float32Array][]): Promise<Float32Array> => {
      await roundOpen(jobId, round);
      for (const t of [a, b, c]) {
        const u = uploads.find(([who]) => who === t);
        expect((u ? await upload(t, jobId, round, u[1]) : await decline(t, jobId, round)).status).toBe(200);
      }
      await roundClosed(jobId, round);
      return model(jobId);
    };
    const x1 = await play(0, [[a, dA]]); // M = (dA, 0, 0)
    const x2 = await play(1, [[b, dB]]); // M = (dA, dB, 0)
    const x3 = await play(2, []); // nobody: the memories are applied again
    const x4 = await play(3, [[a, dA2]]); // A's memory is replaced: M = (dA2, dB, 0)
    for (const i of [0, 3, 6, 649]) {
      expect(x1[i]).toBeCloseTo(x0[i] + dA[i] / 3, 6);
      expect(x2[i]).toBeCloseTo(x1[i] + (dA[i] + dB[i]) / 3, 6);
      expect(x3[i]).toBeCloseTo(x2[i] + (dA[i] + dB[i]) / 3, 6);
      expect(x4[i]).toBeCloseTo(x3[i] + (dA2[i] + dB[i]) / 3, 6);
    }
    const rounds = await call<{ participants: number }[]>(base, 'GET', `/api/v1/jobs/${jobId}/rounds`, { token: ADMIN });
    expect(rounds.body.map((r) => r.participants)).toEqual([1, 1, 0, 1]);
  }, 60_000);

  it('refuses the simulation-only known-p rule and unknown rules, naming the field', async () => {
    for (const aggregation of [{ rule: 'known-p', p: {} }, { rule: 'fedau', cutoffK: 0 }, { rule: 'mifa', extra: 1 }]) {
      const r = await call<{ details: { fields: { field: string }[] } }>(base, 'POST', '/api/v1/jobs', {
        token: ADMIN,
        json: { kind: 'federated', dataset: 'uci-digits', model: { arch: 'softmax' }, rounds: 1, aggregation },
      });
      expect(r.status).toBe(400);
      expect(r.body.details.fields.map((f) => f.field).join(',')).toMatch(/aggregation/);
    }
  });

  it('rejects unauthenticated admin calls and unknown ids with clear errors', async () => {
    expect((await call(base, 'GET', '/api/v1/agents')).status).toBe(401);
    expect((await call(base, 'GET', '/api/v1/agents', { token: 'wrong-admin-token-000000' })).status).toBe(401);
    const notFound = await call<{ code: string; requestId: string }>(base, 'GET', '/api/v1/jobs/00000000-0000-4000-8000-000000000000', { token: ADMIN });
    expect(notFound.status).toBe(404);
    expect(notFound.body.requestId).toBeTruthy();
    expect((await call(base, 'GET', '/api/v1/jobs/not-a-uuid', { token: ADMIN })).status).toBe(400);
    expect((await call(base, 'POST', '/api/v1/agents/register', { json: { joinToken: 'nope', name: 'x', datasets: ['uci-digits'] } })).status).toBe(401);
    const health = await call<{ status: string }>(base, 'GET', '/health');
    expect(health.body.status).toBe('ok');
    const metrics = await fetch(`${base}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/flotilla_agents_online \d+/);
    const docs = await fetch(`${base}/api/docs-json`).then((r) => r.json() as Promise<{ paths: Record<string, unknown> }>);
    expect(Object.keys(docs.paths)).toEqual(expect.arrayContaining(['/api/v1/jobs', '/api/v1/agents/register']));
  });
});
