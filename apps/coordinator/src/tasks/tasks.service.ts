import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  ControlJobName,
  type AgentTask,
  type ListTasksQuery,
  type TaskFailureBody,
  type TaskKind,
  type TaskRef,
  type TaskResultBody,
  type TaskView,
} from '@flotilla/contracts';
import type { Agent, Job, Task } from '@prisma/client';
import { AgentsRepository } from '../agents/agents.repository';
import { InvalidResultError, NotFoundError, TaskClosedError } from '../common/errors';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { MetricsRegistry } from '../health/metrics.registry';
import { JobsRepository } from '../jobs/jobs.repository';
import { QueueService } from '../queue/queue.service';
import { JobFailure, JobRunnerRegistry } from './job-runner';
import { TasksRepository, type TaskRow } from './tasks.repository';

/** How long a task with no free agent waits before looking again. */
const WAIT_FOR_AGENT_MS = 1000;

export interface TaskRequest {
  /** Unique within the job; dispatching an existing key does nothing (idempotent advance). */
  key: string;
  kind: TaskKind;
  /** JSON-safe; stored as JSON text, so its numbers come back exactly. */
  payload: unknown;
  /** Only agents holding this dataset may run it (null: any online agent). */
  dataset: string | null;
  /** Only agents whose copy of `dataset` has this sha256 (null: any copy). */
  dataHash?: string | null;
  /** After this long on one agent the task is reassigned. */
  timeoutMs: number;
}

/**
 * Dispatch, retry and completion of tasks for the task-driven job kinds. A task is assigned to the least busy
 * online agent that may run it, preferring agents that have not failed it; when that agent reports a failure,
 * sends an invalid result or misses the deadline, the task goes back to pending and to another agent, up to
 * TASK_MAX_ATTEMPTS assignments. Every finished or failed task wakes the job's runner (`job.advance`).
 */
@Injectable()
export class TasksService {
  private readonly logger = new Logger(TasksService.name);

  constructor(
    private readonly tasks: TasksRepository,
    private readonly jobs: JobsRepository,
    private readonly agents: AgentsRepository,
    private readonly queues: QueueService,
    private readonly runners: JobRunnerRegistry,
    private readonly metrics: MetricsRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** The control-queue handlers this service owns. */
  controlHandlers() {
    return {
      [ControlJobName.AdvanceJob]: (d: { jobId: string }) => this.advance(d.jobId),
      [ControlJobName.TaskTimeout]: (ref: TaskRef) => this.timeout(ref),
      [ControlJobName.AssignTask]: (ref: TaskRef) => this.assign(ref.taskId),
    };
  }

  /** After a restart: re-arm deadlines of running tasks, look for agents for pending ones, advance every task-driven job. */
  async resume(): Promise<void> {
    for (const t of await this.tasks.unfinished()) {
      const ref = { jobId: t.jobId, taskId: t.id, attempt: t.attempt };
      if (t.status === 'running') {
        await this.queues.scheduleControl({ name: ControlJobName.TaskTimeout, data: ref }, (t.deadlineAt?.getTime() ?? 0) - Date.now());
      } else {
        await this.queues.scheduleControl({ name: ControlJobName.AssignTask, data: ref }, 0, `resume${Date.now()}`);
      }
    }
    for (const job of await this.jobs.running()) if (this.runners.get(job.kind)) await this.wake(job.id);
  }

  /** Asks the job's runner to look at its state again (coalesced on the control queue, which runs one job at a time). */
  async wake(jobId: string): Promise<void> {
    await this.queues.scheduleControl(
      { name: ControlJobName.AdvanceJob, data: { jobId } },
      0,
      `${Date.now()}.${Math.random().toString(36).slice(2, 8)}`,
    );
  }

  /** Creates the tasks that do not exist yet and assigns the new ones. Returns every requested task's row. */
  async dispatch(jobId: string, requests: TaskRequest[]): Promise<TaskRow[]> {
    const out: TaskRow[] = [];
    for (const r of requests) {
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

  /** Tasks of the job by key (the runner's view of what exists and what is done). */
  async byKeys(jobId: string, keys: string[]): Promise<Map<string, TaskRow>> {
    return new Map((await this.tasks.byKeys(jobId, keys)).map((t) => [t.key, t]));
  }

  async assign(taskId: string): Promise<void> {
    const task = await this.tasks.find(taskId);
    if (!task || task.status !== 'pending') return;
    const job = await this.jobs.findById(task.jobId);
    if (!job || job.status !== 'running') return;
    const agent = await this.pickAgent(task);
    if (!agent) {
      await this.queues.scheduleControl(
        { name: ControlJobName.AssignTask, data: { jobId: task.jobId, taskId, attempt: task.attempt } },
        WAIT_FOR_AGENT_MS,
        `wait${Date.now()}`,
      );
      return;
    }
    const deadlineAt = new Date(Date.now() + task.timeoutMs);
    if (!(await this.tasks.assign(task.id, task.attempt, agent.id, deadlineAt))) return;
    const attempt = task.attempt + 1;
    const message: AgentTask = {
      taskId: task.id,
      jobId: task.jobId,
      kind: task.kind as TaskKind,
      attempt,
      deadline: deadlineAt.toISOString(),
      payload: task.payload,
    };
    await this.queues.enqueueTask(agent.id, message);
    await this.queues.scheduleControl({ name: ControlJobName.TaskTimeout, data: { jobId: task.jobId, taskId, attempt } }, task.timeoutMs);
    this.metrics.inc('flotilla_tasks_assigned_total');
  }

  /** The agent for a task among the online ones that hold its dataset (with the required content hash): {@link chooseAgent}. */
  private async pickAgent(task: TaskRow): Promise<Agent | undefined> {
    const since = new Date(Date.now() - this.config.AGENT_OFFLINE_AFTER_MS);
    const online = task.dataset ? await this.agents.online(task.dataset, since) : await this.agents.onlineAny(since);
    const fit = online.filter((a) => !task.dataHash || agentDataHash(a, task.dataset!) === task.dataHash);
    if (!fit.length) return undefined;
    return chooseAgent(fit, new Set(task.failedAgentIds), await this.tasks.runningCounts());
  }

  /** Online agents holding `dataset` (with this file sha256, when given). */
  async onlineAgents(dataset: string, dataHash?: string): Promise<Agent[]> {
    const online = await this.agents.online(dataset, new Date(Date.now() - this.config.AGENT_OFFLINE_AFTER_MS));
    return dataHash ? online.filter((a) => agentDataHash(a, dataset) === dataHash) : online;
  }

  /**
   * The sha256 that most online agents report for their copy of `dataset` (ties: the smaller hash), or undefined
   * when none is online. A job pins it so that every one of its tasks computes on the same rows.
   */
  async commonDataHash(dataset: string): Promise<string | undefined> {
    const counts = new Map<string, number>();
    for (const a of await this.onlineAgents(dataset)) {
      const h = agentDataHash(a, dataset);
      if (h) counts.set(h, (counts.get(h) ?? 0) + 1);
    }
    return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0];
  }

  /** An agent's result: validated by the job's runner, stored, and the runner woken. */
  async complete(agentId: string, taskId: string, body: TaskResultBody): Promise<{ status: 'accepted' }> {
    const { task, job } = await this.requireOpen(agentId, taskId);
    const runner = this.runners.get(job.kind);
    if (!runner) throw new TaskClosedError(`Job ${task.jobId} has no task runner`);
    let result: unknown;
    try {
      result = await runner.validateResult(task, body.result);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      this.metrics.inc('flotilla_task_results_rejected_total');
      if (task.status === 'running' && task.agentId === agentId)
        await this.release(task, `invalid result from agent ${agentId}: ${message}`);
      throw e instanceof InvalidResultError ? e : new InvalidResultError(message);
    }
    if (!(await this.tasks.complete(task.id, result, body.durationMs, agentId))) {
      throw new TaskClosedError(`Task ${taskId} is already finished`);
    }
    this.metrics.inc('flotilla_tasks_completed_total');
    if (task.agentId && task.agentId !== agentId) this.queues.removeTask(task.agentId, task.id, task.attempt).catch(() => undefined);
    await this.wake(task.jobId);
    return { status: 'accepted' };
  }

  /** The agent could not compute the task: it goes to another agent (or fails for good after TASK_MAX_ATTEMPTS). */
  async fail(agentId: string, taskId: string, body: TaskFailureBody): Promise<{ status: 'reassigned' | 'failed' | 'ignored' }> {
    const { task } = await this.requireOpen(agentId, taskId);
    if (task.status !== 'running' || task.agentId !== agentId) return { status: 'ignored' };
    return { status: await this.release(task, `agent ${agentId}: ${body.message}`) };
  }

  /** The deadline of (task, attempt) passed: if that attempt is still running, reassign. */
  async timeout(ref: TaskRef): Promise<void> {
    const task = await this.tasks.find(ref.taskId);
    if (!task || task.status !== 'running' || task.attempt !== ref.attempt) return;
    this.queues.removeTask(task.agentId!, task.id, task.attempt).catch(() => undefined);
    // The agent may have died: until it heartbeats again, other agents get tasks first (chooseAgent).
    await this.agents.markTaskTimeout(task.agentId!);
    await this.release(task, `timed out after ${task.timeoutMs} ms on agent ${task.agentId}`);
  }

  private async release(task: Omit<Task, 'payload' | 'result'>, error: string): Promise<'reassigned' | 'failed'> {
    const giveUp = task.attempt >= this.config.TASK_MAX_ATTEMPTS;
    if (!(await this.tasks.release(task.id, task.attempt, task.agentId!, error, giveUp))) return giveUp ? 'failed' : 'reassigned';
    this.metrics.inc('flotilla_task_retries_total');
    this.logger.warn(
      `task ${task.key} of job ${task.jobId} (attempt ${task.attempt}): ${error}${giveUp ? '; giving up' : '; reassigning'}`,
    );
    if (giveUp) await this.wake(task.jobId);
    else await this.assign(task.id);
    return giveUp ? 'failed' : 'reassigned';
  }

  private async requireOpen(agentId: string, taskId: string): Promise<{ task: TaskRow; job: Job }> {
    const task = await this.tasks.find(taskId);
    if (!task) throw new NotFoundError(`Task ${taskId} not found`);
    if (task.agentId !== agentId && !task.failedAgentIds.includes(agentId))
      throw new NotFoundError(`Task ${taskId} was never assigned to agent ${agentId}`);
    const job = await this.jobs.findById(task.jobId);
    if (!job || job.status !== 'running') throw new TaskClosedError(`Job ${task.jobId} is not running`);
    if (task.status === 'done' || task.status === 'failed') throw new TaskClosedError(`Task ${taskId} is already ${task.status}`);
    return { task, job };
  }

  /** job.advance: the runner takes its next step; a JobFailure fails the job with its message. */
  async advance(jobId: string): Promise<void> {
    const job = await this.jobs.findById(jobId);
    if (!job || job.status !== 'running') return;
    const runner = this.runners.get(job.kind);
    if (!runner) return;
    try {
      await runner.advance(job);
    } catch (e) {
      if (!(e instanceof JobFailure)) throw e;
      this.logger.error(`job ${jobId} failed: ${e.message}`);
      await this.jobs.fail(jobId, e.message);
    }
  }

  async list(jobId: string, q: ListTasksQuery): Promise<TaskView[]> {
    return (await this.tasks.list(jobId, q.status, q.limit)).map(taskView);
  }
}

/** The sha256 an agent reported for its copy of `dataset`, if any. */
/**
 * Which of `candidates` (online agents that may run the task, in a stable order) gets it, in order of preference:
 * 1. agents that have not failed this task (those that did are used only when no other agent is online, so a
 *    single-agent deployment still makes progress after a crash);
 * 2. agents not suspect: a task timed out on a suspect agent and it has not heartbeated since, so it may have died
 *    (otherwise a dead agent would be handed task after task, each lost for a timeout, until it counts as offline);
 * 3. the least busy (fewest running tasks, `load`);
 * 4. the earlier in `candidates`.
 */
export function chooseAgent(
  candidates: readonly Agent[],
  failed: ReadonlySet<string>,
  load: ReadonlyMap<string, number>,
): Agent | undefined {
  const suspect = (a: Agent): boolean =>
    a.lastTaskTimeoutAt !== null && (a.lastHeartbeatAt === null || a.lastHeartbeatAt.getTime() <= a.lastTaskTimeoutAt.getTime());
  const key = (a: Agent, order: number): number[] => [failed.has(a.id) ? 1 : 0, suspect(a) ? 1 : 0, load.get(a.id) ?? 0, order];
  const before = (x: number[], y: number[]): boolean => {
    const i = x.findIndex((v, j) => v !== y[j]);
    return i >= 0 && x[i] < y[i];
  };
  let best: { a: Agent; k: number[] } | undefined;
  candidates.forEach((a, order) => {
    const k = key(a, order);
    if (!best || before(k, best.k)) best = { a, k };
  });
  return best?.a;
}

export function agentDataHash(agent: Agent, dataset: string): string | undefined {
  const hashes = agent.datasetHashes as Record<string, string> | null;
  return hashes?.[dataset];
}

export function taskView(t: Omit<Task, 'payload' | 'result'>): TaskView {
  return {
    id: t.id,
    key: t.key,
    kind: t.kind as TaskKind,
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
