import { Client } from 'pg';

/** Rows of one SQL query, straight to PostgreSQL (not through any proxy the test may cut). */
export async function sqlRows<T>(databaseUrl: string, text: string, values: unknown[]): Promise<T[]> {
  const c = new Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    return (await c.query(text, values)).rows as T[];
  } finally {
    await c.end();
  }
}

/**
 * Every closed round of a federated job, recomputed from the stored blobs: x_{t+1} = x_t + γ Σ ω·s·Δ / N over the
 * participants (ω its FedAU weight, s its clip scale, N every client the job asked so far, γ = 1), one participation
 * row per asked agent, and every stored update either aggregated or rejected by the update policy. Whatever happened
 * to the coordinators meanwhile, nothing may be lost or applied twice.
 * @param blob reads a blob by hash (from the directory or the bucket the coordinators use).
 */
export async function expectExactAggregation(
  databaseUrl: string,
  blob: (hash: string) => Promise<Float32Array>,
  jobId: string,
  closedRounds: number,
): Promise<void> {
  const sql = <T>(text: string, values: unknown[]) => sqlRows<T>(databaseUrl, text, values);
  const rs = await sql<{ index: number; eligible_agent_ids: string[] }>(
    'SELECT index, eligible_agent_ids FROM rounds WHERE job_id = $1 AND status = $2 ORDER BY index',
    [jobId, 'closed'],
  );
  expect(rs.length).toBe(closedRounds);
  const asked = new Set<string>();
  for (const r of rs) {
    r.eligible_agent_ids.forEach((id) => asked.add(id));
    const [before] = await sql<{ hash: string }>('SELECT hash FROM checkpoints WHERE job_id = $1 AND round = $2', [jobId, r.index - 1]);
    const [after] = await sql<{ hash: string }>('SELECT hash FROM checkpoints WHERE job_id = $1 AND round = $2', [jobId, r.index]);
    const rows = await sql<{
      agent_id: string;
      participated: boolean;
      weight: number;
      clip_scale: number | null;
      absence: string | null;
    }>('SELECT agent_id, participated, weight, clip_scale, absence FROM participations WHERE job_id = $1 AND round = $2', [jobId, r.index]);
    const updates = await sql<{ agent_id: string; blob_hash: string | null }>(
      'SELECT agent_id, blob_hash FROM updates WHERE job_id = $1 AND round = $2',
      [jobId, r.index],
    );
    expect(rows.map((p) => p.agent_id).sort()).toEqual([...r.eligible_agent_ids].sort());
    const byAgent = new Map(rows.map((p) => [p.agent_id, p]));
    for (const u of updates.filter((x) => x.blob_hash)) {
      const p = byAgent.get(u.agent_id)!;
      expect(p.participated || p.absence === 'rejected').toBe(true);
    }
    const expected = Float64Array.from(await blob(before.hash));
    for (const p of rows.filter((q) => q.participated)) {
      const delta = await blob(updates.find((u) => u.agent_id === p.agent_id)!.blob_hash!);
      const k = (p.weight * (p.clip_scale ?? 1)) / asked.size;
      for (let i = 0; i < delta.length; i++) expected[i] += k * delta[i];
    }
    const got = await blob(after.hash);
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - expected[i]));
    expect(worst).toBeLessThan(1e-5);
  }
}
