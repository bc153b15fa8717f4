import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import { BLOB_REFERENCING_TABLES, TABLES_WITHOUT_BLOBS, type BlobSweepReport } from '../../apps/coordinator/src/blobs/blob-gc.service';
import { FsBlobStore } from '../../apps/coordinator/src/blobs/fs-blob-store';
import { call, floats, toFloat32, waitFor } from '../support/http';
import { startInProcessCoordinator, TEST_ADMIN_TOKEN, TEST_JOIN_TOKEN, type InProcessCoordinator } from '../support/in-process';

const ADMIN = TEST_ADMIN_TOKEN;
const JOIN = TEST_JOIN_TOKEN;
const P = 650; // softmax on digits: 64×10 weights + 10 biases

/**
 * The round state machine against real PostgreSQL and Redis, driven over real HTTP by the test
 * acting as two agents, so every FedAU weight and every model can be checked by hand.
 */
describe('round loop (coordinator in-process, real PostgreSQL + Redis)', () => {
  let coordinator: InProcessCoordinator;
  let base: string;
  let blobDir: string;

  beforeAll(async () => {
    coordinator = await startInProcessCoordinator('loop');
    ({ base, blobDir } = coordinator);
  });

  afterAll(() => coordinator?.stop());

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
    call(base, 'POST', `/api/v1/jobs/${jobId}/rounds/${round}/update?exampleCount=16&trainLoss=0.5&durationMs=3`, {
      token,
      raw: floats(values),
    });
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

    // Round 0: A trains, B declines. No history yet, so both weights are 1 (docs/algorithms/fedau.md §2.3, item 1).
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
    expect((await upload(a, jobId, 0, dA)).body).toMatchObject({ status: 'accepted' }); // a retry gets the first answer
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

    const job = await call<{ status: string; latestMetrics: { testAccuracy: number } }>(base, 'GET', `/api/v1/jobs/${jobId}`, {
      token: ADMIN,
    });
    expect(job.body.status).toBe('completed');
    const rounds = await call<{ round: number; participants: number; weightMin: number; weightMax: number }[]>(
      base,
      'GET',
      `/api/v1/jobs/${jobId}/rounds`,
      { token: ADMIN },
    );
    expect(rounds.body.map((r) => r.participants)).toEqual([1, 1, 2]);
    expect(rounds.body[2]).toMatchObject({ weightMin: 1, weightMax: 2 });
    const part = await call<{
      agents: string[];
      rounds: { round: number; row: (number | null)[]; weights: (number | null)[] }[];
      rates: number[];
    }>(base, 'GET', `/api/v1/jobs/${jobId}/participation`, { token: ADMIN });
    expect(part.body.rounds).toHaveLength(3);
    const idx = (t: string) => part.body.agents.indexOf(t.split('.')[0]);
    expect(part.body.rounds.map((r) => r.row[idx(a)])).toEqual([1, 0, 1]);
    expect(part.body.rounds.map((r) => r.row[idx(b)])).toEqual([0, 1, 1]);
    expect(part.body.rounds.map((r) => r.row[idx(c)])).toEqual([null, 0, 0]);
    expect(part.body.rounds[2].weights[idx(b)]).toBe(2);

    // Pages: rounds 1–2 only, and agent B alone; its rate still counts every round it was asked in (2 of 3).
    const page = await call<{ agents: string[]; rounds: { round: number; row: (number | null)[] }[]; rates: number[] }>(
      base,
      'GET',
      `/api/v1/jobs/${jobId}/participation?offset=1&limit=2&agentOffset=${idx(b)}&agentLimit=1`,
      { token: ADMIN },
    );
    expect(page.status).toBe(200);
    expect(page.headers?.get('x-total-count')).toBe('3');
    expect(page.headers?.get('x-total-agents')).toBe('3');
    expect(page.body.agents).toEqual([b.split('.')[0]]);
    expect(page.body.rounds.map((r) => [r.round, r.row])).toEqual([
      [1, [1]],
      [2, [1]],
    ]);
    expect(page.body.rates).toEqual([2 / 3]);
    const roundPage = await call<{ round: number }[]>(base, 'GET', `/api/v1/jobs/${jobId}/rounds?offset=2&limit=5`, { token: ADMIN });
    expect(roundPage.body.map((r) => r.round)).toEqual([2]);
    expect(roundPage.headers?.get('x-total-count')).toBe('3');
    const agentPage = await call<{ id: string }[]>(base, 'GET', '/api/v1/agents?limit=2&offset=1', { token: ADMIN });
    expect(agentPage.body).toHaveLength(2);
    expect(Number(agentPage.headers?.get('x-total-count'))).toBeGreaterThanOrEqual(3);
    const tooMany = await call<{ message: string }>(base, 'GET', '/api/v1/agents?limit=10001', { token: ADMIN });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.message).toMatch(/limit/);
  }, 60_000);

  it('keeps MIFA memories across rounds in blobs and applies them even when nobody participates', async () => {
    const submitted = await call<{ id: string }>(base, 'POST', '/api/v1/jobs', {
      token: ADMIN,
      json: {
        kind: 'federated',
        dataset: 'uci-digits',
        model: { arch: 'softmax' },
        rounds: 4,
        roundDeadlineMs: 60_000,
        minAgents: 3,
        aggregation: { rule: 'mifa' },
      },
    });
    expect(submitted.status).toBe(201);
    const jobId = submitted.body.id;
    const x0 = await model(jobId);
    const dA = Float32Array.from({ length: P }, (_, i) => 0.001 * (i % 7));
    const dB = new Float32Array(P).fill(-0.004);
    const dA2 = new Float32Array(P).fill(0.02);
    // MIFA (docs/algorithms/fedau.md §4): for n ∈ S, M_n ← Δ_n; x += (1/N) Σ_all M_n, with N = 3 and M_n = 0 until n first participates.
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

  it("blob sweep: deletes what no row names (closed rounds' updates, leftovers) once old, keeps models, memories, open rounds' updates, young blobs", async () => {
    const file = (values: Float32Array) => {
      const hash = createHash('sha256')
        .update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength))
        .digest('hex');
      return path.join(blobDir, hash.slice(0, 2), hash);
    };
    const gc = (json: unknown, token: string | null = ADMIN) =>
      call<BlobSweepReport>(base, 'POST', '/api/v1/admin/blobs/gc', { token: token ?? undefined, json });
    // From the tests above: the MIFA job's first update of agent A (round 0) was replaced as A's memory in round 3;
    // B's round-1 update is still B's memory; the FedAU job's updates are named by nothing but closed rounds.
    const replacedMemory = file(Float32Array.from({ length: P }, (_, i) => 0.001 * (i % 7)));
    const memoryB = file(new Float32Array(P).fill(-0.004));
    const memoryA = file(new Float32Array(P).fill(0.02));
    for (const f of [replacedMemory, memoryB, memoryA]) expect(existsSync(f)).toBe(true);
    // A running job with an update in its open round (not closed: the round waits for two more agents).
    const running = await call<{ id: string }>(base, 'POST', '/api/v1/jobs', {
      token: ADMIN,
      json: { kind: 'federated', dataset: 'uci-digits', model: { arch: 'softmax' }, rounds: 2, roundDeadlineMs: 60_000, minAgents: 3 },
    });
    expect(running.status).toBe(201);
    await roundOpen(running.body.id, 0);
    const pending = Float32Array.from({ length: P }, (_, i) => -1e-4 * i);
    expect((await upload(a, running.body.id, 0, pending)).status).toBe(200);
    // Leftovers no row names: an interrupted write's temp file and an orphan blob, both made old; a file that is
    // not a blob (left alone whatever its age).
    // (An agent uploads blobs only for a task it holds: the orphan is written into the store as one would be.)
    const orphan = Float32Array.from({ length: 5 }, (_, i) => i + 0.5);
    await new FsBlobStore(blobDir).putFloat32(orphan);
    const tmp = `${file(orphan)}.1234.tmp`;
    writeFileSync(tmp, 'partial');
    const foreign = path.join(blobDir, 'README');
    writeFileSync(foreign, 'not a blob');
    // An hour passes: every file is older than a one-minute grace period.
    const old = new Date(Date.now() - 3_600_000);
    for (const shard of readdirSync(blobDir)) {
      const dir = path.join(blobDir, shard);
      for (const f of statSync(dir).isDirectory() ? readdirSync(dir).map((n) => path.join(dir, n)) : [dir]) utimesSync(f, old, old);
    }

    // Bad requests are refused and touch nothing.
    expect((await gc({}, null)).status).toBe(401);
    expect((await gc({ dryRun: 'no' })).status).toBe(400);
    expect((await gc({ dryRun: false, graceMs: -1 })).status).toBe(400);
    expect((await gc({ dryRun: false, everything: true })).status).toBe(400);
    // A dry run (the default) reports and deletes nothing; with the default grace (a day) nothing is old enough.
    // (Deletable now: the replaced memory, the FedAU job's updates, the orphan, the temp file.)
    const dry = await gc({ graceMs: 60_000 });
    expect(dry.status).toBe(200);
    expect(dry.body.dryRun).toBe(true);
    expect(dry.body.deleted).toBeGreaterThanOrEqual(3); // the replaced memory, the orphan, the temp file at least
    expect(existsSync(replacedMemory) && existsSync(tmp) && existsSync(file(orphan))).toBe(true);
    expect((await gc({ dryRun: false })).body.deleted).toBe(0);

    // Writing a blob that exists refreshes it: the orphan, written again (as a task's upload is before the row
    // naming it is written), is young again and survives a sweep with a one-minute grace.
    await new FsBlobStore(blobDir).putFloat32(orphan);
    const swept = await gc({ dryRun: false, graceMs: 60_000 });
    expect(swept.status).toBe(200);
    expect(swept.body.deleted).toBe(dry.body.deleted - 1);
    expect(existsSync(file(orphan))).toBe(true);
    expect(existsSync(tmp)).toBe(false);
    expect(existsSync(foreign)).toBe(true);
    expect(existsSync(replacedMemory)).toBe(false);
    for (const f of [memoryA, memoryB, file(pending)]) expect(existsSync(f)).toBe(true);
    // Every job's model and checkpoints are still served; the open round still closes (its update is there).
    const jobs = await call<{ id: string }[]>(base, 'GET', '/api/v1/jobs', { token: ADMIN });
    for (const j of jobs.body) expect((await call(base, 'GET', `/api/v1/jobs/${j.id}/model`, { token: ADMIN })).status).toBe(200);
    expect((await decline(b, running.body.id, 0)).status).toBe(200);
    expect((await decline(c, running.body.id, 0)).status).toBe(200);
    await roundClosed(running.body.id, 0);
    const after = await gc({ dryRun: false, graceMs: 0 });
    expect(after.body.deleted).toBe(2); // now the closed round's update, and the orphan
    expect(existsSync(file(pending))).toBe(false);
    expect((await call(base, 'POST', `/api/v1/jobs/${running.body.id}/cancel`, { token: ADMIN })).status).toBe(201);
  }, 60_000);

  it('the blob sweep knows every table: each one is searched for blob names or listed as holding none', async () => {
    const client = new Client({ connectionString: coordinator.dbUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
      );
      const known = new Set<string>([...BLOB_REFERENCING_TABLES, ...TABLES_WITHOUT_BLOBS]);
      expect(rows.map((r) => r.table_name).filter((t) => !known.has(t))).toEqual([]);
    } finally {
      await client.end();
    }
  });

  it('refuses the simulation-only known-p rule and unknown rules, naming the field', async () => {
    for (const aggregation of [
      { rule: 'known-p', p: {} },
      { rule: 'fedau', cutoffK: 0 },
      { rule: 'mifa', extra: 1 },
    ]) {
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
    const notFound = await call<{ code: string; requestId: string }>(base, 'GET', '/api/v1/jobs/00000000-0000-4000-8000-000000000000', {
      token: ADMIN,
    });
    expect(notFound.status).toBe(404);
    expect(notFound.body.requestId).toBeTruthy();
    expect((await call(base, 'GET', '/api/v1/jobs/not-a-uuid', { token: ADMIN })).status).toBe(400);
    expect(
      (await call(base, 'POST', '/api/v1/agents/register', { json: { joinToken: 'nope', name: 'x', datasets: ['uci-digits'] } })).status,
    ).toBe(401);
    const health = await call<{ status: string }>(base, 'GET', '/health');
    expect(health.body.status).toBe('ok');
    const metrics = await fetch(`${base}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/flotilla_agents_online \d+/);
    const docs = await fetch(`${base}/api/docs-json`).then((r) => r.json() as Promise<{ paths: Record<string, unknown> }>);
    expect(Object.keys(docs.paths)).toEqual(expect.arrayContaining(['/api/v1/jobs', '/api/v1/agents/register']));
  });

  it('update policy: the close rejects or clips beyond 10 × the median norm, an absolute bound refuses the upload; the views say so', async () => {
    const submit = async (extra: Record<string, unknown>) => {
      const r = await call<{ id: string }>(base, 'POST', '/api/v1/jobs', {
        token: ADMIN,
        json: {
          kind: 'federated',
          dataset: 'uci-digits',
          model: { arch: 'softmax' },
          rounds: 1,
          roundDeadlineMs: 60_000,
          minAgents: 3,
          ...extra,
        },
      });
      expect(r.status).toBe(201);
      return r.body.id;
    };
    // Norms: 0.01·√650 ≈ 0.255, 0.02·√650 ≈ 0.51, 1000·√650 ≈ 25 495. Lower median 0.02·√650, bound 0.2·√650 ≈ 5.1.
    const dA = new Float32Array(P).fill(0.01);
    const dB = new Float32Array(P).fill(0.02);
    const dC = new Float32Array(P).fill(1000);
    const norm = (v: number) => Math.sqrt(P * Math.fround(v) ** 2);
    type Part = { agents: string[]; rounds: { row: number[]; outcomes: string[]; norms: number[]; clipScales: (number | null)[] }[] };
    const play = async (jobId: string) => {
      const x0 = await model(jobId);
      await roundOpen(jobId, 0);
      for (const [t, d] of [
        [a, dA],
        [b, dB],
        [c, dC],
      ] as const)
        expect((await upload(t, jobId, 0, d)).status).toBe(200);
      await roundClosed(jobId, 0);
      const part = await call<Part>(base, 'GET', `/api/v1/jobs/${jobId}/participation`, { token: ADMIN });
      const col = (t: string) => part.body.agents.indexOf(t.split('.')[0]);
      const cell = (t: string) => ({
        row: part.body.rounds[0].row[col(t)],
        outcome: part.body.rounds[0].outcomes[col(t)],
        norm: part.body.rounds[0].norms[col(t)],
        clipScale: part.body.rounds[0].clipScales[col(t)],
      });
      const rounds = await call<{ normBound: number; rejected: number; clipped: number; participants: number }[]>(
        base,
        'GET',
        `/api/v1/jobs/${jobId}/rounds`,
        { token: ADMIN },
      );
      const job = await call<{ policy: { rejected: number; clipped: number } }>(base, 'GET', `/api/v1/jobs/${jobId}`, { token: ADMIN });
      return { x0, x1: await model(jobId), cell, round: rounds.body[0], policy: job.body.policy };
    };

    // Reject (the default): x1 = x0 + (dA + dB)/3; c is a non-participant whose norm is shown.
    const rejected = await play(await submit({}));
    for (const i of [0, 649]) expect(rejected.x1[i]).toBeCloseTo(rejected.x0[i] + 0.03 / 3, 6);
    expect(rejected.round).toMatchObject({ participants: 2, rejected: 1, clipped: 0 });
    expect(rejected.round.normBound).toBeCloseTo(10 * norm(0.02), 9);
    expect(rejected.cell(a)).toMatchObject({ row: 1, outcome: 'participated', clipScale: null });
    expect(rejected.cell(a).norm).toBeCloseTo(norm(0.01), 12);
    expect(rejected.cell(c)).toMatchObject({ row: 0, outcome: 'rejected', clipScale: null });
    expect(rejected.cell(c).norm).toBeCloseTo(norm(1000), 6);
    expect(rejected.policy).toEqual({ rejected: 1, clipped: 0 });

    // Clip: c counts as 1000 · (bound / ‖dC‖) = 0.2 everywhere: x1 = x0 + (0.01 + 0.02 + 0.2)/3.
    const clipped = await play(await submit({ updatePolicy: { action: 'clip' } }));
    for (const i of [0, 649]) expect(clipped.x1[i]).toBeCloseTo(clipped.x0[i] + 0.23 / 3, 6);
    expect(clipped.round).toMatchObject({ participants: 3, rejected: 0, clipped: 1 });
    expect(clipped.cell(c)).toMatchObject({ row: 1, outcome: 'clipped' });
    expect(clipped.cell(c).clipScale).toBeCloseTo(0.2 / 1000, 9);
    expect(clipped.policy).toEqual({ rejected: 0, clipped: 1 });

    // Absolute bound 1 with reject: c's upload is refused at once (422, saying why), and the round closes when a and b
    // have answered, without waiting for its 60 s deadline.
    const absolute = await submit({ updatePolicy: { bound: { kind: 'absolute', maxNorm: 1 } } });
    await roundOpen(absolute, 0);
    const refused = await upload(c, absolute, 0, dC);
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({
      code: 'invalid_update',
      message: expect.stringMatching(/L2 norm 2\.550e\+4 exceeds the bound 1$/) as unknown,
    });
    expect((await upload(c, absolute, 0, dC)).status).toBe(422); // a retry gets the same answer
    expect((await upload(a, absolute, 0, dA)).status).toBe(200);
    expect((await upload(b, absolute, 0, dB)).status).toBe(200);
    await roundClosed(absolute, 0);
    const part = await call<Part>(base, 'GET', `/api/v1/jobs/${absolute}/participation`, { token: ADMIN });
    expect(part.body.rounds[0].outcomes[part.body.agents.indexOf(c.split('.')[0])]).toBe('rejected');

    // Malformed policies are a 400 naming the field; robust aggregation is refused with MIFA.
    for (const [extra, field] of [
      [{ updatePolicy: { bound: { kind: 'relative', factor: 0.5 } } }, 'updatePolicy.bound.factor'],
      [{ updatePolicy: { action: 'drop' } }, 'updatePolicy.action'],
      [{ robustAggregation: { kind: 'trimmed-mean', trim: 0.5 } }, 'robustAggregation.trim'],
      [{ aggregation: { rule: 'mifa' }, robustAggregation: { kind: 'median' } }, 'robustAggregation'],
    ] as const) {
      const r = await call<{ details: { fields: { field: string }[] } }>(base, 'POST', '/api/v1/jobs', {
        token: ADMIN,
        json: { kind: 'federated', dataset: 'uci-digits', model: { arch: 'softmax' }, rounds: 1, ...extra },
      });
      expect(r.status).toBe(400);
      expect(r.body.details.fields.map((f) => f.field)).toContain(field);
    }
  }, 60_000);
});
