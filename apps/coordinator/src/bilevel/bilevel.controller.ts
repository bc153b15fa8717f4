import { Controller, Get, Param, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { UuidParam } from '@flotilla/contracts';
import { AdminGuard } from '../common/admin.guard';
import { ZodPipe } from '../common/zod.pipe';
import { BilevelRunner } from './bilevel.runner';

@ApiTags('jobs')
@ApiBearerAuth()
@UseGuards(AdminGuard)
@Controller('jobs')
export class BilevelController {
  constructor(private readonly runner: BilevelRunner) {}

  @Get(':id/bilevel')
  @ApiOperation({ summary: 'Runs of a bilevel job: settings, state, result and curves (λ, ‖gradX‖, stationarity, f, accuracy)' })
  runs(@Param('id', new ZodPipe(UuidParam, 'job id')) id: string) {
    return this.runner.runsOf(id);
  }
}
