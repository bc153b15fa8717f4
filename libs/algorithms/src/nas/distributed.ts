import { trainTestSplit, type Dataset } from '../data/dataset';
import { createRng, deriveSeed, type Rng } from '../random';
import { CELL_EDGES, CELL_OPS } from './cell-space';
import {
  cellGmScoreSums,
  proposeCellArchitecture,
  randomCellBatches,
  randomCellPaths,
  trainCellSupernet,
  type CellArchState,
} from './cell-search';
import { combineScores, gmScoreSums, type GmScoreOptions, type GmScores, type GmScoreSums } from './gm-score';
import { nasEvaluate, nasInitialState, nasMaskShape, nasSpaceSamples, type NasSpace, type NasState } from './job-space';
import { selectEdge, type EdgeCandidate, type SelectEdgeOptions } from './partition';
import type { RungScore } from './ranking';
import { enabledOps, isUnsplit, samplePath, type Architecture, type Mask, type SupernetSpec } from './search-space';
import { randomBatches, samplesFromDataset, type ArchitectureScore, type Samples } from './supernet';
import { splitNode, type NasNode } from './tree';
import { deriveArchitecture, trainSupernet, type DeriveOptions, type TrainSupernetOptions } from './training';

/**
 * The supernet-tree schedule of {@link runSplitSearch} (chain space) and {@link runCellSearch} (cell space,
 * docs/algorithms/gm-nas.md §6.2, §6.4, §10) cut into the tasks the coordinator dispatches to agents, plus the
 * bookkeeping it does between them. Each function here makes exactly the choice the one-process search makes at the
 * same point (seeds, steps, schedule lengths, batches, paths), so a distributed run with the same data takes the
 * same splits and trains bit-identical weights (and α):
 * - `nas.train`: one node's share of the training ({@link nodeTraining}, {@link runNasTrainTask}); a leaf also
 *   derives the architecture it proposes (§7.1, RSPS rule).
 * - `nas.gm-score`: GM cosine sums of every candidate edge over one contiguous range of the node's R batches
 *   ({@link runNasScoreTask}); only |ops|² numbers per edge travel. The coordinator merges the parts and splits
 *   ({@link decideGmSplit}).
 * - `nas.standalone`: one rung of successive halving for one candidate ({@link runNasStandaloneTask},
 *   {@link successiveHalvingPlan}).
 *
 * Precision: weights and SGD momentum are Float32Array in the library ({@link TrainingState}), so they travel as
 * float32 blobs without loss; GM sums and metrics are float64 JSON numbers, which JSON (and PostgreSQL jsonb)
 * carry exactly. The only difference to one process is the order in which the coordinator adds the parts' sums
 * (`combineScores`): with one part the GM matrix is bit-identical, with several it can differ in the last bits.
 */

/** The split phase and final phase of the schedule, in steps (the `runSplitSearch` options of the same names). */
export interface NasSchedule {
  /** Steps each node of a level trains before its split, one entry per split level. */
  splitSteps: number[];
  /** Steps each leaf trains after the last split. */
  finalSteps: number;
  /** `final` (default): children of the last split are re-initialised (docs/algorithms/gm-nas.md §6.1); `none`: everything is inherited. */
  restart: 'final' | 'none';
}

/** Steps of one root-to-leaf lineage: the length of the inherited cosine schedule. */
export function lineageSteps(schedule: NasSchedule): number {
  return schedule.splitSteps.reduce((a, b) => a + b, 0) + schedule.finalSteps;
}

/** What one node trains: `trainSupernet`'s steps, schedule length and seed, as in `runSplitSearch`. */
export interface NodeTraining {
  /** `split`: the node will be scored and split afterwards; `final`: a leaf's final phase. */
  phase: 'split' | 'final';
  steps: number;
  scheduleSteps: number;
  seed: number;
}

/**
 * The training of `node` in the schedule (docs/algorithms/gm-nas.md §6.2): a node above the last level trains `splitSteps[depth]`
 * steps on the lineage's schedule; a leaf trains `finalSteps`, on a fresh schedule of its own when it was
 * re-initialised at the final split (the DARTS-space `fix_sche=1` behaviour), otherwise on the lineage's.
 * The two spaces follow their one-process searches: in the chain space the lineage always spans the final phase
 * (`runSplitSearch`); in the cell space it ends with the split phase when the leaves restart, so the split phase
 * anneals its own learning rate, and every node's batch seed has the same tag (`runCellSearch`).
 * @param seed the search seed.
 */
export function nodeTraining(
  schedule: NasSchedule,
  node: Pick<NasNode, 'id' | 'depth' | 'init'>,
  seed: number,
  space: NasSpace['type'],
): NodeTraining {
  const levels = schedule.splitSteps.length;
  if (!(Number.isInteger(node.depth) && node.depth >= 0 && node.depth <= levels))
    throw new Error(`nodeTraining: node ${node.id} has depth ${node.depth}, the schedule has ${levels} split levels`);
  const lineage =
    space === 'cell' && schedule.restart === 'final'
      ? Math.max(1, lineageSteps(schedule) - schedule.finalSteps)
      : Math.max(1, lineageSteps(schedule));
  if (node.depth < levels) {
    return { phase: 'split', steps: schedule.splitSteps[node.depth], scheduleSteps: lineage, seed: deriveSeed(seed, 'train', node.id) };
  }
  const fresh = node.init !== 'inherit';
  return {
    phase: 'final',
    steps: schedule.finalSteps,
    scheduleSteps: fresh ? Math.max(1, schedule.finalSteps) : Math.max(1, lineageSteps(schedule)),
    seed: deriveSeed(seed, space === 'cell' ? 'train' : 'train-final', node.id),
  };
}

/**
 * The weights a root or re-initialised node starts from (docs/algorithms/gm-nas.md §6.1), as the one-process search
 * draws them; null for an `inherit` node, which starts from its parent's trained state (weights, momentum, schedule
 * position and, in the cell space, α with its moments).
 */
export function nodeInitialState(space: NasSpace, node: Pick<NasNode, 'id' | 'init'>, seed: number): NasState | null {
  return node.init === 'inherit' ? null : nasInitialState(space, deriveSeed(seed, 'init', node.id));
}

/** Whether the children of a split at `depth` are re-initialised: the last split with restart = 'final' (docs/algorithms/gm-nas.md §6.1). */
export function splitReinitialises(schedule: NasSchedule, depth: number): boolean {
  return schedule.restart === 'final' && depth === schedule.splitSteps.length - 1;
}

/** The edges GM scores for a node (docs/algorithms/gm-nas.md §5): every unsplit edge with at least `groups` ops, in edge order. */
export function candidateEdges(space: NasSpace, mask: Mask, groups: number): number[] {
  const shape = nasMaskShape(space);
  return mask.map((_, e) => e).filter((e) => isUnsplit(mask, e) && shape.edges[e].ops.length >= groups);
}

/**
 * Contiguous ranges [from, to) of the R batches for `parts` score tasks, as equal as possible, earlier parts
 * taking the remainder; never more parts than batches.
 */
export function scorePartRanges(batches: number, parts: number): [number, number][] {
  if (!(Number.isInteger(batches) && batches >= 1)) throw new Error(`scorePartRanges: batches must be a positive integer, got ${batches}`);
  if (!(Number.isInteger(parts) && parts >= 1)) throw new Error(`scorePartRanges: parts must be a positive integer, got ${parts}`);
  const n = Math.min(parts, batches);
  const out: [number, number][] = [];
  let from = 0;
  for (let k = 0; k < n; k++) {
    const size = Math.floor(batches / n) + (k < batches % n ? 1 : 0);
    out.push([from, from + size]);
    from += size;
  }
  return out;
}

/** How an agent builds the samples of a NAS job from its file. */
export interface NasDataSplit {
  /** Fraction of each class held out as the selection split (docs/algorithms/gm-nas.md §9: the official code's architecture half); in (0, 1). */
  selectionFraction: number;
  /** Seed of the stratified split. */
  seed: number;
}

/**
 * The weight-training and selection splits of a dataset (stratified, {@link trainTestSplit}), as the space reads
 * them ({@link nasSpaceSamples}): the weights of every supernet and stand-alone candidate train on `train`;
 * architectures are ranked on `selection`, which in the cell space is also the validation split α is learned on and
 * GM batches are drawn from (`runCellSearch`).
 */
export function nasSamples(space: NasSpace, ds: Dataset, split: NasDataSplit): { train: Samples; selection: Samples } {
  const { train, test } = trainTestSplit(ds, split.selectionFraction, createRng(split.seed));
  return { train: nasSpaceSamples(space, samplesFromDataset(train)), selection: nasSpaceSamples(space, samplesFromDataset(test)) };
}

/** Training settings shared by every node of a job (steps, seed and schedule come per task). */
export type NasTrainingSettings = Omit<TrainSupernetOptions, 'steps' | 'seed' | 'scheduleSteps'>;

/** A `nas.train` task: train one node from a given state, and (leaves) derive its architecture. */
export interface NasTrainTask extends NodeTraining {
  node: string;
  mask: Mask;
  training: NasTrainingSettings;
  /** For a leaf: derive the proposed architecture on the selection split (docs/algorithms/gm-nas.md §7.1); null above the leaves. */
  derive: DeriveOptions | null;
}

/** What a `nas.train` task computes (weights and momentum stay on the agent until uploaded). */
export interface NasTrainOutcome {
  state: NasState;
  /** Mean training loss over the steps; null for 0 steps. */
  meanLoss: number | null;
  /** The leaf's proposed architecture with its estimate on the selection split. */
  candidate: ArchitectureScore | null;
  /** How many architectures the derivation evaluated. */
  evaluated: number;
}

/**
 * Runs a `nas.train` task: in the chain space `trainSupernet` from `state` (exactly `runSplitSearch`'s call for the
 * node), then for a leaf `deriveArchitecture` with its weights on the selection split; in the cell space
 * `trainCellSupernet` in the space's search mode (exactly `runCellSearch`'s call: α frozen in the split phase,
 * learned on the selection split in the final phase), then for a leaf `deriveCellArchitecture`.
 */
export function runNasTrainTask(
  space: NasSpace,
  state: NasState,
  task: NasTrainTask,
  data: { train: Samples; selection: Samples },
): NasTrainOutcome {
  if (space.type === 'cell') {
    const r = trainCellSupernet(space.spec, withArch(state), task.mask, data.train, {
      steps: task.steps,
      batchSize: task.training.batchSize,
      mode: space.search,
      learnAlpha: task.phase === 'final',
      validation: data.selection,
      scheduleSteps: task.scheduleSteps,
      optimizer: task.training.optimizer,
      arch: space.arch,
      snas: space.snas,
      seed: task.seed,
    });
    if (!task.derive) return { state: r.state, meanLoss: Number.isFinite(r.meanLoss) ? r.meanLoss : null, candidate: null, evaluated: 0 };
    // RSPS: the best of `maxCandidates` random paths (each once); DARTS, SNAS: the argmax of α.
    const { maxCandidates, seed, metric } = task.derive;
    const paths = space.search === 'rsps' ? randomCellPaths(task.mask, { paths: maxCandidates ?? 200, seed }) : undefined;
    const candidate = proposeCellArchitecture(space.spec, r.state, task.mask, space.search, data.selection, { candidates: paths, metric });
    return { state: r.state, meanLoss: Number.isFinite(r.meanLoss) ? r.meanLoss : null, candidate, evaluated: paths?.length ?? 1 };
  }
  const spec = space.spec;
  const r = trainSupernet(spec, state, task.mask, data.train, {
    ...task.training,
    steps: task.steps,
    scheduleSteps: task.scheduleSteps,
    seed: task.seed,
  });
  let candidate: ArchitectureScore | null = null;
  let evaluated = 0;
  if (task.derive) {
    const d = deriveArchitecture(spec, r.state.params, task.mask, data.selection, task.derive);
    candidate = d.best;
    evaluated = d.evaluated.length;
  }
  return { state: r.state, meanLoss: Number.isFinite(r.meanLoss) ? r.meanLoss : null, candidate, evaluated };
}

/** The seed of a node's derivation (docs/algorithms/gm-nas.md §7.1: random distinct candidates when the mask holds too many). */
export function deriveSeedFor(seed: number, nodeId: string): number {
  return deriveSeed(seed, 'derive', nodeId);
}

/** A `nas.gm-score` task: the GM cosine sums of `edges` over batches [from, to) of the node's R batches. */
export interface NasScoreTask {
  node: string;
  mask: Mask;
  edges: number[];
  /** R: the node's batches in total (drawn once from the node's seed, the same for every edge). */
  batches: number;
  batchSize: number;
  from: number;
  to: number;
  /** Forward mode on the other edges, Ω_e and α, as {@link GmScoreOptions} (the seed is derived here). */
  scoring: Omit<GmScoreOptions, 'seed'>;
  /** The search seed. */
  seed: number;
}

/**
 * Runs a `nas.gm-score` task (docs/algorithms/gm-nas.md §3.2, one agent's share; §10: only |ops| × |ops| sums per edge
 * leave the agent), scoring batches [from, to) of the node's R batches. In the single-path mode the path of batch r
 * is the r-th draw of the edge's path stream; the draws before `from` are replayed, so every part sees the paths one
 * process would.
 * - Chain space: the batches are `randomBatches` of the weight split from the node's split seed, as in
 *   `runSplitSearch`; each batch is scored with `gmScoreSums` (a one-hot mixture = that single path) and the
 *   per-batch sums are added in batch order, exactly the sum one `gmScoreSums` call over all batches accumulates.
 * - Cell space: the batches are `randomCellBatches` of the selection split, as in `runCellSearch`, scored by
 *   `cellGmScoreSums` (mixture under the node's α for DARTS and SNAS, single path for RSPS).
 */
export function runNasScoreTask(
  space: NasSpace,
  params: Float32Array,
  task: NasScoreTask,
  data: { train: Samples; selection: Samples },
): GmScoreSums[] {
  const { from, to, batches: R } = task;
  if (!(Number.isInteger(from) && Number.isInteger(to) && from >= 0 && from < to && to <= R))
    throw new Error(`runNasScoreTask: batch range must satisfy 0 <= from < to <= ${R}, got [${from}, ${to})`);
  if (space.type === 'cell') {
    const batches = randomCellBatches(space.spec, data.selection, to, task.batchSize, createRng(deriveSeed(task.seed, 'gm', task.node)));
    return task.edges.map((edge) =>
      cellGmScoreSums(space.spec, params, task.mask, edge, batches, {
        mode: task.scoring.mode ?? (space.search === 'rsps' ? 'single-path' : 'mixture'),
        alpha: task.scoring.alpha,
        sharedWeights: task.scoring.sharedWeights,
        seed: deriveSeed(task.seed, 'gm-path', task.node, edge),
        scoreFrom: from,
      }),
    );
  }
  const spec = space.spec;
  const batches = randomBatches(spec, data.train, to, task.batchSize, createRng(deriveSeed(task.seed, 'split', task.node)));
  const mode = task.scoring.mode ?? 'mixture';
  return task.edges.map((edge) => {
    const ops = enabledOps(task.mask, edge);
    const rng = createRng(deriveSeed(task.seed, 'gm', task.node, edge));
    const sums = Array.from({ length: ops.length }, () => new Array<number>(ops.length).fill(0));
    let degenerateBatches = 0;
    for (let r = 0; r < to; r++) {
      let options: GmScoreOptions = task.scoring;
      if (mode === 'single-path') {
        // gmScoreSums' own draw for batch r: the same stream, the same arguments.
        const path = samplePathFor(spec, task.mask, rng, edge, ops[0]);
        if (r < from) continue;
        options = { ...task.scoring, mode: 'mixture', alpha: oneHotLogits(spec, path) };
      } else if (r < from) continue;
      const part = gmScoreSums(spec, params, task.mask, edge, [batches[r]], options);
      part.sums.forEach((row, i) => row.forEach((v, j) => (sums[i][j] += v)));
      degenerateBatches += part.degenerateBatches;
    }
    return { edge, ops, sums, batches: to - from, degenerateBatches };
  });
}

function samplePathFor(spec: SupernetSpec, mask: Mask, rng: Rng, edge: number, op: number): Architecture {
  return samplePath(spec, mask, rng, { edge, op, countsAsConnected: true });
}

/** Logits whose masked softmax is exactly the one-hot path: 0 on the path's op, −∞ elsewhere (exp(−∞) = 0). */
function oneHotLogits(spec: SupernetSpec, path: Architecture): number[][] {
  return spec.edges.map((edge, e) => edge.ops.map((_, o) => (o === path[e] ? 0 : -Infinity)));
}

/** The split of a node decided from its score parts. */
export interface GmSplitDecision {
  /** The node with its split recorded (scores: the merged GM matrix of every candidate edge). */
  parent: NasNode;
  children: NasNode[];
  /** Every candidate edge's merged scores, in edge order. */
  scores: GmScores[];
  /** Every candidate edge's best partition and costs, in edge order (`selectEdge`). */
  candidates: EdgeCandidate[];
}

/**
 * Merges the score parts of a node (`combineScores` per edge, parts in batch order), selects the edge and its
 * groups (`selectEdge`, docs/algorithms/gm-nas.md §4–§5) and splits the node (`splitNode`, §6.1), as `runSplitSearch` does.
 * @param parts one entry per score task, each with one {@link GmScoreSums} per candidate edge (in edge order).
 */
export function decideGmSplit(
  space: NasSpace,
  node: NasNode,
  parts: readonly (readonly GmScoreSums[])[],
  options: { groups: number; selection?: SelectEdgeOptions; reinit: boolean },
): GmSplitDecision {
  if (parts.length === 0) throw new Error(`decideGmSplit: node ${node.id} has no score parts`);
  const edges = parts[0].map((s) => s.edge);
  parts.forEach((p, k) => {
    if (p.length !== edges.length || p.some((s, i) => s.edge !== edges[i]))
      throw new Error(`decideGmSplit: part ${k} scores edges [${p.map((s) => s.edge).join(',')}], part 0 [${edges.join(',')}]`);
  });
  const scores = edges.map((_, i) => combineScores(parts.map((p) => p[i])));
  const selection = selectEdge(scores, { ...options.selection, groups: options.groups });
  const { parent, children } = splitNode(nasMaskShape(space), node, selection.edge, selection.groups, {
    criterion: 'gm',
    scores: scores.map((m) => ({ edge: m.edge, ops: m.ops, matrix: m.matrix, batches: m.batches })),
    reinit: options.reinit,
  });
  return { parent, children, scores, candidates: selection.candidates };
}

/**
 * Successive halving over stand-alone training (docs/algorithms/gm-nas.md §7.2; official `successive_halving.py`, here with η = 2 and
 * rungs in steps): all candidates train, the better half (rounded up) goes on, until the survivors fit on the
 * `slots` agents, which then finish the budget. With no more candidates than slots it is plain stand-alone
 * training of all of them for `totalSteps`.
 */
export interface HalvingPlan {
  candidates: number;
  slots: number;
  /** Cumulative stand-alone steps at the end of each rung; the last is `totalSteps`. */
  rungs: number[];
  /** Candidates trained in each rung: `candidates`, then halved (rounded up). */
  survivors: number[];
}

/**
 * The halving plan: H = the fewest halvings after which ⌈C / 2^H⌉ ≤ slots; rung i (0 ≤ i ≤ H) trains its
 * candidates up to ⌈T / 2^(H−i)⌉ cumulative steps (so the budget doubles per rung and the last rung reaches T).
 */
export function successiveHalvingPlan(candidates: number, slots: number, totalSteps: number): HalvingPlan {
  for (const [name, v] of [
    ['candidates', candidates],
    ['slots', slots],
    ['totalSteps', totalSteps],
  ] as const) {
    if (!(Number.isInteger(v) && v >= 1)) throw new Error(`successiveHalvingPlan: ${name} must be a positive integer, got ${v}`);
  }
  const survivors = [candidates];
  while (survivors[survivors.length - 1] > slots) survivors.push(Math.ceil(survivors[survivors.length - 1] / 2));
  const h = survivors.length - 1;
  const rungs = survivors.map((_, i) => Math.ceil(totalSteps / 2 ** (h - i)));
  return { candidates, slots, rungs, survivors };
}

/** The fresh weights of a stand-alone candidate (docs/algorithms/gm-nas.md §7.2: trained from scratch). */
export function standaloneInitialState(space: NasSpace, seed: number, candidate: number): NasState {
  return nasInitialState(space, standaloneInitSeed(seed, candidate));
}

/** The initialisation seed of candidate `candidate` (the `initSeed` of the equivalent `trainStandalone` call). */
export function standaloneInitSeed(seed: number, candidate: number): number {
  return deriveSeed(seed, 'standalone-init', candidate);
}

/** A `nas.standalone` task: one rung of one candidate, continuing from its previous rung's state. */
export interface NasStandaloneTask {
  candidate: number;
  architecture: Architecture;
  /** Steps in this rung (rungs[i] − rungs[i − 1]). */
  steps: number;
  /** The whole stand-alone budget T: one cosine schedule over all rungs. */
  scheduleSteps: number;
  seed: number;
  training: NasTrainingSettings;
}

/** The task of rung `rung` of `candidate` under `plan` (the seed is per candidate and rung). */
export function standaloneRungTask(
  plan: Pick<HalvingPlan, 'rungs'>,
  rung: number,
  candidate: number,
  architecture: Architecture,
  seed: number,
  training: NasTrainingSettings,
): NasStandaloneTask {
  if (!(Number.isInteger(rung) && rung >= 0 && rung < plan.rungs.length))
    throw new Error(`standaloneRungTask: rung must be in [0, ${plan.rungs.length}), got ${rung}`);
  return {
    candidate,
    architecture: architecture.slice(),
    steps: plan.rungs[rung] - (rung > 0 ? plan.rungs[rung - 1] : 0),
    scheduleSteps: plan.rungs[plan.rungs.length - 1],
    seed: deriveSeed(seed, 'standalone', candidate, rung),
    training: { ...training, mode: 'single-path' },
  };
}

/** The mask holding exactly one architecture. */
export function architectureMask(space: NasSpace, architecture: Architecture): Mask {
  return nasMaskShape(space).edges.map((edge, e) => edge.ops.map((_, o) => o === architecture[e]));
}

/**
 * Runs a `nas.standalone` task: single-path training on the architecture's one-path mask from `state` (what
 * `trainStandalone` / `trainCellStandalone` do from fresh weights; rung 0 of a one-rung plan is exactly that call
 * with `initSeed` = {@link standaloneInitSeed}), then the architecture's loss and accuracy on the selection split.
 * A later rung resumes from the uploaded weights and momentum and the step counter, so the cosine schedule
 * continues where the previous rung stopped; only the batch order is drawn anew from the rung's seed.
 */
export function runNasStandaloneTask(
  space: NasSpace,
  state: NasState,
  task: NasStandaloneTask,
  data: { train: Samples; selection: Samples },
): { state: NasState; meanLoss: number | null; selection: RungScore } {
  const mask = architectureMask(space, task.architecture);
  const r =
    space.type === 'cell'
      ? trainCellSupernet(space.spec, withArch(state), mask, data.train, {
          steps: task.steps,
          batchSize: task.training.batchSize,
          optimizer: task.training.optimizer,
          mode: 'rsps',
          scheduleSteps: task.scheduleSteps,
          seed: task.seed,
        })
      : trainSupernet(space.spec, state, mask, data.train, {
          ...task.training,
          mode: 'single-path',
          steps: task.steps,
          scheduleSteps: task.scheduleSteps,
          seed: task.seed,
        });
  const score = nasEvaluate(space, r.state.params, task.architecture, data.selection);
  return {
    state: r.state,
    meanLoss: Number.isFinite(r.meanLoss) ? r.meanLoss : null,
    selection: { loss: score.loss, accuracy: score.accuracy },
  };
}

/** A cell-space state as `trainCellSupernet` takes it: a state without α (a stand-alone candidate) has α = 0. */
function withArch(state: NasState): NasState & { arch: CellArchState } {
  if (state.arch) return { ...state, arch: state.arch };
  const zeros = (): number[][] => CELL_EDGES.map(() => CELL_OPS.map(() => 0));
  return { ...state, arch: { alpha: zeros(), m: zeros(), v: zeros(), t: 0 } };
}

/**
 * A training state held as float32 blobs on the coordinator: weights and momentum by sha256, and the step; in the
 * cell space also α with its Adam moments (a few dozen numbers, carried as JSON).
 */
export interface NasBlobState {
  params: string;
  velocity: string;
  step: number;
  arch?: CellArchState;
}

/** How an agent turns its file into a NAS job's samples: the catalogue's scaling, then {@link nasSamples}. */
export interface NasTaskData extends NasDataSplit {
  featureRange: [number, number];
  numClasses: number;
}

/** What every NAS task carries besides its own part: the search space and how to read the data. */
export interface NasTaskEnvelope {
  space: NasSpace;
  data: NasTaskData;
}

/** Payload of a `nas.train` task. */
export interface NasTrainPayload extends NasTaskEnvelope {
  task: NasTrainTask;
  from: NasBlobState;
}

/** Result of a `nas.train` task: the trained state as blobs, the mean loss and (leaves) the proposal. */
export interface NasTrainResult extends NasBlobState {
  meanLoss: number | null;
  candidate: ArchitectureScore | null;
  evaluated: number;
}

/** Payload of a `nas.gm-score` task: the node's trained weights by hash. */
export interface NasScorePayload extends NasTaskEnvelope {
  task: NasScoreTask;
  params: string;
}

/** Result of a `nas.gm-score` task: one entry per scored edge, |ops|² sums each. */
export interface NasScoreResult {
  scores: GmScoreSums[];
}

/** Payload of a `nas.standalone` task. */
export interface NasStandalonePayload extends NasTaskEnvelope {
  task: NasStandaloneTask;
  from: NasBlobState;
}

/** Result of a `nas.standalone` task: the candidate's state after the rung and its selection-split score. */
export interface NasStandaloneResult extends NasBlobState {
  meanLoss: number | null;
  selection: RungScore;
}
