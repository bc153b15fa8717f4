import { Controller, HttpCode, Inject, Post, Req } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiOperation, ApiTags } from '@nestjs/swagger';
import { validateUpdate } from '@flotilla/algorithms';
import type { Request } from 'express';
import { RequireRole } from '../../auth/role.guard';
import { BLOB_STORE, BlobStore, bytesToFloat32 } from '../../blobs/blob-store';
import { ReadBody, readRawBody } from '../../common/body';
import { ValidationError } from '../../common/errors';
import { APP_CONFIG, type AppConfig } from '../../config/config';

/**
 * Initial weights of a `layers` model, uploaded by whoever submits the job: a content-addressed float32 blob that
 * the job spec names (`model.initialWeights.hash`). Like every blob no row names, it is swept once it is older than
 * BLOB_GC_GRACE_MS if no job takes it.
 */
@ApiTags('jobs')
@RequireRole('submitter')
@Controller('models')
export class ModelWeightsController {
  constructor(
    @Inject(BLOB_STORE) private readonly blobs: BlobStore,
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'MAX_MODEL_PARAMETERS'>,
  ) {}

  @Post('weights')
  @HttpCode(201)
  @ReadBody({ raw: true })
  @ApiConsumes('application/octet-stream')
  @ApiBody({
    schema: { type: 'string', format: 'binary', description: "float32 little-endian: a model.json's weight files concatenated" },
  })
  @ApiOperation({
    summary:
      'Upload initial weights for a layers model (at most 4 × MAX_MODEL_PARAMETERS bytes); name the returned hash in model.initialWeights',
  })
  async upload(@Req() req: Request): Promise<{ hash: string; values: number }> {
    const body = await readRawBody(req, 4 * this.config.MAX_MODEL_PARAMETERS);
    if (!body || body.byteLength === 0) throw new ValidationError('Weights body must be application/octet-stream (float32 little-endian)');
    if (body.byteLength % 4 !== 0)
      throw new ValidationError(`Weights body has ${body.byteLength} bytes, not a whole number of float32 values`);
    const values = bytesToFloat32(body);
    const problem = validateUpdate(values, values.length);
    if (problem) throw new ValidationError(`Weights are not usable: ${problem}`);
    return { hash: await this.blobs.put(body), values: values.length };
  }
}
