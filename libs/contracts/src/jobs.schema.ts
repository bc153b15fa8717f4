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

/** Online agents that hold a job's dataset, and those of them its placement (agentSelector, backend) admits. */
export interface AgentCensus {
  online: number;
  matching: number;
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
  /**
   * While the job runs: the online agents that hold its dataset (any online agent for a job without one), and how many
   * of them match its `agentSelector` and `backend` — the agents it may use. Null once it has ended.
   */
  agents: AgentCensus | null;
  /**
   * Why the job is not making progress now, when it waits for something outside it (e.g. "waiting for agents: 1 of 3
   * required agents online match {gpu: "true"} for dataset uci-digits (3 online for it in all)"); null while it runs a
   * round or has tasks computing, and once it has ended.
   */
  waiting: string | null;
  createdAt: string;
  finishedAt: string | null;
}

/** GET /jobs/:id: the common fields and the kind's own (discriminated by `kind`). */
export type JobView = FederatedJobView | BilevelJobView | NasJobView;
