import { Body, Controller, Get, Header, Param, Post, Query, Res, StreamableFile } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { CreateJobSchema, ListJobsQuerySchema, UuidParam, type CreateJob, type ListJobsQuery } from '@flotilla/contracts';
import type { Response } from 'express';
import { RequireRole } from '../auth/role.guard';
import { jsonSchema } from '../common/openapi';
import { ZodPipe } from '../common/zod.pipe';
import { JobsService } from './jobs.service';

const JobId = new ZodPipe(UuidParam, 'job id');

@ApiTags('jobs')
@RequireRole('viewer')
@Controller('jobs')
export class JobsController {
  constructor(private readonly jobs: JobsService) {}

  @Post()
  @RequireRole('submitter')
  @ApiOperation({ summary: 'Submit a job: federated (FedAU), bilevel or nas (see the README for each kind)' })
  @ApiBody({ schema: jsonSchema(CreateJobSchema) })
  submit(@Body(new ZodPipe(CreateJobSchema, 'job spec')) spec: CreateJob) {
    return this.jobs.submit(spec);
  }

  @Get()
  @ApiOperation({ summary: 'List jobs, newest first' })
  @ApiQuery({ name: 'status', required: false })
  @ApiQuery({ name: 'limit', required: false })
  list(@Query(new ZodPipe(ListJobsQuerySchema, 'query')) q: ListJobsQuery) {
    return this.jobs.list(q);
  }

  @Get(':id')
  @ApiOperation({ summary: 'Job status, current round and latest metrics' })
  get(@Param('id', JobId) id: string) {
    return this.jobs.get(id);
  }

  @Post(':id/cancel')
  @RequireRole('submitter')
  @ApiOperation({ summary: "Cancel a running job (a federated job's open round closes without aggregation)" })
  cancel(@Param('id', JobId) id: string) {
    return this.jobs.cancel(id);
  }

  @Get(':id/model')
  @Header('Content-Type', 'application/octet-stream')
  @ApiOperation({
    summary:
      "Download the job's model (float32 little-endian): federated, the latest global model; NAS, the chosen architecture's weights. X-Model-Hash and X-Model-Round headers",
  })
  async model(@Param('id', JobId) id: string, @Res({ passthrough: true }) res: Response): Promise<StreamableFile> {
    const m = await this.jobs.model(id);
    res.setHeader('X-Model-Hash', m.hash);
    res.setHeader('X-Model-Round', String(m.round));
    return new StreamableFile(m.bytes);
  }
}
