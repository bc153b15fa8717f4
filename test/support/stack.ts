import { rmSync } from 'node:fs';
import { stopProcess, type Service } from '../../scripts/lib/services';
import type { AgentProcess, CoordinatorProcess } from '../../scripts/lib/stack';
import type { TestDatabase } from './database';

/** Tears down what an e2e suite started: agents, then the coordinator, its Redis, database and work directory. */
export async function stopStack(s: {
  agents: AgentProcess[];
  coordinator?: CoordinatorProcess;
  redis?: Service;
  db?: TestDatabase;
  work?: string;
}): Promise<void> {
  await Promise.all(s.agents.map((a) => stopProcess(a.proc)));
  if (s.coordinator) await stopProcess(s.coordinator.proc);
  await s.redis?.stop();
  await s.db?.drop();
  if (s.work) rmSync(s.work, { recursive: true, force: true });
}
