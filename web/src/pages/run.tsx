// One run: what it was (status, times, who, code, params, tags), its curves (one chart per metric,
// downsampled by the server for long series), the machine's metrics (GPU utilisation and memory as
// the compute module logs them: system/…), its job's log, its artifacts with previews, and its
// lineage. The tab and each tab's state live in the URL (?tab=metrics&x=time&smooth=0.6).
import { useMemo, useState } from "react";
import { api } from "../api.ts";
import { useLive } from "../live.ts";
import { ArtifactPreview, formatBytes } from "../components/artifact-preview.tsx";
import { Chart, ChartControls, loadMetric, type MetricData, type XAxis } from "../components/chart.tsx";
import { Empty, ErrorNotice, Loading, PageHeader, StateBadge, Time } from "../components/common.tsx";
import { useApi } from "../components/use-api.ts";
import { Link, seg, useQueryParam, withQuery, useLocation } from "../router.tsx";
import type { PageProps } from "../page-props.ts";
import type { LineageGraph, LineageNode, RunView } from "../../../src/client/types.ts";
import "./run.css";

const TABS = [
  ["overview", "Overview"],
  ["metrics", "Metrics"],
  ["system", "System"],
  ["logs", "Logs"],
  ["artifacts", "Artifacts"],
  ["lineage", "Lineage"],
] as const;
type Tab = (typeof TABS)[number][0];

/** How often a running run's page reloads what changes without an event (params, curves, log). */
const LIVE_MS = 5000;

export const isSystemMetric = (key: string) => key.startsWith("system/");

/**
 * The run's first load starts while the page renders, not in an effect: React reveals a lazily
 * loaded page up to 300 ms after it rendered (its Suspense throttle), and effects wait for that.
 */
interface Started<T> {
  promise: Promise<T>;
  settledAt?: number;
}
const firstLoads = new Map<string, Started<RunView>>();
const firstMetricLoads = new Map<string, Started<MetricData>>();
const PREFETCHED_CHARTS = 24;
/** How long a load started by the render answers the loads that ask for it (a remount, a reload right after). */
const FRESH_MS = 1000;

function started<T>(promise: Promise<T>): Started<T> {
  const entry: Started<T> = { promise };
  const settle = () => {
    entry.settledAt = Date.now();
  };
  promise.then(settle, settle);
  return entry;
}

/** Starts the run's load and, on a metrics tab, its charts' loads as soon as the run's keys are known. */
function startFirstLoad(id: string, charts?: { system: boolean; axis: XAxis; filter: string }): void {
  if (take(firstLoads, id)) return;
  const load = api.getRun(id);
  firstLoads.set(id, started(load));
  if (!charts) return;
  load.then(
    (run) => {
      const keys = Object.keys(run.metrics).filter((k) => isSystemMetric(k) === charts.system && k.toLowerCase().includes(charts.filter.toLowerCase()));
      for (const key of keys.slice(0, PREFETCHED_CHARTS)) firstMetricLoads.set(`${id}|${key}|${charts.axis}`, started(loadMetric(id, key, charts.axis)));
    },
    () => undefined,
  );
}

/** A load the render started, while it is in flight or just answered; later loads ask the server again. */
function take<T>(map: Map<string, Started<T>>, key: string): Promise<T> | undefined {
  const entry = map.get(key);
  if (!entry) return undefined;
  if (entry.settledAt !== undefined && Date.now() - entry.settledAt > FRESH_MS) {
    map.delete(key);
    return undefined;
  }
  return entry.promise;
}
const loadRun = (id: string) => take(firstLoads, id) ?? api.getRun(id);

export default function RunPage({ params }: PageProps) {
  const id = params.id ?? "";
  const [tabParam] = useQueryParam("tab", "overview");
  const tab: Tab = (TABS.find(([t]) => t === tabParam)?.[0] ?? "overview") as Tab;
  const [live, setLive] = useState(false);
  // Polled while running: params, tags and metrics change without an event; the end of the run
  // (and any reset of the stream) arrives over the live feed at once.
  const [xParam] = useQueryParam("x", "");
  const [metricFilter] = useQueryParam("metric", "");
  const chartsTab = tab === "metrics" || tab === "system";
  startFirstLoad(id, chartsTab ? { system: tab === "system", axis: (xParam || (tab === "system" ? "time" : "step")) === "time" ? "time" : "step", filter: metricFilter } : undefined);
  const run = useApi(() => loadRun(id), [id], { refreshMs: live ? LIVE_MS : undefined });
  useLive(["runs"], (m) => {
    if (m.type === "reset" || m.event.id === id) run.reload();
  });
  const running = run.data?.status === "RUNNING";
  if (running !== live && run.data) setLive(running);
  const location = useLocation();

  if (run.error && !run.data) {
    return (
      <>
        <PageHeader title="Run" help="tracking" />
        <ErrorNotice error={run.error} />
      </>
    );
  }
  if (!run.data) return <Loading what="Loading the run" />;
  const r = run.data;
  return (
    <>
      <PageHeader title={r.name || r.id} help="tracking">
        <StateBadge state={r.status} />
        <Link to={`/experiments/${seg(r.experimentId)}`} className="button">
          Runs of this experiment
        </Link>
      </PageHeader>
      <nav className="tabs" aria-label="Run sections">
        {TABS.map(([t, label]) => (
          <Link key={t} to={withQuery({ tab: t === "overview" ? undefined : t, path: undefined, file: undefined }, location)} aria-current={t === tab ? "page" : undefined}>
            {label}
          </Link>
        ))}
      </nav>
      {tab === "overview" ? <Overview run={r} /> : null}
      {tab === "metrics" ? <MetricsTab run={r} keys={Object.keys(r.metrics).filter((k) => !isSystemMetric(k)).sort()} live={running} kind="metrics" /> : null}
      {tab === "system" ? <MetricsTab run={r} keys={Object.keys(r.metrics).filter(isSystemMetric).sort(bySystemOrder)} live={running} kind="system" /> : null}
      {tab === "logs" ? <LogsTab run={r} live={running} /> : null}
      {tab === "artifacts" ? <ArtifactsTab run={r} /> : null}
      {tab === "lineage" ? <LineageTab run={r} /> : null}
    </>
  );
}

// ── overview ─────────────────────────────────────────────────────────────────────────────────────

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function formatValue(v: number | null | undefined): string {
  if (v === null || v === undefined) return "NaN";
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(4) : String(Number(v.toPrecision(6)));
}

function Overview({ run }: { run: RunView }) {
  const jobId = jobOf(run);
  const metrics = Object.entries(run.metrics).filter(([k]) => !isSystemMetric(k)).sort(([a], [b]) => a.localeCompare(b));
  return (
    <div className="run-overview">
      <section className="panel" aria-labelledby="run-about">
        <h2 id="run-about">About</h2>
        <dl className="kv">
          <dt>Run id</dt>
          <dd className="mono">{run.id}</dd>
          <dt>Status</dt>
          <dd>
            <StateBadge state={run.status} />
          </dd>
          <dt>Started</dt>
          <dd>
            <Time ms={run.startTime} />
          </dd>
          <dt>Ended</dt>
          <dd>
            <Time ms={run.endTime} />
          </dd>
          <dt>Duration</dt>
          <dd>{duration((run.endTime ?? Date.now()) - run.startTime)}{run.endTime ? "" : " so far"}</dd>
          <dt>User</dt>
          <dd>{run.user}</dd>
          <dt>Experiment</dt>
          <dd>
            <Link to={`/experiments/${seg(run.experimentId)}`}>{run.experimentId}</Link>
          </dd>
          <dt>Job</dt>
          <dd>{jobId ? <Link to={`/jobs/${seg(jobId)}`}>{jobId}</Link> : "— (logged from outside Paved's compute)"}</dd>
          <dt>Commit</dt>
          <dd className="mono">
            {run.source.commit ?? "—"}
            {run.source.dirty ? <span className="badge state-pending"> uncommitted changes</span> : null}
          </dd>
          <dt>Entry point</dt>
          <dd className="mono">{run.source.entrypoint ?? "—"}</dd>
          <dt>Artifacts</dt>
          <dd className="mono">{run.artifactUri}</dd>
        </dl>
      </section>
      <section className="panel" aria-labelledby="run-metrics">
        <h2 id="run-metrics">Latest metrics</h2>
        {metrics.length ? (
          <table>
            <thead>
              <tr>
                <th scope="col">Metric</th>
                <th scope="col">Value</th>
                <th scope="col">Step</th>
              </tr>
            </thead>
            <tbody>
              {metrics.map(([k, m]) => (
                <tr key={k}>
                  <td>
                    <Link to={withQuery({ tab: "metrics", metric: k })}>{k}</Link>
                  </td>
                  <td className="num">{formatValue(m.value)}</td>
                  <td className="num">{m.step}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <Empty>No metrics logged (mlflow.log_metric adds them).</Empty>
        )}
      </section>
      <KeyValues title="Parameters" id="run-params" values={run.params} empty="No parameters logged (mlflow.log_param adds them)." />
      <KeyValues title="Tags" id="run-tags" values={run.tags} empty="No tags." />
      {run.inputs.length ? (
        <section className="panel" aria-labelledby="run-inputs">
          <h2 id="run-inputs">Dataset inputs</h2>
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Digest</th>
                <th scope="col">Source</th>
              </tr>
            </thead>
            <tbody>
              {run.inputs.map((i, n) => (
                <tr key={n}>
                  <td>{i.name}</td>
                  <td className="mono">{i.digest}</td>
                  <td className="mono">
                    {i.sourceType}: {i.source}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ) : null}
    </div>
  );
}

function KeyValues({ title, id, values, empty }: { title: string; id: string; values: Record<string, string>; empty: string }) {
  const entries = Object.entries(values).sort(([a], [b]) => a.localeCompare(b));
  return (
    <section className="panel" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {entries.length ? (
        <table>
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Value</th>
            </tr>
          </thead>
          <tbody>
            {entries.map(([k, v]) => (
              <tr key={k}>
                <td className="mono">{k}</td>
                <td className="mono">{v}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <Empty>{empty}</Empty>
      )}
    </section>
  );
}

function jobOf(run: RunView): string | null {
  return run.jobId ?? run.tags["paved.job_id"] ?? null;
}

// ── metrics and system metrics ──────────────────────────────────────────────────────────────────

/** GPUs in device order, then CPU and memory, then per-rank figures. */
function bySystemOrder(a: string, b: string): number {
  const rank = (k: string) => (/^system\/gpu_\d+_/.test(k) ? 0 : /^system\/rank_/.test(k) ? 2 : 1);
  const num = (k: string) => Number(/(\d+)/.exec(k)?.[1] ?? 0);
  const kind = (k: string) => (k.includes("utilization") ? 0 : 1);
  return rank(a) - rank(b) || num(a) - num(b) || kind(a) - kind(b) || a.localeCompare(b);
}

/** A system metric's name for people: system/gpu_0_utilization_percentage → GPU 0 utilisation (%). */
export function systemTitle(key: string): string {
  const gpu = /^system\/gpu_(\d+)_(utilization_percentage|memory_usage_megabytes)$/.exec(key);
  if (gpu) return `GPU ${gpu[1]} ${gpu[2] === "utilization_percentage" ? "utilisation (%)" : "memory used (MB)"}`;
  if (key === "system/cpu_utilization_percentage") return "CPU utilisation (%)";
  if (key === "system/system_memory_usage_megabytes") return "Memory used (MB)";
  const rank = /^system\/rank_(\d+)\/(.+)$/.exec(key);
  if (rank) return `Rank ${rank[1]} ${rank[2]!.replace(/_/g, " ")}`;
  return key;
}

function MetricsTab({ run, keys, live, kind }: { run: RunView; keys: string[]; live: boolean; kind: "metrics" | "system" }) {
  const [x, setX] = useQueryParam("x", kind === "system" ? "time" : "step");
  const [smoothParam, setSmooth] = useQueryParam("smooth", "0");
  const [filter, setFilter] = useQueryParam("metric", "");
  const axis: XAxis = x === "time" ? "time" : "step";
  const smoothing = Math.min(0.99, Math.max(0, Number(smoothParam) || 0));
  const shown = keys.filter((k) => k.toLowerCase().includes(filter.toLowerCase()));
  if (!keys.length) {
    return kind === "system" ? (
      <Empty>No system metrics: Paved logs GPU utilisation and memory, CPU and memory (system/…) for runs of jobs it schedules.</Empty>
    ) : (
      <Empty>No metrics logged yet.</Empty>
    );
  }
  return (
    <section aria-label={kind === "system" ? "System metrics" : "Metrics"}>
      <ChartControls filter={filter} onFilter={setFilter} axis={axis} onAxis={setX} smoothing={smoothing} onSmoothing={setSmooth}>
        {live ? <span className="hint">Live: curves reload every {LIVE_MS / 1000} s while the run is running.</span> : null}
      </ChartControls>
      {shown.length ? null : <Empty>No metric matches “{filter}”.</Empty>}
      <div className="chart-grid">
        {shown.map((key) => (
          <MetricChart key={`${key}|${axis}`} runId={run.id} metric={key} title={kind === "system" ? systemTitle(key) : key} axis={axis} smoothing={smoothing} live={live} />
        ))}
      </div>
    </section>
  );
}

function MetricChart({ runId, metric, title, axis, smoothing, live }: { runId: string; metric: string; title: string; axis: XAxis; smoothing: number; live: boolean }) {
  const [range, setRange] = useState<{ min: number; max: number } | undefined>(undefined);
  const { data, error } = useApi(() => (range ? undefined : take(firstMetricLoads, `${runId}|${metric}|${axis}`)) ?? loadMetric(runId, metric, axis, { range }), [runId, metric, axis, range?.min, range?.max], { refreshMs: live && !range ? LIVE_MS : undefined });
  const series = useMemo(() => (data ? [{ label: metric, x: data.x, y: data.y, ...(data.band ? { band: data.band } : {}) }] : []), [data, metric]);
  return (
    <div className="panel chart-panel">
      {error ? <ErrorNotice error={error} title={metric} /> : null}
      {data ? (
        <>
          <Chart title={title} series={series} xAxis={axis} smoothing={smoothing} zoomed={data.range !== undefined} onZoom={data.downsampled || data.range ? setRange : undefined} />
          <p className="hint chart-note">
            {data.total.toLocaleString()} points{data.range ? " in the zoomed range" : ""}
            {data.downsampled ? ` · drawn as ${data.x.length.toLocaleString()} buckets (last value; the band spans each bucket's min–max)` : ""}
          </p>
        </>
      ) : error ? null : (
        <Loading what={`Loading ${title}`} />
      )}
    </div>
  );
}

// ── logs ─────────────────────────────────────────────────────────────────────────────────────────

function LogsTab({ run, live }: { run: RunView; live: boolean }) {
  const jobId = jobOf(run);
  const logs = useApi(async () => (jobId ? api.readLogs(jobId) : undefined), [jobId], { refreshMs: live && jobId ? 3000 : undefined });
  if (!jobId) return <Empty>This run was not started by a Paved job (it was logged from a notebook or script through the MLflow API), so Paved holds no log for it.</Empty>;
  return (
    <section aria-labelledby="run-logs">
      <div className="logs-head">
        <h2 id="run-logs">Log of job {jobId}</h2>
        <Link to={`/jobs/${seg(jobId)}`}>Open the job (live log, attempts)</Link>
      </div>
      {logs.error ? <ErrorNotice error={logs.error} /> : null}
      {logs.data ? (
        <>
          {logs.data.start > 0 ? <p className="hint">The last {formatBytes(logs.data.end - logs.data.start)} of {formatBytes(logs.data.size)} (attempt {logs.data.attempt}).</p> : null}
          <pre className="run-log" tabIndex={0} aria-label={`Log of job ${jobId}`}>
            {logs.data.text || "(empty)"}
          </pre>
        </>
      ) : logs.error ? null : (
        <Loading what="Loading the log" />
      )}
    </section>
  );
}

// ── artifacts ────────────────────────────────────────────────────────────────────────────────────

function ArtifactsTab({ run }: { run: RunView }) {
  const [path] = useQueryParam("path", "");
  const [file] = useQueryParam("file", "");
  const listing = useApi(() => api.listArtifacts(run.id, path || undefined), [run.id, path]);
  const parts = path ? path.split("/") : [];
  const selected = listing.data?.find((f) => f.path === file);
  const name = (p: string) => p.slice(p.lastIndexOf("/") + 1);
  return (
    <div className="artifacts">
      <section className="artifact-list" aria-labelledby="artifact-folder">
        <h2 id="artifact-folder" className="visually-hidden">
          Artifact folder
        </h2>
        <nav aria-label="Folder" className="breadcrumbs">
          <ol>
            <li>
              <Link to={withQuery({ path: undefined, file: undefined })} aria-current={path ? undefined : "page"}>
                artifacts
              </Link>
            </li>
            {parts.map((p, i) => (
              <li key={i}>
                <Link to={withQuery({ path: parts.slice(0, i + 1).join("/"), file: undefined })} aria-current={i === parts.length - 1 ? "page" : undefined}>
                  {p}
                </Link>
              </li>
            ))}
          </ol>
        </nav>
        {listing.error ? <ErrorNotice error={listing.error} /> : null}
        {listing.data ? (
          listing.data.length ? (
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Size</th>
                </tr>
              </thead>
              <tbody>
                {[...listing.data]
                  .sort((a, b) => Number(b.isDir) - Number(a.isDir) || a.path.localeCompare(b.path))
                  .map((f) => (
                    <tr key={f.path} className={f.path === file ? "selected" : undefined}>
                      <td>
                        {f.isDir ? (
                          <Link to={withQuery({ path: f.path, file: undefined })} className="artifact-dir">
                            {name(f.path)}/
                          </Link>
                        ) : (
                          <Link to={withQuery({ file: f.path })} aria-current={f.path === file ? "true" : undefined}>
                            {name(f.path)}
                          </Link>
                        )}
                      </td>
                      <td className="num">{f.isDir ? "folder" : formatBytes(f.size)}</td>
                    </tr>
                  ))}
              </tbody>
            </table>
          ) : (
            <Empty>{path ? "This folder is empty." : "No artifacts logged (mlflow.log_artifact adds them)."}</Empty>
          )
        ) : listing.error ? null : (
          <Loading what="Listing artifacts" />
        )}
      </section>
      <div className="artifact-view">
        {file && listing.data && !selected ? <ErrorNotice error={new Error(`no file '${file}' in this folder`)} /> : null}
        {selected ? <ArtifactPreview key={selected.path} runId={run.id} path={selected.path} size={selected.size} /> : <p className="hint">Choose a file to preview it.</p>}
      </div>
    </div>
  );
}

// ── lineage ──────────────────────────────────────────────────────────────────────────────────────

/** The UI page of a lineage node, from its ref (built from encoded parts: refs hold user data). */
export function nodeLink(node: LineageNode): string | undefined {
  const ref = node.ref;
  if (!ref) return undefined;
  let m: RegExpExecArray | null;
  if ((m = /^runs:\/([^/]+)$/.exec(ref))) return `/runs/${seg(m[1]!)}`;
  if ((m = /^models:\/(.+)\/([^/]+)$/.exec(ref))) return `/models/${seg(m[1]!)}/versions/${seg(m[2]!)}`;
  if ((m = /^datasets:\/(.+)@([^@]+)$/.exec(ref))) return `/datasets/${seg(m[1]!)}?version=${encodeURIComponent(m[2]!)}`;
  if ((m = /^(deploy-[\w-]+)$/.exec(ref))) return `/deployments/${seg(m[1]!)}`;
  if ((m = /^(job-[\w-]+)$/.exec(ref))) return `/jobs/${seg(m[1]!)}`;
  return undefined;
}

function LineageTab({ run }: { run: RunView }) {
  const graph = useApi(() => api.lineage(`runs:/${run.id}`, { direction: "both", depth: 5 }), [run.id]);
  if (graph.error) return <ErrorNotice error={graph.error} />;
  if (!graph.data) return <Loading what="Walking the lineage" />;
  return <LineageView graph={graph.data} />;
}

function LineageView({ graph }: { graph: LineageGraph }) {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  // Upstream: everything with a path to the root; downstream: everything the root leads to.
  const reach = (from: string, next: (id: string) => string[]) => {
    const seen = new Set<string>();
    const todo = [from];
    while (todo.length) {
      for (const n of next(todo.pop()!)) {
        if (seen.has(n)) continue;
        seen.add(n);
        todo.push(n);
      }
    }
    return seen;
  };
  const up = reach(graph.root, (id) => graph.edges.filter((e) => e.to === id).map((e) => e.from));
  const down = reach(graph.root, (id) => graph.edges.filter((e) => e.from === id).map((e) => e.to));
  const upEdges = graph.edges.filter((e) => up.has(e.from) && (e.to === graph.root || up.has(e.to)));
  const downEdges = graph.edges.filter((e) => down.has(e.to) && (e.from === graph.root || down.has(e.from)));
  const nodeText = (id: string) => {
    const n = byId.get(id);
    if (!n) return <span className="mono">{id}</span>;
    const to = nodeLink(n);
    return (
      <span className="lineage-node">
        <span className={`badge kind-${n.kind}`}>{n.kind}</span> {to ? <Link to={to}>{n.label}</Link> : <span>{n.label}</span>}
      </span>
    );
  };
  const table = (title: string, list: typeof graph.edges, empty: string) => (
    <section className="panel" aria-label={title}>
      <h2>{title}</h2>
      {list.length ? (
        <table>
          <thead>
            <tr>
              <th scope="col">From</th>
              <th scope="col">Relation</th>
              <th scope="col">To</th>
            </tr>
          </thead>
          <tbody>
            {list.map((e, i) => (
              <tr key={i}>
                <td>{nodeText(e.from)}</td>
                <td>{e.relation}</td>
                <td>{nodeText(e.to)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <Empty>{empty}</Empty>
      )}
    </section>
  );
  return (
    <div className="lineage">
      {table("Where it came from", upEdges, "Nothing upstream is known: no commit, dataset or input was recorded.")}
      {table("What was made from it", downEdges, "Nothing yet: register a model from this run (paved models register).")}
      {graph.truncated ? <p className="hint">The walk stopped at its depth bound: open a node at the edge to go further.</p> : null}
    </div>
  );
}
