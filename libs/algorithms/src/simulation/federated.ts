import { allFinite } from '../aggregation/kernels';
import { decideUpdates, NO_UPDATE_POLICY, validateUpdatePolicy, type UpdatePolicy } from '../aggregation/policy';
import { validateRobustAggregation, type RobustAggregation } from '../aggregation/robust';
import {
  AGGREGATION_RULE_NAMES,
  createAggregationRule,
  DEFAULT_LEARNING_RATES,
  type AccumulatorPrecision,
  type AggregationClientState,
  type AggregationRuleName,
  type AggregationSpec,
} from '../aggregation/rules';
import { updateNorm } from '../aggregation/updates';
import { dirichletLabelSplit, labelHistogram, subset, type Dataset } from '../data/dataset';
import type { LocalTrainingOptions, LocalTrainingResult } from '../models/local-sgd';
import { initialParameters, type ModelArch } from '../models/model';
import { createAvailability, stationaryRate } from '../participation/availability';
import { participationProbabilities, patternSpecs, type ParticipationPattern } from '../participation/probabilities';
import { createRng, deriveSeed } from '../random';
import { createFastModel } from './fast-model';

/**
 * The in-process federated simulator behind `npm run simulate`: N virtual clients on a non-IID split
 * (docs/algorithms/fedau.md §6.1), participation probabilities tied to their label mix (§6.2) and a participation
 * pattern (§6.3), aggregated by the SAME rule objects the coordinator uses (`aggregation/rules.ts`).
 * Pure and deterministic: everything random derives from `seed`, nothing reads a file or the clock.
 *
 * For a given seed the data split, p_n, the participation sequence of each pattern and the clients'
 * minibatch orders are the same for every algorithm, so algorithms are compared on identical draws.
 */

/** The algorithm variants of the paper's comparison (docs/algorithms/fedau.md §4–§5): FedAU with K = ∞ and K = 50, and the five baselines. */
export const DEFAULT_ALGORITHMS: readonly string[] = Object.freeze([
  'fedau',
  'fedau-k50',
  'known-p',
  'avg-participating',
  'avg-all',
  'mifa',
  'fedvarp',
]);

/** An algorithm of the simulator: a rule name, plus FedAU's cutoff for the `fedau-k<K>` variants. */
export interface SimulationAlgorithm {
  /** As given, e.g. `fedau-k50`. */
  name: string;
  rule: AggregationRuleName;
  /** FedAU's cutoff K (null = ∞); null for the other rules. */
  cutoffK: number | null;
}

/**
 * Reads an algorithm name: one of the rule names (`fedau` is K = ∞), or `fedau-k<K>` for a finite cutoff K.
 * @throws listing the accepted names.
 */
export function parseAlgorithm(name: string): SimulationAlgorithm {
  const m = /^fedau-k(\d+)$/.exec(name);
  if (m) {
    const k = Number(m[1]);
    if (k >= 1) return { name, rule: 'fedau', cutoffK: k };
  }
  if ((AGGREGATION_RULE_NAMES as readonly string[]).includes(name)) return { name, rule: name as AggregationRuleName, cutoffK: null };
  throw new Error(`unknown algorithm '${name}' (expected ${AGGREGATION_RULE_NAMES.join(', ')} or fedau-k<K>, e.g. fedau-k50)`);
}

/**
 * The rule spec of an algorithm. known-p needs the clients' true long-run participation rates.
 * @param trueRates client id → its true rate; used by known-p only.
 */
export function algorithmSpec(alg: SimulationAlgorithm, trueRates: Record<string, number>): AggregationSpec {
  switch (alg.rule) {
    case 'fedau':
      return { rule: 'fedau', cutoffK: alg.cutoffK };
    case 'known-p':
      return { rule: 'known-p', p: trueRates };
    case 'avg-participating':
    case 'avg-all':
    case 'mifa':
    case 'fedvarp':
      return { rule: alg.rule };
  }
}

/** A local trainer with the signature of `trainLocal` minus the model (to plug TF.js into the simulator). */
export type LocalTrainer = (global: Float32Array, data: Dataset, opts: LocalTrainingOptions) => LocalTrainingResult;

/** Configuration of one simulated run; every field but algorithm, pattern and seed has a default. */
export interface FederatedSimulationConfig {
  /** See {@link parseAlgorithm}, e.g. `fedau`, `fedau-k50`, `mifa`. */
  algorithm: string;
  pattern: ParticipationPattern;
  /** Seed of everything random (split, p_n, participation, initial model, minibatches). */
  seed: number;
  /** N, default 100. Ignored when the data come with a fixed client split. */
  numClients?: number;
  /** T, default 300. */
  rounds?: number;
  /** Default softmax. */
  model?: ModelArch;
  /** Local SGD steps I, default 5 (docs/algorithms/fedau.md §5). */
  localSteps?: number;
  /** Minibatch size b, default 16 (§5). */
  batchSize?: number;
  /** Local learning rate η; default per rule from DEFAULT_LEARNING_RATES (§5). */
  localLr?: number;
  /** Global learning rate γ; default per rule from DEFAULT_LEARNING_RATES (§5). */
  globalLr?: number;
  /** Dirichlet α of the label split, default 0.1 (§6.1). */
  dataAlpha?: number;
  /** Dirichlet α of the class participation weights, default 0.1 (§6.2). */
  participationAlpha?: number;
  /** Mean participation probability, default 0.1 (§6.2). */
  meanParticipation?: number;
  /** Minimum participation probability, default 0.02 (§6.2). */
  minParticipation?: number;
  /** Markov P(inactive → active), default 0.05 (§6.3). */
  markovActivation?: number;
  /** Cyclic cycle length, default 100 (§6.3). */
  cycleLength?: number;
  /** Evaluate every this many rounds (and after the last), default 10 (the official code evaluates every 10 rounds, §5). */
  evalEvery?: number;
  /** Minimum training rows per client in the split, default 1 (the split is redrawn until it holds, see dirichletLabelSplit). */
  minSamplesPerClient?: number;
  /** Server accumulator precision, default float64. */
  accumulator?: AccumulatorPrecision;
  /**
   * The update policy every round applies, with the coordinator's function (`decideUpdates`, docs/algorithms/fedau.md
   * §11). Default {@link NO_UPDATE_POLICY}: the simulated clients are honest and the paper's comparison has no
   * policy (a job's default is a relative bound, see the README).
   */
  updatePolicy?: UpdatePolicy;
  /** Robust aggregation instead of the rule's weighted mean (§11.3); default null. Not defined for mifa and fedvarp. */
  robust?: RobustAggregation | null;
  /**
   * Poisoned clients: when one of these (client indices) participates, its update is `value` in every coordinate
   * instead of what it trained. To see what a policy does against the update of issue #12 (3e38 everywhere). Default none.
   */
  poison?: { clients: readonly number[]; value: number };
}

/** One point of a learning curve. */
export interface CurvePoint {
  /** Rounds completed (0 = the initial model). */
  round: number;
  /** Accuracy on the test set. */
  testAccuracy: number;
  /** Mean cross-entropy on the whole (pooled) training set. */
  trainLoss: number;
}

/** The result of one run. */
export interface FederatedRunResult {
  algorithm: string;
  pattern: ParticipationPattern;
  seed: number;
  localLr: number;
  globalLr: number;
  /** Test accuracy of the final model. */
  finalTestAccuracy: number;
  /** Mean test accuracy over the evaluations in the last 10% of the rounds (less noisy than the final one). */
  tailTestAccuracy: number;
  curve: CurvePoint[];
  /** The round in which an update or the model stopped being finite (the run stopped there), or null. */
  divergedAtRound: number | null;
  /** Mean number of participants per round. */
  meanParticipants: number;
  /** Client local SGD steps run in total. */
  localSteps: number;
  /** Updates the update policy rejected, and clipped, over the run. */
  rejectedUpdates: number;
  clippedUpdates: number;
}

/** The part of a run that depends only on the data and the seed, shared by all algorithms and patterns. */
export interface FederatedSetup {
  /** Each client's training rows. */
  clients: number[][];
  /** p_n (docs/algorithms/fedau.md §6.2). */
  p: number[];
  /** How many p_n were clipped at 1. */
  clippedAtOne: number;
}

interface ResolvedConfig {
  numClients: number;
  rounds: number;
  model: ModelArch;
  localSteps: number;
  batchSize: number;
  dataAlpha: number;
  participationAlpha: number;
  meanParticipation: number;
  minParticipation: number;
  markovActivation: number;
  cycleLength: number;
  evalEvery: number;
  minSamplesPerClient: number;
  accumulator: AccumulatorPrecision;
}

function resolve(config: Omit<FederatedSimulationConfig, 'algorithm' | 'pattern' | 'seed'>): ResolvedConfig {
  const r: ResolvedConfig = {
    numClients: config.numClients ?? 100,
    rounds: config.rounds ?? 300,
    model: config.model ?? { arch: 'softmax' },
    localSteps: config.localSteps ?? 5,
    batchSize: config.batchSize ?? 16,
    dataAlpha: config.dataAlpha ?? 0.1,
    participationAlpha: config.participationAlpha ?? 0.1,
    meanParticipation: config.meanParticipation ?? 0.1,
    minParticipation: config.minParticipation ?? 0.02,
    markovActivation: config.markovActivation ?? 0.05,
    cycleLength: config.cycleLength ?? 100,
    evalEvery: config.evalEvery ?? 10,
    minSamplesPerClient: config.minSamplesPerClient ?? 1,
    accumulator: config.accumulator ?? 'float64',
  };
  for (const k of ['numClients', 'rounds', 'localSteps', 'batchSize', 'evalEvery'] as const) {
    if (!Number.isInteger(r[k]) || r[k] < 1) throw new Error(`simulateFederated: ${k} must be a positive integer, got ${r[k]}`);
  }
  return r;
}

/**
 * Splits the training set over the clients (Dirichlet by label, docs/algorithms/fedau.md §6.1, unless `clients` is given) and
 * draws p_n from their label histograms (§6.2). Depends only on the data, the seed and these options.
 * @param clients a fixed split (rows of `train` per client), e.g. from {@link syntheticClassification}.
 */
export function federatedSetup(
  train: Dataset,
  seed: number,
  config: Omit<FederatedSimulationConfig, 'algorithm' | 'pattern' | 'seed'> = {},
  clients?: number[][],
): FederatedSetup {
  const r = resolve(config);
  const split =
    clients ??
    dirichletLabelSplit(train.labels, train.numClasses, r.numClients, r.dataAlpha, createRng(deriveSeed(seed, 'split')), {
      minPerClient: r.minSamplesPerClient,
    });
  const histograms = split.map((rows) =>
    labelHistogram(
      Array.from(rows, (i) => train.labels[i]),
      train.numClasses,
    ),
  );
  const pp = participationProbabilities(histograms, createRng(deriveSeed(seed, 'participation-weights')), {
    alpha: r.participationAlpha,
    mean: r.meanParticipation,
    min: r.minParticipation,
  });
  return { clients: split, p: pp.p, clippedAtOne: pp.clippedAtOne };
}

/** Optional hooks of {@link simulateFederated}. */
export interface SimulationHooks {
  /** Called after every round with the number of rounds completed (for a progress bar). */
  onRound?: (round: number) => void;
  /** The clients' local training; default the hand-written model of `fast-model.ts` (same model and loss as TF.js). */
  trainer?: LocalTrainer;
  /** A precomputed {@link federatedSetup} for this seed (saves redoing it per algorithm). */
  setup?: FederatedSetup;
}

/**
 * Runs one simulated federated training (docs/algorithms/fedau.md §3 with the chosen rule) and returns its learning curve.
 * @param data the scaled training and test sets; `clients` optionally fixes the split.
 */
export function simulateFederated(
  data: { train: Dataset; test: Dataset; clients?: number[][] },
  config: FederatedSimulationConfig,
  hooks: SimulationHooks = {},
): FederatedRunResult {
  const r = resolve(config);
  const alg = parseAlgorithm(config.algorithm);
  const localLr = config.localLr ?? DEFAULT_LEARNING_RATES[alg.rule].localLr;
  const globalLr = config.globalLr ?? DEFAULT_LEARNING_RATES[alg.rule].globalLr;
  if (!(localLr > 0)) throw new Error(`simulateFederated: localLr must be positive, got ${localLr}`);
  const { train, test } = data;
  if (test.numFeatures !== train.numFeatures || test.numClasses !== train.numClasses) {
    throw new Error(
      `simulateFederated: test set is ${test.numFeatures}x${test.numClasses}, training set ${train.numFeatures}x${train.numClasses}`,
    );
  }
  const seed = config.seed;
  const setup = hooks.setup ?? federatedSetup(train, seed, config, data.clients);
  const N = setup.clients.length;
  const ids = setup.clients.map((_, n) => `client-${n}`);
  const indexOf = new Map(ids.map((id, n) => [id, n]));
  const clientData = setup.clients.map((rows) => subset(train, rows));

  // Participation: the agents' own generators (availability.ts), one stream per client and pattern.
  const specs = patternSpecs(config.pattern, setup.p, { markovActivation: r.markovActivation, cycleLength: r.cycleLength });
  const availability = specs.map((s, n) => createAvailability(s, createRng(deriveSeed(seed, 'availability', config.pattern, n))));
  const trueRates: Record<string, number> = {};
  specs.forEach((s, n) => (trueRates[ids[n]] = stationaryRate(s)));

  const shape = { numFeatures: train.numFeatures, numClasses: train.numClasses, inputShape: train.inputShape };
  const fast = createFastModel(r.model, shape);
  const trainer: LocalTrainer = hooks.trainer ?? ((g, d, o) => fast.train(g, d, o));
  const rule = createAggregationRule(algorithmSpec(alg, trueRates), { globalLr, accumulator: r.accumulator });
  const policy = validateUpdatePolicy(config.updatePolicy ?? NO_UPDATE_POLICY);
  const robust = config.robust ? validateRobustAggregation(config.robust) : null;
  if (robust && rule.usesClientMemory) throw new Error(`simulateFederated: robust aggregation is not defined for ${alg.rule}`);
  const poisoned = new Set(config.poison?.clients ?? []);
  const poisonValue = config.poison?.value ?? 0;

  let model = initialParameters(r.model, shape, deriveSeed(seed, 'init'));
  const dim = model.length;
  let states = new Map<string, AggregationClientState>(ids.map((id) => [id, rule.initialClientState()]));
  const memories: (Float32Array | null)[] = new Array<Float32Array | null>(N).fill(null);
  let memorySum: Float64Array | null = null;

  const curve: CurvePoint[] = [];
  const evalAt = (round: number): void => {
    const t = fast.evaluate(model, test);
    curve.push({ round, testAccuracy: t.accuracy, trainLoss: fast.evaluate(model, train).loss });
  };
  evalAt(0);
  let divergedAtRound: number | null = null;
  let participantsTotal = 0;
  let localSteps = 0;
  let rejectedUpdates = 0;
  let clippedUpdates = 0;
  // The relative bound's reference of the last round (a lone update is measured against it).
  let reference: number | null = null;
  let round = 0;
  while (round < r.rounds) {
    // The round's updates first: the policy decides on all their norms at once, as the coordinator does at the close.
    const arrived: { n: number; delta: Float32Array }[] = [];
    for (let n = 0; n < N; n++) {
      if (!availability[n].next()) continue;
      let delta: Float32Array;
      if (poisoned.has(n)) delta = new Float32Array(dim).fill(poisonValue);
      else if (clientData[n].size === 0)
        delta = new Float32Array(dim); // a client without data has nothing to learn
      else {
        delta = trainer(model, clientData[n], {
          steps: r.localSteps,
          batchSize: r.batchSize,
          lr: localLr,
          seed: deriveSeed(seed, 'local', round, n),
        }).delta;
        localSteps += r.localSteps;
      }
      if (!allFinite(delta)) {
        divergedAtRound = round;
        break;
      }
      arrived.push({ n, delta });
    }
    if (divergedAtRound !== null) break;
    const decision = decideUpdates(
      policy,
      arrived.map((u) => updateNorm(u.delta)),
      reference,
    );
    reference = decision.reference;
    // Rejected clients did not participate (their FedAU state records a miss); clipped ones did, scaled.
    const kept: { id: string; n: number; delta: Float32Array; scale: number }[] = [];
    decision.verdicts.forEach((v, i) => {
      if (v.outcome === 'rejected') rejectedUpdates++;
      else {
        if (v.outcome === 'clipped') clippedUpdates++;
        kept.push({ id: ids[arrived[i].n], n: arrived[i].n, delta: arrived[i].delta, scale: v.scale });
      }
    });
    let out;
    if (robust) {
      const agg = rule.beginRobustRound(dim, { clientStates: states }, robust);
      for (const u of kept) agg.add(u.id, { scale: u.scale });
      out = agg.finish(model, (k, from, into) => into.set(kept[k].delta.subarray(from, from + into.length)));
    } else {
      const agg = rule.beginRound(dim, { clientStates: states, memorySum });
      for (const u of kept) agg.add(u.id, u.delta, memories[u.n], { scale: u.scale });
      out = agg.finish(model);
    }
    participantsTotal += kept.length;
    model = out.model;
    states = out.states;
    memorySum = out.memorySum;
    for (const [id, m] of out.memories) memories[indexOf.get(id)!] = m;
    round++;
    hooks.onRound?.(round);
    if (!allFinite(model)) {
      divergedAtRound = round;
      break;
    }
    if (round % r.evalEvery === 0 || round === r.rounds) evalAt(round);
  }
  if (divergedAtRound !== null) evalAt(round);
  const last = curve[curve.length - 1];
  const tailFrom = round - Math.max(1, Math.floor(r.rounds / 10));
  const tail = curve.filter((c) => c.round > tailFrom);
  return {
    algorithm: alg.name,
    pattern: config.pattern,
    seed,
    localLr,
    globalLr,
    finalTestAccuracy: last.testAccuracy,
    tailTestAccuracy: tail.reduce((s, c) => s + c.testAccuracy, 0) / tail.length,
    curve,
    divergedAtRound,
    meanParticipants: round > 0 ? participantsTotal / round : 0,
    localSteps,
    rejectedUpdates,
    clippedUpdates,
  };
}
