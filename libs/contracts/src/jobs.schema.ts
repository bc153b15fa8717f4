import { z } from 'zod';
import { CreateBilevelJobSchema, type BilevelJobView } from './kinds/bilevel';
import { CreateFederatedJobSchema, type FederatedJobView } from './kinds/federated';
import { CreateNasJobSchema, type NasJobView } from './kinds/nas';

export const JOB_STATUSES = ['running', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** One discriminated union: each job kind is a member (its schema lives in ./kinds/<kind>.ts). */
export const CreateJobSchema = z.discriminatedUnion('kind', [CreateFederatedJobSchema, CreateBilevelJobSchema, CreateNasJobSchema]);
export type CreateJob = z.infer<typeof CreateJobSchema>;
export type JobKindName = CreateJob['kind'];
/** The spec of one kind of job. */
export type JobSpec<K extends JobKindName> = Extract<CreateJob, { kind: K }>;

export const ListJobsQuerySchema = z.strictObject({
  status: z.enum(JOB_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});
export type ListJobsQuery = z.infer<typeof ListJobsQuerySchema>;

/** How far a job is, in its kind's unit: rounds (federated), outer iterations (bilevel), stages of the tree (NAS). */
export interface JobProgress {
  done: number;
  total: number;
  unit: 'rounds' | 'iterations' | 'stages';
}

/** What GET /jobs/:id says about every job, whatever its kind. */
export interface JobViewBase {
  id: string;
  kind: JobKindName;
  name: string | null;
  status: JobStatus;
  spec: CreateJob;
  progress: JobProgress;
  error: string | null;
  /** Final result of a NAS or bilevel job (null for federated jobs and while running). */
  result: unknown;
  createdAt: string;
  finishedAt: string | null;
}

/** GET /jobs/:id: the common fields and the kind's own (discriminated by `kind`). */
export type JobView = FederatedJobView | BilevelJobView | NasJobView;
