import { CanActivate, ExecutionContext, Injectable, createParamDecorator } from '@nestjs/common';
import type { Agent } from '@prisma/client';
import type { Request } from 'express';
import { bearerToken } from '../common/admin.guard';
import { AgentsService } from './agents.service';

type AgentRequest = Request & { agent?: Agent };

/** Agent data-plane endpoints: `Authorization: Bearer <agentId>.<agentSecret>`. */
@Injectable()
export class AgentGuard implements CanActivate {
  constructor(private readonly agents: AgentsService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<AgentRequest>();
    req.agent = await this.agents.authenticate(bearerToken(req));
    return true;
  }
}

export const CurrentAgent = createParamDecorator((_: unknown, ctx: ExecutionContext): Agent => {
  const agent = ctx.switchToHttp().getRequest<AgentRequest>().agent;
  if (!agent) throw new Error('CurrentAgent used without AgentGuard');
  return agent;
});
