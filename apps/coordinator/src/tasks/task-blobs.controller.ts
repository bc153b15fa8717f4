import { Controller, HttpCode, Inject, Post, Req, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiOperation, ApiTags } from '@nestjs/swagger';
import { BLOB_TASK_KINDS } from '@flotilla/contracts';
import type { Agent } from '@prisma/client';
import type { Request } from 'express';
import { AgentGuard, CurrentAgent } from '../agents/agent.guard';
import { TransferGuard } from '../agents/transfer.guard';
import { bytesToFloat32 } from '../blobs/blob-store';
import { declaredLength, ReadBody, readRawBody, refuseDeclaredOverLimit } from '../common/body';
import { InvalidResultError, ValidationError } from '../common/errors';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { BlobUploadsService } from './blob-uploads.service';

const NOT_FLOAT32 = 'Blob body must be non-empty application/octet-stream float32 (little-endian), a multiple of 4 bytes';

/**
 * `POST /blobs`: the blobs a task result names go up first (downloads are the blob module's). Refused before the
 * body is read when it is too large (413), not asked for by any task the agent holds (403) or over its quota (403).
 */
@ApiTags('agent data plane')
@ApiBearerAuth()
@UseGuards(AgentGuard)
@Controller('blobs')
export class TaskBlobsController {
  constructor(
    private readonly uploads: BlobUploadsService,
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'MAX_UPDATE_BYTES'>,
  ) {}

  @Post()
  @HttpCode(200)
  @UseGuards(TransferGuard)
  @ReadBody({ raw: true })
  @ApiConsumes('application/octet-stream')
  @ApiBody({ schema: { type: 'string', format: 'binary', description: 'float32 little-endian' } })
  @ApiOperation({
    summary: `Upload a float32 blob a result of an open task of this agent will name (${BLOB_TASK_KINDS.join(', ')}); returns its sha256. Counts against the agent's blob quota`,
  })
  async upload(@CurrentAgent() agent: Agent, @Req() req: Request): Promise<{ hash: string; count: number }> {
    if (!req.is('application/octet-stream')) throw new ValidationError(NOT_FLOAT32);
    refuseDeclaredOverLimit(req, this.config.MAX_UPDATE_BYTES);
    await this.uploads.admit(agent.id, declaredLength(req));
    const body = await readRawBody(req, this.config.MAX_UPDATE_BYTES);
    if (!body || body.byteLength === 0 || body.byteLength % 4 !== 0) throw new ValidationError(NOT_FLOAT32);
    const values = bytesToFloat32(body);
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i])) throw new InvalidResultError(`Blob refused: element ${i} is ${values[i]}`);
    }
    return { hash: await this.uploads.store(agent.id, new Uint8Array(values.buffer)), count: values.length };
  }
}
