/**
 * Aggregation throughput: K client updates of d float32 parameters folded into the FedAU streaming
 * aggregator (the coordinator's code), next to this machine's memory-copy bandwidth measured in the
 * same run. GB/s counts the update bytes consumed (K · d · 4 bytes) per second; memcpy GB/s counts
 * the bytes copied by Float32Array.prototype.set on a buffer far larger than the caches.
 */
import { StreamingAggregator, createRng } from '@flotilla/algorithms';
import { parseArgs } from 'node:util';
import type { Bench } from './run';

interface Case {
  rule: string;
  d: number;
  k: number;
  GBps: number;
  ratioToMemcpy: number;
}

/** Best of `repeats` timings, in seconds. */
function best(repeats: number, fn: () => void): number {
  let min = Infinity;
  for (let i = 0; i < repeats; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    min = Math.min(min, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return min;
}

function memcpyGBps(): number {
  const n = 16 * 1024 * 1024; // 64 MiB of float32, well beyond the last-level cache
  const src = new Float32Array(n).fill(1);
  const dst = new Float32Array(n);
  const s = best(7, () => dst.set(src));
  return (n * 4) / s / 1e9;
}

export const bench: Bench = {
  description: 'FedAU streaming aggregation throughput vs memcpy (d = 1e5, 1e6, 1e7; K = 10, 100)',
  run(args, say) {
    const { values } = parseArgs({ args, options: { dims: { type: 'string', default: '1e5,1e6,1e7' }, ks: { type: 'string', default: '10,100' } } });
    const dims = values.dims.split(',').map(Number);
    const ks = values.ks.split(',').map(Number);
    const memcpy = memcpyGBps();
    say(`memcpy (Float32Array.set, 64 MiB): ${memcpy.toFixed(2)} GB/s`);
    say('');
    say('rule    d          K     GB/s   ratio to memcpy   updates/s');
    const cases: Case[] = [];
    const rng = createRng(1);
    for (const d of dims) {
      // A pool of distinct updates, cycled, so every add streams an update from memory.
      const pool = Array.from({ length: 4 }, () => Float32Array.from({ length: d }, () => rng.next() - 0.5));
      const global = new Float32Array(d);
      for (const k of ks) {
        const repeats = d * k >= 1e9 ? 1 : 3;
        const s = best(repeats, () => {
          const agg = new StreamingAggregator(d);
          for (let i = 0; i < k; i++) agg.add(pool[i % pool.length], 1 + (i % 3));
          agg.apply(global, { globalLr: 1, divisor: k });
        });
        const GBps = (k * d * 4) / s / 1e9;
        const c: Case = { rule: 'fedau', d, k, GBps: round3(GBps), ratioToMemcpy: round3(GBps / memcpy) };
        cases.push(c);
        say(`fedau   ${d.toExponential(0).padEnd(9)}  ${String(k).padEnd(4)}  ${GBps.toFixed(2).padStart(5)}   ${c.ratioToMemcpy.toFixed(2).padStart(15)}   ${(k / s).toFixed(0).padStart(9)}`);
      }
    }
    return Promise.resolve({ memcpyGBps: round3(memcpy), cases });
  },
};

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
