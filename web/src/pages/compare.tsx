// Compare 2–20 runs (/compare?runs=a,b,c): their curves overlaid (one series per run, per metric),
// their parameters side by side (differences highlighted, or only those), and parallel coordinates
// (params and final metrics as axes, one polyline per run, drawn as SVG by React).
import { useMemo, useState } from "react";
import { api } from "../api.ts";
import { Chart, ChartControls, colorOf, loadMetric, type ChartSeries, type XAxis } from "../components/chart.tsx";
import { Empty, ErrorNotice, Loading, PageHeader } from "../components/common.tsx";
import { useApi } from "../components/use-api.ts";
import { Link, seg, useQueryParam } from "../router.tsx";
import type { PageProps } from "../page-props.ts";
import type { RunView } from "../../../src/client/types.ts";
import { formatValue, isSystemMetric } from "./run.tsx";
import "./run.css";

export const MIN_RUNS = 2;
export const MAX_RUNS = 20;

interface Compared {
  run: RunView;
  label: string;
  color: string;
}

/** Run ids from ?runs= (comma separated), in order, each once. */
export function parseRunIds(value: string): string[] {
  return [...new Set(value.split(",").map((s) => s.trim()).filter(Boolean))];
}

/** Each run's name for legends; runs sharing a name get their id's start to tell them apart. */
function labelsOf(runs: RunView[]): string[] {
  const count = new Map<string, number>();
  for (const r of runs) count.set(r.name, (count.get(r.name) ?? 0) + 1);
  return runs.map((r) => (!r.name ? r.id.slice(0, 8) : (count.get(r.name) ?? 0) > 1 ? `${r.name} (${r.id.slice(0, 6)})` : r.name));
}

export default function ComparePage(_props: PageProps) {
  const [runsParam] = useQueryParam("runs", "");
  const ids = parseRunIds(runsParam);
  const valid = ids.length >= MIN_RUNS && ids.length <= MAX_RUNS;
  const loaded = useApi(async () => (valid ? Promise.all(ids.map((id) => api.getRun(id))) : []), [ids.join(",")]);
  const compared = useMemo<Compared[]>(() => {
    const runs = loaded.data ?? [];
    const labels = labelsOf(runs);
    return runs.map((run, i) => ({ run, label: labels[i]!, color: colorOf(i) }));
  }, [loaded.data]);

  if (!valid) {
    return (
      <>
        <PageHeader title="Compare runs" help="tracking" />
        <ErrorNotice error={new Error(`compare takes ${MIN_RUNS} to ${MAX_RUNS} runs; this link names ${ids.length}. Choose runs on the runs page, or give their ids as /compare?runs=<id>,<id>`)} />
        <p>
          <Link to="/runs">Go to the runs</Link>
        </p>
      </>
    );
  }
  return (
    <div className="compare">
      <PageHeader title={`Compare ${ids.length} runs`} help="tracking" />
      {loaded.error ? <ErrorNotice error={loaded.error} title="A run could not be loaded" /> : null}
      {!loaded.data && !loaded.error ? <Loading what="Loading the runs" /> : null}
      {compared.length ? (
        <>
          <ul className="run-legend" aria-label="Runs compared">
            {compared.map((c) => (
              <li key={c.run.id}>
                <span className="swatch" style={{ background: c.color }} aria-hidden="true" />
                <Link to={`/runs/${seg(c.run.id)}`}>{c.label}</Link>
              </li>
            ))}
          </ul>
          <Curves compared={compared} />
          <ParamDiff compared={compared} />
          <ParallelCoordinates compared={compared} />
        </>
      ) : null}
    </div>
  );
}

// ── overlaid curves ──────────────────────────────────────────────────────────────────────────────

function Curves({ compared }: { compared: Compared[] }) {
  const [x, setX] = useQueryParam("x", "step");
  const [smoothParam, setSmooth] = useQueryParam("smooth", "0");
  const [filter, setFilter] = useQueryParam("metric", "");
  const axis: XAxis = x === "time" ? "time" : "step";
  const smoothing = Math.min(0.99, Math.max(0, Number(smoothParam) || 0));
  const keys = [...new Set(compared.flatMap((c) => Object.keys(c.run.metrics)))].filter((k) => !isSystemMetric(k)).sort();
  const shown = keys.filter((k) => k.toLowerCase().includes(filter.toLowerCase()));
  return (
    <section aria-labelledby="compare-curves">
      <h2 id="compare-curves">Curves</h2>
      <ChartControls filter={filter} onFilter={setFilter} axis={axis} onAxis={setX} smoothing={smoothing} onSmoothing={setSmooth} />
      {!keys.length ? <Empty>None of these runs logged a metric.</Empty> : !shown.length ? <Empty>No metric matches “{filter}”.</Empty> : null}
      <div className="chart-grid">
        {shown.map((key) => (
          <CompareChart key={`${key}|${axis}`} metric={key} compared={compared.filter((c) => key in c.run.metrics)} axis={axis} smoothing={smoothing} />
        ))}
      </div>
    </section>
  );
}

function CompareChart({ metric, compared, axis, smoothing }: { metric: string; compared: Compared[]; axis: XAxis; smoothing: number }) {
  const [range, setRange] = useState<{ min: number; max: number } | undefined>(undefined);
  const ids = compared.map((c) => c.run.id).join(",");
  const { data, error } = useApi(() => Promise.all(compared.map((c) => loadMetric(c.run.id, metric, axis, { range }))), [ids, metric, axis, range?.min, range?.max]);
  const series = useMemo<ChartSeries[]>(() => (data ? data.map((d, i) => ({ label: compared[i]!.label, x: d.x, y: d.y })) : []), [data, compared]);
  // Colours follow the run's place among all runs compared, not among those that logged this metric.
  return (
    <div className="panel chart-panel">
      {error ? <ErrorNotice error={error} title={metric} /> : null}
      {data ? (
        <Chart title={metric} series={series} xAxis={axis} smoothing={smoothing} zoomed={range !== undefined} onZoom={data.some((d) => d.downsampled) || range ? setRange : undefined} colors={compared.map((c) => c.color)} />
      ) : error ? null : (
        <Loading what={`Loading ${metric}`} />
      )}
    </div>
  );
}

// ── parameter diff ───────────────────────────────────────────────────────────────────────────────

function ParamDiff({ compared }: { compared: Compared[] }) {
  const [diffOnly, setDiffOnly] = useQueryParam("diff", "");
  const keys = [...new Set(compared.flatMap((c) => Object.keys(c.run.params)))].sort();
  const differs = (k: string) => new Set(compared.map((c) => c.run.params[k] ?? "\u0000missing")).size > 1;
  const rows = keys.filter((k) => !diffOnly || differs(k));
  const differing = keys.filter(differs).length;
  return (
    <section aria-labelledby="compare-params" className="param-diff">
      <h2 id="compare-params">Parameters</h2>
      <div className="toolbar">
        <label className="checkbox">
          <input type="checkbox" checked={diffOnly === "1"} onChange={(e) => setDiffOnly(e.target.checked ? "1" : "")} /> Only differences
        </label>
        <span className="hint">
          {differing} of {keys.length} parameters differ (marked ≠).
        </span>
      </div>
      {!keys.length ? (
        <Empty>None of these runs logged a parameter.</Empty>
      ) : !rows.length ? (
        <Empty>Every parameter is the same in all these runs.</Empty>
      ) : (
        <div className="table-scroll" tabIndex={0} role="region" aria-label="Parameters of each run">
          <table>
            <thead>
              <tr>
                <th scope="col">Parameter</th>
                {compared.map((c) => (
                  <th scope="col" key={c.run.id}>
                    <span className="swatch" style={{ background: c.color }} aria-hidden="true" />
                    {c.label}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((k) => {
                const d = differs(k);
                return (
                  <tr key={k} className={d ? "differs" : undefined}>
                    <th scope="row" className="mono">
                      {d ? (
                        <span className="marker" title="differs between runs">
                          ≠{" "}
                        </span>
                      ) : null}
                      {k}
                      {d ? <span className="visually-hidden"> (differs)</span> : null}
                    </th>
                    {compared.map((c) => {
                      const v = c.run.params[k];
                      return v === undefined ? (
                        <td key={c.run.id} className="missing">
                          not set
                        </td>
                      ) : (
                        <td key={c.run.id} className="mono">
                          {v}
                        </td>
                      );
                    })}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

// ── parallel coordinates ─────────────────────────────────────────────────────────────────────────

interface Axis {
  label: string;
  kind: "param" | "metric";
  values: (string | number | undefined)[];
  /** Where each run sits on the axis, 0 (bottom) to 1 (top); undefined when it has no value. */
  position: (i: number) => number | undefined;
  ticks: { at: number; text: string }[];
}

const MAX_AXES = 16;

function axisOf(label: string, kind: Axis["kind"], raw: (string | number | null | undefined)[]): Axis | undefined {
  const values = raw.map((v) => (v === null || v === undefined ? undefined : v));
  const present = values.filter((v): v is string | number => v !== undefined);
  if (!present.length) return undefined;
  const numeric = present.every((v) => typeof v === "number" || (v.trim() !== "" && Number.isFinite(Number(v))));
  if (numeric) {
    const nums = values.map((v) => (v === undefined ? undefined : Number(v)));
    const defined = nums.filter((n): n is number => n !== undefined);
    const lo = Math.min(...defined);
    const hi = Math.max(...defined);
    const pos = (n: number) => (hi === lo ? 0.5 : (n - lo) / (hi - lo));
    return {
      label,
      kind,
      values,
      position: (i) => (nums[i] === undefined ? undefined : pos(nums[i]!)),
      ticks: hi === lo ? [{ at: 0.5, text: formatValue(lo) }] : [{ at: 0, text: formatValue(lo) }, { at: 1, text: formatValue(hi) }],
    };
  }
  const categories = [...new Set(present.map(String))].sort();
  const pos = (v: string) => (categories.length === 1 ? 0.5 : categories.indexOf(v) / (categories.length - 1));
  return {
    label,
    kind,
    values,
    position: (i) => (values[i] === undefined ? undefined : pos(String(values[i]))),
    ticks: categories.slice(0, 12).map((c) => ({ at: pos(c), text: c.length > 18 ? `${c.slice(0, 17)}…` : c })),
  };
}

function ParallelCoordinates({ compared }: { compared: Compared[] }) {
  const axes = useMemo(() => {
    const paramKeys = [...new Set(compared.flatMap((c) => Object.keys(c.run.params)))].sort();
    const differing = paramKeys.filter((k) => new Set(compared.map((c) => c.run.params[k])).size > 1);
    const metricKeys = [...new Set(compared.flatMap((c) => Object.keys(c.run.metrics)))].filter((k) => !isSystemMetric(k)).sort();
    const list: Axis[] = [];
    for (const k of differing.length ? differing : paramKeys) {
      const a = axisOf(k, "param", compared.map((c) => c.run.params[k]));
      if (a) list.push(a);
    }
    for (const k of metricKeys) {
      const a = axisOf(k, "metric", compared.map((c) => c.run.metrics[k]?.value));
      if (a) list.push(a);
    }
    return list.slice(0, MAX_AXES);
  }, [compared]);

  if (axes.length < 2) {
    return (
      <section aria-labelledby="compare-parallel">
        <h2 id="compare-parallel">Parallel coordinates</h2>
        <Empty>Parallel coordinates need at least two parameters or metrics among these runs.</Empty>
      </section>
    );
  }
  const gap = 150;
  const left = 70;
  const top = 44;
  const plotHeight = 260;
  const width = left * 2 + gap * (axes.length - 1);
  const height = top + plotHeight + 40;
  const y = (p: number) => top + (1 - p) * plotHeight;
  const xOf = (i: number) => left + i * gap;
  const description = compared
    .map((c, i) => `${c.label}: ${axes.map((a) => `${a.label} ${a.values[i] === undefined ? "not set" : typeof a.values[i] === "number" ? formatValue(a.values[i] as number) : String(a.values[i])}`).join(", ")}`)
    .join("; ");
  return (
    <section aria-labelledby="compare-parallel">
      <h2 id="compare-parallel">Parallel coordinates</h2>
      <p className="hint">
        One line per run through {axes.filter((a) => a.kind === "param").length} parameters (those that differ) and {axes.filter((a) => a.kind === "metric").length} final metrics
        {axes.length === MAX_AXES ? ` (the first ${MAX_AXES} axes)` : ""}.
      </p>
      <div className="parallel panel">
        <svg viewBox={`0 0 ${width} ${height}`} width={width} height={height} role="img" aria-label={`Parallel coordinates of ${compared.length} runs. ${description}`}>
          {axes.map((a, i) => (
            <g key={`${a.kind}:${a.label}`} className="axis">
              <line x1={xOf(i)} x2={xOf(i)} y1={top} y2={top + plotHeight} />
              <text x={xOf(i)} y={top - 24} textAnchor="middle" fontWeight={600}>
                {a.label.length > 22 ? `${a.label.slice(0, 21)}…` : a.label}
              </text>
              <text x={xOf(i)} y={top - 10} textAnchor="middle" className="tick">
                {a.kind}
              </text>
              {a.ticks.map((t, j) => (
                <text key={j} x={xOf(i) + 5} y={y(t.at) + 4} className="tick">
                  {t.text}
                </text>
              ))}
            </g>
          ))}
          {compared.map((c, r) => {
            // A run without a value on an axis breaks its line there.
            const segments: string[] = [];
            let current = "";
            axes.forEach((a, i) => {
              const p = a.position(r);
              if (p === undefined) {
                if (current) segments.push(current);
                current = "";
              } else current += `${current ? " L" : "M"} ${xOf(i)} ${y(p).toFixed(1)}`;
            });
            if (current) segments.push(current);
            return (
              <path key={c.run.id} className="line" d={segments.join(" ")} stroke={c.color}>
                <title>{c.label}</title>
              </path>
            );
          })}
        </svg>
      </div>
    </section>
  );
}
