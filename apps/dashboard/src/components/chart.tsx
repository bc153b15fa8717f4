import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** One line (or set of points) of a chart. */
export interface ChartSeries {
  label: string;
  values: (number | null)[];
  color: string;
  /** Points only, no line (a scatter plot over sorted x). */
  pointsOnly?: boolean;
}

/** Options of {@link Chart}. */
export interface ChartProps {
  id: string;
  title: string;
  x: number[];
  xLabel: string;
  yLabel: string;
  series: ChartSeries[];
  /** Format of y values on the axis and in the legend (default 4 significant digits). */
  formatY?: (v: number) => string;
  /** Fixed y range (e.g. [0, 1] for a rate); default fitted to the data. */
  yRange?: [number, number];
  height?: number;
}

const defaultFormat = (v: number) =>
  Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2) : String(+v.toPrecision(4));

/**
 * A uPlot chart on a canvas, with labelled axes and a legend that follows the cursor. Its size follows its container;
 * `data-points` says how many x values it plots (tests read it, since a canvas has no DOM to inspect).
 */
export function Chart(props: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const format = props.formatY ?? defaultFormat;
    const options: uPlot.Options = {
      width: Math.max(320, el.clientWidth),
      height: props.height ?? 260,
      scales: {
        x: { time: false },
        y: props.yRange ? { range: props.yRange } : {},
      },
      axes: [
        { label: props.xLabel, stroke: '#495057', grid: { stroke: '#eef0f2' } },
        { label: props.yLabel, stroke: '#495057', grid: { stroke: '#eef0f2' }, values: (_u, ticks) => ticks.map(format), size: 60 },
      ],
      cursor: { drag: { x: true, y: false } },
      series: [
        { label: props.xLabel },
        ...props.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          value: (_u: uPlot, v: number | null) => (v === null ? '—' : format(v)),
          points: { show: s.pointsOnly ? true : props.x.length <= 60, size: s.pointsOnly ? 8 : 5, fill: s.color },
          ...(s.pointsOnly ? { paths: () => null } : {}),
        })),
      ],
    };
    const plot = new uPlot(options, [props.x, ...props.series.map((s) => s.values)] as uPlot.AlignedData, el);
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(320, el.clientWidth), height: options.height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [JSON.stringify([props.x, props.series, props.yRange])]);
  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      <div ref={box} id={props.id} class="chart-box" data-points={props.x.length} />
    </figure>
  );
}
