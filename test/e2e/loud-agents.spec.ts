import type { AgentView } from '@flotilla/contracts';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, startPrivateRedis, stopProcess, type PrivateRedis } from '../../scripts/lib/services';
import { startAgentProcess, startCoordinatorProcess, type AgentProcess, type CoordinatorProcess } from '../../scripts/lib/stack';
import { coordinatorEnv, freshDatabase, uniquePrefix, type TestDatabase } from '../support/database';
import { call, waitFor } from '../support/http';
import { exited, stopStack } from '../support/stack';

/**
 * Longer than any test here may take: a round that waited for its deadline would time the test out. Rounds close
 * because every eligible agent answered (or declined, or left), never at this deadline.
 */
const DEADLINE_MS = 120_000;

/** Rows of `features` values in [0, 1] and labels 0..2, label last (deterministic, no data file needed). */
function csv(rows: number, features: number, offset = 0): string {
  const lines: string[] = [];
  for (let i = offset; i < offset + rows; i++) {
    const label = i % 3;
    const x = Array.from({ length: features }, (_, j) => (((i * 7 + j * 13 + label * 29) % 101) / 100).toFixed(2));
    lines.push([...x, label].join(','));
  }
  return lines.join('\n') + '\n';
}

/** A catalogue dataset: DATA_DIR/<name>/dataset.json + data.csv (4 features in [0, 1], 3 classes). */
function writeDataset(dataDir: string, name: string, features: number): void {
  mkdirSync(path.join(dataDir, name), { recursive: true });
  writeFileSync(path.join(dataDir, name, 'data.csv'), csv(150, features));
  const manifest = { name, file: 'data.csv', featureRange: [0, 1], numClasses: 3, heldOut: { fraction: 0.2, seed: 1 } };
  writeFileSync(path.join(dataDir, name, 'dataset.json'), JSON.stringify(manifest));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Issue #14: agents that fail loudly, with real processes. An agent whose file does not fit its dataset, or that names
 * a dataset the coordinator does not know, refuses to start with a message saying why and is never registered; an
 * agent that cannot train declines with the error, which the coordinator keeps as its lastError, and no round waits
 * for it; an agent stopped with SIGTERM (through `npm run agent`, as users start it) leaves, and the next rounds go
 * on without it, none waiting for its deadline.
 */
describe('agents that fail loudly (coordinator + agent processes)', () => {
  let db: TestDatabase;
  let redis: PrivateRedis;
  let work: string;
  let dataDir: string;
  let port: number;
  let env: Record<string, string>;
  let coordinator: CoordinatorProcess;
  const agents: AgentProcess[] = [];
  const prefix = uniquePrefix('e2e-loud');

  beforeAll(async () => {
    redis = await startPrivateRedis();
    db = await freshDatabase({ migrate: false });
    work = mkdtempSync(path.join(os.tmpdir(), 'flotilla-e2e-loud-'));
    dataDir = path.join(work, 'data');
    writeDataset(dataDir, 'tiny', 4);
    writeDataset(dataDir, 'shifting', 4);
    port = await freePort();
    env = coordinatorEnv(db, redis, work, prefix, { DATA_DIR: dataDir });
    coordinator = await startCoordinatorProcess(env, port);
  }, 60_000);

  afterAll(() => stopStack({ agents, coordinator, redis, db, work }));

  const admin = <T>(method: string, p: string, json?: unknown) => call<T>(coordinator.url, method, p, { token: env.ADMIN_TOKEN, json });
  const listAgents = async (): Promise<AgentView[]> => (await admin<AgentView[]>('GET', '/api/v1/agents')).body;

  function agent(name: string, rows: string, extra: Partial<Parameters<typeof startAgentProcess>[0]> = {}): AgentProcess {
    const dataFile = path.join(work, `${name}.csv`);
    writeFileSync(dataFile, rows);
    const a = startAgentProcess({
      name,
      coordinatorUrl: coordinator.url,
      joinToken: env.JOIN_TOKEN,
      dataFile,
      dataset: 'tiny',
      heartbeatMs: 500,
      args: ['--poll-wait-ms', '2000'],
      ...extra,
    });
    agents.push(a);
    return a;
  }

  async function submit(dataset: string, rounds: number): Promise<string> {
    const r = await admin<{ id: string }>('POST', '/api/v1/jobs', {
      kind: 'federated',
      dataset,
      model: { arch: 'softmax' },
      rounds,
      localSteps: 2,
      batchSize: 8,
      roundDeadlineMs: DEADLINE_MS,
      minAgents: 1,
    });
    expect(r.status).toBe(201);
    return r.body.id;
  }

  type Participation = { agents: string[]; rounds: { round: number; outcomes: (string | null)[] }[] };
  type Round = { round: number; status: string; eligible: number; openedAt: string };

  it('an agent whose file has the wrong number of features exits non-zero saying so, and is never registered', async () => {
    const a = agent('narrow', csv(30, 2));
    expect(await exited(a.proc)).toBe(4);
    expect(a.output.join('\n')).toContain("does not fit dataset 'tiny' on the coordinator: rows have 2 features, dataset tiny has 4");
    expect((await listAgents()).map((x) => x.name)).not.toContain('narrow');
  });

  it('a registration naming an unknown dataset is a 400 naming it and the known ones; an agent naming it exits saying so', async () => {
    const r = await call<{ message: string }>(coordinator.url, 'POST', '/api/v1/agents/register', {
      json: { joinToken: env.JOIN_TOKEN, name: 'lost', datasets: ['mnist-fashion'] },
    });
    expect([r.status, r.body.message]).toEqual([400, "Unknown dataset 'mnist-fashion'; this coordinator knows: shifting, tiny"]);

    const a = agent('lost', csv(30, 4), { dataset: 'mnist-fashion' });
    expect(await exited(a.proc)).toBe(4);
    expect(a.output.join('\n')).toContain("Unknown dataset 'mnist-fashion'; this coordinator knows: shifting, tiny");
    expect((await listAgents()).map((x) => x.name)).not.toContain('lost');
  });

  it('SIGTERM to `npm run agent` mid-job: the agent process gets it and leaves; later rounds open without it and none waits for it', async () => {
    agent('steady', csv(60, 4, 0));
    const leaving = agent('leaving', csv(60, 4, 60), { launcher: 'npm' });
    await waitFor('both agents online', async () => (await listAgents()).filter((x) => x.online).length === 2, 30_000);
    const jobId = await submit('tiny', 1000);
    // Round 1 closed: both agents have trained in this job.
    await waitFor('round 1 closed', async () => (await admin<Round[]>('GET', `/api/v1/jobs/${jobId}/rounds`)).body[1]?.status === 'closed');

    // npm runs the agent's node process as its child (the script execs it): that process must get the signal.
    const nodePid = Number(
      execFileSync('pgrep', ['-P', String(leaving.proc.pid)])
        .toString()
        .trim()
        .split('\n')[0],
    );
    expect(nodePid).toBeGreaterThan(0);
    leaving.proc.kill('SIGTERM');
    expect(await exited(leaving.proc)).toBe(0);
    expect(alive(nodePid)).toBe(false);
    const log = leaving.output.join('\n');
    expect(log).toContain('SIGTERM: finishing the work in hand and leaving');
    expect(log).toMatch(/left the coordinator/);

    const gone = (await listAgents()).find((x) => x.name === 'leaving')!;
    expect(gone).toMatchObject({ online: false, revokedAt: null, leftAt: expect.any(String) });
    // A round opened after it left closes with the other agent alone.
    const later = await waitFor('a round opened after the agent left, closed', async () => {
      const rounds = (await admin<Round[]>('GET', `/api/v1/jobs/${jobId}/rounds`)).body;
      return rounds.find((r) => Date.parse(r.openedAt) > Date.parse(gone.leftAt!) && r.status === 'closed');
    });
    expect(later.eligible).toBe(1);
    expect((await admin('POST', `/api/v1/jobs/${jobId}/cancel`)).status).toBe(201);
    // Every agent asked in every round answered it (or declined, e.g. as it left): none timed out.
    const part = (await admin<Participation>('GET', `/api/v1/jobs/${jobId}/participation`)).body;
    expect(part.rounds.flatMap((r) => r.outcomes).filter((o) => o === 'timeout')).toEqual([]);
  }, 60_000);

  it('an agent that cannot train declines with the error: kept as its lastError, shown by GET /agents, and no round waits for it', async () => {
    const a = agent('stale', csv(60, 4), { dataset: 'shifting' });
    await waitFor('the agent online', async () => (await listAgents()).find((x) => x.name === 'stale')?.online);
    // The operator changes the dataset under the running agent (5 features now) and restarts the coordinator: the
    // agent's file no longer fits the model, and it cannot know before it trains.
    await stopProcess(coordinator.proc);
    writeDataset(dataDir, 'shifting', 5);
    coordinator = await startCoordinatorProcess(env, port);
    await waitFor('the agent back', async () => (await listAgents()).find((x) => x.name === 'stale')?.online, 30_000);

    const jobId = await submit('shifting', 2);
    await waitFor(
      'job completed',
      async () => (await admin<{ status: string }>('GET', `/api/v1/jobs/${jobId}`)).body.status === 'completed',
    );
    const part = (await admin<Participation>('GET', `/api/v1/jobs/${jobId}/participation`)).body;
    const col = part.agents.indexOf((await listAgents()).find((x) => x.name === 'stale')!.id);
    // It declined both rounds (not 'timeout': nobody waited for the two-minute deadline).
    expect(part.rounds.map((r) => r.outcomes[col])).toEqual(['declined', 'declined']);
    const stale = (await listAgents()).find((x) => x.name === 'stale')!;
    expect(stale.lastError).toEqual({
      message: `round 1 of job ${jobId}: trainLocal: parameters have length 18, softmax on 4x3 needs 15`,
      at: expect.any(String),
    });
    expect(stale.online).toBe(true);
    expect(a.output.join('\n')).toContain(
      `round 0 of ${jobId}: cannot train: trainLocal: parameters have length 18, softmax on 4x3 needs 15`,
    );
  }, 60_000);
});
