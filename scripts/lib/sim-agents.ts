import { fetch, type Dispatcher } from 'undici';

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
