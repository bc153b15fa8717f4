import { Body, Controller, Get, HttpCode, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  HeartbeatSchema,
  RegisterAgentSchema,
  type AgentView,
  type Heartbeat,
  type RegisterAgent,
  type RegisterAgentResponse,
} from '@flotilla/contracts';
import type { Agent } from '@prisma/client';
import { RequireRole } from '../auth/role.guard';
import { jsonSchema } from '../common/openapi';
import { ZodPipe } from '../common/zod.pipe';
import { AgentGuard, CurrentAgent } from './agent.guard';
import { AgentsService } from './agents.service';

@ApiTags('agents')
@Controller('agents')
export class AgentsController {
  constructor(private readonly agents: AgentsService) {}

  @Post('register')
  @ApiOperation({ summary: 'Register an agent with the join token; returns its id and secret (shown once)' })
  @ApiBody({ schema: jsonSchema(RegisterAgentSchema) })
  register(@Body(new ZodPipe(RegisterAgentSchema, 'agent registration')) body: RegisterAgent): Promise<RegisterAgentResponse> {
    return this.agents.register(body);
  }

  @Post('heartbeat')
  @HttpCode(204)
  @UseGuards(AgentGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Agent heartbeat; agents without one for AGENT_OFFLINE_AFTER_MS are not asked to train' })
  @ApiBody({ schema: jsonSchema(HeartbeatSchema) })
  async heartbeat(@CurrentAgent() agent: Agent, @Body(new ZodPipe(HeartbeatSchema, 'heartbeat')) body: Heartbeat): Promise<void> {
    await this.agents.heartbeat(agent.id, body.datasetHashes);
  }

  @Get()
  @RequireRole('viewer')
  @ApiOperation({ summary: 'List agents with their online state' })
  list(): Promise<AgentView[]> {
    return this.agents.list();
  }
}
