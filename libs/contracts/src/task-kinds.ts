import { BILEVEL_TASKS } from './kinds/bilevel';
import { NAS_TASKS } from './kinds/nas';
import type { TaskContract } from './tasks';

/** Every task kind an agent may receive, by name (each kind has one handler on the agent). */
export const TASK_CONTRACTS = [...BILEVEL_TASKS, ...NAS_TASKS] as const;
export type AnyTaskContract = (typeof TASK_CONTRACTS)[number];
export type TaskKind = AnyTaskContract['kind'];

const byKind = new Map<string, TaskContract>(TASK_CONTRACTS.map((c) => [c.kind, c as TaskContract]));

/** The contract of a task kind, or undefined for a kind nobody declared. */
export function taskContract(kind: string): TaskContract | undefined {
  return byKind.get(kind);
}

/** The task kinds whose results name uploaded blobs: the only tasks for which an agent may upload one. */
export const BLOB_TASK_KINDS: readonly string[] = TASK_CONTRACTS.filter((c) => c.namesBlobs).map((c) => c.kind);
