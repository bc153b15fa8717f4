import { Body, Controller, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
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
import { AgentGuard, CurrentAgent } from '../agents/agent.guard';
import { TransferGuard } from '../agents/transfer.guard';
import { RequireRole } from '../auth/role.guard';
import { ReadBody } from '../common/body';
import { jsonSchema } from '../common/openapi';
import { ZodPipe } from '../common/zod.pipe';
import { TasksService } from './tasks.service';

const Id = (what: string) => new ZodPipe(UuidParam, what);

/** The agent side of tasks: results and failures in (result weights go up first, as blobs: POST /blobs). */
@ApiTags('agent data plane')
@ApiBearerAuth()
@UseGuards(AgentGuard)
@Controller()
export class AgentTasksController {
  constructor(private readonly tasks: TasksService) {}

  @Post('tasks/:id/result')
  @HttpCode(200)
  @UseGuards(TransferGuard)
  @ReadBody({ limit: 'MAX_TASK_RESULT_BYTES' })
  @ApiOperation({ summary: "Post a task's result (checked against its task kind's contract; 422 sends the task to another agent)" })
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
}

/** The admin side: what a job's tasks are doing. */
@ApiTags('jobs')
@RequireRole('viewer')
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
