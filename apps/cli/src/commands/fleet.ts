import type { AgentView, DatasetSummary } from '@flotilla/contracts';
import type { ApiClient } from '../api-client';
import { ExitCode } from '../exit-codes';
import { agentsTable, agentState, datasetsTable } from '../format';
import { resolveAgentId } from '../ids';
import type { Output } from '../output';

/** `agents ls`: every agent with its state (online, offline, left, revoked) and last error. */
export async function listAgents(api: ApiClient, out: Output) {
  const agents = await api.json<AgentView[]>('GET', '/agents?limit=10000');
  out.data(agents);
  out.line(agents.length ? agentsTable(agents) : 'no agents');
  return ExitCode.Ok;
}

/** `agents rm ID`: revokes the agent (admin): its credentials stop working at once; its history stays. */
export async function removeAgent(api: ApiClient, out: Output, given: string) {
  const agent = await api.json<AgentView>('DELETE', `/agents/${await resolveAgentId(api, given)}`);
  out.data(agent);
  out.line(`agent ${agent.id} (${agent.name}) ${agentState(agent)}: its credentials no longer work`);
  return ExitCode.Ok;
}

/** `datasets ls`: the coordinator's catalogue, with the size of each dataset's held-out split. */
export async function listDatasets(api: ApiClient, out: Output) {
  const datasets = await api.json<DatasetSummary[]>('GET', '/datasets');
  out.data(datasets);
  out.line(datasets.length ? datasetsTable(datasets) : 'the coordinator has no datasets');
  return ExitCode.Ok;
}
