import { evaluate, useWasmBackend, type FedAuClientState } from '@flotilla/algorithms';
import { createHash } from 'node:crypto';
import { ConflictError, InvalidUpdateError, NotEligibleError, NotFoundError, RoundClosedError } from '../../common/errors';
import { freezeClock } from '../../testing/fakes';
import { newRoundsService, TINY } from '../../testing/services';

/**
 * The round loop's decisions (RoundsService), on in-memory fakes of its repositories, queues and blob store: which
 * round opens and for whom, when it closes, what a close writes, and which answers count. The same loop against
 * PostgreSQL and Redis: test/integration/round-loop.spec.ts.
 *
 * The model is a softmax on the `tiny` dataset (2 features, 2 classes): 2×2 weights + 2 biases = 6 parameters.
 */
const T0 = new Date('2026-03-02T09:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const P = 6;

const floats = (...v: number[]) => Float32Array.from(v);
const bytes = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
const sha256 = (v: Float32Array) => createHash('sha256').update(bytes(v)).digest('hex');
const meta = { exampleCount: 10, trainLoss: 0.5, durationMs: 30 };
/** Rows in agent order (the world's agent ids grow in creation order). */
const byAgent = <R extends { agentId: string }>(rows: R[]) => [...rows].sort((x, y) => x.agentId.localeCompare(y.agentId));

describe('RoundsService', () => {
  let t: ReturnType<typeof newRoundsService>;
  let clock: { advance(ms: number): void };

  // The held-out evaluation of every closed round runs on the tfjs backend the coordinator boots with (bootstrap.ts).
  beforeAll(() => useWasmBackend());
  beforeEach(() => {
    clock = freezeClock(T0);
    t = newRoundsService();
  });
  afterEach(() => jest.useRealTimers());

  const online = (name: string, heartbeatAgoMs = 0) => t.world.addAgent(name, { datasets: [TINY.dataset], heartbeatAgoMs });

  /** Submits a job, brings `agents` online and opens its round in progress (through `advance`); the queue log starts empty. */
  async function openRound(spec: Parameters<typeof t.submitJob>[0], names: string[], x0?: Float32Array) {
    const submitted = await t.submitJob(spec, x0);
    const agents = names.map((n) => online(n));
    await t.service.advance(submitted);
    t.queue.clear();
    const job = await t.job(submitted.id);
    return { job, agents, round: t.world.round(job.id, job.progressDone)! };
  }

  describe('advance: the round in progress', () => {
    it('opens round r = progressDone for exactly the online agents holding the dataset, sends each a train task, and schedules the close at the deadline', async () => {
      const submitted = await t.submitJob({
        rounds: 5,
        seed: 2 ** 31 - 1,
        roundDeadlineMs: 20_000,
        minAgents: 2,
        localSteps: 3,
        batchSize: 4,
        localLr: 0.05,
      });
      await t.jobs.setProgress(submitted.id, 2); // rounds 0 and 1 closed
      const a = online('a', 29_999); // last heartbeat just inside AGENT_OFFLINE_AFTER_MS (30 s)
      t.world.addAgent('other-data', { datasets: ['uci-digits'] });
      online('offline', 30_001);
      t.world.addAgent('never-heard-from', { datasets: [TINY.dataset], heartbeatAgoMs: null });
      const d = t.world.addAgent('d', { datasets: ['uci-digits', TINY.dataset] });
      const job = await t.job(submitted.id);
      const { modelHash } = t.world.federatedJobs.get(job.id)!;

      await t.service.advance(job);

      expect(t.world.rounds).toEqual([
        expect.objectContaining({ jobId: job.id, index: 2, status: 'open', eligibleAgentIds: [a.id, d.id], inputModelHash: modelHash }),
      ]);
      expect(t.world.rounds[0].deadlineAt).toEqual(at(20_000));
      const train = (agentId: string) => ({
        op: 'enqueueTrain',
        agentId,
        id: `train.${job.id}.2.${agentId}`,
        task: {
          jobId: job.id,
          round: 2,
          modelHash,
          parameterCount: P,
          model: { arch: 'softmax' },
          dataset: 'tiny',
          featureRange: [0, 4],
          numClasses: 2,
          inputShape: [2],
          localSteps: 3,
          batchSize: 4,
          localLr: 0.05,
          momentum: 0,
          weightDecay: 0,
          deadline: '2026-03-02T09:00:20.000Z',
          // (seed · 1 000 003 + round) mod 2^31, with seed = 2^31 − 1 ≡ −1: 2^31 − 1 000 003 + 2.
          seed: 2_146_483_647,
        },
      });
      expect(t.queue.calls).toEqual([
        train(a.id),
        train(d.id),
        {
          op: 'scheduleControl',
          name: 'round.close',
          data: { jobId: job.id, round: 2, reason: 'deadline' },
          delayMs: 20_000,
          suffix: '',
          id: `round.close.${job.id}.2`,
        },
      ]);
      expect(t.runner.calls).toEqual([]);
    });

    it('with fewer online agents than minAgents, opens nothing and asks to look again in a second', async () => {
      const job = await t.submitJob({ minAgents: 2 });
      online('a');
      online('gone', 60_000);

      await t.service.advance(job);

      expect(t.world.rounds).toEqual([]);
      expect(t.queue.calls).toEqual([]);
      expect(t.runner.calls).toEqual([{ op: 'wakeLater', jobId: job.id, delayMs: 1000 }]);
    });

    it('with the round open, only schedules its close again at the same deadline: no new round, no new train tasks, no latecomers', async () => {
      const { job, agents } = await openRound({ roundDeadlineMs: 20_000 }, ['a']);
      clock.advance(5_000);
      online('latecomer');

      await t.service.advance(job);

      expect(t.world.rounds).toHaveLength(1);
      expect(t.world.rounds[0].eligibleAgentIds).toEqual([agents[0].id]);
      expect(t.queue.calls).toEqual([
        {
          op: 'scheduleControl',
          name: 'round.close',
          data: { jobId: job.id, round: 0, reason: 'deadline' },
          delayMs: 15_000,
          suffix: '',
          id: `round.close.${job.id}.0`,
        },
      ]);
    });

    it('with the round closing (a close that stopped half-way), schedules an immediate close to finish it', async () => {
      const { job } = await openRound({}, ['a']);
      await t.rounds.beginClosing(job.id, 0);

      await t.service.advance(job);

      expect(t.queue.calls).toEqual([
        {
          op: 'scheduleControl',
          name: 'round.close',
          data: { jobId: job.id, round: 0, reason: 'resume' },
          delayMs: 0,
          suffix: 'resume',
          id: `round.close.${job.id}.0.resume`,
        },
      ]);
    });

    it('does nothing for a job whose rounds are all done', async () => {
      const submitted = await t.submitJob({ rounds: 2 });
      await t.jobs.complete(submitted.id, { progressDone: 2 });
      online('a');

      await t.service.advance(await t.job(submitted.id));

      expect(t.world.rounds).toEqual([]);
      expect(t.queue.calls).toEqual([]);
      expect(t.runner.calls).toEqual([]);
    });
  });

  /** The job's waiting line as its view computes it: from the census of the agents it may use. */
  const waiting = async (job: Awaited<ReturnType<typeof t.job>>) =>
    t.service.waitingReason(job, await t.eligibility.count(t.service.requirement(job)));

  describe('waitingReason: a job that waits says why', () => {
    it('names how many of the required agents are online for the dataset while the round in progress cannot open, and nothing once it is open', async () => {
      const job = await t.job((await t.submitJob({ minAgents: 3 })).id);
      online('a');
      online('stale', 30_001);
      t.world.addAgent('other-data', { datasets: ['uci-digits'] });

      expect(await waiting(job)).toBe(`waiting for agents: 1 of 3 required agents online for dataset ${TINY.dataset}`);
      await t.service.advance(job);
      expect(t.world.rounds).toEqual([]);

      online('b');
      online('c');
      expect(await waiting(job)).toBeNull();
      await t.service.advance(job);
      expect(t.world.rounds).toHaveLength(1);
      online('d', 30_001);
      expect(await waiting(job)).toBeNull(); // the round is open: the job is not waiting
    });
  });

  describe('placement: agentSelector and backend', () => {
    const labelled = (name: string, labels: Record<string, string>, backend: string | null = 'wasm') =>
      t.world.addAgent(name, { datasets: [TINY.dataset], labels, backend });

    it('opens the round for the matching agents only, and until enough match says how many do out of how many online', async () => {
      const job = await t.job(
        (await t.submitJob({ minAgents: 2, agentSelector: { gpu: 'true', region: 'eu' }, backend: 'tensorflow-gpu' })).id,
      );
      const a = labelled('a', { gpu: 'true', region: 'eu', rack: '7' }, 'tensorflow-gpu');
      labelled('wrong-value', { gpu: 'true', region: 'us' }, 'tensorflow-gpu');
      labelled('missing-key', { gpu: 'true' }, 'tensorflow-gpu');
      labelled('wrong-backend', { gpu: 'true', region: 'eu' }, 'tensorflow');
      labelled('no-backend', { gpu: 'true', region: 'eu' }, null);
      t.world.addAgent('other-data', { datasets: ['uci-digits'], labels: { gpu: 'true', region: 'eu' }, backend: 'tensorflow-gpu' });

      expect(await t.eligibility.count(t.service.requirement(job))).toEqual({ online: 5, matching: 1 });
      expect(await waiting(job)).toBe(
        `waiting for agents: 1 of 2 required agents online match {gpu: "true", region: "eu"} and backend tensorflow-gpu for dataset ${TINY.dataset} (5 online for it in all)`,
      );
      await t.service.advance(job);
      expect(t.world.rounds).toEqual([]);

      const b = labelled('b', { region: 'eu', gpu: 'true' }, 'tensorflow-gpu');
      expect(await waiting(job)).toBeNull();
      await t.service.advance(job);
      expect(t.world.rounds).toEqual([expect.objectContaining({ index: 0, eligibleAgentIds: [a.id, b.id] })]);
      expect(t.queue.calls.filter((c) => c.op === 'enqueueTrain').map((c) => c.agentId)).toEqual([a.id, b.id]);
    });
  });

  describe('reconcile: what the database says must be scheduled, re-armed where Redis lacks it', () => {
    it('after Redis lost everything: re-arms the close at the same deadline and puts back the train tasks of the agents that have not answered', async () => {
      const { job, agents } = await openRound({ roundDeadlineMs: 20_000 }, ['a', 'b', 'c']);
      await t.service.submitUpdate(agents[0].id, job.id, 0, bytes(new Float32Array(P)), meta);
      clock.advance(5_000);
      t.queue.loseEverything();
      t.queue.clear();

      await t.service.reconcile({ redisMayHaveLost: true });

      expect(t.queue.calls.map((c) => [c.op, 'agentId' in c ? c.agentId : null, 'id' in c ? c.id : null])).toEqual([
        ['scheduleControl', null, `round.close.${job.id}.0`],
        ['enqueueTrain', agents[1].id, `train.${job.id}.0.${agents[1].id}`],
        ['enqueueTrain', agents[2].id, `train.${job.id}.0.${agents[2].id}`],
      ]);
      expect(t.queue.of('scheduleControl')[0]).toMatchObject({ delayMs: 15_000, data: { reason: 'deadline' } });
      // The same task the round opened with (its deadline is the round's, not a new one).
      expect(t.queue.of('enqueueTrain')[0].task).toMatchObject({ jobId: job.id, round: 0, deadline: '2026-03-02T09:00:20.000Z' });
    });

    it('with nothing lost, sends nothing to agents; a periodic pass only re-arms the close (keyed: a no-op in Redis)', async () => {
      const { job } = await openRound({ roundDeadlineMs: 20_000 }, ['a', 'b']);

      await t.service.reconcile({ redisMayHaveLost: true });
      await t.service.reconcile({ redisMayHaveLost: false });

      expect(t.queue.calls.map((c) => [c.op, 'id' in c ? c.id : null])).toEqual([
        ['scheduleControl', `round.close.${job.id}.0`],
        ['scheduleControl', `round.close.${job.id}.0`],
      ]);
    });

    it('a round every agent answered but still open (the close was lost) is closed now; a half-closed one is finished', async () => {
      const first = await openRound({}, ['a']);
      await t.service.submitUpdate(first.agents[0].id, first.job.id, 0, bytes(new Float32Array(P)), meta);
      const second = await t.submitJob({});
      await t.service.advance(second);
      await t.rounds.beginClosing(second.id, 0);
      t.queue.clear();

      await t.service.reconcile({ redisMayHaveLost: false });

      expect(t.queue.of('scheduleControl').map((c) => [c.id, c.delayMs])).toEqual([
        [`round.close.${first.job.id}.0`, expect.any(Number)],
        [`round.close.${first.job.id}.0.answered`, 0],
        [`round.close.${second.id}.0.resume`, 0],
      ]);
    });
  });

  describe('closeRound', () => {
    it('aggregates x_{t+1} = x_t + γ Σ ω_n Δ_n / N with FedAU weights from the states before the round, writes participation, client states, checkpoint and progress, and wakes the job', async () => {
      // Round 4 of 6 (rounds 0–3 closed), γ = 2.5. The FedAU states after round 3 (docs/algorithms/fedau.md §2.1):
      //   a took part in rounds 1 and 3: intervals 2, 2 → {miss 0, sum 4, cnt 2}, ω_a = 4/2 = 2;
      //   b took part in rounds 0 and 2: intervals 1, 2, then missed 3 → {miss 1, sum 3, cnt 2}, ω_b = 3/2 = 1.5;
      //   d took part in round 0 only → {miss 3, sum 1, cnt 1}; d is offline now, so it is not asked this round;
      //   c and e have no state yet: ω = 1.
      // N counts every client the job ever asked: {a, b, d} ∪ {a, b, c, e} = 5, so γ/N = 0.5.
      // a and b upload, c declines, e says nothing:
      //   x_5 = x_4 + 0.5 · (2 · Δa + 1.5 · Δb)
      //   Δa = (0.5, −1,  0, 0.25, 1,   2) → 2 · Δa   = (1,   −2,    0, 0.5, 2,    4)
      //   Δb = (1,    1, −2, 0,    0.5, −1) → 1.5 · Δb = (1.5,  1.5, −3, 0,   0.75, −1.5)
      //   sum = (2.5, −0.5, −3, 0.5, 2.75, 2.5), × 0.5 = (1.25, −0.25, −1.5, 0.25, 1.375, 1.25)
      //   x_4 = (1, 2, 3, 4, 5, 6) → x_5 = (2.25, 1.75, 1.5, 4.25, 6.375, 7.25)   (all exact in float32)
      const x4 = floats(1, 2, 3, 4, 5, 6);
      const submitted = await t.submitJob({ rounds: 6, globalLr: 2.5, roundDeadlineMs: 10_000 }, x4);
      await t.jobs.setProgress(submitted.id, 4);
      const [a, b, c] = [online('a'), online('b'), online('c')];
      const d = online('d', 60_000);
      const e = online('e');
      const state = (agentId: string, s: FedAuClientState) => ({ jobId: submitted.id, agentId, state: { ...s }, memoryHash: null });
      t.world.clientStates.push(
        state(a.id, { miss: 0, sum: 4, cnt: 2 }),
        state(b.id, { miss: 1, sum: 3, cnt: 2 }),
        state(d.id, { miss: 3, sum: 1, cnt: 1 }),
      );
      const job = await t.job(submitted.id);
      await t.service.advance(job);
      expect(t.world.round(job.id, 4)!.eligibleAgentIds).toEqual([a.id, b.id, c.id, e.id]);
      const da = floats(0.5, -1, 0, 0.25, 1, 2);
      const db = floats(1, 1, -2, 0, 0.5, -1);
      await t.service.submitUpdate(a.id, job.id, 4, bytes(da), { exampleCount: 10, trainLoss: 0.5, durationMs: 30 });
      await t.service.submitUpdate(b.id, job.id, 4, bytes(db), { exampleCount: 20, trainLoss: 0.75, durationMs: 40 });
      await t.service.decline(c.id, job.id, 4, { reason: 'busy' });
      clock.advance(10_000);
      t.queue.clear();

      await t.service.closeRound({ jobId: job.id, round: 4 }, 'deadline');

      const x5 = floats(2.25, 1.75, 1.5, 4.25, 6.375, 7.25);
      const e5 = evaluate({ arch: 'softmax' }, x5, t.catalog.get('tiny').test);
      const metrics = { testAccuracy: e5.accuracy, testLoss: e5.loss, trainLoss: 0.625 }; // (0.5 + 0.75) / 2
      const hash = sha256(x5);
      expect(await t.blobs.getFloat32(hash)).toEqual(x5);
      expect(t.world.round(job.id, 4)).toMatchObject({
        status: 'closed',
        closedAt: at(10_000),
        outputModelHash: hash,
        participants: 2,
        weightMin: 1.5,
        weightMax: 2,
        // The default update policy: 10 × the lower median of the norms √6.3125 (a) and √7.25 (b); nothing beyond it.
        normReference: Math.sqrt(6.3125),
        normBound: 10 * Math.sqrt(6.3125),
        rejected: 0,
        clipped: 0,
        metrics,
      });
      // One row per eligible agent (keyed by agent: the order they are written in is not part of the decision).
      const absent = {
        participated: false,
        weight: 1,
        updateNorm: null,
        exampleCount: null,
        trainLoss: null,
        durationMs: null,
        clipScale: null,
      };
      expect(byAgent(t.world.participation)).toEqual([
        {
          jobId: job.id,
          round: 4,
          agentId: a.id,
          participated: true,
          weight: 2,
          updateNorm: Math.sqrt(0.25 + 1 + 0.0625 + 1 + 4),
          exampleCount: 10,
          trainLoss: 0.5,
          durationMs: 30,
          absence: null,
          clipScale: null,
        },
        {
          jobId: job.id,
          round: 4,
          agentId: b.id,
          participated: true,
          weight: 1.5,
          updateNorm: Math.sqrt(1 + 1 + 4 + 0.25 + 1),
          exampleCount: 20,
          trainLoss: 0.75,
          durationMs: 40,
          absence: null,
          clipScale: null,
        },
        { jobId: job.id, round: 4, agentId: c.id, ...absent, absence: 'declined' },
        { jobId: job.id, round: 4, agentId: e.id, ...absent, absence: 'timeout' },
      ]);
      // Every client's state advances by one round (§2.3): a participation closes an interval of miss + 1.
      const states = new Map(t.world.clientStates.map((s) => [s.agentId, s.state]));
      expect(states).toEqual(
        new Map([
          [a.id, { miss: 0, sum: 5, cnt: 3 }],
          [b.id, { miss: 0, sum: 5, cnt: 3 }],
          [d.id, { miss: 4, sum: 1, cnt: 1 }],
          [c.id, { miss: 1, sum: 0, cnt: 0 }],
          [e.id, { miss: 1, sum: 0, cnt: 0 }],
        ]),
      );
      expect(t.world.checkpoint(job.id, 4)).toMatchObject({ hash, metrics, memorySumHash: null });
      expect(t.world.federatedJobs.get(job.id)!.modelHash).toBe(hash);
      expect(t.world.jobs.get(job.id)).toMatchObject({ status: 'running', progressDone: 5 });
      // The absent agents' train tasks are taken off their queues; the next round opens on the job's next advance.
      expect(byAgent(t.queue.of('removeTrain'))).toEqual([
        { op: 'removeTrain', agentId: c.id, jobId: job.id, round: 4 },
        { op: 'removeTrain', agentId: e.id, jobId: job.id, round: 4 },
      ]);
      expect(t.queue.calls).toHaveLength(2);
      expect(t.runner.calls).toEqual([{ op: 'wake', jobId: job.id }]);
    });

    it("'all-answered' while answers are missing leaves the round open and writes nothing", async () => {
      const { job, agents } = await openRound({ minAgents: 2 }, ['a', 'b']);
      await t.service.submitUpdate(agents[0].id, job.id, 0, bytes(new Float32Array(P).fill(0.1)), meta);
      t.queue.clear();

      await t.service.closeRound({ jobId: job.id, round: 0 }, 'all-answered');

      expect(t.world.round(job.id, 0)!.status).toBe('open');
      expect(t.world.participation).toEqual([]);
      expect(t.world.checkpoints.map((c) => c.round)).toEqual([-1]);
      expect(t.world.jobs.get(job.id)!.progressDone).toBe(0);
      expect([...t.queue.calls, ...t.runner.calls]).toEqual([]);
      // The deadline close of the same round does close it.
      await t.service.closeRound({ jobId: job.id, round: 0 }, 'deadline');
      expect(t.world.round(job.id, 0)!.status).toBe('closed');
    });

    it('abandons the round of a job that is no longer running: closed, with nothing aggregated or written', async () => {
      const { job, agents } = await openRound({}, ['a']);
      await t.service.submitUpdate(agents[0].id, job.id, 0, bytes(new Float32Array(P).fill(0.1)), meta);
      const { modelHash } = t.world.federatedJobs.get(job.id)!;
      await t.jobs.cancel(job.id);
      t.queue.clear();

      await t.service.closeRound({ jobId: job.id, round: 0 }, 'deadline');

      expect(t.world.round(job.id, 0)).toMatchObject({ status: 'closed', closedAt: T0, outputModelHash: null, participants: 0 });
      expect(t.world.participation).toEqual([]);
      expect(t.world.clientStates).toEqual([]);
      expect(t.world.checkpoints.map((c) => c.round)).toEqual([-1]);
      expect(t.world.federatedJobs.get(job.id)!.modelHash).toBe(modelHash);
      expect(t.world.jobs.get(job.id)).toMatchObject({ status: 'cancelled', progressDone: 0 });
      expect([...t.queue.calls, ...t.runner.calls]).toEqual([]);
    });

    it('the last round completes the job and does not wake it', async () => {
      const { job, agents } = await openRound({ rounds: 1 }, ['a']);
      await t.service.submitUpdate(agents[0].id, job.id, 0, bytes(new Float32Array(P).fill(0.1)), meta);

      await t.service.closeRound({ jobId: job.id, round: 0 }, 'all-answered');

      expect(t.world.round(job.id, 0)!.status).toBe('closed');
      expect(t.world.jobs.get(job.id)).toMatchObject({ status: 'completed', progressDone: 1, finishedAt: T0 });
      expect(t.world.checkpoints.map((c) => c.round)).toEqual([-1, 0]);
      expect(t.runner.calls).toEqual([]);
    });

    it('closing the same round a second time writes nothing twice', async () => {
      const { job, agents } = await openRound({ minAgents: 2 }, ['a', 'b']);
      await t.service.submitUpdate(agents[0].id, job.id, 0, bytes(new Float32Array(P).fill(0.1)), meta);
      await t.service.closeRound({ jobId: job.id, round: 0 }, 'all-answered'); // b has not answered: nothing yet
      await t.service.decline(agents[1].id, job.id, 0, { reason: 'unavailable' });
      await t.service.closeRound({ jobId: job.id, round: 0 }, 'all-answered');
      const once = structuredClone({
        participation: t.world.participation,
        checkpoints: t.world.checkpoints,
        states: t.world.clientStates,
      });
      t.queue.clear();
      t.runner.calls.length = 0;

      await t.service.closeRound({ jobId: job.id, round: 0 }, 'deadline');

      expect({ participation: t.world.participation, checkpoints: t.world.checkpoints, states: t.world.clientStates }).toEqual(once);
      expect(t.world.jobs.get(job.id)!.progressDone).toBe(1);
      expect([...t.queue.calls, ...t.runner.calls]).toEqual([]);
    });

    it('two closes of the same round at once (the deadline and the last answer) write it once and wake the job once', async () => {
      const { job, agents } = await openRound({}, ['a']);
      await t.service.submitUpdate(agents[0].id, job.id, 0, bytes(new Float32Array(P).fill(0.1)), meta);

      await Promise.all([
        t.service.closeRound({ jobId: job.id, round: 0 }, 'deadline'),
        t.service.closeRound({ jobId: job.id, round: 0 }, 'all-answered'),
      ]);

      expect(t.world.participation).toHaveLength(1);
      expect(t.world.checkpoints.map((c) => c.round)).toEqual([-1, 0]);
      expect(t.world.jobs.get(job.id)!.progressDone).toBe(1);
      expect(t.runner.calls).toEqual([{ op: 'wake', jobId: job.id }]);
    });

    it("finishes a round that a previous close left 'closing' (the resume close)", async () => {
      const { job, agents } = await openRound({}, ['a']);
      await t.service.submitUpdate(agents[0].id, job.id, 0, bytes(new Float32Array(P).fill(0.1)), meta);
      await t.rounds.beginClosing(job.id, 0);

      await t.service.closeRound({ jobId: job.id, round: 0 }, 'resume');

      expect(t.world.round(job.id, 0)).toMatchObject({ status: 'closed', participants: 1 });
      expect(t.world.jobs.get(job.id)!.progressDone).toBe(1);
    });
  });

  describe('submitUpdate and decline: which answers count', () => {
    let job: Awaited<ReturnType<typeof openRound>>['job'];
    let a: string;
    let b: string;
    const update = floats(0.5, -1, 0, 0.25, 1, 2);

    beforeEach(async () => {
      const opened = await openRound({ minAgents: 2, roundDeadlineMs: 10_000 }, ['a', 'b']);
      job = opened.job;
      [a, b] = opened.agents.map((x) => x.id);
    });

    it('stores an accepted update under its sha256, with its norm and metadata', async () => {
      expect(await t.service.submitUpdate(a, job.id, 0, bytes(update), meta)).toEqual({ status: 'accepted', hash: sha256(update) });

      expect(await t.blobs.getFloat32(sha256(update))).toEqual(update);
      expect(t.world.answers).toEqual([
        expect.objectContaining({
          agentId: a,
          round: 0,
          blobHash: sha256(update),
          declined: false,
          updateNorm: Math.sqrt(6.3125),
          ...meta,
        }),
      ]);
    });

    it('refuses an update of the wrong byte length (InvalidUpdateError) and stores nothing', async () => {
      await expect(t.service.submitUpdate(a, job.id, 0, bytes(new Float32Array(P - 1)), meta)).rejects.toThrow(InvalidUpdateError);
      await expect(t.service.submitUpdate(a, job.id, 0, Buffer.alloc(P * 4 + 1), meta)).rejects.toThrow(
        /25 bytes; this job's model has 6 float32 parameters \(24 bytes\)/,
      );

      expect(t.world.answers).toEqual([]);
      expect(t.blobs.blobs.size).toBe(1); // x0 only
      expect(t.metrics.render({})).toMatch(/^flotilla_updates_rejected_total 2$/m);
    });

    it('refuses an update holding NaN or ±Infinity (InvalidUpdateError) and stores nothing', async () => {
      const nan = floats(0, 0, 0, NaN, 0, 0);
      const inf = floats(0, -Infinity, 0, 0, 0, 0);

      await expect(t.service.submitUpdate(a, job.id, 0, bytes(nan), meta)).rejects.toThrow(InvalidUpdateError);
      await expect(t.service.submitUpdate(a, job.id, 0, bytes(nan), meta)).rejects.toThrow(/NaN at index 3/);
      await expect(t.service.submitUpdate(a, job.id, 0, bytes(inf), meta)).rejects.toThrow(InvalidUpdateError);

      expect(t.world.answers).toEqual([]);
      expect(t.blobs.blobs.size).toBe(1);
    });

    it('refuses answers from an agent that was not asked to train in the round (NotEligibleError)', async () => {
      const latecomer = online('latecomer').id;

      await expect(t.service.submitUpdate(latecomer, job.id, 0, bytes(update), meta)).rejects.toThrow(NotEligibleError);
      await expect(t.service.decline(latecomer, job.id, 0, { reason: 'busy' })).rejects.toThrow(NotEligibleError);
      expect(t.world.answers).toEqual([]);
    });

    it('refuses answers for a job or round that does not exist (NotFoundError)', async () => {
      await expect(t.service.submitUpdate(a, job.id, 1, bytes(update), meta)).rejects.toThrow(NotFoundError);
      await expect(t.service.decline(a, '00000000-0000-4000-8000-00000000ffff', 0, { reason: 'busy' })).rejects.toThrow(NotFoundError);
    });

    it('accepts answers up to the deadline and refuses them after it (RoundClosedError), without storing the late update', async () => {
      clock.advance(10_000);
      expect((await t.service.submitUpdate(a, job.id, 0, bytes(update), meta)).status).toBe('accepted');

      clock.advance(1);
      const late = floats(1, 1, 1, 1, 1, 1);
      await expect(t.service.submitUpdate(b, job.id, 0, bytes(late), meta)).rejects.toThrow(RoundClosedError);
      await expect(t.service.decline(b, job.id, 0, { reason: 'busy' })).rejects.toThrow(RoundClosedError);
      expect(t.world.answers.map((x) => x.agentId)).toEqual([a]);
      expect(await t.blobs.has(sha256(late))).toBe(false);
    });

    it('refuses answers once the round is closing or closed (RoundClosedError)', async () => {
      await t.rounds.beginClosing(job.id, 0);
      await expect(t.service.submitUpdate(a, job.id, 0, bytes(update), meta)).rejects.toThrow(RoundClosedError);

      await t.service.closeRound({ jobId: job.id, round: 0 }, 'resume');
      expect(t.world.round(job.id, 0)!.status).toBe('closed');
      await expect(t.service.submitUpdate(a, job.id, 0, bytes(update), meta)).rejects.toThrow(RoundClosedError);
      await expect(t.service.decline(b, job.id, 0, { reason: 'busy' })).rejects.toThrow(RoundClosedError);
      expect(t.world.answers).toEqual([]);
    });

    it('the same update twice gets the first answer (a retry after a lost response), recorded once; a decline after it conflicts', async () => {
      const first = await t.service.submitUpdate(a, job.id, 0, bytes(update), meta);

      expect(first).toEqual({ status: 'accepted', hash: sha256(update) });
      expect(await t.service.submitUpdate(a, job.id, 0, bytes(update), meta)).toEqual(first);
      await expect(t.service.decline(a, job.id, 0, { reason: 'busy' })).rejects.toThrow(ConflictError);
      expect(t.world.answers).toHaveLength(1);
    });

    it('a repeated update or decline gets its first answer after its round closed', async () => {
      const first = await t.service.submitUpdate(a, job.id, 0, bytes(update), meta);
      expect(await t.service.decline(b, job.id, 0, { reason: 'unavailable' })).toEqual({ status: 'declined' });
      await t.service.closeRound({ jobId: job.id, round: 0 }, 'deadline');
      expect(t.world.round(job.id, 0)!.status).toBe('closed');

      expect(await t.service.submitUpdate(a, job.id, 0, bytes(update), meta)).toEqual(first);
      expect(await t.service.decline(b, job.id, 0, { reason: 'unavailable' })).toEqual({ status: 'declined' });
      expect(t.world.answers).toHaveLength(2);
    });

    it('a different second update is a ConflictError and the first one stands', async () => {
      await t.service.submitUpdate(a, job.id, 0, bytes(update), meta);

      await expect(t.service.submitUpdate(a, job.id, 0, bytes(floats(1, 1, 1, 1, 1, 1)), meta)).rejects.toThrow(ConflictError);
      expect(t.world.answers).toEqual([expect.objectContaining({ agentId: a, blobHash: sha256(update) })]);
      // An update after a decline conflicts too: the decline stands.
      await t.service.decline(b, job.id, 0, { reason: 'busy' });
      await expect(t.service.submitUpdate(b, job.id, 0, bytes(update), meta)).rejects.toThrow(ConflictError);
      expect(t.world.answer(job.id, 0, b)).toMatchObject({ declined: true, blobHash: null });
    });

    it("the last eligible answer (here a decline) schedules an immediate 'all-answered' close; earlier answers do not", async () => {
      await t.service.submitUpdate(a, job.id, 0, bytes(update), meta);
      expect(t.queue.sent()).toEqual([]);

      await t.service.decline(b, job.id, 0, { reason: 'unavailable' });

      expect(t.queue.sent()).toEqual([
        {
          op: 'scheduleControl',
          name: 'round.close',
          data: { jobId: job.id, round: 0, reason: 'all-answered' },
          delayMs: 0,
          suffix: 'answered',
          id: `round.close.${job.id}.0.answered`,
        },
      ]);
    });

    it("a decline with reason 'error' is kept as the agent's lastError (with its round and time); other declines are not", async () => {
      await t.service.decline(a, job.id, 0, { reason: 'unavailable' });
      expect(t.world.agent(a)).toMatchObject({ lastError: null, lastErrorAt: null });

      const message = 'trainLocal: parameters have length 442, softmax on 64x26 needs 1690';
      await t.service.decline(b, job.id, 0, { reason: 'error', message });

      expect(t.world.agent(b)).toMatchObject({ lastError: `round 0 of job ${job.id}: ${message}`, lastErrorAt: new Date(T0) });
      // The round does not wait for it: this was the last eligible answer.
      expect(t.queue.of('scheduleControl')).toEqual([
        expect.objectContaining({ data: { jobId: job.id, round: 0, reason: 'all-answered' } }),
      ]);
    });

    it('the last eligible answer being an update schedules the close as well', async () => {
      await t.service.decline(b, job.id, 0, { reason: 'unavailable' });
      expect(t.queue.sent()).toEqual([]);

      await t.service.submitUpdate(a, job.id, 0, bytes(update), meta);

      expect(t.queue.of('scheduleControl')).toEqual([
        expect.objectContaining({ data: { jobId: job.id, round: 0, reason: 'all-answered' } }),
      ]);
    });
  });

  describe('update policy (docs/algorithms/fedau.md §11): reject and clip at the close, refuse on arrival', () => {
    // Round 0 of a job on the tiny softmax (6 parameters), x_0 = (1, 2, 3, 4, 5, 6), γ = 1, FedAU with no history (ω = 1).
    // a, b and c upload, e declines, so N = 4. Norms (exact in float32 and float64):
    //   Δa = 0.5 · (1, 1, 1, 1, 0, 0): ‖Δa‖ = 1;  Δb = (1, 1, 1, 1, 0, 0): 2;  Δc = 50 · (1, 1, 1, 1, 0, 0): 100.
    // Relative bound, factor 10: reference = lower median of (1, 2, 100) = 2, bound 20, so c is beyond it.
    const x0 = floats(1, 2, 3, 4, 5, 6);
    const da = floats(0.5, 0.5, 0.5, 0.5, 0, 0);
    const db = floats(1, 1, 1, 1, 0, 0);
    const dc = floats(50, 50, 50, 50, 0, 0);

    async function playRound(spec: Parameters<typeof t.submitJob>[0]) {
      const { job, agents } = await openRound({ minAgents: 4, roundDeadlineMs: 10_000, ...spec }, ['a', 'b', 'c', 'e'], x0);
      const [a, b, c, e] = agents;
      await t.service.submitUpdate(a.id, job.id, 0, bytes(da), meta);
      await t.service.submitUpdate(b.id, job.id, 0, bytes(db), meta);
      await t.service.submitUpdate(c.id, job.id, 0, bytes(dc), { exampleCount: 7, trainLoss: 9, durationMs: 5 });
      await t.service.decline(e.id, job.id, 0, { reason: 'unavailable' });
      await t.service.closeRound({ jobId: job.id, round: 0 }, 'all-answered');
      return { job, a, b, c, e, row: (agentId: string) => t.world.participation.find((p) => p.agentId === agentId)! };
    }

    it('reject (the default): the update beyond 10 × the median norm is not aggregated and its agent is a non-participant', async () => {
      const { job, c, row } = await playRound({});
      // x_1 = x_0 + (Δa + Δb)/4 = x_0 + (0.375, 0.375, 0.375, 0.375, 0, 0).
      const x1 = floats(1.375, 2.375, 3.375, 4.375, 5, 6);
      expect(t.world.federatedJobs.get(job.id)!.modelHash).toBe(sha256(x1));
      expect(t.world.round(job.id, 0)).toMatchObject({
        status: 'closed',
        participants: 2,
        normReference: 2,
        normBound: 20,
        rejected: 1,
        clipped: 0,
        metrics: expect.objectContaining({ trainLoss: 0.5 }) as unknown, // c's loss is not a participant's
      });
      // The row keeps what c sent (its norm and metadata) and says why it did not count.
      expect(row(c.id)).toMatchObject({
        participated: false,
        absence: 'rejected',
        updateNorm: 100,
        exampleCount: 7,
        trainLoss: 9,
        clipScale: null,
        weight: 1,
      });
      // A rejected client did not participate: its FedAU state records a miss (§2.3, §11.4).
      expect(t.world.clientStates.find((s) => s.agentId === c.id)!.state).toEqual({ miss: 1, sum: 0, cnt: 0 });
      expect(t.metrics.render({})).toMatch(/flotilla_updates_policy_rejected_total 1\n/);
    });

    it('clip: the update is scaled down to the bound (weight × 0.2) and its agent participates', async () => {
      const { job, c, row } = await playRound({ updatePolicy: { bound: { kind: 'relative', factor: 10 }, action: 'clip' } });
      // x_1 = x_0 + (Δa + Δb + 0.2 · Δc)/4 = x_0 + (1.5 + 10)/4 on the first four coordinates = x_0 + 2.875.
      const x1 = floats(3.875, 4.875, 5.875, 6.875, 5, 6);
      expect(t.world.federatedJobs.get(job.id)!.modelHash).toBe(sha256(x1));
      expect(t.world.round(job.id, 0)).toMatchObject({ participants: 3, normBound: 20, rejected: 0, clipped: 1 });
      expect(row(c.id)).toMatchObject({ participated: true, absence: null, updateNorm: 100, clipScale: 0.2, weight: 1 });
      expect(t.world.clientStates.find((s) => s.agentId === c.id)!.state).toEqual({ miss: 0, sum: 1, cnt: 1 });
      expect(t.metrics.render({})).toMatch(/flotilla_updates_clipped_total 1\n/);
    });

    it('clip with MIFA: the clipped update (0.2 · Δc, float32) becomes the memory, a blob of its own', async () => {
      const { job, c } = await playRound({
        aggregation: { rule: 'mifa' },
        updatePolicy: { bound: { kind: 'relative', factor: 10 }, action: 'clip' },
      });
      const clippedC = floats(10, 10, 10, 10, 0, 0);
      expect(t.world.clientStates.find((s) => s.agentId === c.id)!.memoryHash).toBe(sha256(clippedC));
      expect(await t.blobs.getFloat32(sha256(clippedC))).toEqual(clippedC);
      // MIFA: x_1 = x_0 + (M_a + M_b + M_c)/N with the clipped M_c: the same as FedAU's clip above.
      expect(t.world.federatedJobs.get(job.id)!.modelHash).toBe(sha256(floats(3.875, 4.875, 5.875, 6.875, 5, 6)));
    });

    it('an absolute bound with reject refuses the upload at once (422), stores no blob, and the round need not wait for the agent', async () => {
      const absolute = { updatePolicy: { bound: { kind: 'absolute' as const, maxNorm: 5 }, action: 'reject' as const } };
      const { job, agents } = await openRound({ minAgents: 2, roundDeadlineMs: 10_000, ...absolute }, ['a', 'c'], x0);
      const [a, c] = agents;
      const blobs = t.blobs.blobs.size;
      await expect(t.service.submitUpdate(c.id, job.id, 0, bytes(dc), meta)).rejects.toThrow(
        new InvalidUpdateError("Update refused by the job's update policy: its L2 norm 1.000e+2 exceeds the bound 5"),
      );
      expect(t.blobs.blobs.size).toBe(blobs);
      expect(t.world.answer(job.id, 0, c.id)).toMatchObject({ rejected: true, blobHash: null, declined: false, updateNorm: 100 });
      // A retry of the refused update gets the same refusal; so does any other update (the first answer stands).
      await expect(t.service.submitUpdate(c.id, job.id, 0, bytes(dc), meta)).rejects.toThrow(/refused by the job's update policy/);
      await expect(t.service.submitUpdate(c.id, job.id, 0, bytes(db), meta)).rejects.toThrow(InvalidUpdateError);
      expect(t.world.round(job.id, 0)!.answers).toBe(1);
      t.queue.clear();
      // a's answer is the last one: the round closes now, not at its deadline.
      await t.service.submitUpdate(a.id, job.id, 0, bytes(da), meta);
      expect(t.queue.of('scheduleControl')).toEqual([
        expect.objectContaining({ data: { jobId: job.id, round: 0, reason: 'all-answered' } }),
      ]);
      await t.service.closeRound({ jobId: job.id, round: 0 }, 'all-answered');
      // x_1 = x_0 + Δa / 2.
      expect(t.world.federatedJobs.get(job.id)!.modelHash).toBe(sha256(floats(1.25, 2.25, 3.25, 4.25, 5, 6)));
      expect(t.world.round(job.id, 0)).toMatchObject({ participants: 1, normBound: 5, normReference: null, rejected: 1 });
      expect(t.world.participation.find((p) => p.agentId === c.id)).toMatchObject({
        participated: false,
        absence: 'rejected',
        updateNorm: 100,
      });
    });

    it('an update of 3e38 everywhere (finite values, a norm beyond float32) is refused on arrival even with no bound', async () => {
      const { job, agents } = await openRound({ updatePolicy: { bound: { kind: 'none' }, action: 'reject' } }, ['a'], x0);
      await expect(t.service.submitUpdate(agents[0].id, job.id, 0, bytes(new Float32Array(P).fill(3e38)), meta)).rejects.toThrow(
        /its L2 norm 7\.348e\+38 does not fit in a float32/, // 3e38 · √6
      );
    });

    it('a lone update is measured against the previous round’s reference', async () => {
      const { job, agents } = await openRound({ minAgents: 3, roundDeadlineMs: 10_000 }, ['a', 'b', 'c'], x0);
      const [a, b, c] = agents;
      // Round 0: a and b (norms 1 and 2): reference 1 (the lower median), c declines.
      await t.service.submitUpdate(a.id, job.id, 0, bytes(da), meta);
      await t.service.submitUpdate(b.id, job.id, 0, bytes(db), meta);
      await t.service.decline(c.id, job.id, 0, { reason: 'unavailable' });
      await t.service.closeRound({ jobId: job.id, round: 0 }, 'all-answered');
      expect(t.world.round(job.id, 0)).toMatchObject({ normReference: 1, normBound: 10 });
      // Round 1: only c uploads (norm 100). Measured against min(100, 1) = 1: bound 10, rejected; the model stays.
      await t.service.advance(await t.job(job.id));
      const x1 = t.world.federatedJobs.get(job.id)!.modelHash;
      await t.service.decline(a.id, job.id, 1, { reason: 'unavailable' });
      await t.service.decline(b.id, job.id, 1, { reason: 'unavailable' });
      await t.service.submitUpdate(c.id, job.id, 1, bytes(dc), meta);
      await t.service.closeRound({ jobId: job.id, round: 1 }, 'all-answered');
      expect(t.world.round(job.id, 1)).toMatchObject({ normReference: 1, normBound: 10, rejected: 1, participants: 0 });
      expect(t.world.federatedJobs.get(job.id)!.modelHash).toBe(x1);
    });

    it('robust aggregation (median) reads the updates tile by tile: x_1 = x_0 + γ · (W/N) · median', async () => {
      // No bound, so c's update counts; per coordinate the median of (0.5, 1, 50) is 1 (and of three zeros 0);
      // W = 3 (ω = 1 each), N = 4: x_1 = x_0 + 0.75 · (1, 1, 1, 1, 0, 0).
      const { job } = await playRound({
        updatePolicy: { bound: { kind: 'none' }, action: 'reject' },
        robustAggregation: { kind: 'median' },
      });
      expect(t.world.federatedJobs.get(job.id)!.modelHash).toBe(sha256(floats(1.75, 2.75, 3.75, 4.75, 5, 6)));
      expect(t.world.round(job.id, 0)).toMatchObject({ participants: 3, normBound: null, rejected: 0 });
    });

    it('a round whose aggregate would leave the float32 range fails the job instead of writing a non-finite model', async () => {
      // No bound, γ = 1000: two updates of 3e38 in one coordinate (norm 3e38 each, within float32) sum to 3e41.
      const { job, agents } = await openRound(
        { minAgents: 2, globalLr: 1000, updatePolicy: { bound: { kind: 'none' }, action: 'reject' } },
        ['a', 'b'],
        x0,
      );
      const huge = floats(3e38, 0, 0, 0, 0, 0);
      const { modelHash } = t.world.federatedJobs.get(job.id)!;
      for (const agent of agents) await t.service.submitUpdate(agent.id, job.id, 0, bytes(huge), meta);
      await t.service.closeRound({ jobId: job.id, round: 0 }, 'all-answered');
      expect(t.world.jobs.get(job.id)).toMatchObject({
        status: 'failed',
        error: 'Round 0 would make the model non-finite (it contains Infinity at index 0); its updates were not applied',
      });
      expect(t.world.round(job.id, 0)!.status).toBe('closed');
      expect(t.world.checkpoints.map((c) => c.round)).toEqual([-1]);
      expect(t.world.federatedJobs.get(job.id)!.modelHash).toBe(modelHash);
      expect(t.runner.calls).toEqual([]);
    });
  });
});
