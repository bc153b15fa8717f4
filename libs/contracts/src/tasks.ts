import { z } from 'zod';

/**
 * Tasks: the unit of work of the job kinds whose state the coordinator owns outright (NAS supernet trees,
 * bilevel runs). A runner on the coordinator decides what must be computed next and dispatches it as a task to
 * one agent; the agent computes and posts a JSON result (weights travel as content-addressed blobs, named by
 * hash inside the result). A task whose agent fails, crashes or misses the deadline is reassigned to another
 * agent, so a result is the output of a deterministic computation of the payload, whoever ran it.
 */

/** Every task kind an agent may receive. Each kind has one handler on the agent and one result schema. */
export const TaskKind = {
  /** Bilevel: the y-chain of one outer iteration plus ∇_x f and ∇_x g at its end point (spec bilevel-penalty.md §9). */
  BilevelY: 'bilevel.y-chain',
  /** Bilevel: the z-chain of one outer iteration plus ∇_x g at its end point. */
  BilevelZ: 'bilevel.z-chain',
  /** Bilevel (single loop, V-PBGD): the penalty gradients at the current (and previous) iterate, after V-PBGD's w-chain. */
  BilevelGradients: 'bilevel.gradients',
  /** NAS: train a sub-supernet for some steps from given weights. */
  NasTrain: 'nas.train',
  /** NAS: GM scores (|ops|×|ops| cosine sums) of the candidate edges of a sub-supernet on some batches. */
  NasScore: 'nas.gm-score',
  /** NAS: train one architecture stand-alone and report its accuracy. */
  NasStandalone: 'nas.standalone',
} as const;
export type TaskKind = (typeof TaskKind)[keyof typeof TaskKind];
export const TASK_KINDS = Object.values(TaskKind) as [TaskKind, ...TaskKind[]];

export const TASK_STATUSES = ['pending', 'running', 'done', 'failed'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** What the coordinator enqueues on an agent's queue (BullMQ job name `task`). */
export interface AgentTask {
  taskId: string;
  jobId: string;
  kind: TaskKind;
  /** 1 for the first assignment; each reassignment adds one. */
  attempt: number;
  /** ISO time after which the coordinator reassigns the task; a late result is still accepted while it is open. */
  deadline: string;
  payload: unknown;
}

/** POST /api/v1/tasks/:id/result. The result is validated against the task kind's schema by the job's runner. */
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
  message: z.string().min(1).max(2000),
});
export type TaskFailureBody = z.infer<typeof TaskFailureBodySchema>;

export interface TaskView {
  id: string;
  key: string;
  kind: TaskKind;
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
