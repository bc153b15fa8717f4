import type { AgentView, JobView } from '@flotilla/contracts';
import type { ApiClient } from './api-client';
import { CliError, ExitCode, usageError } from './exit-codes';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A full id, or the one id among `ids` that starts with `given` (the tables show 8 digits). */
function resolve(what: string, given: string, ids: () => Promise<string[]>): Promise<string> {
  if (UUID.test(given)) return Promise.resolve(given.toLowerCase());
  if (!/^[0-9a-f-]{1,36}$/i.test(given)) throw usageError(`'${given}' is not a ${what} id (a UUID or the start of one)`);
  return ids().then((all) => {
    const matches = all.filter((id) => id.startsWith(given.toLowerCase()));
    if (matches.length === 1) return matches[0];
    if (matches.length === 0) throw new CliError(ExitCode.Refused, `no ${what} id starts with '${given}'`);
    throw new CliError(
      ExitCode.Refused,
      `'${given}' is ambiguous: ${matches.length} ${what} ids start with it (${matches.slice(0, 5).join(', ')}…)`,
    );
  });
}

/** The job `given` names (a prefix is looked up among the newest 500 jobs). */
export function resolveJobId(api: ApiClient, given: string): Promise<string> {
  return resolve('job', given, async () => (await api.json<JobView[]>('GET', '/jobs?limit=500')).map((j) => j.id));
}

export function resolveAgentId(api: ApiClient, given: string): Promise<string> {
  return resolve('agent', given, async () => (await api.json<AgentView[]>('GET', '/agents?limit=10000')).map((a) => a.id));
}
