import { lineOfField } from './spec-lines';

describe('lineOfField', () => {
  const text = JSON.stringify({ kind: 'federated', model: { arch: 'mlp', hidden: 0 }, rounds: 0, runs: [{ seed: 1 }] }, null, 2);
  // {                    1
  //   "kind": …,         2
  //   "model": {         3
  //     "arch": "mlp",   4
  //     "hidden": 0      5
  //   },                 6
  //   "rounds": 0,       7
  //   "runs": [          8
  //     {                9
  //       "seed": 1     10

  it('finds a nested key after its parent, skipping array indices', () => {
    expect(lineOfField(text, 'model.hidden')).toBe(5);
    expect(lineOfField(text, 'rounds')).toBe(7);
    expect(lineOfField(text, 'runs.0.seed')).toBe(10);
  });

  it('falls back to the deepest key found, and to the first line for the root', () => {
    expect(lineOfField(text, 'model.nosuch')).toBe(3);
    expect(lineOfField(text, '(root)')).toBe(1);
    expect(lineOfField(text, 'nosuch')).toBe(1);
  });
});
