// Metric charts on uPlot (canvas: a million logged points reach it as the server's ~1,000 buckets,
// and even tens of thousands of raw points draw in a few milliseconds). One component for a run's
// curves and for several runs overlaid; drag to zoom, double-click or "Reset zoom" to go back.
import { useEffect, useId, useMemo, useRef, type ReactNode } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { api } from "../api.ts";

/** One curve: x values (steps, or epoch ms on the time axis) and y values (null: NaN or missing). */
export interface ChartSeries {
  label: string;
  x: ArrayLike<number>;
  y: ArrayLike<number | null>;
  /** The spread of each downsampled bucket, drawn as a band behind the curve. */
  band?: { min: ArrayLike<number | null>; max: ArrayLike<number | null> };
}

export type XAxis = "step" | "time";

/** Colours readable on white (each ≥ 3:1 against it) and apart from one another. */
export const SERIES_COLORS = ["#1f4e79", "#b5491b", "#2a7a3b", "#7b3fa0", "#a3165a", "#00727a", "#6b5a00", "#c0392b", "#3d5a99", "#5b6b2f", "#8c4a2f", "#0b6e4f", "#8e44ad", "#2c3e50", "#b03a2e", "#1a7f9c", "#7d6608", "#6c3483", "#196f3d", "#873600"];

export const colorOf = (i: number) => SERIES_COLORS[i % SERIES_COLORS.length]!;

/**
 * Exponential moving average with TensorBoard's debiasing (the first points are not pulled toward
 * zero); nulls stay null and do not reset the average.
 */
export function smooth(values: ArrayLike<number | null>, weight: number): (number | null)[] {
  const out = new Array<number | null>(values.length);
  if (weight <= 0) {
    for (let i = 0; i < values.length; i++) out[i] = values[i] ?? null;
    return out;
  }
  let last = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined || !Number.isFinite(v)) {
      out[i] = null;
      continue;
    }
    last = last * weight + (1 - weight) * v;
    n++;
    out[i] = last / (1 - Math.pow(weight, n));
  }
  return out;
}

export interface ChartProps {
  /** The chart's name, shown above it and read by screen readers. */
  title: string;
  series: ChartSeries[];
  xAxis: XAxis;
  /** EMA weight in [0, 1): 0 shows the points as logged. */
  smoothing?: number;
  height?: number;
  /** Called with the x range a user dragged over (then the caller may load finer data for it), or undefined on reset. */
  onZoom?: (range: { min: number; max: number } | undefined) => void;
  /** True while the caller shows a zoomed range (the reset button is highlighted). */
  zoomed?: boolean;
  /** Each series' colour (default: the palette in order). */
  colors?: string[];
}

/** uPlot's aligned table: one x column, then one y column per drawn series. */
function tableOf(series: ChartSeries[], smoothing: number, colors: string[] | undefined): { data: uPlot.AlignedData; drawn: { label: string; color: string; kind: "line" | "raw" | "min" | "max" }[] } {
  const drawn: { label: string; color: string; kind: "line" | "raw" | "min" | "max" }[] = [];
  const tables: uPlot.AlignedData[] = [];
  series.forEach((s, i) => {
    const color = colors?.[i] ?? colorOf(i);
    const columns: (ArrayLike<number | null>)[] = [];
    if (s.band && series.length === 1) {
      columns.push(s.band.min, s.band.max);
      drawn.push({ label: `${s.label} (bucket min)`, color, kind: "min" }, { label: `${s.label} (bucket max)`, color, kind: "max" });
    }
    if (smoothing > 0) {
      columns.push(s.y);
      drawn.push({ label: `${s.label} (raw)`, color, kind: "raw" });
    }
    columns.push(smooth(s.y, smoothing));
    drawn.push({ label: s.label, color, kind: "line" });
    tables.push([s.x as number[], ...(columns as (number | null)[][])]);
  });
  if (tables.length === 1) return { data: tables[0]!, drawn };
  // Runs log at different steps: one shared x column, each run's gaps spanned.
  return { data: uPlot.join(tables), drawn };
}

function fade(hex: string, alpha: number): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

/**
 * A line chart. It marks its container with `data-drawn` (a count of draws) and the page with the
 * performance mark "paved-chart-drawn" each time uPlot finishes drawing (the UI bench waits for it).
 */
export function Chart({ title, series, xAxis, smoothing = 0, height = 260, onZoom, zoomed = false, colors }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const onZoomRef = useRef(onZoom);
  onZoomRef.current = onZoom;
  const { data, drawn } = useMemo(() => tableOf(series, smoothing, colors), [series, smoothing, colors?.join()]);
  const label = `Chart of ${title} by ${xAxis}: ${series.map((s) => s.label).join(", ")}. Drag across it to zoom.`;
  const shape = `${xAxis}|${drawn.map((d) => `${d.kind}:${d.color}:${d.label}`).join("|")}`;

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const width = Math.max(300, el.clientWidth || 600);
    const opts: uPlot.Options = {
      width,
      height,
      // x values on the time axis are epoch milliseconds (uPlot: 1 = one unit is a millisecond; its default 1e-3 means seconds).
      ms: 1,
      scales: { x: { time: xAxis === "time" } },
      axes: [
        { stroke: "#4f5863", grid: { stroke: "#e3e7eb" }, ticks: { stroke: "#d6dbe1" }, label: xAxis === "time" ? "time" : "step" },
        { stroke: "#4f5863", grid: { stroke: "#e3e7eb" }, ticks: { stroke: "#d6dbe1" }, size: 60 },
      ],
      cursor: { drag: { x: true, y: false, setScale: true } },
      legend: { show: true, live: true },
      series: [
        { label: xAxis === "time" ? "time" : "step" },
        ...drawn.map((d): uPlot.Series => {
          if (d.kind === "min" || d.kind === "max") return { label: d.label, stroke: fade(d.color, 0.25), width: 0, points: { show: false }, spanGaps: true };
          if (d.kind === "raw") return { label: d.label, stroke: fade(d.color, 0.3), width: 1, points: { show: false }, spanGaps: true };
          return { label: d.label, stroke: d.color, width: 1.5, points: { show: false }, spanGaps: true };
        }),
      ],
      bands: drawn[0]?.kind === "min" ? [{ series: [2, 1], fill: fade(drawn[0].color, 0.15) }] : [],
      hooks: {
        draw: [
          (u) => {
            u.root.parentElement?.setAttribute("data-drawn", String(Number(u.root.parentElement.getAttribute("data-drawn") ?? 0) + 1));
            performance.mark("paved-chart-drawn");
          },
        ],
        setSelect: [
          (u) => {
            if (u.select.width < 2) return;
            const min = u.posToVal(u.select.left, "x");
            const max = u.posToVal(u.select.left + u.select.width, "x");
            onZoomRef.current?.({ min: Math.floor(min), max: Math.ceil(max) });
          },
        ],
      },
    };
    const u = new uPlot(opts, data, el);
    plot.current = u;
    u.ctx.canvas.setAttribute("role", "img");
    u.ctx.canvas.setAttribute("aria-label", label);
    // Double-click resets uPlot's own zoom; the caller drops its zoomed range too.
    const reset = () => onZoomRef.current?.(undefined);
    u.over.addEventListener("dblclick", reset);
    const resize = new ResizeObserver(() => {
      const w = el.clientWidth;
      if (w > 0 && Math.abs(w - u.width) > 4) u.setSize({ width: w, height });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.over.removeEventListener("dblclick", reset);
      u.destroy();
      plot.current = null;
    };
    // A new shape (series, axis) builds a new plot; new data for the same shape only redraws.
  }, [shape, height]);

  useEffect(() => {
    plot.current?.setData(data, true);
  }, [data]);

  const resetZoom = () => {
    const u = plot.current;
    if (u) {
      const xs = u.data[0];
      if (xs.length) u.setScale("x", { min: xs[0]!, max: xs[xs.length - 1]! });
    }
    onZoom?.(undefined);
  };

  return (
    <figure className="chart">
      <figcaption>
        <span className="chart-title">{title}</span>
        <button type="button" className={zoomed ? "chart-reset zoomed" : "chart-reset"} onClick={resetZoom}>
          Reset zoom
        </button>
      </figcaption>
      <div ref={box} className="chart-canvas" />
    </figure>
  );
}

/** Series up to this many points are drawn from the raw history; longer ones from the server's buckets. */
export const RAW_POINTS_LIMIT = 5000;
const BUCKETS = 1000;

export interface MetricData {
  x: number[];
  y: (number | null)[];
  band?: { min: (number | null)[]; max: (number | null)[] };
  /** Points logged in the range shown. */
  total: number;
  /** True when the curve is the server's buckets (their last values), not every point. */
  downsampled: boolean;
  /** The zoomed range these points were loaded for (undefined: the whole series). */
  range?: { min: number; max: number } | undefined;
}

/**
 * One metric of one run for a chart: the server's downsampled history (client.getMetricBuckets:
 * at most 1,000 buckets with count/min/max/last, answered from chunk summaries), or every point
 * when the series (or the zoomed range) is short enough to draw as logged.
 */
export async function loadMetric(runId: string, key: string, axis: XAxis, opts: { range?: { min: number; max: number } | undefined; raw?: boolean } = {}): Promise<MetricData> {
  const range = opts.range;
  const query = range ? (axis === "step" ? { startStep: range.min, endStep: range.max } : { startTime: range.min, endTime: range.max }) : {};
  const history = await api.getMetricBuckets(runId, key, { points: BUCKETS, axis, ...query });
  const total = history.buckets.reduce((n, b) => n + b.count, 0);
  const exact = history.buckets.every((b) => b.count === 1);
  if (!range && !exact && total <= RAW_POINTS_LIMIT && opts.raw !== false) {
    const points = await api.getMetricHistory(runId, key);
    const sorted = axis === "time" ? [...points].sort((a, b) => a.timestamp - b.timestamp || a.step - b.step) : points;
    return { x: sorted.map((p) => (axis === "time" ? p.timestamp : p.step)), y: sorted.map((p) => p.value), total: points.length, downsampled: false };
  }
  const x = history.buckets.map((b) => (axis === "time" ? b.lastTime : b.lastStep));
  const y = history.buckets.map((b) => b.last);
  if (exact) return { x, y, total, downsampled: false, range };
  return { x, y, band: { min: history.buckets.map((b) => b.min), max: history.buckets.map((b) => b.max) }, total, downsampled: true, range };
}

/** The settings every set of charts shares, each kept in the URL by the page: metric filter, x axis, smoothing. */
export function ChartControls({ filter, onFilter, axis, onAxis, smoothing, onSmoothing, children }: { filter: string; onFilter: (v: string) => void; axis: XAxis; onAxis: (a: XAxis) => void; smoothing: number; onSmoothing: (v: string) => void; children?: ReactNode }) {
  const id = useId();
  return (
    <div className="chart-controls" role="group" aria-label="Chart settings">
      <label>
        Metric
        <input type="search" value={filter} onChange={(e) => onFilter(e.target.value)} placeholder="filter by name" />
      </label>
      <fieldset className="segmented">
        <legend>X axis</legend>
        {(["step", "time"] as const).map((a) => (
          <label key={a}>
            <input type="radio" name={`${id}-x-axis`} value={a} checked={axis === a} onChange={() => onAxis(a)} />
            {a === "step" ? "Step" : "Time"}
          </label>
        ))}
      </fieldset>
      <div className="slider">
        <label htmlFor={`${id}-smooth`}>Smoothing</label>
        <span>
          <input id={`${id}-smooth`} type="range" min={0} max={0.99} step={0.01} value={smoothing} onChange={(e) => onSmoothing(e.target.value === "0" ? "" : e.target.value)} />{" "}
          <output htmlFor={`${id}-smooth`} className="mono">
            {smoothing.toFixed(2)}
          </output>
        </span>
      </div>
      {children}
    </div>
  );
}
