import * as path from 'node:path';
import { Agent, fetch, type Dispatcher, type Response } from 'undici';
import { ROOT } from './stack';

/** What the simulated agents use of the agent's retry policy (apps/client-agent/src/retry-policy.ts; a tool may not import an app). */
const retryPolicy = require(path.join(ROOT, 'apps', 'client-agent', 'dist', 'retry-policy.js')) as {
  DEFAULT_RETRY: { baseDelayMs: number; maxDelayMs: number; attemptTimeoutMs: number };
  backoffDelay(failures: number, options: { baseDelayMs: number; maxDelayMs: number }, retryAfterMs?: number | null): number;
  parseRetryAfter(value: string | null): number | null;
};

/**
 * The connection pools of a simulated fleet of `agents`: `http`, one connection per waiting poll and room for the
 * agents' answers, with no header or body timeout (a poll waits on purpose); `control`, a few connections of the
 * benchmark's own (admin API, /metrics) apart from the agents' pool.
 */
export function fleetPools(agents: number, connectTimeoutMs: number): { http: Agent; control: Agent } {
  return {
    http: new Agent({
      connections: agents + 64,
      keepAliveTimeout: 120_000,
      headersTimeout: 0,
      bodyTimeout: 0,
      connect: { timeout: connectTimeoutMs },
    }),
    control: new Agent({ connections: 8, connect: { timeout: connectTimeoutMs } }),
  };
}

/** A simulated agent's failed call: the status and the Retry-After the coordinator sent with it (ms), if any. */
export class SimulatedCallError extends Error {
  constructor(
    readonly status: number,
    readonly retryAfterMs: number | null,
    message: string,
  ) {
    super(message);
  }

  /** The error for a response that is not `expected` (its body read into the message). */
  static async of(what: string, res: Response): Promise<SimulatedCallError> {
    return new SimulatedCallError(
      res.status,
      retryPolicy.parseRetryAfter(res.headers.get('retry-after')),
      `${what}: ${res.status} ${await res.text()}`,
    );
  }
}

/**
 * How long a simulated agent pauses after `failures` failed tries in a row, as the real agent does: full-jitter
 * exponential backoff, at least the coordinator's Retry-After (a coordinator shedding load with 503 is not hammered).
 */
export function agentBackoff(failures: number, error: unknown): number {
  const retryAfter = error instanceof SimulatedCallError ? error.retryAfterMs : null;
  return retryPolicy.backoffDelay(failures, retryPolicy.DEFAULT_RETRY, retryAfter);
}

/** A small seeded PRNG (mulberry32): a benchmark's or proxy's choices repeat from run to run. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Registers `count` simulated agents (`<prefix>-<i>`, holding uci-digits) over real HTTP, 64 at a time, as the fleet
 * and scale benchmarks do; their ids and bearer tokens, by index.
 */
export async function registerSimulatedAgents(args: {
  url: (p: string) => string;
  dispatcher: Dispatcher;
  joinToken: string;
  count: number;
  prefix: string;
}): Promise<{ id: string; token: string }[]> {
  const agents: { id: string; token: string }[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      for (let i = next++; i < args.count; i = next++) {
        const res = await fetch(args.url('/api/v1/agents/register'), {
          method: 'POST',
          dispatcher: args.dispatcher,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ joinToken: args.joinToken, name: `${args.prefix}-${i}`, datasets: ['uci-digits'] }),
        });
        const body = (await res.json()) as { agentId: string; agentSecret: string };
        if (res.status !== 201) throw new Error(`registration ${i}: ${res.status} ${JSON.stringify(body)}`);
        agents[i] = { id: body.agentId, token: `${body.agentId}.${body.agentSecret}` };
      }
    }),
  );
  return agents;
}
