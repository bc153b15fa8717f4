import type { BilevelRunView, JobView, NasView, RoundView } from '@flotilla/contracts';
import { JOB_STATUSES } from '@flotilla/contracts';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { ApiClient } from '../api-client';
import { CliError, ExitCode, usageError } from '../exit-codes';
import { bilevelLine, endLine, initialLine, jobDataset, jobDetails, jobsTable, nasLine, progressText, roundLine } from '../format';
import { resolveJobId } from '../ids';
import type { Output } from '../output';

/** How often `jobs watch` asks the coordinator, by default. */
export const DEFAULT_WATCH_INTERVAL_MS = 2000;
/** How long a watch keeps trying a coordinator it cannot reach before it gives up (exit 4). */
const WATCH_UNREACHABLE_LIMIT_MS = 60_000;

/** `jobs submit FILE`: POST /jobs with the file's JSON (`-` reads stdin); the API validates it and names bad fields. */
export async function submitJob(api: ApiClient, out: Output, file: string, watchOpts: { watch: boolean; intervalMs: number }) {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new CliError(ExitCode.Refused, `cannot read ${file}: ${(e as Error).message}`);
  }
  let spec: unknown;
  try {
    spec = JSON.parse(text);
  } catch (e) {
    throw new CliError(ExitCode.Refused, `${file} is not valid JSON: ${(e as Error).message}`);
  }
  const job = await api.json<JobView>('POST', '/jobs', spec);
  if (!watchOpts.watch) {
    out.data(job);
    out.line(job.id);
    out.warn(`submitted ${describe(job)}`);
    return ExitCode.Ok;
  }
  out.data({ event: 'submitted', job });
  out.line(`submitted job ${job.id}: ${describe(job)}`);
  return watchJob(api, out, job.id, watchOpts.intervalMs, job);
}

function describe(job: JobView): string {
  return `${job.kind} job on ${jobDataset(job)}, ${job.progress.total} ${job.progress.unit}${job.name ? ` (${job.name})` : ''}`;
}

/** `jobs ls`: newest first. */
export async function listJobs(api: ApiClient, out: Output, opts: { status?: string; limit?: string }) {
  const q = new URLSearchParams();
  if (opts.status !== undefined) {
    if (!(JOB_STATUSES as readonly string[]).includes(opts.status))
      throw usageError(`--status must be one of ${JOB_STATUSES.join(', ')}, got '${opts.status}'`);
    q.set('status', opts.status);
  }
  if (opts.limit !== undefined) q.set('limit', String(positiveInt('--limit', opts.limit)));
  const jobs = await api.json<JobView[]>('GET', `/jobs${q.size ? `?${q.toString()}` : ''}`);
  out.data(jobs);
  out.line(jobs.length ? jobsTable(jobs) : 'no jobs');
  return ExitCode.Ok;
}

export async function showJob(api: ApiClient, out: Output, given: string) {
  const job = await api.json<JobView>('GET', `/jobs/${await resolveJobId(api, given)}`);
  out.data(job);
  out.line(jobDetails(job));
  return ExitCode.Ok;
}

export async function cancelJob(api: ApiClient, out: Output, given: string) {
  const job = await api.json<JobView>('POST', `/jobs/${await resolveJobId(api, given)}/cancel`);
  out.data(job);
  out.line(`job ${job.id} ${job.status} after ${progressText(job)}`);
  return ExitCode.Ok;
}

/**
 * `jobs watch ID`: one line per closed round of a federated job (round, participants/eligible, held-out accuracy and
 * loss), one per step of progress of a NAS or bilevel job, and one when the job waits for something; ends with the
 * job: 0 when it completed, 5 when it failed or was cancelled. Stopping the watch (Ctrl-C) leaves the job running.
 */
export async function watchJob(api: ApiClient, out: Output, given: string, intervalMs: number, first?: JobView): Promise<number> {
  const id = first?.id ?? (await resolveJobId(api, given));
  let job = first ?? (await api.json<JobView>('GET', `/jobs/${id}`));
  if (!first) out.line(`watching job ${job.id}: ${describe(job)} (Ctrl-C stops watching, not the job)`);
  if (job.kind === 'federated') {
    out.data({ event: 'initial', metrics: job.initialMetrics, evaluation: job.evaluation });
    out.line(initialLine(job));
  }
  let printedRound = -1;
  let printedProgress = -1;
  let waiting: string | null = null;
  let unreachableSince: number | null = null;
  for (;;) {
    if (job.kind === 'federated' && job.currentRound - 1 > printedRound) {
      const rounds = await api.json<RoundView[]>('GET', `/jobs/${id}/rounds?limit=10000`);
      for (const r of rounds.filter((x) => x.status === 'closed' && x.round > printedRound).sort((a, b) => a.round - b.round)) {
        out.data({ event: 'round', round: r });
        out.line(roundLine(r, job.totalRounds));
        printedRound = r.round;
      }
    } else if (job.kind !== 'federated' && job.progress.done !== printedProgress) {
      const text =
        job.kind === 'nas'
          ? nasLine(job, await api.json<NasView>('GET', `/jobs/${id}/nas`))
          : bilevelLine(job, await api.json<BilevelRunView[]>('GET', `/jobs/${id}/bilevel`));
      out.data({ event: 'progress', progress: job.progress, text });
      out.line(text);
      printedProgress = job.progress.done;
    }
    const nowWaiting = job.kind === 'federated' ? job.waiting : null;
    if (nowWaiting && nowWaiting !== waiting) {
      out.data({ event: 'waiting', message: nowWaiting });
      out.line(`waiting: ${nowWaiting}`);
    }
    waiting = nowWaiting;
    if (job.status !== 'running') {
      out.data({ event: 'end', job });
      out.line(endLine(job));
      return job.status === 'completed' ? ExitCode.Ok : ExitCode.JobFailed;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
    try {
      job = await api.json<JobView>('GET', `/jobs/${id}`);
      if (unreachableSince !== null) out.warn(`the coordinator answers again`);
      unreachableSince = null;
    } catch (e) {
      // A coordinator restart or a network blip should not end a long watch; a coordinator gone for good should.
      if (!(e instanceof CliError) || e.code !== ExitCode.Unreachable) throw e;
      if (unreachableSince === null) {
        unreachableSince = Date.now();
        out.warn(`${e.message}; trying again for ${WATCH_UNREACHABLE_LIMIT_MS / 1000} s`);
      } else if (Date.now() - unreachableSince > WATCH_UNREACHABLE_LIMIT_MS) throw e;
    }
  }
}

/** A TF.js layers-model JSON, as far as this command reads it. */
interface ModelJson {
  weightsManifest?: { paths?: unknown; weights?: { name?: string; shape?: number[]; dtype?: string }[] }[];
}

const BYTES_PER_DTYPE: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

/**
 * `jobs model ID -o DIR [--round R]`: the job's model as a TF.js layers model, model.json and weights.bin, loadable
 * with tfjs-node's `tf.loadLayersModel('file://DIR/model.json')` (or over HTTP). Without --round both files are of the round model.json came
 * from (its X-Model-Round), so a round closing between the two downloads cannot mix them.
 */
export async function downloadModel(api: ApiClient, out: Output, given: string, opts: { out?: string; round?: string }) {
  if (!opts.out) throw usageError('jobs model needs -o DIR (where model.json and weights.bin go)');
  const id = await resolveJobId(api, given);
  let round = opts.round === undefined ? undefined : nonNegativeInt('--round', opts.round);
  const q = (r: number | undefined): string => (r === undefined ? '' : `?round=${r}`);
  const modelJson = await api.bytes(`/jobs/${id}/model/model.json${q(round)}`);
  const header = modelJson.headers.get('x-model-round');
  if (round === undefined && header !== null && /^-?\d+$/.test(header)) round = Number(header);
  let manifest: ModelJson;
  try {
    manifest = JSON.parse(Buffer.from(modelJson.bytes).toString('utf8')) as ModelJson;
  } catch (e) {
    throw new CliError(ExitCode.Refused, `the coordinator's model.json is not JSON: ${(e as Error).message}`);
  }
  const group = manifest.weightsManifest?.[0];
  if (!group || !Array.isArray(group.paths) || group.paths.length !== 1 || group.paths[0] !== 'weights.bin') {
    throw new CliError(ExitCode.Refused, `the coordinator's model.json does not name weights.bin in weightsManifest[0].paths`);
  }
  const weights = await api.bytes(`/jobs/${id}/model/weights.bin${q(round)}`);
  const expected = (group.weights ?? []).reduce(
    (sum, w) => sum + (w.shape ?? []).reduce((a, b) => a * b, 1) * (BYTES_PER_DTYPE[w.dtype ?? 'float32'] ?? NaN),
    0,
  );
  if (Number.isFinite(expected) && expected !== weights.bytes.byteLength) {
    throw new CliError(ExitCode.Refused, `weights.bin has ${weights.bytes.byteLength} bytes, model.json's manifest needs ${expected}`);
  }
  mkdirSync(opts.out, { recursive: true });
  const files = { modelJson: path.join(opts.out, 'model.json'), weights: path.join(opts.out, 'weights.bin') };
  writeFileSync(files.modelJson, modelJson.bytes);
  writeFileSync(files.weights, weights.bytes);
  out.data({ jobId: id, round: round ?? null, files, weightsBytes: weights.bytes.byteLength });
  out.line(
    `${files.modelJson}, ${files.weights} (${weights.bytes.byteLength} bytes)${round === undefined ? '' : `: the model after round ${round}`}`,
  );
  return ExitCode.Ok;
}

export function positiveInt(flag: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw usageError(`${flag} must be a positive integer, got '${value}'`);
  return n;
}

export function nonNegativeInt(flag: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw usageError(`${flag} must be a non-negative integer, got '${value}'`);
  return n;
}
