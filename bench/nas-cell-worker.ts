/**
 * A worker thread of the cell-space benchmark's pool (bench/nas-cell.ts, `CellPool`): runs each task it is sent
 * and answers with its result or its error.
 */
import { parentPort } from 'node:worker_threads';
import { runCellTask, type CellTask } from './nas-cell';

const port = parentPort!;
port.on('message', (task: CellTask) => {
  try {
    port.postMessage({ result: runCellTask(task) });
  } catch (e) {
    port.postMessage({ error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  }
});
