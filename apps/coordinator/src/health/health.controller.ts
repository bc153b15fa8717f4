import { Controller, Get, Header, Inject, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { JOB_STATUSES } from '@flotilla/contracts';
import type { Response } from 'express';
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

  /**
   * 200 `{status: 'ok', postgres: 'ok', redis: 'ok'}`, or 503 with Retry-After and `status: 'unavailable'`, naming the
   * dependency that is down and why (`postgres: 'down: …'`). Each check gives up after HEALTH_CHECK_TIMEOUT_MS, so a
   * dependency that hangs reads as down instead of hanging the probe.
   */
  @Get('health')
  @ApiOperation({ summary: 'Reachability of PostgreSQL and Redis; 503 naming the one that is down' })
  async health(@Res({ passthrough: true }) res: Response): Promise<HealthBody> {
    const [postgres, redis] = await Promise.all([
      check(this.prisma.$queryRaw`SELECT 1`.then(() => undefined)),
      check(this.queues.ping().then((ok) => (ok ? undefined : Promise.reject(new Error('no PONG'))))),
    ]);
    if (postgres === 'ok' && redis === 'ok') return { status: 'ok', postgres, redis };
    res.status(503).setHeader('Retry-After', '2');
    return { status: 'unavailable', postgres, redis };
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

/** What `/health` answers: each dependency is `ok` or `down: <reason>`. */
export interface HealthBody {
  status: 'ok' | 'unavailable';
  postgres: string;
  redis: string;
}

/** How long one dependency check of `/health` may take before the dependency counts as down. */
const HEALTH_CHECK_TIMEOUT_MS = 2000;

/** `ok`, or `down: <the first line of why>`. */
async function check(probe: Promise<void>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${HEALTH_CHECK_TIMEOUT_MS} ms`)), HEALTH_CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([probe, timeout]);
    return 'ok';
  } catch (e) {
    // Prisma's messages start with where the call was made; the cause is the last line.
    const lines = (e instanceof Error ? e.message : String(e))
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    return `down: ${lines.at(-1) ?? 'unknown error'}`;
  } finally {
    clearTimeout(timer);
  }
}
