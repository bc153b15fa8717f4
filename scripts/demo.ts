/**
 * `npm run demo`: a real federated FedAU job on the real stack. PostgreSQL (embedded unless
 * DATABASE_URL is set), Redis, the coordinator and 8 agent processes, each holding a non-IID
 * (Dirichlet α = 0.1 by label) shard of a shipped dataset and following its own availability pattern.
 *   --json          print the summary as one JSON object on the last line of stdout
 *   --dataset NAME  a dataset of data/ (default uci-digits; mnist too): agents get CSV shards of a CSV dataset,
 *                   IDX shards of the others
 *   --rounds N      rounds (default 40)
 *   --agents N      agents (default 8)
 *   --model ARCH    the model: an arch name (softmax, mlp, … whatever the job spec accepts) or its JSON,
 *                   e.g. '{"arch":"mlp","hidden":64}' (default mlp)
 *   --local-steps N, --local-lr X, --seed N   the job's settings
 */
import { ModelSpecSchema, describeIssues, type FederatedJobView, type RoundView, type ParticipationView } from '@flotilla/contracts';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, sleep, startEmbeddedPostgres, ensureRedis, stopProcess, type Service } from './lib/services';
import {
  ROOT,
  adminApi,
  startAgentProcess,
  startCoordinatorProcess,
  token,
  writeDatasetShards,
  type AgentProcess,
  type CoordinatorProcess,
} from './lib/stack';

/** Availability patterns (docs/algorithms/fedau.md §6.3) cycled over the agents: participation is heterogeneous and unknown to the coordinator. */
const PATTERNS = [
  'always',
  'bernoulli:0.8',
  'bernoulli:0.5',
  'markov:0.4:0.2',
  'bernoulli:0.3',
  'cyclic:0.5:10',
  'bernoulli:0.2',
  'markov:0.6:0.3',
];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      dataset: { type: 'string', default: 'uci-digits' },
      rounds: { type: 'string', default: '40' },
      agents: { type: 'string', default: '8' },
      seed: { type: 'string', default: '1' },
      model: { type: 'string', default: 'mlp' },
      'local-steps': { type: 'string', default: '40' },
      'local-lr': { type: 'string', default: '0.3' },
    },
  });
  const rounds = Number(values.rounds);
  const numAgents = Number(values.agents);
  const seed = Number(values.seed);
  const json = values.json;
  const dataset = values.dataset;
  const model = modelSpec(values.model);
  // With --json, progress goes to stderr so stdout's last line is the summary.
  const say = (line: string): void => void (json ? process.stderr : process.stdout).write(line + '\n');
  const started = Date.now();

  const cleanups: (() => Promise<unknown>)[] = [];
  const work = mkdtempSync(path.join(os.tmpdir(), 'flotilla-demo-'));
  cleanups.push(() => Promise.resolve(rmSync(work, { recursive: true, force: true })));
  let coordinator: CoordinatorProcess | undefined;
  const agents: AgentProcess[] = [];
  try {
    let db: Service;
    if (process.env.DATABASE_URL) {
      db = { url: process.env.DATABASE_URL, stop: () => Promise.resolve() };
    } else {
      say('starting embedded PostgreSQL (set DATABASE_URL to use your own)');
      db = await startEmbeddedPostgres(say);
    }
    cleanups.push(() => db.stop());
    const redis = await ensureRedis(process.env.REDIS_URL, say);
    cleanups.push(() => redis.stop());

    // Shards: the held-out split stays with the coordinator; the rest is split non-IID across agents.
    const { shards, trainSize, heldOutSize } = writeDatasetShards(dataset, work, numAgents, { alpha: 0.1, seed, minPerClient: 20 });
    say(
      `${dataset === 'uci-digits' ? 'digits' : dataset}: ${trainSize} training examples split over ${numAgents} agents (Dirichlet α=0.1: ${shards.map((s) => s.size).join(', ')}), ${heldOutSize} held out`,
    );

    const port = await freePort();
    coordinator = await startCoordinatorProcess(
      {
        DATABASE_URL: db.url,
        REDIS_URL: redis.url,
        ADMIN_TOKEN: token(),
        JOIN_TOKEN: token(),
        BLOB_DIR: path.join(work, 'blobs'),
        DATA_DIR: path.join(ROOT, 'data'),
        QUEUE_PREFIX: `demo${Date.now().toString(36)}`,
        LOG_LEVEL: 'warn',
      },
      port,
    );
    const c = coordinator;
    say(`coordinator on ${c.url} (OpenAPI at ${c.url}/api/docs)`);
    const api = adminApi(c.url, c.adminToken);

    for (let i = 0; i < numAgents; i++) {
      agents.push(
        startAgentProcess({
          name: `agent-${i}`,
          coordinatorUrl: c.url,
          joinToken: c.joinToken,
          dataFile: shards[i].data,
          labelsFile: shards[i].labels,
          dataset,
          availability: PATTERNS[i % PATTERNS.length],
          seed: seed * 100 + i,
        }),
      );
    }
    for (let i = 0; ; i++) {
      const list = await api<{ online: boolean }[]>('GET', '/api/v1/agents');
      if (list.body.filter((a) => a.online).length >= numAgents) break;
      const dead = agents.find((a) => a.proc.exitCode !== null);
      if (dead) throw new Error(`${dead.name} exited:\n${dead.output.join('\n')}`);
      if (i > 600) throw new Error('agents did not register within 60 s');
      await sleep(100);
    }
    say(`${numAgents} agents joined: ${agents.map((a, i) => `${a.name}=${PATTERNS[i % PATTERNS.length]}`).join(' ')}`);

    const submitted = await api<FederatedJobView>('POST', '/api/v1/jobs', {
      kind: 'federated',
      name: dataset === 'uci-digits' ? 'demo: FedAU on UCI digits' : `demo: FedAU on ${dataset}`,
      dataset,
      model,
      rounds,
      localSteps: Number(values['local-steps']),
      batchSize: 16,
      localLr: Number(values['local-lr']),
      globalLr: 1,
      roundDeadlineMs: 20_000,
      aggregation: { rule: 'fedau', cutoffK: null },
      minAgents: numAgents,
      seed,
    });
    if (submitted.status !== 201) throw new Error(`job submission failed: ${JSON.stringify(submitted.body)}`);
    const jobId = submitted.body.id;
    say(`job ${jobId}: ${rounds} rounds, initial test accuracy ${submitted.body.initialMetrics?.testAccuracy.toFixed(3)}`);

    const printed = new Set<number>();
    const printNewRounds = async (): Promise<void> => {
      const rs = (await api<RoundView[]>('GET', `/api/v1/jobs/${jobId}/rounds`)).body;
      for (const r of rs.filter((x) => x.status === 'closed' && !printed.has(x.round)).sort((a, b) => a.round - b.round)) {
        printed.add(r.round);
        const w = r.weightMin === null || r.weightMax === null ? '-' : `${r.weightMin.toFixed(2)}..${r.weightMax.toFixed(2)}`;
        say(
          `round ${String(r.round + 1).padStart(3)}/${rounds}  participants ${r.participants}/${r.eligible}  FedAU weights ${w.padEnd(11)}  test accuracy ${r.metrics?.testAccuracy.toFixed(3) ?? '-'}`,
        );
      }
    };
    let job = submitted.body;
    while (job.status === 'running') {
      await sleep(150);
      job = (await api<FederatedJobView>('GET', `/api/v1/jobs/${jobId}`)).body;
      if (job.currentRound > printed.size) await printNewRounds();
      const dead = agents.find((a) => a.proc.exitCode !== null);
      if (dead) throw new Error(`${dead.name} exited:\n${dead.output.slice(-20).join('\n')}`);
    }
    await printNewRounds();
    if (job.status !== 'completed') throw new Error(`job ended ${job.status}: ${job.error ?? ''}`);
    const participation = (await api<ParticipationView>('GET', `/api/v1/jobs/${jobId}/participation`)).body;
    const agentList = (await api<{ id: string; name: string }[]>('GET', '/api/v1/agents')).body;
    const nameOf = new Map(agentList.map((a) => [a.id, a.name]));
    const rates = participation.agents
      .map((id, i) => ({ name: nameOf.get(id)!, rate: participation.rates[i] }))
      .sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
    const summary = {
      rounds: job.currentRound,
      agents: numAgents,
      initialAccuracy: round4(job.initialMetrics!.testAccuracy),
      finalAccuracy: round4(job.latestMetrics!.testAccuracy),
      participation: rates.map((r) => round4(r.rate)),
      // The final model's sha256: a rerun with the same options gives the same model bit for bit.
      modelHash: job.modelHash,
      jobId,
    };
    say('');
    say(
      `done in ${((Date.now() - started) / 1000).toFixed(1)} s: test accuracy ${summary.initialAccuracy} -> ${summary.finalAccuracy} after ${summary.rounds} rounds`,
    );
    say(`participation rates: ${rates.map((r) => `${r.name} ${r.rate.toFixed(2)}`).join(', ')}`);
    if (json) process.stdout.write(JSON.stringify(summary) + '\n');
  } finally {
    await Promise.all(agents.map((a) => stopProcess(a.proc)));
    if (coordinator) await stopProcess(coordinator.proc);
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  }
}

/**
 * `--model`: an arch name or a model spec's JSON, checked against the job spec's ModelSpecSchema (so any arch it
 * accepts works here). The spec goes to the coordinator as given; the coordinator applies the defaults.
 */
function modelSpec(text: string): Record<string, unknown> {
  let spec: unknown;
  try {
    spec = text.trim().startsWith('{') ? JSON.parse(text) : { arch: text };
  } catch (e) {
    throw new Error(`--model: not JSON: ${(e as Error).message}`);
  }
  const parsed = ModelSpecSchema.safeParse(spec);
  if (!parsed.success) throw new Error(`--model ${text}: ${describeIssues(parsed.error)}`);
  return spec as Record<string, unknown>;
}

function round4(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`demo failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
