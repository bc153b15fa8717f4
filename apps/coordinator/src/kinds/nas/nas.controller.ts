import { Controller, Get, Param } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { UuidParam, type NasView } from '@flotilla/contracts';
import { RequireRole } from '../../auth/role.guard';
import { ValidationError } from '../../common/errors';
import { ZodPipe } from '../../common/zod.pipe';
import { isJobOf } from '../../jobs/job-kind';
import { JobsService } from '../../jobs/jobs.service';
import { NasJobKind } from './nas.kind';

@ApiTags('jobs')
@RequireRole('viewer')
@Controller('jobs')
export class NasController {
  constructor(
    private readonly jobs: JobsService,
    private readonly kind: NasJobKind,
  ) {}

  @Get(':id/nas')
  @ApiOperation({
    summary:
      'NAS job: the supernet tree (masks, GM matrices, split decisions, per-node metrics), the final selection and the chosen architecture with its accuracy',
  })
  async tree(@Param('id', new ZodPipe(UuidParam, 'job id')) id: string): Promise<NasView> {
    const job = await this.jobs.require(id);
    if (!isJobOf(job, 'nas')) throw new ValidationError(`Job ${id} is a ${job.kind} job, not a NAS job`);
    return this.kind.tree(job);
  }
}
