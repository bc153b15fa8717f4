import { scaleToUnit, splitHeldOut, trainLocal, type Dataset, type ModelJson } from '@flotilla/algorithms';
import { DatasetManifestSchema, type FederatedJobView, type TrainTask } from '@flotilla/contracts';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { call, floats, toFloat32, waitFor } from '../support/http';
import { loadedAccuracy } from '../support/model-loader';
import { startInProcessCoordinator, TEST_ADMIN_TOKEN, TEST_JOIN_TOKEN, type InProcessCoordinator } from '../support/in-process';

const ADMIN = TEST_ADMIN_TOKEN;
const DIGITS = path.resolve(__dirname, '../../data/uci-digits');

/**
 * Model specs and the model.json export against a real coordinator (PostgreSQL, Redis, HTTP): the test plays one
 * agent that trains with the library's trainLocal; the exported model is loaded in a separate process and must score
 * on the held-out split what the coordinator reported.
 */
describe('model specs and model.json export (coordinator in-process)', () => {
  let coordinator: InProcessCoordinator;
  let base: string;
  let dataDir: string;
  let agent: string;
  let train: Dataset;
  let heldOutFile: string;

  beforeAll(async () => {
    // uci-digits, and the same file as plain vectors (no inputShape) for the cnn's refusal.
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'flotilla-models-'));
    const manifest = DatasetManifestSchema.parse(JSON.parse(readFileSync(path.join(DIGITS, 'dataset.json'), 'utf8')));
    for (const [name, m] of [
      ['uci-digits', manifest],
      ['flat-digits', { ...manifest, name: 'flat-digits', inputShape: undefined }],
    ] as const) {
      mkdirSync(path.join(dataDir, name));
      copyFileSync(path.join(DIGITS, 'digits.csv'), path.join(dataDir, name, 'digits.csv'));
      writeFileSync(path.join(dataDir, name, 'dataset.json'), JSON.stringify(m));
    }
    coordinator = await startInProcessCoordinator('models', { DATA_DIR: dataDir, MAX_MODEL_PARAMETERS: '50000' });
    base = coordinator.base;
    // The coordinator's held-out split, as its dataset catalogue makes it; the agent trains on the rest.
    const split = splitHeldOut(readFileSync(path.join(DIGITS, 'digits.csv'), 'utf8'), manifest);
    train = { ...scaleToUnit(split.train, manifest.featureRange), inputShape: [8, 8, 1] };
    const test = scaleToUnit(split.test, manifest.featureRange);
    heldOutFile = path.join(dataDir, 'held-out.json');
    writeFileSync(
      heldOutFile,
      JSON.stringify({ features: [...test.features], labels: [...test.labels], size: test.size, inputShape: [8, 8, 1] }),
    );
    const r = await call<{ agentId: string; agentSecret: string }>(base, 'POST', '/api/v1/agents/register', {
      json: { joinToken: TEST_JOIN_TOKEN, name: 'model-agent', datasets: ['uci-digits', 'flat-digits'] },
    });
    expect(r.status).toBe(201);
    agent = `${r.body.agentId}.${r.body.agentSecret}`;
  }, 60_000);

  afterAll(async () => {
    await coordinator?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const submit = (model: unknown, extra: Record<string, unknown> = {}) =>
    call<FederatedJobView & { message: string }>(base, 'POST', '/api/v1/jobs', {
      token: ADMIN,
      json: { kind: 'federated', dataset: 'uci-digits', model, rounds: 2, roundDeadlineMs: 60_000, ...extra },
    });

  /** Accuracy of the exported model.json at `query` (e.g. `?round=0`), loaded by TF.js in a separate process. */
  const loadedAt = (jobId: string, query = ''): Promise<number> =>
    loadedAccuracy(`${base}/api/v1/jobs/${jobId}/model/model.json${query}`, ADMIN, heldOutFile);

  /** Plays the agent for every round of a job: downloads the global model, trains with trainLocal, uploads Δ. */
  async function runRounds(jobId: string, rounds: number, model: TrainTask['model'], opts: { momentum?: number }): Promise<void> {
    for (let round = 0; round < rounds; round++) {
      await waitFor(`round ${round} open`, async () => {
        const r = await call<{ round: number; status: string }[]>(base, 'GET', `/api/v1/jobs/${jobId}/rounds`, { token: ADMIN });
        return r.body.find((x) => x.round === round && x.status === 'open');
      });
      const global = toFloat32((await call<Uint8Array>(base, 'GET', `/api/v1/jobs/${jobId}/model`, { token: ADMIN })).body);
      const r = trainLocal(model, global, train, { steps: 40, batchSize: 32, lr: 0.1, seed: round, ...opts });
      const up = await call(
        base,
        'POST',
        `/api/v1/jobs/${jobId}/rounds/${round}/update?exampleCount=${r.examples}&trainLoss=${r.meanLoss}&durationMs=1`,
        {
          token: agent,
          raw: floats(r.delta),
        },
      );
      expect(up.status).toBe(200);
      await waitFor(`round ${round} closed`, async () => {
        const j = await call<FederatedJobView>(base, 'GET', `/api/v1/jobs/${jobId}`, { token: ADMIN });
        return j.body.currentRound > round;
      });
    }
  }

  const conv = (overrides: Record<string, unknown> = {}) => ({
    class_name: 'Sequential',
    config: {
      name: 'seq',
      layers: [
        {
          class_name: 'Conv2D',
          config: {
            name: 'c1',
            filters: 4,
            kernel_size: 3,
            padding: 'same',
            activation: 'relu',
            batch_input_shape: [null, 8, 8, 1],
            ...overrides,
          },
        },
        { class_name: 'Flatten', config: { name: 'f' } },
        { class_name: 'Dense', config: { name: 'out', units: 10, activation: 'softmax' } },
      ],
    },
  });

  it('refuses models that cannot be built with a 400 naming the layer and the problem', async () => {
    const flat = await submit({ arch: 'cnn' }, { dataset: 'flat-digits' });
    expect(flat.status).toBe(400);
    expect(flat.body.message).toMatch(/cnn needs images: the dataset's inputShape must be \[height, width, channels\], it is \[64\]/);
    const lstm = await submit({
      arch: 'layers',
      topology: { ...conv(), config: { layers: [{ class_name: 'LSTM', config: { name: 'rnn', units: 4 } }] } },
    });
    expect(lstm.status).toBe(400);
    expect(lstm.body.message).toMatch(/layer 'rnn' \(LSTM\): this layer class is not supported/);
    const shape = await submit({ arch: 'layers', topology: conv({ batch_input_shape: [null, 28, 28, 1] }) });
    expect(shape.body.message).toMatch(/input shape \[28, 28, 1\] differs from the dataset's inputShape \[8, 8, 1\]/);
    // 8·8·1000 = 64,000 flattened values into 10 units: 640,000 weights, over this coordinator's MAX_MODEL_PARAMETERS.
    const big = await submit({ arch: 'layers', topology: conv({ filters: 1000 }) });
    expect(big.status).toBe(400);
    expect(big.body.message).toMatch(/layer 'out' \(dense\): the model has more than 50000 parameters/);
    const deep: Record<string, unknown> = {};
    let at = deep;
    for (let i = 0; i < 100; i++) at = at.x = {};
    const nested = await submit({ arch: 'layers', topology: deep });
    expect(nested.status).toBe(400);
    expect(JSON.stringify(nested.body)).toMatch(/nested deeper than 32 levels/);
    const unknownWeights = await submit({ arch: 'layers', topology: conv(), initialWeights: { hash: 'ab'.repeat(32) } });
    expect(unknownWeights.body.message).toMatch(/no weights were uploaded under abab/);
  });

  let cnnJob: FederatedJobView;
  let cnnJson: ModelJson;

  it('trains a cnn, and its model.json loads in another process and scores what the coordinator reported', async () => {
    const submitted = await submit({ arch: 'cnn', filters: [4, 8], dense: 16 }, { momentum: 0.5 });
    expect(submitted.status).toBe(201);
    // 36+4 + 288+8 + (2·2·8)·16+16 + 16·10+10
    expect(submitted.body.parameterCount).toBe(1034);
    await runRounds(submitted.body.id, 2, submitted.body.spec.model, { momentum: 0.5 });
    cnnJob = (await call<FederatedJobView>(base, 'GET', `/api/v1/jobs/${submitted.body.id}`, { token: ADMIN })).body;
    expect(cnnJob.status).toBe('completed');
    const reported = cnnJob.latestMetrics!.testAccuracy;
    expect(reported).toBeGreaterThan(0.5);
    expect(Math.abs((await loadedAt(cnnJob.id)) - reported)).toBeLessThan(1e-3);
    expect(Math.abs((await loadedAt(cnnJob.id, '?round=-1')) - cnnJob.initialMetrics!.testAccuracy)).toBeLessThan(1e-3);
    const rounds = (await call<{ metrics: { testAccuracy: number } }[]>(base, 'GET', `/api/v1/jobs/${cnnJob.id}/rounds`, { token: ADMIN }))
      .body;
    expect(Math.abs((await loadedAt(cnnJob.id, '?round=0')) - rounds[0].metrics.testAccuracy)).toBeLessThan(1e-3);

    const json = await call<ModelJson>(base, 'GET', `/api/v1/jobs/${cnnJob.id}/model/model.json`, { token: ADMIN });
    expect(json.status).toBe(200);
    cnnJson = json.body;
    expect(cnnJson.weightsManifest[0].paths).toEqual(['weights.bin']);
    const weights = await call<Uint8Array>(base, 'GET', `/api/v1/jobs/${cnnJob.id}/model/weights.bin`, { token: ADMIN });
    const raw = await call<Uint8Array>(base, 'GET', `/api/v1/jobs/${cnnJob.id}/model`, { token: ADMIN });
    expect(Buffer.from(weights.body).equals(Buffer.from(raw.body))).toBe(true);
    expect((await call(base, 'GET', `/api/v1/jobs/${cnnJob.id}/model/weights.bin?round=7`, { token: ADMIN })).status).toBe(404);
    expect((await call(base, 'GET', `/api/v1/jobs/${cnnJob.id}/model/model.json?round=last`, { token: ADMIN })).status).toBe(400);
  }, 120_000);

  it('takes an exported model.json back as a layers job with its weights (a round trip)', async () => {
    const bad = await call(base, 'POST', '/api/v1/models/weights', { token: ADMIN, raw: new Uint8Array(7) });
    expect(bad.status).toBe(400);
    const uploaded = await call<{ hash: string; values: number }>(base, 'POST', '/api/v1/models/weights', {
      token: ADMIN,
      raw: (await call<Uint8Array>(base, 'GET', `/api/v1/jobs/${cnnJob.id}/model/weights.bin`, { token: ADMIN })).body,
    });
    expect(uploaded.status).toBe(201);
    expect(uploaded.body.values).toBe(1034);
    const manifest = cnnJson.weightsManifest.flatMap((g) => g.weights);
    const wrong = await submit({
      arch: 'layers',
      topology: cnnJson.modelTopology,
      initialWeights: { hash: uploaded.body.hash, weights: manifest.map((w, i) => (i === 0 ? { ...w, shape: [9, 4] } : w)) },
    });
    expect(wrong.status).toBe(400);
    expect(wrong.body.message).toMatch(/weight 'conv1\/kernel' has shape \[9, 4\] in the manifest, \[3, 3, 1, 4\] in the model/);
    const again = await submit({
      arch: 'layers',
      topology: cnnJson.modelTopology,
      initialWeights: { hash: uploaded.body.hash, weights: manifest },
    });
    expect(again.status).toBe(201);
    // The same layers with the same weights: the new job starts where the cnn ended.
    expect(again.body.initialMetrics!.testAccuracy).toBeCloseTo(cnnJob.latestMetrics!.testAccuracy, 6);
    expect(again.body.initialMetrics!.testLoss).toBeCloseTo(cnnJob.latestMetrics!.testLoss, 5);
    expect((await call(base, 'POST', `/api/v1/jobs/${again.body.id}/cancel`, { token: ADMIN })).status).toBe(201);
  }, 60_000);

  it('exports softmax and mlp as Dense layers that score what the coordinator reported', async () => {
    for (const model of [{ arch: 'softmax' }, { arch: 'mlp', hidden: 8 }]) {
      const job = await submit(model, { minAgents: 5 });
      expect(job.status).toBe(201);
      expect(Math.abs((await loadedAt(job.body.id)) - job.body.initialMetrics!.testAccuracy)).toBeLessThan(1e-3);
      await call(base, 'POST', `/api/v1/jobs/${job.body.id}/cancel`, { token: ADMIN });
    }
  }, 60_000);
});
