import type { ParticipationView } from '@flotilla/contracts';
import { cellAt, cellState, countStates, heatmapLayout, sortedByName, weightsAgainstRates } from './heatmap.layout';

/** Two agents over three rounds: b never selected in round 1, a rejected in round 2, b declined in round 2. */
const view: ParticipationView = {
  agents: ['id-b', 'id-a'],
  rates: [0.5, 2 / 3],
  rounds: [
    { round: 0, row: [1, 1], weights: [1, 1], outcomes: ['participated', 'participated'], norms: [1, 1], clipScales: [null, null] },
    { round: 1, row: [null, 1], weights: [null, 2], outcomes: [null, 'clipped'], norms: [null, 9], clipScales: [null, 0.5] },
    { round: 2, row: [0, 0], weights: [3, 1.5], outcomes: ['declined', 'rejected'], norms: [null, 1e4], clipScales: [null, null] },
  ],
};

describe('participation heat-map layout', () => {
  it('reads a cell from its outcome, or from the matrix value for history without outcomes', () => {
    expect(cellState(1, 'clipped')).toBe('clipped');
    expect(cellState(0, 'rejected')).toBe('rejected');
    expect(cellState(1, null)).toBe('participated');
    expect(cellState(0, null)).toBe('missing');
    expect(cellState(null, null)).toBe('not-selected');
  });

  it('counts every cell once', () => {
    expect(countStates(view)).toEqual({
      participated: 2,
      clipped: 1,
      rejected: 1,
      declined: 1,
      timeout: 0,
      missing: 0,
      'not-selected': 1,
    });
  });

  it('gives every round a column, labels round numbers at least the minimum gap apart, and finds the cell under a point', () => {
    const rounds = Array.from({ length: 210 }, (_, i) => i);
    const layout = heatmapLayout(3, rounds);
    // More than 80 rounds: 8 px columns, so 210 rounds are 1680 px wide and scroll in a 1400 px page.
    expect(layout.cellWidth).toBe(8);
    expect(layout.width).toBe(1680);
    expect(layout.height).toBe(3 * 22 + 22);
    // 8 px columns, labels ≥ 48 px apart: every 10th round (5 × 8 = 40 < 48 ≤ 10 × 8).
    expect(layout.ticks.slice(0, 3)).toEqual([
      { round: 0, x: 4 },
      { round: 10, x: 84 },
      { round: 20, x: 164 },
    ]);
    expect(layout.ticks).toHaveLength(21);
    expect(cellAt(layout, 3, 210, 8 * 209 + 7.9, 2 * 22 + 1)).toEqual({ agent: 2, column: 209 });
    expect(cellAt(layout, 3, 210, 8 * 210, 0)).toBeNull();
    expect(cellAt(layout, 3, 210, 0, 3 * 22)).toBeNull(); // the axis, below the last row
    expect(heatmapLayout(2, [0, 1, 2]).cellWidth).toBe(14);
  });

  it("pairs each agent's last FedAU weight with its rate, and sorts rows by name", () => {
    expect(weightsAgainstRates(view)).toEqual([
      { agent: 0, rate: 0.5, weight: 3 },
      { agent: 1, rate: 2 / 3, weight: 1.5 },
    ]);
    const sorted = sortedByName(view, ['b', 'a']);
    expect(sorted.names).toEqual(['a', 'b']);
    expect(sorted.view.agents).toEqual(['id-a', 'id-b']);
    expect(sorted.view.rates).toEqual([2 / 3, 0.5]);
    expect(sorted.view.rounds[1].outcomes).toEqual(['clipped', null]);
    expect(sorted.view.rounds[2].norms).toEqual([1e4, null]);
  });
});
