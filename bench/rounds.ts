/**
 * `npm run bench -- rounds …`: the federated round loop at scale, in one of two modes.
 *   - With real training (`[--agents N] [--hidden H] [--rounds R] [--faults]`): scripts/rounds.ts, a real coordinator
 *     process, PostgreSQL, a private Redis, N real agents (the agent's ClientAgent, training with TensorFlow.js) in one
 *     more process, optionally behind the fault-injecting proxy.
 *   - Simulated, without training, whenever `--per-round`, `--params`, `--replicas` or `--simulated` is given
 *     (`[--agents N] [--per-round P] [--params D] [--replicas K] [--rounds R]`): scripts/scale.ts, N agents as real
 *     HTTP clients uploading random updates, P a round, against K coordinator replicas: the coordinator's own cost.
 */
import type { Bench } from './run';
import { runScript } from './script';

/** Options that only the simulated mode has: any of them selects it. */
const SIMULATED = ['--per-round', '--params', '--replicas', '--simulated'];

export const bench: Bench = {
  description: 'round loop at scale: real training (--agents, --hidden), or simulated agents (--per-round, --params, --replicas)',
  run: (args, say) => {
    const simulated = args.some((a) => SIMULATED.includes(a.split('=')[0]));
    return simulated
      ? runScript(
          'scale',
          args.filter((a) => a !== '--simulated'),
          say,
        )
      : runScript('rounds', args, say);
  },
};
