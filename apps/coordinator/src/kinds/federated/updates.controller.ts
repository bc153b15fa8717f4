import { Body, Controller, HttpCode, Param, ParseIntPipe, Post, Query, Req, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiOperation, ApiTags } from '@nestjs/swagger';
import { DeclineSchema, UpdateMetaSchema, UuidParam, type Decline, type UpdateMeta } from '@flotilla/contracts';
import type { Agent } from '@prisma/client';
import type { Request } from 'express';
import { AgentGuard, CurrentAgent } from '../../agents/agent.guard';
import { ValidationError } from '../../common/errors';
import { jsonSchema } from '../../common/openapi';
import { ZodPipe } from '../../common/zod.pipe';
import { RoundsService } from './rounds.service';

/** The agent data plane of federated rounds: updates up as binary float32, declines. */
@ApiTags('agent data plane')
@ApiBearerAuth()
@UseGuards(AgentGuard)
@Controller()
export class UpdatesController {
  constructor(private readonly rounds: RoundsService) {}

  @Post('jobs/:jobId/rounds/:round/update')
  @HttpCode(200)
  @ApiConsumes('application/octet-stream')
  @ApiOperation({ summary: 'Upload an update Δ for (job, round); idempotent per (job, round, agent)' })
  submit(
    @CurrentAgent() agent: Agent,
    @Param('jobId', new ZodPipe(UuidParam, 'job id')) jobId: string,
    @Param('round', ParseIntPipe) round: number,
    @Query(new ZodPipe(UpdateMetaSchema, 'update metadata')) meta: UpdateMeta,
    @Req() req: Request,
  ) {
    if (!Buffer.isBuffer(req.body)) throw new ValidationError('Update body must be application/octet-stream (float32 little-endian)');
    return this.rounds.submitUpdate(agent.id, jobId, round, req.body, meta);
  }

  @Post('jobs/:jobId/rounds/:round/decline')
  @HttpCode(200)
  @ApiOperation({ summary: 'Tell the coordinator this agent will not train in this round' })
  @ApiBody({ schema: jsonSchema(DeclineSchema) })
  decline(
    @CurrentAgent() agent: Agent,
    @Param('jobId', new ZodPipe(UuidParam, 'job id')) jobId: string,
    @Param('round', ParseIntPipe) round: number,
    @Body(new ZodPipe(DeclineSchema, 'decline')) body: Decline,
  ) {
    return this.rounds.decline(agent.id, jobId, round, body);
  }
}
