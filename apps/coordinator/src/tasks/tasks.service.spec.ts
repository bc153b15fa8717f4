import { BilevelZChain, type TaskPayload, type TaskResult } from '@flotilla/contracts';
import { InvalidResultError, NotFoundError, TaskClosedError } from '../common/errors';
import { freezeClock } from '../testing/fakes';
import { newTasksService } from '../testing/services';
import { taskRequest } from './tasks.service';

/**
 * The task dispatcher's decisions (TasksService), on in-memory fakes of its repositories and queues: who gets a
 * task, what is enqueued and scheduled, which results are stored, and where a task goes when its agent fails, sends
 * garbage or goes silent. The tasks are real bilevel z-chain tasks (the contract from @flotilla/contracts) of a
 * bilevel job, whose kind is a stand-in registered in a real JobKindRegistry. End to end: test/e2e/bilevel-job.spec.ts.
 */
const T0 = new Date('2026-03-02T09:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);

const DATA = 'uci-digits';
const H1 = '1'.repeat(64);
const H2 = '2'.repeat(64);

/** One outer iteration of a 1-dimensional run: dim x = dim y = 1, so a result carries vectors of length 1. */
const payload: TaskPayload<typeof BilevelZChain> = {
  run: 0,
  problem: { kind: 'test-case', name: 'T1' },
  data: null,
  round: {
    kind: 'chains',
    plan: {
      iteration: 0,
      lambda: 10,
      x: [0.5],
      yStart: [0],
      zStart: [0],
      yChain: { steps: 2, stepSize: 0.1, sampleSeed: 1 },
      zChain: { steps: 2, stepSize: 0.1, sampleSeed: 2 },
      stepX: 0.5,
      xSampleSeed: 3,
    },
  },
};
const result: TaskResult<typeof BilevelZChain> = { point: [0.25], residual: 0.01, oracleCalls: { f: 0, g: 4 }, gxAtZ: [1.5] };
const TIMEOUT_MS = 60_000;
const request = (key = 'r0.k0.z') => taskRequest(BilevelZChain, payload, { key, dataset: DATA, dataHash: H1, timeoutMs: TIMEOUT_MS });

describe('TasksService', () => {
  let t: ReturnType<typeof newTasksService>;
  let clock: { advance(ms: number): void };
  let jobId: string;
  /** What the job's kind was asked to check, and what it refuses (null: nothing). */
  let kindChecked: unknown[];
  let kindRefuses: string | null;

  beforeEach(async () => {
    clock = freezeClock(T0);
    t = newTasksService({ TASK_MAX_ATTEMPTS: '2' });
    kindChecked = [];
    kindRefuses = null;
    t.kinds.register<'bilevel'>({
      kind: 'bilevel',
      progressUnit: 'iterations',
      submit: () => Promise.reject(new Error('not used')),
      agentDataset: () => DATA,
      advance: () => Promise.resolve(),
      view: () => Promise.reject(new Error('not used')),
      checkTaskResult: (_task, r) => {
        kindChecked.push(r);
        return kindRefuses ? Promise.reject(new InvalidResultError(kindRefuses)) : Promise.resolve();
      },
    });
    jobId = (await t.submitBilevelJob()).id;
  });
  afterEach(() => jest.useRealTimers());

  /** An online agent holding DATA with content hash H1 (unless told otherwise). */
  const agent = (name: string, o: Parameters<typeof t.world.addAgent>[1] = {}) =>
    t.world.addAgent(name, { datasets: [DATA], datasetHashes: { [DATA]: H1 }, ...o }).id;

  /** Dispatches one task (to whichever agent fits) and starts the queue log afresh. */
  async function dispatched(): Promise<string> {
    const [task] = await t.service.dispatch(jobId, [request()]);
    t.queue.clear();
    return task.id;
  }

  /** What assigning attempt `attempt` of a task to `agentId` sends: the task on the agent's queue, then its timeout. */
  const assignedTo = (agentId: string, taskId: string, attempt: number, deadline = at(TIMEOUT_MS)) => [
    {
      op: 'enqueueTask',
      agentId,
      id: `task.${taskId}.${attempt}`,
      task: { taskId, jobId, kind: 'bilevel.z-chain', attempt, deadline: deadline.toISOString(), payload },
    },
    {
      op: 'scheduleControl',
      name: 'task.timeout',
      data: { jobId, taskId, attempt },
      delayMs: TIMEOUT_MS,
      suffix: '',
      id: `task.timeout.${jobId}.${taskId}.${attempt}`,
    },
  ];

  describe('dispatch', () => {
    it("assigns a new task to the least busy online agent whose copy of the dataset has the pinned hash: enqueued on that agent's queue, its timeout scheduled", async () => {
      const busy = agent('busy');
      agent('other-copy', { datasetHashes: { [DATA]: H2 } });
      agent('no-hash-reported', { datasetHashes: null });
      agent('no-dataset', { datasets: [], datasetHashes: null });
      agent('offline', { heartbeatAgoMs: 30_001 });
      const idle = agent('idle');
      // `busy` runs a task of another running job.
      const other = (await t.submitBilevelJob()).id;
      const running = await t.tasks.create({
        jobId: other,
        key: 'k',
        kind: 'bilevel.z-chain',
        payload,
        dataset: DATA,
        dataHash: H1,
        timeoutMs: 1,
      });
      await t.tasks.assign(running.id, 0, busy, at(1));

      const [task] = await t.service.dispatch(jobId, [request()]);

      expect(t.world.task(task.id)).toMatchObject({
        jobId,
        key: 'r0.k0.z',
        status: 'running',
        agentId: idle,
        attempt: 1,
        deadlineAt: at(TIMEOUT_MS),
        assignedAt: T0,
        failedAgentIds: [],
      });
      expect(t.queue.sent()).toEqual(assignedTo(idle, task.id, 1));
    });

    it('a task without a dataset may go to any online agent, even one holding no data', async () => {
      agent('offline', { heartbeatAgoMs: 30_001 });
      const bare = t.world.addAgent('bare', { datasets: [] }).id;

      const [task] = await t.service.dispatch(jobId, [
        taskRequest(BilevelZChain, payload, { key: 'any', dataset: null, timeoutMs: TIMEOUT_MS }),
      ]);

      expect(t.world.task(task.id)).toMatchObject({ status: 'running', agentId: bare });
    });

    it("only agents matching the job's agentSelector and backend get its tasks: the first, a retry after a failure, none while none is online", async () => {
      const placed = (await t.submitBilevelJob({ agentSelector: { gpu: 'true' }, backend: 'tensorflow-gpu' })).id;
      // Registered first and idle: each would win the choice if the placement were not applied.
      agent('gpu-false', { labels: { gpu: 'false' }, backend: 'tensorflow-gpu' });
      agent('no-labels', { backend: 'tensorflow-gpu' });
      agent('wrong-backend', { labels: { gpu: 'true' }, backend: 'wasm' });
      agent('no-backend', { labels: { gpu: 'true' } });
      const gpu = agent('gpu', { labels: { gpu: 'true', zone: 'b' }, backend: 'tensorflow-gpu' });

      const [task] = await t.service.dispatch(placed, [request()]);
      expect(t.world.task(task.id)).toMatchObject({ status: 'running', agentId: gpu, attempt: 1 });

      // It fails there; no other matching agent is online, so it goes back to the one that failed it, not elsewhere.
      await t.service.fail(gpu, task.id, { message: 'out of memory' });
      expect(t.world.task(task.id)).toMatchObject({ status: 'running', agentId: gpu, attempt: 2, failedAgentIds: [gpu] });

      // The same job's next task while its only matching agent is offline: pending, whoever else is online.
      t.world.agent(gpu)!.lastHeartbeatAt = at(-30_001);
      const [next] = await t.service.dispatch(placed, [request('r0.k1.z')]);
      expect(t.world.task(next.id)).toMatchObject({ status: 'pending', agentId: null });
    });

    it("pins the data file most of the job's matching agents hold, whatever the others hold", async () => {
      const selector = { agentSelector: { site: 'lab' }, backend: null };
      agent('elsewhere-1', { datasetHashes: { [DATA]: H2 } });
      agent('elsewhere-2', { datasetHashes: { [DATA]: H2 } });
      const lab = agent('lab', { labels: { site: 'lab' } });

      expect(await t.service.commonDataHash(selector, DATA)).toBe(H1);
      expect(await t.service.commonDataHash({ agentSelector: {}, backend: null }, DATA)).toBe(H2);
      expect((await t.service.eligibleAgents(selector, DATA)).map((a) => a.id)).toEqual([lab]);
      expect(await t.service.eligibleAgents(selector, DATA, H2)).toEqual([]);
    });

    it('dispatching the same key again creates nothing and assigns nothing', async () => {
      agent('a');
      const first = await dispatched();

      const again = await t.service.dispatch(jobId, [request()]);

      expect(again.map((x) => x.id)).toEqual([first]);
      expect(t.world.tasks).toHaveLength(1);
      expect(t.world.task(first)).toMatchObject({ status: 'running', attempt: 1 });
      expect(t.queue.sent()).toEqual([]);
    });

    it('with no fitting agent online, leaves the task pending and schedules one task.assign retry in a second (deduplicated per attempt); the retry assigns it once an agent is there', async () => {
      agent('other-copy', { datasetHashes: { [DATA]: H2 } });

      const [task] = await t.service.dispatch(jobId, [request()]);

      expect(t.world.task(task.id)).toMatchObject({ status: 'pending', attempt: 0, agentId: null });
      expect(t.queue.sent()).toEqual([
        { op: 'retryAssign', ref: { jobId, taskId: task.id, attempt: 0 }, delayMs: 1000, dedup: `assign.${task.id}.0` },
      ]);
      // Asked again while still pending: the same deduplication id, so BullMQ keeps one retry (not a second chain).
      t.queue.clear();
      await t.service.assign(task.id);
      expect(t.queue.sent().map((c) => ('dedup' in c ? c.dedup : null))).toEqual([`assign.${task.id}.0`]);

      const b = agent('b');
      t.queue.clear();
      await t.service.assign(task.id);
      expect(t.world.task(task.id)).toMatchObject({ status: 'running', attempt: 1, agentId: b });
      expect(t.queue.sent()).toEqual(assignedTo(b, task.id, 1));
    });

    it('refuses a payload that does not match its contract, creating nothing', async () => {
      agent('a');
      const bad = { ...request(), payload: { ...payload, run: -1 } };

      await expect(t.service.dispatch(jobId, [bad])).rejects.toThrow(
        /bilevel.z-chain task r0.k0.z: its payload does not match its contract \(run:/,
      );
      expect(t.world.tasks).toEqual([]);
      expect(t.queue.sent()).toEqual([]);
    });
  });

  describe('complete: results', () => {
    let a: string;
    let b: string;
    let taskId: string;

    beforeEach(async () => {
      a = agent('a');
      b = agent('b');
      taskId = await dispatched(); // on a
    });

    it("stores a result that passes its contract and the job kind's check, and wakes the job", async () => {
      expect(await t.service.complete(a, taskId, { result, durationMs: 1234 })).toEqual({ status: 'accepted' });

      expect(t.world.task(taskId)).toMatchObject({
        status: 'done',
        agentId: a,
        result: JSON.stringify(result),
        durationMs: 1234,
        finishedAt: T0,
        error: null,
      });
      expect(kindChecked).toEqual([result]);
      expect(t.runner.calls).toEqual([{ op: 'wake', jobId }]);
      expect(t.queue.sent()).toEqual([]);
    });

    it('refuses a result that breaks its contract (InvalidResultError) and gives the task to another agent', async () => {
      const wrongLength = { ...result, point: [0.25, 1] };

      await expect(t.service.complete(a, taskId, { result: wrongLength, durationMs: 5 })).rejects.toThrow(InvalidResultError);

      expect(t.world.task(taskId)).toMatchObject({ status: 'running', agentId: b, attempt: 2, failedAgentIds: [a], result: null });
      expect(t.world.task(taskId)!.error).toMatch(/^invalid result from agent .*: bilevel.z-chain result: point: point must have length 1/);
      // The agent shows why (GET /agents lastError), as for a failure it reports itself.
      expect(t.world.agent(a)!.lastError).toMatch(
        /^task bilevel\.z-chain .* result refused: bilevel\.z-chain result: point: point must have length 1/,
      );
      expect(t.world.agent(b)!.lastError).toBeNull();
      expect(t.queue.sent()).toEqual(assignedTo(b, taskId, 2));
      expect(kindChecked).toEqual([]);
      expect(t.runner.calls).toEqual([]);
    });

    it("refuses a result that the job's kind refuses (InvalidResultError) and gives the task to another agent", async () => {
      kindRefuses = 'params: must name an uploaded blob';

      await expect(t.service.complete(a, taskId, { result, durationMs: 5 })).rejects.toThrow(/must name an uploaded blob/);

      expect(kindChecked).toEqual([result]);
      expect(t.world.task(taskId)).toMatchObject({ status: 'running', agentId: b, attempt: 2, failedAgentIds: [a] });
      expect(t.runner.calls).toEqual([]);
    });

    it('refuses a result from an agent the task was never given to (NotFoundError), changing nothing', async () => {
      const before = structuredClone(t.world.task(taskId));

      await expect(t.service.complete(b, taskId, { result, durationMs: 5 })).rejects.toThrow(NotFoundError);
      await expect(t.service.complete(a, '00000000-0000-4000-8000-00000000ffff', { result, durationMs: 5 })).rejects.toThrow(NotFoundError);

      expect(t.world.task(taskId)).toEqual(before);
      expect([...t.queue.sent(), ...t.runner.calls]).toEqual([]);
    });

    it('answers a repeated result of the agent that completed the task with the first answer, checking and storing nothing again (a retry after a lost response)', async () => {
      expect(await t.service.complete(a, taskId, { result, durationMs: 5 })).toEqual({ status: 'accepted' });

      expect(await t.service.complete(a, taskId, { result, durationMs: 6 })).toEqual({ status: 'accepted' });
      expect(await t.service.complete(a, taskId, { result: { ...result, residual: 0.5 }, durationMs: 6 })).toEqual({ status: 'accepted' });
      expect(t.world.task(taskId)).toMatchObject({ status: 'done', result: JSON.stringify(result), durationMs: 5 });
      expect(kindChecked).toEqual([result]);
      expect(t.runner.calls).toEqual([{ op: 'wake', jobId }]);
    });

    it('a repeated result also gets its first answer after the job finished', async () => {
      await t.service.complete(a, taskId, { result, durationMs: 5 });
      await t.jobs.cancel(jobId);

      expect(await t.service.complete(a, taskId, { result, durationMs: 5 })).toEqual({ status: 'accepted' });
    });

    it('refuses a result for a task of a job that is no longer running (TaskClosedError)', async () => {
      await t.jobs.cancel(jobId);

      await expect(t.service.complete(a, taskId, { result, durationMs: 5 })).rejects.toThrow(TaskClosedError);
      expect(t.world.task(taskId)!.status).toBe('running');
    });
  });

  describe('fail and timeout: retries', () => {
    let a: string;
    let b: string;
    let taskId: string;

    beforeEach(async () => {
      a = agent('a');
      b = agent('b');
      taskId = await dispatched(); // on a, attempt 1
    });

    it('a failure gives the task to another agent, one that has not failed it', async () => {
      expect(await t.service.fail(a, taskId, { message: 'out of memory' })).toEqual({ status: 'reassigned' });

      expect(t.world.task(taskId)).toMatchObject({ status: 'running', agentId: b, attempt: 2, failedAgentIds: [a] });
      expect(t.world.task(taskId)!.error).toMatch(/: out of memory$/);
      expect(t.queue.sent()).toEqual(assignedTo(b, taskId, 2));
      expect(t.runner.calls).toEqual([]);
    });

    it("a failure is kept as the failing agent's lastError, with the task and its job; other agents' stay empty", async () => {
      await t.service.fail(a, taskId, { message: 'trainLocal: parameters have length 442' });

      const task = t.world.task(taskId)!;
      expect(t.world.agent(a)!.lastError).toBe(`task ${task.kind} ${taskId} of job ${task.jobId}: trainLocal: parameters have length 442`);
      expect(t.world.agent(a)!.lastErrorAt).toBeInstanceOf(Date);
      expect(t.world.agent(b)!.lastError).toBeNull();
    });

    it('a departed agent (left, not revoked) gives its running task to another agent without counting a failure', async () => {
      await t.service.releaseAgent(a, 'left');

      expect(t.world.task(taskId)).toMatchObject({ status: 'running', agentId: b, attempt: 2 });
      expect(t.world.task(taskId)!.error).toBe(`agent ${a} left`);
      expect(t.world.agent(a)!.lastError).toBeNull();
    });

    it('after TASK_MAX_ATTEMPTS (here 2) assignments have failed, the task fails for good and the job is woken', async () => {
      await t.service.fail(a, taskId, { message: 'out of memory' });
      t.queue.clear();

      expect(await t.service.fail(b, taskId, { message: 'disk full' })).toEqual({ status: 'failed' });

      expect(t.world.task(taskId)).toMatchObject({ status: 'failed', agentId: b, attempt: 2, failedAgentIds: [a, b], finishedAt: T0 });
      expect(t.world.task(taskId)!.error).toMatch(/: disk full$/);
      expect(t.queue.sent()).toEqual([]);
      expect(t.runner.calls).toEqual([{ op: 'wake', jobId }]);
      await expect(t.service.complete(b, taskId, { result, durationMs: 5 })).rejects.toThrow(TaskClosedError);
    });

    it('a repeated failure report gets the first answer and changes nothing (a retry after a lost response)', async () => {
      await t.service.fail(a, taskId, { message: 'out of memory' });
      t.queue.clear();

      expect(await t.service.fail(a, taskId, { message: 'out of memory' })).toEqual({ status: 'reassigned' });

      expect(t.world.task(taskId)).toMatchObject({ status: 'running', agentId: b, attempt: 2, failedAgentIds: [a] });
      expect(t.queue.sent()).toEqual([]);
    });

    it('after the last attempt failed, every repeated report gets its first answer again', async () => {
      await t.service.fail(a, taskId, { message: 'out of memory' });
      await t.service.fail(b, taskId, { message: 'disk full' });

      expect(await t.service.fail(b, taskId, { message: 'disk full' })).toEqual({ status: 'failed' });
      expect(await t.service.fail(a, taskId, { message: 'out of memory' })).toEqual({ status: 'reassigned' });
      expect(t.world.task(taskId)).toMatchObject({ status: 'failed', failedAgentIds: [a, b] });
    });

    it('the timeout of the current attempt marks its agent suspect and gives the task to another agent', async () => {
      // a went silent; b kept sending heartbeats.
      clock.advance(TIMEOUT_MS);
      t.world.heartbeat(b);

      await t.service.timeout({ jobId, taskId, attempt: 1 });

      expect(t.world.agent(a)!.lastTaskTimeoutAt).toEqual(at(TIMEOUT_MS));
      expect(t.world.task(taskId)).toMatchObject({ status: 'running', agentId: b, attempt: 2, failedAgentIds: [a] });
      expect(t.world.task(taskId)!.error).toBe(`timed out after ${TIMEOUT_MS} ms on agent ${a}`);
      expect(t.queue.of('removeTask')).toEqual([{ op: 'removeTask', agentId: a, taskId, upTo: 1 }]);
      expect(t.queue.sent()).toEqual(assignedTo(b, taskId, 2, at(2 * TIMEOUT_MS)));
    });

    it('the timeout of an older attempt does nothing', async () => {
      await t.service.fail(a, taskId, { message: 'out of memory' }); // now attempt 2, on b
      t.queue.clear();
      const before = structuredClone(t.world.task(taskId));

      await t.service.timeout({ jobId, taskId, attempt: 1 });

      expect(t.world.task(taskId)).toEqual(before);
      expect(t.world.agents.map((x) => x.lastTaskTimeoutAt)).toEqual([null, null]);
      expect([...t.queue.sent(), ...t.runner.calls]).toEqual([]);
    });
  });

  describe('reconcile: what the database says must be scheduled, re-armed where Redis lacks it', () => {
    it("after Redis lost everything: the running attempt's work item goes back on its agent's queue with its deadline, and its timeout is re-armed", async () => {
      const a = agent('a');
      const taskId = await dispatched();
      clock.advance(10_000);
      t.queue.loseEverything();

      await t.service.reconcile({ redisMayHaveLost: true });

      const [item, timeout] = assignedTo(a, taskId, 1);
      expect(t.queue.sent()).toEqual([item, { ...timeout, delayMs: TIMEOUT_MS - 10_000 }]);
      expect(t.world.task(taskId)).toMatchObject({ status: 'running', agentId: a, attempt: 1 });
    });

    it('with nothing lost, or on a periodic pass, only the (keyed) timeout is re-armed; a pending task gets a look for an agent', async () => {
      agent('a');
      const running = await dispatched();
      t.world.agents[0].lastHeartbeatAt = null; // offline: the next task stays pending
      const [pending] = await t.service.dispatch(jobId, [request('r0.k1.z')]);
      t.queue.clear();

      await t.service.reconcile({ redisMayHaveLost: true });
      await t.service.reconcile({ redisMayHaveLost: false });

      const timeout = `task.timeout.${jobId}.${running}.1`;
      const assign = { op: 'retryAssign', ref: { jobId, taskId: pending.id, attempt: 0 }, delayMs: 0, dedup: `assign.${pending.id}.0` };
      expect(t.queue.sent().map((c) => ('id' in c ? c.id : c))).toEqual([timeout, assign, timeout, assign]);
    });
  });
});
