import { DashboardController } from './dashboard/dashboard.controller';
import { BlobGcService } from './blobs/blob-gc.service';
import { BlobsAdminController } from './blobs/blobs-admin.controller';
import { Module, type DynamicModule } from '@nestjs/common';
import { AgentGuard } from './agents/agent.guard';
import { AgentsController } from './agents/agents.controller';
import { AgentsRepository } from './agents/agents.repository';
import { AgentsService } from './agents/agents.service';
import { BlobsModule } from './blobs/blobs.module';
import { AdminGuard } from './common/admin.guard';
import { APP_CONFIG, type AppConfig } from './config/config';
import { PrismaService } from './database/prisma.service';
import { DatasetCatalog } from './datasets/dataset-catalog';
import { HealthController } from './health/health.controller';
import { MetricsRegistry } from './health/metrics.registry';
import { JobsController } from './jobs/jobs.controller';
import { JobsRepository } from './jobs/jobs.repository';
import { JobsService } from './jobs/jobs.service';
import { QueueService } from './queue/queue.service';
import { RoundsRepository } from './rounds/rounds.repository';
import { RoundsService } from './rounds/rounds.service';
import { UpdatesController } from './rounds/updates.controller';
import { BilevelController } from './bilevel/bilevel.controller';
import { BilevelRepository } from './bilevel/bilevel.repository';
import { BilevelRunner } from './bilevel/bilevel.runner';
import { NasController } from './nas/nas.controller';
import { NasRepository } from './nas/nas.repository';
import { NasRunner } from './nas/nas.runner';
import { ControlService } from './queue/control.service';
import { JobRunnerRegistry } from './tasks/job-runner';
import { AgentTasksController, JobTasksController } from './tasks/tasks.controller';
import { TasksRepository } from './tasks/tasks.repository';
import { TasksService } from './tasks/tasks.service';

@Module({})
export class AppModule {
  static forConfig(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      global: true,
      imports: [BlobsModule],
      controllers: [
        AgentsController,
        JobsController,
        UpdatesController,
        HealthController,
        AgentTasksController,
        JobTasksController,
        BilevelController,
        NasController,
        BlobsAdminController,
        DashboardController,
      ],
      providers: [
        { provide: APP_CONFIG, useValue: config },
        PrismaService,
        QueueService,
        MetricsRegistry,
        DatasetCatalog,
        AdminGuard,
        BlobGcService,
        AgentGuard,
        AgentsRepository,
        AgentsService,
        JobsRepository,
        JobsService,
        RoundsRepository,
        RoundsService,
        JobRunnerRegistry,
        TasksRepository,
        TasksService,
        BilevelRepository,
        BilevelRunner,
        NasRepository,
        NasRunner,
        ControlService,
      ],
      exports: [APP_CONFIG],
    };
  }
}
