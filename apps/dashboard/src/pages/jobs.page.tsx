import type { JobStatus, JobView } from '@flotilla/contracts';
import { useState } from 'preact/hooks';
import { api } from '../api';
import { Link } from '../components/link';
import { JobStatusBadge, ProgressBar } from '../components/status';
import { ago, datasetOf, modelText, percent, progressText, utc } from '../format';
import { usePoll } from '../poll';
import { hrefOf } from '../router';
import { useCan } from '../session.context';

/** The statuses to filter by (the contracts' JOB_STATUSES; a type-only import keeps zod out of the bundle). */
const JOB_STATUSES = ['running', 'completed', 'failed', 'cancelled'] as const satisfies readonly JobStatus[];

export function JobsPage() {
  const can = useCan();
  const [status, setStatus] = useState<JobStatus | 'any'>('any');
  const { data, error } = usePoll(
    async () => ({ jobs: await api<JobView[]>('GET', `/jobs?limit=500${status === 'any' ? '' : `&status=${status}`}`), now: Date.now() }),
    [status],
  );
  return (
    <div class="page" id="jobs-page">
      <h1>
        Jobs
        {can('submitter') && (
          <Link href={hrefOf({ page: 'submit' })} class="button" id="new-job">
            Submit a job
          </Link>
        )}
      </h1>
      <div class="filters">
        <select id="job-status" value={status} onChange={(e) => setStatus(e.currentTarget.value as JobStatus | 'any')}>
          <option value="any">any status</option>
          {JOB_STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </div>
      {!data ? (
        <p class={error ? 'error' : 'muted'}>{error?.message ?? 'Loading…'}</p>
      ) : (
        <table class="table" id="jobs">
          <thead>
            <tr>
              <th>name</th>
              <th>kind</th>
              <th>dataset</th>
              <th>model</th>
              <th>status</th>
              <th>progress</th>
              <th>accuracy</th>
              <th>submitted</th>
            </tr>
          </thead>
          <tbody>
            {data.jobs.map((j) => (
              <tr key={j.id} data-job={j.id}>
                <td>
                  <Link href={hrefOf({ page: 'job', id: j.id })}>{j.name ?? j.id.slice(0, 8)}</Link>
                </td>
                <td>{j.kind}</td>
                <td>{datasetOf(j.spec)}</td>
                <td>{modelText(j.spec)}</td>
                <td>
                  <JobStatusBadge status={j.status} />
                </td>
                <td>
                  <ProgressBar done={j.progress.done} total={j.progress.total} text={progressText(j)} />
                </td>
                <td>{j.kind === 'federated' ? percent(j.latestMetrics?.testAccuracy) : '—'}</td>
                <td title={utc(j.createdAt)}>{ago(j.createdAt, data.now)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
