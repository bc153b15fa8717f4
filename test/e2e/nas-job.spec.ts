import type { NasView, TaskView } from '@flotilla/contracts';
import { mkdtempSync, readFileSync } from 'node:fs';
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

/**
 * A tiny GM-NAS job over the API on real agent processes (issue #4): 3 edges × 4 ops (64 architectures), two binary
 * splits → 4 leaves, stand-alone selection with successive halving (4 candidates, at most 3 agents). Every agent
 * holds the same file (the digits minus the coordinator's held-out rows), so tasks may run on any of them.
 */
const JOB = {
  kind: 'nas',
  dataset: 'uci-digits',
  space: { width: 8 },
  warmupSteps: 30,
  finalSteps: 30,
  gm: { batches: 6, batchSize: 32 },
  training: { batchSize: 32 },
  selection: { standaloneSteps: 40, maxCandidates: 16 },
  seed: 5,
  taskTimeoutMs: 4000,
};

/**
 * The same tree on the cell space of the digits (8 × 8 images, 6 edges × 5 ops) with DARTS inside every sub-supernet:
 * α frozen while the tree splits, learned by the leaves, each leaf proposing its argmax architecture.
 */
const CELL_JOB = {
  kind: 'nas',
  dataset: 'uci-digits',
  space: { type: 'cell', channels: 4 },
  search: 'darts',
  warmupSteps: 8,
  finalSteps: 8,
  gm: { batches: 3, batchSize: 32 },
  training: { batchSize: 32, lr: 0.1 },
  alpha: { lr: 0.05 },
  selection: { standaloneSteps: 16 },
  seed: 7,
  taskTimeoutMs: 20_000,
};

describe('NAS job end to end (coordinator + 3 agent processes)', () => {
  let db: TestDatabase;
  let redis: PrivateRedis;
  let work: string;
  let port: number;
  let env: Record<string, string>;
  let coordinator: CoordinatorProcess;
  const agents: AgentProcess[] = [];
  const prefix = uniquePrefix('nas');
  /** The first job's tree, to compare the restarted job with. */
  let first: NasView | undefined;

  const get = async <T>(p: string) => (await call<T>(coordinator.url, 'GET', p, { token: env.ADMIN_TOKEN })).body;
  const agentIds = async () => new Map((await get<{ id: string; name: string }[]>('/api/v1/agents')).map((a) => [a.name, a.id]));
  const finished = (jobId: string, timeoutMs: number) =>
    waitFor(
      `job ${jobId} finished`,
      async () => {
        const j = await get<{ status: string; error: string | null }>(`/api/v1/jobs/${jobId}`);
        return j.status !== 'running' ? j : undefined;
      },
      timeoutMs,
    ).catch((e: Error) => {
      throw new Error(
        `${e.message}\n${coordinator.output.slice(-20).join('\n')}\n${agents.map((a) => a.output.slice(-5).join('\n')).join('\n')}`,
      );
    });

  beforeAll(async () => {
    redis = await startPrivateRedis();
    db = await freshDatabase({ migrate: false });
    work = mkdtempSync(path.join(os.tmpdir(), 'flotilla-nas-'));
    port = await freePort();
    env = coordinatorEnv(db, redis, work, prefix, { AGENT_OFFLINE_AFTER_MS: '3000' });
    coordinator = await startCoordinatorProcess(env, port);
    // One client holding every non-held-out row: the same file (and sha256) for all three agents.
    const [file] = writeDigitsShards(work, 1, { alpha: 1, seed: 1, minPerClient: 1 }).files;
    for (let i = 0; i < 3; i++) {
      agents.push(
        startAgentProcess({
          name: `nas-${i}`,
          coordinatorUrl: coordinator.url,
          joinToken: env.JOIN_TOKEN,
          dataFile: file,
          identityFile: path.join(work, `nas-${i}.identity.json`),
          heartbeatMs: 500,
        }),
      );
    }
    await waitFor(
      '3 agents online',
      async () => (await get<{ online: boolean }[]>('/api/v1/agents')).filter((a) => a.online).length >= 3,
      30_000,
    );
  }, 60_000);

  afterAll(() => stopStack({ agents, coordinator, redis, db, work }));

  /**
   * Submits a job and SIGKILLs the coordinator as soon as the root has split (children written, their tasks in
   * flight), then starts it again on the same port; returns the job and its tree at the kill.
   */
  const killAfterRootSplit = async (json: object): Promise<{ jobId: string; atKill: NasView }> => {
    const job = await call<{ id: string }>(coordinator.url, 'POST', '/api/v1/jobs', { token: env.ADMIN_TOKEN, json });
    expect(job.status).toBe(201);
    const jobId = job.body.id;
    const atKill = await waitFor(
      'the root split',
      async () => {
        const v = await get<NasView>(`/api/v1/jobs/${jobId}/nas`);
        return v.nodes.length > 1 ? v : undefined;
      },
      60_000,
    );
    coordinator.proc.kill('SIGKILL');
    await new Promise((r) => coordinator.proc.once('exit', r));
    coordinator = await startCoordinatorProcess(env, port);
    return { jobId, atKill };
  };

  it('refuses invalid NAS specs with a 400 that names the field', async () => {
    const post = (json: unknown) =>
      call<{ code: string; message: string }>(coordinator.url, 'POST', '/api/v1/jobs', { token: env.ADMIN_TOKEN, json });
    const cases: [unknown, RegExp][] = [
      [{ ...JOB, splits: 4 }, /splits: each split uses an unsplit edge/],
      [{ ...JOB, gm: { batches: 0 } }, /gm\.batches/],
      [{ ...JOB, space: { ops: ['skip', 'skip'] } }, /space\.ops: ops must not repeat/],
      [{ ...JOB, selection: { method: 'oracle' } }, /selection\.method/],
      [{ ...JOB, warmup: 3 }, /unknown field\(s\): warmup/],
      [{ ...JOB, dataset: 'no-such-data' }, /Unknown dataset 'no-such-data'/],
      [{ ...JOB, search: 'darts' }, /search: darts learns architecture weights, which only the cell space has/],
      [{ ...CELL_JOB, space: { type: 'cell', channels: 0 } }, /space\.channels/],
      [{ ...CELL_JOB, search: 'gdas' }, /search/],
    ];
    for (const [json, message] of cases) {
      const r = await post(json);
      expect([r.status, r.body.code]).toEqual([400, 'validation_failed']);
      expect(r.body.message).toMatch(message);
    }
  });

  it('runs the supernet tree and the final selection on the agents; a SIGKILLed agent’s task is retried on another', async () => {
    const ids = await agentIds();
    // The victim is frozen, but the test keeps it "online" with its own credentials until it has been handed a task:
    // that task can only finish on another agent.
    const victim = agents[2];
    const identity = JSON.parse(readFileSync(path.join(work, 'nas-2.identity.json'), 'utf8')) as { agentId: string; agentSecret: string };
    expect(ids.get('nas-2')).toBe(identity.agentId);
    victim.proc.kill('SIGSTOP');
    const beat = setInterval(
      () =>
        void call(coordinator.url, 'POST', '/api/v1/agents/heartbeat', { token: `${identity.agentId}.${identity.agentSecret}`, json: {} }),
      300,
    );
    let jobId: string;
    let held: TaskView;
    try {
      const job = await call<{ id: string; kind: string; status: string }>(coordinator.url, 'POST', '/api/v1/jobs', {
        token: env.ADMIN_TOKEN,
        json: JOB,
      });
      expect(job.status).toBe(201);
      expect(job.body).toMatchObject({ kind: 'nas', status: 'running' });
      jobId = job.body.id;
      held = await waitFor(
        'a task assigned to the frozen agent',
        async () =>
          (await get<TaskView[]>(`/api/v1/jobs/${jobId}/tasks`)).find((t) => t.status === 'running' && t.agentId === identity.agentId),
        30_000,
      );
    } finally {
      clearInterval(beat);
    }
    victim.proc.kill('SIGKILL');

    const done = await finished(jobId, 90_000);
    expect(done).toMatchObject({ status: 'completed', error: null });

    // The task the victim held finished on another agent, on a later attempt.
    const tasks = await get<TaskView[]>(`/api/v1/jobs/${jobId}/tasks`);
    const retried = tasks.find((t) => t.id === held.id)!;
    expect(retried.status).toBe('done');
    expect(retried.attempt).toBeGreaterThanOrEqual(2);
    expect(retried.failedAgentIds).toContain(identity.agentId);
    expect(retried.agentId).not.toBe(identity.agentId);
    expect(tasks.every((t) => t.status === 'done')).toBe(true);
    expect(new Set(tasks.map((t) => t.kind))).toEqual(new Set(['nas.train', 'nas.gm-score', 'nas.standalone']));

    const nas = await get<NasView>(`/api/v1/jobs/${jobId}/nas`);
    expect(nas.status).toBe('completed');
    expect(nas.space).toMatchObject({ edges: 3, ops: ['linear', 'relu-linear', 'tanh-linear', 'skip'], width: 8, architectures: 64 });
    expect(nas.nodes.map((n) => n.id).sort()).toEqual(['root', 'root.0', 'root.0.0', 'root.0.1', 'root.1', 'root.1.0', 'root.1.1']);
    // The root: scored on every edge (4 × 4 GM matrices, symmetric, cos(g, g) ≈ 1), split into two children.
    const root = nas.nodes.find((n) => n.id === 'root')!;
    expect(root).toMatchObject({ status: 'split', depth: 0, init: 'root' });
    expect(root.metrics.trainSteps).toBe(30);
    expect(root.scores.map((s) => s.edge)).toEqual([0, 1, 2]);
    for (const s of root.scores) {
      expect(s.matrix).toHaveLength(4);
      expect(s.batches).toBe(6);
      s.matrix.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(s.matrix[j][i], 12)));
      if (s.degenerateBatches === 0) s.matrix.forEach((row, i) => expect(row[i]).toBeCloseTo(1, 3));
    }
    expect(root.scores.filter((s) => s.chosen).map((s) => s.edge)).toEqual([root.split!.edge]);
    expect(root.split!.children).toEqual(['root.0', 'root.1']);
    const chosen = root.scores.find((s) => s.chosen)!;
    expect(root.split!.groups).toEqual(chosen.groups);
    // The root's batches were cut into one score part per online agent, computed on more than one agent.
    expect(root.metrics.scoreParts).toBeGreaterThanOrEqual(2);
    expect(new Set(root.metrics.scoreAgentIds).size).toBeGreaterThanOrEqual(2);
    // Children: the split edge keeps one group each; they inherit; the final split re-initialises the leaves.
    for (const [k, id] of root.split!.children.entries()) {
      const child = nas.nodes.find((n) => n.id === id)!;
      expect(child).toMatchObject({ depth: 1, init: 'inherit', status: 'split', parent: 'root' });
      expect(child.mask[root.split!.edge]).toEqual([0, 1, 2, 3].map((o) => root.split!.groups[k].includes(o)));
      expect(child.split!.edge).not.toBe(root.split!.edge);
      expect(child.scores).toHaveLength(2);
    }
    const leaves = nas.nodes.filter((n) => n.depth === 2);
    expect(leaves.every((l) => l.status === 'leaf' && l.init === 'reinit' && l.metrics.trainSteps === 30 && l.candidate !== null)).toBe(
      true,
    );
    expect(leaves.reduce((s, l) => s + l.architectures, 0)).toBe(64); // the leaves partition the space
    for (const l of leaves) expect(l.candidate!.architecture.every((o, e) => l.mask[e][o])).toBe(true);

    // Final selection: stand-alone training of the 4 proposals; halving when they outnumber the agents.
    const sel = nas.selection;
    expect(sel.method).toBe('standalone');
    expect(sel.candidates).toHaveLength(4);
    expect(sel.rungs.at(-1)).toBe(40);
    expect(sel.candidates.filter((c) => c.status === 'chosen')).toHaveLength(1);
    for (const c of sel.candidates) {
      expect(c.history.map((h) => h.rung)).toEqual(Array.from({ length: c.rung }, (_, i) => i));
      if (c.status !== 'eliminated') expect(c.rung).toBe(sel.rungs.length);
    }
    if (sel.slots! < 4) expect(sel.candidates.filter((c) => c.status === 'eliminated').length).toBeGreaterThan(0);
    // The first rung's four tasks, dispatched together, were spread over the agents (least busy first).
    expect(new Set(sel.candidates.map((c) => c.history[0].agentId)).size).toBeGreaterThanOrEqual(2);
    const winner = sel.candidates.find((c) => c.status === 'chosen')!;
    expect(nas.result).toMatchObject({
      architecture: winner.architecture,
      ops: winner.ops,
      node: winner.node,
      selectionMethod: 'standalone',
    });
    expect(nas.result!.accuracy).toBeGreaterThanOrEqual(0);
    expect(nas.result!.accuracy).toBeLessThanOrEqual(1);
    expect(nas.result!.supernetSteps).toBe(30 + 4 * 30);
    const job = await get<{ result: unknown; progress: { done: number; total: number; unit: string } }>(`/api/v1/jobs/${jobId}`);
    expect(job.result).toEqual(nas.result);
    expect(job.progress).toEqual({ done: job.progress.total, total: 2 + 2, unit: 'stages' });
    // The job's model is the chosen architecture's weights.
    const model = await fetch(`${coordinator.url}/api/v1/jobs/${jobId}/model`, { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } });
    expect(model.status).toBe(200);
    expect(model.headers.get('x-model-hash')).toBe(nas.result!.weightsHash);
    first = nas;
  }, 150_000);

  it('one split without re-initialisation and selection by the supernet estimate: no stand-alone training', async () => {
    const spec = {
      ...JOB,
      splits: 1,
      restart: 'none',
      selection: { method: 'supernet', maxCandidates: 16 },
      gm: { batches: 4, batchSize: 32, mode: 'mixture' },
    };
    const job = await call<{ id: string }>(coordinator.url, 'POST', '/api/v1/jobs', { token: env.ADMIN_TOKEN, json: spec });
    expect(job.status).toBe(201);
    expect(await finished(job.body.id, 60_000)).toMatchObject({ status: 'completed' });
    const nas = await get<NasView>(`/api/v1/jobs/${job.body.id}/nas`);
    const leaves = nas.nodes.filter((n) => n.depth === 1);
    expect(leaves.map((l) => [l.id, l.init, l.status, l.metrics.step])).toEqual([
      ['root.0', 'inherit', 'leaf', 60],
      ['root.1', 'inherit', 'leaf', 60],
    ]); // the leaves continue the root's state: 30 warm-up + 30 final steps on one schedule
    expect(leaves.reduce((s, l) => s + l.architectures, 0)).toBe(64);
    const tasks = await get<TaskView[]>(`/api/v1/jobs/${job.body.id}/tasks`);
    expect(tasks.some((t) => t.kind === 'nas.standalone')).toBe(false);
    expect(nas.selection).toMatchObject({ method: 'supernet', rungs: [] });
    // The leaf with the best estimate (accuracy, ties by loss) wins; its supernet weights are the job's model.
    const best = [...leaves].sort((a, b) => b.candidate!.accuracy! - a.candidate!.accuracy! || a.candidate!.loss! - b.candidate!.loss!)[0];
    expect(nas.result).toMatchObject({
      node: best.id,
      architecture: best.candidate!.architecture,
      selectionMethod: 'supernet',
      selectionAccuracy: best.candidate!.accuracy,
      standaloneSteps: 0,
      weightsHash: best.weightsHash,
    });
    expect(nas.result!.accuracy).toBeGreaterThanOrEqual(0);
    expect(nas.result!.accuracy).toBeLessThanOrEqual(1);
  }, 90_000);

  /** The first cell-space job's tree, to compare the restarted one with. */
  let firstCell: NasView | undefined;

  it('a cell-space DARTS job: α frozen in the split phase, learned by the leaves, which propose its argmax', async () => {
    const job = await call<{ id: string }>(coordinator.url, 'POST', '/api/v1/jobs', { token: env.ADMIN_TOKEN, json: CELL_JOB });
    expect(job.status).toBe(201);
    expect(await finished(job.body.id, 120_000)).toMatchObject({ status: 'completed', error: null });
    const nas = await get<NasView>(`/api/v1/jobs/${job.body.id}/nas`);
    expect(nas.space).toMatchObject({
      type: 'cell',
      search: 'darts',
      edges: 6,
      ops: ['none', 'skip', 'conv1x1', 'conv3x3', 'avgpool3x3'],
      width: null,
      architectures: 15_625,
    });
    expect(nas.nodes.map((n) => n.id).sort()).toEqual(['root', 'root.0', 'root.0.0', 'root.0.1', 'root.1', 'root.1.0', 'root.1.1']);
    const root = nas.nodes.find((n) => n.id === 'root')!;
    // The root scored all 6 edges (5 × 5 GM matrices under the uniform mixture) and split one of them 2 + 3.
    expect(root.scores.map((s) => [s.edge, s.matrix.length, s.batches])).toEqual([0, 1, 2, 3, 4, 5].map((e) => [e, 5, 3]));
    expect(root.split!.groups.map((g) => g.length).sort()).toEqual([2, 3]);
    const zero = Array.from({ length: 6 }, () => [0, 0, 0, 0, 0]);
    for (const n of nas.nodes) {
      if (n.depth < 2) {
        expect([n.id, n.alpha]).toEqual([n.id, zero]); // α is frozen (uniform) while the tree splits
        continue;
      }
      // A leaf: re-initialised, trained 8 steps with α learned, proposing per edge the enabled op of largest α.
      expect(n).toMatchObject({ status: 'leaf', init: 'reinit', metrics: { trainSteps: 8, step: 8 } });
      expect(n.alpha).not.toEqual(zero);
      const argmax = n.mask.map((row, e) =>
        row.reduce((best, on, o) => (on && (best < 0 || n.alpha![e][o] > n.alpha![e][best]) ? o : best), -1),
      );
      expect(n.candidate!.architecture).toEqual(argmax);
      expect(n.candidate!.ops).toEqual(argmax.map((o) => nas.space.ops[o]));
    }
    expect(nas.nodes.filter((n) => n.depth === 2).reduce((s, n) => s + n.architectures, 0)).toBe(15_625);
    expect(nas.selection.candidates).toHaveLength(4);
    const winner = nas.selection.candidates.find((c) => c.status === 'chosen')!;
    expect(nas.result).toMatchObject({
      architecture: winner.architecture,
      ops: winner.ops,
      selectionMethod: 'standalone',
      supernetSteps: 8 + 4 * 8,
    });
    expect(nas.result!.accuracy).toBeGreaterThanOrEqual(0);
    expect(nas.result!.accuracy).toBeLessThanOrEqual(1);
    firstCell = nas;
  }, 150_000);

  it('a cell-space DARTS job survives a coordinator SIGKILL mid-tree: the same tree, bit-identical leaves and α', async () => {
    expect(firstCell).toBeDefined();
    const { jobId, atKill } = await killAfterRootSplit(CELL_JOB);
    expect(atKill.nodes.some((n) => n.status !== 'split')).toBe(true);
    expect(await finished(jobId, 120_000)).toMatchObject({ status: 'completed' });
    const nas = await get<NasView>(`/api/v1/jobs/${jobId}/nas`);
    const shape = (v: NasView) => v.nodes.map((n) => [n.id, n.status, n.split?.edge ?? null, n.split?.groups ?? null, n.metrics.step]);
    expect(shape(nas)).toEqual(shape(firstCell!));
    const leaves = (v: NasView) => v.nodes.filter((n) => n.depth === 2).map((n) => [n.id, n.weightsHash, n.alpha, n.candidate]);
    expect(leaves(nas)).toEqual(leaves(firstCell!));
    expect(nas.result).toEqual(firstCell!.result);
    const tasks = await get<TaskView[]>(`/api/v1/jobs/${jobId}/tasks`);
    expect(new Set(tasks.map((t) => t.key)).size).toBe(tasks.length);
    expect(tasks.every((t) => t.status === 'done')).toBe(true);
  }, 150_000);

  it('a coordinator killed mid-tree resumes it from the database: the same tree, bit-identical leaf weights', async () => {
    expect(first).toBeDefined();
    const { jobId, atKill } = await killAfterRootSplit(JOB);
    expect(atKill.status).toBe('running');
    expect(atKill.nodes.some((n) => n.status !== 'split')).toBe(true); // killed with the tree unfinished
    expect(await finished(jobId, 90_000)).toMatchObject({ status: 'completed' });
    const nas = await get<NasView>(`/api/v1/jobs/${jobId}/nas`);
    const shape = (v: NasView) => v.nodes.map((n) => [n.id, n.status, n.split?.edge ?? null, n.split?.groups ?? null, n.metrics.step]);
    expect(shape(nas)).toEqual(shape(first!));
    // Same data, seeds and tasks: every leaf trained to the same bits, whichever agent ran it, across the restart.
    const leafWeights = (v: NasView) => v.nodes.filter((n) => n.depth === 2).map((n) => [n.id, n.weightsHash, n.candidate]);
    expect(leafWeights(nas)).toEqual(leafWeights(first!));
    const tasks = await get<TaskView[]>(`/api/v1/jobs/${jobId}/tasks`);
    expect(new Set(tasks.map((t) => t.key)).size).toBe(tasks.length);
    expect(tasks.every((t) => t.status === 'done')).toBe(true);
    expect(nas.result!.accuracy).toBeGreaterThanOrEqual(0);
    expect(nas.result!.accuracy).toBeLessThanOrEqual(1);
  }, 150_000);
});
