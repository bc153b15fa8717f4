import type { ChildProcess } from 'node:child_process';
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

/** The process's exit code once it has exited (null when a signal ended it); at once when it already has. */
export function exited(proc: ChildProcess): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
}
