import type { AgentView, AgentWork } from '@flotilla/contracts';
import { issueJoinToken } from '../support/auth';
import { call, waitFor } from '../support/http';
import { startInProcessCoordinator, TEST_ADMIN_TOKEN, TEST_JOIN_TOKEN, type InProcessCoordinator } from '../support/in-process';

const ADMIN = TEST_ADMIN_TOKEN;

/**
 * The agents' transport on a real coordinator (in-process), PostgreSQL and Redis: the long poll for work, what
 * registration hands out, revocation and rotation, rate limits, CORS. Agents here are plain HTTP clients.
 */
describe('agent transport (long poll over HTTP, coordinator in-process)', () => {
  let c: InProcessCoordinator;
  let base: string;

  beforeAll(async () => {
    c = await startInProcessCoordinator('transport', { CORS_ORIGINS: 'https://console.example.org', REGISTER_RATE_PER_MINUTE: '30' });
    base = c.base;
  }, 60_000);
  afterAll(() => c?.stop());
  // Each test's agents leave with it (revoked), so no later round counts them as eligible.
  const registered: string[] = [];
  afterEach(async () => {
    for (const id of registered.splice(0)) await call(base, 'DELETE', `/api/v1/agents/${id}`, { token: ADMIN });
  });

  async function register(name: string): Promise<{ id: string; token: string }> {
    const r = await call<{ agentId: string; agentSecret: string }>(base, 'POST', '/api/v1/agents/register', {
      json: { joinToken: TEST_JOIN_TOKEN, name, datasets: ['uci-digits'] },
    });
    if (r.status !== 201) throw new Error(`register ${name}: ${r.status} ${JSON.stringify(r.body)}`);
    registered.push(r.body.agentId);
    return { id: r.body.agentId, token: `${r.body.agentId}.${r.body.agentSecret}` };
  }
  const poll = (token: string, waitMs: number) => call<AgentWork>(base, 'GET', `/api/v1/agents/me/work?waitMs=${waitMs}`, { token });
  const submit = (minAgents: number) =>
    call<{ id: string }>(base, 'POST', '/api/v1/jobs', {
      token: ADMIN,
      json: { kind: 'federated', dataset: 'uci-digits', model: { arch: 'softmax' }, rounds: 2, roundDeadlineMs: 60_000, minAgents },
    });

  it('hands out credentials only (nothing about Redis), and answers an empty poll with 204', async () => {
    const r = await call<Record<string, unknown>>(base, 'POST', '/api/v1/agents/register', {
      json: { joinToken: TEST_JOIN_TOKEN, name: 'plain', datasets: ['uci-digits'] },
    });
    expect(r.status).toBe(201);
    registered.push(String(r.body.agentId));
    expect(Object.keys(r.body).sort()).toEqual(['agentId', 'agentSecret']);
    const empty = await poll(`${String(r.body.agentId)}.${String(r.body.agentSecret)}`, 0);
    expect(empty.status).toBe(204);
  });

  it('keeps idle connections open longer (65 s) than agents keep them (30 s): the agent, never the coordinator, closes one first', async () => {
    const res = await fetch(`${base}/health`);
    await res.text();
    expect(res.headers.get('keep-alive')).toBe('timeout=65');
  });

  it('wakes a waiting poll when work arrives (a job submitted before its agent), hands the item out until it is answered', async () => {
    const job = await submit(1);
    expect(job.status).toBe(201);
    const a = await register('poller');
    // The job waits for an agent; the agent's poll waits for work: the round opens and the poll returns with it.
    const first = await poll(a.token, 20_000);
    expect(first.status).toBe(200);
    expect(first.body.kind).toBe('train');
    if (first.body.kind !== 'train') return;
    expect(first.body.train).toMatchObject({ jobId: job.body.id, round: 0, dataset: 'uci-digits' });
    expect(first.body.queuedAt).toBeLessThanOrEqual(Date.now());
    // Not answered yet: a second look gets the same item (an agent that lost the response gets it again).
    const again = await poll(a.token, 0);
    expect(again.body).toEqual(first.body);
    // Answered (declined): it is gone.
    const declined = await call(base, 'POST', `/api/v1/jobs/${job.body.id}/rounds/0/decline`, { token: a.token, json: {} });
    expect(declined.status).toBe(200);
    const next = await poll(a.token, 20_000);
    // The decline closed round 0 (the only eligible agent answered), so round 1's item is next.
    expect(next.body).toMatchObject({ kind: 'train', train: { jobId: job.body.id, round: 1 } });
    await call(base, 'POST', `/api/v1/jobs/${job.body.id}/cancel`, { token: ADMIN });
  }, 60_000);

  it('revokes an agent: its waiting poll gets 401 at once, every later call too, and the list shows it revoked', async () => {
    const keep = await register('keeper');
    const gone = await register('revoked');
    const job = await submit(2);
    // Both are asked in round 0; the keeper answers, the other is revoked while it waits for more work.
    await waitFor('round 0 open', async () => (await poll(keep.token, 0)).status === 200, 20_000);
    expect((await poll(gone.token, 0)).status).toBe(200);
    await call(base, 'POST', `/api/v1/jobs/${job.body.id}/rounds/0/decline`, { token: gone.token, json: {} }).then(() => undefined);
    const waiting = poll(gone.token, 25_000);
    await new Promise((r) => setTimeout(r, 300));
    const del = await call<AgentView>(base, 'DELETE', `/api/v1/agents/${gone.id}`, { token: ADMIN });
    expect(del.status).toBe(200);
    expect(del.body.revokedAt).not.toBeNull();
    const held = await waiting;
    expect([held.status, (held.body as unknown as { message: string }).message]).toEqual([401, expect.stringMatching(/revoked/)]);
    expect((await call(base, 'POST', '/api/v1/agents/heartbeat', { token: gone.token, json: {} })).status).toBe(401);
    expect((await call(base, 'DELETE', `/api/v1/agents/${gone.id}`, { token: ADMIN })).status).toBe(409);
    const list = await call<AgentView[]>(base, 'GET', '/api/v1/agents', { token: ADMIN });
    expect(list.body.find((x) => x.id === gone.id)).toMatchObject({ online: false, revokedAt: del.body.revokedAt });
    await call(base, 'POST', `/api/v1/jobs/${job.body.id}/cancel`, { token: ADMIN });
  }, 60_000);

  it('revoking an agent declines the open rounds it was asked in, so they close without waiting for the deadline', async () => {
    const a = await register('stays');
    const b = await register('leaves');
    const job = await submit(2);
    await waitFor('round 0 open', async () => (await poll(a.token, 0)).status === 200, 20_000);
    await call(base, 'POST', `/api/v1/jobs/${job.body.id}/rounds/0/decline`, { token: a.token, json: {} });
    expect((await call(base, 'DELETE', `/api/v1/agents/${b.id}`, { token: ADMIN })).status).toBe(200);
    // The round's deadline is a minute away: it closes now because b counts as having declined.
    const rounds = await waitFor(
      'round 0 closed',
      async () => {
        const r = await call<{ status: string }[]>(base, 'GET', `/api/v1/jobs/${job.body.id}/rounds`, { token: ADMIN });
        return r.body[0]?.status === 'closed' ? r.body : undefined;
      },
      10_000,
    );
    expect(rounds[0]).toMatchObject({ participants: 0, eligible: 2 });
    const part = await call<{ agents: string[]; rounds: { row: (number | null)[] }[] }>(
      base,
      'GET',
      `/api/v1/jobs/${job.body.id}/participation`,
      { token: ADMIN },
    );
    // b's history stays: it was asked in round 0 and did not participate.
    expect(part.body.agents).toContain(b.id);
    await call(base, 'POST', `/api/v1/jobs/${job.body.id}/cancel`, { token: ADMIN });
  }, 60_000);

  it('an agent that leaves is offline at once, the open round it was asked in stops waiting for it; its credentials keep working and a rejoin brings it back', async () => {
    const a = await register('stays-on');
    const b = await register('goes-home');
    const job = await submit(1); // both are online: both are asked in round 0
    await waitFor('round 0 open', async () => (await poll(a.token, 0)).status === 200, 20_000);
    await call(base, 'POST', `/api/v1/jobs/${job.body.id}/rounds/0/decline`, { token: a.token, json: {} });

    const left = await call<AgentView>(base, 'POST', '/api/v1/agents/me/leave', { token: b.token });
    expect(left.status).toBe(200);
    expect(left.body).toMatchObject({ id: b.id, online: false, revokedAt: null, leftAt: expect.any(String) });
    // The deadline is a minute away: the round closes now, b counting as having declined.
    const rounds = await waitFor(
      'round 0 closed',
      async () => {
        const r = await call<{ status: string }[]>(base, 'GET', `/api/v1/jobs/${job.body.id}/rounds`, { token: ADMIN });
        return r.body[0]?.status === 'closed' ? r.body : undefined;
      },
      10_000,
    );
    expect(rounds[0]).toMatchObject({ participants: 0, eligible: 2 });
    const part = await call<{ agents: string[]; rounds: { outcomes: string[] }[] }>(
      base,
      'GET',
      `/api/v1/jobs/${job.body.id}/participation`,
      { token: ADMIN },
    );
    expect(part.body.rounds[0].outcomes[part.body.agents.indexOf(b.id)]).toBe('declined'); // not 'timeout': nobody waited
    // b's poll of a moment ago (an authenticated call, so a heartbeat) does not bring it back: it left after it.
    expect((await poll(b.token, 0)).status).toBe(204);
    const listed = await call<AgentView[]>(base, 'GET', '/api/v1/agents', { token: ADMIN });
    expect(listed.body.find((x) => x.id === b.id)).toMatchObject({ online: false, leftAt: left.body.leftAt });
    // Round 1 opens without b.
    const round1 = await waitFor(
      'round 1 open',
      async () => (await call<{ eligible: number }[]>(base, 'GET', `/api/v1/jobs/${job.body.id}/rounds`, { token: ADMIN })).body[1],
      20_000,
    );
    expect(round1.eligible).toBe(1);

    // A rejoin (the heartbeat with the dataset hashes an agent sends when it starts with its identity) brings it back.
    const back = await call(base, 'POST', '/api/v1/agents/heartbeat', {
      token: b.token,
      json: { datasetHashes: { 'uci-digits': 'ab'.repeat(32) } },
    });
    expect(back.status).toBe(204);
    const after = await call<AgentView[]>(base, 'GET', '/api/v1/agents', { token: ADMIN });
    expect(after.body.find((x) => x.id === b.id)).toMatchObject({ online: true, leftAt: null });
    await call(base, 'POST', `/api/v1/jobs/${job.body.id}/cancel`, { token: ADMIN });
  }, 60_000);

  it('refuses a registration naming a dataset it does not know (400 naming it and the known ones), without using the join token', async () => {
    const issued = await issueJoinToken(base, { label: 'one agent', maxUses: 1 });
    const r = await call<{ code: string; message: string }>(base, 'POST', '/api/v1/agents/register', {
      json: { joinToken: issued.token, name: 'lost', datasets: ['mnist-fashion'] },
    });
    expect(r.status).toBe(400);
    expect(r.body.message).toBe("Unknown dataset 'mnist-fashion'; this coordinator knows: mnist, uci-digits");
    // Only a holder of a working join token learns the catalogue's names.
    const stranger = await call<{ message: string }>(base, 'POST', '/api/v1/agents/register', {
      json: { joinToken: 'not-a-join-token-0123456789', name: 'lost', datasets: ['mnist-fashion'] },
    });
    expect([stranger.status, stranger.body.message]).toEqual([401, 'Invalid join token']);
    // The token's one use is still there.
    const ok = await call<{ agentId: string }>(base, 'POST', '/api/v1/agents/register', {
      json: { joinToken: issued.token, name: 'found', datasets: ['uci-digits'] },
    });
    expect(ok.status).toBe(201);
    registered.push(ok.body.agentId);
  });

  it("tells a holder of a join token or of agent credentials what a dataset's file must look like; 404 names the known datasets", async () => {
    const shape = {
      name: 'uci-digits',
      numFeatures: 64,
      inputShape: [8, 8, 1],
      numClasses: 10,
      classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
      featureRange: [0, 16],
      description: expect.any(String),
    };
    const withToken = await call(base, 'GET', '/api/v1/datasets/uci-digits', { token: TEST_JOIN_TOKEN });
    expect([withToken.status, withToken.body]).toEqual([200, shape]);
    const a = await register('reader');
    const asAgent = await call(base, 'GET', '/api/v1/datasets/uci-digits', { token: a.token });
    expect([asAgent.status, asAgent.body]).toEqual([200, shape]);
    // An IDX dataset is described the same way: shapes, classes and range, never its files or rows.
    const mnist = await call(base, 'GET', '/api/v1/datasets/mnist', { token: a.token });
    expect([mnist.status, mnist.body]).toEqual([
      200,
      { ...shape, name: 'mnist', numFeatures: 784, inputShape: [28, 28, 1], featureRange: [0, 255] },
    ]);
    const unknown = await call<{ message: string }>(base, 'GET', '/api/v1/datasets/mnist-fashion', { token: a.token });
    expect([unknown.status, unknown.body.message]).toEqual([
      404,
      "Unknown dataset 'mnist-fashion'; this coordinator knows: mnist, uci-digits",
    ]);
    expect((await call(base, 'GET', '/api/v1/datasets/uci-digits')).status).toBe(401);
    expect((await call(base, 'GET', '/api/v1/datasets/uci-digits', { token: ADMIN })).status).toBe(401);
  });

  it('rotates an agent secret: the old one stops working at once, the new one works', async () => {
    const a = await register('rotator');
    const r = await call<{ agentId: string; agentSecret: string }>(base, 'POST', '/api/v1/agents/me/secret', { token: a.token });
    expect(r.status).toBe(200);
    expect(r.body.agentId).toBe(a.id);
    expect((await poll(a.token, 0)).status).toBe(401);
    expect((await poll(`${a.id}.${r.body.agentSecret}`, 0)).status).toBe(204);
  });

  it('a registration repeated with the same agent-chosen secret returns the same agent and uses a counted join token once', async () => {
    const issued = await call<{ token: string }>(base, 'POST', '/api/v1/join-tokens', {
      token: ADMIN,
      json: { label: 'once', maxUses: 1 },
    });
    expect(issued.status).toBe(201);
    const json = {
      joinToken: issued.body.token,
      name: 'repeater',
      datasets: ['uci-digits'],
      agentSecret: 'r'.repeat(43),
      protocolVersion: 1,
    };

    const first = await call<{ agentId: string; agentSecret: string }>(base, 'POST', '/api/v1/agents/register', { json });
    const again = await call<{ agentId: string; agentSecret: string }>(base, 'POST', '/api/v1/agents/register', { json });
    registered.push(first.body.agentId);

    expect(first.status).toBe(201);
    // The same answer (status and body; headers such as X-Request-Id differ by request).
    expect([again.status, again.body]).toEqual([first.status, first.body]);
    expect(first.body.agentSecret).toBe('r'.repeat(43));
    const agents = (await call<AgentView[]>(base, 'GET', '/api/v1/agents', { token: ADMIN })).body;
    expect(agents.filter((a) => a.name === 'repeater')).toHaveLength(1);
    // The token's one use went to the first registration: a new agent (another secret) is refused.
    const other = await call<{ message: string }>(base, 'POST', '/api/v1/agents/register', {
      json: { ...json, agentSecret: 's'.repeat(43) },
    });
    expect(other.status).toBe(401);
    expect(other.body.message).toMatch(/used up/);
    expect((await poll(`${first.body.agentId}.${'r'.repeat(43)}`, 0)).status).toBe(204);
  });

  it('a repeated registration of a revoked agent is refused (401), never revived', async () => {
    const json = { joinToken: TEST_JOIN_TOKEN, name: 'revived', datasets: ['uci-digits'], agentSecret: 'v'.repeat(43) };
    const first = await call<{ agentId: string }>(base, 'POST', '/api/v1/agents/register', { json });
    expect((await call(base, 'DELETE', `/api/v1/agents/${first.body.agentId}`, { token: ADMIN })).status).toBe(200);

    const again = await call<{ message: string }>(base, 'POST', '/api/v1/agents/register', { json });
    expect(again.status).toBe(401);
    expect(again.body.message).toMatch(/revoked/);
  });

  it('refuses another agent protocol version (400 incompatible_version) and a chosen secret that is not 256 bits of base64url', async () => {
    const json = { joinToken: TEST_JOIN_TOKEN, name: 'future', datasets: ['uci-digits'] };
    const future = await call<{ code: string; message: string }>(base, 'POST', '/api/v1/agents/register', {
      json: { ...json, protocolVersion: 2 },
    });
    expect(future.status).toBe(400);
    expect(future.body).toMatchObject({ code: 'incompatible_version', message: expect.stringMatching(/protocol 1; the agent speaks 2/) });
    for (const agentSecret of ['short', 'x'.repeat(44), `${'x'.repeat(42)}!`]) {
      expect((await call(base, 'POST', '/api/v1/agents/register', { json: { ...json, agentSecret } })).status).toBe(400);
    }
  });

  it('rotates to a secret the agent chose; shows the network counters an agent reports', async () => {
    const a = await register('chooser');
    const r = await call<{ agentId: string; agentSecret: string }>(base, 'POST', '/api/v1/agents/me/secret', {
      token: a.token,
      json: { agentSecret: 'n'.repeat(43) },
    });
    expect(r.body).toEqual({ agentId: a.id, agentSecret: 'n'.repeat(43) });
    expect((await poll(a.token, 0)).status).toBe(401);
    const token = `${a.id}.${'n'.repeat(43)}`;
    expect((await call(base, 'POST', '/api/v1/agents/heartbeat', { token, json: { network: { retries: 7, failures: 2 } } })).status).toBe(
      204,
    );
    const listed = (await call<AgentView[]>(base, 'GET', '/api/v1/agents', { token: ADMIN })).body.find((x) => x.id === a.id);
    expect(listed?.network).toMatchObject({ retries: 7, failures: 2 });
    expect(Date.parse(listed!.network!.reportedAt)).toBeGreaterThan(Date.now() - 60_000);
    expect((await call(base, 'POST', '/api/v1/agents/heartbeat', { token, json: { network: { retries: -1, failures: 0 } } })).status).toBe(
      400,
    );
  });

  it('limits registrations per source address (429 + Retry-After); a flood of bad ones leaves other agents unaffected', async () => {
    const honest = await register('honest');
    // The coordinator is behind no proxy here (TRUST_PROXY=false), so every request comes from 127.0.0.1, whatever
    // X-Forwarded-For says: one source, 30 registrations a minute, good or bad alike.
    const statuses = new Map<number, number>();
    let retryAfter: string | null = null;
    let polls = 0;
    const flood = Array.from({ length: 1000 }, async (_, i) => {
      const res = await fetch(`${base}/api/v1/agents/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': `10.0.${i >> 8}.${i & 255}` },
        body: JSON.stringify({ joinToken: `wrong-token-${i}-0123456789`, name: `flood-${i}`, datasets: ['uci-digits'] }),
      });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === 429) retryAfter = res.headers.get('retry-after');
    });
    const honestCalls = (async () => {
      for (let i = 0; i < 20; i++) {
        expect((await poll(honest.token, 0)).status).toBe(204);
        polls++;
      }
    })();
    await Promise.all([...flood, honestCalls]);
    expect(polls).toBe(20);
    expect([...statuses.keys()].sort()).toEqual([401, 429]);
    expect(statuses.get(429)).toBeGreaterThanOrEqual(1000 - 30);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    // The honest agent's data plane is not rate-limited by the flood of another source's registrations.
    expect((await call(base, 'POST', '/api/v1/agents/heartbeat', { token: honest.token, json: {} })).status).toBe(204);
  }, 60_000);

  it('answers CORS preflights for the configured origins only', async () => {
    const preflight = (origin: string) =>
      fetch(`${base}/api/v1/agents/me/work`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
      });
    const ok = await preflight('https://console.example.org');
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://console.example.org');
    expect(ok.headers.get('access-control-allow-headers')).toMatch(/authorization/);
    const other = await preflight('https://evil.example.com');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });
});
