import type { AgentView, BilevelRunView, FederatedJobView, JobView, RoundView, TaskView } from '@flotilla/contracts';
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FaultProxy, type FaultPlan } from '../../scripts/lib/fault-proxy';
import { freePort, startPrivateRedis, stopProcess, type PrivateRedis } from '../../scripts/lib/services';
import {
  startAgentProcess,
  startCoordinatorProcess,
  writeDigitsShards,
  type AgentProcess,
  type CoordinatorProcess,
} from '../../scripts/lib/stack';
import { T1_OPTIONS, expectReferenceRun } from '../support/bilevel';
import { coordinatorEnv, freshDatabase, uniquePrefix, type TestDatabase } from '../support/database';
import { call, waitFor } from '../support/http';
import { stopStack } from '../support/stack';

const AGENTS = 6;
/**
 * The network between the agents and the coordinator, from the agents' first connection on: 30 % of new
 * connections reset (half before the request reaches the coordinator, half after it took the request, so the answer
 * is lost), one in ten weights downloads cut mid-body and one in ten corrupted, idle connections dropped after 0.7 s
 * and every connection closed after 1.5 s, busy or not (a poll for work waits up to 1 s).
 */
const FAULTS: FaultPlan = {
  resetBefore: 0.15,
  resetAfter: 0.15,
  cutBody: 0.1,
  corruptBody: 0.1,
  cutAfterBytes: 1_000, // the softmax model is 650 float32 values: only weights downloads are longer
  idleCloseMs: 700,
  maxAgeMs: 1_500,
};
const FEDERATED = {
  kind: 'federated',
  dataset: 'uci-digits',
  model: { arch: 'softmax' },
  rounds: 10,
  localSteps: 5,
  minAgents: AGENTS,
  roundDeadlineMs: 30_000,
  seed: 11,
};

/**
 * Agents ride out an unreliable network: six agents reach the coordinator only through a proxy that resets, drops,
 * cuts and corrupts. Every agent takes part in every federated round without a round waiting for its deadline, no
 * agent registers twice, the federated job ends on the same model, bit for bit, as the same job on a clean network
 * (no update lost or applied twice), and a bilevel job takes exactly the steps of the in-process reference (no task
 * result lost or applied twice).
 */
describe('agents behind a faulty network (resets, stale sockets, cut and corrupted downloads)', () => {
  let db: TestDatabase;
  let redis: PrivateRedis;
  let work: string;
  let coordinator: CoordinatorProcess;
  let proxy: FaultProxy;
  const agents: AgentProcess[] = [];
  const admin = () => coordinator.adminToken;
  const api = <T>(method: string, p: string, json?: unknown) =>
    call<T>(coordinator.url, method, `/api/v1${p}`, { token: admin(), ...(json ? { json } : {}) });
  const finished = (id: string, ms: number) =>
    waitFor(
      `job ${id} finished`,
      async () => {
        const j = (await api<JobView>('GET', `/jobs/${id}`)).body;
        return j.status !== 'running' && j;
      },
      ms,
    );

  beforeAll(async () => {
    redis = await startPrivateRedis();
    db = await freshDatabase({ migrate: false });
    work = mkdtempSync(path.join(os.tmpdir(), 'flotilla-faults-'));
    coordinator = await startCoordinatorProcess(
      coordinatorEnv(db, redis, work, uniquePrefix('faults'), { AGENT_OFFLINE_AFTER_MS: '15000' }),
      await freePort(),
    );
    proxy = await FaultProxy.start({ host: '127.0.0.1', port: Number(new URL(coordinator.url).port) }, FAULTS, { seed: 18 });
    const { files } = writeDigitsShards(work, AGENTS, { alpha: 1.0, seed: 5, minPerClient: 60 });
    files.forEach((dataFile, i) =>
      agents.push(
        startAgentProcess({
          name: `edge-${i}`,
          coordinatorUrl: proxy.url,
          joinToken: coordinator.joinToken,
          dataFile,
          heartbeatMs: 500,
          args: ['--poll-wait-ms', '1000', '--retry-max-delay-ms', '1000'],
        }),
      ),
    );
    await waitFor(
      `${AGENTS} agents online`,
      async () => (await api<AgentView[]>('GET', '/agents')).body.filter((a) => a.online).length === AGENTS,
      60_000,
    );
  }, 120_000);

  afterAll(async () => {
    await proxy?.close();
    await stopStack({ agents, coordinator, redis, db, work });
  }, 60_000);

  async function federatedJob(): Promise<{ job: FederatedJobView; rounds: RoundView[] }> {
    const submitted = await api<JobView>('POST', '/jobs', FEDERATED);
    expect(submitted.status).toBe(201);
    const job = (await finished(submitted.body.id, 120_000)) as FederatedJobView;
    const rounds = (await api<RoundView[]>('GET', `/jobs/${job.id}/rounds`)).body;
    return { job, rounds };
  }

  it('every agent takes part in every federated round, no round waits for its deadline, and the model equals a clean run', async () => {
    const faulty = await federatedJob();
    expect(faulty.job).toMatchObject({ status: 'completed', error: null });
    const closed = faulty.rounds;
    expect(closed.map((r) => [r.status, r.eligible, r.participants])).toEqual(
      Array.from({ length: FEDERATED.rounds }, () => ['closed', AGENTS, AGENTS]),
    );
    for (const r of closed) expect(Date.parse(r.closedAt!)).toBeLessThan(Date.parse(r.deadlineAt));

    // The same job on a clean network: all agents in all rounds again, so the same updates, folded in the same
    // order. Bit-identical models mean no update was lost or applied twice under the faults.
    const during = { ...proxy.counts };
    proxy.setPlan({});
    const clean = await federatedJob();
    expect(clean.job.status).toBe('completed');
    expect(clean.job.modelHash).toBe(faulty.job.modelHash);

    expect(during.resetsAfter).toBeGreaterThanOrEqual(1);
    expect(during.cutBodies + during.corruptBodies).toBeGreaterThanOrEqual(1);
    proxy.setPlan(FAULTS);
  }, 300_000);

  it('a bilevel job under the same faults takes exactly the in-process steps', async () => {
    const before = proxy.resets;
    const spec = {
      kind: 'bilevel',
      problem: { kind: 'test-case', name: 'T1' },
      methods: ['penalty-single-loop', 'f2sa'],
      seeds: [3],
      penalties: [{ kind: 'fixed', lambda: 20 }],
      iterations: 6,
      innerSteps: 10,
      stepX: 0.2,
      momentum: 0.5,
      taskTimeoutMs: 20_000,
    };
    const submitted = await api<JobView>('POST', '/jobs', spec);
    expect(submitted.status).toBe(201);
    const done = await finished(submitted.body.id, 120_000);
    expect(done).toMatchObject({ status: 'completed', error: null });

    const runs = (await api<BilevelRunView[]>('GET', `/jobs/${done.id}/bilevel`)).body;
    for (const r of runs) expectReferenceRun(r, { kind: 'test-case', name: 'T1' }, 3, T1_OPTIONS, 6);
    // No task timed out or was given to a second agent: every lost answer was retried by its agent.
    const tasks = (await api<TaskView[]>('GET', `/jobs/${done.id}/tasks`)).body;
    expect(tasks.map((t) => [t.status, t.attempt])).toEqual(tasks.map(() => ['done', 1]));
    process.stdout.write(`resets during the bilevel job: ${proxy.resets - before}\n`);
  }, 180_000);

  it('no agent registered twice, none stopped, and each reported its network counters; the proxy injected at least ten resets', async () => {
    process.stdout.write(`faults injected in all: ${JSON.stringify(proxy.counts)}\n`);
    expect(proxy.resets).toBeGreaterThanOrEqual(10);
    const listed = (await api<AgentView[]>('GET', '/agents')).body;
    expect(listed.map((a) => a.name).sort()).toEqual(agents.map((a) => a.name).sort());
    for (const a of agents) expect(a.proc.exitCode).toBeNull();
    await waitFor(
      'every agent to report its network counters',
      async () => (await api<AgentView[]>('GET', '/agents')).body.every((a) => a.network && a.network.retries + a.network.failures > 0),
      30_000,
    );
  }, 60_000);

  it('an agent started before its coordinator waits for it (one "waiting" line), then joins; a refused join token stops it with exit code 3', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const early = startAgentProcess({
      name: 'early',
      coordinatorUrl: url,
      joinToken: coordinator.joinToken,
      dataFile: path.join(work, 'agent-0.csv'),
      args: ['--retry-max-delay-ms', '500'],
    });
    agents.push(early);
    await waitFor(
      'the agent to say it waits',
      () => Promise.resolve(early.output.some((l) => l.includes(`waiting for the coordinator at ${url}`))),
      30_000,
    );
    // Now a coordinator comes up on that port (its own database), with the join token the agent holds.
    const db2 = await freshDatabase({ migrate: false });
    const second = await startCoordinatorProcess(
      coordinatorEnv(db2, redis, path.join(work, 'late'), uniquePrefix('late'), { JOIN_TOKEN: coordinator.joinToken }),
      port,
    );
    try {
      await waitFor('the early agent to register', () => Promise.resolve(early.output.some((l) => /registered as /.test(l))), 30_000);
      expect(early.output.filter((l) => l.includes('waiting for the coordinator'))).toHaveLength(1);
      // Its first call (reading its dataset's shape, before it registers) is the one that waited.
      expect(early.output.join('\n')).toMatch(/shape of dataset uci-digits: done after \d+ tries/);

      const refused = startAgentProcess({
        name: 'refused',
        coordinatorUrl: url,
        joinToken: 'not-a-join-token-0000000000',
        dataFile: path.join(work, 'agent-0.csv'),
      });
      const code = await new Promise<number | null>((r) => refused.proc.once('exit', r));
      expect(code).toBe(3);
      expect(refused.output.join('\n')).toMatch(/refused to let this agent join: coordinator answered 401/);
    } finally {
      await stopProcess(early.proc);
      await stopProcess(second.proc);
      await db2.drop();
    }
  }, 90_000);
});
