// Compute: every GPU of the machine with who holds it, its utilisation and memory now and over
// time, the backends' capacity, the queue's depth and the compute profiles. The API keeps no
// machine-wide GPU history: a GPU's timeline is the system metrics of the run holding it (logged
// every compute.systemMetricsInterval seconds), plus, for platform admins, readings of /metrics
// this page samples while it is open.
import { useEffect, useMemo, useRef, useState } from "react";
import { api } from "../api.ts";
import { Chart, type ChartSeries } from "../components/chart.tsx";
import { Empty, ErrorNotice, Loading, PageHeader } from "../components/common.tsx";
import { useApi } from "../components/use-api.ts";
import { Link, seg } from "../router.tsx";
import type { PageProps } from "../page-props.ts";
import { useSession } from "../session.tsx";
import { formatDuration, formatMiB } from "./jobs.tsx";
import "./jobs.css";

type Resources = Awaited<ReturnType<typeof api.computeResources>>;
type Gpu = Resources["gpus"][number];

const LIVE_MS = 3000;
/** How often the page reads /metrics (admins), and how many readings it keeps per GPU (an hour). */
const SAMPLE_MS = 5000;
const KEEP_SAMPLES = 720;

interface Series {
  t: number[];
  util: (number | null)[];
  mem: (number | null)[];
}

/** GPU readings of one /metrics text: utilisation (%) and memory used (MiB) by GPU index. */
export function parseGpuMetrics(text: string): Map<number, { util: number | null; mem: number | null }> {
  const out = new Map<number, { util: number | null; mem: number | null }>();
  for (const line of text.split("\n")) {
    const isUtil = line.startsWith("DCGM_FI_DEV_GPU_UTIL{");
    const isMem = line.startsWith("DCGM_FI_DEV_FB_USED{");
    if (!isUtil && !isMem) continue;
    const close = line.lastIndexOf("}");
    const gpu = /(?:^|[{,])gpu="(\d+)"/.exec(line.slice(0, close + 1));
    const value = Number(line.slice(close + 1).trim().split(" ")[0]);
    if (!gpu || !Number.isFinite(value)) continue;
    const index = Number(gpu[1]);
    const entry = out.get(index) ?? { util: null, mem: null };
    if (isUtil) entry.util = value;
    else entry.mem = value;
    out.set(index, entry);
  }
  return out;
}

/** Platform admins: samples /metrics while the page is open, keeping the last hour per GPU. */
function useSampledGpus(enabled: boolean): { samples: Map<number, Series>; error: unknown } {
  const [samples, setSamples] = useState<Map<number, Series>>(new Map());
  const [error, setError] = useState<unknown>(undefined);
  useEffect(() => {
    if (!enabled) return;
    const controller = new AbortController();
    const sample = async () => {
      if (document.visibilityState !== "visible") return;
      try {
        const readings = parseGpuMetrics(await api.platformMetricsText(controller.signal));
        const now = Date.now();
        setError(undefined);
        setSamples((before) => {
          const next = new Map(before);
          for (const [index, r] of readings) {
            const s = next.get(index) ?? { t: [], util: [], mem: [] };
            const keep = (a: number[] | (number | null)[]) => a.slice(Math.max(0, a.length + 1 - KEEP_SAMPLES));
            next.set(index, { t: [...keep(s.t), now] as number[], util: [...keep(s.util), r.util], mem: [...keep(s.mem), r.mem] });
          }
          return next;
        });
      } catch (err) {
        if (!controller.signal.aborted) setError(err);
      }
    };
    void sample();
    const timer = window.setInterval(() => void sample(), SAMPLE_MS);
    return () => {
      controller.abort();
      window.clearInterval(timer);
    };
  }, [enabled]);
  return { samples, error };
}

/** The system metrics of the run of the job holding a GPU, for that GPU (numbered as the job sees it). */
function useHolderHistory(gpu: Gpu): { series: Series | undefined; jobName: string | undefined } {
  const jobId = gpu.heldBy?.jobId ?? null;
  const history = useApi(
    async () => {
      if (!jobId) return undefined;
      const job = await api.getJob(jobId);
      const local = job.allocation?.gpus.indexOf(gpu.index) ?? -1;
      if (!job.runId || local < 0) return { name: job.name, series: undefined };
      const [util, mem] = await Promise.all(
        [`system/gpu_${local}_utilization_percentage`, `system/gpu_${local}_memory_usage_megabytes`].map((key) =>
          api.getMetricBuckets(job.runId!, key, { axis: "time", points: 300 }).catch(() => ({ buckets: [] as { lastTime: number; last: number | null }[] })),
        ),
      );
      const byTime = new Map<number, { util: number | null; mem: number | null }>();
      for (const b of util!.buckets) byTime.set(b.lastTime, { util: b.last, mem: null });
      for (const b of mem!.buckets) byTime.set(b.lastTime, { util: byTime.get(b.lastTime)?.util ?? null, mem: b.last });
      const t = [...byTime.keys()].sort((a, b) => a - b);
      return { name: job.name, series: t.length ? { t, util: t.map((x) => byTime.get(x)!.util), mem: t.map((x) => byTime.get(x)!.mem) } : undefined };
    },
    [jobId, gpu.index],
    { refreshMs: jobId ? 10_000 : undefined },
  );
  return { series: history.data?.series, jobName: history.data?.name };
}

function Meter({ label, value, max, text }: { label: string; value: number | null; max: number; text: string }) {
  const ratio = value === null || max <= 0 ? 0 : Math.min(1, Math.max(0, value / max));
  return (
    <div className="use-meter">
      <div className="use-meter-bar" role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={max} aria-valuenow={value ?? undefined} aria-valuetext={text}>
        <div className={ratio > 0.9 ? "use-meter-fill high" : "use-meter-fill"} style={{ width: `${Math.round(ratio * 100)}%` }} />
      </div>
      <span className="use-meter-text">{text}</span>
    </div>
  );
}

function last(series: Series | undefined, pick: "util" | "mem"): { value: number | null; at: number | null } {
  if (!series) return { value: null, at: null };
  for (let i = series.t.length - 1; i >= 0; i--) {
    const v = series[pick][i];
    if (v !== null && v !== undefined) return { value: v, at: series.t[i]! };
  }
  return { value: null, at: null };
}

function GpuCard({ gpu, sampled }: { gpu: Gpu; sampled: Series | undefined }) {
  const { series: held, jobName } = useHolderHistory(gpu);
  // The newest reading of either source is "now".
  const pick = (key: "util" | "mem") => {
    const a = last(sampled, key);
    const b = last(held, key);
    return (a.at ?? 0) >= (b.at ?? 0) ? a : b;
  };
  const util = pick("util");
  const mem = pick("mem");
  const chart = (key: "util" | "mem"): ChartSeries[] => {
    const out: ChartSeries[] = [];
    if (held?.t.length) out.push({ label: `run of ${jobName ?? "its job"}`, x: held.t, y: held[key] });
    if (sampled?.t.length) out.push({ label: "sampled by this page", x: sampled.t, y: sampled[key] });
    return out;
  };
  const utilSeries = useMemo(() => chart("util"), [held, sampled, jobName]);
  const memSeries = useMemo(() => chart("mem"), [held, sampled, jobName]);
  return (
    <section className="panel gpu-card" aria-labelledby={`gpu-${gpu.index}`} data-gpu={gpu.index}>
      <h3 id={`gpu-${gpu.index}`}>
        GPU {gpu.index} · {gpu.name}
      </h3>
      <dl className="kv">
        <dt>Held by</dt>
        <dd>
          {gpu.heldBy ? (
            gpu.heldBy.jobId ? (
              <Link to={`/jobs/${seg(gpu.heldBy.jobId)}`}>
                {gpu.heldBy.name}
                {gpu.heldBy.team ? ` (team ${gpu.heldBy.team})` : ""}
              </Link>
            ) : (
              gpu.heldBy.name
            )
          ) : (
            "free"
          )}
        </dd>
        <dt>Utilisation</dt>
        <dd>
          <Meter label={`GPU ${gpu.index} utilisation`} value={util.value} max={100} text={util.value === null ? "no reading" : `${Math.round(util.value)} %`} />
        </dd>
        <dt>Memory</dt>
        <dd>
          <Meter label={`GPU ${gpu.index} memory used`} value={mem.value} max={gpu.memoryMiB} text={mem.value === null ? `— of ${formatMiB(gpu.memoryMiB)}` : `${formatMiB(mem.value)} of ${formatMiB(gpu.memoryMiB)}`} />
        </dd>
        {gpu.uuid ? (
          <>
            <dt>UUID</dt>
            <dd className="mono">{gpu.uuid}</dd>
          </>
        ) : null}
      </dl>
      {utilSeries.length ? (
        <>
          <Chart title={`GPU ${gpu.index} utilisation (%)`} series={utilSeries} xAxis="time" height={160} />
          <Chart title={`GPU ${gpu.index} memory used (MiB)`} series={memSeries} xAxis="time" height={160} />
        </>
      ) : (
        <p className="hint">No timeline yet: it comes from the system metrics of the run holding this GPU{sampled === undefined ? "" : " and from this page's readings"}.</p>
      )}
    </section>
  );
}

export default function ComputePage(_props: PageProps) {
  const session = useSession();
  const resources = useApi(() => api.computeResources(), [], { refreshMs: LIVE_MS, live: { topics: ["jobs"] } });
  const queued = useApi(() => api.listJobs({ phase: "QUEUED", limit: 1000 }), [], { refreshMs: LIVE_MS, live: { topics: ["jobs"] } });
  const running = useApi(() => api.listJobs({ phase: "RUNNING", limit: 1000 }), [], { refreshMs: LIVE_MS, live: { topics: ["jobs"] } });
  const profiles = useApi(() => api.listProfiles(), []);
  const { samples, error: sampleError } = useSampledGpus(session.platformAdmin);
  const started = useRef(Date.now());
  const now = Date.now();
  const r = resources.data;
  const queue = queued.data ?? [];
  const byTeam = new Map<string, number>();
  for (const j of queue) byTeam.set(j.team, (byTeam.get(j.team) ?? 0) + 1);
  const oldest = queue.reduce<number | null>((min, j) => (min === null || j.createdAt < min ? j.createdAt : min), null);

  return (
    <>
      <PageHeader title="Compute" help="gpu">
        <Link to="/jobs?phase=QUEUED" className="button">
          Queue
        </Link>
      </PageHeader>
      <ErrorNotice error={resources.error} />
      <div className="compute-totals">
        <section className="panel" aria-labelledby="queue-depth">
          <h2 id="queue-depth">Queue</h2>
          <p>
            <span className="big" data-testid="queue-depth">
              {queued.data ? queue.length : "…"}
            </span>{" "}
            queued · {running.data ? running.data.length : "…"} running
          </p>
          <p className="hint">
            {oldest !== null ? `oldest waits ${formatDuration(now - oldest)}` : "nothing waits"}
            {byTeam.size ? ` · ${[...byTeam].map(([t, n]) => `${t}: ${n}`).join(", ")}` : ""}
          </p>
        </section>
        {r ? (
          <>
            <section className="panel" aria-labelledby="gpus-free">
              <h2 id="gpus-free">GPUs</h2>
              <p>
                <span className="big">{r.free.gpus}</span> free of {r.total.gpus}
              </p>
            </section>
            <section className="panel" aria-labelledby="cpus-free">
              <h2 id="cpus-free">CPUs</h2>
              <p>
                <span className="big">{Math.round(r.free.cpus * 10) / 10}</span> free of {r.total.cpus}
              </p>
            </section>
            <section className="panel" aria-labelledby="memory-free">
              <h2 id="memory-free">Memory</h2>
              <p>
                <span className="big">{formatMiB(r.free.memoryMiB)}</span> free of {formatMiB(r.total.memoryMiB)}
              </p>
            </section>
          </>
        ) : null}
      </div>

      <section className="jobs-section" aria-labelledby="devices">
        <h2 id="devices">GPUs by device</h2>
        <p className="hint">
          Timelines: each GPU's job run's system metrics
          {session.platformAdmin ? `, and this page's readings of /metrics every ${SAMPLE_MS / 1000} s since it opened (${formatDuration(now - started.current)} ago)` : ""}.
        </p>
        <ErrorNotice error={sampleError} title="Reading /metrics failed" />
        {r === undefined ? (
          resources.error ? null : <Loading what="Loading the machine's resources" />
        ) : r.gpus.length === 0 ? (
          <Empty>This machine has no GPUs Paved can use (compute.gpus, or nvidia-smi finds none).</Empty>
        ) : (
          <div className="gpu-cards">
            {r.gpus.map((g) => (
              <GpuCard key={g.index} gpu={g} sampled={samples.get(g.index)} />
            ))}
          </div>
        )}
      </section>

      {r?.backends?.length ? (
        <section className="jobs-section" aria-labelledby="backends">
          <h2 id="backends">Backends</h2>
          <table>
            <thead>
              <tr>
                <th scope="col">Backend</th>
                <th scope="col">State</th>
                <th scope="col">GPUs free</th>
                <th scope="col">CPUs free</th>
                <th scope="col">Memory free</th>
                <th scope="col">GPU types</th>
                <th scope="col">Jobs</th>
              </tr>
            </thead>
            <tbody>
              {r.backends.map((b) => (
                <tr key={b.name}>
                  <td>{b.name}</td>
                  <td>{b.available ? <span className="pass">available</span> : <span className="fail">unavailable{b.reason ? `: ${b.reason}` : ""}</span>}</td>
                  <td>
                    {b.free.gpus} of {b.total.gpus}
                  </td>
                  <td>
                    {Math.round(b.free.cpus * 10) / 10} of {b.total.cpus}
                  </td>
                  <td>
                    {formatMiB(b.free.memoryMiB)} of {formatMiB(b.total.memoryMiB)}
                  </td>
                  <td>{b.gpuTypes.join(", ") || "—"}</td>
                  <td>{b.jobs}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ) : null}

      <section className="jobs-section" aria-labelledby="profiles">
        <h2 id="profiles">Profiles</h2>
        <ErrorNotice error={profiles.error} />
        {profiles.data === undefined ? (
          profiles.error ? null : <Loading what="Loading profiles" />
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Profile</th>
                <th scope="col">Description</th>
                <th scope="col">GPUs</th>
                <th scope="col">CPUs</th>
                <th scope="col">Memory</th>
                <th scope="col">Backend</th>
                <th scope="col">Per hour</th>
              </tr>
            </thead>
            <tbody>
              {profiles.data.map((p) => (
                <tr key={p.name}>
                  <td>
                    <code>{p.name}</code>
                  </td>
                  <td>{p.description}</td>
                  <td>
                    {p.gpus}
                    {p.gpuType ? ` × ${p.gpuType}` : ""}
                  </td>
                  <td>{p.cpus}</td>
                  <td>{formatMiB(p.memoryMiB)}</td>
                  <td>{p.executor ?? "default"}</td>
                  <td>{p.hourlyCost.toFixed(2)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}
