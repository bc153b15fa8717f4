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
import { call, floats, toFloat32, waitFor } from '../support/http';
import { stopStack } from '../support/stack';

/** Generous: every round closes as soon as all four agents have answered; a missed deadline would change who participated. */
const DEADLINE_MS = 30_000;

interface JobState {
  status: string;
  currentRound: number;
  parameterCount: number;
  modelHash: string;
  initialMetrics: { testAccuracy: number };
  latestMetrics: { testAccuracy: number } | null;
  policy: { rejected: number; clipped: number };
}

/**
 * Issue #12's probe on the whole stack: three honest agent processes (TF.js) train while a fourth agent, played by the
 * test, poisons rounds with an update of 3e38 everywhere (finite values whose norm does not fit in a float32) and one
 * of 1e20 everywhere (huge but finite). With the default update policy the model is exactly the model of the same job
 * in which that agent declines every round; with no bound, the finite poison wrecks it.
 */
describe('update policy end to end (coordinator + 3 agent processes + a poisoning agent)', () => {
  let db: TestDatabase;
  let redis: PrivateRedis;
  let work: string;
  let coordinator: CoordinatorProcess;
  const agents: AgentProcess[] = [];
  const prefix = uniquePrefix('e2e-policy');
  let rogueToken: string;
  let rogueId: string;
  let beat: NodeJS.Timeout | undefined;

  beforeAll(async () => {
    redis = await startPrivateRedis();
    db = await freshDatabase({ migrate: false });
    work = mkdtempSync(path.join(os.tmpdir(), 'flotilla-e2e-policy-'));
    coordinator = await startCoordinatorProcess(coordinatorEnv(db, redis, work, prefix), await freePort());
    const { files } = writeDigitsShards(work, 3, { alpha: 1.0, seed: 3, minPerClient: 50 });
    files.forEach((dataFile, i) =>
      agents.push(
        startAgentProcess({
          name: `honest-${i}`,
          coordinatorUrl: coordinator.url,
          joinToken: coordinator.joinToken,
          dataFile,
          heartbeatMs: 500,
        }),
      ),
    );
    const rogue = await call<{ agentId: string; agentSecret: string }>(coordinator.url, 'POST', '/api/v1/agents/register', {
      json: { joinToken: coordinator.joinToken, name: 'rogue', datasets: ['uci-digits'] },
    });
    rogueId = rogue.body.agentId;
    rogueToken = `${rogue.body.agentId}.${rogue.body.agentSecret}`;
    beat = setInterval(() => void call(coordinator.url, 'POST', '/api/v1/agents/heartbeat', { token: rogueToken, json: {} }), 500);
    await waitFor(
      '4 agents online',
      async () => {
        const r = await call<{ online: boolean }[]>(coordinator.url, 'GET', '/api/v1/agents', { token: coordinator.adminToken });
        return r.body.filter((a) => a.online).length >= 4;
      },
      30_000,
    );
  }, 60_000);

  afterAll(async () => {
    clearInterval(beat);
    await stopStack({ agents, coordinator, redis, db, work });
  });

  const get = async <T>(p: string): Promise<T> => (await call<T>(coordinator.url, 'GET', p, { token: coordinator.adminToken })).body;

  /**
   * Runs a job of `rounds` rounds (same seed and settings every time) in which the rogue, each round, either declines
   * (`null`) or uploads that value in every coordinate; returns the upload statuses, the finished job and its model.
   */
  async function runJob(rounds: number, poison: (number | null)[], extra: Record<string, unknown> = {}) {
    const submitted = await call<{ id: string; parameterCount: number }>(coordinator.url, 'POST', '/api/v1/jobs', {
      token: coordinator.adminToken,
      json: {
        kind: 'federated',
        dataset: 'uci-digits',
        model: { arch: 'softmax' },
        rounds,
        localSteps: 10,
        batchSize: 16,
        localLr: 0.2,
        roundDeadlineMs: DEADLINE_MS,
        minAgents: 4,
        seed: 7,
        ...extra,
      },
    });
    expect(submitted.status).toBe(201);
    const jobId = submitted.body.id;
    const statuses: number[] = [];
    for (let r = 0; r < rounds; r++) {
      await waitFor(
        `job ${jobId} round ${r} open`,
        async () => (await get<{ round: number }[]>(`/api/v1/jobs/${jobId}/rounds`))[r],
        60_000,
      );
      const value = poison[r];
      const reply =
        value === null
          ? await call(coordinator.url, 'POST', `/api/v1/jobs/${jobId}/rounds/${r}/decline`, { token: rogueToken, json: {} })
          : await call(coordinator.url, 'POST', `/api/v1/jobs/${jobId}/rounds/${r}/update?exampleCount=100&trainLoss=0.1&durationMs=5`, {
              token: rogueToken,
              raw: floats(new Float32Array(submitted.body.parameterCount).fill(value)),
            });
      statuses.push(reply.status);
      await waitFor(`job ${jobId} round ${r} closed`, async () => (await get<JobState>(`/api/v1/jobs/${jobId}`)).currentRound > r, 60_000);
    }
    const job = await get<JobState>(`/api/v1/jobs/${jobId}`);
    const model = toFloat32(
      (await call<Uint8Array>(coordinator.url, 'GET', `/api/v1/jobs/${jobId}/model`, { token: coordinator.adminToken })).body,
    );
    const part = await get<{ agents: string[]; rounds: { row: number[]; outcomes: string[] }[] }>(`/api/v1/jobs/${jobId}/participation`);
    const col = part.agents.indexOf(rogueId);
    return {
      job,
      model,
      statuses,
      rogue: part.rounds.map((r) => r.outcomes[col]),
      honest: part.rounds.map((r) => r.row.filter((v) => v === 1).length),
    };
  }

  const largest = (x: Float32Array): number => x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  /** The honest two-round run both tests below compare with (the same job gives the same model every time). */
  let honestTwo: ReturnType<typeof runJob> | undefined;
  const honestTwoRounds = () => (honestTwo ??= runJob(2, [null, null]));

  it('rejects 3e38 (on arrival) and 1e20 (at the close): the model is the honest run’s, bit for bit, and the accuracy holds', async () => {
    const honest = await runJob(4, [null, null, null, null]);
    expect(honest.job.status).toBe('completed');
    expect(honest.honest).toEqual([3, 3, 3, 3]); // every honest agent in every round: the comparison below is like for like
    expect(honest.job.latestMetrics!.testAccuracy).toBeGreaterThan(honest.job.initialMetrics.testAccuracy + 0.1);

    const poisoned = await runJob(4, [3e38, 1e20, 3e38, 1e20]);
    // 3e38 everywhere: each value is a finite float32, the norm (3e38 · √650 ≈ 7.6e39) is not: 422 on arrival.
    // 1e20 everywhere: accepted (200), then beyond 10 × the round's median norm at the close.
    expect(poisoned.statuses).toEqual([422, 200, 422, 200]);
    expect(poisoned.rogue).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
    expect(poisoned.job.policy).toEqual({ rejected: 4, clipped: 0 });
    expect(poisoned.honest).toEqual([3, 3, 3, 3]);
    // A rejected agent is a non-participant, exactly as one that declines: same FedAU weights, same model.
    expect(poisoned.job.modelHash).toBe(honest.job.modelHash);
    expect(poisoned.job.latestMetrics!.testAccuracy).toBe(honest.job.latestMetrics!.testAccuracy);
    expect(poisoned.model.every(Number.isFinite)).toBe(true);
    expect(largest(poisoned.model)).toBeLessThan(100);
  }, 240_000);

  it('clips the huge update to 10 × the median norm: the model stays finite and the accuracy near the honest run’s', async () => {
    const honest = await honestTwoRounds();
    const clipped = await runJob(2, [3e38, 1e20], { updatePolicy: { action: 'clip' } });
    expect(clipped.statuses).toEqual([422, 200]); // a norm beyond float32 is rejected whatever the action
    expect(clipped.rogue).toEqual(['rejected', 'clipped']);
    expect(clipped.job.policy).toEqual({ rejected: 1, clipped: 1 });
    expect(clipped.model.every(Number.isFinite)).toBe(true);
    expect(largest(clipped.model)).toBeLessThan(100);
    expect(clipped.job.latestMetrics!.testAccuracy).toBeGreaterThan(honest.job.latestMetrics!.testAccuracy - 0.05);
  }, 240_000);

  it('without a norm bound the finite poison is aggregated and wrecks the model (what the policy prevents)', async () => {
    const honest = await honestTwoRounds();
    const wrecked = await runJob(2, [3e38, 1e20], { updatePolicy: { bound: { kind: 'none' } } });
    expect(wrecked.statuses).toEqual([422, 200]); // the float32 ceiling holds even here
    expect(wrecked.rogue).toEqual(['rejected', 'participated']);
    expect(largest(wrecked.model)).toBeGreaterThan(1e18); // 1e20 · ω / N = 2.5e19 added to every weight
    // Every weight is absorbed into 2.5e19 (float32 keeps no 0.1 next to it): every class scores the same.
    expect(wrecked.job.latestMetrics!.testAccuracy).toBeLessThan(0.2);
    expect(wrecked.job.latestMetrics!.testAccuracy).toBeLessThan(honest.job.latestMetrics!.testAccuracy - 0.1);
  }, 240_000);
});
