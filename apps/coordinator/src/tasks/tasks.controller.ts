import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Req, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import {
  ListTasksQuerySchema,
  TaskFailureBodySchema,
  TaskResultBodySchema,
  UuidParam,
  type ListTasksQuery,
  type TaskFailureBody,
  type TaskResultBody,
} from '@flotilla/contracts';
import type { Agent } from '@prisma/client';
import type { Request } from 'express';
import { AgentGuard, CurrentAgent } from '../agents/agent.guard';
import { BlobStore, bytesToFloat32 } from '../blobs/blob-store';
import { BLOB_STORE } from '../blobs/blobs.module';
import { AdminGuard } from '../common/admin.guard';
import { InvalidResultError, ValidationError } from '../common/errors';
import { jsonSchema } from '../common/openapi';
import { ZodPipe } from '../common/zod.pipe';
import { TasksService } from './tasks.service';

const Id = (what: string) => new ZodPipe(UuidParam, what);

/** The agent side of tasks: results and failures in, result blobs (weights) up. */
@ApiTags('agent data plane')
@ApiBearerAuth()
@UseGuards(AgentGuard)
@Controller()
export class AgentTasksController {
  constructor(
    private readonly tasks: TasksService,
    @Inject(BLOB_STORE) private readonly blobs: BlobStore,
  ) {}

  @Post('tasks/:id/result')
  @HttpCode(200)
  @ApiOperation({ summary: "Post a task's result (validated by the job kind; 422 sends the task to another agent)" })
  @ApiBody({ schema: jsonSchema(TaskResultBodySchema) })
  result(
    @CurrentAgent() agent: Agent,
    @Param('id', Id('task id')) id: string,
    @Body(new ZodPipe(TaskResultBodySchema, 'task result')) body: TaskResultBody,
  ) {
    return this.tasks.complete(agent.id, id, body);
  }

  @Post('tasks/:id/failure')
  @HttpCode(200)
  @ApiOperation({ summary: 'Report that this agent could not compute the task; it is reassigned' })
  @ApiBody({ schema: jsonSchema(TaskFailureBodySchema) })
  failure(
    @CurrentAgent() agent: Agent,
    @Param('id', Id('task id')) id: string,
    @Body(new ZodPipe(TaskFailureBodySchema, 'task failure')) body: TaskFailureBody,
  ) {
    return this.tasks.fail(agent.id, id, body);
  }

  @Post('blobs')
  @HttpCode(200)
  @ApiConsumes('application/octet-stream')
  @ApiOperation({ summary: 'Upload a float32 blob (e.g. trained weights named in a task result); returns its sha256' })
  async upload(@Req() req: Request): Promise<{ hash: string; count: number }> {
    if (!Buffer.isBuffer(req.body) || req.body.byteLength === 0 || req.body.byteLength % 4 !== 0) {
      throw new ValidationError('Blob body must be non-empty application/octet-stream float32 (little-endian), a multiple of 4 bytes');
    }
    const values = bytesToFloat32(req.body);
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i])) throw new InvalidResultError(`Blob refused: element ${i} is ${values[i]}`);
    }
    return { hash: await this.blobs.putFloat32(values), count: values.length };
  }
}

/** The admin side: what a job's tasks are doing. */
@ApiTags('jobs')
@ApiBearerAuth()
@UseGuards(AdminGuard)
@Controller('jobs')
export class JobTasksController {
  constructor(private readonly tasks: TasksService) {}

  @Get(':id/tasks')
  @ApiOperation({ summary: 'Tasks of a NAS or bilevel job: status, agent, attempts, failures' })
  @ApiQuery({ name: 'status', required: false })
  @ApiQuery({ name: 'limit', required: false })
  list(@Param('id', Id('job id')) id: string, @Query(new ZodPipe(ListTasksQuerySchema, 'query')) q: ListTasksQuery) {
    return this.tasks.list(id, q);
  }
}
