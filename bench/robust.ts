/**
 * Robust aggregation cost: one round of FedAU's weighted mean (the streaming fold of the coordinator) next to the
 * coordinate-wise weighted median and trimmed mean (`beginRobustRound`, docs/algorithms/fedau.md §11.3), on the same
 * K updates of d parameters. The robust rounds read their updates tile by tile from arrays here (the coordinator reads
 * them from blob files), so the times are the combination's own. Best of 3 rounds after an untimed one.
 *   --dims 1e5,1e6   --ks 10,50
 */
import { createAggregationRule, createRng, type AggregationClientState, type RobustAggregation } from '@flotilla/algorithms';
import { parseArgs } from 'node:util';
import type { Bench } from './run';

export interface RobustCase {
  combination: 'weighted mean' | 'median' | 'trimmed mean 0.1';
  d: number;
  k: number;
  ms: number;
  /** Nanoseconds per (coordinate, update). */
  nsPerValue: number;
}

const COMBINATIONS: [RobustCase['combination'], RobustAggregation | null][] = [
  ['weighted mean', null],
  ['median', { kind: 'median' }],
  ['trimmed mean 0.1', { kind: 'trimmed-mean', trim: 0.1 }],
];

export const bench: Bench = {
  description: 'robust aggregation (coordinate-wise median, trimmed mean) vs the weighted mean (d = 1e5, 1e6; K = 10, 50)',
  run(args, say) {
    const { values } = parseArgs({
      args,
      options: { dims: { type: 'string', default: '1e5,1e6' }, ks: { type: 'string', default: '10,50' } },
    });
    const dims = values.dims.split(',').map(Number);
    const ks = values.ks.split(',').map(Number);
    const rng = createRng(1);
    const cases: RobustCase[] = [];
    say('combination        d      K        ms   ns per (coordinate, update)');
    for (const d of dims) {
      for (const k of ks) {
        const updates = Array.from({ length: k }, () => Float32Array.from({ length: d }, () => rng.next() - 0.5));
        const rule = createAggregationRule({ rule: 'fedau', cutoffK: null }, { globalLr: 1 });
        const ids = updates.map((_, i) => `client-${i}`);
        const clientStates = new Map<string, AggregationClientState>(ids.map((id) => [id, rule.initialClientState()]));
        const global = new Float32Array(d);
        for (const [combination, robust] of COMBINATIONS) {
          const once = (): number => {
            const t0 = process.hrtime.bigint();
            if (robust) {
              const round = rule.beginRobustRound(d, { clientStates, updatesValidated: true }, robust);
              for (const id of ids) round.add(id);
              round.finish(global, (i, from, into) => into.set(updates[i].subarray(from, from + into.length)), { into: global });
            } else {
              const round = rule.beginRound(d, { clientStates, updatesValidated: true });
              for (let i = 0; i < k; i++) round.add(ids[i], updates[i]);
              round.finish(global, { into: global });
            }
            return Number(process.hrtime.bigint() - t0) / 1e6;
          };
          once();
          const ms = Math.min(once(), once(), once());
          const c: RobustCase = { combination, d, k, ms: Math.round(ms * 10) / 10, nsPerValue: Math.round((ms * 1e7) / (d * k)) / 10 };
          cases.push(c);
          say(
            `${combination.padEnd(17)} ${d.toExponential(0).padStart(5)}  ${String(k).padStart(4)}  ${c.ms.toFixed(1).padStart(8)}  ${c.nsPerValue.toFixed(1).padStart(8)}`,
          );
        }
      }
    }
    return Promise.resolve({ dims, ks, cases });
  },
};
