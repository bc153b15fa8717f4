import { rmSync } from 'node:fs';
import { stopProcess } from '../../scripts/lib/services';
import type { AgentProcess, CoordinatorProcess } from '../../scripts/lib/stack';
import type { TestDatabase } from './database';
import { deletePrefix } from './redis';

/** Tears down what an e2e suite started: agents, then the coordinator, its queue keys, database and work directory. */
export async function stopStack(s: {
  agents: AgentProcess[];
  coordinator?: CoordinatorProcess;
  prefix: string;
  db?: TestDatabase;
  work?: string;
}): Promise<void> {
  await Promise.all(s.agents.map((a) => stopProcess(a.proc)));
  if (s.coordinator) await stopProcess(s.coordinator.proc);
  await deletePrefix(s.prefix);
  await s.db?.drop();
  if (s.work) rmSync(s.work, { recursive: true, force: true });
}
