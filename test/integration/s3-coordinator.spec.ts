import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { CoordinatorClient } from '../../apps/client-agent/src/coordinator-client';
import type { BlobSweepReport } from '../../apps/coordinator/src/blobs/blob-gc.service';
import { call, floats, toFloat32, waitFor } from '../support/http';
import { startInProcessCoordinator, TEST_ADMIN_TOKEN, TEST_JOIN_TOKEN, type InProcessCoordinator } from '../support/in-process';
import { startS3, type TestS3 } from '../support/s3';

const ADMIN = TEST_ADMIN_TOKEN;
const P = 650; // softmax on digits

/**
 * A coordinator with BLOB_STORE=s3 against a real S3-protocol server: models and updates go to the bucket (nothing to
 * BLOB_DIR), agents download through the coordinator as with the directory driver, a round aggregates what was
 * uploaded, and the sweeper deletes a closed round's updates from the bucket while every model stays served.
 */
describe('coordinator on S3 blob storage (s3rver, real PostgreSQL and Redis)', () => {
  let s3: TestS3;
  let c: InProcessCoordinator;

  beforeAll(async () => {
    s3 = await startS3();
    c = await startInProcessCoordinator('s3', s3.env);
  }, 60_000);

  afterAll(async () => {
    await c?.stop();
    await s3?.stop();
  }, 30_000);

  it('runs a round with every blob in the bucket, and sweeps the bucket', async () => {
    const tokens: string[] = [];
    for (const name of ['s3-a', 's3-b']) {
      const r = await call<{ agentId: string; agentSecret: string }>(c.base, 'POST', '/api/v1/agents/register', {
        json: { joinToken: TEST_JOIN_TOKEN, name, datasets: ['uci-digits'] },
      });
      expect(r.status).toBe(201);
      tokens.push(`${r.body.agentId}.${r.body.agentSecret}`);
    }
    const job = await call<{ id: string }>(c.base, 'POST', '/api/v1/jobs', {
      token: ADMIN,
      json: { kind: 'federated', dataset: 'uci-digits', model: { arch: 'softmax' }, rounds: 1, roundDeadlineMs: 60_000, minAgents: 2 },
    });
    expect(job.status).toBe(201);
    const jobId = job.body.id;
    const round0 = await waitFor('round 0 open', async () => {
      const r = await call<{ round: number; status: string; inputModelHash: string }[]>(c.base, 'GET', `/api/v1/jobs/${jobId}/rounds`, {
        token: ADMIN,
      });
      return r.body.find((x) => x.round === 0 && x.status === 'open');
    });

    // Each agent downloads the round's model through the coordinator (from the bucket) and uploads an update.
    const x0 = toFloat32((await call<Uint8Array>(c.base, 'GET', `/api/v1/blobs/${round0.inputModelHash}`, { token: tokens[0] })).body);
    expect(x0.length).toBe(P);
    const deltas = [new Float32Array(P).fill(0.25), Float32Array.from({ length: P }, (_, i) => i / 1024)];
    for (const [i, token] of tokens.entries()) {
      const got = await call<Uint8Array>(c.base, 'GET', `/api/v1/blobs/${round0.inputModelHash}`, { token });
      expect(toFloat32(got.body)).toEqual(x0);
      const up = await call(c.base, 'POST', `/api/v1/jobs/${jobId}/rounds/0/update?exampleCount=16&trainLoss=0.5&durationMs=3`, {
        token,
        raw: floats(deltas[i]),
      });
      expect(up.status).toBe(200);
    }
    await waitFor('job completed', async () => {
      const r = await call<{ status: string }>(c.base, 'GET', `/api/v1/jobs/${jobId}`, { token: ADMIN });
      return r.body.status === 'completed';
    });
    // Both took part in round 0 (FedAU weights 1, N = 2): x1 = x0 + (Δa + Δb) / 2 (docs/algorithms/fedau.md).
    const x1 = toFloat32((await call<Uint8Array>(c.base, 'GET', `/api/v1/jobs/${jobId}/model`, { token: ADMIN })).body);
    for (let i = 0; i < P; i++) expect(x1[i]).toBeCloseTo(x0[i] + (0.25 + i / 1024) / 2, 5);
    expect(readdirSync(c.blobDir)).toEqual([]); // nothing on local disk

    // The sweeper lists the bucket: with no grace, the closed round's two updates go, the models stay.
    const gc = (dryRun: boolean) =>
      call<BlobSweepReport>(c.base, 'POST', '/api/v1/admin/blobs/gc', { token: ADMIN, json: { dryRun, graceMs: 0 } });
    const dry = await gc(true);
    expect(dry.status).toBe(200);
    expect(dry.body.deleted).toBe(2);
    expect(dry.body.deletedBytes).toBe(2 * 4 * P);
    expect((await gc(false)).body.deleted).toBe(2);
    expect((await gc(true)).body).toMatchObject({ deleted: 0, files: dry.body.files - 2 });
    const after = await call<Uint8Array>(c.base, 'GET', `/api/v1/jobs/${jobId}/model`, { token: ADMIN });
    expect(toFloat32(after.body)).toEqual(x1);
  }, 60_000);

  it('with S3_PRESIGNED_DOWNLOADS, sends agents to the bucket: a 307 to a pre-signed URL the agent follows without its credentials', async () => {
    const direct = await startInProcessCoordinator('s3presign', { ...s3.env, S3_PRESIGNED_DOWNLOADS: 'true', S3_PRESIGN_TTL_S: '60' });
    try {
      const reg = await call<{ agentId: string; agentSecret: string }>(direct.base, 'POST', '/api/v1/agents/register', {
        json: { joinToken: TEST_JOIN_TOKEN, name: 'presigned', datasets: ['uci-digits'] },
      });
      const token = `${reg.body.agentId}.${reg.body.agentSecret}`;
      const job = await call<{ id: string }>(direct.base, 'POST', '/api/v1/jobs', {
        token: ADMIN,
        json: { kind: 'federated', dataset: 'uci-digits', model: { arch: 'softmax' }, rounds: 1, roundDeadlineMs: 60_000 },
      });
      const round0 = await waitFor('round 0 open', async () => {
        const r = await call<{ round: number; inputModelHash: string }[]>(direct.base, 'GET', `/api/v1/jobs/${job.body.id}/rounds`, {
          token: ADMIN,
        });
        return r.body.find((x) => x.round === 0);
      });
      const hash = round0.inputModelHash;
      const blobUrl = `${direct.base}/api/v1/blobs/${hash}`;

      const redirected = await fetch(blobUrl, { headers: { authorization: `Bearer ${token}` }, redirect: 'manual' });
      expect(redirected.status).toBe(307);
      const location = redirected.headers.get('location')!;
      expect(location.startsWith(`${s3.endpoint}/${s3.bucket}/${hash.slice(0, 2)}/${hash}?`)).toBe(true);
      expect(location).toMatch(/X-Amz-Signature=[0-9a-f]{64}/);
      expect(location).toMatch(/X-Amz-Expires=60(&|$)/);
      // It names the access key id (X-Amz-Credential, not a secret) and carries a signature, never the secret key (which
      // s3rver makes equal to the id, so this cannot be checked here; the SDK's signer never puts it in a URL).
      // The URL alone fetches the model, straight from the store.
      const bytes = new Uint8Array(await (await fetch(location)).arrayBuffer());
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(hash);
      // No credentials, no URL; a blob that is not there is a 404 from the coordinator, not a URL to nothing.
      expect((await fetch(blobUrl, { redirect: 'manual' })).status).toBe(401);
      const missing = await fetch(`${direct.base}/api/v1/blobs/${'0'.repeat(64)}`, {
        headers: { authorization: `Bearer ${token}` },
        redirect: 'manual',
      });
      expect(missing.status).toBe(404);

      // The agent's own client follows the redirect (dropping its Authorization header for the other origin) and checks
      // the bytes against the hash, as for a download from the coordinator.
      const client = new CoordinatorClient(direct.base);
      client.useCredentials(reg.body.agentId, reg.body.agentSecret);
      const weights = await client.weights(hash, P);
      expect(createHash('sha256').update(new Uint8Array(weights.buffer)).digest('hex')).toBe(hash);
    } finally {
      await direct.stop();
    }
  }, 60_000);
});
