import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, startPrivateRedis, type PrivateRedis } from '../../scripts/lib/services';
import {
  startAgentProcess,
  startCoordinatorProcess,
  writeDigitsShards,
  type AgentProcess,
  type CoordinatorProcess,
} from '../../scripts/lib/stack';
import { coordinatorEnv, freshDatabase, uniquePrefix, type TestDatabase } from '../support/database';
import { call, waitFor } from '../support/http';
import { stopStack } from '../support/stack';

const ROUNDS = 6;

/**
 * The coordinator is killed with SIGKILL in the middle of a job and started again on the same
 * database, Redis and blob directory: the job resumes and completes, with every round closed once
 * and a participation row for every (round, agent), and the agents never notice more than a few
 * failed heartbeats.
 */
describe('coordinator crash and restart (real processes)', () => {
  let db: TestDatabase;
  let redis: PrivateRedis;
  let work: string;
  let port: number;
  let env: Record<string, string>;
  let coordinator: CoordinatorProcess;
  const agents: AgentProcess[] = [];
  const prefix = uniquePrefix('restart');

  beforeAll(async () => {
    redis = await startPrivateRedis();
    db = await freshDatabase({ migrate: false });
    work = mkdtempSync(path.join(os.tmpdir(), 'flotilla-restart-'));
    port = await freePort();
    env = coordinatorEnv(db, redis, work, prefix, { AGENT_OFFLINE_AFTER_MS: '10000' });
    coordinator = await startCoordinatorProcess(env, port);
    writeDigitsShards(work, 3, { alpha: 1.0, seed: 4, minPerClient: 50 }).files.forEach((file, i) => {
      agents.push(
        startAgentProcess({
          name: `r-${i}`,
          coordinatorUrl: coordinator.url,
          joinToken: env.JOIN_TOKEN,
          dataFile: file,
          heartbeatMs: 500,
        }),
      );
    });
  }, 60_000);

  afterAll(() => stopStack({ agents, coordinator, redis, db, work }));

  it('resumes the job after a SIGKILL and completes every round exactly once', async () => {
    const admin = env.ADMIN_TOKEN;
    const base = coordinator.url;
    await waitFor(
      '3 agents online',
      async () =>
        (await call<{ online: boolean }[]>(base, 'GET', '/api/v1/agents', { token: admin })).body.filter((a) => a.online).length >= 3,
      30_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n${agents.map((a) => a.output.slice(-5).join('\n')).join('\n')}`);
    });
    const job = await call<{ id: string }>(base, 'POST', '/api/v1/jobs', {
      token: admin,
      json: {
        kind: 'federated',
        dataset: 'uci-digits',
        model: { arch: 'softmax' },
        rounds: ROUNDS,
        localSteps: 5,
        batchSize: 16,
        localLr: 0.2,
        roundDeadlineMs: 3000,
        minAgents: 3,
        seed: 9,
      },
    });
    expect(job.status).toBe(201);
    const jobId = job.body.id;
    const current = async () =>
      (await call<{ currentRound: number; status: string }>(base, 'GET', `/api/v1/jobs/${jobId}`, { token: admin })).body;

    await waitFor('round 1 closed', async () => (await current()).currentRound >= 2, 60_000);
    const atKill = await current();
    coordinator.proc.kill('SIGKILL');
    await new Promise((r) => coordinator.proc.once('exit', r));
    // Down for a moment: agents' heartbeats fail meanwhile.
    await new Promise((r) => setTimeout(r, 1000));
    coordinator = await startCoordinatorProcess(env, port);

    const done = await waitFor(
      'job completed after restart',
      async () => {
        const j = await current();
        return j.status !== 'running' ? j : undefined;
      },
      90_000,
    );
    expect(atKill).toMatchObject({ status: 'running' });
    expect(atKill.currentRound).toBeLessThan(ROUNDS - 1); // killed with rounds still to run
    expect(done).toMatchObject({ status: 'completed', currentRound: ROUNDS });

    const rounds = await call<{ round: number; status: string; eligible: number; participants: number }[]>(
      base,
      'GET',
      `/api/v1/jobs/${jobId}/rounds`,
      { token: admin },
    );
    expect(rounds.body.map((r) => [r.round, r.status])).toEqual(Array.from({ length: ROUNDS }, (_, i) => [i, 'closed']));
    const part = await call<{ agents: string[]; rounds: { round: number; row: (number | null)[] }[] }>(
      base,
      'GET',
      `/api/v1/jobs/${jobId}/participation`,
      { token: admin },
    );
    expect(part.body.agents).toHaveLength(3);
    expect(part.body.rounds.map((r) => r.round)).toEqual(Array.from({ length: ROUNDS }, (_, i) => i));
    for (const r of part.body.rounds) expect(r.row.every((x) => x === 0 || x === 1)).toBe(true);
    // The rounds after the restart were trained by the same (still running) agents.
    expect(part.body.rounds[ROUNDS - 1].row.filter((x) => x === 1).length).toBeGreaterThanOrEqual(2);
    for (const a of agents) expect(a.proc.exitCode).toBeNull();
  }, 180_000);
});
