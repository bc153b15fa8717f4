import type { AgentWork, CreatedApiKey } from '@flotilla/contracts';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { sqlRows } from '../support/aggregation';
import { answerBeforeBody, call, floats, holdUpload, rawRequest, waitFor, type HeldUpload } from '../support/http';
import { startInProcessCoordinator, TEST_ADMIN_TOKEN, TEST_JOIN_TOKEN, type InProcessCoordinator } from '../support/in-process';

const ADMIN = TEST_ADMIN_TOKEN;
const MAX_UPDATE_BYTES = 64 * 1024;
const MAX_JSON_BYTES = 1024 * 1024; // the default
const MAX_TASK_RESULT_BYTES = 128 * 1024;
const QUOTA_BYTES = 1024;
const QUOTA_COUNT = 4;
const MiB = 1024 * 1024;
const H = 'cd'.repeat(32);

interface ErrorReply {
  statusCode: number;
  code: string;
  message: string;
}

/**
 * Hard limits on every input (issue #12, items 3 and 4) against a real coordinator, PostgreSQL and Redis: the inputs a
 * probe of the coordinator answered with 500 get their 4xx; authentication (and the route's cheap checks) come before
 * any body is read, shown by the answer arriving while the client has sent only the start of its body; blob uploads
 * only for tasks that name blobs, within a per-agent quota; at most AGENT_MAX_TRANSFERS transfers of one agent at once.
 */
describe('input limits (coordinator in-process)', () => {
  let c: InProcessCoordinator;
  let base: string;
  let a: { id: string; token: string };
  let b: { id: string; token: string };
  let jobId: string;

  async function register(name: string, hashes?: Record<string, string>): Promise<{ id: string; token: string }> {
    const r = await call<{ agentId: string; agentSecret: string }>(base, 'POST', '/api/v1/agents/register', {
      json: { joinToken: TEST_JOIN_TOKEN, name, datasets: ['uci-digits'], ...(hashes ? { datasetHashes: hashes } : {}) },
    });
    if (r.status !== 201) throw new Error(`register ${name}: ${r.status} ${JSON.stringify(r.body)}`);
    return { id: r.body.agentId, token: `${r.body.agentId}.${r.body.agentSecret}` };
  }
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const updatePath = (round: string | number, query = 'exampleCount=10&trainLoss=0.5&durationMs=5') =>
    `/api/v1/jobs/${jobId}/rounds/${round}/update?${query}`;
  const json = (v: unknown) => new Uint8Array(Buffer.from(JSON.stringify(v)));
  const parsed = (text: string) => JSON.parse(text) as ErrorReply;

  beforeAll(async () => {
    c = await startInProcessCoordinator('limits', {
      MAX_UPDATE_BYTES: String(MAX_UPDATE_BYTES),
      MAX_TASK_RESULT_BYTES: String(MAX_TASK_RESULT_BYTES),
      AGENT_MAX_TRANSFERS: '2',
      AGENT_BLOB_QUOTA_BYTES: String(QUOTA_BYTES),
      AGENT_BLOB_QUOTA_COUNT: String(QUOTA_COUNT),
      TASK_MAX_ATTEMPTS: '1',
    });
    base = c.base;
    a = await register('limits-a');
    b = await register('limits-b');
    const job = await call<{ id: string }>(base, 'POST', '/api/v1/jobs', {
      token: ADMIN,
      json: { kind: 'federated', dataset: 'uci-digits', model: { arch: 'softmax' }, rounds: 1, roundDeadlineMs: 600_000 },
    });
    expect(job.status).toBe(201);
    jobId = job.body.id;
    // Round 0 asks a and b (both online, holding the dataset).
    await waitFor('round 0 open', async () => {
      const r = await call<{ round: number; status: string; eligible: number }[]>(base, 'GET', `/api/v1/jobs/${jobId}/rounds`, {
        token: ADMIN,
      });
      return r.body[0]?.status === 'open' && r.body[0].eligible === 2;
    });
  }, 60_000);
  afterAll(() => c?.stop());

  describe('413 for every body over its limit', () => {
    it.each([
      ['an update', 'agent', () => updatePath(0), 'application/octet-stream', 40 * MiB],
      ['a blob', 'agent', () => '/api/v1/blobs', 'application/octet-stream', 40 * MiB],
      ['a 2 MB job spec', 'admin', () => '/api/v1/jobs', 'application/json', 2_000_000],
      ['a 50 MB job spec', 'admin', () => '/api/v1/jobs', 'application/json', 50_000_000],
      ['a task result', 'agent', () => `/api/v1/tasks/${jobId}/result`, 'application/json', MAX_TASK_RESULT_BYTES + 1],
      ['a registration (unauthenticated: its token is in the body)', 'none', () => '/api/v1/agents/register', 'application/json', 100_000],
    ])('%s is refused from its Content-Length, before its body is sent', async (_what, who, path, type, length) => {
      const headers: Record<string, string> = { 'content-type': type, 'content-length': String(length) };
      if (who !== 'none') Object.assign(headers, bearer(who === 'admin' ? ADMIN : a.token));
      const r = await answerBeforeBody(base, { method: 'POST', path: path(), headers, first: new Uint8Array(16 * 1024) });
      expect([r.status, parsed(r.text).code]).toEqual([413, 'payload_too_large']);
      expect(parsed(r.text).message).toMatch(new RegExp(`Body of ${length} bytes`));
      // The rest of the body is not read and discarded either: the connection is closed.
      expect(r.closed).toBe(true);
    });

    it('a chunked body is refused while it streams, as soon as it passes the limit', async () => {
      const update = await answerBeforeBody(base, {
        method: 'POST',
        path: updatePath(0),
        headers: { ...bearer(a.token), 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' },
        first: new Uint8Array(MAX_UPDATE_BYTES + 8 * 1024),
      });
      expect([update.status, parsed(update.text).code]).toEqual([413, 'payload_too_large']);
      const spec = await answerBeforeBody(base, {
        method: 'POST',
        path: '/api/v1/jobs',
        headers: { ...bearer(ADMIN), 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
        first: new Uint8Array(Buffer.from(`{"name":"${'x'.repeat(MAX_JSON_BYTES + 1024)}`)),
      });
      expect([spec.status, parsed(spec.text).code]).toEqual([413, 'payload_too_large']);
    });

    it('a body of exactly the limit is read (and then judged on its content)', async () => {
      const r = await rawRequest(base, {
        method: 'POST',
        path: updatePath(0),
        headers: { ...bearer(a.token), 'content-type': 'application/octet-stream' },
        body: new Uint8Array(MAX_UPDATE_BYTES),
      });
      // Read in full: the round refuses it for its length (650 parameters), not for its size.
      expect([r.status, parsed(r.text).code]).toEqual([422, 'invalid_update']);
    });
  });

  describe('Content-Encoding', () => {
    it('415 for an encoding the coordinator does not decode, on JSON and binary routes', async () => {
      for (const [path, token, type] of [
        ['/api/v1/jobs', ADMIN, 'application/json'],
        [updatePath(0), a.token, 'application/octet-stream'],
      ]) {
        const r = await rawRequest(base, {
          method: 'POST',
          path,
          headers: { ...bearer(token), 'content-type': type, 'content-encoding': 'bogus' },
          body: json({}),
        });
        expect([r.status, parsed(r.text).code]).toEqual([415, 'unsupported_media_type']);
        expect(parsed(r.text).message).toMatch(/Content-Encoding "bogus"/);
      }
    });

    it('a gzip body is decompressed; a body that does not decompress is a 400', async () => {
      const spec = { kind: 'federated', dataset: 'uci-digits', model: { arch: 'softmax' }, rounds: 1, name: 'gzipped' };
      const ok = await rawRequest(base, {
        method: 'POST',
        path: '/api/v1/jobs',
        headers: { ...bearer(ADMIN), 'content-type': 'application/json', 'content-encoding': 'gzip' },
        body: gzipSync(json(spec)),
      });
      expect(ok.status).toBe(201);
      const job = JSON.parse(ok.text) as { id: string; name: string };
      expect(job.name).toBe('gzipped');
      await call(base, 'POST', `/api/v1/jobs/${job.id}/cancel`, { token: ADMIN });
      const garbled = await rawRequest(base, {
        method: 'POST',
        path: '/api/v1/jobs',
        headers: { ...bearer(ADMIN), 'content-type': 'application/json', 'content-encoding': 'gzip' },
        body: json(spec),
      });
      expect([garbled.status, parsed(garbled.text).message]).toEqual([400, expect.stringMatching(/does not decompress/)]);
    });

    it('the limit counts decompressed bytes: a gzip bomb stops at the limit (413)', async () => {
      // 8 MiB of zeros in about 8 KiB: far under the limit as sent, far over it decompressed.
      const bomb = gzipSync(new Uint8Array(8 * MiB));
      expect(bomb.byteLength).toBeLessThan(MAX_UPDATE_BYTES);
      const update = await rawRequest(base, {
        method: 'POST',
        path: updatePath(0),
        headers: { ...bearer(a.token), 'content-type': 'application/octet-stream', 'content-encoding': 'gzip' },
        body: bomb,
      });
      expect([update.status, parsed(update.text).message]).toEqual([413, expect.stringMatching(/decompressed/)]);
      const spec = await rawRequest(base, {
        method: 'POST',
        path: '/api/v1/jobs',
        headers: { ...bearer(ADMIN), 'content-type': 'application/json', 'content-encoding': 'gzip' },
        body: gzipSync(Buffer.from(`{"name":"${' '.repeat(2 * MiB)}"}`)),
      });
      expect([spec.status, parsed(spec.text).message]).toEqual([413, expect.stringMatching(/decompressed/)]);
    });
  });

  it('integers past what an int4 column holds are a 400 that names the field', async () => {
    const refusals: [string, number, string][] = [];
    const note = async (what: string, r: Promise<{ status: number; body: unknown }>) => {
      const { status, body } = await r;
      refusals.push([what, status, (body as ErrorReply).message]);
    };
    await note(
      'exampleCount',
      call(base, 'POST', updatePath(0, 'exampleCount=3000000000&trainLoss=0.5&durationMs=5'), { token: a.token, raw: floats([0]) }),
    );
    await note(
      'durationMs',
      call(base, 'POST', updatePath(0, 'exampleCount=1&trainLoss=0.5&durationMs=2147483648'), { token: a.token, raw: floats([0]) }),
    );
    await note('update round', call(base, 'POST', updatePath('99999999999'), { token: a.token, raw: floats([0]) }));
    await note('decline round', call(base, 'POST', `/api/v1/jobs/${jobId}/rounds/2147483648/decline`, { token: a.token, json: {} }));
    await note(
      'exampleCounts',
      call(base, 'POST', '/api/v1/agents/register', {
        json: { joinToken: TEST_JOIN_TOKEN, name: 'big', datasets: ['uci-digits'], exampleCounts: { 'uci-digits': 3_000_000_000 } },
      }),
    );
    await note(
      'cutoffK',
      call(base, 'POST', '/api/v1/jobs', {
        token: ADMIN,
        json: {
          kind: 'federated',
          dataset: 'uci-digits',
          model: { arch: 'softmax' },
          rounds: 1,
          aggregation: { rule: 'fedau', cutoffK: 2 ** 31 },
        },
      }),
    );
    expect(refusals).toEqual([
      ['exampleCount', 400, expect.stringMatching(/exampleCount: Too big/)],
      ['durationMs', 400, expect.stringMatching(/durationMs: Too big/)],
      ['update round', 400, expect.stringMatching(/Invalid round/)],
      ['decline round', 400, expect.stringMatching(/Invalid round.*2147483647/)],
      ['exampleCounts', 400, expect.stringMatching(/exampleCounts\.uci-digits: Too big/)],
      ['cutoffK', 400, expect.stringMatching(/aggregation\.cutoffK/)],
    ]);
    // The largest int4 is still a round index.
    expect((await call(base, 'POST', `/api/v1/jobs/${jobId}/rounds/2147483647/decline`, { token: a.token, json: {} })).status).toBe(404);
  });

  it('NUL and lone UTF-16 surrogates in names, labels, messages and map keys are a 400, and nothing is stored', async () => {
    const jobsBefore = (await call<unknown[]>(base, 'GET', '/api/v1/jobs?limit=500', { token: ADMIN })).body.length;
    const agentsBefore = (await call<unknown[]>(base, 'GET', '/api/v1/agents', { token: ADMIN })).body.length;
    const job = (name: string) => `{"kind":"federated","dataset":"uci-digits","model":{"arch":"softmax"},"rounds":1,"name":"${name}"}`;
    const registration = (extra: string) => `{"joinToken":"${TEST_JOIN_TOKEN}","name":"odd","datasets":["uci-digits"],${extra}}`;
    const cases: [string, string, string, string | undefined, string][] = [
      ['job name with NUL', '/api/v1/jobs', ADMIN, job('a\\u0000b'), 'name'],
      ['job name with a lone surrogate', '/api/v1/jobs', ADMIN, job('a\\ud800'), 'name'],
      [
        'exampleCounts key with NUL',
        '/api/v1/agents/register',
        '',
        registration('"exampleCounts":{"uci-digits\\u0000":1}'),
        'exampleCounts',
      ],
      [
        'datasetHashes key, lone surrogate',
        '/api/v1/agents/register',
        '',
        registration(`"datasetHashes":{"\\udc00":"${H}"}`),
        'datasetHashes',
      ],
      ['join token label', '/api/v1/join-tokens', ADMIN, '{"label":"edge \\ud800"}', 'label'],
      ['API key label', '/api/v1/api-keys', ADMIN, '{"label":"x\\u0000","role":"viewer"}', 'label'],
      ['decline message', `/api/v1/jobs/${jobId}/rounds/0/decline`, a.token, '{"message":"\\u0000"}', 'message'],
      ['task failure message', `/api/v1/tasks/${jobId}/failure`, a.token, '{"message":"x\\udfff"}', 'message'],
    ];
    const got: [string, number, string][] = [];
    for (const [what, path, token, body] of cases) {
      const r = await rawRequest(base, {
        method: 'POST',
        path,
        headers: { ...(token ? bearer(token) : {}), 'content-type': 'application/json' },
        body: new Uint8Array(Buffer.from(body!)),
      });
      got.push([what, r.status, parsed(r.text).message]);
    }
    expect(got).toEqual(
      cases.map(([what, , , , field]): [string, number, unknown] => [
        what,
        400,
        expect.stringMatching(new RegExp(`${field}.*NUL or an unpaired UTF-16 surrogate`)),
      ]),
    );
    expect((await call<unknown[]>(base, 'GET', '/api/v1/jobs?limit=500', { token: ADMIN })).body.length).toBe(jobsBefore);
    expect((await call<unknown[]>(base, 'GET', '/api/v1/agents', { token: ADMIN })).body.length).toBe(agentsBefore);
    // In a query too (a value the route's schema would not look at).
    const q = await rawRequest(base, { method: 'GET', path: '/api/v1/jobs?limit=5&x=%00', headers: bearer(ADMIN) });
    expect([q.status, parsed(q.text).message]).toEqual([400, expect.stringMatching(/Invalid query: x/)]);
  });

  describe('authentication before any body is read', () => {
    const uploads = (): [string, string, string][] => [
      ['an update', updatePath(0), 'application/octet-stream'],
      ['a blob', '/api/v1/blobs', 'application/octet-stream'],
      ['a task result', `/api/v1/tasks/${jobId}/result`, 'application/json'],
      ['a job spec', '/api/v1/jobs', 'application/json'],
      ['an API key', '/api/v1/api-keys', 'application/json'],
    ];

    it.each([
      ['no credentials', undefined],
      ['garbage credentials', 'not.a-credential'],
    ])('with %s, a 40 MiB upload is answered 401 after 16 KiB of it, and the connection closed', async (_who, token) => {
      for (const [what, path, type] of uploads()) {
        const headers = { ...(token ? bearer(token) : {}), 'content-type': type, 'content-length': String(40 * MiB) };
        const r = await answerBeforeBody(base, { method: 'POST', path, headers, first: new Uint8Array(16 * 1024) });
        expect([what, r.status, r.closed]).toEqual([what, 401, true]);
      }
    });

    it("an agent's credentials on a people route, a viewer's on a submitter route: refused before the body", async () => {
      const viewer = (await call<CreatedApiKey>(base, 'POST', '/api/v1/api-keys', { token: ADMIN, json: { label: 'v', role: 'viewer' } }))
        .body;
      const headers = { 'content-type': 'application/json', 'content-length': String(40 * MiB) };
      const asAgent = await answerBeforeBody(base, {
        method: 'POST',
        path: '/api/v1/jobs',
        headers: { ...headers, ...bearer(a.token) },
        first: new Uint8Array(16 * 1024),
      });
      expect(asAgent.status).toBe(401);
      const asViewer = await answerBeforeBody(base, {
        method: 'POST',
        path: '/api/v1/jobs',
        headers: { ...headers, ...bearer(viewer.key) },
        first: new Uint8Array(16 * 1024),
      });
      expect([asViewer.status, parsed(asViewer.text).message]).toEqual([403, expect.stringMatching(/Needs role submitter/)]);
    });

    it('an unauthenticated gzip bomb is answered 401 before it is even complete, so it is never inflated', async () => {
      const bomb = gzipSync(new Uint8Array(64 * MiB)); // about 64 KiB
      for (const [what, path, type] of uploads()) {
        const r = await answerBeforeBody(base, {
          method: 'POST',
          path,
          headers: { 'content-type': type, 'content-encoding': 'gzip', 'content-length': String(bomb.byteLength) },
          first: bomb.subarray(0, bomb.byteLength - 1),
        });
        expect([what, r.status]).toEqual([what, 401]);
      }
    });
  });

  describe('per-agent transfers in flight', () => {
    const inFlight = async () => {
      const m = await call<Uint8Array>(base, 'GET', '/metrics');
      return Number(/^flotilla_agent_transfers (\d+)$/m.exec(Buffer.from(m.body).toString())?.[1]);
    };
    const hold = (token: string): HeldUpload =>
      holdUpload(base, {
        path: updatePath(0),
        headers: { ...bearer(token), 'content-type': 'application/octet-stream', 'content-length': '60000' },
        first: new Uint8Array(1000),
      });

    it('the next upload or download beyond AGENT_MAX_TRANSFERS is a 429 with Retry-After; other agents are not affected; a slot frees when a transfer ends', async () => {
      const held = [hold(a.token), hold(a.token)];
      await waitFor('both uploads in flight', async () => (await inFlight()) === 2);
      const third = await rawRequest(base, {
        method: 'POST',
        path: updatePath(0),
        headers: { ...bearer(a.token), 'content-type': 'application/octet-stream' },
        body: floats([0]),
      });
      expect([third.status, parsed(third.text).code, third.headers['retry-after']]).toEqual([429, 'too_many_transfers', '1']);
      const download = await rawRequest(base, { method: 'GET', path: `/api/v1/blobs/${H}`, headers: bearer(a.token) });
      expect(download.status).toBe(429);
      // Per agent: b's transfers go on.
      const other = await rawRequest(base, { method: 'GET', path: `/api/v1/blobs/${H}`, headers: bearer(b.token) });
      expect(other.status).toBe(404);
      // A heartbeat is no transfer.
      expect((await call(base, 'POST', '/api/v1/agents/heartbeat', { token: a.token, json: {} })).status).toBe(204);
      held[0].abort();
      await waitFor('a slot freed', async () => (await inFlight()) === 1);
      expect((await rawRequest(base, { method: 'GET', path: `/api/v1/blobs/${H}`, headers: bearer(a.token) })).status).toBe(404);
      held[1].abort();
      await waitFor('every slot freed', async () => (await inFlight()) === 0);
    });
  });

  describe('blob uploads: only for tasks that name blobs, within the agent quota', () => {
    let n: { id: string; token: string };
    let task: { taskId: string; kind: string };
    let nasJob: string;
    const upload = (token: string, values: number[] | Float32Array) =>
      rawRequest(base, {
        method: 'POST',
        path: '/api/v1/blobs',
        headers: { ...bearer(token), 'content-type': 'application/octet-stream' },
        body: floats(values),
      });
    const sha = (values: number[]) => createHash('sha256').update(floats(values)).digest('hex');
    const stored = async (hash: string) =>
      (await rawRequest(base, { method: 'GET', path: `/api/v1/blobs/${hash}`, headers: bearer(n.token) })).status;

    beforeAll(async () => {
      await call(base, 'POST', `/api/v1/jobs/${jobId}/cancel`, { token: ADMIN });
      n = await register('limits-nas', { 'uci-digits': H });
    });

    it('refuses an upload no task asked for, before reading its body', async () => {
      const r = await answerBeforeBody(base, {
        method: 'POST',
        path: '/api/v1/blobs',
        headers: { ...bearer(n.token), 'content-type': 'application/octet-stream', 'content-length': '60000' },
        first: new Uint8Array(1000),
      });
      expect([r.status, parsed(r.text).code]).toEqual([403, 'upload_not_expected']);
      expect(parsed(r.text).message).toMatch(/nas\.train, nas\.standalone/);
    });

    it('takes uploads for a running nas.train task up to the quota in bytes and in blobs; a repeated upload is free', async () => {
      const job = await call<{ id: string }>(base, 'POST', '/api/v1/jobs', {
        token: ADMIN,
        json: { kind: 'nas', dataset: 'uci-digits', warmupSteps: 30, finalSteps: 30, selection: { standaloneSteps: 40 } },
      });
      expect(job.status).toBe(201);
      nasJob = job.body.id;
      const work = await waitFor('a task for the agent', async () => {
        const w = await call<AgentWork>(base, 'GET', '/api/v1/agents/me/work?waitMs=5000', { token: n.token });
        return w.status === 200 && w.body.kind === 'task' ? w.body.task : undefined;
      });
      task = { taskId: work.taskId, kind: work.kind };
      expect(task.kind).toBe('nas.train');

      const v800 = Array.from({ length: 200 }, (_, i) => i / 7);
      const first = await upload(n.token, v800);
      expect([first.status, JSON.parse(first.text)]).toEqual([200, { hash: sha(v800), count: 200 }]);
      expect((await upload(n.token, v800)).status).toBe(200); // the same blob again: counted once
      // 800 + 300 bytes > 1024: refused once read, and not stored.
      const v300 = Array.from({ length: 75 }, (_, i) => i + 0.25);
      const over = await upload(n.token, v300);
      expect([over.status, parsed(over.text).code, parsed(over.text).message]).toEqual([
        403,
        'quota_exceeded',
        expect.stringMatching(/AGENT_BLOB_QUOTA_BYTES/),
      ]);
      expect(await stored(sha(v300))).toBe(404);
      // A declared size over the whole quota: refused before the body.
      const declared = await answerBeforeBody(base, {
        method: 'POST',
        path: '/api/v1/blobs',
        headers: { ...bearer(n.token), 'content-type': 'application/octet-stream', 'content-length': String(QUOTA_BYTES + 4) },
        first: new Uint8Array(16),
      });
      expect([declared.status, parsed(declared.text).code]).toEqual([403, 'quota_exceeded']);
      // Up to four blobs (1000 + 4 + 4 bytes), then no fifth, however small.
      for (const v of [Array.from({ length: 50 }, () => 1), [2], [3]]) expect((await upload(n.token, v)).status).toBe(200);
      const fifth = await upload(n.token, [4]);
      expect([fifth.status, parsed(fifth.text).message]).toEqual([403, expect.stringMatching(/AGENT_BLOB_QUOTA_COUNT/)]);
      expect(await stored(sha([4]))).toBe(404);
      expect((await upload(n.token, [2])).status).toBe(200); // a retry of an upload that was taken
      expect(await stored(sha(v800))).toBe(200);
      // Another agent holds no task: nothing to upload for.
      expect(parsed((await upload(b.token, [5])).text).code).toBe('upload_not_expected');
    }, 60_000);

    it('refuses a task result holding NUL before its contract sees it; once the task has ended, uploads are refused again', async () => {
      const nul = await rawRequest(base, {
        method: 'POST',
        path: `/api/v1/tasks/${task.taskId}/result`,
        headers: { ...bearer(n.token), 'content-type': 'application/json' },
        body: new Uint8Array(Buffer.from('{"result":{"params":"\\u0000"},"durationMs":1}')),
      });
      expect([nul.status, parsed(nul.text).message]).toEqual([400, expect.stringMatching(/result\.params: must not contain NUL/)]);
      // The task is still this agent's (a 400 is not a result): its uploads still count.
      expect(parsed((await upload(n.token, [6])).text).code).toBe('quota_exceeded');
      const failed = await call<{ status: string }>(base, 'POST', `/api/v1/tasks/${task.taskId}/failure`, {
        token: n.token,
        json: { message: 'giving up' },
      });
      expect(failed.body.status).toBe('failed'); // TASK_MAX_ATTEMPTS = 1: the job fails with it
      expect(parsed((await upload(n.token, [6])).text).code).toBe('upload_not_expected');
      // (Stopping the coordinator while the job's last step runs would race it.)
      await waitFor(
        'the job failed',
        async () => (await call<{ status: string }>(base, 'GET', `/api/v1/jobs/${nasJob}`, { token: ADMIN })).body.status === 'failed',
      );
      // The quota ledger keeps rows only for open tasks: a sweep that deletes also deletes those of the ended task
      // (a dry run touches nothing).
      const ledger = async () => (await sqlRows<{ n: string }>(c.dbUrl, 'SELECT count(*) AS n FROM blob_uploads', []))[0].n;
      expect(await ledger()).toBe('4');
      const sweep = (dryRun: boolean) =>
        call(base, 'POST', '/api/v1/admin/blobs/gc', { token: ADMIN, json: { dryRun, graceMs: 86_400_000 } });
      expect((await sweep(true)).status).toBe(200);
      expect(await ledger()).toBe('4');
      expect((await sweep(false)).status).toBe(200);
      expect(await ledger()).toBe('0');
    });
  });
});
