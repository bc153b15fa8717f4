import { Controller, Get, Param } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { UuidParam, type ParticipationView, type RoundView } from '@flotilla/contracts';
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
  @ApiOperation({ summary: 'Rounds of a federated job with participants, FedAU weight range and metrics' })
  async rounds(@Param('id', JobId) id: string): Promise<RoundView[]> {
    return this.kind.roundsOf(await this.federated(id));
  }

  @Get(':id/participation')
  @ApiOperation({ summary: 'Participation matrix (agents × rounds) of a federated job with the FedAU weights used' })
  async participation(@Param('id', JobId) id: string): Promise<ParticipationView> {
    return this.kind.participation(await this.federated(id));
  }

  private async federated(id: string): Promise<JobOf<'federated'>> {
    const job = await this.jobs.require(id);
    if (!isJobOf(job, 'federated')) throw new ValidationError(`Job ${id} is a ${job.kind} job; rounds belong to federated jobs`);
    return job;
  }
}
