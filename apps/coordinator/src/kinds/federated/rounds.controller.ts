import { Controller, Get, Header, Param, Query, Res, StreamableFile } from '@nestjs/common';
import { ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import {
  ModelExportQuerySchema,
  PARTICIPATION_AGENT_PAGE,
  PARTICIPATION_ROUND_PAGE,
  ParticipationQuerySchema,
  ROUND_PAGE,
  RoundListQuerySchema,
  UuidParam,
  pageOf,
  type ModelExportQuery,
  type ParticipationQuery,
  type ParticipationView,
  type RoundListQuery,
  type RoundView,
} from '@flotilla/contracts';
import type { ModelJson } from '@flotilla/algorithms';
import type { Response } from 'express';
import { RequireRole } from '../../auth/role.guard';
import { ValidationError } from '../../common/errors';
import { ZodPipe } from '../../common/zod.pipe';
import { isJobOf, type JobOf } from '../../jobs/job-kind';
import { JobsService } from '../../jobs/jobs.service';
import { FederatedJobKind } from './federated.kind';

const JobId = new ZodPipe(UuidParam, 'job id');

/** What a federated job's rounds did: per-round metrics, and who participated with which FedAU weight. */
@ApiTags('jobs')
@RequireRole('viewer')
@Controller('jobs')
export class RoundsController {
  constructor(
    private readonly jobs: JobsService,
    private readonly kind: FederatedJobKind,
  ) {}

  @Get(':id/rounds')
  @ApiOperation({
    summary: 'Rounds of a federated job with participants, FedAU weight range and metrics; by index, a page at a time (X-Total-Count)',
  })
  @ApiQuery({ name: 'limit', required: false, description: `rounds in the page: 1 to ${ROUND_PAGE.max}, default ${ROUND_PAGE.default}` })
  @ApiQuery({ name: 'offset', required: false, description: 'rounds skipped before the page; default 0' })
  async rounds(
    @Param('id', JobId) id: string,
    @Query(new ZodPipe(RoundListQuerySchema, 'query')) q: RoundListQuery,
    @Res({ passthrough: true }) res: Response,
  ): Promise<RoundView[]> {
    const { items, total } = await this.kind.roundsOf(await this.federated(id), pageOf(q, ROUND_PAGE));
    res.setHeader('X-Total-Count', String(total));
    return items;
  }

  @Get(':id/participation')
  @ApiOperation({
    summary:
      'Participation matrix (agents × rounds) of a federated job with the FedAU weights used; paged over closed rounds and over agents (X-Total-Count: rounds, X-Total-Agents)',
  })
  @ApiQuery({
    name: 'limit',
    required: false,
    description: `closed rounds in the page: 1 to ${PARTICIPATION_ROUND_PAGE.max}, default ${PARTICIPATION_ROUND_PAGE.default}`,
  })
  @ApiQuery({ name: 'offset', required: false, description: 'closed rounds skipped before the page; default 0' })
  @ApiQuery({
    name: 'agentLimit',
    required: false,
    description: `agents (in id order) in the page: 1 to ${PARTICIPATION_AGENT_PAGE.max}, default ${PARTICIPATION_AGENT_PAGE.default}`,
  })
  @ApiQuery({ name: 'agentOffset', required: false, description: 'agents skipped before the page; default 0' })
  async participation(
    @Param('id', JobId) id: string,
    @Query(new ZodPipe(ParticipationQuerySchema, 'query')) q: ParticipationQuery,
    @Res({ passthrough: true }) res: Response,
  ): Promise<ParticipationView> {
    const rounds = pageOf(q, PARTICIPATION_ROUND_PAGE);
    const agents = pageOf({ limit: q.agentLimit, offset: q.agentOffset }, PARTICIPATION_AGENT_PAGE);
    const { view, totalRounds, totalAgents } = await this.kind.participation(await this.federated(id), rounds, agents);
    res.setHeader('X-Total-Count', String(totalRounds));
    res.setHeader('X-Total-Agents', String(totalAgents));
    return view;
  }

  @Get(':id/model/model.json')
  @ApiQuery({ name: 'round', required: false, description: 'checkpoint: -1 (initial model) to the last closed round; default the latest' })
  @ApiOperation({
    summary:
      "A federated job's model as TF.js model.json (tf.loadLayersModel loads it; its weights file is weights.bin next to it, TF.js carries ?round over). X-Model-Hash and X-Model-Round headers",
  })
  async modelJson(
    @Param('id', JobId) id: string,
    @Query(new ZodPipe(ModelExportQuerySchema, 'query')) q: ModelExportQuery,
    @Res({ passthrough: true }) res: Response,
  ): Promise<ModelJson> {
    // The weights path is relative to model.json and carries no query: TF.js appends model.json's own query string
    // (`?round=r`) to every weights path, and a copy saved to disk finds weights.bin next to it.
    const job = await this.federated(id);
    const { json, round } = await this.kind.modelJson(job, q.round, 'weights.bin');
    res.setHeader('X-Model-Round', String(round));
    return json;
  }

  @Get(':id/model/weights.bin')
  @Header('Content-Type', 'application/octet-stream')
  @ApiQuery({ name: 'round', required: false, description: 'checkpoint: -1 (initial model) to the last closed round; default the latest' })
  @ApiOperation({
    summary:
      "The weights file of model.json: the checkpoint's float32 little-endian parameters in model.json's manifest order. X-Model-Hash and X-Model-Round headers",
  })
  async modelWeights(
    @Param('id', JobId) id: string,
    @Query(new ZodPipe(ModelExportQuerySchema, 'query')) q: ModelExportQuery,
    @Res({ passthrough: true }) res: Response,
  ): Promise<StreamableFile> {
    const w = await this.kind.checkpointWeights(await this.federated(id), q.round);
    res.setHeader('X-Model-Hash', w.hash);
    res.setHeader('X-Model-Round', String(w.round));
    return new StreamableFile(w.bytes);
  }

  private async federated(id: string): Promise<JobOf<'federated'>> {
    const job = await this.jobs.require(id);
    if (!isJobOf(job, 'federated')) throw new ValidationError(`Job ${id} is a ${job.kind} job; rounds belong to federated jobs`);
    return job;
  }
}
