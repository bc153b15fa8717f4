import { Injectable } from '@nestjs/common';
import { PrismaService } from '../database/prisma.service';

/**
 * Leases on jobs (table job_leases): one job's control steps run one at a time across every coordinator replica,
 * while different jobs' steps run in parallel. A lease is taken for a time and renewed by its holder while its step
 * runs; one whose holder died expires and is taken over. The database's clock decides expiry, so replicas' clocks
 * need not agree.
 */
@Injectable()
export class JobLeasesRepository {
  constructor(private readonly prisma: PrismaService) {}

  /** Takes (or re-takes) the job's lease for `ttlMs`; false when another holder's lease has not expired. */
  async acquire(jobId: string, holder: string, ttlMs: number): Promise<boolean> {
    const rows = await this.prisma.$queryRaw<{ holder: string }[]>`
      INSERT INTO job_leases (job_id, holder, expires_at)
      VALUES (${jobId}::uuid, ${holder}, now() + ${ttlMs} * interval '1 millisecond')
      ON CONFLICT (job_id) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
        WHERE job_leases.expires_at < now() OR job_leases.holder = EXCLUDED.holder
      RETURNING holder`;
    return rows.length === 1;
  }

  /** Extends a lease `holder` still holds; false when it has lost it (it expired and another took it). */
  async renew(jobId: string, holder: string, ttlMs: number): Promise<boolean> {
    const n = await this.prisma.$executeRaw`
      UPDATE job_leases SET expires_at = now() + ${ttlMs} * interval '1 millisecond'
       WHERE job_id = ${jobId}::uuid AND holder = ${holder}`;
    return n === 1;
  }

  /** Gives the lease up (nothing when `holder` no longer holds it). */
  async release(jobId: string, holder: string): Promise<void> {
    await this.prisma.$executeRaw`DELETE FROM job_leases WHERE job_id = ${jobId}::uuid AND holder = ${holder}`;
  }

  /** The job's current holder, if its lease has not expired (for tests and diagnostics). */
  async holder(jobId: string): Promise<string | null> {
    const rows = await this.prisma.$queryRaw<{ holder: string }[]>`
      SELECT holder FROM job_leases WHERE job_id = ${jobId}::uuid AND expires_at >= now()`;
    return rows[0]?.holder ?? null;
  }
}
