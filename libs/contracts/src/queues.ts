import { z } from 'zod';
import { TrainTaskSchema } from './kinds/federated';
import { AgentTaskSchema } from './tasks';

/**
 * The queue catalogue: every BullMQ queue and job name used between the coordinator and the agents, and the
 * coordinator's control jobs. Payloads carry ids and content hashes, never weights; weights move over HTTP as
 * binary blobs.
 */

/** BullMQ queue names may not contain ':' (it is Redis's key separator), so the parts are joined with '.'. */
export const QUEUE_PREFIX = 'flotilla';

/** The coordinator's own queue: it advances jobs and keeps their deadlines. */
export const CONTROL_QUEUE = `${QUEUE_PREFIX}.control`;

/** Each agent consumes its own queue, so the coordinator decides exactly who is asked to compute. */
export function agentQueueName(agentId: string): string {
  return `${QUEUE_PREFIX}.agent.${agentId}`;
}

export const ControlJobName = {
  /** Let the job's kind look at its persisted state and do what is next (coalesced: one pending per job). */
  AdvanceJob: 'job.advance',
  /** Federated: close a round (at its deadline, or once every eligible agent answered). */
  CloseRound: 'round.close',
  /** A task's deadline passed: reassign it if it is still running on the same attempt. */
  TaskTimeout: 'task.timeout',
  /** A pending task (no agent was free) tries again to find one. */
  AssignTask: 'task.assign',
} as const;
export type ControlJobName = (typeof ControlJobName)[keyof typeof ControlJobName];

export const AgentJobName = {
  /** A round of a federated job (`TrainTask` in kinds/federated.ts). */
  Train: 'train',
  /** A task of a task-driven job (`AgentTask` in tasks.ts). */
  Task: 'task',
} as const;
export type AgentJobName = (typeof AgentJobName)[keyof typeof AgentJobName];

const JobRefSchema = z.strictObject({ jobId: z.string().uuid() });
const RoundRefSchema = z.strictObject({ jobId: z.string().uuid(), round: z.number().int().min(0) });
const TaskRefSchema = z.strictObject({ jobId: z.string().uuid(), taskId: z.string().uuid(), attempt: z.number().int().min(0) });
export type RoundRef = z.infer<typeof RoundRefSchema>;
export type TaskRef = z.infer<typeof TaskRefSchema>;

export const CLOSE_REASONS = ['deadline', 'all-answered', 'resume'] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];

/** The data of every control job, by name: a handler gets it parsed (what Redis hands back is plain JSON). */
export const ControlJobSchemas = {
  [ControlJobName.AdvanceJob]: JobRefSchema,
  [ControlJobName.CloseRound]: RoundRefSchema.extend({ reason: z.enum(CLOSE_REASONS) }),
  [ControlJobName.TaskTimeout]: TaskRefSchema,
  [ControlJobName.AssignTask]: TaskRefSchema,
} satisfies Record<ControlJobName, z.ZodType>;

/** The data of one control job. */
export type ControlJobData<N extends ControlJobName> = z.infer<(typeof ControlJobSchemas)[N]>;

export type ControlJob = { [N in ControlJobName]: { name: N; data: ControlJobData<N> } }[ControlJobName];

/**
 * What GET /agents/me/work hands an agent: the oldest work item of its queue that is still useful (a round of a
 * federated job, or an attempt of a task). An item stays there until the agent answers it (an update, a decline,
 * a task result or failure) or it expires, so an agent that lost a response gets the same item again.
 */
export const AgentWorkSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('train'), id: z.string(), queuedAt: z.number(), train: TrainTaskSchema }),
  z.strictObject({ kind: z.literal('task'), id: z.string(), queuedAt: z.number(), task: AgentTaskSchema }),
]);
export type AgentWork = z.infer<typeof AgentWorkSchema>;

/** Job ids are idempotency keys: enqueuing the same train task twice is a no-op. */
export function trainTaskId(jobId: string, round: number, agentId: string): string {
  return `train.${jobId}.${round}.${agentId}`;
}
