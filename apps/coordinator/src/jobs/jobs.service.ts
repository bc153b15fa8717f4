import { Inject, Injectable } from '@nestjs/common';
import type { CreateJob, JobView, JobViewBase, ListJobsQuery } from '@flotilla/contracts';
import { EligibilityService } from '../agents/eligibility.service';
import { BLOB_STORE, BlobStore } from '../blobs/blob-store';
import { ConflictError, NotFoundError, ValidationError } from '../common/errors';
import { JobKindRegistry, type RegisteredKind } from './job-kind';
import { JobRunner } from './job-runner.service';
import { JobsRepository, type StoredJob } from './jobs.repository';

/** The jobs API for every kind: submit, list, view, cancel, download the model. The kind decides what each means. */
@Injectable()
export class JobsService {
  constructor(
    private readonly jobs: JobsRepository,
    private readonly kinds: JobKindRegistry,
    private readonly runner: JobRunner,
    private readonly eligibility: EligibilityService,
    @Inject(BLOB_STORE) private readonly blobs: BlobStore,
  ) {}

  async submit(spec: CreateJob): Promise<JobView> {
    const job = await this.kindOf(spec.kind).submit(spec);
    await this.runner.wake(job.id);
    return this.view(job);
  }

  async list(q: ListJobsQuery): Promise<JobView[]> {
    const jobs = await this.jobs.list(q.status, q.limit);
    return Promise.all(jobs.map((j) => this.view(j)));
  }

  async get(id: string): Promise<JobView> {
    return this.view(await this.require(id));
  }

  async cancel(id: string): Promise<JobView> {
    const job = await this.require(id);
    if (!(await this.jobs.cancel(id))) throw new ConflictError(`Job ${id} is already ${job.status}`);
    await this.kindOf(job.kind).onCancel(job);
    return this.get(id);
  }

  /** The job's current model as float32 bytes, with its hash and round. */
  async model(id: string): Promise<{ hash: string; bytes: Buffer; round: number }> {
    const job = await this.require(id);
    const m = await this.kindOf(job.kind).model(job);
    if (!m) throw new NotFoundError(`Job ${id} (${job.kind}) has no model to download${job.status === 'running' ? ' yet' : ''}`);
    return { hash: m.hash, bytes: await this.blobs.get(m.hash), round: m.round };
  }

  /** The job row, or 404 (kinds use it for their own endpoints). */
  async require(id: string): Promise<StoredJob> {
    const job = await this.jobs.findById(id);
    if (!job) throw new NotFoundError(`Job ${id} not found`);
    return job;
  }

  private kindOf(kind: string): RegisteredKind {
    const k = this.kinds.get(kind);
    if (!k) throw new ValidationError(`This coordinator has no '${kind}' job kind`);
    return k;
  }

  /**
   * The common fields, then the kind's. A running job also says how many online agents hold its data and how many
   * of them it may use (EligibilityService), and why it waits for agents when it does.
   */
  private async view(job: StoredJob): Promise<JobView> {
    const kind = this.kindOf(job.kind);
    const agents = job.status === 'running' ? await this.eligibility.count(kind.requirement(job.spec)) : null;
    const base: JobViewBase = {
      id: job.id,
      kind: job.kind,
      name: job.name,
      status: job.status,
      spec: job.spec,
      progress: { done: job.progressDone, total: job.progressTotal, unit: kind.progressUnit },
      error: job.error,
      result: job.result ?? null,
      agents,
      waiting: agents ? await kind.waiting(job, agents) : null,
      createdAt: job.createdAt.toISOString(),
      finishedAt: job.finishedAt?.toISOString() ?? null,
    };
    return kind.view(job, base);
  }
}
