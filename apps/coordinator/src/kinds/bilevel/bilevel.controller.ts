import { Controller, Get, Param } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { UuidParam, type BilevelRunView } from '@flotilla/contracts';
import { RequireRole } from '../../auth/role.guard';
import { ValidationError } from '../../common/errors';
import { ZodPipe } from '../../common/zod.pipe';
import { isJobOf } from '../../jobs/job-kind';
import { JobsService } from '../../jobs/jobs.service';
import { BilevelJobKind } from './bilevel.kind';

@ApiTags('jobs')
@RequireRole('viewer')
@Controller('jobs')
export class BilevelController {
  constructor(
    private readonly jobs: JobsService,
    private readonly kind: BilevelJobKind,
  ) {}

  @Get(':id/bilevel')
  @ApiOperation({ summary: 'Runs of a bilevel job: settings, state, result and curves (λ, ‖gradX‖, stationarity, f, accuracy)' })
  async runs(@Param('id', new ZodPipe(UuidParam, 'job id')) id: string): Promise<BilevelRunView[]> {
    const job = await this.jobs.require(id);
    if (!isJobOf(job, 'bilevel')) throw new ValidationError(`Job ${id} is a ${job.kind} job, not a bilevel job`);
    return this.kind.runsOf(job);
  }
}
