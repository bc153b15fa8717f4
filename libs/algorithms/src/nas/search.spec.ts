import * as tf from '@tensorflow/tfjs';
import { useWasmBackend } from '../models/backend';
import { createRng } from '../random';
import { architecturesInMask, chainSupernet, fullMask } from './search-space';
import type { Samples } from './supernet';
import { leafEstimates, runSplitSearch, type SplitSearchOptions } from './search';
import { parseNasNode } from './tree';

beforeAll(async () => {
  expect(await useWasmBackend()).toBe('wasm');
});

// 2 edges × 4 ops = 16 architectures; tiny budgets: this checks the schedule, not the quality.
const spec = chainSupernet({ inputSize: 4, width: 6, outputSize: 3, edges: 2 });

function data(n: number, seed: number): Samples {
  const rng = createRng(seed);
  const inputs = Float32Array.from({ length: n * 4 }, () => rng.normal());
  const targets = Int32Array.from({ length: n }, (_, i) => (inputs[i * 4] > 0 ? 0 : inputs[i * 4 + 1] > 0 ? 1 : 2));
  return { inputs, targets, size: n };
}

const train = data(128, 1);
const base = {
  splitSteps: [12, 4],
  finalSteps: 6,
  scoring: { batches: 3, batchSize: 16 },
  training: { batchSize: 16 },
  seed: 7,
} satisfies Omit<SplitSearchOptions, 'method'>;

describe('supernet-tree search (docs/algorithms/gm-nas.md §6.2)', () => {
  it('GM: two binary levels give 4 re-initialised leaves that partition the space, within the budget', () => {
    const before = tf.memory().numTensors;
    const r = runSplitSearch(spec, train, { ...base, method: 'gm' });
    expect(tf.memory().numTensors).toBe(before);
    expect(r.leaves).toHaveLength(4);
    expect(r.trainingSteps).toBe(12 + 2 * 4 + 4 * 6);
    // Root: 2 edges × 4 ops × 3 batches; each child: its 1 unsplit edge × 4 ops × 3 batches.
    expect(r.gmPasses).toBe(24 + 2 * 12);
    const root = r.nodes[0];
    expect(root.split?.scores.map((s) => s.edge)).toEqual([0, 1]);
    expect(
      r.nodes.filter((n) => n.depth === 1).every((n) => n.init === 'inherit' && n.split !== null && n.split.edge !== root.split?.edge),
    ).toBe(true);
    expect(r.leaves.every((l) => l.node.init === 'reinit' && l.node.depth === 2 && l.state.step === 6)).toBe(true);
    const covered = r.leaves.flatMap((l) => architecturesInMask(l.node.mask).map((a) => a.join()));
    expect(new Set(covered).size).toBe(16);
    expect(covered).toHaveLength(16);
    // Nodes are persistable as they are.
    r.nodes.forEach((n) => expect(parseNasNode(spec, JSON.parse(JSON.stringify(n)))).toEqual(n));
    const estimates = leafEstimates(spec, r.leaves, data(64, 2));
    expect(estimates).toHaveLength(16);
    // Reproducible from the seed.
    expect(runSplitSearch(spec, train, { ...base, method: 'gm' }).leaves.map((l) => l.state.params)).toEqual(
      r.leaves.map((l) => l.state.params),
    );
  });

  it('baselines: one-shot keeps the root; few-shot splits edge 0 into singletons; random splits randomly', () => {
    const one = runSplitSearch(spec, train, { ...base, method: 'none', finalSteps: 20 });
    expect(one.leaves).toHaveLength(1);
    expect(one.leaves[0].node.mask).toEqual(fullMask(spec));
    expect(one.trainingSteps).toBe(20);
    expect(one.gmPasses).toBe(0);
    const few = runSplitSearch(spec, train, { ...base, method: 'few-shot', splitSteps: [0], finalSteps: 5 });
    expect(few.leaves.map((l) => l.node.mask[0])).toEqual([0, 1, 2, 3].map((o) => [0, 1, 2, 3].map((p) => p === o)));
    expect(few.trainingSteps).toBe(20);
    const rnd = runSplitSearch(spec, train, { ...base, method: 'random' });
    expect(rnd.leaves).toHaveLength(4);
    expect(rnd.gmPasses).toBe(0);
    expect(rnd.nodes[0].split?.criterion).toBe('random');
    expect(() => runSplitSearch(spec, train, { ...base, method: 'few-shot' })).toThrow(/few-shot splits one edge once/);
    expect(() => runSplitSearch(spec, train, { ...base, method: 'gm', splitSteps: [1, 1, 1] })).toThrow(/no unsplit edge left/);
  });
});
