/**
 * `npm run bench -- fleet [--agents N] [--rounds R] [--idle-seconds S] [--wait-ms W] [--json]`: the agent transport
 * at fleet size, measured by scripts/fleet.ts (a real coordinator process, PostgreSQL, a private Redis, N simulated
 * agents as HTTP clients). It runs as its own process: it starts and stops services, and its thousands of sockets
 * should not share this one's event loop.
 */
import type { Bench } from './run';
import { runScript } from './script';

export const bench: Bench = {
  description: 'agent transport: N simulated agents long-polling over HTTP; delivery latency, coordinator RSS/CPU, heartbeat writes',
  run: (args, say) => runScript('fleet', args, say),
};
