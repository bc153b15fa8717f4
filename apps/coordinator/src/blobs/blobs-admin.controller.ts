import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import { BlobSweepRequestSchema, type BlobSweepRequest } from '@flotilla/contracts';
import { RequireRole } from '../auth/role.guard';
import { jsonSchema } from '../common/openapi';
import { ZodPipe } from '../common/zod.pipe';
import { BlobGcService, type BlobSweepReport } from './blob-gc.service';

@ApiTags('admin')
@RequireRole('admin')
@Controller('admin/blobs')
export class BlobsAdminController {
  constructor(private readonly gc: BlobGcService) {}

  @Post('gc')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Delete blobs no row names any more (closed rounds’ updates, mostly) that are older than the grace period; dryRun (default true) only reports',
  })
  @ApiBody({ schema: jsonSchema(BlobSweepRequestSchema) })
  sweep(@Body(new ZodPipe(BlobSweepRequestSchema, 'blob sweep request')) body: BlobSweepRequest): Promise<BlobSweepReport> {
    return this.gc.sweep({ dryRun: body.dryRun, graceMs: body.graceMs });
  }
}
