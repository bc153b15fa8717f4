import type { AgentView, FederatedJobView, ParticipationView, RoundView } from '@flotilla/contracts';
import { useState } from 'preact/hooks';
import { api, apiAll, apiPage } from '../api';
import { Chart } from '../components/chart';
import { Heatmap } from '../components/heatmap';
import { fixed, percent, utc } from '../format';
import { sortedByName, weightsAgainstRates } from '../heatmap.layout';
import { usePoll } from '../poll';

/** Rounds per page of the rounds table. */
const ROUNDS_PER_PAGE = 20;

interface History {
  rounds: RoundView[];
  participation: ParticipationView;
  names: string[];
}

/** Every closed round's participation, page by page (the API pages over rounds, 1000 at most). */
async function participationOf(jobId: string): Promise<ParticipationView> {
  const first = await api<ParticipationView>('GET', `/jobs/${jobId}/participation?limit=1000`);
  for (let page = first; page.rounds.length === 1000;) {
    page = await api<ParticipationView>('GET', `/jobs/${jobId}/participation?limit=1000&offset=${first.rounds.length}`);
    first.rounds.push(...page.rounds);
  }
  return first;
}

async function loadHistory(job: FederatedJobView): Promise<History> {
  const [rounds, participation, agents] = await Promise.all([
    apiAll<RoundView>(`/jobs/${job.id}/rounds`, 1000),
    participationOf(job.id),
    apiAll<AgentView>('/agents', 1000),
  ]);
  const byId = new Map(agents.map((a) => [a.id, a.name]));
  const sorted = sortedByName(
    participation,
    participation.agents.map((id) => byId.get(id) ?? id.slice(0, 8)),
  );
  return { rounds, participation: sorted.view, names: sorted.names };
}

function RoundsTable({ job }: { job: FederatedJobView }) {
  const [page, setPage] = useState(0);
  const { data } = usePoll(
    () => apiPage<RoundView>(`/jobs/${job.id}/rounds?limit=${ROUNDS_PER_PAGE}&offset=${page * ROUNDS_PER_PAGE}`),
    [job.id, page],
  );
  if (!data) return null;
  const pages = Math.max(1, Math.ceil(data.total / ROUNDS_PER_PAGE));
  return (
    <section class="card">
      <header>
        <h2>Rounds</h2>
        <span class="pager">
          <button type="button" id="rounds-prev" disabled={page === 0} onClick={() => setPage(page - 1)}>
            ‹ earlier
          </button>
          <span id="rounds-page">
            page {page + 1} of {pages} · {data.total} rounds
          </span>
          <button type="button" id="rounds-next" disabled={page + 1 >= pages} onClick={() => setPage(page + 1)}>
            later ›
          </button>
        </span>
      </header>
      <table class="table numeric" id="rounds">
        <thead>
          <tr>
            <th>round</th>
            <th>status</th>
            <th>participants / eligible</th>
            <th>FedAU ω</th>
            <th>test accuracy</th>
            <th>test loss</th>
            <th>train loss</th>
            <th>norm bound</th>
            <th>rejected</th>
            <th>clipped</th>
            <th>closed</th>
          </tr>
        </thead>
        <tbody>
          {data.items.map((r) => (
            <tr key={r.round} data-round={r.round}>
              <td>{r.round}</td>
              <td>{r.status}</td>
              <td>
                {r.participants} / {r.eligible}
              </td>
              <td>{r.weightMin === null ? '—' : `${fixed(r.weightMin, 3)} – ${fixed(r.weightMax, 3)}`}</td>
              <td>{percent(r.metrics?.testAccuracy)}</td>
              <td>{fixed(r.metrics?.testLoss, 4)}</td>
              <td>{fixed(r.metrics?.trainLoss, 4)}</td>
              <td>{fixed(r.normBound, 4)}</td>
              <td>{r.rejected}</td>
              <td>{r.clipped}</td>
              <td>{utc(r.closedAt) || '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** A federated job's curves, participation heat-map, FedAU weights and rounds. */
export function FederatedPanel({ job }: { job: FederatedJobView }) {
  // The history changes when a round closes: reload it then, not on every poll of the job.
  const { data } = usePoll(() => loadHistory(job), [job.id, job.currentRound, job.status]);
  const closed = data?.rounds.filter((r) => r.metrics) ?? [];
  const x = [-1, ...closed.map((r) => r.round)];
  const initial = job.initialMetrics;
  const points = data ? weightsAgainstRates(data.participation) : [];
  return (
    <>
      {data && (
        <div class="grid2">
          <section class="card">
            <Chart
              id="accuracy-chart"
              title="Test accuracy on the held-out split (round −1: the initial model)"
              x={x}
              xLabel="round"
              yLabel="accuracy (%)"
              formatY={(v) => v.toFixed(1)}
              series={[
                {
                  label: 'test accuracy',
                  color: '#1c7ed6',
                  values: [initial ? 100 * initial.testAccuracy : null, ...closed.map((r) => 100 * r.metrics!.testAccuracy)],
                },
              ]}
            />
          </section>
          <section class="card">
            <Chart
              id="loss-chart"
              title="Loss per round"
              x={x}
              xLabel="round"
              yLabel="loss"
              series={[
                { label: 'test loss', color: '#e8590c', values: [initial?.testLoss ?? null, ...closed.map((r) => r.metrics!.testLoss)] },
                { label: 'train loss', color: '#7048e8', values: [null, ...closed.map((r) => r.metrics!.trainLoss)] },
              ]}
            />
          </section>
        </div>
      )}
      {data && (
        <section class="card">
          <header>
            <h2>Participation</h2>
            <span class="muted">
              {data.participation.agents.length} agents × {data.participation.rounds.length} closed rounds
            </span>
          </header>
          <Heatmap view={data.participation} names={data.names} />
        </section>
      )}
      {data && points.length > 0 && (
        <section class="card">
          <Chart
            id="weights-chart"
            title="FedAU weight ω of each agent (its last round) against its observed participation rate"
            x={points.map((p) => p.rate)}
            xLabel="participation rate"
            yLabel="FedAU weight"
            series={[{ label: 'ω', color: '#0b7285', values: points.map((p) => p.weight), pointsOnly: true }]}
            height={240}
          />
          <p class="muted small" id="weights-agents">
            {points.map((p) => `${data.names[p.agent]}: rate ${fixed(p.rate, 2)}, ω ${fixed(p.weight, 2)}`).join(' · ')}
          </p>
        </section>
      )}
      <RoundsTable job={job} />
    </>
  );
}
