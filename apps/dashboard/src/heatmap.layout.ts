import type { ParticipationOutcome, ParticipationView } from '@flotilla/contracts';

/** What one cell of the participation heat-map shows: an eligible agent's outcome, or that it was not selected. */
export type CellState = ParticipationOutcome | 'missing' | 'not-selected';

/** The legend, in the order it is drawn; colours are readable on white and distinguishable without red–green alone. */
export const CELL_STATES: readonly { state: CellState; label: string; color: string }[] = [
  { state: 'participated', label: 'participated', color: '#2b8a3e' },
  { state: 'clipped', label: 'participated, clipped', color: '#94d82d' },
  { state: 'rejected', label: 'rejected by the update policy', color: '#c92a2a' },
  { state: 'declined', label: 'declined', color: '#f59f00' },
  { state: 'timeout', label: 'timed out', color: '#868e96' },
  { state: 'missing', label: 'selected, no answer', color: '#ced4da' },
  { state: 'not-selected', label: 'not selected', color: '#f8f9fa' },
];

/**
 * A cell's state from the participation matrix: its outcome when the API names one; otherwise 1 is a participation,
 * 0 an eligible agent that sent nothing (an open round, or history from before outcomes were kept), null not selected.
 */
export function cellState(row: 0 | 1 | null, outcome: ParticipationOutcome | null): CellState {
  if (outcome) return outcome;
  if (row === 1) return 'participated';
  return row === 0 ? 'missing' : 'not-selected';
}

/** How many cells of each state the matrix holds. */
export function countStates(view: Pick<ParticipationView, 'rounds'>): Record<CellState, number> {
  const counts = Object.fromEntries(CELL_STATES.map((s) => [s.state, 0])) as Record<CellState, number>;
  for (const r of view.rounds) for (const [a, v] of r.row.entries()) counts[cellState(v, r.outcomes[a] ?? null)] += 1;
  return counts;
}

/** Geometry of the heat-map's canvas: one column per round, one row per agent, the round axis below. */
export interface HeatmapLayout {
  cellWidth: number;
  rowHeight: number;
  axisHeight: number;
  width: number;
  height: number;
  /** Round numbers written on the axis and the x of their column's centre. */
  ticks: { round: number; x: number }[];
}

/** Options of {@link heatmapLayout}. */
export interface HeatmapOptions {
  /** Width of a round's column in CSS pixels (default 14; 8 for jobs of more than 80 rounds, which then scroll sideways). */
  cellWidth?: number;
  /** Height of an agent's row in CSS pixels (default 22, the agent-name column's line height). */
  rowHeight?: number;
  /** Least distance between two round numbers on the axis, in CSS pixels (default 48). */
  minTickGap?: number;
}

/** Steps between labelled rounds: the smallest of 1, 2, 5, 10, 20, 50, … that keeps labels `minTickGap` apart. */
function tickStep(cellWidth: number, minTickGap: number): number {
  for (let magnitude = 1; ; magnitude *= 10) for (const m of [1, 2, 5]) if (m * magnitude * cellWidth >= minTickGap) return m * magnitude;
}

export function heatmapLayout(agents: number, rounds: readonly number[], options: HeatmapOptions = {}): HeatmapLayout {
  const cellWidth = options.cellWidth ?? (rounds.length > 80 ? 8 : 14);
  const rowHeight = options.rowHeight ?? 22;
  const axisHeight = 22;
  const step = tickStep(cellWidth, options.minTickGap ?? 48);
  const ticks = rounds.flatMap((round, i) => (round % step === 0 ? [{ round, x: i * cellWidth + cellWidth / 2 }] : []));
  return { cellWidth, rowHeight, axisHeight, width: rounds.length * cellWidth, height: agents * rowHeight + axisHeight, ticks };
}

/** The cell under a point of the canvas (CSS pixels), or null outside the cells. */
export function cellAt(
  layout: HeatmapLayout,
  agents: number,
  rounds: number,
  x: number,
  y: number,
): { agent: number; column: number } | null {
  const column = Math.floor(x / layout.cellWidth);
  const agent = Math.floor(y / layout.rowHeight);
  if (x < 0 || y < 0 || column >= rounds || agent >= agents) return null;
  return { agent, column };
}

/**
 * Each agent's last FedAU weight ω in the matrix (null if it never had one) against its observed participation rate:
 * the points of the weights chart, sorted by rate.
 */
export function weightsAgainstRates(view: ParticipationView): { agent: number; rate: number; weight: number }[] {
  const points: { agent: number; rate: number; weight: number }[] = [];
  for (const [a, rate] of view.rates.entries()) {
    let weight: number | null = null;
    for (const r of view.rounds) weight = r.weights[a] ?? weight;
    if (weight !== null) points.push({ agent: a, rate, weight });
  }
  return points.sort((p, q) => p.rate - q.rate || p.agent - q.agent);
}

/** The matrix with its agents (rows) in the order of their names, and the names in that order. */
export function sortedByName(view: ParticipationView, names: string[]): { view: ParticipationView; names: string[] } {
  const order = names.map((_, i) => i).sort((a, b) => names[a].localeCompare(names[b]) || a - b);
  const pick = <T>(xs: T[]) => order.map((i) => xs[i]);
  return {
    names: pick(names),
    view: {
      agents: pick(view.agents),
      rates: pick(view.rates),
      rounds: view.rounds.map((r) => ({
        round: r.round,
        row: pick(r.row),
        weights: pick(r.weights),
        outcomes: pick(r.outcomes),
        norms: pick(r.norms),
        clipScales: pick(r.clipScales),
      })),
    },
  };
}
