/**
 * `npm run screenshots`: pictures of every dashboard page at 1400 px width, written to docs/screenshots/, from a real
 * stack with demo data: PostgreSQL (embedded unless DATABASE_URL is set), Redis, the built coordinator, 6 agent
 * processes training a federated job on non-IID shards of the digits (each with its own availability) and running a
 * bilevel job and a NAS job, a job that waits for agents nobody runs, and two registered agents that stopped heartbeating (one
 * revoked). Chromium is Debian's (/usr/bin/chromium, or CHROMIUM_PATH), driven headless by playwright-core.
 */
import type { FederatedJobView, JobView } from '@flotilla/contracts';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import { heartbeat, registerAgents } from './dashboard-fleet';
import { ensureRedis, freePort, sleep, startEmbeddedPostgres, stopProcess, type Service } from './lib/services';
import { ROOT, adminApi, startAgentProcess, startCoordinatorProcess, token, writeDatasetShards, type AgentProcess } from './lib/stack';

const OUT = path.join(ROOT, 'docs', 'screenshots');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const AGENTS = 6;
const ROUNDS = 40;
const PATTERNS = ['always', 'bernoulli:0.8', 'bernoulli:0.5', 'markov:0.4:0.2', 'bernoulli:0.3', 'cyclic:0.5:10'];

async function main(): Promise<void> {
  const say = (s: string) => console.log(s);
  const cleanups: (() => Promise<unknown>)[] = [];
  const work = mkdtempSync(path.join(os.tmpdir(), 'flotilla-screens-'));
  cleanups.push(() => Promise.resolve(rmSync(work, { recursive: true, force: true })));
  try {
    const db: Service = process.env.DATABASE_URL
      ? { url: process.env.DATABASE_URL, stop: () => Promise.resolve() }
      : await startEmbeddedPostgres(say);
    cleanups.push(() => db.stop());
    const redis = await ensureRedis(process.env.REDIS_URL, say);
    cleanups.push(() => redis.stop());
    const c = await startCoordinatorProcess(
      {
        DATABASE_URL: db.url,
        REDIS_URL: redis.url,
        ADMIN_TOKEN: token(),
        JOIN_TOKEN: token(),
        BLOB_DIR: path.join(work, 'blobs'),
        DATA_DIR: path.join(ROOT, 'data'),
        QUEUE_PREFIX: `screens${Date.now().toString(36)}`,
        LOG_LEVEL: 'warn',
      },
      await freePort(),
    );
    cleanups.push(() => stopProcess(c.proc));
    const api = adminApi(c.url, c.adminToken);

    // Two agents of another dataset that stop heartbeating (offline soon), one of them revoked.
    const [idle, gone] = await registerAgents(c.url, c.joinToken, [
      {
        name: 'gpu-box-1',
        datasets: ['mnist'],
        labels: { gpu: 'true', region: 'eu' },
        backend: 'tensorflow-gpu',
        device: 'gpu: NVIDIA L4',
      },
      { name: 'laptop-7', datasets: ['mnist'], labels: { region: 'us' } },
    ]);
    await heartbeat(c.url, idle, { network: { retries: 4, failures: 1 } });
    await api('DELETE', `/api/v1/agents/${gone.id}`);

    const { shards } = writeDatasetShards('uci-digits', work, AGENTS, { alpha: 0.3, seed: 7, minPerClient: 30 });
    const agents: AgentProcess[] = [];
    cleanups.push(() => Promise.all(agents.map((a) => stopProcess(a.proc))));
    for (let i = 0; i < AGENTS; i++)
      agents.push(
        startAgentProcess({
          name: `edge-${String(i + 1).padStart(2, '0')}`,
          coordinatorUrl: c.url,
          joinToken: c.joinToken,
          dataFile: shards[i].data,
          labelsFile: shards[i].labels,
          availability: PATTERNS[i],
          seed: 700 + i,
        }),
      );
    for (let i = 0; ; i++) {
      const online = (await api<{ online: boolean; datasets: string[] }[]>('GET', '/api/v1/agents')).body.filter(
        (a) => a.online && a.datasets.includes('uci-digits'),
      );
      if (online.length >= AGENTS) break;
      if (i > 600) throw new Error('agents did not register within 60 s');
      await sleep(100);
    }
    say(`${AGENTS} agents joined`);

    const submit = async (spec: unknown) => {
      const r = await api<JobView>('POST', '/api/v1/jobs', spec);
      if (r.status !== 201) throw new Error(`submitting: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    };
    const fed = await submit({
      kind: 'federated',
      name: 'digits-mlp-fedau',
      dataset: 'uci-digits',
      model: { arch: 'mlp', hidden: 32 },
      rounds: ROUNDS,
      localSteps: 10,
      batchSize: 16,
      localLr: 0.1,
      minAgents: 2,
      roundDeadlineMs: 4000,
    });
    await submit({
      kind: 'federated',
      name: 'digits-on-gpus',
      dataset: 'uci-digits',
      model: { arch: 'softmax' },
      rounds: 20,
      minAgents: 3,
      agentSelector: { gpu: 'true' },
    });
    for (let i = 0; ; i++) {
      const job = (await api<FederatedJobView>('GET', `/api/v1/jobs/${fed.id}`)).body;
      if (job.status !== 'running') break;
      if (i % 50 === 0) say(`federated job: round ${job.currentRound} / ${ROUNDS}`);
      if (i > 3000) throw new Error('the federated job did not finish within 5 minutes');
      await sleep(100);
    }
    const bilevel = await submit({
      kind: 'bilevel',
      name: 'bilevel-T1',
      problem: { kind: 'test-case', name: 'T1' },
      methods: ['penalty-double-loop', 'penalty-single-loop'],
      seeds: [3],
      penalties: [{ kind: 'fixed', lambda: 20 }],
      iterations: 30,
      innerSteps: 10,
      stepX: 0.2,
      momentum: 0.5,
    });
    for (let i = 0; (await api<JobView>('GET', `/api/v1/jobs/${bilevel.id}`)).body.status === 'running'; i++) {
      if (i > 1200) throw new Error('the bilevel job did not finish within 2 minutes');
      await sleep(100);
    }

    // The search of the NAS end-to-end test: a small supernet on the digits.
    const nas = await submit({
      kind: 'nas',
      name: 'digits-nas',
      dataset: 'uci-digits',
      space: { width: 8 },
      warmupSteps: 30,
      finalSteps: 30,
      gm: { batches: 6, batchSize: 32 },
      training: { batchSize: 32 },
      selection: { standaloneSteps: 40, maxCandidates: 16 },
      seed: 5,
    });
    for (let i = 0; (await api<JobView>('GET', `/api/v1/jobs/${nas.id}`)).body.status === 'running'; i++) {
      if (i > 3000) throw new Error('the NAS job did not finish within 5 minutes');
      await sleep(100);
    }

    mkdirSync(OUT, { recursive: true });
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
    cleanups.push(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const shot = async (name: string, ready: string) => {
      await page.waitForSelector(ready);
      await sleep(400); // charts size themselves to their box on the next frame
      await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true });
      say(`docs/screenshots/${name}.png`);
    };
    await page.goto(`${c.url}/dashboard`);
    await shot('sign-in', '#signin');
    await page.fill('#token', c.adminToken);
    await page.click('#signin button');
    await page.click('#sweep-preview');
    await shot('overview', '#sweep-report');
    await page.click('#nav-agents');
    await shot('agents', '#agents tbody tr');
    await page.click('#nav-jobs');
    await shot('jobs', '#jobs tbody tr');
    await page.goto(`${c.url}/dashboard/jobs/${fed.id}`);
    await shot('job-federated', '#heatmap-canvas');
    await page.goto(`${c.url}/dashboard/jobs/${bilevel.id}`);
    await shot('job-bilevel', '#bilevel-runs');
    await page.goto(`${c.url}/dashboard/jobs/${nas.id}`);
    await shot('job-nas', '#nas-tree');
    await page.click('#nav-submit');
    await page.fill(
      '#spec',
      JSON.stringify({ kind: 'federated', name: 'typo', dataset: 'uci-digits', model: { arch: 'mlp', hidden: 0 }, rounds: 0 }, null, 2),
    );
    await page.click('#submit');
    await shot('submit-errors', '#spec-errors .field-error');
  } finally {
    for (const f of cleanups.reverse()) await f().catch(() => undefined);
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  },
);
