import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import {
  ControlJobName,
  describeIssues,
  taskContract,
  type AgentTask,
  type ListTasksQuery,
  type TaskContract,
  type TaskFailureBody,
  type TaskRef,
  type TaskResultBody,
  type Placement,
  type TaskView,
} from '@flotilla/contracts';
import type { Agent, Task } from '@prisma/client';
import type { z } from 'zod';
import { AgentsRepository } from '../agents/agents.repository';
import { AgentsService, type AgentGone } from '../agents/agents.service';
import { agentDataHash, EligibilityService } from '../agents/eligibility.service';
import { InvalidResultError, NotFoundError, TaskClosedError } from '../common/errors';
import { MetricsRegistry } from '../common/metrics.registry';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { ControlService, type ReconcileContext } from '../control/control.service';
import { JobKindRegistry, type RegisteredKind } from '../jobs/job-kind';
import { JobRunner } from '../jobs/job-runner.service';
import { JobsRepository, type StoredJob } from '../jobs/jobs.repository';
import { QueueService } from '../queue/queue.service';
import { chooseAgent } from './choose-agent';
import { TasksRepository, type TaskRow } from './tasks.repository';

/** How long a task with no free agent waits before looking again. */
const WAIT_FOR_AGENT_MS = 1000;

/** One task a job kind wants computed (build it with {@link taskRequest}, which checks the payload's type). */
export interface TaskRequest {
  /** Unique within the job; dispatching an existing key does nothing (idempotent advance). */
  key: string;
  /** The task kind (its contract's name) and the contract's payload schema. */
  kind: string;
  schema: z.ZodType;
  /** JSON-safe; checked against the payload schema and stored as JSON text, so its numbers come back exactly. */
  payload: unknown;
  /** Only agents holding this dataset may run it (null: any online agent). */
  dataset: string | null;
  /** Only agents whose copy of `dataset` has this sha256 (null: any copy). */
  dataHash?: string | null;
  /** After this long on one agent the task is reassigned. */
  timeoutMs: number;
}

/** A task request whose payload has its contract's payload type. */
export function taskRequest<P>(
  contract: TaskContract<string, P, unknown>,
  payload: P,
  rest: Omit<TaskRequest, 'kind' | 'schema' | 'payload'>,
): TaskRequest {
  return { kind: contract.kind, schema: contract.payload, payload, ...rest };
}

/** A task's payload, parsed with its contract (the kind of the row must be the contract's). */
export function taskPayload<P>(task: TaskRow, contract: TaskContract<string, P, unknown>): P {
  if (task.kind !== contract.kind) throw new Error(`task ${task.id} is a ${task.kind} task, not ${contract.kind}`);
  return contract.payload.parse(task.payload);
}

/** A done task's result, parsed with its contract. */
export function taskResult<P, R>(task: TaskRow, contract: TaskContract<string, P, R>): R {
  if (task.status !== 'done') throw new Error(`task ${task.id} (${task.key}) is ${task.status}, it has no result`);
  return contract.result(taskPayload(task, contract)).parse(task.result);
}

/**
 * What an agent's result for `task` is worth storing: parsed with its task kind's contract, then checked by the
 * job's kind (e.g. that the blobs it names were uploaded). Throws an InvalidResultError that says what is wrong.
 */
export async function validateTaskResult(
  task: { kind: string; payload: unknown },
  raw: unknown,
  kind?: Pick<RegisteredKind, 'checkTaskResult'>,
): Promise<unknown> {
  const contract = taskContract(task.kind);
  if (!contract) throw new InvalidResultError(`no contract for task kind '${task.kind}'`);
  const payload = contract.payload.parse(task.payload);
  const parsed = contract.result(payload).safeParse(raw);
  if (!parsed.success) throw new InvalidResultError(`${task.kind} result: ${describeIssues(parsed.error)}`);
  await kind?.checkTaskResult({ kind: task.kind, payload }, parsed.data);
  return parsed.data;
}

/**
 * Dispatch, retry and completion of tasks for the task-driven job kinds. A task is assigned to the least busy
 * online agent that may run it, preferring agents that have not failed it; when that agent reports a failure,
 * sends an invalid result or misses the deadline, the task goes back to pending and to another agent, up to
 * TASK_MAX_ATTEMPTS assignments. Every finished or failed task wakes its job.
 */
@Injectable()
export class TasksService implements OnModuleInit {
  private readonly logger = new Logger(TasksService.name);

  constructor(
    private readonly tasks: TasksRepository,
    private readonly jobs: JobsRepository,
    private readonly kinds: JobKindRegistry,
    private readonly runner: JobRunner,
    private readonly agents: AgentsRepository,
    private readonly agentsService: AgentsService,
    private readonly eligibility: EligibilityService,
    private readonly queues: QueueService,
    private readonly control: ControlService,
    private readonly metrics: MetricsRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    this.control.handle(ControlJobName.TaskTimeout, (ref) => this.timeout(ref));
    this.control.handle(ControlJobName.AssignTask, (ref) => this.assign(ref.taskId));
    this.control.onReconcile('task deadlines and assignments', (ctx) => this.reconcile(ctx));
    this.agentsService.onGone('tasks', (agentId, why) => this.releaseAgent(agentId, why));
  }

  /** A revoked or departed agent's running tasks go to other agents at once (it does not count as a failure of theirs). */
  async releaseAgent(agentId: string, why: AgentGone = 'revoked'): Promise<void> {
    const what = why === 'revoked' ? 'was revoked' : 'left';
    for (const task of await this.tasks.runningOn(agentId)) await this.release(task, `agent ${agentId} ${what}`);
  }

  /**
   * What the database says must be scheduled for unfinished tasks, re-armed where Redis lacks it: the deadline of each
   * running attempt, a look for an agent for each pending task and, when Redis may have lost data, the running
   * attempt's work item on its agent's queue. All keyed by (task, attempt), so re-arming what exists does nothing.
   */
  async reconcile(ctx: ReconcileContext = { redisMayHaveLost: true }): Promise<void> {
    for (const t of await this.tasks.unfinished()) {
      const ref = { jobId: t.jobId, taskId: t.id, attempt: t.attempt };
      if (t.status === 'running') {
        if (ctx.redisMayHaveLost && t.agentId && t.deadlineAt) await this.restoreWork(t, t.agentId, t.deadlineAt);
        await this.queues.scheduleControl({ name: ControlJobName.TaskTimeout, data: ref }, (t.deadlineAt?.getTime() ?? 0) - Date.now());
      } else {
        await this.queues.retryAssign(ref, 0);
      }
    }
  }

  /** The running attempt's work item, put back on its agent's queue if it is not there (and not past its deadline). */
  private async restoreWork(t: { id: string }, agentId: string, deadlineAt: Date): Promise<void> {
    if (deadlineAt.getTime() <= Date.now()) return;
    const task = await this.tasks.find(t.id);
    if (!task || task.status !== 'running' || task.agentId !== agentId) return;
    const restored = await this.queues.ensureTask(agentId, {
      taskId: task.id,
      jobId: task.jobId,
      kind: task.kind,
      attempt: task.attempt,
      deadline: deadlineAt.toISOString(),
      payload: task.payload,
    });
    if (restored) this.logger.warn(`task ${task.key} of job ${task.jobId} (attempt ${task.attempt}): its work item was lost, put back`);
  }

  /** Creates the tasks that do not exist yet and assigns the new ones. Returns every requested task's row. */
  async dispatch(jobId: string, requests: TaskRequest[]): Promise<TaskRow[]> {
    const out: TaskRow[] = [];
    for (const r of requests) {
      const payload = r.schema.safeParse(r.payload);
      if (!payload.success)
        throw new Error(`${r.kind} task ${r.key}: its payload does not match its contract (${describeIssues(payload.error)})`);
      const task = await this.tasks.create({
        jobId,
        key: r.key,
        kind: r.kind,
        payload: r.payload,
        dataset: r.dataset,
        dataHash: r.dataHash ?? null,
        timeoutMs: r.timeoutMs,
      });
      if (task.status === 'pending' && task.attempt === 0) await this.assign(task.id);
      out.push(task);
    }
    return out;
  }

  /** Tasks of the job by key (the kind's view of what exists and what is done). */
  async byKeys(jobId: string, keys: string[]): Promise<Map<string, TaskRow>> {
    return new Map((await this.tasks.byKeys(jobId, keys)).map((t) => [t.key, t]));
  }

  async assign(taskId: string): Promise<void> {
    const task = await this.tasks.find(taskId);
    if (!task || task.status !== 'pending') return;
    const job = await this.jobs.findById(task.jobId);
    if (!job || job.status !== 'running') return;
    const agent = await this.pickAgent(task, job.spec);
    if (!agent) {
      // One look-again per task attempt at a time, however often it is asked for.
      await this.queues.retryAssign({ jobId: task.jobId, taskId, attempt: task.attempt }, WAIT_FOR_AGENT_MS);
      return;
    }
    const deadlineAt = new Date(Date.now() + task.timeoutMs);
    if (!(await this.tasks.assign(task.id, task.attempt, agent.id, deadlineAt))) return;
    const attempt = task.attempt + 1;
    const message: AgentTask = {
      taskId: task.id,
      jobId: task.jobId,
      kind: task.kind,
      attempt,
      deadline: deadlineAt.toISOString(),
      payload: task.payload,
    };
    await this.queues.enqueueTask(agent.id, message);
    await this.queues.scheduleControl({ name: ControlJobName.TaskTimeout, data: { jobId: task.jobId, taskId, attempt } }, task.timeoutMs);
    this.metrics.inc('flotilla_tasks_assigned_total');
  }

  /**
   * The agent for a task among the eligible ones (EligibilityService: online, holding its dataset with the required
   * content hash, matching its job's agentSelector and backend): {@link chooseAgent}.
   */
  private async pickAgent(task: TaskRow, placement: Placement): Promise<Agent | undefined> {
    const fit = await this.eligibility.eligible({ dataset: task.dataset, dataHash: task.dataHash, placement });
    if (!fit.length) return undefined;
    return chooseAgent(fit, new Set(task.failedAgentIds), await this.tasks.runningCounts());
  }

  /** The agents a job with this placement may use now that hold `dataset` (with this file sha256, when given). */
  async eligibleAgents(placement: Placement, dataset: string, dataHash?: string): Promise<Agent[]> {
    return this.eligibility.eligible({ dataset, dataHash, placement });
  }

  /**
   * The sha256 that most of the agents a job with this placement may use report for their copy of `dataset` (ties: the
   * smaller hash), or undefined when none is online. A job pins it so that every one of its tasks computes on the
   * same rows.
   */
  async commonDataHash(placement: Placement, dataset: string): Promise<string | undefined> {
    const counts = new Map<string, number>();
    for (const a of await this.eligibleAgents(placement, dataset)) {
      const h = agentDataHash(a, dataset);
      if (h) counts.set(h, (counts.get(h) ?? 0) + 1);
    }
    return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0];
  }

  /** An agent's result: checked against its task kind's contract and by the job's kind, stored, and the job woken. */
  async complete(agentId: string, taskId: string, body: TaskResultBody): Promise<{ status: 'accepted' }> {
    const task = await this.assigned(agentId, taskId);
    // This agent's result was taken and the answer lost: the retry gets the first answer.
    if (task.status === 'done' && task.agentId === agentId) return this.repeated({ status: 'accepted' });
    const job = await this.requireOpen(task);
    let result: unknown;
    try {
      result = await this.checkResult(task, job, body.result);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      this.metrics.inc('flotilla_task_results_rejected_total');
      await this.queues.removeTask(agentId, task.id, task.attempt);
      // Kept on the agent like a failure it reports: an operator sees that its results are refused, and why.
      await this.agents.recordError(agentId, `task ${task.kind} ${task.id} of job ${task.jobId}: result refused: ${message}`);
      if (task.status === 'running' && task.agentId === agentId)
        await this.release(task, `invalid result from agent ${agentId}: ${message}`);
      throw e instanceof InvalidResultError ? e : new InvalidResultError(message);
    }
    if (!(await this.tasks.complete(task.id, result, body.durationMs, agentId))) {
      // The same result raced in on two connections: the other request stored it.
      const now = await this.tasks.find(task.id);
      if (now?.status === 'done' && now.agentId === agentId) return this.repeated({ status: 'accepted' });
      throw new TaskClosedError(`Task ${taskId} is already finished`);
    }
    this.metrics.inc('flotilla_tasks_completed_total');
    // Answered: no agent gets this task again (the current assignee, if another agent answered first).
    await this.queues.removeTask(agentId, task.id, task.attempt);
    if (task.agentId && task.agentId !== agentId) await this.queues.removeTask(task.agentId, task.id, task.attempt);
    await this.runner.wake(task.jobId);
    return { status: 'accepted' };
  }

  private checkResult(task: TaskRow, job: StoredJob, raw: unknown): Promise<unknown> {
    return validateTaskResult(task, raw, this.kinds.get(job.kind));
  }

  /** The agent could not compute the task: it goes to another agent (or fails for good after TASK_MAX_ATTEMPTS). */
  async fail(agentId: string, taskId: string, body: TaskFailureBody): Promise<{ status: 'reassigned' | 'failed' | 'ignored' }> {
    const task = await this.assigned(agentId, taskId);
    if (task.failedAgentIds.includes(agentId) && !(task.status === 'running' && task.agentId === agentId)) {
      // This agent's attempt ended already (a retry after a lost response, or a report after its timeout): the answer
      // it got or would have got, whatever happened to the task since.
      return this.repeated({ status: task.status === 'failed' && task.failedAgentIds.at(-1) === agentId ? 'failed' : 'reassigned' });
    }
    await this.requireOpen(task);
    await this.queues.removeTask(agentId, task.id, task.attempt);
    // Kept on the agent whatever becomes of the task: an operator sees why an agent fails its tasks.
    await this.agents.recordError(agentId, `task ${task.kind} ${task.id} of job ${task.jobId}: ${body.message}`);
    if (task.status !== 'running' || task.agentId !== agentId) return { status: 'ignored' };
    return { status: await this.release(task, `agent ${agentId}: ${body.message}`) };
  }

  /** The deadline of (task, attempt) passed: if that attempt is still running, reassign. */
  async timeout(ref: TaskRef): Promise<void> {
    const task = await this.tasks.find(ref.taskId);
    if (!task || task.status !== 'running' || task.attempt !== ref.attempt) return;
    await this.queues.removeTask(task.agentId!, task.id, task.attempt);
    if ((await this.release(task, `timed out after ${task.timeoutMs} ms on agent ${task.agentId}`)) === 'ignored') return;
    // The agent may have died: until it heartbeats again, other agents get tasks first (chooseAgent).
    await this.agents.markTaskTimeout(task.agentId!);
  }

  /** The attempt ends: the task is assigned again, or fails for good; 'ignored' when the attempt had ended already. */
  private async release(task: Omit<Task, 'payload' | 'result'>, error: string): Promise<'reassigned' | 'failed' | 'ignored'> {
    const giveUp = task.attempt >= this.config.TASK_MAX_ATTEMPTS;
    if (!(await this.tasks.release(task.id, task.attempt, task.agentId!, error, giveUp))) return 'ignored';
    this.metrics.inc('flotilla_task_retries_total');
    this.logger.warn(
      `task ${task.key} of job ${task.jobId} (attempt ${task.attempt}): ${error}${giveUp ? '; giving up' : '; reassigning'}`,
    );
    if (giveUp) await this.runner.wake(task.jobId);
    else await this.assign(task.id);
    return giveUp ? 'failed' : 'reassigned';
  }

  /** The task, if it was ever assigned to this agent (404 otherwise: another agent's task is none of its business). */
  private async assigned(agentId: string, taskId: string): Promise<TaskRow> {
    const task = await this.tasks.find(taskId);
    if (!task) throw new NotFoundError(`Task ${taskId} not found`);
    if (task.agentId !== agentId && !task.failedAgentIds.includes(agentId))
      throw new NotFoundError(`Task ${taskId} was never assigned to agent ${agentId}`);
    return task;
  }

  /** The task's job, while the job runs and the task is open (409 otherwise). */
  private async requireOpen(task: TaskRow): Promise<StoredJob> {
    const job = await this.jobs.findById(task.jobId);
    if (!job || job.status !== 'running') throw new TaskClosedError(`Job ${task.jobId} is not running`);
    if (task.status === 'done' || task.status === 'failed') throw new TaskClosedError(`Task ${task.id} is already ${task.status}`);
    return job;
  }

  /** The first answer again, for an agent that retried after the answer was lost. */
  private repeated<T>(answer: T): T {
    this.metrics.inc('flotilla_answers_repeated_total');
    return answer;
  }

  async list(jobId: string, q: ListTasksQuery): Promise<TaskView[]> {
    return (await this.tasks.list(jobId, q.status, q.limit)).map(taskView);
  }
}

export function taskView(t: Omit<Task, 'payload' | 'result'>): TaskView {
  return {
    id: t.id,
    key: t.key,
    kind: t.kind,
    status: t.status,
    agentId: t.agentId,
    attempt: t.attempt,
    failedAgentIds: t.failedAgentIds,
    error: t.error,
    createdAt: t.createdAt.toISOString(),
    assignedAt: t.assignedAt?.toISOString() ?? null,
    finishedAt: t.finishedAt?.toISOString() ?? null,
    durationMs: t.durationMs,
  };
}
