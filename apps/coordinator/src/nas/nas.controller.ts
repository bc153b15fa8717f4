import { Controller, Get, Param, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { UuidParam, type NasView } from '@flotilla/contracts';
import { AdminGuard } from '../common/admin.guard';
import { ZodPipe } from '../common/zod.pipe';
import { NasRunner } from './nas.runner';

@ApiTags('jobs')
@ApiBearerAuth()
@UseGuards(AdminGuard)
@Controller('jobs')
export class NasController {
  constructor(private readonly runner: NasRunner) {}

  @Get(':id/nas')
  @ApiOperation({
    summary:
      'NAS job: the supernet tree (masks, GM matrices, split decisions, per-node metrics), the final selection and the chosen architecture with its accuracy',
  })
  tree(@Param('id', new ZodPipe(UuidParam, 'job id')) id: string): Promise<NasView> {
    return this.runner.view(id);
  }
}
