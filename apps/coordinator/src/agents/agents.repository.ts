import { Injectable } from '@nestjs/common';
import type { Agent, Prisma } from '@prisma/client';
import { PrismaService } from '../database/prisma.service';

@Injectable()
export class AgentsRepository {
  constructor(private readonly prisma: PrismaService) {}

  create(data: {
    name: string;
    secretHash: string;
    datasets: string[];
    exampleCounts?: Prisma.InputJsonValue;
    datasetHashes?: Prisma.InputJsonValue;
  }): Promise<Agent> {
    return this.prisma.agent.create({ data: { ...data, lastHeartbeatAt: new Date() } });
  }

  findById(id: string): Promise<Agent | null> {
    return this.prisma.agent.findUnique({ where: { id } });
  }

  async touch(id: string, at = new Date(), datasetHashes?: Prisma.InputJsonValue): Promise<void> {
    await this.prisma.agent.update({ where: { id }, data: { lastHeartbeatAt: at, ...(datasetHashes ? { datasetHashes } : {}) } });
  }

  /** A task timed out on the agent at `at` (it is suspect until its next heartbeat). */
  async markTaskTimeout(id: string, at = new Date()): Promise<void> {
    await this.prisma.agent.updateMany({ where: { id }, data: { lastTaskTimeoutAt: at } });
  }

  list(): Promise<Agent[]> {
    return this.prisma.agent.findMany({ orderBy: { createdAt: 'asc' } });
  }

  /** Agents holding `dataset` with a heartbeat newer than `since`, in a stable order. */
  online(dataset: string, since: Date): Promise<Agent[]> {
    return this.prisma.agent.findMany({
      where: { datasets: { has: dataset }, lastHeartbeatAt: { gte: since } },
      orderBy: { createdAt: 'asc' },
    });
  }

  /** Every agent with a heartbeat newer than `since`, in a stable order. */
  onlineAny(since: Date): Promise<Agent[]> {
    return this.prisma.agent.findMany({ where: { lastHeartbeatAt: { gte: since } }, orderBy: { createdAt: 'asc' } });
  }

  countOnline(since: Date): Promise<number> {
    return this.prisma.agent.count({ where: { lastHeartbeatAt: { gte: since } } });
  }
}
