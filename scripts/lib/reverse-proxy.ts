import * as http from 'node:http';
import { parseArgs } from 'node:util';

/**
 * A minimal reverse proxy, like the one an operator puts in front of the coordinator: every request to
 * `listen` is forwarded to `target` (one origin), bodies streamed both ways, X-Forwarded-For added. The e2e tests
 * run agents through it to show that the coordinator's port is all an agent needs.
 * Run: `node scripts/dist/lib/reverse-proxy.js --listen PORT --target http://127.0.0.1:8080`.
 */
export function startReverseProxy(target: string, port: number, host = '127.0.0.1'): Promise<http.Server> {
  const to = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
  const server = http.createServer((req, res) => {
    const upstream = http.request(
      {
        host: to.hostname,
        port: to.port,
        method: req.method,
        path: req.url,
        agent,
        headers: { ...req.headers, host: to.host, 'x-forwarded-for': req.socket.remoteAddress ?? '' },
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', (e) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`proxy: ${e.message}`);
    });
    // A client that goes away (an agent ending its long poll) ends the upstream request too.
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}

if (require.main === module) {
  const { values } = parseArgs({ options: { listen: { type: 'string' }, target: { type: 'string' } } });
  if (!values.listen || !values.target) {
    process.stderr.write('usage: reverse-proxy --listen PORT --target URL\n');
    process.exit(2);
  }
  void startReverseProxy(values.target, Number(values.listen)).then(() => process.stdout.write(`proxy listening on ${values.listen}\n`));
}
