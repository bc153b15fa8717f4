import { Controller, Get, Header, HttpCode, Inject, Param, Post, Req, StreamableFile, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiConsumes, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { AgentGuard } from '../agents/agent.guard';
import { InvalidResultError, ValidationError } from '../common/errors';
import { BLOB_STORE, BlobStore, bytesToFloat32 } from './blob-store';

/** Blobs for agents: weights down by content hash, task result weights up (named by hash in the result). */
@ApiTags('agent data plane')
@ApiBearerAuth()
@UseGuards(AgentGuard)
@Controller('blobs')
export class BlobsController {
  constructor(@Inject(BLOB_STORE) private readonly blobs: BlobStore) {}

  @Get(':hash')
  @Header('Content-Type', 'application/octet-stream')
  @ApiOperation({ summary: 'Download weights by sha256 content hash (little-endian float32)' })
  async download(@Param('hash') hash: string): Promise<StreamableFile> {
    return new StreamableFile(await this.blobs.get(hash));
  }

  @Post()
  @HttpCode(200)
  @ApiConsumes('application/octet-stream')
  @ApiOperation({ summary: 'Upload a float32 blob (e.g. trained weights named in a task result); returns its sha256' })
  async upload(@Req() req: Request): Promise<{ hash: string; count: number }> {
    if (!Buffer.isBuffer(req.body) || req.body.byteLength === 0 || req.body.byteLength % 4 !== 0) {
      throw new ValidationError('Blob body must be non-empty application/octet-stream float32 (little-endian), a multiple of 4 bytes');
    }
    const values = bytesToFloat32(req.body);
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i])) throw new InvalidResultError(`Blob refused: element ${i} is ${values[i]}`);
    }
    return { hash: await this.blobs.putFloat32(values), count: values.length };
  }
}
