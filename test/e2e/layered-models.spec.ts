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
import { loadedAccuracy, writeDigitsHeldOut } from '../support/model-loader';
import { stopStack } from '../support/stack';

interface JobState {
  id: string;
  status: string;
  initialMetrics: { testAccuracy: number };
  latestMetrics: { testAccuracy: number } | null;
}

/** A Sequential convolutional topology for 8×8×1 digits, as TF.js's model.save() writes one. */
const CONV_TOPOLOGY = {
  class_name: 'Sequential',
  config: {
    name: 'digits',
    layers: [
      {
        class_name: 'Conv2D',
        config: { name: 'conv', filters: 8, kernel_size: [3, 3], padding: 'valid', activation: 'relu', batch_input_shape: [null, 8, 8, 1] },
      },
      { class_name: 'MaxPooling2D', config: { name: 'pool', pool_size: [2, 2] } },
      { class_name: 'Flatten', config: { name: 'flat' } },
      { class_name: 'Dense', config: { name: 'logits', units: 10, activation: 'softmax' } },
    ],
  },
};

/**
 * `cnn` and `layers` jobs trained by three real agent processes (TF.js on wasm: the convolution's filter gradient
 * comes from the kernel Flotilla registers for it), over real HTTP, PostgreSQL and Redis.
 */
describe('cnn and layers jobs end to end (coordinator + 3 agent processes)', () => {
  let db: TestDatabase;
  let redis: PrivateRedis;
  let work: string;
  let coordinator: CoordinatorProcess;
  const agents: AgentProcess[] = [];
  const prefix = uniquePrefix('e2e-models');

  beforeAll(async () => {
    redis = await startPrivateRedis();
    db = await freshDatabase({ migrate: false });
    work = mkdtempSync(path.join(os.tmpdir(), 'flotilla-e2e-models-'));
    coordinator = await startCoordinatorProcess(coordinatorEnv(db, redis, work, prefix), await freePort());
    const { files } = writeDigitsShards(work, 3, { alpha: 1.0, seed: 5, minPerClient: 50 });
    files.forEach((file, i) =>
      agents.push(
        startAgentProcess({
          name: `models-${i}`,
          coordinatorUrl: coordinator.url,
          joinToken: coordinator.joinToken,
          dataFile: file,
          identityFile: path.join(work, `agent-${i}.identity.json`),
          heartbeatMs: 500,
        }),
      ),
    );
  }, 60_000);

  afterAll(() => stopStack({ agents, coordinator, redis, db, work }));

  it('trains a cnn and a convolutional layers topology to well above their start, with no agent failing a round; their model.json predicts what the coordinator evaluated', async () => {
    const admin = coordinator.adminToken;
    const base = coordinator.url;
    await waitFor(
      '3 agents online',
      async () =>
        (await call<{ online: boolean }[]>(base, 'GET', '/api/v1/agents', { token: admin })).body.filter((a) => a.online).length >= 3,
      30_000,
    );
    const heldOutFile = path.join(work, 'held-out.json');
    writeDigitsHeldOut(heldOutFile);
    const common = { kind: 'federated', dataset: 'uci-digits', rounds: 4, localSteps: 20, batchSize: 16, localLr: 0.05, momentum: 0.9 };
    const specs = [
      { ...common, model: { arch: 'cnn', filters: [8, 16], dense: 32 } },
      { ...common, model: { arch: 'layers', topology: CONV_TOPOLOGY }, weightDecay: 1e-4 },
    ];
    for (const spec of specs) {
      const submitted = await call<JobState>(base, 'POST', '/api/v1/jobs', {
        token: admin,
        json: { ...spec, roundDeadlineMs: 60_000, minAgents: 3 },
      });
      expect(submitted.status).toBe(201);
      const done = await waitFor(
        `${spec.model.arch} job done`,
        async () => {
          const r = await call<JobState>(base, 'GET', `/api/v1/jobs/${submitted.body.id}`, { token: admin });
          return r.body.status !== 'running' ? r.body : undefined;
        },
        180_000,
      );
      expect([spec.model.arch, done.status]).toEqual([spec.model.arch, 'completed']);
      expect(done.latestMetrics!.testAccuracy).toBeGreaterThan(done.initialMetrics.testAccuracy + 0.3);
      const participation = await call<{ rounds: { outcomes: (string | null)[] }[] }>(
        base,
        'GET',
        `/api/v1/jobs/${done.id}/participation`,
        {
          token: admin,
        },
      );
      // Every agent trained in every round: none declined with an error (a missing kernel would show here).
      expect(participation.body.rounds.flatMap((r) => r.outcomes)).toEqual(new Array(12).fill('participated'));
      // The exported model.json, loaded by TF.js in another process, scores on the held-out split what the coordinator
      // reported.
      const loaded = await loadedAccuracy(`${base}/api/v1/jobs/${done.id}/model/model.json`, admin, heldOutFile);
      expect(Math.abs(loaded - done.latestMetrics!.testAccuracy)).toBeLessThan(1e-3);
    }
    const agentsNow = await call<{ lastError: unknown }[]>(base, 'GET', '/api/v1/agents', { token: admin });
    expect(agentsNow.body.map((a) => a.lastError)).toEqual([null, null, null]);
  }, 420_000);
});
