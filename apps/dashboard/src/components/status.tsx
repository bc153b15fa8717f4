import type { JobStatus } from '@flotilla/contracts';
import type { AgentState } from '../format';

const JOB_TONE: Record<JobStatus, string> = { running: 'info', completed: 'ok', failed: 'bad', cancelled: 'muted' };
const AGENT_TONE: Record<AgentState, string> = { online: 'ok', suspect: 'warn', offline: 'bad', left: 'muted', revoked: 'muted' };
const AGENT_HINT: Record<AgentState, string> = {
  online: 'heartbeating',
  suspect: 'a task timed out on it and it has not heartbeated since',
  offline: 'no heartbeat within the offline timeout',
  left: 'it said it was leaving; offline until it rejoins',
  revoked: 'its credentials were revoked',
};

export function JobStatusBadge({ status }: { status: JobStatus }) {
  return <span class={`badge ${JOB_TONE[status]}`}>{status}</span>;
}

export function AgentStateBadge({ state }: { state: AgentState }) {
  return (
    <span class={`badge ${AGENT_TONE[state]}`} title={AGENT_HINT[state]}>
      {state}
    </span>
  );
}

/** A bar for a fraction in [0, 1] with its text. */
export function ProgressBar({ done, total, text }: { done: number; total: number; text: string }) {
  const fraction = total > 0 ? Math.min(1, done / total) : 0;
  return (
    <span class="progress" title={text}>
      <span class="progress-track">
        <span class="progress-fill" style={{ width: `${(100 * fraction).toFixed(1)}%` }} />
      </span>
      <span class="progress-text">{text}</span>
    </span>
  );
}
