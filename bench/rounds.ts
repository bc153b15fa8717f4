/**
 * `npm run bench -- rounds [--agents N] [--hidden H] [--rounds R] [--faults] [--json]`: the federated round loop with
 * real training at scale, measured by scripts/rounds.ts (a real coordinator process, PostgreSQL, a private Redis, N
 * real agents in one more process, optionally behind the fault-injecting proxy).
 */
import type { Bench } from './run';
import { runScript } from './script';

export const bench: Bench = {
  description: 'round loop with real training: N agents, an MLP of ~1M parameters, optionally behind a faulty network',
  run: (args, say) => runScript('rounds', args, say),
};
