import { Logger } from '@nestjs/common';
import { ControlJobName, type ControlJobData } from '@flotilla/contracts';
import { ControlBusy, type QueueService } from '../queue/queue.service';
import { fake, FakeJobLeases } from '../testing/fakes';
import { testConfig } from '../testing/services';
import { ControlService } from './control.service';
import type { JobLeasesRepository } from './job-leases.repository';

const JOB_A = '00000000-0000-4000-8000-00000000000a';
const JOB_B = '00000000-0000-4000-8000-00000000000b';
const close = (jobId: string, round: number): ControlJobData<typeof ControlJobName.CloseRound> => ({ jobId, round, reason: 'deadline' });

/**
 * The control loop's exclusion: one job's steps one at a time (in this process by queueing, across replicas by the
 * job's lease), different jobs' steps side by side, the lease given back after each step.
 */
describe('ControlService: one step of a job at a time', () => {
  let consume: (name: string, data: unknown) => Promise<void>;
  let leases: FakeJobLeases;
  let control: ControlService;
  const log: string[] = [];
  let gates: Map<string, () => void>;

  /** A step that logs its start, waits until the test opens its gate, and logs its end. */
  const gated = (label: string) => async () => {
    log.push(`start ${label}`);
    await new Promise<void>((resolve) => gates.set(label, resolve));
    log.push(`end ${label}`);
  };
  const open = async (label: string) => {
    for (let i = 0; i < 100 && !gates.has(label); i++) await new Promise((r) => setImmediate(r));
    const gate = gates.get(label);
    if (!gate) throw new Error(`step ${label} never started (log: ${log.join(', ')})`);
    gate();
  };
  const settle = () => new Promise((r) => setTimeout(r, 5));

  beforeEach(async () => {
    Logger.overrideLogger(false);
    log.length = 0;
    gates = new Map();
    leases = new FakeJobLeases();
    const queue = fake<QueueService>({
      consumeControl: (handle: (name: string, data: unknown) => Promise<void>) => void (consume = handle),
      onReconnect: () => undefined,
    });
    control = new ControlService(queue, fake<JobLeasesRepository>(leases), testConfig({ CONTROL_LOCK_MS: '3000' }));
    const steps: Record<string, (data: { jobId: string; round: number }) => Promise<void>> = {};
    control.handle(ControlJobName.CloseRound, (d) => steps[`${d.jobId === JOB_A ? 'a' : 'b'}${d.round}`](d));
    control.handle(ControlJobName.AdvanceJob, () => Promise.resolve());
    control.handle(ControlJobName.TaskTimeout, () => Promise.resolve());
    control.handle(ControlJobName.AssignTask, () => Promise.resolve());
    for (const label of ['a0', 'a1', 'b0']) steps[label] = gated(label);
    await control.onApplicationBootstrap();
  });

  afterEach(() => control.onModuleDestroy());

  it("runs a job's second step only after its first, while another job's step runs beside them", async () => {
    const a0 = consume(ControlJobName.CloseRound, close(JOB_A, 0));
    const a1 = consume(ControlJobName.CloseRound, close(JOB_A, 1));
    const b0 = consume(ControlJobName.CloseRound, close(JOB_B, 0));
    await settle();
    expect(log).toEqual(['start a0', 'start b0']); // a1 waits for a0; b0 does not
    expect(await leases.holder(JOB_A)).toMatch(/:\d+:[0-9a-f-]{36}$/);
    await open('a0');
    await a0;
    await settle();
    expect(log).toEqual(['start a0', 'start b0', 'end a0', 'start a1']);
    await open('a1');
    await open('b0');
    await Promise.all([a1, b0]);
    // Every lease was given back.
    expect(leases.leases.size).toBe(0);
  });

  it('puts a step back (ControlBusy) while another replica holds the job, and runs it once that lease is gone', async () => {
    await leases.acquire(JOB_A, 'other-host:1:step', 60_000);
    await expect(consume(ControlJobName.CloseRound, close(JOB_A, 0))).rejects.toBeInstanceOf(ControlBusy);
    expect(log).toEqual([]);
    expect(await leases.holder(JOB_A)).toBe('other-host:1:step');

    await leases.release(JOB_A, 'other-host:1:step');
    const again = consume(ControlJobName.CloseRound, close(JOB_A, 0));
    await open('a0');
    await again;
    expect(log).toEqual(['start a0', 'end a0']);
  });

  it('takes over an expired lease (its replica died mid-step), and gives the lease back when the step fails', async () => {
    await leases.acquire(JOB_A, 'dead-host:1:step', 60_000);
    leases.leases.get(JOB_A)!.expiresAt = Date.now() - 1;
    const failing = consume(ControlJobName.CloseRound, close(JOB_B, 7));
    await expect(failing).rejects.toThrow(); // no step b7: the handler throws
    expect(leases.leases.has(JOB_B)).toBe(false);
    const run = consume(ControlJobName.CloseRound, close(JOB_A, 0));
    await settle();
    expect(await leases.holder(JOB_A)).not.toBe('dead-host:1:step');
    await open('a0');
    await run;
    expect(leases.leases.size).toBe(0);
  });

  it('refuses malformed control data before taking any lease', async () => {
    await expect(consume(ControlJobName.CloseRound, { jobId: 'not-a-uuid', round: 0, reason: 'deadline' })).rejects.toThrow(
      /control job 'round.close' with malformed data/,
    );
    expect(leases.leases.size).toBe(0);
  });
});
