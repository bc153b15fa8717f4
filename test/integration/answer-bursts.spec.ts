import { FsBlobStore } from '../../apps/coordinator/src/blobs/fs-blob-store';
import { RoundsRepository } from '../../apps/coordinator/src/kinds/federated/rounds.repository';
import { expectExactAggregation, sqlRows } from '../support/aggregation';
import { call, floats, waitFor } from '../support/http';
import { startInProcessCoordinator, TEST_ADMIN_TOKEN, TEST_JOIN_TOKEN, type InProcessCoordinator } from '../support/in-process';

const P = 650; // softmax on digits
const N = 40;

/**
 * A round's answers arriving all at once, as they do from a large fleet: the coordinator records them many per
 * statement, and every answer must still be counted exactly once, each repeat get its first answer, each answer that
 * may not be given its own error, and the round close with exactly the updates that were sent.
 */
describe('a burst of answers to one round (coordinator in-process, real PostgreSQL + Redis)', () => {
  let coordinator: InProcessCoordinator;

  beforeAll(async () => {
    // Forty agents register from one address within a second.
    coordinator = await startInProcessCoordinator('burst', { REGISTER_RATE_PER_MINUTE: '600' });
  });

  afterAll(() => coordinator?.stop(), 30_000);

  let agents: { id: string; token: string }[] = [];

  // Each test below registers agents or runs a round: on a loaded two-core machine that can take longer than jest's 5 s.

  it('counts each of 40 concurrent answers once, answers repeats as the first time, and refuses what may not be answered', async () => {
    const { base, dbUrl, blobDir } = coordinator;
    const register = async (name: string): Promise<{ id: string; token: string }> => {
      const r = await call<{ agentId: string; agentSecret: string }>(base, 'POST', '/api/v1/agents/register', {
        json: { joinToken: TEST_JOIN_TOKEN, name, datasets: ['uci-digits'] },
      });
      expect(r.status).toBe(201);
      return { id: r.body.agentId, token: `${r.body.agentId}.${r.body.agentSecret}` };
    };
    agents = await Promise.all(Array.from({ length: N }, (_, i) => register(`burst-${i}`)));
    // Every agent heartbeats, so all N are online when the job starts.
    for (const a of agents) expect((await call(base, 'POST', '/api/v1/agents/heartbeat', { token: a.token, json: {} })).status).toBe(204);
    const job = await call<{ id: string }>(base, 'POST', '/api/v1/jobs', {
      token: TEST_ADMIN_TOKEN,
      json: {
        kind: 'federated',
        dataset: 'uci-digits',
        model: { arch: 'softmax' },
        rounds: 1,
        minAgents: N,
        roundDeadlineMs: 600_000,
      },
    });
    expect(job.status).toBe(201);
    const jobId = job.body.id;
    await waitFor('round 0 open', async () => {
      const r = await call<{ round: number; status: string; eligible: number }[]>(base, 'GET', `/api/v1/jobs/${jobId}/rounds`, {
        token: TEST_ADMIN_TOKEN,
      });
      return r.body.find((x) => x.round === 0 && x.status === 'open');
    });
    // An agent that joined after the round opened was not asked.
    const late = await register('burst-late');

    const delta = (i: number) => Float32Array.from({ length: P }, (_, j) => ((i * 31 + j) % 17) * 1e-3 - 0.008);
    const upload = (i: number, values = delta(i)) =>
      call<{ status: string; hash: string }>(
        base,
        'POST',
        `/api/v1/jobs/${jobId}/rounds/0/update?exampleCount=10&trainLoss=1&durationMs=1`,
        {
          token: agents[i].token,
          raw: floats(values),
        },
      );
    const decline = (token: string, round = 0) =>
      call<{ status: string; code?: string }>(base, 'POST', `/api/v1/jobs/${jobId}/rounds/${round}/decline`, {
        token,
        json: { reason: 'unavailable' },
      });

    // Everything at once: agents 0–19 upload, 20–39 decline; agents 0–3 upload twice and 20–23 decline twice (a retry
    // racing the first try), agent 4 also declines (a contradiction), the late agent declines, and agent 5 answers a
    // round that does not exist.
    const uploaders = Array.from({ length: 20 }, (_, i) => i);
    const decliners = Array.from({ length: 20 }, (_, i) => 20 + i);
    const [ups, downs, upRepeats, downRepeats, contradiction, notAsked, noRound] = await Promise.all([
      Promise.all(uploaders.map((i) => upload(i))),
      Promise.all(decliners.map((i) => decline(agents[i].token))),
      Promise.all([0, 1, 2, 3].map((i) => upload(i))),
      Promise.all([20, 21, 22, 23].map((i) => decline(agents[i].token))),
      decline(agents[4].token),
      decline(late.token),
      decline(agents[5].token, 7),
    ]);
    // Agent 4's upload and decline raced: whichever came second is refused (409), and the first stands.
    expect([ups[4].status, contradiction.status].sort()).toEqual([200, 409]);
    const fourUploaded = ups[4].status === 200;
    expect(ups.filter((_, i) => i !== 4).map((r) => r.status)).toEqual(uploaders.slice(1).map(() => 200));
    expect(downs.map((r) => r.status)).toEqual(decliners.map(() => 200));
    // A repeat gets the first answer: the same hash for the same bytes, declined for a decline.
    expect(upRepeats.map((r) => [r.status, r.body.hash])).toEqual(ups.slice(0, 4).map((r) => [200, r.body.hash]));
    expect(downRepeats.map((r) => [r.status, r.body.status])).toEqual([0, 1, 2, 3].map(() => [200, 'declined']));
    expect(notAsked.status).toBe(403);
    expect(noRound.status).toBe(404);

    // Every asked agent answered: the round closes at once (its deadline is ten minutes away).
    await waitFor('round 0 closed', async () => {
      const j = await call<{ status: string }>(base, 'GET', `/api/v1/jobs/${jobId}`, { token: TEST_ADMIN_TOKEN });
      return j.body.status === 'completed';
    });
    const [round] = await sqlRows<{ answers: number; participants: number }>(
      dbUrl,
      'SELECT answers, participants FROM rounds WHERE job_id = $1 AND index = 0',
      [jobId],
    );
    const participants = fourUploaded ? 20 : 19;
    expect(round).toEqual({ answers: N, participants });
    const stored = await sqlRows<{ declined: boolean; n: string }>(
      dbUrl,
      'SELECT declined, count(*) AS n FROM updates WHERE job_id = $1 GROUP BY declined ORDER BY declined',
      [jobId],
    );
    expect(stored).toEqual([
      { declined: false, n: String(participants) },
      { declined: true, n: String(N - participants) },
    ]);
    const store = new FsBlobStore(blobDir);
    await expectExactAggregation(dbUrl, (hash) => store.getFloat32(hash), jobId, 1);
  }, 60_000);

  it('records one batch in one statement: per answer closed, duplicate (also within the batch) or recorded with the count after the batch', async () => {
    const { base, dbUrl } = coordinator;
    const job = await call<{ id: string }>(base, 'POST', '/api/v1/jobs', {
      token: TEST_ADMIN_TOKEN,
      json: { kind: 'federated', dataset: 'uci-digits', model: { arch: 'softmax' }, rounds: 1, minAgents: N, roundDeadlineMs: 600_000 },
    });
    expect(job.status).toBe(201);
    const jobId = job.body.id;
    await waitFor('round 0 open', async () => {
      const rows = await sqlRows<{ n: string }>(dbUrl, `SELECT count(*) AS n FROM rounds WHERE job_id = $1 AND status = 'open'`, [jobId]);
      return rows[0].n === '1';
    });
    const eligible = (await sqlRows<{ ids: string[] }>(dbUrl, 'SELECT eligible_agent_ids AS ids FROM rounds WHERE job_id = $1', [jobId]))[0]
      .ids;
    const [x, y, z] = eligible;
    const stranger = '00000000-0000-4000-8000-000000000000';
    const rounds = coordinator.app.get(RoundsRepository);
    const outcomes = await rounds.recordAnswers([
      { jobId, round: 0, agentId: x, declined: true },
      { jobId, round: 0, agentId: y, rejected: true, updateNorm: 3, exampleCount: 5, trainLoss: 1, durationMs: 2 },
      // x again in the same batch: the first answer stands.
      { jobId, round: 0, agentId: x, rejected: true, updateNorm: 1 },
      { jobId, round: 0, agentId: stranger, declined: true },
      { jobId, round: 9, agentId: z, declined: true },
    ]);
    expect(outcomes).toEqual([
      { outcome: 'recorded', answers: 2, eligible: eligible.length },
      { outcome: 'recorded', answers: 2, eligible: eligible.length },
      { outcome: 'duplicate' },
      { outcome: 'closed' },
      { outcome: 'closed' },
    ]);
    // The next batch sees the count and the stored answers.
    expect(
      await rounds.recordAnswers([
        { jobId, round: 0, agentId: y, declined: true },
        { jobId, round: 0, agentId: z, declined: true },
      ]),
    ).toEqual([{ outcome: 'duplicate' }, { outcome: 'recorded', answers: 3, eligible: eligible.length }]);
    const stored = await sqlRows<{ agent_id: string; declined: boolean; rejected: boolean; update_norm: number | null }>(
      dbUrl,
      'SELECT agent_id, declined, rejected, update_norm FROM updates WHERE job_id = $1 ORDER BY declined, agent_id',
      [jobId],
    );
    expect(stored).toEqual([
      { agent_id: y, declined: false, rejected: true, update_norm: 3 },
      ...[x, z].sort().map((id) => ({ agent_id: id, declined: true, rejected: false, update_norm: null })),
    ]);
    await call(base, 'POST', `/api/v1/jobs/${jobId}/cancel`, { token: TEST_ADMIN_TOKEN });
  }, 60_000);
});
