import { randomUUID } from 'node:crypto';
import { ControlJobName } from '@flotilla/contracts';
import { Client } from 'pg';
import { ControlService } from '../../apps/coordinator/src/control/control.service';
import { JobLeasesRepository } from '../../apps/coordinator/src/control/job-leases.repository';
import { QueueService } from '../../apps/coordinator/src/queue/queue.service';
import { waitFor } from '../support/http';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/in-process';

/**
 * Job leases on real PostgreSQL (one holder at a time however many try at once; expiry by the database's clock), and
 * a control job on real BullMQ that meets a lease held elsewhere: put back without using up a try, run once the lease
 * is gone.
 */
describe('job leases (in-process coordinator, real PostgreSQL and Redis)', () => {
  let c: InProcessCoordinator;
  let leases: JobLeasesRepository;

  beforeAll(async () => {
    c = await startInProcessCoordinator('leases');
    leases = c.app.get(JobLeasesRepository);
  }, 60_000);

  afterAll(() => c?.stop(), 30_000);

  it('gives a job to one of twenty concurrent takers, lets only the holder renew or release, and hands over on expiry', async () => {
    const job = randomUUID();
    const takers = Array.from({ length: 20 }, (_, i) => `replica-${i}`);
    const won = await Promise.all(takers.map((t) => leases.acquire(job, t, 60_000)));
    expect(won.filter(Boolean)).toHaveLength(1);
    const holder = takers[won.indexOf(true)];
    const other = takers.find((t) => t !== holder)!;
    expect(await leases.holder(job)).toBe(holder);
    expect(await leases.acquire(job, holder, 60_000)).toBe(true); // its holder may take it again
    expect(await leases.renew(job, other, 60_000)).toBe(false);
    await leases.release(job, other); // not its lease: nothing happens
    expect(await leases.holder(job)).toBe(holder);

    // The holder dies: its lease runs out (a 1 ms lease, long past), and the next taker gets the job.
    expect(await leases.acquire(job, holder, 1)).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    expect(await leases.holder(job)).toBeNull();
    expect(await leases.acquire(job, other, 60_000)).toBe(true);
    expect(await leases.renew(job, holder, 60_000)).toBe(false); // too late for the old holder
    await leases.release(job, other);
    expect(await leases.holder(job)).toBeNull();
  });

  it('puts a control job back while another replica holds its job, without using up a try, and runs it after', async () => {
    const control = c.app.get(ControlService);
    const runs: string[] = [];
    // The round-close handler replaced (through `handle`, so it runs under the lease like the real one).
    const handlers = (control as unknown as { handlers: Map<string, unknown> }).handlers;
    handlers.delete(ControlJobName.CloseRound);
    control.handle(ControlJobName.CloseRound, async (d) => {
      runs.push(`${d.jobId}:${d.round}`);
      return Promise.resolve();
    });

    const job = randomUUID();
    expect(await leases.acquire(job, 'another-replica:1:step', 60_000)).toBe(true);
    await c.app.get(QueueService).scheduleControl({ name: ControlJobName.CloseRound, data: { jobId: job, round: 3, reason: 'deadline' } });
    // Long enough for dozens of looks at the job (every 100 ms): none runs the step, and none counts as a failure.
    await new Promise((r) => setTimeout(r, 1500));
    expect(runs).toEqual([]);
    const pg = new Client({ connectionString: c.dbUrl });
    await pg.connect();
    try {
      const stillHeld = await pg.query<{ holder: string }>('SELECT holder FROM job_leases WHERE job_id = $1', [job]);
      expect(stillHeld.rows).toEqual([{ holder: 'another-replica:1:step' }]);
      await leases.release(job, 'another-replica:1:step');
      await waitFor('the step ran', () => Promise.resolve(runs.length > 0));
      expect(runs).toEqual([`${job}:3`]);
      const after = await pg.query('SELECT 1 FROM job_leases WHERE job_id = $1', [job]);
      expect(after.rowCount).toBe(0); // given back
    } finally {
      await pg.end();
    }
  }, 30_000);
});
