/**
 * Aggregation throughput: K client updates of d float32 parameters folded into one round of each streaming
 * aggregation rule (the coordinator's code: `createAggregationRule(...).beginRound/add/finish`), next to this
 * machine's memory-copy bandwidth measured in the same run. GB/s counts the update bytes consumed
 * (K · d · 4 bytes) per second, including the round's set-up and finish; memcpy GB/s counts the bytes copied by
 * Float32Array.prototype.set on a buffer far larger than the caches (best of 7, before and after the cases;
 * the higher one is used, which makes the ratios conservative). Each case is the best of several rounds after
 * an untimed warm-up round.
 *
 * Every rule is measured as the coordinator runs it by default (float64 accumulator, every update scanned for
 * NaN/±Infinity). FedAU is also measured with a float32 accumulator and with `updatesValidated` (the scan
 * skipped for updates validated on submission), to show what each choice buys.
 *   --dims 1e5,1e6,1e7   --ks 10,100   --rules fedau,known-p,avg-participating,avg-all,mifa,fedvarp
 */
import {
  AGGREGATION_RULE_NAMES,
  createAggregationRule,
  createRng,
  type AggregationClientState,
  type AggregationRuleName,
  type AggregationSpec,
} from '@flotilla/algorithms';
import { parseArgs } from 'node:util';
import type { Bench } from './run';

interface Case {
  rule: string;
  /** Accumulator precision. */
  accumulator: 'float64' | 'float32';
  /** 'scan': add() scans each update for NaN/±Infinity (default); 'prevalidated': updatesValidated = true. */
  validation: 'scan' | 'prevalidated';
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

function specOf(rule: AggregationRuleName, ids: string[]): AggregationSpec {
  switch (rule) {
    case 'fedau':
      return { rule, cutoffK: null };
    case 'known-p':
      return { rule, p: Object.fromEntries(ids.map((id) => [id, 0.5])) };
    case 'avg-participating':
    case 'avg-all':
    case 'mifa':
    case 'fedvarp':
      return { rule };
  }
}

export const bench: Bench = {
  description: 'streaming aggregation throughput of every rule vs memcpy (d = 1e5, 1e6, 1e7; K = 10, 100)',
  run(args, say) {
    const { values } = parseArgs({
      args,
      options: {
        dims: { type: 'string', default: '1e5,1e6,1e7' },
        ks: { type: 'string', default: '10,100' },
        rules: { type: 'string', default: AGGREGATION_RULE_NAMES.join(',') },
      },
    });
    const dims = values.dims.split(',').map(Number);
    const ks = values.ks.split(',').map(Number);
    const rules = values.rules.split(',').map((r) => {
      if (!(AGGREGATION_RULE_NAMES as readonly string[]).includes(r))
        throw new Error(`unknown rule '${r}' (expected ${AGGREGATION_RULE_NAMES.join(', ')})`);
      return r as AggregationRuleName;
    });
    const variants: { rule: AggregationRuleName; accumulator: Case['accumulator']; validation: Case['validation'] }[] = [
      ...rules.map((rule) => ({ rule, accumulator: 'float64' as const, validation: 'scan' as const })),
      ...(rules.includes('fedau')
        ? [
            { rule: 'fedau' as const, accumulator: 'float32' as const, validation: 'scan' as const },
            { rule: 'fedau' as const, accumulator: 'float64' as const, validation: 'prevalidated' as const },
            { rule: 'fedau' as const, accumulator: 'float32' as const, validation: 'prevalidated' as const },
          ]
        : []),
    ];
    const memcpyBefore = memcpyGBps();
    say(`memcpy (Float32Array.set, 64 MiB): ${memcpyBefore.toFixed(2)} GB/s before the cases`);
    say('');
    say('rule               acc      check         d      K     GB/s   updates/s');
    const raw: (Omit<Case, 'ratioToMemcpy'> & { seconds: number })[] = [];
    const rng = createRng(1);
    for (const d of dims) {
      // A pool of distinct updates, cycled, so every add streams an update from memory; MIFA/FedVarp read
      // another pool entry as the client's previous memory.
      const pool = Array.from({ length: 4 }, () => Float32Array.from({ length: d }, () => rng.next() - 0.5));
      const global = new Float32Array(d);
      for (const k of ks) {
        const ids = Array.from({ length: k }, (_, i) => `client-${i}`);
        for (const v of variants) {
          const rule = createAggregationRule(specOf(v.rule, ids), { globalLr: 1, accumulator: v.accumulator });
          const clientStates = new Map<string, AggregationClientState>(ids.map((id) => [id, rule.initialClientState()]));
          const memorySum = rule.usesClientMemory ? new Float64Array(d) : null;
          const updatesValidated = v.validation === 'prevalidated';
          const once = (): void => {
            const round = rule.beginRound(d, { clientStates, memorySum, updatesValidated });
            for (let i = 0; i < k; i++) round.add(ids[i], pool[i % pool.length], pool[(i + 1) % pool.length]);
            round.finish(global);
          };
          // Small cases: one untimed warm-up round (JIT) and enough repeats for ~10^9 elements in all, at most 20;
          // the biggest (10^9 elements, seconds each) run once, after the smaller cases have warmed the code.
          const elements = d * k;
          if (elements < 1e9) once();
          const s = best(elements >= 1e9 ? 1 : Math.min(20, Math.max(3, Math.ceil(1e9 / elements))), once);
          const GBps = (k * d * 4) / s / 1e9;
          raw.push({ ...v, d, k, GBps, seconds: s });
          say(
            `${v.rule.padEnd(18)} ${v.accumulator}  ${v.validation.padEnd(12)}  ${d.toExponential(0).padStart(5)}  ${String(k).padStart(4)}  ${GBps.toFixed(2).padStart(6)}  ${(k / s).toFixed(0).padStart(10)}`,
          );
        }
      }
    }
    const memcpyAfter = memcpyGBps();
    const memcpy = Math.max(memcpyBefore, memcpyAfter);
    say('');
    say(`memcpy after the cases: ${memcpyAfter.toFixed(2)} GB/s; ratios below use ${memcpy.toFixed(2)} GB/s`);
    const cases: Case[] = raw.map(({ seconds: _s, ...c }) => ({ ...c, GBps: round3(c.GBps), ratioToMemcpy: round3(c.GBps / memcpy) }));
    say('');
    say('ratio to memcpy (goal >= 0.5)');
    const header = ['rule / acc / check'.padEnd(38), ...dims.flatMap((d) => ks.map((k) => `d=${d.toExponential(0)} K=${k}`.padStart(13)))];
    say(header.join(''));
    for (const v of variants) {
      const row = [`${v.rule} / ${v.accumulator} / ${v.validation}`.padEnd(38)];
      for (const d of dims) {
        for (const k of ks) {
          const c = cases.find(
            (x) => x.rule === v.rule && x.accumulator === v.accumulator && x.validation === v.validation && x.d === d && x.k === k,
          )!;
          row.push(c.ratioToMemcpy.toFixed(2).padStart(13));
        }
      }
      say(row.join(''));
    }
    return Promise.resolve({ memcpyGBps: round3(memcpy), cases });
  },
};

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
