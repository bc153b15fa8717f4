/**
 * `npm run results -- <name> [--render-only] [--out DIR]`: regenerates docs/results/<name>.md.
 *   - runs the benchmark in every configuration the document reports (one command, one JSON),
 *   - writes docs/results/<name>.json: { meta (command, commit, machine, load, duration), result },
 *   - renders docs/results/<name>.md from that JSON as read back from disk (bench/results/<name>.ts).
 * --render-only skips the run and re-renders the committed JSON (what the unit test bench/results.spec.ts
 * checks). `fedau` is handed to scripts/dist/reproduce-fedau.js with the same options.
 * Names: aggregation, bilevel, nas, fleet, rounds, scale, fedau.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { serialize } from './results/index';
import { startRun } from './results/meta';
import type { Bench } from './run';

const ROOT = path.resolve(__dirname, '..', '..');

/** Each document: how its JSON `result` is produced, and its renderer (both loaded only when used). */
const DOCS: Record<string, { run: (say: (line: string) => void) => Promise<unknown>; render: () => (json: never) => string }> = {
  aggregation: {
    run: (say) => (require('./aggregation') as { bench: Bench }).bench.run([], say),
    render: () => (require('./results/aggregation') as typeof import('./results/aggregation')).renderAggregation,
  },
  bilevel: {
    run: (say) => (require('./bilevel') as { bench: Bench }).bench.run([], say),
    render: () => (require('./results/bilevel') as typeof import('./results/bilevel')).renderBilevel,
  },
  nas: {
    run: (say) => (require('./nas-cell') as typeof import('./nas-cell')).runCellSuite(say),
    render: () => (require('./results/nas') as typeof import('./results/nas')).renderNas,
  },
  fleet: {
    // One run per fleet size, one after the other (each starts and stops its own coordinator).
    run: async (say) => {
      const { bench } = require('./fleet') as { bench: Bench };
      const runs: unknown[] = [];
      for (const agents of [1000, 10_000]) runs.push(await bench.run(['--agents', String(agents), '--rounds', '2'], say));
      return { runs };
    },
    render: () => (require('./results/fleet') as typeof import('./results/fleet')).renderFleet,
  },
  rounds: {
    // 100 agents and a 1,011,010-parameter model, on a clean network and then behind the fault proxy.
    run: async (say) => {
      const { bench } = require('./rounds') as { bench: Bench };
      const runs: unknown[] = [];
      for (const faults of [false, true]) {
        runs.push(await bench.run(['--agents', '100', '--hidden', '13480', '--rounds', '10', ...(faults ? ['--faults'] : [])], say));
      }
      return { runs };
    },
    render: () => (require('./results/rounds') as typeof import('./results/rounds')).renderRounds,
  },
  scale: {
    // Simulated agents (scripts/scale.ts): 1,000 agents and 1,000 updates of ~100,000 parameters a round on one
    // coordinator and on two replicas, then 10,000 registered agents with 1,000 of them uploading.
    run: async (say) => {
      const { bench } = require('./rounds') as { bench: Bench };
      const runs: unknown[] = [];
      for (const [agents, replicas] of SCALE_RUNS) {
        const args = ['--agents', String(agents), '--per-round', '1000', '--params', '100000', '--replicas', String(replicas)];
        const command = `npm run bench -- rounds ${args.join(' ')} --json`;
        // A run that fails is reported as failed (with why), and the others are kept.
        runs.push(
          await bench.run(args, say).then(
            (result) => ({ command, result }),
            (e: unknown) => ({ command, error: e instanceof Error ? e.message : String(e) }),
          ),
        );
      }
      return { runs };
    },
    render: () => (require('./results/scale') as typeof import('./results/scale')).renderScale,
  },
};

/** The configurations of docs/results/scale.md: [registered agents, coordinator replicas]. */
const SCALE_RUNS: [number, number][] = [
  [1000, 1],
  [1000, 2],
  [10_000, 1],
];

async function main(): Promise<void> {
  const [name, ...rest] = process.argv.slice(2);
  if (name === 'fedau') {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'dist', 'reproduce-fedau.js'), ...rest], { stdio: 'inherit' });
    process.exit(r.status ?? 1);
  }
  if (!name || !Object.hasOwn(DOCS, name)) {
    process.stderr.write(`usage: npm run results -- <${[...Object.keys(DOCS), 'fedau'].join('|')}> [--render-only] [--out DIR]\n`);
    process.exit(name ? 2 : 0);
  }
  const doc = name;
  const { values } = parseArgs({
    args: rest,
    options: { 'render-only': { type: 'boolean', default: false }, out: { type: 'string', default: path.join(ROOT, 'docs', 'results') } },
  });
  const dir = path.resolve(values.out);
  const jsonPath = path.join(dir, `${doc}.json`);
  const mdPath = path.join(dir, `${doc}.md`);
  const say = (line: string): void => void process.stderr.write(line + '\n');
  if (!values['render-only']) {
    const run = startRun(`npm run results -- ${doc}`);
    say(`results ${doc}: running the benchmark (load average ${run.loadAverage1m.toFixed(2)})`);
    const result = await DOCS[doc].run(say);
    const meta = run.finish();
    mkdirSync(dir, { recursive: true });
    writeFileSync(jsonPath, serialize({ meta, result }));
    say(`wrote ${path.relative(ROOT, jsonPath)} (${(meta.durationSeconds / 60).toFixed(1)} min)`);
  }
  const json = JSON.parse(readFileSync(jsonPath, 'utf8')) as never;
  writeFileSync(mdPath, DOCS[doc].render()(json));
  say(`wrote ${path.relative(ROOT, mdPath)}`);
}

main().catch((e: unknown) => {
  process.stderr.write(`results failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
