import { Logger } from '@nestjs/common';
import type { ApiKeyView, CreatedApiKey, JoinTokenView, Principal } from '@flotilla/contracts';
import { Client } from 'pg';
import { JoinTokensRepository } from '../../apps/coordinator/src/auth/join-tokens.repository';
import { issueApiKey, issueJoinToken } from '../support/auth';
import { call } from '../support/http';
import { startInProcessCoordinator, TEST_ADMIN_TOKEN, TEST_JOIN_TOKEN, type InProcessCoordinator } from '../support/in-process';

const ADMIN = TEST_ADMIN_TOKEN;
/** A federated job that waits for more agents than there are, so it stays running until cancelled. */
const WAITING_JOB = { kind: 'federated', dataset: 'uci-digits', model: { arch: 'softmax' }, rounds: 1, minAgents: 50 };

interface ErrorReply {
  code: string;
  message: string;
}

/**
 * Join tokens and API keys against real PostgreSQL and Redis over HTTP: expiry, uses (also when registrations race),
 * revocation, what each role may and may not do, and that no secret is ever stored, listed or logged.
 */
describe('access control (coordinator in-process, real PostgreSQL + Redis)', () => {
  let coordinator: InProcessCoordinator;
  let base: string;
  /** Every secret issued in this file; none may show up in a log line, a list or a table. */
  const secrets: string[] = [];
  const logged: string[] = [];

  beforeAll(async () => {
    for (const level of ['log', 'warn', 'error', 'debug', 'verbose', 'fatal'] as const) {
      jest.spyOn(Logger.prototype, level).mockImplementation((...args: unknown[]) => void logged.push(args.map(String).join(' ')));
    }
    coordinator = await startInProcessCoordinator('access');
    base = coordinator.base;
  });

  afterAll(async () => {
    await coordinator?.stop();
    jest.restoreAllMocks();
  });

  const register = (joinToken: string, name = 'edge') =>
    call<ErrorReply & { agentId: string }>(base, 'POST', '/api/v1/agents/register', {
      json: { joinToken, name, datasets: ['uci-digits'] },
    });
  const joinTokens = async () => (await call<JoinTokenView[]>(base, 'GET', '/api/v1/join-tokens', { token: ADMIN })).body;
  const secretOf = (token: string) => token.slice(41); // fjt_/fak_ + 36-character id + '_'

  describe('join tokens', () => {
    it('admits agents up to maxUses, then says it was used up; the token is shown once and never listed', async () => {
      const issued = await issueJoinToken(base, { label: 'three edges', maxUses: 3 });
      secrets.push(secretOf(issued.token));
      expect(issued).toEqual(expect.objectContaining({ label: 'three edges', state: 'active', uses: 0, maxUses: 3, expiresAt: null }));
      expect(issued.token).toMatch(new RegExp(`^fjt_${issued.id}_[A-Za-z0-9_-]{43}$`));
      for (const name of ['e1', 'e2', 'e3']) expect((await register(issued.token, name)).status).toBe(201);
      const fourth = await register(issued.token, 'e4');
      expect([fourth.status, fourth.body.message]).toEqual([401, 'Join token was used up (3 of 3 uses)']);
      const listed = (await joinTokens()).find((t) => t.id === issued.id)!;
      expect(listed).toEqual(expect.objectContaining({ state: 'used-up', uses: 3, maxUses: 3 }));
      expect(listed).not.toHaveProperty('token');
      expect(listed.lastUsedAt).not.toBeNull();
    });

    it('admits exactly one of ten concurrent registrations with a single-use token, and no more than maxUses when uses race', async () => {
      const issued = await issueJoinToken(base, { label: 'single use', maxUses: 1 });
      secrets.push(secretOf(issued.token));
      const before = (await call<unknown[]>(base, 'GET', '/api/v1/agents', { token: ADMIN })).body.length;
      const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => register(issued.token, `racer-${i}`)));
      expect(replies.map((r) => r.status).sort()).toEqual([201, ...Array<number>(9).fill(401)]);
      for (const r of replies.filter((x) => x.status === 401)) expect(r.body.message).toBe('Join token was used up (1 of 1 uses)');
      expect((await joinTokens()).find((t) => t.id === issued.id)!.uses).toBe(1);
      expect((await call<unknown[]>(base, 'GET', '/api/v1/agents', { token: ADMIN })).body.length).toBe(before + 1);

      // HTTP requests in one process tend to reach the database one after the other; these race for certain.
      const racing = await issueJoinToken(base, { label: 'raced in-process', maxUses: 3 });
      const repository = coordinator.app.get(JoinTokensRepository);
      const admitted = await Promise.all(Array.from({ length: 20 }, () => repository.consume(racing.id, new Date())));
      expect(admitted.filter(Boolean)).toHaveLength(3);
      expect((await repository.findById(racing.id))!.uses).toBe(3);
    });

    it('refuses a token once it has expired, saying when', async () => {
      const expiresAt = new Date(Date.now() + 1500).toISOString();
      const issued = await issueJoinToken(base, { label: 'short-lived', expiresAt });
      secrets.push(secretOf(issued.token));
      expect(issued.expiresAt).toBe(expiresAt);
      expect((await register(issued.token, 'early')).status).toBe(201);
      await new Promise((resolve) => setTimeout(resolve, Date.parse(expiresAt) - Date.now() + 20));
      const late = await register(issued.token, 'late');
      expect(late.status).toBe(401);
      expect(late.body.message).toBe(`Join token expired at ${expiresAt}`);
      expect((await joinTokens()).find((t) => t.id === issued.id)!.state).toBe('expired');
    });

    it('refuses a revoked token at once; the bootstrap JOIN_TOKEN still admits', async () => {
      const issued = await issueJoinToken(base, { label: 'to revoke' });
      secrets.push(secretOf(issued.token));
      expect((await register(issued.token, 'before')).status).toBe(201);
      const revoked = await call<JoinTokenView>(base, 'DELETE', `/api/v1/join-tokens/${issued.id}`, { token: ADMIN });
      expect([revoked.status, revoked.body.state, revoked.body.uses]).toEqual([200, 'revoked', 1]);
      const after = await register(issued.token, 'after');
      expect([after.status, after.body.message]).toEqual([401, 'Join token was revoked']);
      expect((await register(TEST_JOIN_TOKEN, 'bootstrapped')).status).toBe(201);
      const wrong = await register(issued.token.slice(0, -2) + (issued.token.endsWith('AA') ? 'BB' : 'AA'), 'forged');
      expect([wrong.status, wrong.body.message]).toEqual([401, 'Invalid join token']);
    });

    it('validates what it is asked to issue and revoke', async () => {
      const post = (json: unknown) => call<ErrorReply>(base, 'POST', '/api/v1/join-tokens', { token: ADMIN, json });
      const unknown = await post({ label: 'x', uses: 3 });
      expect([unknown.status, unknown.body.message]).toEqual([400, expect.stringContaining('unknown field(s): uses')]);
      expect((await post({ label: 'x', maxUses: 0 })).status).toBe(400);
      expect((await post({ label: 'x', expiresAt: 'tomorrow' })).status).toBe(400);
      const past = await post({ label: 'x', expiresAt: '2020-01-01T00:00:00Z' });
      expect([past.status, past.body.message]).toEqual([400, 'expiresAt 2020-01-01T00:00:00.000Z is not in the future']);
      expect((await call(base, 'DELETE', '/api/v1/join-tokens/not-a-uuid', { token: ADMIN })).status).toBe(400);
      expect((await call(base, 'DELETE', '/api/v1/join-tokens/00000000-0000-4000-8000-000000000000', { token: ADMIN })).status).toBe(404);
    });
  });

  describe('API keys and roles', () => {
    let viewer: CreatedApiKey;
    let submitter: CreatedApiKey;
    let admin: CreatedApiKey;

    beforeAll(async () => {
      viewer = await issueApiKey(base, 'viewer', 'dashboard wall screen');
      submitter = await issueApiKey(base, 'submitter', 'ci pipeline');
      admin = await issueApiKey(base, 'admin', 'ops on call');
      secrets.push(...[viewer, submitter, admin].map((k) => secretOf(k.key)));
    });

    const as = <T = ErrorReply>(key: string, method: string, path: string, json?: unknown) =>
      call<T>(base, method, `/api/v1${path}`, { token: key, json });
    const refusal = async (key: string, method: string, path: string, json?: unknown) => {
      const r = await as(key, method, path, json);
      return [r.status, r.body.message];
    };

    it('tells every key who it is', async () => {
      expect((await as<Principal>(viewer.key, 'GET', '/auth/me')).body).toEqual({
        role: 'viewer',
        label: 'dashboard wall screen',
        keyId: viewer.id,
      });
      expect((await as<Principal>(admin.key, 'GET', '/auth/me')).body).toEqual({ role: 'admin', label: 'ops on call', keyId: admin.id });
      expect((await as<Principal>(ADMIN, 'GET', '/auth/me')).body).toEqual({
        role: 'admin',
        label: 'ADMIN_TOKEN (bootstrap)',
        keyId: null,
      });
      expect(await refusal('fak_x', 'GET', '/auth/me')).toEqual([401, 'Invalid API key']);
    });

    it('lets a viewer read agents, jobs and their sub-resources, and nothing more', async () => {
      const job = await as<{ id: string }>(ADMIN, 'POST', '/jobs', WAITING_JOB);
      expect(job.status).toBe(201);
      for (const path of [
        '/agents',
        '/jobs',
        `/jobs/${job.body.id}`,
        `/jobs/${job.body.id}/rounds`,
        `/jobs/${job.body.id}/participation`,
      ]) {
        expect([path, (await as(viewer.key, 'GET', path)).status]).toEqual([path, 200]);
      }
      const needsSubmitter = [403, 'Needs role submitter or admin; this key is a viewer'];
      expect(await refusal(viewer.key, 'POST', '/jobs', WAITING_JOB)).toEqual(needsSubmitter);
      expect(await refusal(viewer.key, 'POST', `/jobs/${job.body.id}/cancel`)).toEqual(needsSubmitter);
      expect(await refusal(viewer.key, 'POST', '/admin/blobs/gc', {})).toEqual([403, 'Needs role admin; this key is a viewer']);
      expect(await refusal(viewer.key, 'GET', '/api-keys')).toEqual([403, 'Needs role admin; this key is a viewer']);
      expect((await as<{ status: string }>(ADMIN, 'POST', `/jobs/${job.body.id}/cancel`)).body.status).toBe('cancelled');
    });

    it('lets a submitter submit and cancel jobs, but not manage keys, tokens or blobs', async () => {
      const job = await as<{ id: string }>(submitter.key, 'POST', '/jobs', WAITING_JOB);
      expect(job.status).toBe(201);
      const cancelled = await as<{ status: string }>(submitter.key, 'POST', `/jobs/${job.body.id}/cancel`);
      expect([cancelled.status, cancelled.body.status]).toEqual([201, 'cancelled']);
      const needsAdmin = [403, 'Needs role admin; this key is a submitter'];
      expect(await refusal(submitter.key, 'POST', '/admin/blobs/gc', {})).toEqual(needsAdmin);
      expect(await refusal(submitter.key, 'POST', '/join-tokens', { label: 'x' })).toEqual(needsAdmin);
      expect(await refusal(submitter.key, 'POST', '/api-keys', { label: 'x', role: 'admin' })).toEqual(needsAdmin);
      expect(await refusal(submitter.key, 'DELETE', `/api-keys/${viewer.id}`)).toEqual(needsAdmin);
    });

    it('lets an admin key sweep blobs and issue, list and revoke keys and tokens; a revoked key is refused at once', async () => {
      expect((await as(admin.key, 'POST', '/admin/blobs/gc', {})).status).toBe(200);
      const issued = await as<CreatedApiKey>(admin.key, 'POST', '/api-keys', { label: 'short-lived script', role: 'viewer' });
      expect(issued.status).toBe(201);
      secrets.push(secretOf(issued.body.key));
      const token = await as<{ token: string; id: string }>(admin.key, 'POST', '/join-tokens', { label: 'by an admin key' });
      expect(token.status).toBe(201);
      secrets.push(secretOf(token.body.token));
      expect((await as(admin.key, 'GET', '/join-tokens')).status).toBe(200);

      expect((await as(issued.body.key, 'GET', '/jobs')).status).toBe(200);
      const revoked = await as<ApiKeyView>(admin.key, 'DELETE', `/api-keys/${issued.body.id}`);
      expect([revoked.status, revoked.body.revokedAt]).toEqual([200, expect.any(String)]);
      expect(await refusal(issued.body.key, 'GET', '/jobs')).toEqual([401, 'API key was revoked']);
      expect(await refusal(issued.body.key, 'GET', '/auth/me')).toEqual([401, 'API key was revoked']);

      const listed = (await as<ApiKeyView[]>(admin.key, 'GET', '/api-keys')).body;
      expect(listed.map((k) => [k.label, k.role, k.revokedAt !== null])).toEqual(
        expect.arrayContaining([
          ['short-lived script', 'viewer', true],
          ['ops on call', 'admin', false],
        ]),
      );
      expect(listed[0]).not.toHaveProperty('key');
    });

    it('validates what it is asked to issue', async () => {
      expect(await refusal(ADMIN, 'POST', '/api-keys', { label: 'x', role: 'owner' })).toEqual([400, expect.stringContaining('role')]);
      expect(await refusal(ADMIN, 'POST', '/api-keys', { label: 'x', role: 'viewer', secret: 'mine' })).toEqual([
        400,
        expect.stringContaining('unknown field(s): secret'),
      ]);
      expect((await as(ADMIN, 'POST', '/api-keys', { label: '', role: 'viewer' })).status).toBe(400);
    });
  });

  it('never stores, lists or logs a secret', async () => {
    expect(secrets).toHaveLength(9); // the tests above ran first: 5 join tokens and 4 API keys (racing's secret is never used)
    const db = new Client({ connectionString: coordinator.dbUrl });
    await db.connect();
    const stored = JSON.stringify([
      (await db.query('SELECT * FROM join_tokens')).rows,
      (await db.query('SELECT * FROM api_keys')).rows,
      (await db.query('SELECT * FROM agents')).rows,
    ]);
    await db.end();
    const listed = JSON.stringify([await joinTokens(), (await call(base, 'GET', '/api/v1/api-keys', { token: ADMIN })).body]);
    expect(logged.some((l) => l.includes('issued'))).toBe(true); // the spy sees the coordinator's log lines
    const everything = [...secrets, TEST_ADMIN_TOKEN, TEST_JOIN_TOKEN];
    expect(everything.filter((s) => stored.includes(s) || listed.includes(s) || logged.some((l) => l.includes(s)))).toEqual([]);
  });
});
