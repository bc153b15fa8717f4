/**
 * Simulation throughput: client local SGD steps per second of `simulateFederated` (the engine of
 * `npm run simulate`) with 1,000 virtual clients, for the softmax and the MLP model, with the hand-written
 * Float32Array model (the simulator's default) and with TF.js `trainLocal` on the WASM backend (what the
 * agents run). One thread; `npm run simulate` runs one such task per worker thread.
 *
 * Data: the synthetic softmax task (`syntheticClassification`) scaled to digits-like shapes (64 features,
 * 10 classes, 50 rows per client, Dirichlet(0.1) labels), p_n with mean 0.1 (≈ 100 clients train per round),
 * Bernoulli participation, I = 5 steps of b = 16, FedAU aggregation (see SETUP).
 *   steps/s end to end: all local steps over the wall time of the rounds (training, participation draws,
 *     aggregation and bookkeeping; the evaluations before the first and after the last round excluded).
 *   steps/s training: the same steps over the time spent inside the local trainer only.
 *   --clients 1000  --rounds 10  --hidden 32  --trainers fast,tfjs
 */
import {
  createFastModel,
  simulateFederated,
  syntheticClassification,
  trainLocal,
  useWasmBackend,
  type LocalTrainer,
  type ModelArch,
} from '@flotilla/algorithms';
import { parseArgs } from 'node:util';
import type { Bench } from './run';

/** The data and training of every case (the simulator's defaults, written out so that the JSON states them). */
const SETUP = {
  perClient: 50,
  numFeatures: 64,
  numClasses: 10,
  testSize: 1000,
  algorithm: 'fedau',
  pattern: 'bernoulli',
  meanParticipation: 0.1,
  localSteps: 5,
  batchSize: 16,
} as const;

interface Case {
  model: string;
  trainer: 'fast' | 'tfjs';
  /** Model parameters. */
  params: number;
  clients: number;
  rounds: number;
  localSteps: number;
  /** Local steps per second over the whole rounds (training + aggregation + bookkeeping). */
  stepsPerSecond: number;
  /** Local steps per second of time spent inside the trainer. */
  trainingStepsPerSecond: number;
}

export const bench: Bench = {
  description: 'simulation throughput (client local steps/s) at 1,000 clients: softmax and MLP, hand-written vs TF.js',
  async run(args, say) {
    const { values } = parseArgs({
      args,
      options: {
        clients: { type: 'string', default: '1000' },
        rounds: { type: 'string', default: '10' },
        hidden: { type: 'string', default: '32' },
        trainers: { type: 'string', default: 'fast,tfjs' },
      },
    });
    const clients = Number(values.clients);
    const rounds = Number(values.rounds);
    const trainers = values.trainers.split(',') as ('fast' | 'tfjs')[];
    const backend = trainers.includes('tfjs') ? await useWasmBackend() : 'none';
    const data = syntheticClassification({
      seed: 1,
      numClients: clients,
      perClient: SETUP.perClient,
      numFeatures: SETUP.numFeatures,
      numClasses: SETUP.numClasses,
      testSize: SETUP.testSize,
    });
    const models: ModelArch[] = [{ arch: 'softmax' }, { arch: 'mlp', hidden: Number(values.hidden) }];
    say(
      `${clients} clients × ${SETUP.perClient} rows (${SETUP.numFeatures} features, ${SETUP.numClasses} classes), ${rounds} rounds of Bernoulli participation (mean p ${SETUP.meanParticipation}), I = ${SETUP.localSteps}, b = ${SETUP.batchSize}, FedAU; TF.js backend: ${backend}`,
    );
    say('');
    say('model      trainer   params   local steps   steps/s (end to end)   steps/s (training only)');
    const cases: Case[] = [];
    for (const model of models) {
      const size = createFastModel(model, data.train).size;
      for (const trainer of trainers) {
        const fast = createFastModel(model, data.train);
        const inner: LocalTrainer = trainer === 'fast' ? (g, d, o) => fast.train(g, d, o) : (g, d, o) => trainLocal(model, g, d, o);
        let trainNs = 0n;
        let first: bigint | null = null;
        let end = 0n;
        const timed: LocalTrainer = (g, d, o) => {
          const t0 = process.hrtime.bigint();
          first ??= t0;
          const r = inner(g, d, o);
          trainNs += process.hrtime.bigint() - t0;
          return r;
        };
        const result = simulateFederated(
          data,
          {
            algorithm: SETUP.algorithm,
            pattern: SETUP.pattern,
            seed: 1,
            rounds,
            model,
            evalEvery: rounds,
            localSteps: SETUP.localSteps,
            batchSize: SETUP.batchSize,
            meanParticipation: SETUP.meanParticipation,
          },
          { trainer: timed, onRound: () => (end = process.hrtime.bigint()) },
        );
        const wall = Number(end - (first ?? end)) / 1e9;
        const c: Case = {
          model: model.arch === 'mlp' ? `mlp-${model.hidden}` : model.arch,
          trainer,
          params: size,
          clients,
          rounds,
          localSteps: result.localSteps,
          stepsPerSecond: Math.round(result.localSteps / wall),
          trainingStepsPerSecond: Math.round(result.localSteps / (Number(trainNs) / 1e9)),
        };
        cases.push(c);
        say(
          `${c.model.padEnd(9)}  ${trainer.padEnd(7)}  ${String(size).padStart(6)}   ${String(c.localSteps).padStart(11)}   ${String(c.stepsPerSecond).padStart(20)}   ${String(c.trainingStepsPerSecond).padStart(23)}`,
        );
      }
    }
    for (const model of models) {
      const name = model.arch === 'mlp' ? `mlp-${model.hidden}` : model.arch;
      const f = cases.find((c) => c.model === name && c.trainer === 'fast');
      const t = cases.find((c) => c.model === name && c.trainer === 'tfjs');
      if (f && t) say(`${name}: hand-written is ${(f.stepsPerSecond / t.stepsPerSecond).toFixed(1)}× TF.js (${backend}) end to end`);
    }
    return { clients, rounds, backend, setup: SETUP, cases };
  },
};
