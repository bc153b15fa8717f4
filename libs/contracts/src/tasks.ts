import { z } from 'zod';
import { safeText } from './common';

/**
 * Tasks: the unit of work of the job kinds whose state the coordinator owns outright (NAS supernet trees,
 * bilevel runs). A job kind on the coordinator decides what must be computed next and dispatches it as a task to
 * one agent; the agent computes and posts a JSON result (weights travel as content-addressed blobs, named by
 * hash inside the result). A task whose agent fails, crashes or misses the deadline is reassigned to another
 * agent, so a result is the output of a deterministic computation of the payload, whoever ran it.
 *
 * Every task kind is one {@link TaskContract}: its name, its payload schema and its result schema side by side
 * (the kind's file in ./kinds). The coordinator parses stored payloads and incoming results with them, and the
 * agent parses the payloads it receives and the results it sends with the same declarations.
 */
export interface TaskContract<K extends string = string, P = unknown, R = unknown> {
  readonly kind: K;
  readonly payload: z.ZodType<P>;
  /** The schema of a result for this payload (lengths and shapes follow from the payload). */
  result(payload: P): z.ZodType<R>;
  /**
   * Whether a result names blobs the agent uploads first (`POST /blobs`). An agent may upload blobs only while it
   * holds an open task of such a kind; default false.
   */
  readonly namesBlobs: boolean;
}

export function defineTask<K extends string, P, R>(
  kind: K,
  payload: z.ZodType<P>,
  result: (payload: P) => z.ZodType<R>,
  options: { namesBlobs?: boolean } = {},
): TaskContract<K, P, R> {
  return { kind, payload, result, namesBlobs: options.namesBlobs ?? false };
}

/** The payload type of a task contract. */
export type TaskPayload<C> = C extends TaskContract<string, infer P, unknown> ? P : never;
/** The result type of a task contract. */
export type TaskResult<C> = C extends TaskContract<string, unknown, infer R> ? R : never;

export const TASK_STATUSES = ['pending', 'running', 'done', 'failed'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** One attempt of a task as an agent receives it (a work item of kind `task`). */
export const AgentTaskSchema = z.strictObject({
  taskId: z.string().uuid(),
  jobId: z.string().uuid(),
  /** A {@link TaskContract}'s kind; the agent parses `payload` with that contract. */
  kind: z.string().min(1),
  /** 1 for the first assignment; each reassignment adds one. */
  attempt: z.number().int().min(1),
  /** ISO time after which the coordinator reassigns the task; a late result is still accepted while it is open. */
  deadline: z.string().datetime(),
  payload: z.unknown(),
});
export type AgentTask = z.infer<typeof AgentTaskSchema>;

/** POST /api/v1/tasks/:id/result. The result is checked against the task kind's result schema. */
export const TaskResultBodySchema = z.strictObject({
  result: z.unknown(),
  durationMs: z
    .number()
    .int()
    .min(0)
    .max(7 * 86_400_000),
});
export type TaskResultBody = z.infer<typeof TaskResultBodySchema>;

/** POST /api/v1/tasks/:id/failure: the agent could not compute the task; it is reassigned to another agent. */
export const TaskFailureBodySchema = z.strictObject({
  message: safeText().min(1).max(2000),
});
export type TaskFailureBody = z.infer<typeof TaskFailureBodySchema>;

export interface TaskView {
  id: string;
  key: string;
  kind: string;
  status: TaskStatus;
  agentId: string | null;
  attempt: number;
  failedAgentIds: string[];
  error: string | null;
  createdAt: string;
  assignedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
}

export const ListTasksQuerySchema = z.strictObject({
  status: z.enum(TASK_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(5000).default(500),
});
export type ListTasksQuery = z.infer<typeof ListTasksQuerySchema>;

/** Job id of the BullMQ task job on an agent's queue: one per (task, attempt), so a reassignment is a new job. */
export function agentTaskId(taskId: string, attempt: number): string {
  return `task.${taskId}.${attempt}`;
}
