/**
 * Aggregation throughput: K client updates of d float32 parameters folded into one round of each streaming
 * aggregation rule (the coordinator's code: `createAggregationRule(...).beginRound/add/finish`), next to this
 * machine's memory-copy bandwidth measured in the same run. GB/s counts the update bytes consumed
 * (K · d · 4 bytes) per second, including the round's set-up and finish; memcpy GB/s counts the bytes copied by
 * Float32Array.prototype.set on a buffer far larger than the caches (best of 7, before and after the cases;
 * the higher one is used, which makes the ratios conservative). Each case is the best of several rounds after
 * an untimed warm-up round. `finish` writes x_{t+1} over x_t (`into: global`), as the coordinator does; the
 * float64 fold of plain updates runs in WebAssembly SIMD unless `--scalar` is given.
 *
 * Every rule is measured twice:
 * - as `createAggregationRule` runs it by default (float64 accumulator, every update scanned for NaN/±Infinity,
 *   B = DEFAULT_BUFFERED_UPDATES updates held and folded into the accumulator together, updates passed as arrays);
 * - on the coordinator's path: `updatesValidated` (the scan skipped: the coordinator checks each update on
 *   submission) and each update written into the round's `updateBuffer()` before `add` (input 'buffers': the
 *   coordinator reads each update's blob straight into it; for fedau, known-p and avg-* it lies in the WebAssembly
 *   memory the sum is folded in). That write is not timed, as the write of an update into an ordinary array is not
 *   timed in the 'arrays' rows: either way the update has to land in memory once.
 * FedAU is also measured with a float32 accumulator, with validated updates passed as arrays, and with B = 1
 * (every update folded on arrival), to show what each buys.
 *
 * Before any timing, every variant runs a few small rounds so that the timed ones run optimised code. The
 * "finish" column is the share of the best round spent in `finish()` (the last fold and the new model). The cost
 * of fresh memory (page faults on first write), which the rounds avoid by reusing their buffers, depends on the
 * machine and is printed per d.
 *   --dims 1e5,1e6,1e7   --ks 10,100   --rules fedau,known-p,avg-participating,avg-all,mifa,fedvarp
 */
import {
  AGGREGATION_RULE_NAMES,
  createAggregationRule,
  DEFAULT_BUFFERED_UPDATES,
  createRng,
  setSimdFold,
  simdFoldAvailable,
  type AggregationClientState,
  type AggregationRuleName,
  type AggregationSpec,
} from '@flotilla/algorithms';
import { parseArgs } from 'node:util';
import type { Bench } from './run';

export interface Case {
  rule: string;
  /** Accumulator precision. */
  accumulator: 'float64' | 'float32';
  /** 'scan': add() scans each update for NaN/±Infinity (default); 'prevalidated': updatesValidated = true. */
  validation: 'scan' | 'prevalidated';
  /** B, the rule's `bufferedUpdates`. */
  bufferedUpdates: number;
  /**
   * 'arrays': each update is passed to add() as an ordinary Float32Array. 'buffers': each update is first written
   * into the round's `updateBuffer()` (untimed: the coordinator reads the update's blob straight into it, in place
   * of reading it into a new array), then passed to add().
   */
  input: 'arrays' | 'buffers';
  d: number;
  k: number;
  GBps: number;
  ratioToMemcpy: number;
  /** Share of the best round's time spent in finish(). */
  finishShare: number;
}

/** The goal of the aggregation work: a round's throughput at least this fraction of memcpy. */
const GOAL_RATIO = 0.5;

/** The JSON printed with --json. */
export interface AggregationBenchResult {
  /** The higher of memcpyBeforeGBps and memcpyAfterGBps: the ratios use it. */
  memcpyGBps: number;
  memcpyBeforeGBps: number;
  memcpyAfterGBps: number;
  /** Milliseconds to allocate a fresh Float32Array(d) and touch every page, per d. */
  freshArrayMs: Record<string, number>;
  /** Whether the float64 fold of plain updates ran in WebAssembly SIMD. */
  simdFold: boolean;
  /** B, DEFAULT_BUFFERED_UPDATES. */
  bufferedUpdates: number;
  dims: number[];
  ks: number[];
  rules: string[];
  goalRatio: number;
  cases: Case[];
}

type Variant = Pick<Case, 'rule' | 'accumulator' | 'validation' | 'bufferedUpdates' | 'input'> & { rule: AggregationRuleName };

/** Milliseconds to allocate a fresh Float32Array of d values and write every 4 KiB page of it once (best of 3). */
function freshArrayMs(d: number): number {
  let min = Infinity;
  for (let r = 0; r < 3; r++) {
    const t0 = process.hrtime.bigint();
    const a = new Float32Array(d);
    for (let i = 0; i < d; i += 1024) a[i] = 1;
    min = Math.min(min, Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return min;
}

/** Best of `repeats` timings, in seconds. */
function best(repeats: number, fn: () => void): number {
  let min = Infinity;
  for (let i = 0; i < repeats; i++) min = Math.min(min, seconds(fn));
  return min;
}

function seconds(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
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
        /** Fold with the JavaScript kernels only (no WebAssembly SIMD), to compare. */
        scalar: { type: 'boolean', default: false },
      },
    });
    if (values.scalar) setSimdFold(false);
    say(`float64 fold of plain updates: ${simdFoldAvailable() ? 'WebAssembly SIMD (simd-fold.ts)' : 'JavaScript kernels'}`);
    const dims = values.dims.split(',').map(Number);
    const ks = values.ks.split(',').map(Number);
    const rules = values.rules.split(',').map((r) => {
      if (!(AGGREGATION_RULE_NAMES as readonly string[]).includes(r))
        throw new Error(`unknown rule '${r}' (expected ${AGGREGATION_RULE_NAMES.join(', ')})`);
      return r as AggregationRuleName;
    });
    const B = DEFAULT_BUFFERED_UPDATES;
    const variants: Variant[] = [
      // The library's defaults: every update scanned, passed as an array.
      ...rules.map((rule) => ({
        rule,
        accumulator: 'float64' as const,
        validation: 'scan' as const,
        bufferedUpdates: B,
        input: 'arrays' as const,
      })),
      // The coordinator's path: updates validated on submission, each read from its blob into the round's update buffer.
      ...rules.map((rule) => ({
        rule,
        accumulator: 'float64' as const,
        validation: 'prevalidated' as const,
        bufferedUpdates: B,
        input: 'buffers' as const,
      })),
      ...(rules.includes('fedau')
        ? ([
            { rule: 'fedau', accumulator: 'float32', validation: 'scan', bufferedUpdates: B, input: 'arrays' },
            { rule: 'fedau', accumulator: 'float64', validation: 'prevalidated', bufferedUpdates: B, input: 'arrays' },
            { rule: 'fedau', accumulator: 'float32', validation: 'prevalidated', bufferedUpdates: B, input: 'arrays' },
            { rule: 'fedau', accumulator: 'float64', validation: 'prevalidated', bufferedUpdates: 1, input: 'arrays' },
          ] satisfies Variant[])
        : []),
    ];
    const label = (v: Variant): string => `${v.rule} / ${v.accumulator} / ${v.validation} / B=${v.bufferedUpdates} / ${v.input}`;
    const memcpyBefore = memcpyGBps();
    say(`memcpy (Float32Array.set, 64 MiB): ${memcpyBefore.toFixed(2)} GB/s before the cases`);
    const fresh = dims.map((d) => ({ d, ms: freshArrayMs(d) }));
    say(
      `fresh Float32Array(d), allocated and first written (the new model of every round): ${fresh
        .map((f) => `d=${f.d.toExponential(0)} ${f.ms.toFixed(2)} ms`)
        .join(', ')}`,
    );
    const rng = createRng(1);

    /**
     * One round of `v` over d parameters and k updates, as a function that returns its timed seconds (beginRound,
     * every add and finish; not the writes into update buffers); `timing` receives the finish() seconds.
     */
    const roundOf = (v: Variant, d: number, k: number, pool: Float32Array[], timing: (finishSeconds: number) => void): (() => number) => {
      const ids = Array.from({ length: k }, (_, i) => `client-${i}`);
      const rule = createAggregationRule(specOf(v.rule, ids), {
        globalLr: 1,
        accumulator: v.accumulator,
        bufferedUpdates: v.bufferedUpdates,
      });
      const clientStates = new Map<string, AggregationClientState>(ids.map((id) => [id, rule.initialClientState()]));
      const memorySum = rule.usesClientMemory ? new Float64Array(d) : null;
      const updatesValidated = v.validation === 'prevalidated';
      const global = new Float32Array(d);
      return () => {
        let total = 0;
        let round!: ReturnType<typeof rule.beginRound>;
        total += seconds(() => (round = rule.beginRound(d, { clientStates, memorySum, updatesValidated })));
        for (let i = 0; i < k; i++) {
          let delta = pool[i % pool.length];
          if (v.input === 'buffers') {
            const buffer = round.updateBuffer();
            buffer.set(delta);
            delta = buffer;
          }
          total += seconds(() => round.add(ids[i], delta, pool[(i + 1) % pool.length]));
        }
        const f = seconds(() => round.finish(global, { into: global })); // as the coordinator does: x_{t+1} over x_t
        timing(f);
        return total + f;
      };
    };

    // Warm-up: every variant's code paths (scan, folds of 4 and of 1, finish) run optimised before any timing.
    {
      const d = 20_000;
      const pool = Array.from({ length: 4 }, () => Float32Array.from({ length: d }, () => rng.next() - 0.5));
      for (const v of variants) {
        const once = roundOf(v, d, 2 * B + 3, pool, () => undefined);
        for (let r = 0; r < 30; r++) once();
      }
    }

    say('');
    say('rule               acc      check         B  input       d      K     GB/s   updates/s  finish');
    const raw: (Omit<Case, 'ratioToMemcpy'> & { seconds: number })[] = [];
    for (const d of dims) {
      // A pool of distinct updates, cycled, so every add streams an update from memory; MIFA/FedVarp read
      // another pool entry as the client's previous memory.
      const pool = Array.from({ length: 4 }, () => Float32Array.from({ length: d }, () => rng.next() - 0.5));
      for (const k of ks) {
        for (const v of variants) {
          let lastFinish = 0;
          const once = roundOf(v, d, k, pool, (f) => (lastFinish = f));
          // One untimed round (page cache, allocator, buffers) and enough repeats for ~10^9 elements in all, at
          // least 3 (this VM's memory bandwidth varies from run to run) and at most 20.
          const elements = d * k;
          once();
          let s = Infinity;
          let finishShare = 0;
          for (let r = 0, repeats = Math.min(20, Math.max(3, Math.ceil(1e9 / elements))); r < repeats; r++) {
            const t = once();
            if (t < s) {
              s = t;
              finishShare = lastFinish / t;
            }
          }
          const GBps = (k * d * 4) / s / 1e9;
          raw.push({ ...v, d, k, GBps, finishShare, seconds: s });
          say(
            `${v.rule.padEnd(18)} ${v.accumulator}  ${v.validation.padEnd(12)}  ${String(v.bufferedUpdates).padStart(2)}  ${v.input.padEnd(7)} ${d.toExponential(0).padStart(5)}  ${String(k).padStart(4)}  ${GBps.toFixed(2).padStart(6)}  ${(k / s).toFixed(0).padStart(10)}  ${(100 * finishShare).toFixed(0).padStart(4)} %`,
          );
        }
      }
    }
    const memcpyAfter = memcpyGBps();
    const memcpy = Math.max(memcpyBefore, memcpyAfter);
    say('');
    say(`memcpy after the cases: ${memcpyAfter.toFixed(2)} GB/s; ratios below use ${memcpy.toFixed(2)} GB/s`);
    const cases: Case[] = raw.map(({ seconds: _s, ...c }) => ({
      ...c,
      GBps: round3(c.GBps),
      ratioToMemcpy: round3(c.GBps / memcpy),
      finishShare: round3(c.finishShare),
    }));
    say('');
    say(`ratio to memcpy (goal >= ${GOAL_RATIO})`);
    const header = [
      'rule / acc / check / B / input'.padEnd(54),
      ...dims.flatMap((d) => ks.map((k) => `d=${d.toExponential(0)} K=${k}`.padStart(13))),
    ];
    say(header.join(''));
    for (const v of variants) {
      const row = [label(v).padEnd(54)];
      for (const d of dims) {
        for (const k of ks) {
          const c = cases.find(
            (x) =>
              x.rule === v.rule &&
              x.accumulator === v.accumulator &&
              x.validation === v.validation &&
              x.bufferedUpdates === v.bufferedUpdates &&
              x.input === v.input &&
              x.d === d &&
              x.k === k,
          )!;
          row.push(c.ratioToMemcpy.toFixed(2).padStart(13));
        }
      }
      say(row.join(''));
    }
    const result: AggregationBenchResult = {
      memcpyGBps: round3(memcpy),
      memcpyBeforeGBps: round3(memcpyBefore),
      memcpyAfterGBps: round3(memcpyAfter),
      freshArrayMs: Object.fromEntries(fresh.map((f) => [String(f.d), round3(f.ms)])),
      simdFold: simdFoldAvailable(),
      bufferedUpdates: B,
      dims,
      ks,
      rules,
      goalRatio: GOAL_RATIO,
      cases,
    };
    return Promise.resolve(result);
  },
};

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
