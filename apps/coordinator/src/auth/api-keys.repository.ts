import { Injectable } from '@nestjs/common';
import type { ApiKey, ApiKeyRole } from '@prisma/client';
import { PrismaService } from '../database/prisma.service';

@Injectable()
export class ApiKeysRepository {
  constructor(private readonly prisma: PrismaService) {}

  create(data: { id: string; label: string; role: ApiKeyRole; secretHash: string }): Promise<ApiKey> {
    return this.prisma.apiKey.create({ data });
  }

  /** Newest first. */
  list(): Promise<ApiKey[]> {
    return this.prisma.apiKey.findMany({ orderBy: { createdAt: 'desc' } });
  }

  findById(id: string): Promise<ApiKey | null> {
    return this.prisma.apiKey.findUnique({ where: { id } });
  }

  /** Revokes the key (a key revoked earlier keeps its time); the row, or null when there is none. */
  async revoke(id: string, at: Date): Promise<ApiKey | null> {
    await this.prisma.apiKey.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: at } });
    return this.findById(id);
  }
}
