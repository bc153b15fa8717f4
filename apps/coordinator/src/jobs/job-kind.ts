import { Injectable } from '@nestjs/common';
import type { AgentCensus, CreateJob, JobKindName, JobProgress, JobSpec, JobView, JobViewBase } from '@flotilla/contracts';
import { waitingForAgents, type AgentRequirement } from '../agents/eligibility.service';
import type { StoredJob } from './jobs.repository';

/** A job of kind K: its spec has that kind's type. */
export type JobOf<K extends JobKindName> = StoredJob & { kind: K; spec: JobSpec<K> };

/** The view a kind adds to: the common fields, with the spec of the kind. */
export type BaseViewOf<K extends JobKindName> = JobViewBase & { kind: K; spec: JobSpec<K> };

/** A model a job offers for download (GET /jobs/:id/model): a float32 blob and the round it belongs to. */
export interface ModelRef {
  hash: string;
  /** The round (federated) after which this is the model; -1 for an initial model. */
  round: number;
}

/**
 * One kind of job (federated, nas, bilevel): the seam between the generic job machinery (JobsService, the control
 * queue, tasks) and what the kind computes. A kind is a Nest module that registers its JobKind with the
 * {@link JobKindRegistry} at start-up; nothing outside the module branches on its name.
 *
 * The contract that makes crashes and restarts safe: `advance` reads only persisted state and is idempotent
 * (calling it twice does nothing twice: tasks are dispatched by key, rounds opened by index, every state change is
 * a compare-and-set). It runs after submission, whenever something the job waits for happens (a task finished, a
 * round closed), when the coordinator starts, and whenever the kind asks for it again later (`JobRunner.wakeLater`).
 */
export interface JobKind<K extends JobKindName = JobKindName> {
  readonly kind: K;
  /** What `progress` counts for this kind. */
  readonly progressUnit: JobProgress['unit'];
  /**
   * Validates what only the server can check (the dataset exists, sizes fit), then writes the job row and the kind's
   * initial state in one transaction (JobsRepository.create with the transaction). The job is advanced afterwards.
   */
  submit(spec: JobSpec<K>): Promise<StoredJob>;
  /**
   * The dataset an agent must hold to compute for a job of this spec (null: any agent may). With the spec's
   * agentSelector and backend it makes the job's {@link AgentRequirement} (EligibilityService decides who meets it).
   */
  agentDataset(spec: JobSpec<K>): string | null;
  /** Looks at the persisted state and does what comes next; throw a {@link JobFailure} to fail the job. */
  advance(job: JobOf<K>): Promise<void>;
  /** The job was cancelled (its row already says so): release what it holds, e.g. close its open round. */
  onCancel?(job: JobOf<K>): Promise<void>;
  /**
   * Why the running job waits for agents, given the online agents holding its data and how many of them match
   * (`agents`), or null when it does not. Without it: a job waits when no agent matches (every task needs one).
   */
  waiting?(job: JobOf<K>, agents: AgentCensus, requirement: AgentRequirement): Promise<string | null>;
  /** GET /jobs/:id: the common fields and the kind's own. */
  view(job: JobOf<K>, base: BaseViewOf<K>): Promise<Extract<JobView, { kind: K }>>;
  /** The model GET /jobs/:id/model serves, or null when the job has none (yet). */
  model?(job: JobOf<K>): Promise<ModelRef | null>;
  /**
   * Checks a task result beyond its contract's schema, which it has passed already (e.g. that the blobs it names
   * were uploaded with the right length). Throw an InvalidResultError to refuse it: the task goes to another agent.
   */
  checkTaskResult?(task: { kind: string; payload: unknown }, result: unknown): Promise<void>;
}

/** Thrown by a kind when its job cannot go on (a task failed on every agent, a step diverged): the job fails with this message. */
export class JobFailure extends Error {}

export function isJobOf<K extends JobKindName>(job: StoredJob, kind: K): job is JobOf<K> {
  return job.kind === kind && job.spec.kind === kind;
}

function isSpecOf<K extends JobKindName>(spec: CreateJob, kind: K): spec is JobSpec<K> {
  return spec.kind === kind;
}

/** The kind of a job, with its methods taking any job (checked against the kind once, here). */
export interface RegisteredKind {
  readonly kind: JobKindName;
  readonly progressUnit: JobProgress['unit'];
  submit(spec: CreateJob): Promise<StoredJob>;
  /** The job's {@link AgentRequirement}: its kind's dataset and the spec's placement. */
  requirement(spec: CreateJob): AgentRequirement;
  waiting(job: StoredJob, agents: AgentCensus): Promise<string | null>;
  advance(job: StoredJob): Promise<void>;
  onCancel(job: StoredJob): Promise<void>;
  view(job: StoredJob, base: JobViewBase): Promise<JobView>;
  model(job: StoredJob): Promise<ModelRef | null>;
  checkTaskResult(task: { kind: string; payload: unknown }, result: unknown): Promise<void>;
}

/** The job kinds this coordinator runs. Each kind's module registers its JobKind at init, which keeps the DI graph acyclic. */
@Injectable()
export class JobKindRegistry {
  private readonly kinds = new Map<string, RegisteredKind>();

  register<K extends JobKindName>(k: JobKind<K>): void {
    if (this.kinds.has(k.kind)) throw new Error(`job kind '${k.kind}' is registered twice`);
    const own = (job: StoredJob): JobOf<K> => {
      if (!isJobOf(job, k.kind)) throw new Error(`job ${job.id} is a ${job.kind} job, not ${k.kind}`);
      return job;
    };
    const ownSpec = (spec: CreateJob): JobSpec<K> => {
      if (!isSpecOf(spec, k.kind)) throw new Error(`a ${spec.kind} spec was given to the ${k.kind} kind`);
      return spec;
    };
    const requirement = (spec: JobSpec<K>): AgentRequirement => ({
      dataset: k.agentDataset(spec),
      placement: { agentSelector: spec.agentSelector, backend: spec.backend },
    });
    this.kinds.set(k.kind, {
      kind: k.kind,
      progressUnit: k.progressUnit,
      submit: (spec) => k.submit(ownSpec(spec)),
      requirement: (spec) => requirement(ownSpec(spec)),
      waiting: async (job, agents) => {
        const j = own(job);
        if (k.waiting) return k.waiting(j, agents, requirement(j.spec));
        return agents.matching > 0 ? null : waitingForAgents(requirement(j.spec), agents, 1);
      },
      advance: (job) => k.advance(own(job)),
      onCancel: async (job) => k.onCancel?.(own(job)),
      view: (job, base) => {
        const j = own(job);
        return k.view(j, { ...base, kind: k.kind, spec: j.spec });
      },
      model: async (job) => (k.model ? k.model(own(job)) : null),
      checkTaskResult: async (task, result) => k.checkTaskResult?.(task, result),
    });
  }

  get(kind: string): RegisteredKind | undefined {
    return this.kinds.get(kind);
  }

  names(): string[] {
    return [...this.kinds.keys()];
  }
}
