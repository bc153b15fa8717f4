import type { JobView } from '@flotilla/contracts';
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { JobStatusBadge, ProgressBar } from '../components/status';
import { download } from '../download';
import { datasetOf, modelText, placementText, policyText, progressText, utc } from '../format';
import { usePoll } from '../poll';
import { useCan } from '../session.context';
import { FederatedPanel } from './federated.panel';
import { BilevelPanel, NasPanel } from './kinds.panel';

function Fact({ label, id, children }: { label: string; id?: string; children: ComponentChildren }) {
  return (
    <>
      <dt>{label}</dt>
      <dd id={id}>{children}</dd>
    </>
  );
}

/** What the job's summary says about it besides its kind's own panels. */
function Summary({ job }: { job: JobView }) {
  const placement = placementText(job.spec);
  return (
    <dl class="facts" id="job-summary">
      <Fact label="status">
        <JobStatusBadge status={job.status} />
      </Fact>
      <Fact label="progress">
        <ProgressBar done={job.progress.done} total={job.progress.total} text={progressText(job)} />
      </Fact>
      {job.waiting && (
        <Fact label="waits because" id="job-waiting">
          {job.waiting}
        </Fact>
      )}
      <Fact label="dataset">{datasetOf(job.spec)}</Fact>
      <Fact label="model">{modelText(job.spec)}</Fact>
      {placement && (
        <Fact label="placement" id="job-placement">
          {placement}
        </Fact>
      )}
      {job.agents && (
        <Fact label="agents" id="job-agents">
          {job.agents.matching} of {job.agents.online} online match
        </Fact>
      )}
      {job.kind === 'federated' && (
        <>
          <Fact label="test accuracy from" id="job-evaluation">
            {job.evaluation
              ? `the coordinator's held-out split of ${job.evaluation.dataset}: ${job.evaluation.heldOutRows} rows (${(100 * job.evaluation.fraction).toFixed(0)} % of the file)`
              : 'no held-out split (the dataset has left the catalogue)'}
          </Fact>
          <Fact label="update policy" id="job-policy">
            {policyText(job.spec.updatePolicy, job.policy)}
          </Fact>
          <Fact label="parameters">{job.parameterCount.toLocaleString('en')}</Fact>
        </>
      )}
      {job.error && (
        <Fact label="error" id="job-error">
          <span class="error">{job.error}</span>
        </Fact>
      )}
      <Fact label="submitted">{utc(job.createdAt)}</Fact>
      {job.finishedAt && <Fact label="finished">{utc(job.finishedAt)}</Fact>}
    </dl>
  );
}

function Actions({ job, onChange }: { job: JobView; onChange: () => void }) {
  const can = useCan();
  const [error, setError] = useState<string | null>(null);
  const cancel = () => {
    if (!confirm('Cancel this job? An open round closes without aggregation.')) return;
    api('POST', `/jobs/${job.id}/cancel`).then(onChange, (e: Error) => setError(e.message));
  };
  const save = (path: string, filename: string) =>
    download(path, filename).catch((e: Error) =>
      setError(e instanceof ApiError && e.status === 404 ? 'No model to download yet' : e.message),
    );
  const hasModel = job.kind === 'federated' || (job.kind === 'nas' && job.status === 'completed');
  return (
    <div class="actions">
      {hasModel && (
        <button type="button" id="download" onClick={() => void save(`/jobs/${job.id}/model`, `${job.id}.f32`)}>
          Download model (float32)
        </button>
      )}
      {job.kind === 'federated' && (
        <button type="button" id="download-json" onClick={() => void save(`/jobs/${job.id}/model/model.json`, 'model.json')}>
          model.json (TF.js)
        </button>
      )}
      {job.status === 'running' && can('submitter') && (
        <button type="button" class="danger" id="cancel" onClick={cancel}>
          Cancel job
        </button>
      )}
      {error && <span class="error">{error}</span>}
    </div>
  );
}

export function JobPage({ id }: { id: string }) {
  const { data: job, error, refresh } = usePoll(() => api<JobView>('GET', `/jobs/${id}`), [id]);
  if (!job) return <p class={error ? 'error' : 'muted'}>{error?.message ?? 'Loading…'}</p>;
  return (
    <div class="page" id="job-page" data-job={job.id} data-status={job.status}>
      <h1>
        {job.name ?? `${job.kind} job`}{' '}
        <span class="muted mono small" id="job-id">
          {job.id}
        </span>
      </h1>
      <Actions job={job} onChange={refresh} />
      <div class="grid2 top">
        <section class="card">
          <header>
            <h2>{job.kind} job</h2>
          </header>
          <Summary job={job} />
        </section>
        <section class="card">
          <header>
            <h2>Spec</h2>
          </header>
          <pre class="spec" id="job-spec">
            {JSON.stringify(job.spec, null, 2)}
          </pre>
        </section>
      </div>
      {job.kind === 'federated' && <FederatedPanel job={job} />}
      {job.kind === 'nas' && <NasPanel job={job} />}
      {job.kind === 'bilevel' && <BilevelPanel job={job} />}
    </div>
  );
}
