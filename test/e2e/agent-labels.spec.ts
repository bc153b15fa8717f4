import type { AgentView, ParticipationView } from '@flotilla/contracts';
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, startPrivateRedis, stopProcess, type PrivateRedis } from '../../scripts/lib/services';
import { startAgentProcess, startCoordinatorProcess, type AgentProcess, type CoordinatorProcess } from '../../scripts/lib/stack';
import { DIGITS_FILE } from '../support/bilevel';
import { coordinatorEnv, freshDatabase, uniquePrefix, type TestDatabase } from '../support/database';
import { call, waitFor } from '../support/http';
import { exited, stopStack } from '../support/stack';

/**
 * Labels and backends with real processes (issue #13): `--label` and FLOTILLA_LABELS reach the coordinator with the
 * backend and device the agent computes with, a bad label stops the agent before it registers, a job's agentSelector
 * keeps its rounds on the matching agent, and an agent restarted with other labels is relabelled on rejoin.
 */
describe('agent labels (coordinator + agent processes)', () => {
  let db: TestDatabase;
  let redis: PrivateRedis;
  let work: string;
  let env: Record<string, string>;
  let coordinator: CoordinatorProcess;
  const agents: AgentProcess[] = [];
  const prefix = uniquePrefix('e2e-labels');

  beforeAll(async () => {
    redis = await startPrivateRedis();
    db = await freshDatabase({ migrate: false });
    work = mkdtempSync(path.join(os.tmpdir(), 'flotilla-e2e-labels-'));
    env = coordinatorEnv(db, redis, work, prefix);
    coordinator = await startCoordinatorProcess(env, await freePort());
  }, 60_000);

  afterAll(() => stopStack({ agents, coordinator, redis, db, work }), 30_000);

  const listAgents = async () => (await call<AgentView[]>(coordinator.url, 'GET', '/api/v1/agents', { token: env.ADMIN_TOKEN })).body;

  function agent(name: string, extra: Partial<Parameters<typeof startAgentProcess>[0]> = {}): AgentProcess {
    const a = startAgentProcess({
      name,
      coordinatorUrl: coordinator.url,
      joinToken: env.JOIN_TOKEN,
      dataFile: DIGITS_FILE,
      heartbeatMs: 500,
      args: ['--poll-wait-ms', '2000'],
      ...extra,
      env: { FLOTILLA_LABELS: '', ...extra.env },
    });
    agents.push(a);
    return a;
  }

  it('a bad --label or FLOTILLA_LABELS stops the agent with exit code 2, naming the label, before it registers', async () => {
    const flag = agent('bad-flag', { args: ['--label', 'gpu=true', '--label', 'bad key=1'] });
    const fromEnv = agent('bad-env', { env: { FLOTILLA_LABELS: 'gpu=true,zone' } });
    expect(await exited(flag.proc)).toBe(2);
    expect(await exited(fromEnv.proc)).toBe(2);
    expect(flag.output.join('\n')).toContain("--label: label 'bad key': the key's name must be letters, digits");
    expect(fromEnv.output.join('\n')).toContain("FLOTILLA_LABELS: label 'zone': expected key=value");
    expect(await listAgents()).toEqual([]);
  }, 60_000);

  it('labels and the backend reach the coordinator; a job selecting gpu=true runs on that agent only; a restart with other labels relabels the same agent', async () => {
    const identity = path.join(work, 'gpu.identity.json');
    const gpu = agent('gpu', {
      identityFile: identity,
      args: ['--poll-wait-ms', '2000', '--label', 'gpu=true', '--label', 'example.com/site=lab'],
    });
    agent('cpu', { env: { FLOTILLA_LABELS: 'gpu=false, site=home' } });
    const listed = await waitFor('both agents online', async () => {
      const all = await listAgents();
      return all.filter((a) => a.online).length === 2 && all;
    });
    const byName = new Map(listed.map((a) => [a.name, a]));
    expect(byName.get('gpu')).toMatchObject({ labels: { gpu: 'true', 'example.com/site': 'lab' }, backend: 'wasm' });
    expect(byName.get('cpu')).toMatchObject({ labels: { gpu: 'false', site: 'home' }, backend: 'wasm' });
    for (const a of listed) expect([a.name, a.device]).toEqual([a.name, expect.stringMatching(/^cpu/)]);
    const gpuId = byName.get('gpu')!.id;

    const job = await call<{ id: string }>(coordinator.url, 'POST', '/api/v1/jobs', {
      token: env.ADMIN_TOKEN,
      json: {
        kind: 'federated',
        dataset: 'uci-digits',
        model: { arch: 'softmax' },
        rounds: 2,
        localSteps: 2,
        roundDeadlineMs: 120_000,
        agentSelector: { gpu: 'true' },
      },
    });
    expect(job.status).toBe(201);
    await waitFor(
      'job completed',
      async () =>
        (await call<{ status: string }>(coordinator.url, 'GET', `/api/v1/jobs/${job.body.id}`, { token: env.ADMIN_TOKEN })).body.status ===
        'completed',
      60_000,
    );
    const p = (
      await call<ParticipationView>(coordinator.url, 'GET', `/api/v1/jobs/${job.body.id}/participation`, { token: env.ADMIN_TOKEN })
    ).body;
    expect(p.agents).toEqual([gpuId]);
    expect(p.rounds.map((r) => r.row)).toEqual([[1], [1]]);

    // Restarted with the same identity and other labels: the same agent, relabelled when it rejoins.
    await stopProcess(gpu.proc);
    agent('gpu', { identityFile: identity, args: ['--poll-wait-ms', '2000', '--label', 'gpu=false'] });
    const relabelled = await waitFor('the agent rejoined with its new labels', async () => {
      const a = (await listAgents()).find((x) => x.id === gpuId);
      return a?.online && a.labels.gpu === 'false' && a;
    });
    expect(relabelled.labels).toEqual({ gpu: 'false' });
    expect((await listAgents()).length).toBe(2);
  }, 120_000);
});
