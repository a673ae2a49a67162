// Monitoring bench (issue 12), two parts (BENCH_PART=drift or overhead runs one; default both):
// - drift: PSI and the exact KS statistic of 100 feature columns, 1,000,000 reference rows against
//   1,000,000 actual rows, by columnDrift (worker threads, one per core), beside scipy.stats.ks_2samp
//   on the same data in the same run (Debian's /usr/bin/python3, which has scipy; only its
//   computation is timed, not reading the file). Target: ≤ 3 s and faster than scipy.
// - overhead: what a model monitor adds to inference of the version it watches (the only versions
//   whose live traffic is sampled). One real `paved up` serves two copies of the mlp (the same
//   bytes, registered, evaluated and deployed alike) from one data-plane process, and a monitor
//   watches one copy, then the other, then none. The copies take turns: at c=32 in phases of
//   2 s (a pair is one phase to each, the order alternating), at c=1 request by request. So the
//   watched and the unwatched copy are measured in the same seconds of the same processes, and the
//   drift of this machine (which moved the data plane's CPU a request by up to a quarter between
//   drives a minute apart, docs/benchmarks.md#monitoring) falls on both. The section with no
//   monitor reads copy against copy: the method's own noise. Target: ≤ 5% on p50 at c=1 and on
//   CPU per request at c=32, counting both processes: the data plane, which samples, and the
//   control plane, which merges the samples and judges the monitor's windows (its CPU above what
//   it spends with no monitor is charged whole to the watched requests).
// A part run alone keeps the other part's figures in bench/results/monitoring.json.
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { join } from "node:path";
import { columnDrift, columnDriftOne, type ColumnDrift } from "../src/core/index.ts";
import { LiveSamples, encodeSampleSets, monitoredKey, rowScores } from "../src/modules/serving/index.ts";
import type { Tensor } from "../src/modules/serving/tensor.ts";
import { buildTestModels } from "../src/modules/serving/test-models.ts";
import { HttpClient, ROOT, drive, driveSamples, machine, nowMs, percentile, printTable, processCpuMs, round, startPaved, summarize, tempDir, type BenchOptions, type BenchResult, type PavedProcess } from "./support.ts";

const ROWS = 1_000_000;
const COLUMNS = 100;
const TARGET_SECONDS = 3;
const PYTHON = "/usr/bin/python3";

/** Five kinds of feature, each column's actual side drifted or not. */
const KINDS = ["normal, unchanged", "normal, mean +0.05", "log-normal, scale x1.1", "counts (ties), rate +5%", "uniform, unchanged"] as const;

/** mulberry32, two draws per 53-bit double, seeded per column: fast enough for 200 million values. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  return () => ((next() >>> 5) * 67108864 + (next() >>> 6)) / 9007199254740992;
}

/** Fills one column of kind `kind`; `drifted` applies the kind's change (the actual side). */
function fill(column: Float64Array, kind: number, drifted: boolean, seed: number): void {
  const u = generator(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
  for (let k = 0; k < column.length; k++) {
    switch (kind) {
      case 0:
        column[k] = normal();
        break;
      case 1:
        column[k] = normal() + (drifted ? 0.05 : 0);
        break;
      case 2:
        column[k] = Math.exp(normal()) * (drifted ? 1.1 : 1);
        break;
      case 3:
        column[k] = Math.floor(-Math.log(1 - u()) * 4 * (drifted ? 1.05 : 1));
        break;
      default:
        column[k] = u();
    }
  }
}

const PYTHON_KS = `
import json, sys, time
import numpy as np
from scipy.stats import ks_2samp
path, columns, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = np.fromfile(path, dtype="<f8").reshape(2, columns, rows)
start = time.perf_counter()
stats = [float(ks_2samp(data[0, c], data[1, c]).statistic) for c in range(columns)]
seconds = time.perf_counter() - start
start = time.perf_counter()
for c in range(columns):
    np.sort(data[0, c])
    np.sort(data[1, c])
sort_seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "sortSeconds": sort_seconds, "ks": stats}))
`;

async function driftPart(options: BenchOptions): Promise<Omit<BenchResult, "name">> {
  const rows = Math.max(10_000, Math.round(ROWS * options.scale));
  const workers = availableParallelism();
  process.stdout.write(`\ngenerating ${COLUMNS} columns x ${rows.toLocaleString("en-US")} rows on each side (kinds: ${KINDS.join("; ")}) ...\n`);
  // Both sides in one SharedArrayBuffer, reference then actual, column after column: the
  // workers read the columns in place, and the file for scipy is the same bytes.
  const buffer = new SharedArrayBuffer(2 * COLUMNS * rows * 8);
  const column = (side: number, c: number) => new Float64Array(buffer, (side * COLUMNS + c) * rows * 8, rows);
  const reference = Array.from({ length: COLUMNS }, (_, c) => column(0, c));
  const actual = Array.from({ length: COLUMNS }, (_, c) => column(1, c));
  for (let c = 0; c < COLUMNS; c++) {
    fill(reference[c]!, c % KINDS.length, false, 2 * c + 1);
    fill(actual[c]!, c % KINDS.length, true, 2 * c + 2);
  }

  const timed = async <T>(fn: () => Promise<T> | T): Promise<{ seconds: number; value: T }> => {
    const start = nowMs();
    const value = await fn();
    return { seconds: (nowMs() - start) / 1000, value };
  };
  process.stdout.write(`columnDrift over ${COLUMNS} columns on ${workers} worker threads, twice ...\n`);
  const first = await timed(() => columnDrift(reference, actual));
  const warm = await timed(() => columnDrift(reference, actual));
  process.stdout.write("columnDriftOne over the same columns one after another on this thread ...\n");
  const oneThread = await timed(() => reference.map((r, c) => columnDriftOne(r, actual[c]!)));

  process.stdout.write(`scipy.stats.ks_2samp over the same ${COLUMNS} columns (${PYTHON}) ...\n`);
  const dir = tempDir("monitoring");
  let scipy: { seconds: number; sortSeconds: number; ks: number[] };
  try {
    const file = join(dir.path, "columns.f64");
    writeFileSync(file, new Uint8Array(buffer));
    const python = spawnSync(PYTHON, ["-c", PYTHON_KS, file, String(COLUMNS), String(rows)], { encoding: "utf8", maxBuffer: 16 * 2 ** 20, env: { PATH: "/usr/bin:/bin" } });
    if (python.status !== 0) throw new Error(`${PYTHON} failed (it needs numpy and scipy: apt-get install python3-scipy): ${python.stderr || python.error?.message}`);
    scipy = JSON.parse(python.stdout) as { seconds: number; sortSeconds: number; ks: number[] };
  } finally {
    dir.remove();
  }

  const results: ColumnDrift[] = warm.value;
  const maxDifference = Math.max(...results.map((r, c) => Math.abs(r.ks - scipy.ks[c]!)));
  const sameAsOneThread = results.every((r, c) => r.ks === oneThread.value[c]!.ks && r.psi === oneThread.value[c]!.psi);
  const byKind = KINDS.map((kind, k) => {
    const mine = results.filter((_, c) => c % KINDS.length === k);
    return [kind, Math.max(...mine.map((r) => r.psi)).toFixed(4), Math.max(...mine.map((r) => r.ks)).toFixed(4)];
  });
  const met = warm.seconds <= TARGET_SECONDS;
  const faster = warm.seconds < scipy.seconds;
  const cell = (s: number) => round(s, 2);
  printTable(`PSI + KS, ${COLUMNS} columns x ${rows.toLocaleString("en-US")} reference rows x ${rows.toLocaleString("en-US")} actual rows`, ["computation", "seconds", "target", "met"], [
    [`Paved columnDrift, PSI + KS, ${workers} worker threads, warm (2nd call)`, cell(warm.seconds), `≤ ${TARGET_SECONDS} s, < scipy`, met && faster ? "yes" : "no"],
    ["Paved columnDrift, first call (starts the worker threads)", cell(first.seconds), "", ""],
    ["Paved columnDriftOne, PSI + KS, one thread, one column after another", cell(oneThread.seconds), "", ""],
    ["scipy 1.10 stats.ks_2samp, KS (and its p-value), one thread", cell(scipy.seconds), "", ""],
    ["numpy.sort of both sides of every column alone, one thread (what ks_2samp starts with)", cell(scipy.sortSeconds), "", ""],
  ]);
  printTable("largest PSI and KS per kind of column (20 columns each)", ["kind (actual vs reference)", "max PSI", "max KS"], byKind);
  const notes = [
    `target ≤ ${TARGET_SECONDS} s: ${met ? "met" : "NOT met"} (${cell(warm.seconds)} s warm, ${cell(first.seconds)} s first call)`,
    `faster than scipy: ${faster ? "met" : "NOT met"} (${round(scipy.seconds / warm.seconds, 1)}x; on one thread ${round(scipy.seconds / oneThread.seconds, 1)}x, and that includes PSI)`,
    `KS agrees with scipy's ks_2samp: max |difference| over ${COLUMNS} columns = ${maxDifference.toExponential(2)}`,
    `worker threads and one thread give identical PSI and KS: ${sameAsOneThread ? "yes" : "NO"}`,
  ];
  return {
    figures: {
      rows,
      columns: COLUMNS,
      workers,
      columnDriftWarmSeconds: round(warm.seconds, 3),
      columnDriftFirstSeconds: round(first.seconds, 3),
      columnDriftOneThreadSeconds: round(oneThread.seconds, 3),
      scipyKsSeconds: round(scipy.seconds, 3),
      numpySortSeconds: round(scipy.sortSeconds, 3),
      maxKsDifference: maxDifference,
      targetSeconds: TARGET_SECONDS,
      targetMet: met,
      fasterThanScipy: faster,
    },
    notes,
  };
}

const OVERHEAD_TARGET = 0.05;
/** Rows per request of the MLP's [rows, 30] input: one, and a batch (sampling copies up to 64 rows of each request). */
const BATCHES = [1, 32];
/** Requests each copy answers one at a time before it is measured, as bench/serving.ts (V8 warms Paved's request path slowly). */
const WARMUP = 3000;
/** How often a data-plane process hands over its samples: at most once a second (src/dataplane/server.ts), though windows drain every 200 ms. */
const DRAIN_MS = 1000;
/**
 * Two copies of the mlp, the same bytes registered, evaluated and deployed alike, served by the
 * same data-plane process; a monitor watches one of them at a time.
 */
const COPIES = ["mlp", "mlp-copy"] as const;
type Copy = (typeof COPIES)[number];
const infer = (model: Copy) => `/v2/models/${model}/infer`;
/** Drift bounds only: the evaluation passes on data that is its own reference. */
const GATE_POLICY = "checks:\n  - {type: drift, maxPsi: 0.25, maxKsStatistic: 0.3}\n";
const MONITOR_WINDOW_SECONDS = 5;
const EVALUATION_ROWS = 400;
/** One phase: c=32 traffic to one copy for this long; a pair is a phase to each copy, in alternating order. */
const PHASE_SECONDS = 2;
const C32 = 32;

/** A section of the run: which copy the monitor watches (none: no monitor at all). */
type Watched = Copy | "none";

/** One phase of c=32 traffic to one copy: what it sent, how long, and the CPU each process used meanwhile (ms). */
interface Phase {
  model: Copy;
  requests: number;
  seconds: number;
  dataPlaneMs: number;
  controlPlaneMs: number;
}

interface Server {
  paved: PavedProcess;
  /** The data-plane process that serves both copies. */
  pid: number;
  c1: HttpClient;
  c32: HttpClient;
  admin: HttpClient;
  /** Each copy's deployed version. */
  versions: Record<Copy, string>;
  /** The monitor watching a copy, while one does, and when it was made. */
  monitor?: { model: Copy; id: string; since: number };
}

/** A monitor's window as GET /api/v1/monitors/<id>/windows gives it (the fields read here). */
interface MonitorWindow {
  start: number;
  status: string;
  requests: number;
  rowsKept: number;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

function batchBody(rows: number): string {
  const data = Array.from({ length: rows }, (_, r) => Array.from({ length: 30 }, (_, i) => round(Math.sin(r * 30 + i + 1), 4)));
  return JSON.stringify({ inputs: [{ name: "features", shape: [rows, 30], datatype: "FP32", data }] });
}

/** An evaluation CSV for the mlp: f0..f29 (normal, seeded) and a 0/1 label. */
function evaluationCsv(rows: number): string {
  const u = generator(12);
  const normal = () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
  const header = [...Array.from({ length: 30 }, (_, i) => `f${i}`), "label"].join(",");
  const lines = Array.from({ length: rows }, () => {
    const features = Array.from({ length: 30 }, () => round(normal(), 4));
    return [...features, features[0]! + features[1]! > 0 ? 1 : 0].join(",");
  });
  return `${header}\n${lines.join("\n")}\n`;
}

async function pollUntil<T>(what: string, get: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await get();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not done within ${timeoutMs / 1000} s; last: ${JSON.stringify(value).slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A call to the server's API as its admin; anything but 200 throws with the answer. */
async function call<T>(admin: HttpClient, method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
  const { status, text } = await admin.raw(method, path, body, contentType ? { "content-type": contentType } : {});
  if (status !== 200) throw new Error(`${method} ${path} answered ${status}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}

/**
 * What a user does through the HTTP API to serve a version: the model registered from a run's
 * artifact, a drift-only gate policy, an evaluation that passes, and a replace deployment that
 * makes no monitor of its own (`monitor: false`; since 4dbd962 a deployment watches its version
 * with default windows): the bench makes and moves its monitor itself (watch). Returns the version.
 */
async function deployAsUser(admin: HttpClient, model: Copy, modelBytes: Uint8Array, csv: string): Promise<string> {
  const api = <T>(method: string, path: string, body?: unknown, contentType?: string) => call<T>(admin, method, path, body, contentType);
  const { run } = await api<{ run: { info: { run_id: string } } }>("POST", "/api/2.0/mlflow/runs/create", { experiment_id: "0", start_time: Date.now() });
  const runId = run.info.run_id;
  await api("PUT", `/api/2.0/mlflow-artifacts/artifacts/0/${runId}/artifacts/model/model.onnx`, Buffer.from(modelBytes), "application/octet-stream");
  const { version } = await api<{ version: string }>("POST", `/api/v1/models/${model}/versions`, { source: `runs:/${runId}/model` });
  await api("PUT", `/api/v1/models/${model}/gate-policy`, { yaml: GATE_POLICY });
  const { uri } = await api<{ uri: string }>("POST", "/api/v1/evaluation-data", csv, "text/csv");
  const evaluation = await api<{ id: string }>("POST", `/api/v1/models/${model}/versions/${version}/evaluations`, { data: uri, reference: uri });
  const evaluated = await pollUntil("the evaluation", () => api<{ phase: string }>("GET", `/api/v1/evaluations/${evaluation.id}`), (e) => !["Pending", "Running"].includes(e.phase));
  if (evaluated.phase !== "Passed") throw new Error(`the evaluation of ${model}@${version} ended ${evaluated.phase}: ${JSON.stringify(evaluated).slice(0, 1000)}`);
  const deployment = await api<{ id: string }>("POST", "/api/v1/deployments", { model, version, strategy: "replace", monitor: false });
  await pollUntil("the deployment", () => api<{ status: { phase: string } }>("GET", `/api/v1/deployments/${deployment.id}`), (d) => {
    if (["Failed", "RolledBack"].includes(d.status.phase)) throw new Error(`the deployment ended ${d.status.phase}: ${JSON.stringify(d).slice(0, 1000)}`);
    return d.status.phase === "Succeeded";
  });
  return version;
}

/** The closed windows of a monitor, oldest first. */
async function monitorWindows(server: Server, id: string): Promise<MonitorWindow[]> {
  const { windows } = await call<{ windows: MonitorWindow[] }>(server.admin, "GET", `/api/v1/monitors/${id}/windows?limit=1000`);
  return windows.slice().sort((a, b) => a.start - b.start);
}

/**
 * One `paved up` with both copies of the mlp deployed through its API, neither watched yet; both
 * must be served by the same data-plane process. As in bench/tracking-ingestion.ts, BENCH_CPU_PROF=dir
 * profiles its control plane, BENCH_PAVED_NODE_ARGS adds node flags to it, and BENCH_PAVED_OUTPUT
 * names a file for its output (what those flags print).
 */
async function startServer(modelBytes: Uint8Array, csv: string): Promise<Server> {
  const prof = process.env.BENCH_CPU_PROF;
  const nodeArgs = [...(prof ? ["--cpu-prof", `--cpu-prof-dir=${prof}`] : []), ...(process.env.BENCH_PAVED_NODE_ARGS?.split(" ").filter(Boolean) ?? [])];
  const paved = await startPaved({ name: "monitoring", nodeArgs });
  const admin = new HttpClient(paved.url, paved.token, 1);
  try {
    const versions = {} as Record<Copy, string>;
    for (const model of COPIES) versions[model] = await deployAsUser(admin, model, modelBytes, csv);
    // Predictions go to the data-plane process itself (what serves them), as bench/serving.ts does.
    const planes = await paved.dataPlanes();
    if (planes.length !== 1) throw new Error(`the bench compares two copies in one data-plane process; paved up started ${planes.length}`);
    const [plane] = planes;
    return { paved, pid: plane!.pid, c1: new HttpClient(plane!.url, paved.token, 1), c32: new HttpClient(plane!.url, paved.token, C32), admin, versions };
  } catch (error) {
    admin.close();
    await paved.stop();
    throw error;
  }
}

/**
 * BENCH_PIN=1: the data-plane process (all its threads) on the last core, the control plane and
 * this bench (the client) on the others, so the data plane's figures are not moved by the
 * monitor's control-plane work or the client competing for its core (Linux, `taskset`).
 */
function pinProcesses(server: Server, cores: number): void {
  if (cores < 2) throw new Error("BENCH_PIN=1 needs at least 2 cores");
  const others = cores === 2 ? "0" : `0-${cores - 2}`;
  const pin = (list: string, pid: number) => {
    const result = spawnSync("taskset", ["-a", "-pc", list, String(pid)], { encoding: "utf8" });
    if (result.status !== 0) throw new Error(`taskset -a -pc ${list} ${pid} failed: ${result.stderr || result.error?.message}`);
  };
  pin(String(cores - 1), server.pid);
  pin(others, server.paved.child.pid!);
  pin(others, process.pid);
  process.stdout.write(`pinned: the data plane (pid ${server.pid}) on core ${cores - 1}; the control plane and this client on ${others}\n`);
}

/**
 * Moves the monitor: deletes the one there is, after it closed a window with requests in it
 * (proof that the section it watched was sampled), and makes one of `model` (5 s windows) unless
 * `model` is "none". Each step waits until the data-plane process applied it: its saved state
 * (dataplane/0/state.json, written when it applies the control plane's push) lists the copy as
 * watched, or no longer does. Returns the windows the deleted monitor closed.
 */
async function watch(server: Server, model: Watched): Promise<MonitorWindow[]> {
  const state = join(server.paved.dataDir, "dataplane", "0", "state.json");
  const keyOf = (copy: Copy) => monitoredKey({ model: copy, version: server.versions[copy], environment: "production" });
  const watched = async (copy: Copy) => ((JSON.parse(readFileSync(state, "utf8")) as { monitored?: string[] }).monitored ?? []).includes(keyOf(copy));
  let closed: MonitorWindow[] = [];
  const current = server.monitor;
  if (current) {
    closed = await pollUntil("a closed window of the monitor with requests in it", () => monitorWindows(server, current.id), (w) => w.some((x) => x.start >= current.since && x.requests > 0), (MONITOR_WINDOW_SECONDS + 30) * 1000);
    await call(server.admin, "DELETE", `/api/v1/monitors/${current.id}`);
    server.monitor = undefined;
    await pollUntil(`the data plane no longer watching ${current.model}`, () => watched(current.model), (w) => !w, 30_000);
  }
  if (model !== "none") {
    const { id } = await call<{ id: string }>(server.admin, "POST", "/api/v1/monitors", { model, version: Number(server.versions[model]), windowSeconds: MONITOR_WINDOW_SECONDS });
    server.monitor = { model, id, since: Date.now() };
    await pollUntil(`the data plane watching ${model}`, () => watched(model), (w) => w, 30_000);
  }
  return closed;
}

/** One phase: c=32 traffic to `model` for PHASE_SECONDS, with the CPU both processes used meanwhile. */
async function phase(server: Server, model: Copy, body: string): Promise<Phase> {
  const controlPid = server.paved.child.pid!;
  const before = { plane: processCpuMs(server.pid), control: processCpuMs(controlPid) };
  const { seconds, latencies } = await driveSamples(server.c32, infer(model), body, C32, { seconds: PHASE_SECONDS }, 0);
  const after = { plane: processCpuMs(server.pid), control: processCpuMs(controlPid) };
  if (!before.plane || !after.plane || !before.control || !after.control) throw new Error("the processes' CPU could not be read from /proc (Linux only)");
  return { model, requests: latencies.length, seconds, dataPlaneMs: after.plane.all - before.plane.all, controlPlaneMs: after.control.all - before.control.all };
}

/** `requests` requests to each copy one at a time on one connection, the copies alternating request by request: the latencies (ms) per copy. */
async function alternate(server: Server, body: string, requests: number): Promise<Record<Copy, number[]>> {
  const latencies: Record<Copy, number[]> = { mlp: [], "mlp-copy": [] };
  for (let i = 0; i < 2 * requests; i++) {
    const model = COPIES[i % 2]!;
    const t = performance.now();
    const { status, text } = await server.c1.raw("POST", infer(model), body);
    if (status !== 200) throw new Error(`${infer(model)} answered ${status}: ${text.slice(0, 300)}`);
    latencies[model].push(performance.now() - t);
  }
  return latencies;
}

/**
 * In this process, what LiveSamples costs a request of [rows, 30] FP32: offer() before the run and
 * answered() after it (µs of CPU per request), and the drain with its encoding every `perDrain`
 * requests (what the data plane answers /samples/drain with, asked at most once a second: binary,
 * encodeSampleSets; µs per drain). Best of 7 rounds of at least `minRoundMs` of CPU each.
 */
function samplingCost(rows: number, perDrain: number, minRoundMs: number): { rows: number; perDrain: number; requestUs: number; drainUs: number; drainBytes: number } {
  const labels = { model: "mlp", version: "1", environment: "production" };
  const input: Tensor = { name: "features", datatype: "FP32", shape: [rows, 30], data: Float32Array.from({ length: rows * 30 }, (_, i) => Math.sin(i)) };
  const output: Tensor = { name: "probability", datatype: "FP32", shape: [rows, 1], data: new Float32Array(rows).fill(0.5) };
  const cpu = () => {
    const used = process.cpuUsage();
    return used.user + used.system;
  };
  const best = { requestUs: Infinity, drainUs: Infinity, drainBytes: 0 };
  for (let pass = 0; pass < 8; pass++) {
    const samples = new LiveSamples();
    samples.setMonitored([monitoredKey(labels)]);
    let requestMicros = 0;
    let drainMicros = 0;
    let requests = 0;
    let drains = 0;
    while (requestMicros + drainMicros < minRoundMs * 1000) {
      let start = cpu();
      for (let i = 0; i < perDrain; i++) samples.answered(labels, samples.offer(labels, input), rowScores(output), 0.0004);
      requestMicros += cpu() - start;
      requests += perDrain;
      start = cpu();
      best.drainBytes = encodeSampleSets(samples.drain()).length;
      drainMicros += cpu() - start;
      drains++;
    }
    // The first round warms the code up.
    if (pass === 0) continue;
    best.requestUs = Math.min(best.requestUs, requestMicros / requests);
    best.drainUs = Math.min(best.drainUs, drainMicros / drains);
  }
  return { rows, perDrain, requestUs: round(best.requestUs, 2), drainUs: round(best.drainUs, 0), drainBytes: best.drainBytes };
}

async function overheadPart(options: BenchOptions): Promise<Omit<BenchResult, "name">> {
  const pairs = Math.max(2, Math.round(8 * options.scale));
  const c1Requests: Record<number, number> = Object.fromEntries(BATCHES.map((b) => [b, Math.max(200, Math.round((b === 1 ? 2000 : 1000) * options.scale))]));
  const bodies = Object.fromEntries(BATCHES.map((b) => [b, batchBody(b)])) as Record<number, string>;
  const models = buildTestModels();
  let server: Server | undefined;
  const loadBefore = loadavg();
  const cores = availableParallelism(); // before BENCH_PIN narrows this process to fewer
  const pinned = process.env.BENCH_PIN === "1";
  try {
    const csv = evaluationCsv(EVALUATION_ROWS);
    process.stdout.write(`\nstarting paved up; two copies of the mlp registered, evaluated and deployed through the API ...\n`);
    server = await startServer(models.bytes("mlp"), csv);
    if (pinned) pinProcesses(server, cores);
    const warmupStart = Math.max(200, Math.round(WARMUP * options.scale));
    process.stdout.write(`warming up: ${COPIES[0]} watched; ${warmupStart / 2} requests one at a time per copy and batch size, and a c=${C32} phase of each ...\n`);
    await watch(server, COPIES[0]);
    for (const model of COPIES) for (const b of BATCHES) await drive(server.c1, infer(model), bodies[b]!, 1, Math.round(warmupStart / 2), 0);
    for (const model of COPIES) for (const b of BATCHES) await phase(server, model, bodies[b]!);

    const measuredFrom = Date.now();
    const judged: MonitorWindow[] = [];
    const sections = {} as Record<Watched, { pairs: Record<number, Record<Copy, Phase>[]>; c1: Record<number, Record<Copy, number[]>> }>;
    process.stdout.write(
      `three sections (${COPIES[0]} watched, ${COPIES[1]} watched, no monitor); each: ${pairs} pairs of ${PHASE_SECONDS} s phases at c=${C32} per batch size (one phase to each copy, the order alternating), then ${BATCHES.map((b) => `${c1Requests[b]} requests per copy at batch ${b}`).join(" and ")} one at a time, the copies alternating ...\n`,
    );
    for (const watched of [COPIES[0], COPIES[1], "none"] as Watched[]) {
      if ((server.monitor?.model ?? "none") !== watched) judged.push(...(await watch(server, watched)).filter((w) => w.start >= measuredFrom));
      const section: (typeof sections)[Watched] = { pairs: {}, c1: {} };
      for (let k = 0; k < pairs; k++) {
        for (const b of BATCHES) {
          const pair = {} as Record<Copy, Phase>;
          for (const model of k % 2 ? [...COPIES].reverse() : COPIES) pair[model] = await phase(server, model, bodies[b]!);
          (section.pairs[b] ??= []).push(pair);
        }
      }
      for (const b of BATCHES) section.c1[b] = await alternate(server, bodies[b]!, c1Requests[b]!);
      sections[watched] = section;
      const p50 = (model: Copy) => summarize(section.c1[1]![model]).p50;
      process.stdout.write(`  ${watched === "none" ? "no monitor" : `${watched} watched`}: batch 1 c=1 p50 ${COPIES.map((m) => `${m} ${p50(m)} ms`).join(", ")}\n`);
    }
    const loadAfter = loadavg();
    const monitorFigures = {
      windows: judged.length,
      requests: judged.reduce((n, w) => n + w.requests, 0),
      rowsKept: judged.reduce((n, w) => n + w.rowsKept, 0),
      statuses: [...new Set(judged.map((w) => w.status))],
    };
    if (monitorFigures.requests === 0) throw new Error(`the monitors counted no requests while they were measured: ${JSON.stringify(judged).slice(0, 500)}`);

    const added = (on: number, off: number) => on / off - 1;
    const percent = (x: number) => `${x >= 0 ? "+" : ""}${round(x * 100, 1)}%`;
    const us = (ms: number, requests: number) => (ms * 1000) / requests;
    const tableRows: (string | number)[][] = [];
    const perBatch: Record<string, unknown> = {};
    const inProcess: ReturnType<typeof samplingCost>[] = [];
    const notes: string[] = [];
    let met = true;
    // The control plane's CPU a second with no monitor (what it spends whatever the traffic), and
    // above that while a copy is watched: the monitor's merging of samples (once a second) and
    // judging (once a window). That work comes on timers, not per request, and a window holds
    // phases of both batch sizes, so it is taken over all the watched sections' seconds together.
    const phases = (watched: Watched) => BATCHES.flatMap((b) => sections[watched].pairs[b]!.flatMap((pair) => COPIES.map((m) => pair[m])));
    const msPerSecond = (list: Phase[]) => list.reduce((n, p) => n + p.controlPlaneMs, 0) / list.reduce((n, p) => n + p.seconds, 0);
    const controlBase = msPerSecond(phases("none"));
    const controlMonitor = msPerSecond(COPIES.flatMap((watched) => phases(watched))) - controlBase;
    for (const b of BATCHES) {
      // Per pair of a watched section: the watched copy's phase (on) against the other's (off),
      // both from the same seconds. The monitor's control-plane CPU over the whole pair, both
      // phases, is charged to the watched requests: an upper bound, since a monitor watching all
      // the traffic would judge as many windows over twice the requests.
      const perPair = COPIES.flatMap((watched) =>
        sections[watched].pairs[b]!.map((pair) => {
          const w = pair[watched];
          const u = pair[COPIES.find((m) => m !== watched)!];
          const dataOn = us(w.dataPlaneMs, w.requests);
          const dataOff = us(u.dataPlaneMs, u.requests);
          const controlOff = us(controlBase * u.seconds, u.requests);
          const controlOn = us(controlBase * w.seconds + controlMonitor * (w.seconds + u.seconds), w.requests);
          return { dataOn, dataOff, controlOn, controlOff, on: dataOn + controlOn, off: dataOff + controlOff, rpsOn: w.requests / w.seconds, rpsOff: u.requests / u.seconds };
        }),
      );
      const med = (f: (p: (typeof perPair)[number]) => number) => round(median(perPair.map(f)), 1);
      const paired = (f: (p: (typeof perPair)[number]) => number) => round(median(perPair.map(f)), 4);
      // Latency one request at a time, the copies alternating request by request: the watched copy's against the other's.
      const latOn = COPIES.flatMap((watched) => sections[watched].c1[b]![watched]);
      const latOff = COPIES.flatMap((watched) => sections[watched].c1[b]![COPIES.find((m) => m !== watched)!]);
      // In µs resolution: summarize's 0.01 ms is a step of 3.7% at 0.27 ms.
      const at = (latencies: number[], p: number) => round(percentile([...latencies].sort((x, y) => x - y), p), 4);
      const p50 = { off: at(latOff, 50), on: at(latOn, 50) };
      const p99 = { off: at(latOff, 99), on: at(latOn, 99) };
      // With no monitor, copy against copy: what this method reads when there is nothing to find.
      const none = sections.none;
      const nullCpu = round(median(none.pairs[b]!.map((pair) => added(us(pair[COPIES[0]].dataPlaneMs, pair[COPIES[0]].requests), us(pair[COPIES[1]].dataPlaneMs, pair[COPIES[1]].requests)))), 4);
      const nullP50 = round(added(at(none.c1[b]![COPIES[0]], 50), at(none.c1[b]![COPIES[1]], 50)), 4);
      const figures = {
        p50C1: round(added(p50.on, p50.off), 4),
        cpuC32: paired((p) => added(p.on, p.off)),
        dataPlaneCpuC32: paired((p) => added(p.dataOn, p.dataOff)),
        controlPlaneAddedUs: med((p) => p.controlOn - p.controlOff),
        throughputC32: paired((p) => added(p.rpsOn, p.rpsOff)),
        noMonitor: { p50C1: nullP50, dataPlaneCpuC32: nullCpu },
      };
      const p50Met = figures.p50C1 <= OVERHEAD_TARGET;
      const cpuMet = figures.cpuC32 <= OVERHEAD_TARGET;
      met &&= p50Met && cpuMet;
      const target = `≤ +${OVERHEAD_TARGET * 100}%`;
      tableRows.push(
        [`batch ${b}: p50 ms, c=1`, p50.off, p50.on, percent(figures.p50C1), target, p50Met ? "yes" : "no"],
        [`batch ${b}: CPU µs/request, both planes, c=32`, med((p) => p.off), med((p) => p.on), percent(figures.cpuC32), target, cpuMet ? "yes" : "no"],
        [`batch ${b}: data-plane CPU µs/request, c=32`, med((p) => p.dataOff), med((p) => p.dataOn), percent(figures.dataPlaneCpuC32), "", ""],
        [`batch ${b}: control-plane CPU µs/request, c=32`, med((p) => p.controlOff), med((p) => p.controlOn), `+${figures.controlPlaneAddedUs} µs`, "", ""],
        [`batch ${b}: req/s, c=32`, med((p) => p.rpsOff), med((p) => p.rpsOn), percent(figures.throughputC32), "", ""],
        [`batch ${b}: p99 ms, c=1`, p99.off, p99.on, percent(added(p99.on, p99.off)), "", ""],
        [`batch ${b}, no monitor, ${COPIES[0]} vs ${COPIES[1]}: p50 c=1 / data-plane CPU c=32`, "", "", `${percent(nullP50)} / ${percent(nullCpu)}`, "", ""],
      );
      // What one data-plane process samples between two drains at the measured c=32 rate.
      inProcess.push(samplingCost(b, Math.max(1, Math.round((med((p) => p.rpsOn) * DRAIN_MS) / 1000)), Math.max(20, Math.round(200 * options.scale))));
      perBatch[`batch${b}`] = { p50, p99, added: figures, p50Met, cpuMet, pairs: perPair.map((p) => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, round(v, 1)]))) };
      notes.push(
        `batch ${b}: a monitor adds ${percent(figures.p50C1)} to p50 at c=1 (${p50.off} -> ${p50.on} ms) and ${percent(figures.cpuC32)} to the CPU a request costs both planes at c=32 (median of ${perPair.length} pairs; the data plane alone ${percent(figures.dataPlaneCpuC32)}, the control plane +${figures.controlPlaneAddedUs} µs); target ≤ +${OVERHEAD_TARGET * 100}%: ${p50Met && cpuMet ? "met" : "NOT met"}`,
        `batch ${b}, no monitor: ${COPIES[0]} against ${COPIES[1]} reads ${percent(nullP50)} on p50 and ${percent(nullCpu)} on the data plane's CPU (the method's own noise)`,
      );
    }
    printTable(`the mlp watched by a monitor (on, ours) vs its unwatched copy (off, ceiling), the same data plane and seconds; ${pairs} pairs per watched copy`, ["", "off", "on", "added", "target", "met"], tableRows);
    printTable(
      "LiveSamples alone, in process ([rows, 30] FP32; offer + answered per request, drain + its binary encoding every second at the c=32 rate; CPU, best of 7 rounds)",
      ["rows", "requests per drain", "µs per request", "µs per drain", "drain bytes", "µs per request, drain included"],
      inProcess.map((c) => [c.rows, c.perDrain, c.requestUs, c.drainUs, c.drainBytes, round(c.requestUs + c.drainUs / c.perDrain, 2)]),
    );
    for (const c of inProcess) notes.push(`in process, [${c.rows}, 30]: offer + answered ${c.requestUs} µs a request, the drain and its encoding ${c.drainUs} µs every ${c.perDrain} requests (${round(c.drainUs / c.perDrain, 2)} µs a request)`);
    notes.push(`the control plane's CPU: ${round(controlBase, 1)} ms a second with no monitor, ${controlMonitor >= 0 ? "+" : ""}${round(controlMonitor, 1)} ms a second while a copy was watched (charged to the watched requests above)`);
    notes.push(
      `the monitors (windows of ${MONITOR_WINDOW_SECONDS} s, one per watched copy) closed ${monitorFigures.windows} windows while measured: ${monitorFigures.requests} requests, ${monitorFigures.rowsKept} rows kept, status ${monitorFigures.statuses.join(", ")}`,
    );
    notes.push(`load average (1 min) ${round(loadBefore[0]!, 1)} before, ${round(loadAfter[0]!, 1)} after, on ${cores} cores${pinned ? " (BENCH_PIN=1: the data plane on its own core)" : ""}: the HTTP figures share the machine with whatever else runs`);
    return {
      figures: {
        pairs,
        phaseSeconds: PHASE_SECONDS,
        c1Requests,
        warmup: warmupStart,
        target: OVERHEAD_TARGET,
        targetMet: met,
        pinned,
        loadAverage: { before: round(loadBefore[0]!, 2), after: round(loadAfter[0]!, 2) },
        monitor: monitorFigures,
        controlPlaneMsPerSecond: { base: round(controlBase, 2), monitor: round(controlMonitor, 2) },
        ...perBatch,
        inProcess,
      },
      notes,
    };
  } finally {
    if (server) {
      for (const client of [server.c1, server.c32, server.admin]) client.close();
      // BENCH_PAVED_OUTPUT=file: the control plane's output (its --trace-gc lines, say) is kept there.
      if (process.env.BENCH_PAVED_OUTPUT) writeFileSync(process.env.BENCH_PAVED_OUTPUT, server.paved.output());
      await server.paved.stop();
    }
  }
}

const PARTS = ["drift", "overhead"] as const;
type Part = (typeof PARTS)[number];
/** Keys run.ts writes around a bench's figures, and the overhead part's own: the rest is the drift part's. */
const NOT_DRIFT = new Set(["bench", "date", "machine", "scale", "notes", "overhead", "parts"]);

interface PartRun {
  date: string;
  scale: number;
  machine: Record<string, unknown>;
  notes: string[];
}

/** The figures of each part in bench/results/monitoring.json, to keep those of a part not run now. */
function previousResults(): { drift?: Record<string, unknown>; overhead?: unknown; parts: Partial<Record<Part, PartRun>> } {
  let file: Record<string, unknown>;
  try {
    file = JSON.parse(readFileSync(join(ROOT, "bench", "results", "monitoring.json"), "utf8")) as Record<string, unknown>;
  } catch {
    return { parts: {} };
  }
  const drift = Object.fromEntries(Object.entries(file).filter(([k]) => !NOT_DRIFT.has(k)));
  // A file from before the overhead part holds the drift part alone.
  const parts = (file.parts as Partial<Record<Part, PartRun>> | undefined) ?? {
    drift: { date: String(file.date), scale: Number(file.scale), machine: file.machine as Record<string, unknown>, notes: (file.notes as string[] | undefined) ?? [] },
  };
  return { ...(Object.keys(drift).length ? { drift } : {}), ...(file.overhead ? { overhead: file.overhead } : {}), parts };
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const wanted = (process.env.BENCH_PART ?? PARTS.join(",")).split(",").map((p) => p.trim());
  if (!wanted.length || wanted.some((p) => !(PARTS as readonly string[]).includes(p))) {
    throw new Error(`BENCH_PART must be drift, overhead or drift,overhead (the default), not '${process.env.BENCH_PART}'`);
  }
  const previous = previousResults();
  const figures: Record<string, unknown> = {};
  const notes: string[] = [];
  const parts = { ...previous.parts };
  const ran = (part: Part, result: Omit<BenchResult, "name">) => {
    notes.push(...result.notes);
    parts[part] = { date: new Date().toISOString(), scale: options.scale, machine: machine(), notes: result.notes };
  };
  if (wanted.includes("drift")) {
    const result = await driftPart(options);
    Object.assign(figures, result.figures);
    ran("drift", result);
  } else if (previous.drift) {
    Object.assign(figures, previous.drift);
  }
  if (wanted.includes("overhead")) {
    const result = await overheadPart(options);
    figures.overhead = result.figures;
    ran("overhead", result);
  } else if (previous.overhead) {
    figures.overhead = previous.overhead;
  }
  for (const part of PARTS) if (!wanted.includes(part) && parts[part]) notes.push(`${part} part not run now: its figures are kept from ${parts[part].date} (BENCH_PART=${part} runs it)`);
  figures.parts = parts;
  return { name: "monitoring", figures, notes };
}
