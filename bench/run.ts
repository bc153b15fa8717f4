/**
 * `npm run bench -- <name> [--json] [options]`: runs one benchmark and prints its table. With
 * --json the result is also printed as one JSON object on the last line of stdout.
 * Benchmarks measure; they never assert timings (tests do not either).
 */
export interface Bench {
  description: string;
  run(args: string[], say: (line: string) => void): Promise<unknown>;
}

/** Each benchmark is the `bench` export of `bench/<name>.ts`, loaded only when it runs. */
const BENCHES: Record<string, () => Bench> = {
  aggregation: () => (require('./aggregation') as { bench: Bench }).bench,
  simulate: () => (require('./simulate') as { bench: Bench }).bench,
  nas: () => (require('./nas') as { bench: Bench }).bench,
  'nas-ground-truth': () => (require('./nas-ground-truth') as { bench: Bench }).bench,
  bilevel: () => (require('./bilevel') as { bench: Bench }).bench,
  fleet: () => (require('./fleet') as { bench: Bench }).bench,
  rounds: () => (require('./rounds') as { bench: Bench }).bench,
  robust: () => (require('./robust') as { bench: Bench }).bench,
};

async function main(): Promise<void> {
  const [name, ...rest] = process.argv.slice(2);
  const json = rest.includes('--json');
  const args = rest.filter((a) => a !== '--json');
  const bench = name && Object.hasOwn(BENCHES, name) ? BENCHES[name]() : undefined;
  if (!bench) {
    const list = Object.entries(BENCHES).map(([n, load]) => `  ${n.padEnd(12)} ${load().description}`);
    process.stderr.write(`usage: npm run bench -- <name> [--json]\n\nbenchmarks:\n${list.join('\n')}\n`);
    process.exit(name ? 2 : 0);
  }
  const say = (line: string): void => void (json ? process.stderr : process.stdout).write(line + '\n');
  const result = await bench.run(args, say);
  if (json) process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
