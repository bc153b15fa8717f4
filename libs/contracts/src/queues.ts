/**
 * The job catalogue: every BullMQ queue and job name used between the coordinator and the agents.
 * Payloads carry ids and content hashes, never weights; weights move over HTTP as binary blobs.
 */

/** BullMQ queue names may not contain ':' (it is Redis's key separator), so the parts are joined with '.'. */
export const QUEUE_PREFIX = 'flotilla';

/** The coordinator's own queue: it drives the round loop (open a round, close it at its deadline). */
export const CONTROL_QUEUE = `${QUEUE_PREFIX}.control`;

/** Each agent consumes its own queue, so the coordinator decides exactly who is asked to train. */
export function agentQueueName(agentId: string): string {
  return `${QUEUE_PREFIX}.agent.${agentId}`;
}

export const ControlJobName = {
  OpenRound: 'round.open',
  CloseRound: 'round.close',
  /** Task-driven jobs (NAS, bilevel): let the job's runner look at its persisted state and do what is next. */
  AdvanceJob: 'job.advance',
  /** A task's deadline passed: reassign it if it is still running on the same attempt. */
  TaskTimeout: 'task.timeout',
  /** A pending task (no agent was free) tries again to find one. */
  AssignTask: 'task.assign',
} as const;
export type ControlJobName = (typeof ControlJobName)[keyof typeof ControlJobName];

export const AgentJobName = {
  Train: 'train',
  /** A task of a task-driven job ({@link AgentTask} in tasks.ts). */
  Task: 'task',
} as const;
export type AgentJobName = (typeof AgentJobName)[keyof typeof AgentJobName];

export interface RoundRef {
  jobId: string;
  round: number;
}

export interface TaskRef {
  jobId: string;
  taskId: string;
  attempt: number;
}

export type ControlJob =
  | { name: typeof ControlJobName.OpenRound; data: RoundRef }
  | { name: typeof ControlJobName.CloseRound; data: RoundRef & { reason: 'deadline' | 'all-answered' | 'resume' } }
  | { name: typeof ControlJobName.AdvanceJob; data: { jobId: string } }
  | { name: typeof ControlJobName.TaskTimeout; data: TaskRef }
  | { name: typeof ControlJobName.AssignTask; data: TaskRef };

/** What an agent receives for one round of one federated job. */
export interface TrainTask {
  jobId: string;
  round: number;
  /** sha256 of the global weights the agent must start from (GET /api/v1/blobs/:hash). */
  modelHash: string;
  /** Number of float32 parameters; the agent checks the downloaded blob against it. */
  parameterCount: number;
  model: import('./jobs.schema').ModelSpec;
  dataset: string;
  /** Features are scaled to [0, 1] with this range (from the dataset manifest), identically everywhere. */
  featureRange: [number, number];
  numClasses: number;
  localSteps: number;
  batchSize: number;
  localLr: number;
  /** ISO timestamp after which an upload is refused (the round is closed without it). */
  deadline: string;
  /** Seed for the agent's minibatch order this round (reproducibility). */
  seed: number;
}

/** Job ids are idempotency keys: enqueuing the same task twice is a no-op. */
export function trainTaskId(jobId: string, round: number, agentId: string): string {
  return `train.${jobId}.${round}.${agentId}`;
}
export function controlJobId(
  name: ControlJobName,
  ref: { jobId: string; round?: number; taskId?: string; attempt?: number },
  suffix = '',
): string {
  const parts = [name, ref.jobId, ref.round, ref.taskId, ref.attempt, suffix || undefined].filter((p) => p !== undefined);
  return parts.join('.');
}
