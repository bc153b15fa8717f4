import { Injectable } from '@nestjs/common';
import type { JoinToken } from '@prisma/client';
import { PrismaService } from '../database/prisma.service';

@Injectable()
export class JoinTokensRepository {
  constructor(private readonly prisma: PrismaService) {}

  create(data: { id: string; label: string; secretHash: string; expiresAt: Date | null; maxUses: number | null }): Promise<JoinToken> {
    return this.prisma.joinToken.create({ data });
  }

  /** Newest first. */
  list(): Promise<JoinToken[]> {
    return this.prisma.joinToken.findMany({ orderBy: { createdAt: 'desc' } });
  }

  findById(id: string): Promise<JoinToken | null> {
    return this.prisma.joinToken.findUnique({ where: { id } });
  }

  /**
   * Counts one use if the token admits one at `now` (not revoked, not expired, uses left); false otherwise. One
   * conditional UPDATE: concurrent registrations serialise on the row and each re-checks the count it sees, so a
   * token never admits more than max_uses agents. The column holds UTC wall time, which is what the ISO string
   * cast to `timestamp` gives.
   */
  async consume(id: string, now: Date): Promise<boolean> {
    const at = now.toISOString();
    const rows = await this.prisma.$queryRaw<{ id: string }[]>`
      UPDATE "join_tokens" SET "uses" = "uses" + 1, "last_used_at" = ${at}::timestamp(3)
       WHERE "id" = ${id}::uuid
         AND "revoked_at" IS NULL
         AND ("expires_at" IS NULL OR "expires_at" > ${at}::timestamp(3))
         AND ("max_uses" IS NULL OR "uses" < "max_uses")
      RETURNING "id"`;
    return rows.length === 1;
  }

  /** Revokes the token (a token revoked earlier keeps its time); the row, or null when there is none. */
  async revoke(id: string, at: Date): Promise<JoinToken | null> {
    await this.prisma.joinToken.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: at } });
    return this.findById(id);
  }
}
