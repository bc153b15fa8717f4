import { Injectable } from '@nestjs/common';
import { Prisma, type Task, type TaskStatus } from '@prisma/client';
import { PrismaService } from '../database/prisma.service';

export interface NewTask {
  jobId: string;
  key: string;
  kind: string;
  payload: Prisma.InputJsonValue;
  dataset: string | null;
  dataHash: string | null;
  timeoutMs: number;
}

@Injectable()
export class TasksRepository {
  constructor(private readonly prisma: PrismaService) {}

  /** Inserts the task unless (job, key) exists; returns the stored row either way. */
  async create(data: NewTask): Promise<Task> {
    try {
      return await this.prisma.task.create({ data });
    } catch (e) {
      if (e instanceof Prisma.PrismaClientKnownRequestError && e.code === 'P2002') {
        return (await this.prisma.task.findUnique({ where: { jobId_key: { jobId: data.jobId, key: data.key } } }))!;
      }
      throw e;
    }
  }

  find(id: string): Promise<Task | null> {
    return this.prisma.task.findUnique({ where: { id } });
  }

  byKeys(jobId: string, keys: string[]): Promise<Task[]> {
    return this.prisma.task.findMany({ where: { jobId, key: { in: keys } } });
  }

  list(jobId: string, status: TaskStatus | undefined, limit: number): Promise<Task[]> {
    return this.prisma.task.findMany({ where: { jobId, ...(status ? { status } : {}) }, orderBy: { createdAt: 'asc' }, take: limit });
  }

  /** Tasks a previous coordinator process left pending or running. */
  unfinished(): Promise<Task[]> {
    return this.prisma.task.findMany({ where: { status: { in: ['pending', 'running'] }, job: { status: 'running' } } });
  }

  /** Running tasks per agent (how busy each agent is). */
  async runningCounts(): Promise<Map<string, number>> {
    const rows = await this.prisma.task.groupBy({ by: ['agentId'], where: { status: 'running', job: { status: 'running' } }, _count: { _all: true } });
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
  async complete(id: string, result: Prisma.InputJsonValue, durationMs: number, agentId: string): Promise<boolean> {
    const r = await this.prisma.task.updateMany({
      where: { id, status: { in: ['pending', 'running'] } },
      data: { status: 'done', result, durationMs, agentId, finishedAt: new Date(), error: null },
    });
    return r.count === 1;
  }
}
