import { DatasetManifestSchema, type DatasetManifest } from '@flotilla/contracts';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { CliError, ExitCode, usageError } from '../exit-codes';
import type { Output } from '../output';
import { nonNegativeInt, positiveInt } from './jobs';

export interface DataSplitOptions {
  out?: string;
  agents?: string;
  alpha?: string;
  iid: boolean;
  seed?: string;
  minRows?: string;
  force: boolean;
}

/** What `data split` wrote (its --json output, also saved as split.json next to the shards). */
export interface SplitReport {
  dataset: string;
  file: string;
  fileSha256: string;
  rows: number;
  heldOut: { rows: number; fraction: number; seed: number };
  split: { kind: 'iid' } | { kind: 'dirichlet'; alpha: number; minRows: number };
  seed: number;
  shards: { file: string; rows: number; sha256: string; labels: number[] }[];
}

/**
 * `data split DATASET_DIR --agents N -o DIR`: cuts a catalogue dataset's CSV into one file per agent, leaving out the
 * rows the coordinator holds out for evaluation. It reads the same dataset.json as the coordinator's DATA_DIR and
 * splits with the coordinator's code (agentShards, over splitHeldOut), so the held-out rows are in no shard.
 */
export async function dataSplit(out: Output, datasetDir: string, opts: DataSplitOptions): Promise<number> {
  if (!opts.out) throw usageError('data split needs -o DIR (where the shards go)');
  if (!opts.agents) throw usageError('data split needs --agents N (how many shards)');
  if (opts.iid && opts.alpha !== undefined) throw usageError('--iid and --alpha exclude each other');
  const agents = positiveInt('--agents', opts.agents);
  const seed = nonNegativeInt('--seed', opts.seed ?? '0');
  const minRows = nonNegativeInt('--min-rows', opts.minRows ?? '1');
  let split: SplitReport['split'] = { kind: 'iid' };
  if (opts.alpha !== undefined) {
    const alpha = Number(opts.alpha);
    if (!(alpha > 0 && Number.isFinite(alpha))) throw usageError(`--alpha must be a positive number, got '${opts.alpha}'`);
    split = { kind: 'dirichlet', alpha, minRows };
  }

  const manifest = readManifest(datasetDir);
  if (manifest.format !== 'csv') {
    throw new CliError(ExitCode.Refused, `data split cuts CSV datasets for now; ${manifest.name} is in the ${manifest.format} format`);
  }
  const file = path.join(datasetDir, manifest.file);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CliError(ExitCode.Refused, `cannot read ${file}: ${(e as Error).message}`);
  }
  if (existsSync(opts.out) && !opts.force) {
    const old = readdirSync(opts.out).filter((f) => /^agent-\d+\.csv$/.test(f) || f === 'split.json');
    if (old.length) throw usageError(`${opts.out} already holds ${old.slice(0, 3).join(', ')}…; pass --force to replace them`);
  }

  // Loaded here, not at start-up: the algorithms bring TensorFlow.js, which the API commands do not need.
  const { agentShards, toCsv } = await import('@flotilla/algorithms');
  let result: ReturnType<typeof agentShards>;
  try {
    result = agentShards(text, manifest, {
      agents,
      split: split.kind === 'iid' ? split : { kind: 'dirichlet', alpha: split.alpha },
      seed,
      minPerAgent: split.kind === 'dirichlet' ? split.minRows : undefined,
    });
  } catch (e) {
    throw new CliError(ExitCode.Refused, `${file}: ${(e as Error).message}`);
  }
  const { train, test, shards } = result;
  mkdirSync(opts.out, { recursive: true });
  const report: SplitReport = {
    dataset: manifest.name,
    file,
    fileSha256: sha256(text),
    rows: train.size + test.size,
    heldOut: { rows: test.size, fraction: manifest.heldOut.fraction, seed: manifest.heldOut.seed },
    split,
    seed,
    shards: shards.map((s, i) => {
      const csv = toCsv(s.data);
      const shardFile = path.join(opts.out!, `agent-${i}.csv`);
      writeFileSync(shardFile, csv);
      const labels = new Array<number>(manifest.numClasses).fill(0);
      for (const y of s.data.labels) labels[y]++;
      return { file: shardFile, rows: s.data.size, sha256: sha256(csv), labels };
    }),
  };
  writeFileSync(path.join(opts.out, 'split.json'), JSON.stringify(report, null, 2) + '\n');
  out.data(report);
  const how =
    split.kind === 'iid'
      ? `IID, seed ${seed}`
      : `non-IID by label, Dirichlet α = ${split.alpha}, seed ${seed}, at least ${split.minRows} rows each`;
  out.line(`${manifest.name}: ${report.rows} rows in ${file}`);
  out.line(
    `  ${test.size} held out for the coordinator's evaluation (${Math.round(manifest.heldOut.fraction * 100)} %, seed ${manifest.heldOut.seed}): in no shard`,
  );
  out.line(`  ${train.size} split over ${agents} agents (${how}):`);
  for (const s of report.shards) out.line(`    ${s.file}  ${s.rows} rows  labels ${s.labels.join(' ')}`);
  out.line(`  ${path.join(opts.out, 'split.json')}: what was written, with each file's sha256`);
  return ExitCode.Ok;
}

function readManifest(dir: string): DatasetManifest {
  const file = path.join(dir, 'dataset.json');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CliError(
      ExitCode.Refused,
      `${file}: ${(e as Error).message} (data split takes a dataset's folder of the coordinator's DATA_DIR, e.g. data/uci-digits)`,
    );
  }
  const r = DatasetManifestSchema.safeParse(raw);
  if (!r.success) {
    throw new CliError(
      ExitCode.Refused,
      `${file}: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
    );
  }
  return r.data;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
