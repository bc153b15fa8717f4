/**
 * The federated round loop at scale with real training (`npm run bench -- rounds`): N real agents (the agent's own
 * `ClientAgent`, training with TensorFlow.js, each with its registration, long poll and heartbeats) in this process,
 * against the built coordinator as its own process, PostgreSQL and a private Redis; optionally behind the
 * fault-injecting proxy (scripts/lib/fault-proxy.ts). A FedAU job with every agent eligible in every round; per round:
 * how long it was open, participants, and the gap from its close to the next round's open; overall: whether every
 * agent was aggregated in every round, rounds that waited for their deadline, the agents' retries and failures, the
 * coordinator's CPU and peak RSS.
 * Options: --agents N (100), --hidden H (13480: an MLP 64→H→10, 75·H + 10 parameters; 13480 gives 1,011,010),
 * --rounds R (10), --faults (resets, stale and old connections closed, cut and corrupted downloads), --json.
 * The agents share this process's CPU (2 cores here) with each other; the coordinator runs on the same machine.
 */
import type { FederatedJobView, RoundView } from '@flotilla/contracts';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { FaultCounts, FaultPlan } from './lib/fault-proxy';
import { createScratchDatabase, freePort, startPrivateRedis, stopProcess } from './lib/services';
import { ROOT, adminApi, startCoordinatorProcess, token, writeDigitsShards } from './lib/stack';

/** What this script uses of the agent's `ClientAgent` (apps/client-agent/src/agent.ts; a tool may not import an app). */
interface BenchAgent {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly networkStats: { retries: number; failures: number };
}

/** The built agent, loaded by path from its dist (scripts compile file by file). */
const { ClientAgent } = require(path.join(ROOT, 'apps', 'client-agent', 'dist', 'agent.js')) as {
  ClientAgent: new (options: Record<string, unknown>) => BenchAgent;
};
const { selectBackend } = require(path.join(ROOT, 'apps', 'client-agent', 'dist', 'tf-backend.js')) as {
  selectBackend: () => Promise<{ backend: string; device: string }>;
};

/**
 * A hostile edge network: a quarter of new connections reset (half before the request reaches the coordinator, half
 * after it took the request), one in twenty answers with a body over 100 kB cut mid-body and one in twenty corrupted,
 * connections idle for 5 s dropped (an aggressive NAT) and every connection closed after 20 s (a proxy draining).
 */
export const ROUNDS_FAULTS: FaultPlan = {
  resetBefore: 0.125,
  resetAfter: 0.125,
  cutBody: 0.05,
  corruptBody: 0.05,
  cutAfterBytes: 100_000,
  idleCloseMs: 5_000,
  maxAgeMs: 20_000,
};

/** The fault proxy in its own process, in front of the coordinator's port. */
async function startProxyProcess(target: number): Promise<{ proc: ChildProcess; url: string; counts: () => Promise<FaultCounts> }> {
  const script = path.join(__dirname, 'lib', 'fault-proxy.js');
  const proc = fork(script, ['--target', `127.0.0.1:${target}`, '--plan', JSON.stringify(ROUNDS_FAULTS), '--seed', '18'], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    proc.stdout!.once('data', (c: Buffer) => resolve(Number(/listening (\d+)/.exec(c.toString())?.[1])));
    proc.once('exit', (code) => reject(new Error(`fault proxy exited with ${code}`)));
  });
  const counts = (): Promise<FaultCounts> =>
    new Promise((resolve) => {
      proc.once('message', (m) => resolve((m as { counts: FaultCounts }).counts));
      proc.send('counts');
    });
  return { proc, url: `http://127.0.0.1:${port}`, counts };
}

function sampleProcess(pid: number): { rssMiB: number; cpuSeconds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { rssMiB: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024, cpuSeconds: (Number(fields[11]) + Number(fields[12])) / 100 };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      agents: { type: 'string', default: '100' },
      hidden: { type: 'string', default: '13480' },
      rounds: { type: 'string', default: '10' },
      faults: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const N = Number(values.agents);
  const hidden = Number(values.hidden);
  const rounds = Number(values.rounds);
  for (const [k, v] of [
    ['agents', N],
    ['hidden', hidden],
    ['rounds', rounds],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be a positive integer`);
  }
  const say = (line: string): void => void (values.json ? process.stderr : process.stdout).write(line + '\n');

  const db = await createScratchDatabase('flotilla_rounds');
  const redis = await startPrivateRedis();
  const work = mkdtempSync(path.join(os.tmpdir(), 'flotilla-rounds-'));
  const roundDeadlineMs = 300_000;
  const coordinator = await startCoordinatorProcess(
    {
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      ADMIN_TOKEN: token(),
      JOIN_TOKEN: token(),
      BLOB_DIR: path.join(work, 'blobs'),
      DATA_DIR: path.join(ROOT, 'data'),
      LOG_LEVEL: 'warn',
      REGISTER_RATE_PER_MINUTE: String(10 * N + 100),
      AGENT_OFFLINE_AFTER_MS: '120000',
    },
    await freePort(),
  );
  const pid = coordinator.proc.pid!;
  const proxy = values.faults ? await startProxyProcess(Number(new URL(coordinator.url).port)) : null;
  const api = adminApi(coordinator.url, coordinator.adminToken);
  const { files } = writeDigitsShards(work, N, { alpha: 1.0, seed: 3, minPerClient: 8 });
  const agents: BenchAgent[] = [];
  const agentLog: string[] = [];
  let peakRss = 0;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, sampleProcess(pid).rssMiB)), 250);
  try {
    const { backend } = await selectBackend();
    say(
      `rounds: tfjs backend ${backend}; ${N} agents, MLP 64→${hidden}→10 (${75 * hidden + 10} parameters), ${rounds} rounds${proxy ? ', behind the fault proxy' : ''}`,
    );
    for (let i = 0; i < N; i++) {
      const agent = new ClientAgent({
        coordinatorUrl: proxy?.url ?? coordinator.url,
        joinToken: coordinator.joinToken,
        name: `bench-${i}`,
        dataset: 'uci-digits',
        dataFile: files[i],
        availability: { kind: 'always' },
        seed: i,
        heartbeatMs: 5_000,
        log: (line: string) => agentLog.push(`[bench-${i}] ${line}`),
      });
      agents.push(agent);
    }
    await Promise.all(agents.map((a) => a.start()));
    say(`  ${N} agents registered`);
    const cpu0 = sampleProcess(pid).cpuSeconds;
    const t0 = Date.now();
    const job = await api<FederatedJobView>('POST', '/api/v1/jobs', {
      kind: 'federated',
      dataset: 'uci-digits',
      model: { arch: 'mlp', hidden },
      rounds,
      localSteps: 1,
      localLr: 0.01,
      batchSize: 16,
      minAgents: N,
      roundDeadlineMs,
      seed: 1,
    });
    if (job.status !== 201) throw new Error(`job refused: ${job.status} ${JSON.stringify(job.body)}`);
    let view: FederatedJobView;
    for (;;) {
      view = (await api<FederatedJobView>('GET', `/api/v1/jobs/${job.body.id}`)).body;
      if (view.status !== 'running') break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const jobSeconds = (Date.now() - t0) / 1000;
    const cpuPercent = (100 * (sampleProcess(pid).cpuSeconds - cpu0)) / jobSeconds;
    if (view.status !== 'completed') throw new Error(`job ${view.status}: ${view.error ?? ''}`);
    const views = (await api<RoundView[]>('GET', `/api/v1/jobs/${job.body.id}/rounds`)).body;
    const perRound = views.map((r, i) => {
      const next = views[i + 1];
      return {
        round: r.round,
        openSeconds: (Date.parse(r.closedAt!) - Date.parse(r.openedAt)) / 1000,
        participants: r.participants,
        eligible: r.eligible,
        closeToNextOpenSeconds: next ? (Date.parse(next.openedAt) - Date.parse(r.closedAt!)) / 1000 : null,
      };
    });
    const stats = agents.map((a) => a.networkStats);
    const result = {
      agents: N,
      hidden,
      parameters: 75 * hidden + 10,
      rounds,
      faults: proxy ? { ...ROUNDS_FAULTS } : null,
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model },
      perRound,
      allAggregated: perRound.length === rounds && perRound.every((r) => r.participants === N && r.eligible === N),
      roundsAtDeadline: views.filter((r) => Date.parse(r.closedAt!) >= Date.parse(r.deadlineAt)).length,
      jobSeconds,
      finalAccuracy: view.latestMetrics?.testAccuracy ?? null,
      agentRetries: stats.reduce((s, x) => s + x.retries, 0),
      agentFailures: stats.reduce((s, x) => s + x.failures, 0),
      proxy: proxy ? await proxy.counts() : null,
      coordinator: { cpuPercent, peakRssMiB: peakRss },
    };
    for (const r of perRound) {
      say(
        `  round ${String(r.round).padStart(2)}: open ${r.openSeconds.toFixed(2)} s, ${r.participants}/${r.eligible} aggregated` +
          (r.closeToNextOpenSeconds !== null ? `, close → next open ${r.closeToNextOpenSeconds.toFixed(2)} s` : ''),
      );
    }
    say(
      `  every agent in every round: ${result.allAggregated ? 'yes' : 'NO'}; rounds at their deadline: ${result.roundsAtDeadline}; ` +
        `agents' retries ${result.agentRetries}, failures ${result.agentFailures}; coordinator CPU ${cpuPercent.toFixed(0)} %, peak RSS ${peakRss.toFixed(0)} MiB`,
    );
    if (result.proxy) say(`  faults injected: ${JSON.stringify(result.proxy)}`);
    for (const line of agentLog.filter((l) => /tries|failing|working again|cannot|cut/.test(l)).slice(0, 10)) say(`  ${line}`);
    if (values.json) process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    clearInterval(sampler);
    await Promise.all(agents.map((a) => a.stop().catch(() => undefined)));
    if (proxy) await stopProcess(proxy.proc);
    await stopProcess(coordinator.proc);
    await redis.stop();
    await db.drop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  // The agents' TensorFlow.js backend keeps the event loop alive: the script ends here.
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`rounds: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
