import { Controller, Get, Inject, Param, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { AgentGuard } from '../agents/agent.guard';
import { TransferGuard } from '../agents/transfer.guard';
import { NotFoundError } from '../common/errors';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { BLOB_STORE, BlobStore } from './blob-store';

/** Blobs for agents: weights down by content hash (uploads belong to tasks: tasks/task-blobs.controller.ts). */
@ApiTags('agent data plane')
@ApiBearerAuth()
@UseGuards(AgentGuard)
@Controller('blobs')
export class BlobsController {
  constructor(
    @Inject(BLOB_STORE) private readonly blobs: BlobStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get(':hash')
  @UseGuards(TransferGuard)
  @ApiOperation({
    summary:
      'Download weights by sha256 content hash (little-endian float32); with S3_PRESIGNED_DOWNLOADS, a 307 redirect to a pre-signed URL of the bucket',
  })
  async download(@Param('hash') hash: string, @Res() res: Response): Promise<void> {
    if (this.config.S3_PRESIGNED_DOWNLOADS) {
      // The agent's credentials were checked (AgentGuard); the URL is good for this blob only, for a few minutes. A
      // client following it drops its Authorization header (another origin), and checks the bytes against the hash.
      const url = await this.blobs.downloadUrl(hash, this.config.S3_PRESIGN_TTL_S);
      if (!url) throw new NotFoundError(`Blob ${hash} not found`);
      res.setHeader('Cache-Control', 'no-store');
      res.redirect(307, url);
      return;
    }
    const bytes = await this.blobs.get(hash);
    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Content-Length', String(bytes.byteLength));
    res.end(bytes);
  }
}
