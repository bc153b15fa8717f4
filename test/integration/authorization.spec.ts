import { rolesAtLeast, ROLES, type Role } from '@flotilla/contracts';
import { issueApiKey, issueJoinToken } from '../support/auth';
import { call } from '../support/http';
import { startInProcessCoordinator, TEST_ADMIN_TOKEN, TEST_JOIN_TOKEN, type InProcessCoordinator } from '../support/in-process';

/**
 * Who may call what, checked for every operation of the coordinator's OpenAPI document. ACCESS is the one table: a
 * route the document lists that is missing here fails ("add it to the table"), so a route added without a guard
 * cannot slip through.
 *
 * - `public`: anyone, with or without credentials.
 * - `join-token`: the join token in the body (the bootstrap JOIN_TOKEN or one issued by POST /join-tokens).
 * - `join-token-or-agent`: a join token or an agent's credentials, as `Authorization: Bearer …`.
 * - `agent`: `Bearer <agentId>.<agentSecret>` of a registered agent.
 * - `viewer` < `submitter` < `admin`: an API key of that role or a higher one (ADMIN_TOKEN is an admin).
 */
type Access = 'public' | 'join-token' | 'join-token-or-agent' | 'agent' | Role;

const ACCESS: Record<string, Access> = {
  'GET /health': 'public',
  'GET /metrics': 'public',
  'POST /api/v1/agents/register': 'join-token',
  'GET /api/v1/datasets/{name}': 'join-token-or-agent',
  'POST /api/v1/agents/heartbeat': 'agent',
  'GET /api/v1/agents/me/work': 'agent',
  'GET /api/v1/blobs/{hash}': 'agent',
  'POST /api/v1/blobs': 'agent',
  'POST /api/v1/jobs/{jobId}/rounds/{round}/update': 'agent',
  'POST /api/v1/jobs/{jobId}/rounds/{round}/decline': 'agent',
  'POST /api/v1/tasks/{id}/result': 'agent',
  'POST /api/v1/tasks/{id}/failure': 'agent',
  'GET /api/v1/auth/me': 'viewer',
  'GET /api/v1/agents': 'viewer',
  'GET /api/v1/datasets': 'viewer',
  'DELETE /api/v1/agents/{id}': 'admin',
  'GET /api/v1/jobs': 'viewer',
  'GET /api/v1/jobs/{id}': 'viewer',
  'GET /api/v1/jobs/{id}/model': 'viewer',
  'GET /api/v1/jobs/{id}/model/model.json': 'viewer',
  'GET /api/v1/jobs/{id}/model/weights.bin': 'viewer',
  'GET /api/v1/jobs/{id}/rounds': 'viewer',
  'GET /api/v1/jobs/{id}/participation': 'viewer',
  'GET /api/v1/jobs/{id}/tasks': 'viewer',
  'GET /api/v1/jobs/{id}/bilevel': 'viewer',
  'GET /api/v1/jobs/{id}/nas': 'viewer',
  'POST /api/v1/jobs': 'submitter',
  'POST /api/v1/jobs/{id}/cancel': 'submitter',
  'POST /api/v1/models/weights': 'submitter',
  'POST /api/v1/admin/blobs/gc': 'admin',
  'POST /api/v1/join-tokens': 'admin',
  'GET /api/v1/join-tokens': 'admin',
  'DELETE /api/v1/join-tokens/{id}': 'admin',
  'POST /api/v1/api-keys': 'admin',
  'GET /api/v1/api-keys': 'admin',
  'DELETE /api/v1/api-keys/{id}': 'admin',
  // Not operations of the OpenAPI document, but served all the same.
  'GET /dashboard': 'public',
  'GET /api/docs': 'public',
  'GET /api/docs-json': 'public',
  // Late: the test's agent is offline from then on (its credentials keep working).
  'POST /api/v1/agents/me/leave': 'agent',
  // Last: it gives the test's agent a new secret, so its later calls would fail.
  'POST /api/v1/agents/me/secret': 'agent',
};
const OUTSIDE_OPENAPI = new Set(['GET /dashboard', 'GET /api/docs', 'GET /api/docs-json']);

/** Well-formed ids that name nothing, so an allowed call reaches validation or a 404 and changes nothing. */
const PATH_VALUES: Record<string, string> = {
  id: '00000000-0000-4000-8000-000000000000',
  jobId: '00000000-0000-4000-8000-000000000001',
  hash: 'ab'.repeat(32),
  round: '0',
  name: 'uci-digits',
};

/** Query strings some routes need (a long poll that returns at once instead of waiting). */
const QUERY: Record<string, string> = { 'GET /api/v1/agents/me/work': '?waitMs=0' };

/** Who calls. `credential` goes in the Authorization header, or in the body's joinToken for a join-token route. */
interface Caller {
  name: string;
  kind: 'none' | 'wrong' | 'join-token' | 'agent' | 'person';
  credential?: string;
  role?: Role;
}

/** What a caller must get: allowed (anything but 401/403 and 500), or exactly this refusal. */
function expected(access: Access, caller: Caller): 'allowed' | 400 | 401 | 403 {
  switch (access) {
    case 'public':
      return 'allowed';
    case 'join-token':
      if (caller.kind === 'join-token') return 'allowed';
      return caller.kind === 'none' ? 400 : 401; // without a token the body fails its schema (joinToken is required)
    case 'join-token-or-agent':
      return caller.kind === 'join-token' || caller.kind === 'agent' ? 'allowed' : 401;
    case 'agent':
      return caller.kind === 'agent' ? 'allowed' : 401;
    case 'viewer':
    case 'submitter':
    case 'admin':
      if (caller.kind !== 'person') return 401;
      return rolesAtLeast(access).includes(caller.role!) ? 'allowed' : 403;
  }
}

describe('authorization of every route (OpenAPI document × callers, coordinator in-process)', () => {
  let coordinator: InProcessCoordinator;
  let base: string;
  let operations: Set<string>;
  let documentedRoles: Map<string, unknown>;
  const callers: Caller[] = [];

  beforeAll(async () => {
    coordinator = await startInProcessCoordinator('authz');
    base = coordinator.base;
    const doc = await call<{ paths: Record<string, Record<string, { 'x-required-role'?: unknown }>> }>(base, 'GET', '/api/docs-json');
    expect(doc.status).toBe(200);
    operations = new Set();
    documentedRoles = new Map();
    for (const [path, methods] of Object.entries(doc.body.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const key = `${method.toUpperCase()} ${path}`;
        operations.add(key);
        documentedRoles.set(key, op['x-required-role']);
      }
    }

    const issued = await issueJoinToken(base, { label: 'authorization test' });
    const agent = await call<{ agentId: string; agentSecret: string }>(base, 'POST', '/api/v1/agents/register', {
      json: { joinToken: issued.token, name: 'authz-agent', datasets: ['uci-digits'] },
    });
    expect(agent.status).toBe(201);
    callers.push(
      { name: 'no credentials', kind: 'none' },
      { name: 'a wrong token', kind: 'wrong', credential: 'not-a-key-0123456789abcdef' },
      { name: 'a forged API key', kind: 'wrong', credential: `fak_${PATH_VALUES.id}_${'A'.repeat(43)}` },
      { name: 'the bootstrap JOIN_TOKEN', kind: 'join-token', credential: TEST_JOIN_TOKEN },
      { name: 'an issued join token', kind: 'join-token', credential: issued.token },
      { name: 'an agent', kind: 'agent', credential: `${agent.body.agentId}.${agent.body.agentSecret}` },
    );
    for (const role of ROLES) callers.push({ name: `${role} key`, kind: 'person', role, credential: (await issueApiKey(base, role)).key });
    callers.push({ name: 'ADMIN_TOKEN', kind: 'person', role: 'admin', credential: TEST_ADMIN_TOKEN });
  }, 60_000);

  afterAll(() => coordinator?.stop());

  it('has every operation of the OpenAPI document in the table, and nothing else', () => {
    const missing = [...operations].filter((op) => !(op in ACCESS)).map((op) => `${op}: add it to the table`);
    const stale = Object.keys(ACCESS).filter((op) => !operations.has(op) && !OUTSIDE_OPENAPI.has(op));
    expect(missing).toEqual([]);
    expect(stale).toEqual([]);
  });

  it('documents the roles of every role route as x-required-role', () => {
    for (const [op, access] of Object.entries(ACCESS)) {
      const documented = documentedRoles.get(op);
      if ((ROLES as readonly string[]).includes(access)) expect([op, documented]).toEqual([op, rolesAtLeast(access as Role)]);
      else expect([op, documented]).toEqual([op, undefined]);
    }
  });

  it.each(Object.entries(ACCESS))('%s is for %s', async (op, access) => {
    const [method, template] = op.split(' ');
    const path = template.replace(/\{(\w+)\}/g, (_, name: string) => {
      if (!(name in PATH_VALUES)) throw new Error(`no value for path parameter {${name}}: add one to PATH_VALUES`);
      return PATH_VALUES[name];
    });
    const wrong: string[] = [];
    for (const caller of callers) {
      const json =
        access === 'join-token'
          ? { ...(caller.credential ? { joinToken: caller.credential } : {}), name: 'authz-probe', datasets: ['uci-digits'] }
          : method === 'POST'
            ? {}
            : undefined;
      const token = access === 'join-token' ? undefined : caller.credential;
      const { status } = await call(base, method, path + (QUERY[op] ?? ''), { token, json });
      const want = expected(access, caller);
      const ok = want === 'allowed' ? status !== 401 && status !== 403 && status !== 500 : status === want;
      if (!ok) wrong.push(`${caller.name}: got ${status}, expected ${want === 'allowed' ? 'not 401/403' : want}`);
    }
    expect(wrong).toEqual([]);
  });
});
