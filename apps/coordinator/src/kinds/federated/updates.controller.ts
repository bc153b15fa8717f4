import { Body, Controller, HttpCode, Inject, Param, Post, Query, Req, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { DeclineSchema, RoundParam, UpdateMetaSchema, UuidParam, type Decline, type UpdateMeta } from '@flotilla/contracts';
import type { Agent } from '@prisma/client';
import type { Request } from 'express';
import { AgentGuard, CurrentAgent } from '../../agents/agent.guard';
import { TransferGuard } from '../../agents/transfer.guard';
import { ReadBody, readRawBody } from '../../common/body';
import { ValidationError } from '../../common/errors';
import { jsonSchema } from '../../common/openapi';
import { ZodPipe } from '../../common/zod.pipe';
import { APP_CONFIG, type AppConfig } from '../../config/config';
import { RoundsService } from './rounds.service';

const Round = new ZodPipe(RoundParam, 'round');

/** The agent data plane of federated rounds: updates up as binary float32, declines. */
@ApiTags('agent data plane')
@ApiBearerAuth()
@UseGuards(AgentGuard)
@Controller()
export class UpdatesController {
  constructor(
    private readonly rounds: RoundsService,
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'MAX_UPDATE_BYTES'>,
  ) {}

  @Post('jobs/:jobId/rounds/:round/update')
  @HttpCode(200)
  @UseGuards(TransferGuard)
  @ReadBody({ raw: true })
  @ApiConsumes('application/octet-stream')
  @ApiBody({ schema: { type: 'string', format: 'binary', description: 'float32 little-endian, one value per parameter' } })
  @ApiQuery({ name: 'exampleCount', type: 'integer' })
  @ApiQuery({ name: 'trainLoss', type: 'number' })
  @ApiQuery({ name: 'durationMs', type: 'integer' })
  @ApiOperation({ summary: 'Upload an update Δ for (job, round); idempotent per (job, round, agent)' })
  async submit(
    @CurrentAgent() agent: Agent,
    @Param('jobId', new ZodPipe(UuidParam, 'job id')) jobId: string,
    @Param('round', Round) round: number,
    @Query(new ZodPipe(UpdateMetaSchema, 'update metadata')) meta: UpdateMeta,
    @Req() req: Request,
  ) {
    // Read only now: after authentication and the transfer slot (guards), and once the path and query are valid.
    const body = await readRawBody(req, this.config.MAX_UPDATE_BYTES);
    if (!body) throw new ValidationError('Update body must be application/octet-stream (float32 little-endian)');
    return this.rounds.submitUpdate(agent.id, jobId, round, body, meta);
  }

  @Post('jobs/:jobId/rounds/:round/decline')
  @HttpCode(200)
  @ApiOperation({ summary: 'Tell the coordinator this agent will not train in this round' })
  @ApiBody({ schema: jsonSchema(DeclineSchema) })
  decline(
    @CurrentAgent() agent: Agent,
    @Param('jobId', new ZodPipe(UuidParam, 'job id')) jobId: string,
    @Param('round', Round) round: number,
    @Body(new ZodPipe(DeclineSchema, 'decline')) body: Decline,
  ) {
    return this.rounds.decline(agent.id, jobId, round, body);
  }
}
