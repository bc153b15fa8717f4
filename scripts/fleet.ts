/**
 * The agent transport at fleet size (`npm run bench -- fleet`): N simulated agents as real HTTP clients (no training)
 * against a real coordinator process, PostgreSQL and a private Redis. Phases:
 *   1. register N agents, then every agent holds a long poll open (GET /agents/me/work): time until all are connected;
 *   2. idle: everyone waiting; coordinator RSS and CPU, and what heartbeats cost the database (statements and agent
 *      rows updated per second, from the coordinator's metrics and PostgreSQL's own statistics);
 *   3. single tasks: a bilevel job's task handed to one idle agent at a time (each agent reports a failure at once,
 *      so the task goes to the next agent, up to 100 times): the latency of one item reaching one waiting agent;
 *   4. rounds: a federated job with every agent eligible; each agent declines the round it is handed at once, so a
 *      round is pure transport, and N items are delivered in a burst.
 * Delivery latency = when the agent got the item − when it was enqueued (BullMQ's timestamp; one clock).
 * Options: --agents N (1000), --rounds R (3), --idle-seconds S (10), --wait-ms W (25000), --json.
 * The agents run in this process: on a 2-core machine they share the CPU with the coordinator, and the latencies
 * include their own scheduling.
 */
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from 'pg';
import { fetch } from 'undici';
import { fleetPools, registerSimulatedAgents } from './lib/sim-agents';
import { createScratchDatabase, freePort, startPrivateRedis, stopProcess } from './lib/services';
import { ROOT, startCoordinatorProcess, token } from './lib/stack';

interface Sample {
  at: number;
  rssMiB: number;
  cpuSeconds: number;
}

/** RSS and CPU time (user + system) of a process, from /proc (Linux). */
function sampleProcess(pid: number): Sample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of /proc/<pid>/stat (11 and 12 after the command name), in clock ticks.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { at: Date.now(), rssMiB: rssKiB / 1024, cpuSeconds: ticks / 100 };
}

/** Deliveries of the single-task phase (the coordinator's TASK_MAX_ATTEMPTS allows at most 100). */
const SINGLE_TASKS = 100;

function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      agents: { type: 'string', default: '1000' },
      rounds: { type: 'string', default: '3' },
      'idle-seconds': { type: 'string', default: '10' },
      'wait-ms': { type: 'string', default: '25000' },
      json: { type: 'boolean', default: false },
    },
  });
  const N = Number(values.agents);
  const rounds = Number(values.rounds);
  const idleSeconds = Number(values['idle-seconds']);
  const waitMs = Number(values['wait-ms']);
  const say = (line: string): void => void (values.json ? process.stderr : process.stdout).write(line + '\n');

  // Services: a fresh database on the local PostgreSQL, a private Redis with a password, the built coordinator.
  const scratch = await createScratchDatabase('flotilla_fleet');
  const redis = await startPrivateRedis();
  const work = mkdtempSync(path.join(os.tmpdir(), 'flotilla-fleet-'));
  const coordinator = await startCoordinatorProcess(
    {
      DATABASE_URL: scratch.url,
      REDIS_URL: redis.url,
      ADMIN_TOKEN: token(),
      JOIN_TOKEN: token(),
      BLOB_DIR: path.join(work, 'blobs'),
      DATA_DIR: path.join(ROOT, 'data'),
      LOG_LEVEL: 'warn',
      // Every simulated agent registers from 127.0.0.1.
      REGISTER_RATE_PER_MINUTE: String(10 * N + 100),
      AGENT_OFFLINE_AFTER_MS: '120000',
      // Phase 3: one task handed from agent to agent this many times.
      TASK_MAX_ATTEMPTS: String(SINGLE_TASKS),
    },
    await freePort(),
  );
  const pid = coordinator.proc.pid!;
  const { http, control } = fleetPools(N, 30_000);
  const url = (p: string) => `${coordinator.url}${p}`;
  const asAdmin = { authorization: `Bearer ${coordinator.adminToken}`, 'content-type': 'application/json' };
  const metric = async (name: string): Promise<number> => {
    // While thousands of agents connect, the listen queue can refuse a connection: ask again.
    for (let attempt = 0; ; attempt++) {
      try {
        const text = await (await fetch(url('/metrics'), { dispatcher: control })).text();
        return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
      } catch (e) {
        if (attempt >= 20) throw e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };
  const agentRowsUpdated = async (db: Client): Promise<number> =>
    Number((await db.query<{ n: string }>(`SELECT n_tup_upd AS n FROM pg_stat_user_tables WHERE relname = 'agents'`)).rows[0]?.n ?? 0);
  const stopping = new AbortController();
  // One controller per agent (an AbortSignal's listeners are a list: N polls on one signal would cost O(N) per poll).
  const perAgent: AbortController[] = [];
  stopping.signal.addEventListener('abort', () => perAgent.forEach((c) => c.abort()));
  const samples: Sample[] = [];
  const sampler = setInterval(() => samples.push(sampleProcess(pid)), 250);
  const result: Record<string, unknown> = { agents: N, rounds, waitMs, machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model } };
  try {
    say(`fleet: ${N} agents (HTTP long polls, waitMs ${waitMs}), coordinator pid ${pid} on ${os.cpus().length} cores`);
    // 1. Register and connect.
    let t = Date.now();
    const agents = await registerSimulatedAgents({ url, dispatcher: http, joinToken: coordinator.joinToken, count: N, prefix: 'sim' });
    const registerSeconds = (Date.now() - t) / 1000;
    say(`registered ${N} agents in ${registerSeconds.toFixed(1)} s (${(N / registerSeconds).toFixed(0)}/s)`);

    const latencies: number[] = [];
    let errors = 0;
    // The agents' loops run until `stopping` aborts them.
    const loops = agents.map(async (a, i) => {
      const headers = { authorization: `Bearer ${a.token}` };
      const mine = new AbortController();
      perAgent.push(mine);
      // Agents come online in waves of 250 every 50 ms, as a fleet does, not all in the same millisecond.
      await new Promise((r) => setTimeout(r, 50 * Math.floor(i / 250)));
      while (!stopping.signal.aborted) {
        try {
          // Each poll waits 80–100 % of waitMs, as the agent does, so that the fleet's polls do not all end together.
          const wait = Math.round(waitMs * (0.8 + 0.2 * Math.random()));
          const res = await fetch(url(`/api/v1/agents/me/work?waitMs=${wait}`), { dispatcher: http, headers, signal: mine.signal });
          if (res.status === 204) {
            await res.arrayBuffer();
            continue;
          }
          const item = (await res.json()) as {
            kind: string;
            queuedAt: number;
            train?: { jobId: string; round: number };
            task?: { taskId: string };
          };
          if (res.status !== 200) throw new Error(`poll: ${res.status}`);
          latencies.push(Date.now() - item.queuedAt);
          if (item.task) {
            const f = await fetch(url(`/api/v1/tasks/${item.task.taskId}/failure`), {
              method: 'POST',
              dispatcher: http,
              headers: { ...headers, 'content-type': 'application/json' },
              body: JSON.stringify({ message: 'simulated agent: passes the task on' }),
            });
            await f.arrayBuffer();
          }
          if (item.train) {
            const d = await fetch(url(`/api/v1/jobs/${item.train.jobId}/rounds/${item.train.round}/decline`), {
              method: 'POST',
              dispatcher: http,
              headers: { ...headers, 'content-type': 'application/json' },
              body: '{}',
            });
            if (d.status !== 200) throw new Error(`decline: ${d.status} ${await d.text()}`);
            await d.arrayBuffer();
          }
        } catch (e) {
          if (stopping.signal.aborted) return;
          if (errors++ < 5) say(`agent error: ${(e as Error).message}`);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    });
    t = Date.now();
    let open = 0;
    for (;;) {
      open = await metric('flotilla_open_polls');
      if (open >= N || Date.now() - t > 180_000) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const connectSeconds = (Date.now() - t) / 1000;
    say(
      open >= N
        ? `all ${N} agents waiting for work ${connectSeconds.toFixed(1)} s after the first poll`
        : `only ${open} of ${N} agents were waiting at once after ${connectSeconds.toFixed(0)} s; going on with them`,
    );

    // 2. Idle.
    const db = new Client({ connectionString: scratch.url });
    await db.connect();
    const idleFrom = sampleProcess(pid);
    const [writes0, rows0, open0] = [
      await metric('flotilla_presence_writes_total'),
      await agentRowsUpdated(db),
      await metric('flotilla_open_polls'),
    ];
    await new Promise((r) => setTimeout(r, idleSeconds * 1000));
    const idleTo = sampleProcess(pid);
    const [writes1, rows1, open1] = [
      await metric('flotilla_presence_writes_total'),
      await agentRowsUpdated(db),
      await metric('flotilla_open_polls'),
    ];
    const idleWall = (idleTo.at - idleFrom.at) / 1000;
    const idle = {
      seconds: idleWall,
      openPolls: Math.min(open0, open1),
      rssMiB: idleTo.rssMiB,
      cpuPercent: (100 * (idleTo.cpuSeconds - idleFrom.cpuSeconds)) / idleWall,
      heartbeatStatementsPerSecond: (writes1 - writes0) / idleWall,
      agentRowsUpdatedPerSecond: (rows1 - rows0) / idleWall,
    };
    say(
      `idle ${idleWall.toFixed(1)} s: ${idle.openPolls} polls open, RSS ${idle.rssMiB.toFixed(0)} MiB, CPU ${idle.cpuPercent.toFixed(1)} %, heartbeats: ${idle.heartbeatStatementsPerSecond.toFixed(2)} UPDATE statements/s writing ${idle.agentRowsUpdatedPerSecond.toFixed(0)} agent rows/s`,
    );
    await db.end();

    // 3. Single tasks, one idle agent at a time.
    latencies.length = 0;
    const waitEnded = async (jobId: string): Promise<void> => {
      for (;;) {
        // A refused connection under load is retried: the coordinator is busy, not gone.
        const j = (await fetch(url(`/api/v1/jobs/${jobId}`), { dispatcher: control, headers: asAdmin })
          .then((r) => r.json())
          .catch(() => ({ status: 'running' }))) as { status: string };
        if (j.status !== 'running') return;
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    const single = (await (
      await fetch(url('/api/v1/jobs'), {
        method: 'POST',
        dispatcher: control,
        headers: asAdmin,
        body: JSON.stringify({
          kind: 'bilevel',
          problem: { kind: 'test-case', name: 'T1' },
          methods: ['penalty-single-loop'],
          iterations: 1,
          taskTimeoutMs: 60_000,
        }),
      })
    ).json()) as { id: string };
    await waitEnded(single.id);
    const singleSorted = [...latencies].sort((a, b) => a - b);
    const singleTask = {
      items: singleSorted.length,
      p50Ms: quantile(singleSorted, 0.5),
      p99Ms: quantile(singleSorted, 0.99),
      maxMs: singleSorted.at(-1) ?? NaN,
      within100Ms: singleSorted.filter((x) => x <= 100).length / Math.max(1, singleSorted.length),
    };
    say(
      `single tasks: ${singleTask.items} deliveries to an idle agent, latency p50 ${singleTask.p50Ms} ms, p99 ${singleTask.p99Ms} ms, max ${singleTask.maxMs} ms (${(100 * singleTask.within100Ms).toFixed(0)} % within 100 ms)`,
    );

    // 4. Rounds.
    const roundsFrom = sampleProcess(pid);
    latencies.length = 0;
    const job = (await (
      await fetch(url('/api/v1/jobs'), {
        method: 'POST',
        dispatcher: control,
        headers: asAdmin,
        body: JSON.stringify({
          kind: 'federated',
          dataset: 'uci-digits',
          model: { arch: 'softmax' },
          rounds,
          localSteps: 1,
          roundDeadlineMs: 600_000,
          minAgents: N,
        }),
      })
    ).json()) as { id: string };
    await waitEnded(job.id);
    const roundsTo = sampleProcess(pid);
    const rs = (await (await fetch(url(`/api/v1/jobs/${job.id}/rounds`), { dispatcher: control, headers: asAdmin })).json()) as {
      openedAt: string;
      closedAt: string;
      participants: number;
      eligible: number;
    }[];
    const sorted = [...latencies].sort((a, b) => a - b);
    const roundWall = (roundsTo.at - roundsFrom.at) / 1000;
    const delivery = {
      items: sorted.length,
      p50Ms: quantile(sorted, 0.5),
      p99Ms: quantile(sorted, 0.99),
      maxMs: sorted.at(-1) ?? NaN,
      within100Ms: sorted.filter((x) => x <= 100).length / Math.max(1, sorted.length),
    };
    const roundSeconds = rs.map((r) => (Date.parse(r.closedAt) - Date.parse(r.openedAt)) / 1000);
    const busy = {
      seconds: roundWall,
      peakRssMiB: Math.max(...samples.map((s) => s.rssMiB)),
      cpuPercent: (100 * (roundsTo.cpuSeconds - roundsFrom.cpuSeconds)) / roundWall,
    };
    say(
      `rounds: ${rounds} rounds of ${N} agents, ${delivery.items} items delivered in bursts, latency p50 ${delivery.p50Ms} ms, p99 ${delivery.p99Ms} ms, max ${delivery.maxMs} ms (${(100 * delivery.within100Ms).toFixed(1)} % within 100 ms)`,
    );
    say(`round open → closed (every agent handed its item and answered): ${roundSeconds.map((s) => s.toFixed(2)).join(', ')} s`);
    say(
      `during rounds: CPU ${busy.cpuPercent.toFixed(0)} %, peak RSS ${busy.peakRssMiB.toFixed(0)} MiB; transport errors seen by agents: ${errors}`,
    );
    Object.assign(result, {
      registerSeconds,
      connectSeconds,
      connectedAtOnce: open,
      idle,
      singleTask,
      roundDelivery: delivery,
      roundSeconds,
      busy,
      errors,
    });
    stopping.abort();
    await Promise.all(loops);
  } finally {
    clearInterval(sampler);
    stopping.abort();
    await stopProcess(coordinator.proc);
    await http.close().catch(() => undefined);
    await control.close().catch(() => undefined);
    await redis.stop();
    await scratch.drop();
    rmSync(work, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`fleet bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
