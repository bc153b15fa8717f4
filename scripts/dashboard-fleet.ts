/**
 * Simulated agents that answer a federated job's rounds over the real HTTP API, round by round, each as a pattern
 * says: a zero-cost stand-in for a fleet when what matters is the coordinator's record of the rounds (the dashboard's
 * test and its screenshots). Updates are small deterministic deltas; no model is trained.
 */

/** A registered agent and its bearer token. */
export interface FleetAgent {
  id: string;
  name: string;
  token: string;
}

/** What an agent does in a round it is eligible for. */
export type RoundAnswer = 'update' | 'decline' | { error: string } | { scale: number };

async function call<T>(base: string, method: string, path: string, token: string | undefined, body?: unknown, raw?: Uint8Array) {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (raw) headers['content-type'] = 'application/octet-stream';
  const res = await fetch(base + path, { method, headers, body: raw ?? (body === undefined ? undefined : JSON.stringify(body)) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return (text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : undefined) as T;
}

/** Registers agents with the join token; `extra` is each registration's other fields (datasets, labels, backend, …). */
export async function registerAgents(
  base: string,
  joinToken: string,
  agents: { name: string; datasets: string[]; [field: string]: unknown }[],
): Promise<FleetAgent[]> {
  const out: FleetAgent[] = [];
  for (const a of agents) {
    const r = await call<{ agentId: string; agentSecret: string }>(base, 'POST', '/api/v1/agents/register', undefined, { joinToken, ...a });
    out.push({ id: r.agentId, name: a.name, token: `${r.agentId}.${r.agentSecret}` });
  }
  return out;
}

export function heartbeat(base: string, agent: FleetAgent, body: unknown = {}): Promise<unknown> {
  return call(base, 'POST', '/api/v1/agents/heartbeat', agent.token, body);
}

/** A delta of `length` floats, different per agent and round, of norm about `scale` · √(length/2) · 1e-3. */
function delta(length: number, agent: number, round: number, scale: number): Uint8Array {
  const f = Float32Array.from({ length }, (_, i) => scale * 1e-3 * Math.sin(i + 7 * agent + 0.1 * round));
  return new Uint8Array(f.buffer);
}

async function roundStatus(base: string, adminToken: string, jobId: string, round: number): Promise<string | undefined> {
  const page = await call<{ status: string }[]>(base, 'GET', `/api/v1/jobs/${jobId}/rounds?offset=${round}&limit=1`, adminToken);
  return page[0]?.status;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Answers rounds `from` to `to` − 1 of a federated job: waits for each to open, then every agent answers as
 * `answer(agentIndex, round)` says (every eligible agent answers, so a round closes as soon as the last has), and
 * waits for the last to close. The agents heartbeat every 10 rounds so that they stay online however long it takes.
 */
export async function answerRounds(args: {
  base: string;
  adminToken: string;
  jobId: string;
  agents: FleetAgent[];
  from?: number;
  to: number;
  answer: (agent: number, round: number) => RoundAnswer;
}): Promise<void> {
  const { base, adminToken, jobId, agents } = args;
  const job = await call<{ parameterCount: number }>(base, 'GET', `/api/v1/jobs/${jobId}`, adminToken);
  for (let round = args.from ?? 0; round < args.to; round++) {
    if (round % 10 === 0) await Promise.all(agents.map((a) => heartbeat(base, a)));
    await until(`round ${round} open`, async () => (await roundStatus(base, adminToken, jobId, round)) === 'open');
    await Promise.all(
      agents.map((a, k) => {
        const what = args.answer(k, round);
        const path = `/api/v1/jobs/${jobId}/rounds/${round}`;
        if (what === 'decline') return call(base, 'POST', `${path}/decline`, a.token, { reason: 'unavailable' });
        if (typeof what === 'object' && 'error' in what)
          return call(base, 'POST', `${path}/decline`, a.token, { reason: 'error', message: what.error });
        const scale = typeof what === 'object' ? what.scale : 1;
        const loss = (2 / (1 + round / 10)).toFixed(4);
        return call(
          base,
          'POST',
          `${path}/update?exampleCount=32&trainLoss=${loss}&durationMs=5`,
          a.token,
          undefined,
          delta(job.parameterCount, k, round, scale),
        );
      }),
    );
  }
  const last = args.to - 1;
  await until(`round ${last} closed`, async () => (await roundStatus(base, adminToken, jobId, last)) === 'closed');
}
