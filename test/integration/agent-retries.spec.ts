import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CoordinatorClient } from '../../apps/client-agent/src/coordinator-client';
import { retryReason } from '../../apps/client-agent/src/retry-policy';
import { FaultProxy, type FaultPlan } from '../../scripts/lib/fault-proxy';
import { waitFor } from '../support/http';

const AGENT = '00000000-0000-4000-8000-000000000001';
const SECRET = 'a'.repeat(43);

/** 256 Ki float32 values (1 MiB): large enough that the proxy can cut or corrupt the body mid-way. */
const BLOB = Float32Array.from({ length: 1 << 18 }, (_, i) => Math.sin(i));
const BLOB_BYTES = Buffer.from(BLOB.buffer);
const BLOB_HASH = createHash('sha256').update(BLOB_BYTES).digest('hex');

/** A work item as a poll hands it out. */
const WORK = {
  kind: 'train',
  id: 'train.j.0.a',
  queuedAt: 1,
  train: {
    jobId: '3f1c2b4a-5d6e-4f70-8a9b-0c1d2e3f4a5b',
    round: 0,
    modelHash: BLOB_HASH,
    parameterCount: BLOB.length,
    model: { arch: 'softmax' },
    dataset: 'uci-digits',
    featureRange: [0, 16],
    numClasses: 10,
    localSteps: 1,
    batchSize: 1,
    localLr: 0.1,
    deadline: new Date(0).toISOString(),
    seed: 0,
  },
};

/**
 * A coordinator stand-in behind the fault-injecting proxy: it serves one blob and takes task results, counting the
 * requests that reached it. `onRequest` runs first (a test switches the proxy's faults off from there).
 */
async function stage(plan: FaultPlan) {
  const seen: string[] = [];
  let onRequest: (req: IncomingMessage) => void = () => undefined;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    seen.push(`${req.method} ${req.url}`);
    onRequest(req);
    req.resume();
    req.on('end', () => {
      if (req.url?.startsWith('/api/v1/agents/me/work')) {
        const body = JSON.stringify(WORK);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
      } else if (req.url === `/api/v1/blobs/${BLOB_HASH}`) {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BLOB_BYTES.length }).end(BLOB_BYTES);
      } else {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'accepted' }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const proxy = await FaultProxy.start({ host: '127.0.0.1', port: (server.address() as AddressInfo).port }, plan, { seed: 7 });
  const log: string[] = [];
  const client = new CoordinatorClient(proxy.url, { retry: { baseDelayMs: 20, maxDelayMs: 200 }, log: (l) => log.push(l) });
  client.useCredentials(AGENT, SECRET);
  return {
    seen,
    proxy,
    client,
    log,
    set onRequest(fn: (req: IncomingMessage) => void) {
      onRequest = fn;
    },
    async close() {
      await client.close();
      await proxy.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

describe('the agent HTTP client behind a faulty network (a real proxy injecting faults)', () => {
  let s: Awaited<ReturnType<typeof stage>>;
  afterEach(() => s.close());

  it('a download cut mid-body is fetched again and returned whole', async () => {
    s = await stage({ cutBody: 1, cutAfterBytes: 300_000 });
    s.onRequest = () => s.proxy.setPlan({}); // only the first connection is cut

    const got = await s.client.weights(BLOB_HASH, BLOB.length, Date.now() + 10_000);

    expect(s.proxy.counts.cutBodies).toBe(1);
    expect(s.seen).toHaveLength(2);
    expect(Buffer.from(got.buffer).equals(BLOB_BYTES)).toBe(true);
    expect(s.client.stats).toEqual({ retries: 1, failures: 0 });
    expect(s.log).toEqual([expect.stringMatching(/^download of [0-9a-f]{12}: done after 2 tries in .* s \(.+\)$/)]);
  });

  it('a corrupted download (right length, wrong bytes) fails its sha256 check and is fetched again', async () => {
    s = await stage({ corruptBody: 1, cutAfterBytes: 123_457 });
    s.onRequest = () => s.proxy.setPlan({});

    const got = await s.client.weights(BLOB_HASH, BLOB.length, Date.now() + 10_000);

    expect(s.proxy.counts.corruptBodies).toBe(1);
    expect(s.seen).toHaveLength(2);
    expect(Buffer.from(got.buffer).equals(BLOB_BYTES)).toBe(true);
    expect(s.log).toEqual([expect.stringContaining('(corrupt download)')]);
  });

  it('an answer whose bytes were damaged on the way (it no longer parses) is a retryable failure, not a reason to stop', async () => {
    s = await stage({ corruptBody: 1, cutAfterBytes: 0 }); // the first byte of the JSON: it cannot parse

    const damaged = await s.client.nextWork(0).then(
      () => null,
      (e: unknown) => e,
    );
    expect(s.proxy.counts.corruptBodies).toBe(1);
    expect(retryReason(damaged)).toBe('malformed answer');
    s.proxy.setPlan({});
    expect(await s.client.nextWork(0)).toEqual(WORK);
  });

  it('a connection reset before the request reaches the coordinator is retried: the coordinator sees it once', async () => {
    s = await stage({ resetBefore: 1 });
    const first = s.client.taskResult('t1', { x: 1 }, 5, Date.now() + 10_000);
    // Connections are reset until one has been (a fixed pause here raced the proxy accepting the first connection on a
    // loaded machine); later ones pass.
    await waitFor('a reset', () => Promise.resolve(s.proxy.counts.resetsBefore >= 1), 5_000);
    s.proxy.setPlan({});
    await first;

    expect(s.proxy.counts.resetsBefore).toBeGreaterThanOrEqual(1);
    expect(s.seen).toEqual(['POST /api/v1/tasks/t1/result']);
    expect(s.log).toEqual([expect.stringMatching(/result of task t1: done after \d+ tries .*ECONNRESET/)]);
  });

  it('a reset after the coordinator took the request (the answer lost) is retried: the coordinator sees it twice', async () => {
    s = await stage({ resetAfter: 1 });
    s.onRequest = () => s.proxy.setPlan({});

    await s.client.taskResult('t1', { x: 1 }, 5, Date.now() + 10_000);

    expect(s.proxy.counts.resetsAfter).toBe(1);
    expect(s.seen).toEqual(['POST /api/v1/tasks/t1/result', 'POST /api/v1/tasks/t1/result']);
  });

  it('an idle pooled connection the network closed meanwhile does not lose the next call', async () => {
    s = await stage({ idleCloseMs: 100 });
    await s.client.taskResult('t1', {}, 1, Date.now() + 10_000);
    await new Promise((r) => setTimeout(r, 400)); // the proxy closes the idle socket (FIN) at ~100–150 ms

    await s.client.taskResult('t2', {}, 1, Date.now() + 10_000);

    expect(s.proxy.counts.idleClosed).toBeGreaterThanOrEqual(1);
    expect(s.seen).toEqual(['POST /api/v1/tasks/t1/result', 'POST /api/v1/tasks/t2/result']);
  });

  it('a call that keeps failing gives up at its deadline with the last error, counted as a failure and logged once', async () => {
    s = await stage({ resetBefore: 1 });
    const until = Date.now() + 500;

    const error = await s.client.taskResult('t1', {}, 1, until).then(
      () => null,
      (e: unknown) => e as Error,
    );

    // Every try is reset. The last one ends with its reset, or, when the machine is loaded, with the deadline: the
    // try may only take what is left of the budget, and a timer that is due runs before a reset that is waiting to be
    // read. Either way the call gives up with that try's error, not before its deadline allows.
    expect(error?.message).toMatch(/fetch failed|aborted due to timeout/);
    const cut = /aborted due to timeout/.test(error!.message);
    if (cut) expect(Date.now()).toBeGreaterThanOrEqual(until - 2);
    expect(s.seen).toEqual([]);
    expect(s.client.stats.failures).toBe(1);
    const tries = s.client.stats.retries + 1;
    // A reset try is retried while a pause fits before the deadline (pauses ≤ 200 ms): giving up sooner is a bug.
    if (!cut) expect(Date.now()).toBeGreaterThanOrEqual(until - 200);
    const resets = cut ? tries - 1 : tries;
    const reasons = [...(resets ? [resets > 1 ? `ECONNRESET ×${resets}` : 'ECONNRESET'] : []), ...(cut ? ['timeout'] : [])].join(', ');
    // A call that needed more than one try is logged once, when it gives up, with what went wrong.
    expect(s.log).toEqual(
      tries > 1 ? [`result of task t1: gave up after ${tries} tries in ${s.log[0]?.match(/in (\S+ s)/)?.[1]} (${reasons})`] : [],
    );
    // Every try that was retried had been reset by the network.
    expect(s.proxy.counts.resetsBefore).toBeGreaterThanOrEqual(s.client.stats.retries);
  });
});
