import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CoordinatorClient, CoordinatorError } from './coordinator-client';

/** A coordinator stand-in: answers each POST with the next status of `statuses` (then 200), recording bodies. */
function fakeCoordinator(statuses: number[]): Promise<{ server: Server; url: string; bodies: string[] }> {
  const bodies: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      bodies.push(body);
      const status = statuses.shift() ?? 200;
      res
        .writeHead(status, { 'content-type': 'application/json' })
        .end(JSON.stringify(status === 200 ? { status: 'accepted' } : { code: 'x', message: `status ${status}` }));
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies })),
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
    const client = new CoordinatorClient(c.url, 10);
    client.useCredentials('00000000-0000-0000-0000-000000000000', 'secret-secret-secret');
    await client.taskResult('t1', { x: [1] }, 5, Date.now() + 5000);
    expect(c.bodies).toHaveLength(3);
    expect(JSON.parse(c.bodies[2])).toEqual({ result: { x: [1] }, durationMs: 5 });
  });

  it('retries a refused connection until the coordinator listens again', async () => {
    const c = await fakeCoordinator([]);
    const { port } = c.server.address() as AddressInfo;
    await new Promise((r) => c.server.close(r));
    const client = new CoordinatorClient(`http://127.0.0.1:${port}`, 20);
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
    const client = new CoordinatorClient(c.url, 10);
    client.useCredentials('00000000-0000-0000-0000-000000000000', 'secret-secret-secret');
    await expect(client.taskResult('t1', {}, 1, Date.now() + 5000)).rejects.toMatchObject({ status: 409 });
    expect(c.bodies).toHaveLength(1);
    await expect(client.taskResult('t1', {}, 1, 0)).rejects.toBeInstanceOf(CoordinatorError);
    expect(c.bodies).toHaveLength(2);
  });
});
