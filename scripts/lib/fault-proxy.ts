import { createServer, Socket, type AddressInfo, type Server } from 'node:net';
import { mulberry32 } from './sim-agents';

/**
 * What the proxy does to the connections it forwards. Shares are of new connections, decided when a connection is
 * accepted (at most one fault per connection); times are in ms. Everything off by default.
 */
export interface FaultPlan {
  /** Reset (RST) the connection when its first request arrives, before any of it reaches the target. */
  resetBefore?: number;
  /** Forward the first request, then reset the connection when the answer starts: the target took it, the answer is lost. */
  resetAfter?: number;
  /**
   * Cut the first HTTP answer on the connection whose body is longer than `cutAfterBytes` after that many body bytes
   * (a download that stops mid-body).
   */
  cutBody?: number;
  cutAfterBytes?: number;
  /** Flip the byte at `cutAfterBytes` of such an answer's body instead (a corrupted download). */
  corruptBody?: number;
  /** Close (FIN) connections that carried nothing for this long: a NAT or load balancer dropping idle sockets. */
  idleCloseMs?: number;
  /** Close connections older than this, busy or not: a proxy draining old connections. */
  maxAgeMs?: number;
  /** Delay every chunk by this much in each direction. */
  delayMs?: number;
}

export interface FaultCounts {
  connections: number;
  resetsBefore: number;
  resetsAfter: number;
  cutBodies: number;
  corruptBodies: number;
  idleClosed: number;
  ageClosed: number;
  /** Connections refused while the proxy was cut (`cut()`). */
  refused: number;
}

type Fate = 'resetBefore' | 'resetAfter' | 'cutBody' | 'corruptBody' | null;

interface Link {
  client: Socket;
  upstream: Socket | null;
  fate: Fate;
  openedAt: number;
  lastActivity: number;
  /** Where the answers on this connection stand (for the body faults). */
  http: { head: Buffer; remaining: number; body: number; target: number };
}

/**
 * A TCP proxy that injects the faults of edge networks between agents and the coordinator (or the coordinator and
 * PostgreSQL): connection resets before and after a request, idle and old connections closed, answers cut or
 * corrupted mid-body, delays. It speaks no HTTP: it works on bytes, so it also sits in front of TLS or PostgreSQL
 * (then the body faults, which look for the end of HTTP headers, do nothing). Its random choices come from a seeded
 * generator; which request meets which fault still depends on timing.
 */
export class FaultProxy {
  readonly counts: FaultCounts = {
    connections: 0,
    resetsBefore: 0,
    resetsAfter: 0,
    cutBodies: 0,
    corruptBodies: 0,
    idleClosed: 0,
    ageClosed: 0,
    refused: 0,
  };
  private readonly links = new Set<Link>();
  private readonly sweeper: NodeJS.Timeout;
  private cutOff = false;
  private random: () => number;

  private constructor(
    private readonly server: Server,
    private readonly target: { host: string; port: number },
    private plan: FaultPlan,
    seed: number,
  ) {
    this.random = mulberry32(seed);
    server.on('connection', (client) => this.accept(client));
    this.sweeper = setInterval(() => this.sweep(), 50);
    this.sweeper.unref();
  }

  /** Listens on 127.0.0.1 (`port` 0: any free port) and forwards to `target`. */
  static async start(target: { host: string; port: number }, plan: FaultPlan = {}, options: { port?: number; seed?: number } = {}) {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', resolve);
    });
    return new FaultProxy(server, target, plan, options.seed ?? 1);
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Resets injected before or after a request, in all. */
  get resets(): number {
    return this.counts.resetsBefore + this.counts.resetsAfter;
  }

  /** Switches to another plan (new connections get it; open ones keep their fate, the timed closes apply to all). */
  setPlan(plan: FaultPlan): void {
    this.plan = plan;
  }

  /** Drops every connection and refuses new ones until `restore()`: the target is "down" (an outage). */
  cut(): void {
    this.cutOff = true;
    for (const link of this.links) this.drop(link, true);
  }

  restore(): void {
    this.cutOff = false;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    for (const link of this.links) this.drop(link, true);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    if (this.cutOff) {
      this.counts.refused++;
      client.resetAndDestroy();
      return;
    }
    this.counts.connections++;
    const now = Date.now();
    const link: Link = {
      client,
      upstream: null,
      fate: this.draw(),
      openedAt: now,
      lastActivity: now,
      http: { head: Buffer.alloc(0), remaining: 0, body: 0, target: -1 },
    };
    this.links.add(link);
    client.on('error', () => this.drop(link, false));
    client.on('close', () => this.drop(link, false));
    client.once('data', (first: Buffer) => {
      if (link.fate === 'resetBefore') {
        this.counts.resetsBefore++;
        link.fate = null;
        this.drop(link, true);
        return;
      }
      this.connectUpstream(link, first);
    });
  }

  private connectUpstream(link: Link, first: Buffer): void {
    const upstream = new Socket();
    link.upstream = upstream;
    upstream.on('error', () => this.drop(link, false));
    upstream.on('close', () => this.drop(link, false));
    upstream.connect(this.target.port, this.target.host, () => {
      this.forward(link, first, 'up');
      link.client.on('data', (chunk: Buffer) => this.forward(link, chunk, 'up'));
      link.client.on('end', () => this.later(() => upstream.end()));
      upstream.on('data', (chunk: Buffer) => this.answer(link, chunk));
      upstream.on('end', () => this.later(() => link.client.end()));
    });
  }

  /** A chunk of the target's answer: forwarded, unless this connection's fate says otherwise. */
  private answer(link: Link, chunk: Buffer): void {
    if (link.fate === 'resetAfter') {
      this.counts.resetsAfter++;
      link.fate = null;
      this.drop(link, true);
      return;
    }
    if (link.fate === 'cutBody' || link.fate === 'corruptBody') {
      const at = this.bodyFault(link, chunk);
      if (at !== null && link.fate === 'cutBody') {
        this.counts.cutBodies++;
        link.fate = null;
        this.forward(link, chunk.subarray(0, at), 'down');
        setTimeout(() => this.drop(link, false), (this.plan.delayMs ?? 0) + 10);
        return;
      }
      if (at !== null) {
        this.counts.corruptBodies++;
        link.fate = null;
        chunk = Buffer.from(chunk);
        chunk[at] ^= 0xff;
      }
    }
    this.forward(link, chunk, 'down');
  }

  /**
   * Follows the HTTP answers on a connection (headers, then Content-Length bytes of body) and returns the offset in
   * `chunk` where the first answer with a body longer than `cutAfterBytes` reaches that many body bytes; null while
   * there is none. Answers without a Content-Length (chunked, or a 204) end the search on this connection.
   */
  private bodyFault(link: Link, chunk: Buffer): number | null {
    const limit = this.plan.cutAfterBytes ?? 0;
    let i = 0;
    while (i < chunk.length) {
      const t = link.http;
      if (t.remaining === 0) {
        // In the headers of the next answer.
        t.head = Buffer.concat([t.head, chunk.subarray(i)]);
        const end = t.head.indexOf('\r\n\r\n');
        if (end < 0) return null;
        const consumed = end + 4 - (t.head.length - (chunk.length - i));
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(t.head.subarray(0, end).toString('latin1'));
        t.head = Buffer.alloc(0);
        if (!length) {
          link.fate = null;
          return null;
        }
        t.remaining = Number(length[1]);
        t.body = 0;
        t.target = t.remaining > limit ? limit : -1;
        i += consumed;
        continue;
      }
      const take = Math.min(t.remaining, chunk.length - i);
      if (t.target >= 0 && t.body + take > t.target) return i + (t.target - t.body);
      t.body += take;
      t.remaining -= take;
      i += take;
    }
    return null;
  }

  private forward(link: Link, chunk: Buffer, direction: 'up' | 'down'): void {
    link.lastActivity = Date.now();
    const to = direction === 'up' ? link.upstream : link.client;
    const delay = this.plan.delayMs ?? 0;
    // Timers of one delay fire in the order they were set: the byte stream keeps its order.
    if (delay > 0) setTimeout(() => to?.writable && to.write(chunk), delay);
    else if (to?.writable) to.write(chunk);
  }

  /** After the chunks in flight (the delay), so a close does not overtake them. */
  private later(fn: () => void): void {
    const delay = this.plan.delayMs ?? 0;
    if (delay > 0) setTimeout(fn, delay);
    else fn();
  }

  private sweep(): void {
    const now = Date.now();
    for (const link of this.links) {
      if (this.plan.maxAgeMs !== undefined && now - link.openedAt > this.plan.maxAgeMs) {
        this.counts.ageClosed++;
        this.drop(link, false);
      } else if (this.plan.idleCloseMs !== undefined && now - link.lastActivity > this.plan.idleCloseMs) {
        this.counts.idleClosed++;
        this.drop(link, false);
      }
    }
  }

  /** Ends both sides: with a reset (RST) or a plain close (FIN). */
  private drop(link: Link, reset: boolean): void {
    if (!this.links.delete(link)) return;
    for (const s of [link.client, link.upstream]) {
      if (!s || s.destroyed) continue;
      // A socket still connecting cannot send a reset yet: it is destroyed.
      if (reset && !s.connecting) s.resetAndDestroy();
      else s.destroy();
    }
  }

  private draw(): Fate {
    const r = this.random();
    let acc = 0;
    for (const fate of ['resetBefore', 'resetAfter', 'cutBody', 'corruptBody'] as const) {
      acc += this.plan[fate] ?? 0;
      if (r < acc) return fate;
    }
    return null;
  }
}

/**
 * As its own process (a benchmark whose agents keep their event loop busy must not delay the proxy's forwarding or
 * its idle clocks): `node fault-proxy.js --target HOST:PORT --plan JSON [--seed N]`. It prints `listening <port>` and
 * answers an IPC message `counts` with its counts.
 */
if (require.main === module) {
  const arg = (name: string): string | undefined => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const [host, port] = (arg('target') ?? '').split(':');
  FaultProxy.start({ host, port: Number(port) }, JSON.parse(arg('plan') ?? '{}') as FaultPlan, { seed: Number(arg('seed') ?? 1) }).then(
    (proxy) => {
      process.on('message', (m) => {
        if (m === 'counts') process.send?.({ counts: proxy.counts });
      });
      process.on('SIGTERM', () => void proxy.close().then(() => process.exit(0)));
      process.stdout.write(`listening ${proxy.port}\n`);
    },
    (e: Error) => {
      process.stderr.write(`fault-proxy: ${e.message}\n`);
      process.exit(1);
    },
  );
}
