/**
 * Worker thread of `npm run simulate`: runs simulation tasks (one algorithm × pattern × seed each) sent by
 * scripts/simulate-pool.ts and posts progress after every round and the result at the end. The dataset
 * arrives once, in workerData.
 */
import { simulateFederated, trainLocal, useWasmBackend, type FederatedSimulationConfig, type LocalTrainer } from '@flotilla/algorithms';
import { parentPort, workerData } from 'node:worker_threads';
import type { PoolData, ToMain, ToWorker } from './simulate-pool';

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('simulate-worker must run in a worker thread');
  const data = workerData as PoolData;
  let trainerFor: (config: FederatedSimulationConfig) => LocalTrainer | undefined = () => undefined;
  if (data.trainer === 'tfjs') {
    // The agents' own TF.js code, on the WASM backend (each worker has its own TF.js instance).
    await useWasmBackend();
    trainerFor = (config) => {
      const model = config.model ?? { arch: 'softmax' };
      return (global, d, opts) => trainLocal(model, global, d, opts);
    };
  }
  const post = (m: ToMain): void => port.postMessage(m);
  port.on('message', (m: ToWorker) => {
    if (m.type === 'exit') {
      port.close();
      return;
    }
    try {
      const result = simulateFederated({ train: data.train, test: data.test, clients: data.clients }, m.config, {
        trainer: trainerFor(m.config),
        onRound: (round) => post({ type: 'progress', id: m.id, round }),
      });
      post({ type: 'done', id: m.id, result });
    } catch (e) {
      post({ type: 'error', id: m.id, message: e instanceof Error ? e.message : String(e) });
    }
  });
  post({ type: 'ready' });
}

main().catch((e: unknown) => {
  parentPort?.postMessage({ type: 'error', id: -1, message: e instanceof Error ? e.message : String(e) } satisfies ToMain);
});
