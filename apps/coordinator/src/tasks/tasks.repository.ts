import { Injectable } from '@nestjs/common';
import { Prisma, type Task, type TaskStatus } from '@prisma/client';
import { PrismaService } from '../database/prisma.service';

/** A task with its payload and result parsed (they are stored as JSON text so that floats round-trip exactly). */
export type TaskRow = Omit<Task, 'payload' | 'result'> & { payload: unknown; result: unknown };

function row(t: Task): TaskRow {
  return { ...t, payload: JSON.parse(t.payload) as unknown, result: t.result === null ? null : (JSON.parse(t.result) as unknown) };
}

export interface NewTask {
  jobId: string;
  key: string;
  kind: string;
  payload: unknown;
  dataset: string | null;
  dataHash: string | null;
  timeoutMs: number;
}

@Injectable()
export class TasksRepository {
  constructor(private readonly prisma: PrismaService) {}

  /** Inserts the task unless (job, key) exists; returns the stored row either way. */
  async create(data: NewTask): Promise<TaskRow> {
    try {
      return row(await this.prisma.task.create({ data: { ...data, payload: JSON.stringify(data.payload) } }));
    } catch (e) {
      if (e instanceof Prisma.PrismaClientKnownRequestError && e.code === 'P2002') {
        return row((await this.prisma.task.findUnique({ where: { jobId_key: { jobId: data.jobId, key: data.key } } }))!);
      }
      throw e;
    }
  }

  async find(id: string): Promise<TaskRow | null> {
    const t = await this.prisma.task.findUnique({ where: { id } });
    return t && row(t);
  }

  async byKeys(jobId: string, keys: string[]): Promise<TaskRow[]> {
    return (await this.prisma.task.findMany({ where: { jobId, key: { in: keys } } })).map(row);
  }

  /** Without payloads and results (a listing for operators). */
  list(jobId: string, status: TaskStatus | undefined, limit: number): Promise<Omit<Task, 'payload' | 'result'>[]> {
    return this.prisma.task.findMany({
      where: { jobId, ...(status ? { status } : {}) },
      orderBy: [{ createdAt: 'asc' }, { key: 'asc' }],
      take: limit,
      omit: { payload: true, result: true },
    });
  }

  /** Tasks a previous coordinator process left pending or running. */
  unfinished(): Promise<Omit<Task, 'payload' | 'result'>[]> {
    return this.prisma.task.findMany({
      where: { status: { in: ['pending', 'running'] }, job: { status: 'running' } },
      omit: { payload: true, result: true },
    });
  }

  /** Tasks running on an agent (of running jobs). */
  runningOn(agentId: string): Promise<Omit<Task, 'payload' | 'result'>[]> {
    return this.prisma.task.findMany({
      where: { agentId, status: 'running', job: { status: 'running' } },
      omit: { payload: true, result: true },
    });
  }

  /** Running tasks per agent (how busy each agent is). */
  async runningCounts(): Promise<Map<string, number>> {
    const rows = await this.prisma.task.groupBy({
      by: ['agentId'],
      where: { status: 'running', job: { status: 'running' } },
      _count: { _all: true },
    });
    return new Map(rows.filter((r) => r.agentId).map((r) => [r.agentId!, r._count._all]));
  }

  /** pending → running on `agentId`, only if the task is still pending at `attempt` (compare-and-set). */
  async assign(id: string, attempt: number, agentId: string, deadlineAt: Date): Promise<boolean> {
    const r = await this.prisma.task.updateMany({
      where: { id, status: 'pending', attempt },
      data: { status: 'running', agentId, attempt: attempt + 1, deadlineAt, assignedAt: new Date() },
    });
    return r.count === 1;
  }

  /** running at `attempt` → pending again, remembering the agent that failed it; or → failed when `giveUp`. */
  async release(id: string, attempt: number, agentId: string, error: string, giveUp: boolean): Promise<boolean> {
    const r = await this.prisma.task.updateMany({
      where: { id, status: 'running', attempt },
      data: giveUp
        ? { status: 'failed', error, finishedAt: new Date(), failedAgentIds: { push: agentId } }
        : { status: 'pending', error, agentId: null, deadlineAt: null, failedAgentIds: { push: agentId } },
    });
    return r.count === 1;
  }

  /** pending/running → done with the result; false when it was already done or failed. */
  async complete(id: string, result: unknown, durationMs: number, agentId: string): Promise<boolean> {
    const r = await this.prisma.task.updateMany({
      where: { id, status: { in: ['pending', 'running'] } },
      data: { status: 'done', result: JSON.stringify(result), durationMs, agentId, finishedAt: new Date(), error: null },
    });
    return r.count === 1;
  }
}
