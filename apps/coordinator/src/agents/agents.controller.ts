import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Req, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import {
  AGENT_PAGE,
  AgentListQuerySchema,
  pageOf,
  HeartbeatSchema,
  RegisterAgentSchema,
  RotateSecretSchema,
  UuidParam,
  type AgentListQuery,
  type AgentView,
  type Heartbeat,
  type RegisterAgent,
  type RegisterAgentResponse,
  type RotateSecret,
} from '@flotilla/contracts';
import type { Agent } from '@prisma/client';
import type { Request, Response } from 'express';
import { RequireRole } from '../auth/role.guard';
import { ReadBody } from '../common/body';
import { jsonSchema } from '../common/openapi';
import { ZodPipe } from '../common/zod.pipe';
import { AgentGuard, CurrentAgent } from './agent.guard';
import { AgentsService } from './agents.service';

/**
 * Registration is the one route whose credential (the join token) is in its body, so its body is read before any
 * check: it is kept small (the largest valid one, 64 datasets with counts and hashes and 32 labels with the longest
 * keys and values, is about 31 KiB).
 */
const REGISTER_BODY_BYTES = 64 * 1024;

@ApiTags('agents')
@Controller('agents')
export class AgentsController {
  constructor(private readonly agents: AgentsService) {}

  @Post('register')
  @ReadBody({ limit: REGISTER_BODY_BYTES })
  @ApiOperation({ summary: 'Register an agent with a join token; returns its id and secret (shown once). Rate-limited per source address' })
  @ApiBody({ schema: jsonSchema(RegisterAgentSchema) })
  register(
    @Body(new ZodPipe(RegisterAgentSchema, 'agent registration')) body: RegisterAgent,
    @Req() req: Request,
  ): Promise<RegisterAgentResponse> {
    return this.agents.register(body, req.ip ?? 'unknown');
  }

  @Post('heartbeat')
  @HttpCode(204)
  @UseGuards(AgentGuard)
  @ApiBearerAuth()
  @ApiOperation({
    summary:
      'Agent heartbeat while it computes (a waiting poll counts as one); agents without one for AGENT_OFFLINE_AFTER_MS are not asked to compute',
  })
  @ApiBody({ schema: jsonSchema(HeartbeatSchema) })
  async heartbeat(@CurrentAgent() agent: Agent, @Body(new ZodPipe(HeartbeatSchema, 'heartbeat')) body: Heartbeat): Promise<void> {
    if (body.datasetHashes) await this.agents.rejoined(agent.id, body.datasetHashes);
    if (body.network) await this.agents.reportNetwork(agent.id, body.network);
    if (body.labels || body.backend || body.device)
      await this.agents.describe(agent.id, { labels: body.labels, backend: body.backend, device: body.device });
  }

  @Post('me/secret')
  @HttpCode(200)
  @UseGuards(AgentGuard)
  @ApiBearerAuth()
  @ApiOperation({
    summary: 'A new secret for the calling agent (its own choice, or picked here and shown once); the old one stops working at once',
  })
  @ApiBody({ schema: jsonSchema(RotateSecretSchema), required: false })
  rotate(
    @CurrentAgent() agent: Agent,
    @Body(new ZodPipe(RotateSecretSchema.optional(), 'secret rotation')) body: RotateSecret | undefined,
  ): Promise<RegisterAgentResponse> {
    return this.agents.rotateSecret(agent.id, body?.agentSecret);
  }

  @Post('me/leave')
  @HttpCode(200)
  @UseGuards(AgentGuard)
  @ApiBearerAuth()
  @ApiOperation({
    summary:
      'The calling agent is leaving: offline at once, open rounds stop waiting for it, its tasks go to other agents; its credentials keep working (it may rejoin)',
  })
  leave(@CurrentAgent() agent: Agent): Promise<AgentView> {
    return this.agents.leave(agent.id);
  }

  @Get()
  @RequireRole('viewer')
  @ApiOperation({
    summary:
      'List agents: online, suspect after a task timeout, offline, revoked; oldest first, a page at a time (X-Total-Count: all agents)',
  })
  @ApiQuery({ name: 'limit', required: false, description: `agents in the page: 1 to ${AGENT_PAGE.max}, default ${AGENT_PAGE.default}` })
  @ApiQuery({ name: 'offset', required: false, description: 'agents skipped before the page; default 0' })
  async list(
    @Query(new ZodPipe(AgentListQuerySchema, 'query')) q: AgentListQuery,
    @Res({ passthrough: true }) res: Response,
  ): Promise<AgentView[]> {
    const { items, total } = await this.agents.list(pageOf(q, AGENT_PAGE));
    res.setHeader('X-Total-Count', String(total));
    return items;
  }

  @Delete(':id')
  @RequireRole('admin')
  @ApiOperation({
    summary: 'Revoke an agent: its credentials stop working at once, its tasks go to other agents, its history stays',
  })
  revoke(@Param('id', new ZodPipe(UuidParam, 'agent id')) id: string): Promise<AgentView> {
    return this.agents.revoke(id);
  }
}
