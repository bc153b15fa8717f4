import { parseArgs } from 'node:util';
import { ApiClient } from './api-client';
import { dataSplit } from './commands/data-split';
import { listAgents, listDatasets, removeAgent } from './commands/fleet';
import { cancelJob, DEFAULT_WATCH_INTERVAL_MS, downloadModel, listJobs, positiveInt, showJob, submitJob, watchJob } from './commands/jobs';
import { resolveConnection } from './config';
import { CliError, ExitCode, usageError } from './exit-codes';
import { Output } from './output';

export const USAGE = `flotilla <command> [options]: the coordinator's API for people

Jobs
  jobs submit FILE.json [--watch]   submit a job (FILE - reads stdin); prints its id
  jobs ls [--status S] [--limit N]  jobs, newest first (S: running, completed, failed, cancelled)
  jobs show ID                      a job's status, metrics and where its test accuracy comes from
  jobs watch ID [--interval MS]     a line per round (federated) or step (NAS, bilevel) until the job ends
  jobs cancel ID                    cancel a running job
  jobs model ID -o DIR [--round R]  the job's model as TF.js model.json + weights.bin in DIR
Fleet
  agents ls                         agents: online, offline, left, revoked; their last error
  agents rm ID                      revoke an agent (admin)
  datasets ls                       the coordinator's datasets and their held-out splits
Data (no coordinator needed)
  data split DATASET_DIR --agents N -o DIR [--iid | --alpha A] [--seed S] [--min-rows M] [--force]
                                    cut a dataset's CSV into N agent files that leave out the coordinator's
                                    held-out rows (IID by default; --alpha: non-IID by label, Dirichlet α)

IDs may be shortened to any unique prefix (the tables show 8 digits).

Options for every command
  --url URL     the coordinator (env FLOTILLA_URL; default http://127.0.0.1:8080)
  --key KEY     an API key (env FLOTILLA_API_KEY; a flag is visible in the process list: prefer the env or file)
  --json        machine output on stdout (JSON; watches: one event per line), diagnostics on stderr
  -h, --help    this text
Config file: $FLOTILLA_CONFIG or ~/.config/flotilla/config.json, {"url": "…", "apiKey": "…"}, mode 0600.

Exit codes: 0 ok; 1 the coordinator refused the request (its field errors are printed) or an input is invalid;
2 usage or configuration error; 3 API key or role refused; 4 coordinator unreachable or unavailable (503);
5 a watched job failed or was cancelled.`;

const OPTIONS = {
  url: { type: 'string' },
  key: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  watch: { type: 'boolean', default: false },
  interval: { type: 'string' },
  status: { type: 'string' },
  limit: { type: 'string' },
  out: { type: 'string', short: 'o' },
  round: { type: 'string' },
  agents: { type: 'string' },
  alpha: { type: 'string' },
  iid: { type: 'boolean', default: false },
  seed: { type: 'string' },
  'min-rows': { type: 'string' },
  force: { type: 'boolean', default: false },
} as const;
type OptionName = keyof typeof OPTIONS;
type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; tokens: true }>>['values'];

interface Command {
  /** Positional arguments after the command's words, by name (for messages). */
  args: string[];
  /** Options beyond --url, --key, --json, --help. */
  options: OptionName[];
  run(ctx: { api: () => ApiClient; out: Output; args: string[]; values: Values }): Promise<number>;
}

const interval = (v: Values): number => (v.interval === undefined ? DEFAULT_WATCH_INTERVAL_MS : positiveInt('--interval', v.interval));

const COMMANDS: Record<string, Command> = {
  'jobs submit': {
    args: ['FILE.json'],
    options: ['watch', 'interval'],
    run: ({ api, out, args, values }) => submitJob(api(), out, args[0], { watch: values.watch, intervalMs: interval(values) }),
  },
  'jobs ls': { args: [], options: ['status', 'limit'], run: ({ api, out, values }) => listJobs(api(), out, values) },
  'jobs show': { args: ['ID'], options: [], run: ({ api, out, args }) => showJob(api(), out, args[0]) },
  'jobs watch': {
    args: ['ID'],
    options: ['interval'],
    run: ({ api, out, args, values }) => watchJob(api(), out, args[0], interval(values)),
  },
  'jobs cancel': { args: ['ID'], options: [], run: ({ api, out, args }) => cancelJob(api(), out, args[0]) },
  'jobs model': {
    args: ['ID'],
    options: ['out', 'round'],
    run: ({ api, out, args, values }) => downloadModel(api(), out, args[0], values),
  },
  'agents ls': { args: [], options: [], run: ({ api, out }) => listAgents(api(), out) },
  'agents rm': { args: ['ID'], options: [], run: ({ api, out, args }) => removeAgent(api(), out, args[0]) },
  'datasets ls': { args: [], options: [], run: ({ api, out }) => listDatasets(api(), out) },
  'data split': {
    args: ['DATASET_DIR'],
    options: ['out', 'agents', 'alpha', 'iid', 'seed', 'min-rows', 'force'],
    run: ({ out, args, values }) => dataSplit(out, args[0], { ...values, minRows: values['min-rows'] }),
  },
};
const COMMON: OptionName[] = ['url', 'key', 'json', 'help'];

/** Runs one command line; resolves to the exit code. Never prints the API key. */
export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let out = new Output(argv.includes('--json'));
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, tokens: true });
    } catch (e) {
      throw usageError((e as Error).message);
    }
    const { values, positionals, tokens } = parsed;
    out = new Output(values.json);
    const name = positionals.slice(0, 2).join(' ');
    const command = COMMANDS[name];
    if (values.help || positionals.length === 0) {
      (values.help ? process.stdout : process.stderr).write(`${USAGE}\n`);
      return positionals.length === 0 && !values.help ? ExitCode.Usage : ExitCode.Ok;
    }
    if (!command) throw usageError(`unknown command '${positionals.join(' ')}'; flotilla --help lists them`);
    const allowed = new Set<string>([...COMMON, ...command.options]);
    for (const t of tokens) {
      if (t.kind === 'option' && !allowed.has(t.name)) throw usageError(`${name} takes no --${t.name}`);
    }
    const args = positionals.slice(2);
    if (args.length !== command.args.length) {
      throw usageError(
        `usage: flotilla ${name} ${command.args.join(' ')}${args.length > command.args.length ? ` (extra: ${args.slice(command.args.length).join(' ')})` : ''}`,
      );
    }
    let client: ApiClient | undefined;
    const api = (): ApiClient => (client ??= new ApiClient(resolveConnection({ url: values.url, key: values.key }, env)));
    return await command.run({ api, out, args, values });
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    out.warn(`flotilla: ${e.message}`);
    for (const f of e.api?.fields ?? []) out.warn(`  ${f.field}: ${f.message}`);
    if (e.api?.requestId) out.warn(`  (request id ${e.api.requestId})`);
    out.data({ error: { exitCode: e.code, message: e.message, ...e.api } });
    return e.code;
  }
}

/** The program: runs the command line and sets the exit code (bin/flotilla.js calls this). */
export function cli(argv: string[] = process.argv.slice(2)): void {
  run(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`flotilla: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exitCode = ExitCode.Refused;
    },
  );
}

if (require.main === module) cli();
