import type { Dataset } from '@flotilla/algorithms';
import { describeIssues, type TaskContract } from '@flotilla/contracts';
import type { CoordinatorClient } from '../coordinator-client';

/** What a task handler may use: the coordinator (blobs up and down) and this agent's data. */
export interface TaskContext {
  client: CoordinatorClient;
  /**
   * The dataset this agent holds (name), its examples as label-last CSV (the file itself, or printed from an IDX pair
   * or image folder when first asked for) and their sha256.
   */
  dataset: string;
  csv: string;
  dataHash: string;
  /** The agent's file parsed and scaled like the catalogue says (cached per range and class count). */
  scaled(featureRange: [number, number], numClasses: number): Dataset;
  log(line: string): void;
}

/** One handler per task kind: computes the result from the payload (JSON in, JSON out). */
export type TaskHandler = (payload: unknown, ctx: TaskContext) => Promise<unknown>;

/**
 * The handler of a task kind: the payload is parsed with the kind's contract before `run` sees it, and the result
 * `run` computes is checked against the contract's result schema before it is sent, so a computation that went
 * wrong here (NaN, a wrong length) is reported as this agent's failure instead of being refused by the coordinator.
 */
export function handle<P, R>(
  contract: TaskContract<string, P, R>,
  run: (payload: P, ctx: TaskContext) => Promise<R>,
): [string, TaskHandler] {
  const handler: TaskHandler = async (raw, ctx) => {
    const payload = contract.payload.safeParse(raw);
    if (!payload.success)
      throw new Error(`${contract.kind} payload does not match this agent's contract: ${describeIssues(payload.error)}`);
    const result = await run(payload.data, ctx);
    const checked = contract.result(payload.data).safeParse(result);
    if (!checked.success) throw new Error(`${contract.kind}: computed an invalid result (${describeIssues(checked.error)})`);
    return result;
  };
  return [contract.kind, handler];
}
