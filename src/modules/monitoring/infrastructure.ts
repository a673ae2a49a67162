// The platform's infrastructure metrics (issue 12, item 3), read when /metrics is scraped, in a
// prom-client Registry: GPUs under NVIDIA DCGM exporter's names (so its dashboards work), the
// host's pressure stall information under node_exporter's names, the job queue and what runs by
// team and profile, HTTP requests by route and status, database latency, and Node's own process
// metrics. Every label comes from a bounded set: teams and profiles (names the platform
// validated), routes (patterns, never paths), status codes, phases, GPU indices.
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { sql, type Kysely } from "kysely";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Clock } from "../../core/index.ts";
import type { Tables } from "../../storage/index.ts";
import type { GpuReading } from "../compute/index.ts";

/** One GPU as nvidia-smi reports it, with the telemetry fields (compute's GPU_TELEMETRY_FIELDS). */
export type GpuSample = GpuReading;

export interface InfrastructureDeps {
  db: Kysely<Tables>;
  clock: Clock;
  /** The GPUs now (nvidia-smi); none on a machine without them. */
  gpus: () => Promise<GpuSample[]>;
  /** Where Linux keeps pressure stall information (tests point it elsewhere). */
  pressureDir?: string;
  /** Linux's CPU times (tests point it elsewhere). */
  statFile?: string;
}

const QUEUE_WAIT_BUCKETS = [1, 5, 15, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600];
/** /proc/stat's columns after the cpu name, in node_exporter's mode names. */
const CPU_MODES = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"];
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30];
const QUEUE_PHASES = ["QUEUED"];
const ACTIVE_JOB_PHASES = ["STARTING", "RUNNING"];

export class InfrastructureMetrics {
  readonly registry = new Registry();
  private readonly httpRequests = new Counter({ name: "paved_http_requests_total", help: "HTTP requests answered, by method, route pattern and status code", labelNames: ["method", "route", "status"], registers: [this.registry] });
  private readonly httpDuration = new Histogram({ name: "paved_http_request_duration_seconds", help: "Time to answer an HTTP request, by method and route pattern", labelNames: ["method", "route"], buckets: HTTP_BUCKETS, registers: [this.registry] });
  private readonly pressureTotals = new Map<string, number>();
  private readonly ingested = new Counter({ name: "paved_tracking_ingested_total", help: "Tracking items stored, by kind (metric points, params, tags); rate() is the ingestion rate", labelNames: ["kind"], registers: [this.registry] });
  private readonly queueWait = new Histogram({ name: "paved_queue_wait_seconds", help: "How long jobs waited in the queue before their first attempt started, by team and compute profile", labelNames: ["team", "profile"], buckets: QUEUE_WAIT_BUCKETS, registers: [this.registry] });
  private readonly cpuTotals = new Map<string, number>();

  constructor(private readonly deps: InfrastructureDeps) {
    collectDefaultMetrics({ register: this.registry });
    // prom-client's gauges named like counters, which promtool's lint refuses; their per-type
    // siblings (nodejs_active_handles{type}, …) carry the same counts.
    for (const name of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]) this.registry.removeSingleMetric(name);
    const host = hostname();
    // DCGM exporter's labels, but `model_name` for its `modelName`: promtool's lint refuses camelCase label names.
    const gpuLabels = ["gpu", "UUID", "device", "model_name", "Hostname"];
    // nvidia-smi is asked once per scrape (the reading is shared for a second) and every GPU gauge fills from it.
    let reading: { at: number; gpus: Promise<GpuSample[]> } | undefined;
    const current = () => {
      if (!reading || performance.now() - reading.at > 1_000) reading = { at: performance.now(), gpus: deps.gpus().catch(() => []) };
      return reading.gpus;
    };
    const dcgm = (name: string, help: string, pick: (g: GpuSample) => number | null) =>
      new Gauge({
        name,
        help,
        labelNames: gpuLabels,
        registers: [this.registry],
        async collect(this: Gauge) {
          this.reset();
          for (const gpu of await current()) {
            const value = pick(gpu);
            if (value !== null) this.set({ gpu: String(gpu.index), UUID: gpu.uuid ?? "", device: `nvidia${gpu.index}`, model_name: gpu.name, Hostname: host }, value);
          }
        },
      });
    dcgm("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", (g) => g.utilizationPercent);
    dcgm("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", (g) => g.memoryUsedMiB);
    dcgm("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", (g) => (g.memoryTotalMiB !== null && g.memoryUsedMiB !== null ? g.memoryTotalMiB - g.memoryUsedMiB : null));
    dcgm("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", (g) => g.temperatureC);
    dcgm("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", (g) => g.powerWatts);
    new Gauge({
      name: "paved_gpus",
      help: "GPUs nvidia-smi reports on this machine",
      registers: [this.registry],
      async collect(this: Gauge) {
        this.set((await current()).length);
      },
    });

    // Pressure stall information under node_exporter's names: seconds waited or stalled, counted up.
    const psi = ["cpu", "memory", "io"].flatMap((resource) =>
      (
        [
          ["some", "waiting", `Seconds some tasks waited for ${resource} (Linux PSI 'some')`],
          ["full", "stalled", `Seconds all non-idle tasks stalled on ${resource} (Linux PSI 'full')`],
        ] as const
      ).map(([kind, word, help]) => ({ resource, kind, counter: new Counter({ name: `node_pressure_${resource}_${word}_seconds_total`, help, registers: [this.registry] }) })),
    );
    const pressureDir = deps.pressureDir ?? "/proc/pressure";
    const totals = this.pressureTotals;
    new Gauge({
      name: "node_pressure_available",
      help: "Whether this machine's kernel reports pressure stall information (1) or not (0)",
      registers: [this.registry],
      collect() {
        let seen = 0;
        for (const { resource, kind, counter } of psi) {
          const text = readText(`${pressureDir}/${resource}`);
          if (text === undefined) continue;
          seen++;
          const micros = Number(text.match(new RegExp(`^${kind} .*total=(\\d+)`, "m"))?.[1]);
          if (!Number.isFinite(micros)) continue;
          const key = `${kind}:${resource}`;
          const before = totals.get(key);
          // The first reading starts the count at the kernel's total; later ones add what it grew by.
          counter.inc((before === undefined ? micros : Math.max(0, micros - before)) / 1e6);
          totals.set(key, micros);
        }
        this.set(seen > 0 ? 1 : 0);
      },
    });

    // Host CPU under node_exporter's name, from /proc/stat (USER_HZ ticks, 100 a second on Linux).
    const cpuTotals = this.cpuTotals;
    const statFile = deps.statFile ?? "/proc/stat";
    new Counter({
      name: "node_cpu_seconds_total",
      help: "Seconds the CPUs spent in each mode (Linux /proc/stat)",
      labelNames: ["cpu", "mode"],
      registers: [this.registry],
      // Read in its own collect, so a scrape shows this scrape's totals.
      collect(this: Counter) {
        for (const line of (readText(statFile) ?? "").split("\n")) {
          if (!/^cpu\d+ /.test(line)) continue;
          const [name, ...ticks] = line.trim().split(/\s+/);
          CPU_MODES.forEach((mode, i) => {
            const total = Number(ticks[i]) / 100;
            if (!Number.isFinite(total)) return;
            const key = `${name}:${mode}`;
            const before = cpuTotals.get(key);
            this.inc({ cpu: name!.slice(3), mode }, before === undefined ? total : Math.max(0, total - before));
            cpuTotals.set(key, total);
          });
        }
      },
    });

    // The database is read once per scrape; every gauge below fills from that reading.
    const db = deps.db;
    const clock = deps.clock;
    let counted: { at: number; rows: Promise<ScrapeCounts> } | undefined;
    const counts = () => {
      if (!counted || performance.now() - counted.at > 1_000) counted = { at: performance.now(), rows: readCounts(db, clock) };
      return counted.rows;
    };
    const fill = (name: string, help: string, labelNames: string[], pick: (c: ScrapeCounts) => { labels: Record<string, string>; value: number }[]) =>
      new Gauge({
        name,
        help,
        labelNames,
        registers: [this.registry],
        async collect(this: Gauge) {
          this.reset();
          for (const { labels, value } of pick(await counts())) this.set(labels, value);
        },
      });
    fill("paved_queue_depth", "Jobs waiting in the queue, by team and compute profile", ["team", "profile"], (c) => c.queued);
    fill("paved_queue_oldest_wait_seconds", "How long the oldest queued job has waited, by team and compute profile", ["team", "profile"], (c) => c.oldestWait);
    fill("paved_jobs_running", "Jobs starting or running, by team and compute profile", ["team", "profile"], (c) => c.running);
    fill("paved_workspaces", "Workspaces, by team and phase", ["team", "phase"], (c) => c.workspaces);
    fill("paved_database_ping_seconds", "Time the metadata database took to answer `select 1` at this scrape", [], (c) => [{ labels: {}, value: c.pingSeconds }]);
    fill("paved_metrics_scrape_database_seconds", "Time this scrape spent reading the job and workspace counts from the database", [], (c) => [{ labels: {}, value: c.countSeconds }]);
  }

  /** The readings infrastructure alert rules watch (alerts.ts), from the same gauges a scrape reads. */
  async readings(): Promise<Record<string, { labels: Record<string, string>; value: number }[]>> {
    const values = async (name: string) => ((await this.registry.getSingleMetric(name)?.get())?.values ?? []).map((v) => ({ labels: Object.fromEntries(Object.entries(v.labels).map(([k, x]) => [k, String(x)])), value: v.value }));
    const [wait, temperature, used, free, ping] = await Promise.all(["paved_queue_oldest_wait_seconds", "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE", "paved_database_ping_seconds"].map(values));
    const gpu = (labels: Record<string, string>) => ({ gpu: labels.gpu ?? "", Hostname: labels.Hostname ?? "" });
    return {
      queue_oldest_wait_seconds: wait!,
      gpu_temperature_celsius: temperature!.map((r) => ({ labels: gpu(r.labels), value: r.value })),
      gpu_memory_used_ratio: used!.flatMap((u) => {
        const f = free!.find((x) => x.labels.gpu === u.labels.gpu);
        return f && u.value + f.value > 0 ? [{ labels: gpu(u.labels), value: u.value / (u.value + f.value) }] : [];
      }),
      database_ping_seconds: ping!,
    };
  }

  /** Counts one stored tracking batch. */
  tracked(metrics: number, params: number, tags: number): void {
    if (metrics) this.ingested.inc({ kind: "metric" }, metrics);
    if (params) this.ingested.inc({ kind: "param" }, params);
    if (tags) this.ingested.inc({ kind: "tag" }, tags);
  }

  /** Records a job's first start and how long it waited. */
  jobStarted(team: string, profile: string, waitedSeconds: number): void {
    this.queueWait.observe({ team, profile }, waitedSeconds);
  }

  /** Records one HTTP answer; `route` is the matched route's pattern ("unmatched" for 404s). */
  http(method: string, route: string, status: number, seconds: number): void {
    this.httpRequests.inc({ method, route, status: String(status) });
    this.httpDuration.observe({ method, route }, seconds);
  }
}

function profileOf(request: string): string {
  try {
    const profile = (JSON.parse(request) as { profile?: unknown }).profile;
    return typeof profile === "string" ? profile : "none";
  } catch {
    return "none";
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

interface ScrapeCounts {
  queued: { labels: Record<string, string>; value: number }[];
  oldestWait: { labels: Record<string, string>; value: number }[];
  running: { labels: Record<string, string>; value: number }[];
  workspaces: { labels: Record<string, string>; value: number }[];
  pingSeconds: number;
  countSeconds: number;
}

async function readCounts(db: Kysely<Tables>, clock: Clock): Promise<ScrapeCounts> {
  const t0 = performance.now();
  await sql`select 1`.execute(db);
  const pingSeconds = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const now = clock.now();
  const jobs = await db
    .selectFrom("jobs")
    .select(["team_id", "phase", "request", "created_at"])
    .where("phase", "in", [...QUEUE_PHASES, ...ACTIVE_JOB_PHASES])
    .execute();
  const queued = new Map<string, { labels: Record<string, string>; value: number; since: number }>();
  const running = new Map<string, { labels: Record<string, string>; value: number }>();
  for (const job of jobs) {
    const labels = { team: job.team_id, profile: profileOf(job.request) };
    const key = `${labels.team}\0${labels.profile}`;
    if (QUEUE_PHASES.includes(job.phase)) {
      const entry = queued.get(key) ?? { labels, value: 0, since: Infinity };
      entry.value++;
      entry.since = Math.min(entry.since, Number(job.created_at));
      queued.set(key, entry);
    } else {
      const entry = running.get(key) ?? { labels, value: 0 };
      entry.value++;
      running.set(key, entry);
    }
  }
  const rows = await db.selectFrom("workspaces").select(["team_id", "phase"]).select((eb) => eb.fn.countAll<number>().as("n")).groupBy(["team_id", "phase"]).execute();
  return {
    queued: [...queued.values()].map(({ labels, value }) => ({ labels, value })),
    oldestWait: [...queued.values()].map(({ labels, since }) => ({ labels, value: Math.max(0, (now - since) / 1000) })),
    running: [...running.values()],
    workspaces: rows.map((r) => ({ labels: { team: r.team_id, phase: r.phase }, value: Number(r.n) })),
    pingSeconds,
    countSeconds: (performance.now() - t1) / 1000,
  };
}
