#!/usr/bin/env node
import { parseAvailability, type AvailabilitySpec } from '@flotilla/algorithms';
import { MAX_AGENT_LABELS, parseLabels, splitLabelList } from '@flotilla/contracts';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ClientAgent, CredentialsRefused, DataMismatch } from './agent';
import { describeError } from './coordinator-client';
import { selectBackend } from './tf-backend';

const USAGE = `flotilla-agent --coordinator URL --join-token TOKEN --data FILE.csv|IMAGES --labels LABELS|DIR/ [options]

  --coordinator URL       coordinator base URL, http:// or https:// (env FLOTILLA_COORDINATOR_URL); the agent
                          needs no other address: it opens every connection itself
  --join-token TOKEN      join token issued by the operator (env FLOTILLA_JOIN_TOKEN)
  --join-token-file FILE  read the join token from a file instead (keeps it out of the process list)
  --data PATH             local dataset, in one of three formats, told apart by the path:
                            a file: CSV, numbers with the label in the last column;
                            a file with --labels: IDX images (MNIST's format, gzipped or not);
                            a folder: one sub-folder of PNG/JPEG images per class, named as the
                            coordinator's classes of the dataset (default 0, 1, ...)
  --labels FILE           the IDX labels file that goes with IDX images in --data
  --dataset NAME          dataset name this file belongs to (default uci-digits)
  --name NAME             agent name shown to operators (default agent-<pid>)
  --ca-file FILE          PEM certificate of a CA to trust for the coordinator's HTTPS certificate
                          (env FLOTILLA_CA_FILE)
  --identity FILE         keep the agent id and secret here (mode 0600) and rejoin as the same client after a
                          restart (env FLOTILLA_IDENTITY_FILE); without it every start is a new client
  --rotate-secret         with --identity: get a new secret at start (the old one stops working)
  --label KEY=VALUE       a label jobs can select this agent by (agentSelector), e.g. --label gpu=true; repeatable,
                          at most ${MAX_AGENT_LABELS} (env FLOTILLA_LABELS, comma-separated: gpu=true,region=eu). Keys as
                          Kubernetes label keys ([prefix/]name), values at most 63 characters
  --availability SPEC     always | bernoulli:P | markov:P[:A] | cyclic:P[:L] (default always)
  --seed N                seed of the availability pattern (default 0)
  --heartbeat-ms N        heartbeat interval while computing (default 5000)
  --poll-wait-ms N        how long one poll for work may wait at the coordinator (default 25000)
  --retry-max-delay-ms N  longest pause between two tries of a call when the network or the coordinator
                          fails (default 30000); pauses start near 250 ms and double, with random jitter
  --request-timeout-ms N  how long one try of a call may take (default 60000)

Network errors (refused, reset or stale connections, timeouts, cut or corrupted downloads) and answers
408/429/5xx are tried again until the call's deadline (a round's, a task's); the agent waits for an
unreachable coordinator at start for as long as it takes, and stops only on a definitive answer
(join token or identity refused, incompatible version: exit code 3). Before it joins it checks its file
against the coordinator's description of the dataset (example shape, classes, value range) and does not join
when it does not fit or the coordinator does not know the dataset (exit code 4). SIGTERM or SIGINT:
the work in hand is finished, the coordinator told that the agent leaves (nothing waits for it), exit 0.`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      coordinator: { type: 'string' },
      'join-token': { type: 'string' },
      'join-token-file': { type: 'string' },
      data: { type: 'string' },
      labels: { type: 'string' },
      dataset: { type: 'string', default: 'uci-digits' },
      name: { type: 'string', default: `agent-${process.pid}` },
      'ca-file': { type: 'string' },
      identity: { type: 'string' },
      'rotate-secret': { type: 'boolean', default: false },
      label: { type: 'string', multiple: true },
      availability: { type: 'string', default: 'always' },
      seed: { type: 'string', default: '0' },
      'heartbeat-ms': { type: 'string', default: '5000' },
      'poll-wait-ms': { type: 'string', default: '25000' },
      'retry-max-delay-ms': { type: 'string', default: '30000' },
      'request-timeout-ms': { type: 'string', default: '60000' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const problems: string[] = [];
  const coordinatorUrl = values.coordinator ?? process.env.FLOTILLA_COORDINATOR_URL;
  let joinToken = values['join-token'] ?? process.env.FLOTILLA_JOIN_TOKEN;
  if (values['join-token-file']) {
    try {
      joinToken = readFileSync(values['join-token-file'], 'utf8').trim();
    } catch (e) {
      problems.push(`--join-token-file: ${(e as Error).message}`);
    }
  }
  if (!coordinatorUrl) problems.push('--coordinator is required');
  else if (!/^https?:\/\//.test(coordinatorUrl)) problems.push('--coordinator must be an http:// or https:// URL');
  if (!joinToken && !problems.some((p) => p.startsWith('--join-token-file')))
    problems.push('--join-token (or --join-token-file) is required');
  if (!values.data) problems.push('--data is required');
  const identityFile = values.identity ?? process.env.FLOTILLA_IDENTITY_FILE;
  if (values['rotate-secret'] && !identityFile) problems.push('--rotate-secret needs --identity (the new secret is kept there)');
  const seed = Number(values.seed);
  const heartbeatMs = Number(values['heartbeat-ms']);
  if (!Number.isInteger(seed)) problems.push('--seed must be an integer');
  if (!Number.isInteger(heartbeatMs) || heartbeatMs < 100) problems.push('--heartbeat-ms must be an integer >= 100');
  const pollWaitMs = Number(values['poll-wait-ms']);
  const retryMaxDelayMs = Number(values['retry-max-delay-ms']);
  const requestTimeoutMs = Number(values['request-timeout-ms']);
  if (!Number.isInteger(pollWaitMs) || pollWaitMs < 0 || pollWaitMs > 30_000)
    problems.push('--poll-wait-ms must be an integer in 0..30000');
  if (!Number.isInteger(retryMaxDelayMs) || retryMaxDelayMs < 10) problems.push('--retry-max-delay-ms must be an integer >= 10');
  if (!Number.isInteger(requestTimeoutMs) || requestTimeoutMs < 100) problems.push('--request-timeout-ms must be an integer >= 100');
  // Labels from the flags, else from the environment (as every other setting: a flag wins).
  const labelArgs = values.label ?? splitLabelList(process.env.FLOTILLA_LABELS ?? '');
  const labelSource = values.label ? '--label' : 'FLOTILLA_LABELS';
  const { labels, problems: labelProblems } = parseLabels(labelArgs);
  problems.push(...labelProblems.map((p) => `${labelSource}: ${p}`));
  let availability: AvailabilitySpec | undefined;
  try {
    availability = parseAvailability(values.availability);
  } catch (e) {
    problems.push(`--availability: ${(e as Error).message}`);
  }
  if (problems.length) {
    process.stderr.write(`${problems.join('\n')}\n\n${USAGE}\n`);
    process.exit(2);
  }
  const name = values.name;
  const log = (line: string): void => {
    process.stdout.write(`[${name}] ${line}\n`);
  };
  const compute = await selectBackend();
  log(`tfjs backend: ${compute.backend} (${compute.device})`);
  const labelList = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
  if (labelList.length) log(`labels: ${labelList.join(', ')}`);
  const agent = new ClientAgent({
    coordinatorUrl: coordinatorUrl!,
    joinToken: joinToken!,
    name,
    dataset: values.dataset,
    dataFile: values.data!,
    labelsFile: values.labels,
    availability: availability!,
    seed,
    heartbeatMs,
    pollWaitMs,
    retryMaxDelayMs,
    requestTimeoutMs,
    identityFile,
    rotateSecret: values['rotate-secret'],
    labels,
    backend: compute.backend,
    device: compute.device,
    caFile: values['ca-file'] ?? (process.env.FLOTILLA_CA_FILE || undefined),
    log,
  });
  await agent.start().catch((e: unknown) => {
    if (e instanceof DataMismatch) {
      log(`${e.message}; not joining`);
      process.exit(4);
    }
    if (e instanceof CredentialsRefused) {
      log(`${e.message}; stopping`);
      process.exit(3);
    }
    throw e;
  });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: finishing the work in hand and leaving`);
    agent.stop().then(
      () => process.exit(0),
      (e: Error) => {
        log(`shutdown failed: ${e.message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await agent.done().catch((e: unknown) => {
    if (e instanceof CredentialsRefused) {
      log(`${e.message}; stopping (was this agent revoked? register it again with a join token, without --identity)`);
      process.exit(3);
    }
    throw e;
  });
}

main().catch((e: unknown) => {
  process.stderr.write(`flotilla-agent: ${describeError(e)}\n`);
  process.exit(1);
});
