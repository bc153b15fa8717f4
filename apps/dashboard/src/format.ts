import type { AgentParticipation, AgentView, CreateFederatedJob, CreateJob, JobView } from '@flotilla/contracts';

/** A fraction as a percentage with two decimals (`93.41 %`); `—` without one. */
export function percent(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '—' : `${(100 * x).toFixed(2)} %`;
}

/** A number with `digits` decimals; `—` without one. */
export function fixed(x: number | null | undefined, digits: number): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits);
}

/** How long ago `iso` was, relative to `now`, in the largest whole unit (`12 s ago`, `3 min ago`, `2 h ago`, `4 d ago`). */
export function ago(iso: string | null | undefined, now: number): string {
  if (!iso) return '—';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

/** An ISO time as `YYYY-MM-DD HH:MM:SS` UTC (what the title of a relative time shows). */
export function utc(iso: string | null | undefined): string {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC` : '';
}

/** The states the dashboard tells apart, from the fields GET /agents reports. */
export const AGENT_STATES = ['online', 'suspect', 'offline', 'left', 'revoked'] as const;
export type AgentState = (typeof AGENT_STATES)[number];

/**
 * An agent's state: revoked (credentials refused), left (it said it was leaving; offline until it rejoins), offline,
 * suspect (online, but a task timed out on it and it has not heartbeated since), or online.
 */
export function agentState(a: Pick<AgentView, 'online' | 'revokedAt' | 'leftAt' | 'lastHeartbeatAt' | 'lastTaskTimeoutAt'>): AgentState {
  if (a.revokedAt) return 'revoked';
  if (!a.online) return a.leftAt ? 'left' : 'offline';
  if (a.lastTaskTimeoutAt && (!a.lastHeartbeatAt || a.lastHeartbeatAt <= a.lastTaskTimeoutAt)) return 'suspect';
  return 'online';
}

/** `key=value, …` in key order; '' without labels. */
export function labelsText(labels: Record<string, string> | null | undefined): string {
  return Object.keys(labels ?? {})
    .sort()
    .map((k) => `${k}=${labels![k]}`)
    .join(', ');
}

/** What a job asks of its agents besides its dataset, as the coordinator's waiting line writes it. */
export function placementText(spec: CreateJob): string {
  const selector = (spec as { agentSelector?: Record<string, string> }).agentSelector ?? {};
  const backend = (spec as { backend?: string }).backend;
  const keys = Object.keys(selector).sort();
  const parts: string[] = [];
  if (keys.length) parts.push(`{${keys.map((k) => `${k}: ${JSON.stringify(selector[k])}`).join(', ')}}`);
  if (backend) parts.push(`backend ${backend}`);
  return parts.join(' and ');
}

/** A job's progress in its unit: `round 3 / 10` (federated), `40 / 100 iterations`, `2 / 3 stages`. */
export function progressText(j: Pick<JobView, 'kind' | 'progress'>): string {
  const p = j.progress;
  return j.kind === 'federated' ? `round ${Math.min(p.done, p.total)} / ${p.total}` : `${p.done} / ${p.total} ${p.unit}`;
}

/** The dataset a job trains on (a bilevel test case has none). */
export function datasetOf(spec: CreateJob): string {
  return (spec as { dataset?: string }).dataset ?? '—';
}

/** The model a job trains, in a few words: `softmax`, `mlp 32`, `cnn`, `supernet`, the bilevel problem. */
export function modelText(spec: CreateJob): string {
  switch (spec.kind) {
    case 'federated':
      return spec.model.arch === 'mlp' ? `mlp ${spec.model.hidden}` : spec.model.arch;
    case 'nas':
      return 'supernet';
    case 'bilevel':
      return spec.problem.kind === 'test-case' ? `test case ${spec.problem.name}` : spec.problem.kind;
  }
}

/**
 * Rounds closed per minute over the last `windowMs` before `now`, from the closing times of rounds (of any job).
 * Zero without any.
 */
export function roundsPerMinute(closedAt: (string | null)[], now: number, windowMs = 5 * 60_000): number {
  const since = now - windowMs;
  const n = closedAt.filter((t) => t !== null && Date.parse(t) > since && Date.parse(t) <= now).length;
  return n / (windowMs / 60_000);
}

/** A federated job's update policy and what it did: `reject beyond 10 × the median norm · 1 rejected, 0 clipped`. */
export function policyText(policy: CreateFederatedJob['updatePolicy'], counts: { rejected: number; clipped: number }): string {
  const bound = policy.bound;
  let rule: string;
  switch (bound.kind) {
    case 'relative':
      rule = `${policy.action} beyond ${bound.factor} × the median norm`;
      break;
    case 'absolute':
      rule = `${policy.action} beyond norm ${bound.maxNorm}`;
      break;
    case 'none':
      rule = 'no bound on update norms';
      break;
  }
  return `${rule} · ${counts.rejected} rejected, ${counts.clipped} clipped`;
}

/** An agent's observed participation over closed rounds: `3 / 4 (75 %)`; `—` before its first closed round. */
export function participationText(p: AgentParticipation): string {
  return p.eligible === 0 ? '—' : `${p.participated} / ${p.eligible} (${Math.round((100 * p.participated) / p.eligible)} %)`;
}

/** The source node of each cell edge, in edge order (NAS-Bench-201's 0→1, 0→2, 1→2, 0→3, 1→3, 2→3). */
const CELL_EDGE_SOURCES = [0, 0, 1, 0, 1, 2];

/**
 * A NAS architecture as people read it: in the cell space NAS-Bench-201's string (`|conv3x3~0|+|skip~0|none~1|+|…|`,
 * one group per node with each incoming edge's op and source node), in the chain space its ops in order (`a → b`).
 */
export function architectureText(space: 'chain' | 'cell', ops: readonly string[]): string {
  if (space === 'chain' || ops.length !== CELL_EDGE_SOURCES.length) return ops.join(' → ');
  const op = (e: number): string => `${ops[e]}~${CELL_EDGE_SOURCES[e]}`;
  return `|${op(0)}|+|${op(1)}|${op(2)}|+|${op(3)}|${op(4)}|${op(5)}|`;
}
