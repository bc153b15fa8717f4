import * as fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { call, rawRequest, type RawReply } from '../support/http';
import { startInProcessCoordinator, TEST_ADMIN_TOKEN, TEST_JOIN_TOKEN, type InProcessCoordinator } from '../support/in-process';
import {
  badParam,
  MALFORMED_JSON,
  oneDefect,
  operations,
  typicalParam,
  valueFor,
  type Known,
  type Operation,
} from '../support/openapi-fuzz';

/** Fixed: the same requests on every run (a failure names the seed and path to replay it). */
const SEED = 20_260_712;
const RUNS = 2500;
/** Small limits, so that bodies over them are cheap to send. */
const MAX_JSON_BYTES = 16 * 1024;
const MAX_UPDATE_BYTES = 16 * 1024;

type Caller = 'admin' | 'agent' | 'none' | 'garbage';

interface Probe {
  op: Operation;
  caller: Caller;
  path: string;
  query: string;
  body?: Uint8Array;
  headers: Record<string, string>;
  chunked: boolean;
}

/**
 * Every operation of the coordinator's OpenAPI document, called with generated paths, queries and bodies as an admin,
 * as an agent, without credentials and with garbage ones: no answer may be a 5xx. Bodies follow the route's schema
 * (so they reach the services) with edge values mixed in — int4 and float limits, NUL, lone surrogates, long
 * strings — or are arbitrary JSON, malformed, oversized, compressed, in an unknown encoding or chunked.
 */
describe('fuzz: every route of the OpenAPI document, no 5xx (coordinator in-process)', () => {
  let c: InProcessCoordinator;
  let ops: Operation[];
  let known: Known;
  let agentToken: string;

  beforeAll(async () => {
    c = await startInProcessCoordinator('fuzz', {
      MAX_JSON_BYTES: String(MAX_JSON_BYTES),
      MAX_UPDATE_BYTES: String(MAX_UPDATE_BYTES),
      AGENT_RATE_PER_SECOND: '100000',
      REGISTER_RATE_PER_MINUTE: '100000',
    });
    const doc = await call<Parameters<typeof operations>[0]>(c.base, 'GET', '/api/docs-json');
    ops = operations(doc.body);
    const agent = await call<{ agentId: string; agentSecret: string }>(c.base, 'POST', '/api/v1/agents/register', {
      json: { joinToken: TEST_JOIN_TOKEN, name: 'fuzz-agent', datasets: ['uci-digits'], datasetHashes: { 'uci-digits': 'ab'.repeat(32) } },
    });
    agentToken = `${agent.body.agentId}.${agent.body.agentSecret}`;
    // A real job, so that ids and round 0 name something.
    const job = await call<{ id: string }>(c.base, 'POST', '/api/v1/jobs', {
      token: TEST_ADMIN_TOKEN,
      json: { kind: 'federated', dataset: 'uci-digits', model: { arch: 'softmax' }, rounds: 3, roundDeadlineMs: 600_000 },
    });
    expect(job.status).toBe(201);
    known = { ids: [job.body.id, randomUUID()], strings: ['uci-digits', TEST_JOIN_TOKEN, 'fuzz'] };
  }, 60_000);
  afterAll(async () => {
    // Every job ends first: stopping the coordinator while a job's step runs would race it.
    const running = await call<{ id: string }[]>(c.base, 'GET', '/api/v1/jobs?status=running&limit=500', { token: TEST_ADMIN_TOKEN });
    for (const j of running.body) await call(c.base, 'POST', `/api/v1/jobs/${j.id}/cancel`, { token: TEST_ADMIN_TOKEN });
    await new Promise((r) => setTimeout(r, 500));
    await c?.stop();
  }, 30_000);

  /** Requests of every operation, equally often (each operation's generator built once). */
  function probe(): fc.Arbitrary<Probe> {
    return fc.oneof(...ops.map(probeOf));
  }

  /**
   * Requests of one operation with at most one defect (so that the defect is what the coordinator meets): in its
   * caller, a path parameter, the query, the body or the headers; or none, a request as its route wants it.
   */
  function probeOf(op: Operation): fc.Arbitrary<Probe> {
    const intended: Caller = op.audience === 'agent' ? 'agent' : 'admin';
    const goodParams = fc.tuple(...op.pathParams.map((name) => typicalParam(name, known)));
    // One parameter bad, the others as they should be.
    const badParams = fc
      .tuple(goodParams, badParam(), fc.nat())
      .map(([values, bad, i]) => values.map((v, j) => (j === i % values.length ? bad : v)));
    const goodQuery = fc.tuple(...op.queryParams.map((name) => typicalParam(name, known).map((v) => `${name}=${v}`)));
    // One documented parameter bad or missing, or one the route does not know added.
    const badQuery = fc.tuple(goodQuery, badParam(), fc.nat(), fc.boolean()).map(([q, bad, i, drop]) => {
      const at = i % (q.length + 1);
      if (at === q.length) return [...q, `x=${bad}`];
      return q.flatMap((v, j) => (j !== at ? [v] : drop ? [] : [`${op.queryParams[j]}=${bad}`]));
    });
    const plain = fc.constant({ encoding: 'identity', chunked: false, type: undefined as string | undefined });
    const parts = (defect: string) =>
      fc.record({
        caller: defect === 'caller' ? fc.constantFrom<Caller>('admin', 'agent', 'none', 'garbage') : fc.constant(intended),
        params: defect === 'path' ? badParams : goodParams,
        query: defect === 'query' ? badQuery : goodQuery,
        body: defect === 'body' ? badBody(op) : goodBody(op),
        headers: defect === 'headers' ? badHeaders() : plain,
      });
    const defects = ['none', 'caller', 'body', 'body', 'headers', 'query', ...(op.pathParams.length ? ['path'] : [])];
    return fc.oneof(...defects.map(parts)).map(({ caller, params, query, body, headers: h }) => {
      let i = 0;
      const path = op.template.replace(/\{\w+\}/g, () => params[i++]);
      const headers: Record<string, string> = {};
      let bytes = body?.bytes;
      const type = h.type ?? body?.type;
      if (type) headers['content-type'] = type;
      if (bytes && h.encoding !== 'identity') {
        headers['content-encoding'] = h.encoding === 'garbled-gzip' ? 'gzip' : h.encoding;
        if (h.encoding === 'gzip') bytes = gzipSync(bytes);
      }
      return { op, caller, path, query: query.join('&'), body: bytes, headers, chunked: h.chunked };
    });
  }

  const utf8 = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));

  /** The body the route wants: valid JSON for its schema, float32 values for an upload, none for the others. */
  function goodBody(op: Operation): fc.Arbitrary<{ type?: string; bytes: Uint8Array } | undefined> {
    if (op.body?.type === 'json')
      return valueFor(op.body.schema, known, false).map((v) => ({ type: 'application/json', bytes: utf8(JSON.stringify(v)) }));
    if (op.body?.type === 'binary')
      return fc
        .array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 16 })
        .map((v) => ({ type: 'application/octet-stream', bytes: new Uint8Array(Float32Array.from(v).buffer) }));
    return fc.constant(undefined);
  }

  /** A body the route does not want: one defect in a valid one, arbitrary or malformed JSON, too large, none at all. */
  function badBody(op: Operation): fc.Arbitrary<{ type?: string; bytes: Uint8Array } | undefined> {
    const json = (a: fc.Arbitrary<string>) => a.map((t) => ({ type: 'application/json', bytes: utf8(t) }));
    const oversized = fc.constant({ type: 'application/json', bytes: utf8(JSON.stringify({ name: 'x'.repeat(MAX_JSON_BYTES) })) });
    const common = [
      { arbitrary: json(fc.jsonValue().map((v) => JSON.stringify(v))), weight: 1 },
      { arbitrary: json(fc.constantFrom(...MALFORMED_JSON)), weight: 1 },
      { arbitrary: oversized, weight: 1 },
      { arbitrary: fc.constant(undefined), weight: 1 },
    ];
    if (op.body?.type === 'json') {
      const schema = op.body.schema;
      return fc.oneof(
        { arbitrary: json(oneDefect(schema, known).map((v) => JSON.stringify(v) ?? 'null')), weight: 8 },
        { arbitrary: json(valueFor(schema, known, true).map((v) => JSON.stringify(v) ?? 'null')), weight: 2 },
        ...common,
      );
    }
    if (op.body?.type === 'binary')
      return fc.oneof(
        { arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ type: 'application/octet-stream', bytes })), weight: 3 },
        { arbitrary: fc.constant({ type: 'application/octet-stream', bytes: new Uint8Array(MAX_UPDATE_BYTES + 4) }), weight: 1 },
        ...common,
      );
    return fc.oneof(...common);
  }

  /** Headers the body does not go with: another type or charset, compressed, an unknown or broken encoding, chunked. */
  function badHeaders(): fc.Arbitrary<{ type?: string; encoding: string; chunked: boolean }> {
    return fc.record({
      type: fc.constantFrom(
        undefined,
        'application/json; charset=latin1',
        'application/json; charset=utf-16',
        'text/plain',
        'application/octet-stream',
      ),
      encoding: fc.constantFrom('identity', 'gzip', 'bogus', 'garbled-gzip', 'gzip, deflate'),
      chunked: fc.boolean(),
    });
  }

  async function send(p: Probe): Promise<RawReply> {
    const headers = { ...p.headers };
    const credential = { admin: TEST_ADMIN_TOKEN, agent: agentToken, none: undefined, garbage: 'x.y' }[p.caller];
    if (credential) headers.authorization = `Bearer ${credential}`;
    let query = p.query;
    // The long poll: without a wait it would wait 25 s (a bad one is refused at once).
    if (p.op.template === '/api/v1/agents/me/work' && !/(^|&)waitMs=/.test(query)) query = `waitMs=0&${query}`;
    return rawRequest(c.base, {
      method: p.op.method,
      path: p.path + (query ? `?${query}` : ''),
      headers,
      body: p.body,
      chunked: p.chunked,
    });
  }

  it('answers every generated request with a status below 500', async () => {
    expect(ops.length).toBeGreaterThanOrEqual(30);
    const seen = new Map<string, Set<number>>();
    await fc.assert(
      fc.asyncProperty(probe(), async (p) => {
        const reply = await send(p);
        const key = `${p.op.method} ${p.op.template}`;
        if (!seen.has(key)) seen.set(key, new Set());
        seen.get(key)!.add(reply.status);
        if (reply.status >= 500) {
          const body = p.body ? Buffer.from(p.body).toString('utf8', 0, Math.min(p.body.byteLength, 300)) : '';
          throw new Error(
            `${reply.status} for ${p.op.method} ${p.path}?${p.query} as ${p.caller} (${JSON.stringify(p.headers)}, chunked ${p.chunked}): ${body}\n→ ${reply.text}`,
          );
        }
        // Keep the test's own state usable: jobs it created stop, a rotated agent secret is the new one.
        if (p.op.method === 'POST' && p.op.template === '/api/v1/jobs' && reply.status === 201)
          await call(c.base, 'POST', `/api/v1/jobs/${(JSON.parse(reply.text) as { id: string }).id}/cancel`, { token: TEST_ADMIN_TOKEN });
        if (p.op.template === '/api/v1/agents/me/secret' && reply.status === 200) {
          const r = JSON.parse(reply.text) as { agentId: string; agentSecret: string };
          agentToken = `${r.agentId}.${r.agentSecret}`;
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
    // Every operation was called, and the agent's and admin's calls got past authentication somewhere.
    expect(ops.map((o) => `${o.method} ${o.template}`).filter((k) => !seen.has(k))).toEqual([]);
    const statuses = [...seen.values()].flatMap((s) => [...s]);
    for (const s of [200, 201, 400, 401, 404, 413, 415]) expect([s, statuses.includes(s)]).toEqual([s, true]);
  }, 120_000);
});
