import { Global, Module, type DynamicModule } from '@nestjs/common';
import { AgentGuard } from './agents/agent.guard';
import { AgentsController } from './agents/agents.controller';
import { DatasetsController, JoinTokenOrAgentGuard } from './agents/datasets.controller';
import { AgentsRepository } from './agents/agents.repository';
import { AgentsService } from './agents/agents.service';
import { EligibilityService } from './agents/eligibility.service';
import { PresenceService } from './agents/presence.service';
import { TransferGuard, TransferSlots } from './agents/transfer.guard';
import { AuthModule } from './auth/auth.module';
import { BlobsModule } from './blobs/blobs.module';
import { MetricsRegistry } from './common/metrics.registry';
import { APP_CONFIG, type AppConfig } from './config/config';
import { ControlService } from './control/control.service';
import { JobLeasesRepository } from './control/job-leases.repository';
import { DashboardController } from './dashboard/dashboard.controller';
import { PrismaService } from './database/prisma.service';
import { DatasetCatalog } from './datasets/dataset-catalog';
import { HealthController } from './health/health.controller';
import { JobKindRegistry } from './jobs/job-kind';
import { JobRunner } from './jobs/job-runner.service';
import { JobsController } from './jobs/jobs.controller';
import { JobsRepository } from './jobs/jobs.repository';
import { JobsService } from './jobs/jobs.service';
import { BilevelModule } from './kinds/bilevel/bilevel.module';
import { FederatedModule } from './kinds/federated/federated.module';
import { NasModule } from './kinds/nas/nas.module';
import { QueueService } from './queue/queue.service';
import { BlobUploadsRepository } from './tasks/blob-uploads.repository';
import { BlobUploadsService } from './tasks/blob-uploads.service';
import { TaskBlobsController } from './tasks/task-blobs.controller';
import { AgentTasksController, JobTasksController } from './tasks/tasks.controller';
import { TasksRepository } from './tasks/tasks.repository';
import { TasksService } from './tasks/tasks.service';
import { TransportModule } from './transport/transport.module';

/** What every feature module may use: configuration, storage, queues, agents, the job and task machinery. */
@Global()
@Module({})
class CoreModule {
  static forConfig(config: AppConfig): DynamicModule {
    const providers = [
      { provide: APP_CONFIG, useValue: config },
      PrismaService,
      QueueService,
      ControlService,
      JobLeasesRepository,
      MetricsRegistry,
      DatasetCatalog,
      AgentGuard,
      JoinTokenOrAgentGuard,
      TransferSlots,
      TransferGuard,
      AgentsRepository,
      AgentsService,
      EligibilityService,
      PresenceService,
      JobKindRegistry,
      JobsRepository,
      JobRunner,
      JobsService,
      TasksRepository,
      TasksService,
      BlobUploadsRepository,
      BlobUploadsService,
    ];
    return { module: CoreModule, providers, exports: providers.map((p) => ('provide' in p ? p.provide : p)) };
  }
}

/**
 * The coordinator. The job kinds are feature modules (./kinds/<kind>): each registers its JobKind with the
 * JobKindRegistry; nothing outside a kind's module knows its name.
 */
@Module({})
export class AppModule {
  static forConfig(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [CoreModule.forConfig(config), AuthModule, BlobsModule, TransportModule, FederatedModule, BilevelModule, NasModule],
      controllers: [
        AgentsController,
        DatasetsController,
        JobsController,
        AgentTasksController,
        JobTasksController,
        TaskBlobsController,
        HealthController,
        DashboardController,
      ],
    };
  }
}
