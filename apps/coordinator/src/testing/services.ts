import { Logger } from '@nestjs/common';
import { evaluate, initialParameters, parameterCount } from '@flotilla/algorithms';
import { CreateFederatedJobSchema, CreateJobSchema, type CreateFederatedJob } from '@flotilla/contracts';
import * as path from 'node:path';
import type { AgentsRepository } from '../agents/agents.repository';
import type { AgentsService } from '../agents/agents.service';
import { EligibilityService } from '../agents/eligibility.service';
import type { BlobStore } from '../blobs/blob-store';
import type { JobLeasesRepository } from '../control/job-leases.repository';
import { MetricsRegistry } from '../common/metrics.registry';
import { loadConfig, type AppConfig } from '../config/config';
import { ControlService } from '../control/control.service';
import { DatasetCatalog } from '../datasets/dataset-catalog';
import { isJobOf, JobKindRegistry, type JobOf } from '../jobs/job-kind';
import type { JobRunner } from '../jobs/job-runner.service';
import type { JobsRepository } from '../jobs/jobs.repository';
import type { RoundsRepository } from '../kinds/federated/rounds.repository';
import { RoundsService } from '../kinds/federated/rounds.service';
import type { QueueService } from '../queue/queue.service';
import { TasksService } from '../tasks/tasks.service';
import type { TasksRepository } from '../tasks/tasks.repository';
import {
  fake,
  FakeAgentsRepository,
  FakeJobsRepository,
  FakeRoundsRepository,
  FakeTasksRepository,
  FakeJobLeases,
  MemoryBlobStore,
  RecordingQueue,
  RecordingRunner,
  World,
} from './fakes';

/**
 * One call builds a service with every collaborator faked (like immich's `newTestService`): the in-memory world
 * and the fakes come back with it, for the spec to arrange the state and to read what the service did.
 */

/** The unit specs' dataset catalogue: `tiny` (2 features in [0, 4], 2 classes, 8 rows of which 4 are held out). */
export const TEST_DATA_DIR = path.join(__dirname, 'data');
export const TINY = { dataset: 'tiny', featureRange: [0, 4] as [number, number], numClasses: 2, numFeatures: 2 };

/** The coordinator's config as loadConfig builds it at boot (defaults applied), on the test catalogue. */
export function testConfig(env: Record<string, string> = {}): AppConfig {
  return loadConfig({
    DATABASE_URL: 'postgresql://unit@127.0.0.1/not-used',
    REDIS_URL: 'redis://127.0.0.1:6379',
    ADMIN_TOKEN: 'admin-token-of-the-unit-specs',
    JOIN_TOKEN: 'join-token-of-the-unit-specs',
    DATA_DIR: TEST_DATA_DIR,
    ...env,
  });
}

/** What every service under test shares: the world, the fake repositories and queues, the real metrics and config. */
function collaborators(env: Record<string, string>) {
  // The services log every round and retry; a spec reads what they did from the fakes instead.
  Logger.overrideLogger(false);
  const world = new World();
  const jobs = new FakeJobsRepository(world);
  const queue = new RecordingQueue();
  const agents = new FakeAgentsRepository(world);
  return {
    world,
    jobs,
    agents,
    // The real rule on the fake agents table.
    eligibility: new EligibilityService(fake<AgentsRepository>(agents), testConfig(env)),
    queue,
    runner: new RecordingRunner(),
    blobs: new MemoryBlobStore(),
    metrics: new MetricsRegistry(),
    config: testConfig(env),
    control: new ControlService(fake<QueueService>(queue), fake<JobLeasesRepository>(new FakeJobLeases()), testConfig(env)),
    // Used only when a module starts (revocation hooks); the builders do not start modules.
    agentsService: fake<AgentsService>({}),
  };
}

/** RoundsService (the federated round loop) on fakes, with helpers to submit federated jobs into the world. */
export function newRoundsService(env: Record<string, string> = {}) {
  const c = collaborators(env);
  const rounds = new FakeRoundsRepository(c.world, c.jobs);
  const catalog = new DatasetCatalog(c.config);
  const service = new RoundsService(
    fake<RoundsRepository>(rounds),
    fake<JobsRepository>(c.jobs),
    fake<JobRunner>(c.runner),
    fake<AgentsRepository>(c.agents),
    c.agentsService,
    c.eligibility,
    fake<QueueService>(c.queue),
    c.control,
    catalog,
    c.metrics,
    fake<BlobStore>(c.blobs),
  );

  /** The job as the service gets it (JobRunner reads it and hands it to the kind). */
  const job = async (id: string): Promise<JobOf<'federated'>> => {
    const j = await c.jobs.findById(id);
    if (!j || !isJobOf(j, 'federated')) throw new Error(`no federated job ${id}`);
    return j;
  };

  /**
   * A federated job on the tiny dataset, as FederatedJobKind.submit writes it (job row, model row, checkpoint −1),
   * starting from `x0` (default: the seeded initial parameters). Spec defaults: softmax, 3 rounds, FedAU.
   */
  const submitJob = async (spec: Partial<CreateFederatedJob> = {}, x0?: Float32Array): Promise<JobOf<'federated'>> => {
    const parsed = CreateFederatedJobSchema.parse({
      kind: 'federated',
      dataset: TINY.dataset,
      model: { arch: 'softmax' },
      rounds: 3,
      ...spec,
    });
    const shape = { numFeatures: TINY.numFeatures, numClasses: TINY.numClasses };
    const initial = x0 ?? initialParameters(parsed.model, shape, parsed.seed);
    const test = catalog.get(parsed.dataset).test;
    const e = evaluate(parsed.model, initial, test);
    const stored = await rounds.createJob(parsed, {
      parameterCount: parameterCount(parsed.model, shape),
      hash: await c.blobs.putFloat32(initial),
      metrics: { testAccuracy: e.accuracy, testLoss: e.loss, trainLoss: null },
    });
    return job(stored.id);
  };

  return { service, rounds, catalog, job, submitJob, ...c };
}

/** TasksService (task dispatch and retry) on fakes, with a real JobKindRegistry for the spec to register kinds in. */
export function newTasksService(env: Record<string, string> = {}) {
  const c = collaborators(env);
  const tasks = new FakeTasksRepository(c.world);
  const kinds = new JobKindRegistry();
  const service = new TasksService(
    fake<TasksRepository>(tasks),
    fake<JobsRepository>(c.jobs),
    kinds,
    fake<JobRunner>(c.runner),
    fake<AgentsRepository>(c.agents),
    c.agentsService,
    c.eligibility,
    fake<QueueService>(c.queue),
    c.control,
    c.metrics,
    c.config,
  );

  /** A running bilevel job (a task-driven kind) on the T1 test problem, `spec` added; the tasks service only needs its row. */
  const submitBilevelJob = (spec: Record<string, unknown> = {}) =>
    c.jobs.create({
      spec: CreateJobSchema.parse({ kind: 'bilevel', problem: { kind: 'test-case', name: 'T1' }, ...spec }),
      progressTotal: 1,
    });

  return { service, tasks, kinds, submitBilevelJob, ...c };
}
