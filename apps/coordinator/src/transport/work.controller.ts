import { Controller, Get, Query, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { WorkQuerySchema, type AgentWork, type WorkQuery } from '@flotilla/contracts';
import type { Agent } from '@prisma/client';
import type { Response } from 'express';
import { AgentGuard, AgentToken, CurrentAgent } from '../agents/agent.guard';
import { AgentsService } from '../agents/agents.service';
import { ZodPipe } from '../common/zod.pipe';
import { WorkHub } from './work-hub.service';

/** The agents' one way to receive work: an outbound HTTP long poll (see ARCHITECTURE.md, "Agent transport"). */
@ApiTags('agent data plane')
@ApiBearerAuth()
@UseGuards(AgentGuard)
@Controller('agents/me')
export class WorkController {
  constructor(
    private readonly hub: WorkHub,
    private readonly agents: AgentsService,
  ) {}

  @Get('work')
  @ApiOperation({
    summary:
      "The agent's next work item (a federated round's train task, or a task attempt); held open up to waitMs when there is none (204). An item is handed out again until it is answered or expires",
  })
  @ApiQuery({ name: 'waitMs', required: false })
  async work(
    @CurrentAgent() agent: Agent,
    @AgentToken() token: string,
    @Query(new ZodPipe(WorkQuerySchema, 'query')) q: WorkQuery,
    @Res({ passthrough: true }) res: Response,
  ): Promise<AgentWork | undefined> {
    const gone = new AbortController();
    const onClose = () => gone.abort();
    res.on('close', onClose);
    try {
      const work = await this.hub.next(agent.id, q.waitMs, async () => void (await this.agents.authenticate(token)), gone.signal);
      if (!work) res.status(204);
      return work ?? undefined;
    } finally {
      res.off('close', onClose);
    }
  }
}
