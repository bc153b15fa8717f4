import { TaskKind } from '@flotilla/contracts';
import { bilevelGradients, bilevelYChain, bilevelZChain } from './bilevel';
import { nasScore, nasStandalone, nasTrain } from './nas';
import type { TaskHandler } from './task-context';

export type { TaskContext, TaskHandler } from './task-context';

/** The handler of every task kind this agent can run; a kind missing here is reported as a task failure. */
export const TASK_HANDLERS: Partial<Record<TaskKind, TaskHandler>> = {
  [TaskKind.BilevelY]: bilevelYChain,
  [TaskKind.BilevelZ]: bilevelZChain,
  [TaskKind.BilevelGradients]: bilevelGradients,
  [TaskKind.NasTrain]: nasTrain,
  [TaskKind.NasScore]: nasScore,
  [TaskKind.NasStandalone]: nasStandalone,
};
