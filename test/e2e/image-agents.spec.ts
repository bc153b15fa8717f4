import { toIdx } from '@flotilla/algorithms';
import type { AgentView } from '@flotilla/contracts';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { freePort, startPrivateRedis, type PrivateRedis } from '../../scripts/lib/services';
import { startAgentProcess, startCoordinatorProcess, type AgentProcess, type CoordinatorProcess } from '../../scripts/lib/stack';
import { coordinatorEnv, freshDatabase, uniquePrefix, type TestDatabase } from '../support/database';
import { call, waitFor } from '../support/http';
import { exited, stopStack } from '../support/stack';

const CLASSES = ['cat', 'dog'];

/**
 * Example i of class c as 4×4 grey pixels: class 'cat' is bright on the top half, 'dog' on the bottom half, with a
 * deterministic pattern on top so no two examples are equal. `side` other than 4 makes an image of another size.
 */
function pixels(c: number, i: number, side = 4): number[] {
  return Array.from({ length: side * side }, (_, p) => {
    const top = p < (side * side) / 2;
    return (top === (c === 0) ? 200 : 20) + ((i * 7 + p * 3) % 40);
  });
}

function png(values: number[], side: number): Buffer {
  const img = new PNG({ width: side, height: side });
  values.forEach((v, p) => img.data.set([v, v, v, 255], 4 * p));
  return PNG.sync.write(img);
}

function jpg(values: number[], side: number): Uint8Array {
  const data = Buffer.alloc(side * side * 4);
  values.forEach((v, p) => data.set([v, v, v, 255], 4 * p));
  return jpeg.encode({ data, width: side, height: side }, 95).data;
}

/** An image folder: `perClass` images of each class in `classes` (PNG, every third one JPEG), of side × side pixels. */
function writeImageFolder(dir: string, perClass: number, options: { classes?: string[]; side?: number; offset?: number } = {}): void {
  const side = options.side ?? 4;
  (options.classes ?? CLASSES).forEach((name, c) => {
    mkdirSync(path.join(dir, name), { recursive: true });
    for (let k = 0; k < perClass; k++) {
      const i = k + (options.offset ?? 0);
      const values = pixels(c % 2, i, side);
      if (k % 3 === 2) writeFileSync(path.join(dir, name, `${i}.jpg`), jpg(values, side));
      else writeFileSync(path.join(dir, name, `${i}.png`), png(values, side));
    }
  });
}

/** An IDX pair (images gzipped, labels plain) of `n` examples alternating between the classes; `labelOf` overrides. */
function writeIdx(
  file: string,
  n: number,
  dims: number[],
  labelOf: (i: number) => number = (i) => i % 2,
): { data: string; labels: string } {
  const side = dims[0];
  const values = Array.from({ length: n }, (_, i) => pixels(labelOf(i) % 2, 100 + i, side)).flat();
  const data = `${file}-images.idx.gz`;
  const labels = `${file}-labels.idx`;
  writeFileSync(data, gzipSync(toIdx([n, ...dims], values)));
  writeFileSync(
    labels,
    toIdx(
      [n],
      Array.from({ length: n }, (_, i) => labelOf(i)),
    ),
  );
  return { data, labels };
}

/**
 * Issue #13: image-shaped data with real processes. The coordinator's catalogue holds an image-folder dataset (4×4
 * grey PNG/JPEG, classes cat and dog); an agent with an IDX pair and an agent with an image folder of its own join it
 * and train a round; agents whose images have another size, whose folders name an unknown class, or whose labels go
 * beyond the classes refuse to join, saying what does not fit.
 */
describe('agents with image data: IDX files and image folders (coordinator + agent processes)', () => {
  let db: TestDatabase;
  let redis: PrivateRedis;
  let work: string;
  let env: Record<string, string>;
  let coordinator: CoordinatorProcess;
  const agents: AgentProcess[] = [];
  const prefix = uniquePrefix('e2e-images');

  beforeAll(async () => {
    redis = await startPrivateRedis();
    db = await freshDatabase({ migrate: false });
    work = mkdtempSync(path.join(os.tmpdir(), 'flotilla-e2e-images-'));
    const dataDir = path.join(work, 'data');
    writeImageFolder(path.join(dataDir, 'pics', 'images'), 30);
    const manifest = {
      name: 'pics',
      format: 'image-folder',
      dir: 'images',
      classes: CLASSES,
      featureRange: [0, 255],
      numClasses: 2,
      inputShape: [4, 4, 1],
      heldOut: { fraction: 0.2, seed: 1 },
    };
    writeFileSync(path.join(dataDir, 'pics', 'dataset.json'), JSON.stringify(manifest));
    env = coordinatorEnv(db, redis, work, prefix, { DATA_DIR: dataDir });
    coordinator = await startCoordinatorProcess(env, await freePort());
  }, 60_000);

  afterAll(() => stopStack({ agents, coordinator, redis, db, work }));

  const admin = <T>(method: string, p: string, json?: unknown) => call<T>(coordinator.url, method, p, { token: env.ADMIN_TOKEN, json });
  const listAgents = async (): Promise<AgentView[]> => (await admin<AgentView[]>('GET', '/api/v1/agents')).body;

  function agent(name: string, dataFile: string, labelsFile?: string): AgentProcess {
    const a = startAgentProcess({
      name,
      coordinatorUrl: coordinator.url,
      joinToken: env.JOIN_TOKEN,
      dataFile,
      labelsFile,
      dataset: 'pics',
      heartbeatMs: 500,
      args: ['--poll-wait-ms', '2000'],
    });
    agents.push(a);
    return a;
  }

  it.each<[string, () => { data: string; labels?: string }, string]>([
    [
      'images of another size (image folder)',
      () => {
        writeImageFolder(path.join(work, 'big'), 3, { side: 5 });
        return { data: path.join(work, 'big') };
      },
      `big/cat/0.png: 5×5 pixels, the dataset's images are 4×4 (inputShape [4, 4, 1])`,
    ],
    [
      'a class folder the dataset does not have (image folder)',
      () => {
        writeImageFolder(path.join(work, 'zoo'), 3, { classes: ['cat', 'bird', 'dog', 'fish'] });
        return { data: path.join(work, 'zoo') };
      },
      "does not fit dataset 'pics' on the coordinator: sub-folders 'bird', 'fish' are not classes of dataset pics (its classes: cat, dog)",
    ],
    [
      'images of another size (IDX)',
      () => writeIdx(path.join(work, 'wide'), 10, [5, 5]),
      "does not fit dataset 'pics' on the coordinator: each example is [5, 5] (25 values), dataset pics's are [4, 4, 1] (16 values)",
    ],
    [
      'labels beyond the classes (IDX)',
      () => writeIdx(path.join(work, 'many'), 10, [4, 4], (i) => i % 4),
      "does not fit dataset 'pics' on the coordinator: 4 examples have labels beyond 1 (up to 3); dataset pics has 2 classes, labels 0..1",
    ],
  ])('an agent with %s exits non-zero saying what does not fit, and is never registered', async (what, write, message) => {
    const files = write();
    const name = `misfit-${what.split(' ')[0]}-${agents.length}`;
    const a = agent(name, files.data, files.labels);
    expect(await exited(a.proc)).toBe(4);
    expect(a.output.join('\n')).toContain(message);
    expect((await listAgents()).map((x) => x.name)).not.toContain(name);
  });

  it('an agent with an IDX pair and one with an image folder (PNG and JPEG) join and train a round', async () => {
    const idx = writeIdx(path.join(work, 'mine'), 40, [4, 4]);
    writeImageFolder(path.join(work, 'folder'), 20, { offset: 200 });
    const a = agent('idx-agent', idx.data, idx.labels);
    const b = agent('folder-agent', path.join(work, 'folder'));
    await waitFor('both agents online', async () => (await listAgents()).filter((x) => x.online).length === 2, 30_000);
    // An agent prints its registration line once the answer is back, which may be after the coordinator lists it.
    const said = (p: { output: string[] }) => p.output.find((l) => l.includes('registered as'));
    await waitFor('both agents printed their registration', () => Promise.resolve(said(a) && said(b)), 30_000);
    expect(said(a)).toContain('40 examples');
    expect(said(b)).toContain('40 examples');

    const job = await admin<{ id: string; initialMetrics: { testAccuracy: number } }>('POST', '/api/v1/jobs', {
      kind: 'federated',
      dataset: 'pics',
      model: { arch: 'softmax' },
      rounds: 1,
      localSteps: 5,
      batchSize: 8,
      roundDeadlineMs: 120_000,
      minAgents: 2,
    });
    expect(job.status).toBe(201);
    await waitFor(
      'job completed',
      async () => (await admin<{ status: string }>('GET', `/api/v1/jobs/${job.body.id}`)).body.status === 'completed',
      60_000,
    );
    // Both trained on their data and uploaded; the coordinator evaluated the model on its held-out images.
    const part = (await admin<{ rounds: { outcomes: (string | null)[] }[] }>('GET', `/api/v1/jobs/${job.body.id}/participation`)).body;
    expect(part.rounds[0].outcomes).toEqual(['participated', 'participated']);
    // Each agent prints its round line once its upload is answered, which may come after the job completed.
    const trained = (p: { output: string[] }) => p.output.some((l) => /round 0 of .*: 40 examples, loss/.test(l));
    await waitFor('both agents printed their round', () => Promise.resolve(trained(a) && trained(b)), 30_000);
  }, 90_000);
});
