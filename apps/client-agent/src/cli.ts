#!/usr/bin/env node
import { parseAvailability, type AvailabilitySpec } from '@flotilla/algorithms';
import { parseArgs } from 'node:util';
import { ClientAgent } from './agent';
import { selectBackend } from './tf-backend';

const USAGE = `flotilla-agent --coordinator URL --join-token TOKEN --data FILE.csv [options]

  --coordinator URL     coordinator base URL (env FLOTILLA_COORDINATOR_URL)
  --join-token TOKEN    join token issued by the operator (env FLOTILLA_JOIN_TOKEN)
  --data FILE           local dataset, CSV with the label in the last column
  --dataset NAME        dataset name this file belongs to (default uci-digits)
  --name NAME           agent name shown to operators (default agent-<pid>)
  --redis-url URL       Redis the coordinator's queues live in (env REDIS_URL, default redis://127.0.0.1:6379)
  --availability SPEC   always | bernoulli:P | markov:P[:A] | cyclic:P[:L] (default always)
  --seed N              seed of the availability pattern (default 0)
  --heartbeat-ms N      heartbeat interval (default 5000)
  --identity FILE       keep the agent id and secret here (mode 0600) and rejoin as the same client after a
                        restart (env FLOTILLA_IDENTITY_FILE); without it every start is a new client`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      coordinator: { type: 'string' },
      'join-token': { type: 'string' },
      data: { type: 'string' },
      dataset: { type: 'string', default: 'uci-digits' },
      name: { type: 'string', default: `agent-${process.pid}` },
      'redis-url': { type: 'string' },
      availability: { type: 'string', default: 'always' },
      seed: { type: 'string', default: '0' },
      'heartbeat-ms': { type: 'string', default: '5000' },
      identity: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const coordinatorUrl = values.coordinator ?? process.env.FLOTILLA_COORDINATOR_URL;
  const joinToken = values['join-token'] ?? process.env.FLOTILLA_JOIN_TOKEN;
  const problems: string[] = [];
  if (!coordinatorUrl) problems.push('--coordinator is required');
  if (!joinToken) problems.push('--join-token is required');
  if (!values.data) problems.push('--data is required');
  const seed = Number(values.seed);
  const heartbeatMs = Number(values['heartbeat-ms']);
  if (!Number.isInteger(seed)) problems.push('--seed must be an integer');
  if (!Number.isInteger(heartbeatMs) || heartbeatMs < 100) problems.push('--heartbeat-ms must be an integer >= 100');
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
  log(`tfjs backend: ${await selectBackend()}`);
  const agent = new ClientAgent({
    coordinatorUrl: coordinatorUrl!,
    redisUrl: values['redis-url'] ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    joinToken: joinToken!,
    name,
    dataset: values.dataset,
    dataFile: values.data!,
    availability: availability!,
    seed,
    heartbeatMs,
    identityFile: values.identity ?? process.env.FLOTILLA_IDENTITY_FILE,
    log,
  });
  await agent.start();
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: finishing the task in hand and leaving`);
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
}

main().catch((e: unknown) => {
  process.stderr.write(`flotilla-agent: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
