import { createRng } from '../random';
import { allowedPartitions, balancedPartition, partitionCosts, randomPartition, selectEdge } from './partition';

/** An n-op GM matrix with 1 on the diagonal and `f(i, j)` off it. */
function gm(n: number, f: (i: number, j: number) => number): number[][] {
  return Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : f(i, j))));
}

// docs/algorithms/gm-nas.md §12, check 1: two clusters, 0.9 within {0,1}, 0.8 within {2,3,4}, −0.2 across.
const clustered = gm(5, (i, j) => (i < 2 === j < 2 ? (i < 2 ? 0.9 : 0.8) : -0.2));
// Check 2: every pair at 0.9.
const flat = gm(5, () => 0.9);

describe('balanced partition (docs/algorithms/gm-nas.md §4)', () => {
  it('case 1: finds the two clusters; min-cut −1.2, NB201 score 7.2', () => {
    const p = balancedPartition(clustered);
    expect(p.groups).toEqual([
      [0, 1],
      [2, 3, 4],
    ]);
    // 2 × 3 = 6 cross pairs at −0.2 → cut = −1.2; their distances 6 × 1.2 = 7.2.
    expect(p.cut).toBeCloseTo(-1.2, 12);
    expect(p.crossDistance).toBeCloseTo(7.2, 12);
    // Within: (1 − 0.9) + 3 × (1 − 0.8) = 0.7.
    expect(p.withinDistance).toBeCloseTo(0.7, 12);
  });

  it('case 2: all pairs equal → the first 2/3 partition in lexicographic order; min-cut 5.4, score 0.6', () => {
    const p = balancedPartition(flat);
    expect(p.groups).toEqual([
      [0, 1],
      [2, 3, 4],
    ]);
    expect(p.cut).toBeCloseTo(6 * 0.9, 12);
    expect(p.crossDistance).toBeCloseTo(6 * 0.1, 12);
    expect(p.withinDistance).toBeCloseTo(4 * 0.1, 12); // 1 + 3 within pairs at distance 0.1
  });

  it('case 4: permuting the ops permutes the groups and keeps the cut', () => {
    // Row i of the permuted matrix is op perm[i] of case 1.
    const perm = [3, 0, 4, 1, 2];
    const permuted = perm.map((a) => perm.map((b) => clustered[a][b]));
    const p = balancedPartition(permuted);
    // Ops {0,1} sit at rows {1,3}; ops {2,3,4} at rows {0,2,4}.
    expect(p.groups).toEqual([
      [1, 3],
      [0, 2, 4],
    ]);
    expect(p.cut).toBeCloseTo(-1.2, 12);
    // Through selectEdge the groups come back as op indices.
    expect(selectEdge([{ edge: 0, ops: perm, matrix: permuted }]).groups).toEqual([
      [0, 1],
      [2, 3, 4],
    ]);
  });

  it('the two objectives differ when several size patterns are allowed (7 ops, DARTS 2/5 or 3/4)', () => {
    // All pairs at 0.5. 2/5 has 10 cross and 11 within pairs; 3/4 has 12 cross and 9 within.
    // cut: 10 × 0.5 = 5 < 6 → 2/5. withinDistance: 9 × 0.5 = 4.5 < 5.5 → 3/4. First in order wins.
    const half = gm(7, () => 0.5);
    expect(balancedPartition(half, { objective: 'cut' }).groups).toEqual([
      [0, 1],
      [2, 3, 4, 5, 6],
    ]);
    const w = balancedPartition(half, { objective: 'withinDistance' });
    expect(w.groups).toEqual([
      [0, 1, 2],
      [3, 4, 5, 6],
    ]);
    expect(w.withinDistance).toBeCloseTo(4.5, 12);
  });

  it('3-way split finds three pairs, and enumerates each unordered partition once', () => {
    const pairs = gm(6, (i, j) => (Math.floor(i / 2) === Math.floor(j / 2) ? 0.9 : 0));
    expect(balancedPartition(pairs, { groups: 3 }).groups).toEqual([
      [0, 1],
      [2, 3],
      [4, 5],
    ]);
    // 6!/(2!³·3!) = 15 pairings; 2 groups of 6 ops: C(6,2) + C(6,3)/2 = 15 + 10 = 25; 4 ops: 3; 5 ops: C(5,2) = 10.
    expect([...allowedPartitions(6, { groups: 3 })]).toHaveLength(15);
    expect([...allowedPartitions(6)]).toHaveLength(25);
    expect([...allowedPartitions(4)]).toEqual([
      [
        [0, 1],
        [2, 3],
      ],
      [
        [0, 2],
        [1, 3],
      ],
      [
        [0, 3],
        [1, 2],
      ],
    ]);
    expect([...allowedPartitions(5)]).toHaveLength(10);
  });

  it('symmetrises the matrix and checks its arguments', () => {
    const m = [
      [1, 0.2, 0],
      [0.4, 1, 0],
      [0, 0, 1],
    ];
    // Pair (0,1) counts (0.2 + 0.4)/2 = 0.3. 3 ops, 2 groups → min group size 1.
    expect(partitionCosts(m, [[0, 1], [2]]).withinDistance).toBeCloseTo(0.7, 12);
    expect(() => balancedPartition([[1]])).toThrow(/balancedPartition: the GM matrix must be square/);
    expect(() => balancedPartition(flat, { minGroupSize: 3 })).toThrow(/minGroupSize/);
    expect(() => balancedPartition(flat, { groups: 6 })).toThrow(/groups/);
    expect(() =>
      partitionCosts(flat, [
        [0, 1],
        [2, 3],
      ]),
    ).toThrow(/partition 0..4/);
  });

  it('random partitions are allowed ones and follow the seed', () => {
    const a = randomPartition(5, createRng(4));
    expect(a).toEqual(randomPartition(5, createRng(4)));
    expect([...allowedPartitions(5)]).toContainEqual(a);
  });
});

describe('edge selection (docs/algorithms/gm-nas.md §5)', () => {
  it('case 3: minCut picks the clustered edge, minWithinDistance the flat one', () => {
    const candidates = [
      { edge: 0, ops: [0, 1, 2, 3, 4], matrix: clustered },
      { edge: 1, ops: [0, 1, 2, 3, 4], matrix: flat },
    ];
    // NB201 scores 7.2 vs 0.6 → edge 0; within-distances 0.7 vs 0.4 → edge 1.
    expect(selectEdge(candidates).edge).toBe(0);
    expect(selectEdge(candidates, { rule: 'minWithinDistance' }).edge).toBe(1);
    // Not an artefact of the order.
    const reversed = [...candidates].reverse();
    expect(selectEdge(reversed).edge).toBe(0);
    expect(selectEdge(reversed, { rule: 'minWithinDistance' }).edge).toBe(1);
    const s = selectEdge(candidates);
    expect(s.groups).toEqual([
      [0, 1],
      [2, 3, 4],
    ]);
    expect(s.candidates.map((c) => c.crossDistance)).toEqual([expect.closeTo(7.2, 12), expect.closeTo(0.6, 12)]);
  });

  it('ties go to the earliest candidate', () => {
    expect(
      selectEdge([
        { edge: 2, ops: [0, 1, 2, 3, 4], matrix: flat },
        { edge: 1, ops: [0, 1, 2, 3, 4], matrix: flat },
      ]).edge,
    ).toBe(2);
    expect(() => selectEdge([])).toThrow(/selectEdge: needs at least one candidate/);
  });
});
