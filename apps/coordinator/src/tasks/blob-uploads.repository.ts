import { Injectable } from '@nestjs/common';
import type { Prisma } from '@prisma/client';
import { PrismaService } from '../database/prisma.service';

/** An agent's uploads for the blob-naming tasks it holds open (see {@link BlobUploadsRepository.state}). */
export interface UploadState {
  /** The open task a new upload counts for (the agent's own running one first, the latest assigned); null: none. */
  taskId: string | null;
  /** Bytes and blobs uploaded for the agent's open tasks. */
  bytes: number;
  count: number;
  /** Whether this very blob was uploaded for one of them already (a retry: it costs nothing more). */
  repeated: boolean;
}

type Db = Prisma.TransactionClient | PrismaService;

/** The ledger of blob uploads (`blob_uploads`): who uploaded which blob for which task, for the agents' quotas. */
@Injectable()
export class BlobUploadsRepository {
  constructor(private readonly prisma: PrismaService) {}

  /**
   * The agent's open tasks of `kinds` — tasks it could still answer (TasksService.complete takes a result while the
   * task is pending or running, from its assignee or an earlier one), of running jobs — and what it uploaded for them.
   */
  async state(agentId: string, kinds: readonly string[], hash: string | null = null, db: Db = this.prisma): Promise<UploadState> {
    const [row] = await db.$queryRaw<{ task_id: string | null; bytes: bigint; count: number; repeated: boolean }[]>`
      WITH open AS (
        SELECT t.id, t.agent_id = ${agentId}::uuid AS mine, t.assigned_at
          FROM tasks t JOIN jobs j ON j.id = t.job_id
         WHERE j.status = 'running' AND t.status IN ('pending', 'running') AND t.kind = ANY(${[...kinds]}::text[])
           AND (t.agent_id = ${agentId}::uuid OR ${agentId}::uuid = ANY(t.failed_agent_ids))
      )
      SELECT (SELECT id::text FROM open ORDER BY mine DESC, assigned_at DESC NULLS LAST, id LIMIT 1) AS task_id,
             COALESCE(SUM(u.bytes), 0)::bigint AS bytes,
             COUNT(u.hash)::int AS count,
             COALESCE(bool_or(u.hash = ${hash}::text), false) AS repeated
        FROM blob_uploads u
       WHERE u.agent_id = ${agentId}::uuid AND u.task_id IN (SELECT id FROM open)`;
    return { taskId: row.task_id, bytes: Number(row.bytes), count: row.count, repeated: row.repeated };
  }

  /**
   * Records an upload of `hash` unless it is a repeat, after `admit` has seen the agent's state and not thrown; one
   * agent's uploads are serialised (a transaction-scoped advisory lock), so concurrent ones cannot both take the
   * last of a quota.
   */
  record(
    agentId: string,
    hash: string,
    bytes: number,
    kinds: readonly string[],
    admit: (state: UploadState) => void,
  ): Promise<UploadState> {
    return this.prisma.$transaction(async (tx) => {
      await tx.$queryRaw`SELECT pg_advisory_xact_lock(hashtext(${`blob-uploads:${agentId}`}))::text`;
      const state = await this.state(agentId, kinds, hash, tx);
      if (state.repeated) return state;
      admit(state);
      await tx.blobUpload.create({ data: { taskId: state.taskId!, agentId, hash, bytes } });
      return state;
    });
  }

  /**
   * Deletes the ledger rows of uploads that no longer count (their task is not open, or its job is not running, or the
   * task is gone): the ledger stays the size of the open tasks' uploads. Returns how many went.
   */
  deleteClosed(): Promise<number> {
    return this.prisma.$executeRaw`
      DELETE FROM blob_uploads u
       WHERE NOT EXISTS (
         SELECT 1 FROM tasks t JOIN jobs j ON j.id = t.job_id
          WHERE t.id = u.task_id AND j.status = 'running' AND t.status IN ('pending', 'running'))`;
  }
}
