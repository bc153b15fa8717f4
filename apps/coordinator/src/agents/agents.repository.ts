import { Injectable } from '@nestjs/common';
import type { AgentParticipation, Page } from '@flotilla/contracts';
import type { Agent, Prisma } from '@prisma/client';
import { PrismaService } from '../database/prisma.service';

/** Agents that may be asked to compute: not revoked, not gone (left), with a heartbeat newer than `since`. */
const active = (since: Date): Prisma.AgentWhereInput => ({ revokedAt: null, leftAt: null, lastHeartbeatAt: { gte: since } });

@Injectable()
export class AgentsRepository {
  constructor(private readonly prisma: PrismaService) {}

  create(data: {
    name: string;
    secretHash: string;
    datasets: string[];
    exampleCounts?: Prisma.InputJsonValue;
    datasetHashes?: Prisma.InputJsonValue;
    labels?: Record<string, string>;
    backend?: string;
    device?: string;
  }): Promise<Agent> {
    return this.prisma.agent.create({ data: { ...data, lastHeartbeatAt: new Date() } });
  }

  findById(id: string): Promise<Agent | null> {
    return this.prisma.agent.findUnique({ where: { id } });
  }

  /** The agents with these ids (those that exist), by id: one query for a batch of authentications. */
  async findByIds(ids: string[]): Promise<Map<string, Agent>> {
    const rows = await this.prisma.agent.findMany({ where: { id: { in: ids } } });
    return new Map(rows.map((a) => [a.id, a]));
  }

  findBySecretHash(secretHash: string): Promise<Agent | null> {
    return this.prisma.agent.findUnique({ where: { secretHash } });
  }

  /** The agent's HTTP client counters as it reports them now. */
  async reportNetwork(id: string, stats: { retries: number; failures: number }): Promise<void> {
    await this.prisma.agent.updateMany({
      where: { id },
      data: { netRetries: stats.retries, netFailures: stats.failures, netReportedAt: new Date() },
    });
  }

  /** Records a heartbeat now with the datasets' hashes an agent re-reports when it rejoins (back, if it had left). */
  async rejoined(id: string, datasetHashes: Prisma.InputJsonValue): Promise<void> {
    await this.prisma.agent.updateMany({
      where: { id, revokedAt: null },
      data: { lastHeartbeatAt: new Date(), datasetHashes, leftAt: null },
    });
  }

  /** What an agent reports about itself when it rejoins: its labels, backend and device (each one given replaces the stored one). */
  async describe(id: string, report: { labels?: Record<string, string>; backend?: string; device?: string }): Promise<void> {
    await this.prisma.agent.updateMany({ where: { id, revokedAt: null }, data: report });
  }

  /**
   * Many heartbeats in one statement (PresenceService batches them). An agent that left is not brought back by a
   * heartbeat it sent before leaving and that a process writes late: only its rejoin (`rejoined`) does that.
   */
  async touchMany(ids: string[], at: Date): Promise<void> {
    if (ids.length)
      await this.prisma.agent.updateMany({ where: { id: { in: ids }, revokedAt: null, leftAt: null }, data: { lastHeartbeatAt: at } });
  }

  /** The agent said it is leaving: offline from `at` until it rejoins. False when it does not exist or is revoked. */
  async leave(id: string, at = new Date()): Promise<boolean> {
    const r = await this.prisma.agent.updateMany({ where: { id, revokedAt: null }, data: { leftAt: at } });
    return r.count === 1;
  }

  /** The agent reported an error (a round it could not train, a task it could not compute): kept as its last one. */
  async recordError(id: string, message: string, at = new Date()): Promise<void> {
    await this.prisma.agent.updateMany({ where: { id }, data: { lastError: message.slice(0, 2000), lastErrorAt: at } });
  }

  /** A task timed out on the agent at `at` (it is suspect until its next heartbeat). */
  async markTaskTimeout(id: string, at = new Date()): Promise<void> {
    await this.prisma.agent.updateMany({ where: { id }, data: { lastTaskTimeoutAt: at } });
  }

  /** Revokes the agent; false when it does not exist or was revoked already. */
  async revoke(id: string, at = new Date()): Promise<boolean> {
    const r = await this.prisma.agent.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: at } });
    return r.count === 1;
  }

  /** A new secret for an agent that is not revoked; false otherwise. */
  async setSecret(id: string, secretHash: string): Promise<boolean> {
    const r = await this.prisma.agent.updateMany({ where: { id, revokedAt: null }, data: { secretHash } });
    return r.count === 1;
  }

  /** Per agent of `agentIds`: the closed federated rounds it was eligible for and took part in (absent: none). */
  async participation(agentIds: string[]): Promise<Map<string, AgentParticipation>> {
    const rows = await this.prisma.participation.groupBy({
      by: ['agentId', 'participated'],
      where: { agentId: { in: agentIds } },
      _count: { _all: true },
    });
    const counts = new Map<string, AgentParticipation>();
    for (const r of rows) {
      const c = counts.get(r.agentId) ?? { eligible: 0, participated: 0 };
      c.eligible += r._count._all;
      if (r.participated) c.participated += r._count._all;
      counts.set(r.agentId, c);
    }
    return counts;
  }

  /** One page of every agent, oldest first (id breaks ties, so pages neither skip nor repeat), and how many there are. */
  async list(page: Page): Promise<{ items: Agent[]; total: number }> {
    const [items, total] = await Promise.all([
      this.prisma.agent.findMany({ orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], skip: page.offset, take: page.limit }),
      this.prisma.agent.count(),
    ]);
    return { items, total };
  }

  /** Agents holding `dataset` that may compute (not revoked, heartbeat newer than `since`), in a stable order. */
  online(dataset: string, since: Date): Promise<Agent[]> {
    return this.prisma.agent.findMany({ where: { datasets: { has: dataset }, ...active(since) }, orderBy: { createdAt: 'asc' } });
  }

  /** Every agent that may compute, in a stable order. */
  onlineAny(since: Date): Promise<Agent[]> {
    return this.prisma.agent.findMany({ where: active(since), orderBy: { createdAt: 'asc' } });
  }

  countOnline(since: Date): Promise<number> {
    return this.prisma.agent.count({ where: active(since) });
  }
}
