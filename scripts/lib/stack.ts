import { cutShards, toCsv, toIdx } from '@flotilla/algorithms';
import { loadManifestDataset } from '@flotilla/dataset-files';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Agent as UndiciAgent, fetch as undiciFetch } from 'undici';
import { sleep, stopProcess } from './services';

/** The repository root (where nx.json is), whether this file runs compiled or from source. */
export const ROOT = ((): string => {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'nx.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
})();
const COORDINATOR_MAIN = path.join(ROOT, 'apps', 'coordinator', 'dist', 'main.js');
const AGENT_CLI = path.join(ROOT, 'apps', 'client-agent', 'dist', 'cli.js');

export function token(): string {
  return randomBytes(24).toString('base64url');
}

export interface CoordinatorProcess {
  url: string;
  adminToken: string;
  joinToken: string;
  proc: ChildProcess;
  output: string[];
}

/** Starts the built coordinator as a child process and waits until /health answers 200. */
export async function startCoordinatorProcess(
  env: Record<string, string>,
  port: number,
  onLine?: (l: string) => void,
): Promise<CoordinatorProcess> {
  const adminToken = env.ADMIN_TOKEN ?? token();
  const joinToken = env.JOIN_TOKEN ?? token();
  const output: string[] = [];
  const proc = spawn(process.execPath, [COORDINATOR_MAIN], {
    cwd: ROOT,
    env: { ...process.env, ...env, ADMIN_TOKEN: adminToken, JOIN_TOKEN: joinToken, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const collect = (chunk: Buffer): void => {
    for (const line of chunk.toString().split('\n')) {
      if (!line) continue;
      output.push(line);
      if (output.length > 2000) output.shift();
      onLine?.(line);
    }
  };
  proc.stdout.on('data', collect);
  proc.stderr.on('data', collect);
  // With TLS_CERT_FILE the coordinator serves HTTPS; a self-signed certificate is its own CA.
  const tls = env.TLS_CERT_FILE ? new UndiciAgent({ connect: { ca: readFileSync(env.TLS_CERT_FILE) } }) : undefined;
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    if (proc.exitCode !== null) throw new Error(`coordinator exited with ${proc.exitCode}:\n${output.slice(-30).join('\n')}`);
    const ok = await undiciFetch(`${url}/health`, { dispatcher: tls }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) {
      await tls?.close();
      return { url, adminToken, joinToken, proc, output };
    }
    await sleep(100);
  }
  await stopProcess(proc);
  throw new Error(`coordinator did not become healthy:\n${output.slice(-30).join('\n')}`);
}

export interface AgentProcess {
  name: string;
  proc: ChildProcess;
  output: string[];
}

export function startAgentProcess(args: {
  name: string;
  coordinatorUrl: string;
  joinToken: string;
  dataFile: string;
  /** The labels file of an IDX `dataFile` (`--labels`). */
  labelsFile?: string;
  availability?: string;
  seed?: number;
  heartbeatMs?: number;
  identityFile?: string;
  /** PEM of a CA for an HTTPS coordinator. */
  caFile?: string;
  /** More environment for the agent process (it gets no Redis address: it needs none). */
  env?: Record<string, string>;
  /** More command-line options (e.g. `--poll-wait-ms`). */
  args?: string[];
  /** The dataset the agent's file belongs to (`--dataset`; the agent's default, uci-digits, when absent). */
  dataset?: string;
  /**
   * `npm`: started as a user starts one, `npm run agent -- …`, so that the process signalled is npm, not the agent
   * (npm must pass SIGTERM on). Default `node`: the agent's script itself.
   */
  launcher?: 'node' | 'npm';
}): AgentProcess {
  const output: string[] = [];
  const viaNpm = args.launcher === 'npm';
  const proc = spawn(
    viaNpm ? 'npm' : process.execPath,
    [
      ...(viaNpm ? ['run', '--silent', 'agent', '--'] : [AGENT_CLI]),
      '--coordinator',
      args.coordinatorUrl,
      `--join-token=${args.joinToken}`, // '=' form: a random token may start with '-'
      '--data',
      args.dataFile,
      ...(args.labelsFile ? ['--labels', args.labelsFile] : []),
      '--name',
      args.name,
      '--availability',
      args.availability ?? 'always',
      '--seed',
      String(args.seed ?? 0),
      '--heartbeat-ms',
      String(args.heartbeatMs ?? 2000),
      ...(args.identityFile ? ['--identity', args.identityFile] : []),
      ...(args.caFile ? ['--ca-file', args.caFile] : []),
      ...(args.dataset ? ['--dataset', args.dataset] : []),
      ...(args.args ?? []),
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: agentEnv(args.env) },
  );
  const collect = (chunk: Buffer): void => {
    for (const line of chunk.toString().split('\n')) if (line) output.push(line);
  };
  proc.stdout.on('data', collect);
  proc.stderr.on('data', collect);
  return { name: args.name, proc, output };
}

/**
 * An agent process's environment: this process's, minus anything that would let it reach Redis or the database (an
 * agent must work with the coordinator's address alone), plus `extra`.
 */
function agentEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^(REDIS|DATABASE|TEST_REDIS|TEST_DATABASE)/.test(k)) delete env[k];
  return { ...env, ...extra };
}

/** A tiny admin client for scripts and tests. */
export function adminApi(url: string, adminToken: string) {
  return async function api<T>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(`${url}${p}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // binary or text body
    }
    return { status: res.status, body: parsed as T };
  };
}

/** One agent's shard on disk: a CSV, or an IDX pair (`data` the images, `labels` the labels). */
export interface Shard {
  data: string;
  labels?: string;
  size: number;
}

/**
 * Splits a shipped dataset (ROOT/data/<name>) like a federation would see it: the coordinator's held-out split (from
 * dataset.json) is left out, the rest is split non-IID by label (Dirichlet α) into one shard per agent in `dir`: a
 * CSV `agent-<i>.csv` for a CSV dataset, an IDX pair `agent-<i>-images.idx` / `agent-<i>-labels.idx` (images shaped
 * `[n, …inputShape]`) for the others. Returns the shards and the split sizes.
 */
export function writeDatasetShards(
  name: string,
  dir: string,
  agents: number,
  opts: { alpha: number; seed: number; minPerClient: number },
): { shards: Shard[]; trainSize: number; heldOutSize: number; inputShape: number[] } {
  const { manifest, inputShape, train, test } = loadManifestDataset(path.join(ROOT, 'data', name));
  const split = cutShards(train, manifest.numClasses, {
    agents,
    split: { kind: 'dirichlet', alpha: opts.alpha },
    seed: opts.seed,
    minPerAgent: opts.minPerClient,
  });
  const shards = split.map(({ data: part }, i): Shard => {
    if (manifest.format === 'csv') {
      const data = path.join(dir, `agent-${i}.csv`);
      writeFileSync(data, toCsv(part));
      return { data, size: part.size };
    }
    const data = path.join(dir, `agent-${i}-images.idx`);
    const labels = path.join(dir, `agent-${i}-labels.idx`);
    writeFileSync(data, toIdx([part.size, ...inputShape], part.features));
    writeFileSync(labels, toIdx([part.size], part.labels));
    return { data, labels, size: part.size };
  });
  return { shards, trainSize: train.size, heldOutSize: test.size, inputShape };
}

/**
 * Splits the shipped UCI digits (see {@link writeDatasetShards}) into one CSV per agent, `<dir>/agent-<i>.csv`.
 * Returns the files, the shard sizes and the split sizes.
 */
export function writeDigitsShards(
  dir: string,
  agents: number,
  opts: { alpha: number; seed: number; minPerClient: number },
): { files: string[]; shardSizes: number[]; trainSize: number; heldOutSize: number } {
  const { shards, trainSize, heldOutSize } = writeDatasetShards('uci-digits', dir, agents, opts);
  return { files: shards.map((s) => s.data), shardSizes: shards.map((s) => s.size), trainSize, heldOutSize };
}
