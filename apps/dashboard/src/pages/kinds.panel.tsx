import type { BilevelRunView, NasJobView, NasNodeView, NasView, BilevelJobView } from '@flotilla/contracts';
import { api } from '../api';
import { Chart } from '../components/chart';
import { architectureText, fixed, percent } from '../format';
import { usePoll } from '../poll';

const RUN_COLORS = ['#1c7ed6', '#e8590c', '#2b8a3e', '#7048e8', '#c2255c', '#0b7285', '#5c940d', '#862e9c'];

type SpaceType = NasView['space']['type'];

function NasNode({ node, byParent, space }: { node: NasNodeView; byParent: Map<string | null, NasNodeView[]>; space: SpaceType }) {
  const children = byParent.get(node.id) ?? [];
  return (
    <li class="nas-node" data-node={node.id}>
      <div class={`nas-box ${node.status}`}>
        <strong>{node.id}</strong> <span class="badge muted">{node.status}</span>
        <span class="muted">
          {' '}
          · {node.architectures} architectures · depth {node.depth}
          {node.metrics.trainLoss !== null && ` · train loss ${fixed(node.metrics.trainLoss, 4)}`}
        </span>
        {node.split && (
          <div class="small">
            split edge {node.split.edge} by {node.split.criterion}: {node.split.groups.map((g) => `{${g.join(', ')}}`).join(' | ')}
          </div>
        )}
        {node.candidate && (
          <div class="small">
            proposes <code>{architectureText(space, node.candidate.ops)}</code> · estimate {percent(node.candidate.accuracy)}
          </div>
        )}
      </div>
      {children.length > 0 && (
        <ul>
          {children.map((c) => (
            <NasNode key={c.id} node={c} byParent={byParent} space={space} />
          ))}
        </ul>
      )}
    </li>
  );
}

/** A NAS job's supernet tree, its final selection and the chosen architecture. */
export function NasPanel({ job }: { job: NasJobView }) {
  const { data } = usePoll(() => api<NasView>('GET', `/jobs/${job.id}/nas`), [job.id, job.progress.done, job.status]);
  if (!data) return null;
  const byParent = new Map<string | null, NasNodeView[]>();
  for (const n of data.nodes) byParent.set(n.parent, [...(byParent.get(n.parent) ?? []), n]);
  return (
    <>
      <section class="card">
        <header>
          <h2>Supernet tree</h2>
          <span class="muted">
            {data.space.type === 'cell' ? `cell space, ${data.space.search}` : 'chain space'} · {data.space.edges} edges ×{' '}
            {data.space.ops.length} ops · {data.space.architectures} architectures
          </span>
        </header>
        <ul class="nas-tree" id="nas-tree">
          {(byParent.get(null) ?? []).map((n) => (
            <NasNode key={n.id} node={n} byParent={byParent} space={data.space.type} />
          ))}
        </ul>
      </section>
      {data.selection.candidates.length > 0 && (
        <section class="card">
          <header>
            <h2>Selection ({data.selection.method})</h2>
          </header>
          <table class="table" id="nas-candidates">
            <thead>
              <tr>
                <th>#</th>
                <th>architecture</th>
                <th>estimate</th>
                <th>rung</th>
                <th>last accuracy</th>
                <th>status</th>
              </tr>
            </thead>
            <tbody>
              {data.selection.candidates.map((c) => (
                <tr key={c.index} class={c.status === 'chosen' ? 'chosen' : ''}>
                  <td>{c.index}</td>
                  <td>
                    <code>{architectureText(data.space.type, c.ops)}</code>
                  </td>
                  <td>{percent(c.estimate.accuracy)}</td>
                  <td>{c.rung}</td>
                  <td>{percent(c.history.at(-1)?.accuracy)}</td>
                  <td>{c.status}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
      {data.result && (
        <section class="card" id="nas-result">
          <header>
            <h2>Chosen architecture</h2>
          </header>
          <p>
            <code>{architectureText(data.space.type, data.result.ops)}</code>: <strong>{percent(data.result.accuracy)}</strong> on the
            coordinator's held-out split (never seen by the search); {percent(data.result.selectionAccuracy)} on the agents' selection
            split.
          </p>
        </section>
      )}
    </>
  );
}

/** A bilevel job's runs: their curves (stationarity, upper objective) and results. */
export function BilevelPanel({ job }: { job: BilevelJobView }) {
  const { data } = usePoll(() => api<BilevelRunView[]>('GET', `/jobs/${job.id}/bilevel`), [job.id, job.progress.done, job.status]);
  if (!data || data.length === 0) return null;
  const iterations = [...new Set(data.flatMap((r) => r.curve.map((p) => p.iteration)))].sort((a, b) => a - b);
  const along = (run: BilevelRunView, value: (p: BilevelRunView['curve'][number]) => number | null) => {
    const at = new Map(run.curve.map((p) => [p.iteration, value(p)]));
    return iterations.map((i) => at.get(i) ?? null);
  };
  const series = (value: (p: BilevelRunView['curve'][number]) => number | null) =>
    data.map((run, k) => ({
      label: `run ${run.run} (${run.method})`,
      color: RUN_COLORS[k % RUN_COLORS.length],
      values: along(run, value),
    }));
  return (
    <>
      <div class="grid2">
        <section class="card">
          <Chart
            id="stationarity-chart"
            title="Stationarity per outer iteration (log scale)"
            x={iterations}
            xLabel="iteration"
            yLabel="log₁₀ stationarity"
            formatY={(v) => v.toFixed(1)}
            series={series((p) => (p.stationarity > 0 ? Math.log10(p.stationarity) : null))}
          />
        </section>
        <section class="card">
          <Chart
            id="objective-chart"
            title="Upper-level objective per outer iteration"
            x={iterations}
            xLabel="iteration"
            yLabel="f(x, y)"
            series={series((p) => p.upperObjective)}
          />
        </section>
      </div>
      <section class="card">
        <table class="table" id="bilevel-runs">
          <thead>
            <tr>
              <th>run</th>
              <th>method</th>
              <th>status</th>
              <th>iteration</th>
              <th>λ</th>
              <th>oracle calls</th>
              <th>‖x − x*‖</th>
              <th>test accuracy</th>
              <th>stopped because</th>
            </tr>
          </thead>
          <tbody>
            {data.map((r) => (
              <tr key={r.run}>
                <td>{r.run}</td>
                <td>{r.method}</td>
                <td>{r.status}</td>
                <td>{r.iteration}</td>
                <td>{fixed(r.lambda, 3)}</td>
                <td>{r.oracleCalls}</td>
                <td>{r.errorToSolution === null ? '—' : r.errorToSolution.toExponential(3)}</td>
                <td>{percent(r.testAccuracy)}</td>
                <td>{r.stopReason ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </>
  );
}
