/**
 * docs/results/fleet.md from docs/results/fleet.json (`npm run results -- fleet`: scripts/fleet.ts at each fleet
 * size): a pure function of the JSON. Every figure and every verdict is computed from it.
 */
import { list, table, thousands } from './format';
import { headerLines, type RunMeta } from './meta';

interface Latency {
  items: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  within100Ms: number;
}

/** What one run of scripts/fleet.ts prints as JSON. */
export interface FleetRun {
  agents: number;
  rounds: number;
  waitMs: number;
  machine: { cpus: number; cpu?: string };
  registerSeconds: number;
  connectSeconds: number;
  /** Polls open at once when the connect phase ended (every agent, unless it timed out). */
  connectedAtOnce: number;
  idle: {
    seconds: number;
    openPolls: number;
    rssMiB: number;
    cpuPercent: number;
    heartbeatStatementsPerSecond: number;
    agentRowsUpdatedPerSecond: number;
  };
  singleTask: Latency;
  roundDelivery: Latency;
  roundSeconds: number[];
  busy: { seconds: number; peakRssMiB: number; cpuPercent: number };
  errors: number;
}

export interface FleetResultsJson {
  meta: RunMeta;
  result: { runs: FleetRun[] };
}

const ms = (x: number): string => `${Math.round(x)}`;
const pct0 = (x: number): string => `${Math.round(100 * x)} %`;

export function renderFleet(json: FleetResultsJson): string {
  const runs = json.result.runs;
  const out: string[] = [];
  const line = (text = ''): void => void out.push(text);
  line('# Agent transport at fleet size');
  line();
  for (const l of headerLines(json.meta, 'fleet.json', 'npm run results -- fleet --render-only')) line(l);
  line();
  line('What runs: the built coordinator as its own process, PostgreSQL, a private Redis with a password, and N simulated');
  line('agents as real HTTP clients in one more process (scripts/fleet.ts): each registers, then holds a long poll open');
  line(
    `(\`GET /api/v1/agents/me/work?waitMs=${runs[0]?.waitMs ?? 25000}\`) and answers what it is handed at once, without training. Phases:`,
  );
  line("connect (every agent waiting), idle (coordinator memory and CPU; heartbeat writes from the coordinator's");
  line("`flotilla_presence_writes_total` and PostgreSQL's own `pg_stat_user_tables`), single tasks (one bilevel task");
  line('handed from one idle agent to the next by failure reports: the latency of one item reaching one waiting agent),');
  line('and rounds (a federated job with every agent eligible: N items enqueued at once, each agent declines its item).');
  line("Delivery latency is the time between the item's enqueueing (BullMQ's timestamp) and its arrival at the agent, on");
  line("one clock. The simulated agents share the machine's cores with the coordinator, so the figures under load include");
  line('their own scheduling.');
  line();
  line('## Summary');
  line();
  const at = (r: FleetRun) => `${thousands(r.agents)} agents`;
  const idleGoal = runs.filter((r) => r.singleTask.p99Ms <= 100);
  const missed = runs.filter((r) => r.singleTask.p99Ms > 100);
  const lines: string[] = [];
  const biggest = runs.reduce((a, b) => (b.agents > a.agents ? b : a), runs[0]);
  lines.push(
    `**Connected.** The largest run held ${thousands(biggest.idle.openPolls)} of ${thousands(biggest.agents)} agents' polls open at once on one coordinator process, at ${biggest.idle.rssMiB.toFixed(0)} MiB resident and ${biggest.idle.cpuPercent.toFixed(1)} % of one core while idle.`,
  );
  lines.push(
    idleGoal.length
      ? `**An idle agent learns of a new task within 100 ms** (p99 of ${idleGoal[0].singleTask.items} single deliveries) at ${list(idleGoal.map(at))}.` +
          (missed.length
            ? ` Not at ${list(missed.map((r) => `${at(r)} (${pct0(r.singleTask.within100Ms)} within 100 ms, p99 ${ms(r.singleTask.p99Ms)} ms)`))}.`
            : '')
      : `**An idle agent learns of a new task within 100 ms** at none of the sizes measured: ${list(runs.map((r) => `${at(r)}, p99 ${ms(r.singleTask.p99Ms)} ms`))}.`,
  );
  const stmts = runs.map((r) => r.idle.heartbeatStatementsPerSecond);
  lines.push(
    `**Heartbeats** cost ${Math.min(...stmts).toFixed(2)}–${Math.max(...stmts).toFixed(2)} UPDATE statements per second whatever the fleet size (one statement per flush, not one per heartbeat); the agent rows they update per second grow with the fleet (each connected agent's row is written once per third of \`AGENT_OFFLINE_AFTER_MS\`).`,
  );
  lines.push(
    `**Bursts.** When a round hands every agent an item at once, the median delivery takes ${list(runs.map((r) => `${ms(r.roundDelivery.p50Ms)} ms at ${at(r)}`))}, and a round whose agents all answer at once closes ${list(runs.map((r) => `in ${Math.max(...r.roundSeconds).toFixed(1)} s at ${at(r)}`))} (the slowest round): the answers are recorded one after another on the round's row.`,
  );
  const errors = runs.reduce((s, r) => s + r.errors, 0);
  lines.push(errors === 0 ? 'No simulated agent saw a transport error.' : `The simulated agents saw ${errors} transport errors.`);
  for (const l of lines) {
    line(`- ${l}`);
  }
  line();
  line('## Results');
  line();
  for (const l of table(['', ...runs.map(at)], 'l' + 'r'.repeat(runs.length), [
    ['registrations per second', ...runs.map((r) => (r.agents / r.registerSeconds).toFixed(0))],
    ['time until every agent waits (s)', ...runs.map((r) => r.connectSeconds.toFixed(1))],
    ['polls open at once, idle', ...runs.map((r) => thousands(r.idle.openPolls))],
    ['coordinator RSS, idle (MiB)', ...runs.map((r) => r.idle.rssMiB.toFixed(0))],
    ['coordinator CPU, idle (% of a core)', ...runs.map((r) => r.idle.cpuPercent.toFixed(1))],
    ['heartbeat UPDATE statements per second, idle', ...runs.map((r) => r.idle.heartbeatStatementsPerSecond.toFixed(2))],
    ['agent rows updated per second, idle', ...runs.map((r) => r.idle.agentRowsUpdatedPerSecond.toFixed(0))],
    ['single task: deliveries', ...runs.map((r) => String(r.singleTask.items))],
    [
      'single task: latency p50 / p99 / max (ms)',
      ...runs.map((r) => `${ms(r.singleTask.p50Ms)} / ${ms(r.singleTask.p99Ms)} / ${ms(r.singleTask.maxMs)}`),
    ],
    ['single task: within 100 ms', ...runs.map((r) => pct0(r.singleTask.within100Ms))],
    ['rounds: items delivered', ...runs.map((r) => thousands(r.roundDelivery.items))],
    [
      'rounds: latency p50 / p99 / max (ms)',
      ...runs.map((r) => `${ms(r.roundDelivery.p50Ms)} / ${ms(r.roundDelivery.p99Ms)} / ${ms(r.roundDelivery.maxMs)}`),
    ],
    ['rounds: open → closed (s)', ...runs.map((r) => r.roundSeconds.map((s) => s.toFixed(1)).join(', '))],
    ['rounds: coordinator CPU (% of a core)', ...runs.map((r) => r.busy.cpuPercent.toFixed(0))],
    ['peak coordinator RSS (MiB)', ...runs.map((r) => r.busy.peakRssMiB.toFixed(0))],
    ['transport errors seen by agents', ...runs.map((r) => String(r.errors))],
  ]))
    line(l);
  line();
  line('`npm run bench -- fleet --agents N [--rounds R] [--idle-seconds S] [--json]` runs one size.');
  return out.join('\n') + '\n';
}
