import { BILEVEL_HANDLERS } from './bilevel';
import { NAS_HANDLERS } from './nas';
import type { TaskHandler } from './task-context';

export type { TaskContext, TaskHandler } from './task-context';

/** The handler of every task kind this agent can run, by kind; a kind missing here is reported as a task failure. */
export const TASK_HANDLERS: ReadonlyMap<string, TaskHandler> = new Map([...BILEVEL_HANDLERS, ...NAS_HANDLERS]);
