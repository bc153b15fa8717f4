import { Injectable } from '@nestjs/common';
import type { CreateJob } from '@flotilla/contracts';
import type { Job } from '@prisma/client';
import type { TaskRow } from './tasks.repository';

/**
 * A job kind whose whole state the coordinator owns and advances through tasks (NAS, bilevel). The
 * contract that makes crashes and restarts safe: `advance` reads only persisted state, is idempotent (calling
 * it twice does nothing twice: tasks are dispatched by key), and is called whenever a task of the job finishes
 * or fails and once for every running job when the coordinator starts.
 */
export interface TaskJobRunner<K extends CreateJob['kind'] = CreateJob['kind']> {
  readonly kind: K;
  /** Validates what only the server can check (dataset exists, sizes fit), creates the job and its initial state. */
  submit(spec: Extract<CreateJob, { kind: K }>): Promise<Job>;
  /** Looks at the persisted state and does what comes next (dispatch tasks, take a step, finish the job). */
  advance(job: Job): Promise<void>;
  /**
   * Checks an agent's result for `task` (shape, lengths, finiteness) and returns what to store. Throwing an
   * `InvalidResultError` refuses the result: the agent is told why (422) and the task goes to another agent.
   */
  validateResult(task: TaskRow, result: unknown): unknown; // may return a Promise (e.g. to look up uploaded blobs)
  /** Kind-specific part of GET /jobs/:id (progress, result); null when there is nothing beyond the job row. */
  details?(job: Job): Promise<unknown>;
}

/** Thrown by a runner when its job cannot go on (a task failed on every agent, a step diverged): the job fails with this message. */
export class JobFailure extends Error {}

/** The task-driven runners by job kind. Runners register themselves at module init, which keeps the DI graph acyclic. */
@Injectable()
export class JobRunnerRegistry {
  private readonly runners = new Map<string, TaskJobRunner>();

  register(runner: TaskJobRunner): void {
    if (this.runners.has(runner.kind)) throw new Error(`a runner for '${runner.kind}' jobs is already registered`);
    this.runners.set(runner.kind, runner);
  }

  get(kind: string): TaskJobRunner | undefined {
    return this.runners.get(kind);
  }
}
