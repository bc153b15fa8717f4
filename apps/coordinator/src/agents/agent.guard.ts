import { CanActivate, ExecutionContext, Inject, Injectable, createParamDecorator } from '@nestjs/common';
import type { Agent } from '@prisma/client';
import type { Request } from 'express';
import { bearerToken } from '../common/bearer';
import { RateLimiter } from '../common/rate-limiter';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { AgentsService } from './agents.service';
import { PresenceService } from './presence.service';

type AgentRequest = Request & { agent?: Agent; agentToken?: string };

/**
 * Agent data-plane endpoints: `Authorization: Bearer <agentId>.<agentSecret>`. Every authenticated call counts as a
 * heartbeat, and each agent may make AGENT_RATE_PER_SECOND calls per second (429 beyond).
 */
@Injectable()
export class AgentGuard implements CanActivate {
  private readonly limiter: RateLimiter;

  constructor(
    private readonly agents: AgentsService,
    private readonly presence: PresenceService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.limiter = new RateLimiter(config.AGENT_RATE_PER_SECOND, 2 * config.AGENT_RATE_PER_SECOND, 100_000);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<AgentRequest>();
    const token = bearerToken(req);
    req.agent = await this.agents.authenticate(token);
    req.agentToken = token ?? undefined;
    this.limiter.take(req.agent.id, 'calls from this agent');
    this.presence.seen(req.agent.id);
    return true;
  }
}

export const CurrentAgent = createParamDecorator((_: unknown, ctx: ExecutionContext): Agent => {
  const agent = ctx.switchToHttp().getRequest<AgentRequest>().agent;
  if (!agent) throw new Error('CurrentAgent used without AgentGuard');
  return agent;
});

/** The bearer token the agent authenticated with (the transport re-checks it while a poll waits). */
export const AgentToken = createParamDecorator((_: unknown, ctx: ExecutionContext): string => {
  const token = ctx.switchToHttp().getRequest<AgentRequest>().agentToken;
  if (!token) throw new Error('AgentToken used without AgentGuard');
  return token;
});
