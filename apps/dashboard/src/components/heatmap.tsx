import type { ParticipationView } from '@flotilla/contracts';
import { useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { fixed } from '../format';
import { CELL_STATES, cellAt, cellState, countStates, heatmapLayout, type CellState } from '../heatmap.layout';

const COLOR = Object.fromEntries(CELL_STATES.map((s) => [s.state, s.color])) as Record<CellState, string>;
const LABEL = Object.fromEntries(CELL_STATES.map((s) => [s.state, s.label])) as Record<CellState, string>;

/** What hovering a cell says: the agent, the round, the outcome, the update's norm and FedAU weight. */
function describe(view: ParticipationView, names: string[], agent: number, column: number): string {
  const r = view.rounds[column];
  const state = cellState(r.row[agent], r.outcomes[agent] ?? null);
  const parts = [`${names[agent]} · round ${r.round}: ${LABEL[state]}`];
  const [weight, norm, scale] = [r.weights[agent], r.norms[agent], r.clipScales[agent]];
  if (weight !== null && weight !== undefined) parts.push(`ω ${fixed(weight, 3)}`);
  if (norm !== null && norm !== undefined) parts.push(`update norm ${norm.toExponential(3)}`);
  if (scale !== null && scale !== undefined) parts.push(`scaled by ${fixed(scale, 3)}`);
  return parts.join(' · ');
}

/**
 * The participation heat-map: agents (by name) down, rounds across on a canvas that scrolls horizontally for long
 * jobs, the agent names fixed at the left, a round axis, and a legend with each state's count.
 */
export function Heatmap({ view, names }: { view: ParticipationView; names: string[] }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const drawn = useRef(false);
  const rounds = useMemo(() => view.rounds.map((r) => r.round), [view]);
  const layout = useMemo(() => heatmapLayout(view.agents.length, rounds), [view, rounds]);
  const counts = useMemo(() => countStates(view), [view]);
  const [hover, setHover] = useState<{ text: string; x: number; y: number } | null>(null);

  // A layout effect: the canvas is drawn and scrolled in the same task as the render that gave it its rounds, so nothing
  // (a reader of data-rounds, a person) sees the new column count on an old drawing.
  useLayoutEffect(() => {
    const c = canvas.current;
    if (!c) return;
    // Follow the latest rounds only when the reader is already there (or on the first drawing): someone who scrolled
    // back to look at earlier rounds keeps their place when a round closes.
    const s = scroller.current;
    const following = !drawn.current || !s || s.scrollLeft + s.clientWidth >= s.scrollWidth - 2;
    drawn.current = true;
    const dpr = window.devicePixelRatio || 1;
    c.width = Math.max(1, layout.width) * dpr;
    c.height = layout.height * dpr;
    c.style.width = `${layout.width}px`;
    c.style.height = `${layout.height}px`;
    const g = c.getContext('2d');
    if (!g) return;
    g.scale(dpr, dpr);
    g.clearRect(0, 0, layout.width, layout.height);
    const { cellWidth: w, rowHeight: h } = layout;
    for (const [i, r] of view.rounds.entries())
      for (let a = 0; a < view.agents.length; a++) {
        g.fillStyle = COLOR[cellState(r.row[a], r.outcomes[a] ?? null)];
        g.fillRect(i * w, a * h + 1, Math.max(1, w - (w > 4 ? 1 : 0)), h - 2);
      }
    const axisY = view.agents.length * h;
    g.fillStyle = '#495057';
    g.font = '11px system-ui, sans-serif';
    g.textAlign = 'center';
    g.textBaseline = 'top';
    for (const t of layout.ticks) {
      g.fillRect(t.x, axisY, 1, 4);
      g.fillText(String(t.round), Math.min(Math.max(t.x, 8), layout.width - 8), axisY + 6);
    }
    // The latest rounds are the interesting ones: start scrolled to the right end, and stay there while following.
    if (s && following) s.scrollLeft = s.scrollWidth;
  }, [view, layout]);

  const onMove = (e: MouseEvent) => {
    const rect = canvas.current!.getBoundingClientRect();
    const hit = cellAt(layout, view.agents.length, view.rounds.length, e.clientX - rect.left, e.clientY - rect.top);
    setHover(hit ? { text: describe(view, names, hit.agent, hit.column), x: e.clientX, y: e.clientY } : null);
  };

  if (view.rounds.length === 0) return <p class="muted">No round has opened yet.</p>;
  return (
    <div class="heatmap" id="heatmap">
      <div class="heatmap-body">
        <ul class="heatmap-names" style={{ lineHeight: `${layout.rowHeight}px` }}>
          {names.map((n) => (
            <li key={n} title={n}>
              {n}
            </li>
          ))}
          <li class="muted axis-label">round</li>
        </ul>
        <div class="heatmap-scroll" ref={scroller}>
          <canvas
            ref={canvas}
            id="heatmap-canvas"
            data-rounds={view.rounds.length}
            data-agents={view.agents.length}
            data-first-round={rounds[0]}
            data-last-round={rounds[rounds.length - 1]}
            data-cell-width={layout.cellWidth}
            data-row-height={layout.rowHeight}
            onMouseMove={onMove}
            onMouseLeave={() => setHover(null)}
          />
        </div>
      </div>
      {hover && (
        <div id="heatmap-tip" class="tip" style={{ left: `${hover.x + 12}px`, top: `${hover.y + 12}px` }}>
          {hover.text}
        </div>
      )}
      <ul class="legend" id="heatmap-legend">
        {CELL_STATES.filter((s) => s.state !== 'not-selected' || counts['not-selected'] > 0).map((s) => (
          <li key={s.state} data-state={s.state}>
            <span class="swatch" style={{ background: s.color }} />
            {s.label} <span class="count">{counts[s.state]}</span>
          </li>
        ))}
      </ul>
    </div>
  );
}
