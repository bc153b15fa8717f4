import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CoordinatorClient, CoordinatorError } from './coordinator-client';

/**
 * A coordinator stand-in: answers each request with the next status of `statuses` (then 200), recording bodies and
 * arrival times; a 429 carries `Retry-After: 1`.
 */
function fakeCoordinator(statuses: number[]): Promise<{ server: Server; url: string; bodies: string[]; times: number[] }> {
  const bodies: string[] = [];
  const times: number[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      bodies.push(body);
      times.push(Date.now());
      const status = statuses.shift() ?? 200;
      res
        .writeHead(status, { 'content-type': 'application/json', ...(status === 429 ? { 'retry-after': '1' } : {}) })
        .end(JSON.stringify(status === 200 ? { status: 'accepted' } : { code: 'x', message: `status ${status}` }));
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies, times }),
    ),
  );
}

describe('CoordinatorClient retries idempotent answers while the coordinator is away', () => {
  const servers: Server[] = [];
  afterEach(() =>
    servers.splice(0).forEach((s) => {
      s.closeAllConnections();
      s.close();
    }),
  );

  it('delivers a task result once the coordinator is back (503 twice, then accepted)', async () => {
    const c = await fakeCoordinator([503, 503]);
    servers.push(c.server);
    const client = new CoordinatorClient(c.url, { retry: { baseDelayMs: 10 } });
    client.useCredentials('00000000-0000-0000-0000-000000000000', 'secret-secret-secret');
    await client.taskResult('t1', { x: [1] }, 5, Date.now() + 5000);
    expect(c.bodies).toHaveLength(3);
    expect(JSON.parse(c.bodies[2])).toEqual({ result: { x: [1] }, durationMs: 5 });
  });

  it('retries a refused connection until the coordinator listens again', async () => {
    const c = await fakeCoordinator([]);
    const { port } = c.server.address() as AddressInfo;
    await new Promise((r) => c.server.close(r));
    const client = new CoordinatorClient(`http://127.0.0.1:${port}`, { retry: { baseDelayMs: 20 } });
    client.useCredentials('00000000-0000-0000-0000-000000000000', 'secret-secret-secret');
    // Down for 150 ms (connection refused), then back on the same port.
    setTimeout(() => c.server.listen(port, '127.0.0.1'), 150);
    servers.push(c.server);
    await client.taskFailure('t1', 'boom', Date.now() + 5000);
    expect(c.bodies.map((b) => JSON.parse(b) as unknown)).toEqual([{ message: 'boom' }]);
  });

  it('does not retry a 4xx (final) or past the deadline', async () => {
    const c = await fakeCoordinator([409, 503, 503, 503]);
    servers.push(c.server);
    const client = new CoordinatorClient(c.url, { retry: { baseDelayMs: 10 } });
    client.useCredentials('00000000-0000-0000-0000-000000000000', 'secret-secret-secret');
    await expect(client.taskResult('t1', {}, 1, Date.now() + 5000)).rejects.toMatchObject({ status: 409 });
    expect(c.bodies).toHaveLength(1);
    await expect(client.taskResult('t1', {}, 1, 0)).rejects.toBeInstanceOf(CoordinatorError);
    expect(c.bodies).toHaveLength(2);
  });

  it('waits as long as a 429 says (Retry-After), not its own backoff', async () => {
    const c = await fakeCoordinator([429]);
    servers.push(c.server);
    const client = new CoordinatorClient(c.url, { retry: { baseDelayMs: 10 } });
    client.useCredentials('00000000-0000-0000-0000-000000000000', 'secret-secret-secret');
    await client.taskResult('t1', {}, 1, Date.now() + 5000);
    expect(c.bodies).toHaveLength(2);
    // Retry-After: 1 → the second try comes a second later, not after the 10 ms backoff.
    expect(c.times[1] - c.times[0]).toBeGreaterThanOrEqual(950);
    await client.close();
  });
});

describe('CoordinatorClient.nextWork', () => {
  it('returns null for 204 (no work came) and the parsed work item for 200; a malformed item is a retryable IntegrityError', async () => {
    const train = {
      kind: 'train',
      id: 'train.j.0.a',
      queuedAt: 1,
      train: {
        jobId: '3f1c2b4a-5d6e-4f70-8a9b-0c1d2e3f4a5b',
        round: 0,
        modelHash: 'a'.repeat(64),
        parameterCount: 10,
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
    const answers: [number, unknown][] = [
      [204, null],
      [200, train],
      [200, { kind: 'train', id: 'x' }],
    ];
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(req.url ?? '');
      const [status, body] = answers.shift()!;
      res.writeHead(status, { 'content-type': 'application/json' }).end(status === 204 ? undefined : JSON.stringify(body));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const client = new CoordinatorClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      client.useCredentials('00000000-0000-0000-0000-000000000000', 'secret-secret-secret');
      expect(await client.nextWork(1000)).toBeNull();
      expect(await client.nextWork(1000)).toEqual(train);
      // A malformed item is retryable (damaged bytes look the same): the poll loop asks again.
      await expect(client.nextWork(1000)).rejects.toThrow(/^malformed answer/);
      expect(seen[0]).toBe('/api/v1/agents/me/work?waitMs=1000');
      await client.close();
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
