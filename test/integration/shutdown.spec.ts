import { randomUUID } from 'node:crypto';
import { ControlJobName } from '@flotilla/contracts';
import { ControlService } from '../../apps/coordinator/src/control/control.service';
import { PrismaService } from '../../apps/coordinator/src/database/prisma.service';
import { QueueService } from '../../apps/coordinator/src/queue/queue.service';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/in-process';

/**
 * Stopping a coordinator while a control job runs: the job finishes against a database that is still connected, and
 * the close returns. (The database used to disconnect in the first phase of Nest's shutdown and the worker to close in
 * the last, so a round close caught in between failed its queries, or hung the close on a transaction whose status
 * the driver no longer knew.)
 */
describe('coordinator shutdown (in-process, real PostgreSQL and Redis)', () => {
  let c: InProcessCoordinator;

  beforeAll(async () => {
    c = await startInProcessCoordinator('shutdown');
  }, 60_000);

  afterAll(() => c?.stop());

  it('waits for the active control job, which still reads and writes the database, before disconnecting', async () => {
    const prisma = c.app.get(PrismaService);
    const control = c.app.get(ControlService);
    const events: string[] = [];
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));

    // The round-close handler replaced by one that is mid-way through its work when the close begins. (The handler
    // table is private: the test reaches into it rather than racing a real round's deadline.)
    const handlers = (control as unknown as { handlers: Map<string, (data: unknown) => Promise<void>> }).handlers;
    handlers.set(ControlJobName.CloseRound, async () => {
      started();
      await new Promise((r) => setTimeout(r, 500));
      const [row] = await prisma.$transaction(async (tx) => tx.$queryRaw<{ one: number }[]>`SELECT 1 AS one`);
      events.push(`query ${row.one}`);
    });
    const disconnect = prisma.$disconnect.bind(prisma);
    jest.spyOn(prisma, '$disconnect').mockImplementation(async () => {
      events.push('disconnect');
      await disconnect();
    });

    await c.app
      .get(QueueService)
      .scheduleControl({ name: ControlJobName.CloseRound, data: { jobId: randomUUID(), round: 0, reason: 'deadline' } });
    await running;
    await c.app.close();

    expect(events).toEqual(['query 1', 'disconnect']);
  }, 30_000);
});
