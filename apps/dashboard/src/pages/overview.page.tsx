import type { AgentView, JobView, RoundView } from '@flotilla/contracts';
import { useState } from 'preact/hooks';
import { api, apiAll, apiPage } from '../api';
import { Link } from '../components/link';
import { JobStatusBadge, ProgressBar } from '../components/status';
import { AGENT_STATES, agentState, percent, progressText, roundsPerMinute } from '../format';
import { usePoll } from '../poll';
import { hrefOf } from '../router';
import { useCan } from '../session.context';

/** Rounds of a running job read for the rate: enough for five minutes of fast rounds. */
const RECENT_ROUNDS = 200;

interface Fleet {
  agents: AgentView[];
  running: JobView[];
  closedAt: (string | null)[];
  now: number;
}

async function loadFleet(): Promise<Fleet> {
  const [agents, running] = await Promise.all([
    apiAll<AgentView>('/agents', 1000),
    api<JobView[]>('GET', '/jobs?status=running&limit=500'),
  ]);
  const recent = await Promise.all(
    running
      .filter((j) => j.kind === 'federated')
      .map((j) =>
        apiPage<RoundView>(`/jobs/${j.id}/rounds?limit=${RECENT_ROUNDS}&offset=${Math.max(0, j.progress.done - RECENT_ROUNDS + 1)}`),
      ),
  );
  return { agents, running, closedAt: recent.flatMap((p) => p.items.map((r) => r.closedAt)), now: Date.now() };
}

interface SweepReport {
  files: number;
  referenced: number;
  young: number;
  deleted: number;
  deletedBytes: number;
  keptBytes: number;
  graceMs: number;
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

function SweepPreview() {
  const [report, setReport] = useState<SweepReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const preview = () => {
    setError(null);
    api<SweepReport>('POST', '/admin/blobs/gc', { dryRun: true }).then(setReport, (e: Error) => setError(e.message));
  };
  return (
    <section class="card" id="sweep">
      <header>
        <h2>Blob store</h2>
        <button id="sweep-preview" type="button" onClick={preview}>
          Preview a sweep
        </button>
      </header>
      <p class="muted">A dry run of POST /admin/blobs/gc: what a sweep would delete; nothing is deleted.</p>
      {error && <p class="error">{error}</p>}
      {report && (
        <dl class="facts" id="sweep-report">
          <dt>blob files</dt>
          <dd>{report.files}</dd>
          <dt>named by a row</dt>
          <dd>{report.referenced}</dd>
          <dt>unnamed, younger than {Math.round(report.graceMs / 60_000)} min</dt>
          <dd>{report.young}</dd>
          <dt>would be deleted</dt>
          <dd>
            {report.deleted} ({mib(report.deletedBytes)})
          </dd>
          <dt>kept</dt>
          <dd>{mib(report.keptBytes)}</dd>
        </dl>
      )}
    </section>
  );
}

export function OverviewPage() {
  const can = useCan();
  const { data, error } = usePoll(loadFleet, []);
  if (!data) return <p class={error ? 'error' : 'muted'}>{error?.message ?? 'Loading…'}</p>;
  const states = Object.fromEntries(AGENT_STATES.map((s) => [s, 0])) as Record<(typeof AGENT_STATES)[number], number>;
  for (const a of data.agents) states[agentState(a)] += 1;
  const rate = roundsPerMinute(data.closedAt, data.now);
  return (
    <div class="page" id="overview">
      <h1>Fleet</h1>
      <div class="tiles">
        {AGENT_STATES.map((s) => (
          <div class={`tile ${s}`} key={s} id={`tile-${s}`}>
            <span class="tile-value">{states[s]}</span>
            <span class="tile-label">{s === 'left' ? 'left' : s} agents</span>
          </div>
        ))}
        <div class="tile" id="tile-running">
          <span class="tile-value">{data.running.length}</span>
          <span class="tile-label">running jobs</span>
        </div>
        <div class="tile" id="tile-rate" title="rounds closed in the last five minutes, per minute, over all running jobs">
          <span class="tile-value">{rate.toFixed(1)}</span>
          <span class="tile-label">rounds per minute</span>
        </div>
      </div>
      <section class="card">
        <header>
          <h2>Running jobs</h2>
        </header>
        {data.running.length === 0 ? (
          <p class="muted">No job is running.</p>
        ) : (
          <table class="table" id="running-jobs">
            <thead>
              <tr>
                <th>job</th>
                <th>status</th>
                <th>progress</th>
                <th>accuracy</th>
                <th>waits because</th>
              </tr>
            </thead>
            <tbody>
              {data.running.map((j) => (
                <tr key={j.id} data-job={j.id}>
                  <td>
                    <Link href={hrefOf({ page: 'job', id: j.id })}>{j.name ?? `${j.kind} ${j.id.slice(0, 8)}`}</Link>
                  </td>
                  <td>
                    <JobStatusBadge status={j.status} />
                  </td>
                  <td>
                    <ProgressBar done={j.progress.done} total={j.progress.total} text={progressText(j)} />
                  </td>
                  <td>{j.kind === 'federated' ? percent(j.latestMetrics?.testAccuracy) : '—'}</td>
                  <td class="muted wrap">{j.waiting ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section class="card">
        <header>
          <h2>Recent agent errors</h2>
        </header>
        {data.agents.some((a) => a.lastError) ? (
          <ul class="errors" id="agent-errors">
            {data.agents
              .filter((a) => a.lastError)
              .sort((a, b) => b.lastError!.at.localeCompare(a.lastError!.at))
              .slice(0, 8)
              .map((a) => (
                <li key={a.id}>
                  <strong>{a.name}</strong> <span class="error">{a.lastError!.message}</span>
                </li>
              ))}
          </ul>
        ) : (
          <p class="muted">No agent has reported an error.</p>
        )}
      </section>
      {can('admin') && <SweepPreview />}
    </div>
  );
}
