/**
 * docs/results/rounds.md from docs/results/rounds.json (`npm run results -- rounds`: scripts/rounds.ts on a clean
 * network and behind the fault proxy): a pure function of the JSON. Every figure and every verdict is computed from it.
 */
import { table, thousands } from './format';
import { headerLines, type RunMeta } from './meta';

/** What one run of scripts/rounds.ts prints as JSON (kept in step with scripts/rounds.ts `RoundsRun`). */
export interface RoundsRunJson {
  agents: number;
  hidden: number;
  parameters: number;
  rounds: number;
  faults: Record<string, number> | null;
  machine: { cpus: number; cpu?: string };
  perRound: { round: number; openSeconds: number; participants: number; eligible: number; closeToNextOpenSeconds: number | null }[];
  allAggregated: boolean;
  roundsAtDeadline: number;
  jobSeconds: number;
  finalAccuracy: number | null;
  agentRetries: number;
  agentFailures: number;
  proxy: Record<string, number> | null;
  coordinator: { cpuPercent: number; peakRssMiB: number };
}

export interface RoundsResultsJson {
  meta: RunMeta;
  result: { runs: RoundsRunJson[] };
}

const s2 = (x: number): string => x.toFixed(2);

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function network(r: RoundsRunJson): string {
  return r.faults ? 'faulty (proxy)' : 'clean';
}

export function renderRounds(json: RoundsResultsJson): string {
  const runs = json.result.runs;
  const out: string[] = [];
  const line = (...texts: string[]): void => void out.push(...(texts.length ? texts : ['']));
  line('# The round loop with real training: 100 agents, a model of ~1M parameters');
  line();
  for (const l of headerLines(json.meta, 'rounds.json', 'npm run results -- rounds --render-only')) line(l);
  line();
  line('What runs (scripts/rounds.ts): the built coordinator as its own process, PostgreSQL, a private Redis, and N real');
  line("agents (the agent's own `ClientAgent`: registration, long poll, heartbeats, TensorFlow.js training, uploads) in one");
  line('more process, sharing its CPU. A FedAU job on the UCI digits with an MLP 64→H→10 (75·H + 10 parameters), one local');
  line(
    'step of batch 16 at learning rate 0.01 per round, every agent eligible in every round (`minAgents` = N), round deadline 300 s. On the',
  );
  line('faulty network the agents reach the coordinator only through the fault-injecting proxy (scripts/lib/fault-proxy.ts).');
  line();
  line('## Summary');
  line();
  line(
    ...table(
      [
        'network',
        'agents',
        'parameters',
        'rounds',
        'every agent aggregated in every round',
        'rounds that waited for their deadline',
        'round open, median / max (s)',
        'close → next open, median (s)',
        'job (s)',
        'final accuracy',
        "agents' retries / failures",
        'coordinator CPU, peak RSS',
      ],
      'lrrrllrrrrrr',
      runs.map((r) => {
        const open = r.perRound.map((p) => p.openSeconds);
        const gaps = r.perRound.flatMap((p) => (p.closeToNextOpenSeconds === null ? [] : [p.closeToNextOpenSeconds]));
        return [
          network(r),
          String(r.agents),
          thousands(r.parameters),
          String(r.rounds),
          r.allAggregated ? 'yes' : 'no',
          String(r.roundsAtDeadline),
          `${s2(median(open))} / ${s2(Math.max(...open))}`,
          gaps.length ? s2(median(gaps)) : '—',
          r.jobSeconds.toFixed(1),
          r.finalAccuracy === null ? '—' : r.finalAccuracy.toFixed(4),
          `${r.agentRetries} / ${r.agentFailures}`,
          `${Math.round(r.coordinator.cpuPercent)} %, ${Math.round(r.coordinator.peakRssMiB)} MiB`,
        ];
      }),
    ),
  );
  line();
  line('"Retries" counts tries an agent repeated; "failures" counts calls that failed for a retryable reason and were not');
  line('retried further: polls for work cut by the network (a poll is tried once, and the agent polls again) and heartbeats');
  line("that timed out while the agents' shared process was busy training (a heartbeat is retried only until the next one).");
  for (const r of runs.filter((x) => x.faults && x.proxy)) {
    line();
    line(`## Faults injected (${r.agents} agents)`);
    line();
    line(
      `The plan: ${Object.entries(r.faults!)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')} (shares of new connections; times in ms).`,
    );
    line();
    line(...table(Object.keys(r.proxy!), 'r'.repeat(Object.keys(r.proxy!).length), [Object.values(r.proxy!).map(String)]));
  }
  for (const r of runs) {
    line();
    line(`## Per round: ${network(r)} network`);
    line();
    line(
      ...table(
        ['round', 'open (s)', 'aggregated / eligible', 'close → next open (s)'],
        'rrrr',
        r.perRound.map((p) => [
          String(p.round),
          s2(p.openSeconds),
          `${p.participants} / ${p.eligible}`,
          p.closeToNextOpenSeconds === null ? '—' : s2(p.closeToNextOpenSeconds),
        ]),
      ),
    );
  }
  line();
  return out.join('\n');
}
