import { Controller, Get, Header, Inject, Param, StreamableFile, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AgentGuard } from '../agents/agent.guard';
import { TransferGuard } from '../agents/transfer.guard';
import { BLOB_STORE, BlobStore } from './blob-store';

/** Blobs for agents: weights down by content hash (uploads belong to tasks: tasks/task-blobs.controller.ts). */
@ApiTags('agent data plane')
@ApiBearerAuth()
@UseGuards(AgentGuard)
@Controller('blobs')
export class BlobsController {
  constructor(@Inject(BLOB_STORE) private readonly blobs: BlobStore) {}

  @Get(':hash')
  @Header('Content-Type', 'application/octet-stream')
  @UseGuards(TransferGuard)
  @ApiOperation({ summary: 'Download weights by sha256 content hash (little-endian float32)' })
  async download(@Param('hash') hash: string): Promise<StreamableFile> {
    return new StreamableFile(await this.blobs.get(hash));
  }
}
