import { Inject, Injectable } from '@nestjs/common';
import { agentQueueName, type AgentView, type RegisterAgent, type RegisterAgentResponse } from '@flotilla/contracts';
import type { Agent } from '@prisma/client';
import { createHash, randomBytes } from 'node:crypto';
import { JoinTokensService } from '../auth/join-tokens.service';
import { safeEqual } from '../common/bearer';
import { UnauthorizedError } from '../common/errors';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { AgentsRepository } from './agents.repository';

/** Agent secrets are 256 random bits, so a plain sha256 is a sufficient one-way store (no password stretching needed). */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

@Injectable()
export class AgentsService {
  constructor(
    private readonly agents: AgentsRepository,
    private readonly joinTokens: JoinTokensService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async register(input: RegisterAgent): Promise<RegisterAgentResponse> {
    await this.joinTokens.admit(input.joinToken);
    const secret = randomBytes(32).toString('base64url');
    const agent = await this.agents.create({
      name: input.name,
      secretHash: hashSecret(secret),
      datasets: input.datasets,
      ...(input.exampleCounts ? { exampleCounts: input.exampleCounts } : {}),
      ...(input.datasetHashes ? { datasetHashes: input.datasetHashes } : {}),
    });
    return { agentId: agent.id, agentSecret: secret, queueName: agentQueueName(agent.id), queuePrefix: this.config.QUEUE_PREFIX };
  }

  /** Resolves `Bearer <agentId>.<secret>` to the agent, or throws 401. */
  async authenticate(token: string | null): Promise<Agent> {
    const m = token ? /^([0-9a-f-]{36})\.([A-Za-z0-9_-]{16,128})$/.exec(token) : null;
    if (!m) throw new UnauthorizedError('Missing or malformed agent credentials (expected Bearer <agentId>.<secret>)');
    const agent = await this.agents.findById(m[1]);
    if (!agent || !safeEqual(agent.secretHash, hashSecret(m[2]))) throw new UnauthorizedError('Invalid agent credentials');
    return agent;
  }

  /** Marks the agent online; a rejoining agent also re-reports its datasets' hashes (its files may have changed). */
  async heartbeat(agentId: string, datasetHashes?: Record<string, string>): Promise<void> {
    await this.agents.touch(agentId, new Date(), datasetHashes);
  }

  async list(): Promise<AgentView[]> {
    const since = Date.now() - this.config.AGENT_OFFLINE_AFTER_MS;
    return (await this.agents.list()).map((a) => ({
      id: a.id,
      name: a.name,
      datasets: a.datasets,
      online: a.lastHeartbeatAt !== null && a.lastHeartbeatAt.getTime() >= since,
      lastHeartbeatAt: a.lastHeartbeatAt?.toISOString() ?? null,
      lastTaskTimeoutAt: a.lastTaskTimeoutAt?.toISOString() ?? null,
      createdAt: a.createdAt.toISOString(),
    }));
  }
}
