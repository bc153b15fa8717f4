import type { AgentView } from '@flotilla/contracts';
import { useState } from 'preact/hooks';
import { api, apiAll } from '../api';
import { AgentStateBadge } from '../components/status';
import { AGENT_STATES, ago, agentState, labelsText, participationText, utc, type AgentState } from '../format';
import { usePoll } from '../poll';
import { useCan } from '../session.context';

/** Whether an agent matches the filter text: its name, id, datasets, labels, backend or device contain it. */
function matches(a: AgentView, text: string): boolean {
  if (!text) return true;
  const hay = [a.name, a.id, ...a.datasets, labelsText(a.labels), a.backend ?? '', a.device ?? ''].join(' ').toLowerCase();
  return text
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean)
    .every((word) => hay.includes(word));
}

export function AgentsPage() {
  const can = useCan();
  const [text, setText] = useState('');
  const [state, setState] = useState<AgentState | 'any'>('any');
  const [error, setError] = useState<string | null>(null);
  const {
    data,
    error: loadError,
    refresh,
  } = usePoll(async () => ({ agents: await apiAll<AgentView>('/agents', 1000), now: Date.now() }), []);
  if (!data) return <p class={loadError ? 'error' : 'muted'}>{loadError?.message ?? 'Loading…'}</p>;
  const shown = data.agents.filter((a) => matches(a, text) && (state === 'any' || agentState(a) === state));
  const online = data.agents.filter((a) => a.online).length;

  const revoke = (a: AgentView) => {
    if (!confirm(`Revoke ${a.name}? Its credentials stop working at once; its tasks go to other agents.`)) return;
    api('DELETE', `/agents/${a.id}`).then(refresh, (e: Error) => setError(e.message));
  };

  return (
    <div class="page" id="agents-page">
      <h1>
        Agents{' '}
        <span class="muted" id="agents-summary">
          ({online} of {data.agents.length} online)
        </span>
      </h1>
      <div class="filters">
        <input
          id="agent-filter"
          type="search"
          placeholder="filter: name, dataset, label, backend, device"
          value={text}
          onInput={(e) => setText(e.currentTarget.value)}
        />
        <select id="agent-state" value={state} onChange={(e) => setState(e.currentTarget.value as AgentState | 'any')}>
          <option value="any">any state</option>
          {AGENT_STATES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <span class="muted">{shown.length} shown</span>
      </div>
      {error && <p class="error">{error}</p>}
      <table class="table" id="agents">
        <thead>
          <tr>
            <th>name</th>
            <th>state</th>
            <th>datasets</th>
            <th>backend · device</th>
            <th>labels</th>
            <th>last heartbeat</th>
            <th>retries / failures</th>
            <th>rounds taken part</th>
            <th>last error</th>
            {can('admin') && <th />}
          </tr>
        </thead>
        <tbody>
          {shown.map((a) => {
            const s = agentState(a);
            return (
              <tr key={a.id} data-agent={a.id} data-name={a.name}>
                <td class="name" title={a.id}>
                  {a.name}
                </td>
                <td>
                  <AgentStateBadge state={s} />
                </td>
                <td>{a.datasets.join(', ') || '—'}</td>
                <td class="wrap">
                  {a.backend ?? '—'}
                  {a.device && <span class="muted"> · {a.device}</span>}
                </td>
                <td>{labelsText(a.labels) || '—'}</td>
                <td title={utc(a.lastHeartbeatAt)}>{ago(a.lastHeartbeatAt, data.now)}</td>
                <td title={a.network ? `reported ${utc(a.network.reportedAt)}` : ''} class={a.network?.failures ? 'warn' : ''}>
                  {a.network ? `${a.network.retries} / ${a.network.failures}` : '—'}
                </td>
                <td title="closed rounds of federated jobs it was eligible for, and took part in">{participationText(a.participation)}</td>
                <td class={a.lastError ? 'error wrap' : ''} title={a.lastError ? `reported ${utc(a.lastError.at)}` : ''}>
                  {a.lastError?.message ?? '—'}
                </td>
                {can('admin') && (
                  <td>
                    {s !== 'revoked' && (
                      <button type="button" class="danger small" data-revoke={a.id} onClick={() => revoke(a)}>
                        revoke
                      </button>
                    )}
                  </td>
                )}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
