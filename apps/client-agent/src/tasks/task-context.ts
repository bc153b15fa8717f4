import type { Dataset } from '@flotilla/algorithms';
import type { CoordinatorClient } from '../coordinator-client';

/** What a task handler may use: the coordinator (blobs up and down) and this agent's data. */
export interface TaskContext {
  client: CoordinatorClient;
  /** The dataset this agent holds (name), its raw label-last CSV and the file's sha256. */
  dataset: string;
  csv: string;
  dataHash: string;
  /** The agent's file parsed and scaled like the catalogue says (cached per range and class count). */
  scaled(featureRange: [number, number], numClasses: number): Dataset;
  log(line: string): void;
}

/** One handler per task kind: computes the result from the payload (JSON in, JSON out). */
export type TaskHandler = (payload: unknown, ctx: TaskContext) => Promise<unknown>;
