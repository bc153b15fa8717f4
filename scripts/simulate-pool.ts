/**
 * A pool of worker threads running simulation tasks (scripts/simulate-worker.ts), one task per
 * algorithm × pattern × seed. Results come back in task order and do not depend on the number of workers
 * or on scheduling: each task is deterministic given its configuration.
 */
import type { Dataset, FederatedRunResult, FederatedSimulationConfig } from '@flotilla/algorithms';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

/** What every worker receives once. */
export interface PoolData {
  train: Dataset;
  test: Dataset;
  /** A fixed client split (rows of train per client), e.g. the synthetic task's; default: Dirichlet split per seed. */
  clients?: number[][];
  /** 'fast': the hand-written Float32Array model (default); 'tfjs': TF.js trainLocal on the WASM backend. */
  trainer: 'fast' | 'tfjs';
}

export type ToWorker = { type: 'task'; id: number; config: FederatedSimulationConfig } | { type: 'exit' };
export type ToMain =
  | { type: 'ready' }
  | { type: 'progress'; id: number; round: number }
  | { type: 'done'; id: number; result: FederatedRunResult }
  | { type: 'error'; id: number; message: string };

/** Default number of workers: the cores Node may use. */
export function defaultWorkers(): number {
  return Math.max(1, os.availableParallelism());
}

/**
 * Runs the tasks on `workers` threads.
 * @param onProgress called with the rounds completed over all tasks (for a progress bar).
 */
export async function runSimulations(
  data: PoolData,
  tasks: FederatedSimulationConfig[],
  options: { workers: number; onProgress?: (roundsDone: number) => void },
): Promise<FederatedRunResult[]> {
  const results = new Array<FederatedRunResult | undefined>(tasks.length);
  const progress = new Array<number>(tasks.length).fill(0);
  let roundsDone = 0;
  let next = 0;
  const n = Math.max(1, Math.min(options.workers, tasks.length));
  const script = path.join(__dirname, 'simulate-worker.js');
  const runWorker = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const worker = new Worker(script, { workerData: data });
      let failed = false;
      const fail = (e: Error): void => {
        if (failed) return;
        failed = true;
        void worker.terminate();
        reject(e);
      };
      const feed = (): void => {
        if (next < tasks.length) {
          const id = next++;
          worker.postMessage({ type: 'task', id, config: tasks[id] } satisfies ToWorker);
        } else worker.postMessage({ type: 'exit' } satisfies ToWorker);
      };
      worker.on('message', (m: ToMain) => {
        switch (m.type) {
          case 'ready':
            feed();
            break;
          case 'progress':
            roundsDone += m.round - progress[m.id];
            progress[m.id] = m.round;
            options.onProgress?.(roundsDone);
            break;
          case 'done':
            results[m.id] = m.result;
            feed();
            break;
          case 'error': {
            const t = tasks[m.id] as FederatedSimulationConfig | undefined;
            fail(new Error(t ? `${t.algorithm} / ${t.pattern} / seed ${t.seed}: ${m.message}` : m.message));
            break;
          }
        }
      });
      worker.on('error', fail);
      worker.on('exit', (code) => (code === 0 || failed ? resolve() : fail(new Error(`simulation worker exited with code ${code}`))));
    });
  await Promise.all(Array.from({ length: n }, runWorker));
  return results.map((r, i) => {
    if (!r) throw new Error(`simulation task ${i} produced no result`);
    return r;
  });
}

/** A one-line progress bar on stderr: redrawn in place on a terminal, a line per 10% otherwise. */
export function progressBar(total: number, label: string): { update(done: number): void; end(): void } {
  const tty = process.stderr.isTTY;
  const started = Date.now();
  let lastTenth = -1;
  let lastDraw = 0;
  const draw = (done: number, force: boolean): void => {
    const frac = total > 0 ? done / total : 1;
    const now = Date.now();
    const elapsed = (now - started) / 1000;
    const eta = frac > 0 ? elapsed / frac - elapsed : 0;
    const width = 30;
    const filled = Math.round(frac * width);
    const line = `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(100 * frac).toFixed(0).padStart(3)}%  ${done}/${total} rounds  ${elapsed.toFixed(0)}s elapsed, ~${eta.toFixed(0)}s left`;
    if (tty) {
      if (force || now - lastDraw > 100) {
        process.stderr.write(`\r${line}`);
        lastDraw = now;
      }
    } else {
      const tenth = Math.floor(frac * 10);
      if (tenth > lastTenth || force) {
        lastTenth = tenth;
        process.stderr.write(line + '\n');
      }
    }
  };
  return {
    update: (done) => draw(done, false),
    end: () => {
      if (tty) {
        draw(total, true);
        process.stderr.write('\n');
      } else if (lastTenth < 10) draw(total, true);
    },
  };
}
