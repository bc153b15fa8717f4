import { Controller, Get, Header, HttpException, Inject } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { JOB_STATUSES } from '@flotilla/contracts';
import { AgentsRepository } from '../agents/agents.repository';
import { TransferSlots } from '../agents/transfer.guard';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { PrismaService } from '../database/prisma.service';
import { JobsRepository } from '../jobs/jobs.repository';
import { QueueService } from '../queue/queue.service';
import { MetricsRegistry } from '../common/metrics.registry';
import { WorkHub } from '../transport/work-hub.service';

@ApiTags('operations')
@Controller()
export class HealthController {
  constructor(
    private readonly prisma: PrismaService,
    private readonly queues: QueueService,
    private readonly metrics: MetricsRegistry,
    private readonly jobs: JobsRepository,
    private readonly agents: AgentsRepository,
    private readonly hub: WorkHub,
    private readonly transfers: TransferSlots,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get('health')
  @ApiOperation({ summary: 'Liveness of the database and Redis; 503 when either is down' })
  async health(): Promise<{ status: 'ok'; database: 'ok'; redis: 'ok' }> {
    const [db, redis] = await Promise.all([
      this.prisma.$queryRaw`SELECT 1`.then(
        () => 'ok',
        (e: Error) => e.message,
      ),
      this.queues.ping().then(
        (ok) => (ok ? 'ok' : 'no PONG'),
        (e: Error) => e.message,
      ),
    ]);
    if (db !== 'ok' || redis !== 'ok') throw new HttpException({ status: 'down', database: db, redis }, 503);
    return { status: 'ok', database: 'ok', redis: 'ok' };
  }

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4')
  @ApiOperation({ summary: 'Prometheus metrics' })
  async prometheus(): Promise<string> {
    const byStatus = new Map((await this.jobs.countByStatus()).map((r) => [r.status, r.count]));
    const online = await this.agents.countOnline(new Date(Date.now() - this.config.AGENT_OFFLINE_AFTER_MS));
    return this.metrics.render({
      flotilla_jobs: { help: 'Jobs by status', samples: JOB_STATUSES.map((s) => ({ labels: { status: s }, value: byStatus.get(s) ?? 0 })) },
      flotilla_agents_online: { help: 'Agents with a recent heartbeat', samples: [{ value: online }] },
      flotilla_open_polls: {
        help: 'Agents waiting for work on this process (long polls held open)',
        samples: [{ value: this.hub.openPolls }],
      },
      flotilla_agent_transfers: {
        help: "Agents' uploads and downloads in flight on this process (at most AGENT_MAX_TRANSFERS per agent)",
        samples: [{ value: this.transfers.inFlightTotal }],
      },
    });
  }
}
