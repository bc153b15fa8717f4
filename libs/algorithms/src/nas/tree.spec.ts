import { chainSupernet } from './search-space';
import { parseNasNode, rootNode, splitNode } from './tree';

const spec = chainSupernet({ inputSize: 4, width: 4, outputSize: 2, edges: 3 });

describe('supernet tree (docs/algorithms/gm-nas.md §6.1)', () => {
  it('splits a node into one child per group, masking only the split edge', () => {
    const root = rootNode(spec);
    const { parent, children } = splitNode(
      spec,
      root,
      1,
      [
        [0, 3],
        [1, 2],
      ],
      {
        reinit: false,
        scores: [
          {
            edge: 1,
            ops: [0, 1, 2, 3],
            matrix: [
              [1, 0, 0, 0],
              [0, 1, 0, 0],
              [0, 0, 1, 0],
              [0, 0, 0, 1],
            ],
            batches: 5,
          },
        ],
      },
    );
    expect(children.map((c) => c.id)).toEqual(['root.0', 'root.1']);
    expect(children[0].mask).toEqual([
      [true, true, true, true],
      [true, false, false, true],
      [true, true, true, true],
    ]);
    expect(children[1].mask[1]).toEqual([false, true, true, false]);
    expect(children.every((c) => c.parent === 'root' && c.depth === 1 && c.init === 'inherit' && c.split === null)).toBe(true);
    expect(parent.split).toMatchObject({
      edge: 1,
      groups: [
        [0, 3],
        [1, 2],
      ],
      criterion: 'gm',
      children: ['root.0', 'root.1'],
    });
    expect(root.split).toBeNull(); // pure
    // A second level on another edge, re-initialised (the final split with restart = 'final').
    const grand = splitNode(spec, children[1], 0, [[0], [1], [2], [3]], { reinit: true, criterion: 'few-shot' }).children;
    expect(grand.map((c) => c.id)).toEqual(['root.1.0', 'root.1.1', 'root.1.2', 'root.1.3']);
    expect(grand[2].mask).toEqual([
      [false, false, true, false],
      [false, true, true, false],
      [true, true, true, true],
    ]);
    expect(grand.every((c) => c.init === 'reinit' && c.depth === 2)).toBe(true);
  });

  it('rejects groups that do not partition the enabled ops, and double splits', () => {
    const root = rootNode(spec);
    expect(() => splitNode(spec, root, 0, [[0, 1], [2]], { reinit: false })).toThrow(/groups must partition the enabled ops \[0,1,2,3\]/);
    expect(() =>
      splitNode(
        spec,
        root,
        0,
        [
          [0, 1],
          [1, 2, 3],
        ],
        { reinit: false },
      ),
    ).toThrow(/groups must partition/);
    expect(() => splitNode(spec, root, 0, [[0, 1, 2, 3]], { reinit: false })).toThrow(/>= 2 groups/);
    expect(() => splitNode(spec, root, 3, [[0], [1]], { reinit: false })).toThrow(/edge must be an integer in \[0, 3\)/);
    const { parent, children } = splitNode(
      spec,
      root,
      0,
      [
        [0, 1],
        [2, 3],
      ],
      { reinit: false },
    );
    expect(() =>
      splitNode(
        spec,
        parent,
        1,
        [
          [0, 1],
          [2, 3],
        ],
        { reinit: false },
      ),
    ).toThrow(/already split on edge 0/);
    expect(() => splitNode(spec, children[0], 0, [[0], [2]], { reinit: false })).toThrow(/enabled ops \[0,1\]/);
  });

  it('survives a JSON round trip and rejects malformed state', () => {
    const { parent, children } = splitNode(
      spec,
      rootNode(spec),
      2,
      [
        [0, 1],
        [2, 3],
      ],
      {
        reinit: true,
        scores: [
          {
            edge: 2,
            ops: [0, 1, 2, 3],
            matrix: [
              [1, 0.5, 0, 0],
              [0.5, 1, 0, 0],
              [0, 0, 1, 0.5],
              [0, 0, 0.5, 1],
            ],
            batches: 10,
          },
        ],
      },
    );
    for (const node of [parent, ...children]) expect(parseNasNode(spec, JSON.parse(JSON.stringify(node)))).toEqual(node);
    expect(() => parseNasNode(spec, null)).toThrow(/parseNasNode: expected an object/);
    expect(() => parseNasNode(spec, { ...parent, mask: [[true]] })).toThrow(/parseNasNode: mask must have one row per edge/);
    expect(() => parseNasNode(spec, { ...parent, init: 'copy' })).toThrow(/init must be/);
    expect(() => parseNasNode(spec, { ...parent, split: { ...parent.split, children: ['a'] } })).toThrow(/one id per group/);
    expect(() =>
      parseNasNode(spec, { ...parent, split: { ...parent.split, scores: [{ edge: 2, ops: [0], matrix: [[NaN]], batches: 1 }] } }),
    ).toThrow(/split.scores\[0\]/);
  });
});
