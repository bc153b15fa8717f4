/**
 * docs/results/aggregation.md from docs/results/aggregation.json (one `npm run bench -- aggregation --json` run):
 * a pure function of the JSON. Every figure and every verdict is computed from it.
 */
import type { AggregationBenchResult, Case } from '../aggregation';
import { list, table } from './format';
import { headerLines, type RunMeta } from './meta';

export interface AggregationResultsJson {
  meta: RunMeta;
  result: AggregationBenchResult;
}

type Variant = Pick<Case, 'rule' | 'accumulator' | 'validation' | 'bufferedUpdates' | 'input'>;

const variantKey = (v: Variant): string => `${v.rule} / ${v.accumulator} / ${v.validation} / B=${v.bufferedUpdates} / ${v.input}`;
const sameVariant = (a: Variant, b: Variant): boolean => variantKey(a) === variantKey(b);

/** "1e+5" → "10^5". */
const pow10 = (d: number): string => {
  const e = Math.log10(d);
  return Number.isInteger(e) ? `10^${e}` : String(d);
};

const PLAIN = ['fedau', 'known-p', 'avg-participating', 'avg-all'];
const WITH_MEMORY = ['mifa', 'fedvarp'];

/** "met in every case" / "not met in any of the 16 cells" / "met in 5 of 16 cells". */
function goalMet(cells: Case[], goal: number): string {
  const met = cells.filter((c) => c.ratioToMemcpy >= goal).length;
  return met === cells.length
    ? 'the goal is met in every cell'
    : met === 0
      ? `the goal is not met in any of the ${cells.length} cells`
      : `the goal is met in ${met} of ${cells.length} cells`;
}

function range(xs: number[], digits = 2): string {
  const lo = Math.min(...xs).toFixed(digits);
  const hi = Math.max(...xs).toFixed(digits);
  return lo === hi ? lo : `${lo}–${hi}`;
}

export function renderAggregation(json: AggregationResultsJson): string {
  const r = json.result;
  const out: string[] = [];
  const line = (text = ''): void => void out.push(text);
  const B = r.bufferedUpdates;
  const goal = r.goalRatio;
  const variants: Variant[] = [];
  for (const c of r.cases) if (!variants.some((v) => sameVariant(v, c))) variants.push(c);
  const columns = r.dims.flatMap((d) => r.ks.map((k) => ({ d, k })));
  const cell = (v: Variant, d: number, k: number): Case | undefined => r.cases.find((c) => sameVariant(c, v) && c.d === d && c.k === k);
  const casesOf = (pred: (c: Case) => boolean): Case[] => r.cases.filter(pred);
  const coordinator = (c: Case): boolean => c.validation === 'prevalidated' && c.input === 'buffers' && c.bufferedUpdates === B;
  const libraryDefault = (c: Case): boolean =>
    c.validation === 'scan' && c.input === 'arrays' && c.accumulator === 'float64' && c.bufferedUpdates === B;

  line('# Aggregation throughput');
  line();
  for (const l of headerLines(json.meta, 'aggregation.json', 'npm run results -- aggregation --render-only')) line(l);
  line();
  line('**These are timings.** The machine is shared (see the load averages above), and its memory bandwidth varies from');
  line('run to run; the ratios to memcpy are measured in the same process and are more comparable across runs than the');
  line('GB/s figures. Compare runs only with their own memcpy figures.');
  line();
  line('## What is measured');
  line();
  line('`npm run bench -- aggregation` (bench/aggregation.ts): K client updates of d float32 parameters folded into one round');
  line("of each rule (`createAggregationRule(...).beginRound → add × K → finish`, the coordinator's code), in GB/s of update");
  line('bytes (K·4·d per round, set-up and `finish()` included), next to memcpy (`Float32Array.set` on a buffer far larger');
  line(
    `than the caches, best of several, measured before and after the cases; the higher one is used, which makes the ratios conservative). Goal: ≥ ${goal} × memcpy for every d and K.`,
  );
  line('Each case is the best of several rounds after an untimed warm-up; `finish` writes x_{t+1} over x_t, as the coordinator');
  line(
    `does. The float64 fold of plain updates ran ${r.simdFold ? 'in WebAssembly SIMD' : 'in the JavaScript kernels (no SIMD)'} in this run.`,
  );
  line();
  line('Every rule is measured on two paths:');
  line();
  line(
    `- **library default** ("scan / arrays"): float64 accumulator, every update scanned for NaN/±Infinity in \`add()\`, B = ${B} updates`,
  );
  line('  held and folded together, updates passed as ordinary arrays;');
  line('- **coordinator\'s path** ("prevalidated / buffers"): the scan skipped (`updatesValidated`: the coordinator checks each update');
  line("  on submission) and each update written into the round's `updateBuffer()` before `add` (the coordinator reads each");
  line('  blob straight into it; for fedau, known-p and avg-* it lies in the WebAssembly memory the sum is folded in). That');
  line('  write is not timed, as the write of an update into an ordinary array is not timed on the other path: either way the');
  line('  update has to land in memory once. For MIFA/FedVarp `updateBuffer()` is a new array, since it becomes the memory M_n.');
  line();
  line('FedAU is also measured with a float32 accumulator, with validated updates passed as arrays, and with B = 1 (every');
  line('update folded on arrival), to show what each choice buys.');

  // ----- Current state
  const coordPlain = casesOf((c) => coordinator(c) && PLAIN.includes(c.rule) && c.accumulator === 'float64');
  const defaultPlain = casesOf((c) => libraryDefault(c) && PLAIN.includes(c.rule));
  const memoryRules = casesOf((c) => WITH_MEMORY.includes(c.rule));
  line();
  line('## Result');
  line();
  line(
    `memcpy: ${r.memcpyBeforeGBps.toFixed(2)} GB/s before the cases and ${r.memcpyAfterGBps.toFixed(2)} GB/s after; the ratios use ${r.memcpyGBps.toFixed(2)} GB/s.`,
  );
  line();
  if (coordPlain.length)
    line(
      `- **Coordinator's path, plain rules (${list(PLAIN.filter((p) => coordPlain.some((c) => c.rule === p)))}):** ${range(coordPlain.map((c) => c.ratioToMemcpy))} × memcpy (${range(
        coordPlain.map((c) => c.GBps),
        1,
      )} GB/s) over the ${columns.length} (d, K) cases: ${goalMet(coordPlain, goal)}.`,
    );
  if (defaultPlain.length)
    line(
      `- **Library default, plain rules:** ${range(defaultPlain.map((c) => c.ratioToMemcpy))} × memcpy: ${goalMet(defaultPlain, goal)}. The scan reads each update once more in JavaScript.`,
    );
  if (memoryRules.length)
    line(
      `- **MIFA and FedVarp** (both paths), which read Δ_n and M_n per update (8·d bytes per 4·d counted): ${range(memoryRules.map((c) => c.ratioToMemcpy))} × memcpy: ${goalMet(memoryRules, goal)}.`,
    );
  const f32 = casesOf((c) => c.rule === 'fedau' && c.accumulator === 'float32');
  if (f32.length)
    line(
      `- **float32 accumulators** (fedau): ${range(f32.map((c) => c.ratioToMemcpy))} × memcpy${f32.every((c) => c.ratioToMemcpy < goal) ? ', below the goal everywhere' : ''}: they have no SIMD kernel (rounding to float32 after every addition).`,
    );
  const arrays = casesOf(
    (c) =>
      c.rule === 'fedau' &&
      c.accumulator === 'float64' &&
      c.validation === 'prevalidated' &&
      c.input === 'arrays' &&
      c.bufferedUpdates === B,
  );
  const buffers = casesOf((c) => c.rule === 'fedau' && coordinator(c) && c.accumulator === 'float64');
  if (arrays.length && buffers.length) {
    const gains = arrays.map((a) => buffers.find((b) => b.d === a.d && b.k === a.k)!.GBps / a.GBps);
    line(
      `- **Update buffers vs arrays** (fedau, validated, B = ${B}): reading updates into the round's buffers is ${range(gains, 1)} × as fast as passing them as arrays, which are copied into WebAssembly memory tile by tile.`,
    );
  }
  const b1 = casesOf((c) => c.rule === 'fedau' && c.bufferedUpdates === 1);
  if (b1.length && arrays.length) {
    const gains = arrays.map((a) => a.GBps / b1.find((x) => x.d === a.d && x.k === a.k)!.GBps);
    line(
      `- **B = ${B} vs B = 1** (fedau, validated arrays): folding ${B} held updates together is ${range(gains, 1)} × as fast as folding each on arrival.`,
    );
  }
  const smallK = Math.min(...r.ks);
  const finishSmall = coordPlain.filter((c) => c.k === smallK).map((c) => c.finishShare);
  if (finishSmall.length)
    line(
      `- At K = ${smallK}, ${range(
        finishSmall.map((x) => 100 * x),
        0,
      )} % of a coordinator-path round of the plain rules is \`finish()\` (the last fold and the new model)${B >= smallK ? '' : `; B ≥ K would fuse the whole round`}.`,
    );

  // ----- Tables
  const header = ['rule / acc / check / B / input', ...columns.map(({ d, k }) => `d=${pow10(d)} K=${k}`)];
  const align = 'l' + 'r'.repeat(columns.length);
  const grid = (f: (c: Case) => string): string[][] =>
    variants.map((v) => [
      variantKey(v),
      ...columns.map(({ d, k }) => {
        const c = cell(v, d, k);
        return c ? f(c) : '—';
      }),
    ]);
  line();
  line(`### Ratio to memcpy (goal ≥ ${goal}; bold: met)`);
  line();
  for (const l of table(
    header,
    align,
    grid((c) => (c.ratioToMemcpy >= goal ? `**${c.ratioToMemcpy.toFixed(2)}**` : c.ratioToMemcpy.toFixed(2))),
  ))
    line(l);
  line();
  line('### GB/s of update bytes');
  line();
  for (const l of table(
    header,
    align,
    grid((c) => c.GBps.toFixed(2)),
  ))
    line(l);
  line();
  line('### Share of the best round spent in `finish()` (%)');
  line();
  for (const l of table(
    header,
    align,
    grid((c) => (100 * c.finishShare).toFixed(0)),
  ))
    line(l);

  // ----- Fresh memory
  const fresh = Object.entries(r.freshArrayMs).map(([d, ms]) => ({ d: Number(d), ms }));
  line();
  line('## Fresh memory');
  line();
  line(
    `Allocating a fresh \`Float32Array(d)\` and touching each of its pages once took ${list(fresh.map((f) => `${f.ms.toFixed(2)} ms at d = ${pow10(f.d)}`))} in this run.`,
  );
  line('The rounds avoid that cost by reusing their buffers and writing x_{t+1} over x_t; a rule or caller that allocates a');
  line('new d-sized array per round pays it every round. (The coordinator also reads each update from blob storage, which the');
  line('bench does not model.)');
  line();
  line('## History');
  line();
  line('The aggregation path reached this state in steps, each measured at the time on this shared machine: buffered folds');
  line('(B updates held by reference and folded together, bit for bit the sums of one-at-a-time accumulation), the');
  line('WebAssembly SIMD fold of plain float64 updates, `finish()` writing the new model over the input model instead of');
  line("into fresh memory, and finally the round's sum kept in WebAssembly memory with update buffers the coordinator reads");
  line('blobs into. The figures of those intermediate measurements are not kept here: they came from runs under other loads');
  line('and memcpy figures, and the current code is what the tables above measure. The correctness side (bit-identical');
  line('sums on every path) is covered by the unit tests in libs/algorithms/src/aggregation/.');
  return out.join('\n') + '\n';
}
