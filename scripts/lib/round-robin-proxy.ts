import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small HTTP load balancer in front of coordinator replicas, for tests and benchmarks: every request goes to the next
 * replica in turn (so one client's calls land on different replicas), and a replica that refuses the connection (dead,
 * restarting) is skipped for the next one, as a load balancer's health check would. A replica that dies mid-request
 * cuts that request's connection: the client sees the reset and retries, as it would behind a real balancer.
 * Request bodies are read whole before forwarding (so a refused connection can be retried elsewhere).
 */
export class RoundRobinProxy {
  private next = 0;
  /** Requests forwarded to each backend (by index), and requests no backend took. */
  readonly served: number[];
  unserved = 0;

  private constructor(
    private readonly server: http.Server,
    private readonly backends: URL[],
  ) {
    this.served = backends.map(() => 0);
  }

  static async start(backends: string[], port = 0): Promise<RoundRobinProxy> {
    const server = http.createServer();
    const proxy = new RoundRobinProxy(
      server,
      backends.map((b) => new URL(b)),
    );
    server.on('request', (req, res) => void proxy.forward(req, res));
    // Long polls are held open for up to a minute: no proxy-side timeout cuts them.
    server.requestTimeout = 0;
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async forward(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    try {
      for await (const c of req) chunks.push(c as Buffer);
    } catch {
      res.destroy();
      return;
    }
    const body = Buffer.concat(chunks);
    // Each request starts at the next replica in turn and tries every one at most once (concurrent requests moving
    // the turn on must not send a retry back to the replica that refused it).
    const start = this.next++;
    for (let tried = 0; tried < this.backends.length; tried++) {
      const i = (start + tried) % this.backends.length;
      const upstream = await this.attempt(this.backends[i], req, body, res);
      if (upstream === 'refused') continue;
      this.served[i]++;
      return;
    }
    this.unserved++;
    res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'no replica answered' }));
  }

  /** Sends the request to one backend and streams its answer back; 'refused' when the connection was not made. */
  private attempt(backend: URL, req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): Promise<'done' | 'refused'> {
    return new Promise((resolve) => {
      const headers = { ...req.headers, host: backend.host, 'content-length': String(body.length) };
      delete headers['transfer-encoding'];
      let connected = false;
      const up = http.request(
        { host: backend.hostname, port: backend.port, method: req.method, path: req.url, headers, agent: false },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          answer.on('error', () => res.destroy());
          answer.on('end', () => resolve('done'));
          answer.on('aborted', () => {
            res.destroy();
            resolve('done');
          });
        },
      );
      up.on('socket', (s) => s.on('connect', () => (connected = true)));
      up.on('error', (e: NodeJS.ErrnoException) => {
        if (!connected && e.code === 'ECONNREFUSED') return resolve('refused');
        res.destroy();
        resolve('done');
      });
      // The client went away (e.g. an agent's long poll cut short): the upstream request goes too.
      res.on('close', () => up.destroy());
      up.end(body);
    });
  }
}
