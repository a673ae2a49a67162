// Runs the benchmarks: `npm run bench` (all) or `npm run bench -- serving` (one: tracking,
// history, scheduling, sweep, serving, router, peer, auth, audit, workspaces, failover, monitoring, batch-inference or ui). Each prints its figures beside
// their ceiling or peer and writes bench/results/<name>.json.
//   --install-slurm (or BENCH_INSTALL_SLURM=1)  let the scheduling bench apt-get install slurm-wlm
//   BENCH_SCALE=0.1                             a tenth of the work, for a quick look
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, machine, type BenchOptions, type BenchResult } from "./support.ts";

const BENCHES: Record<string, { describe: string; load: () => Promise<{ run(o: BenchOptions): Promise<BenchResult> }> }> = {
  tracking: { describe: "metric ingestion (log-batch) on SQLite and PostgreSQL beside raw writes into the same layout, 1M points (--10m, --100m: more); search_runs latency", load: () => import("./tracking-ingestion.ts") },
  history: { describe: "a 1,000,000-point metric history downsampled to 1,000 buckets vs reading every raw point, and the SQL alone", load: () => import("./tracking-history.ts") },
  scheduling: { describe: "submit -> process start latency on the local executor, beside Slurm", load: () => import("./scheduling.ts") },
  sweep: { describe: "a 1,000-trial sweep of trivial trials on the local executor: queue overhead per trial (sweep controller, job queue) beside the trials' own run time", load: () => import("./sweep.ts") },
  serving: { describe: "OIP v2 infer latency/throughput (c=1, c=32) vs a bare node:http + onnxruntime server and session.run", load: () => import("./serving.ts") },
  "dataplane-scale": { describe: "throughput of N data-plane processes (BENCH_PROCESSES) against N x one, load from separate client processes", load: () => import("./dataplane-scale.ts") },
  peer: { describe: "the MLP on paved up vs the same model on FastAPI + uvicorn + PyTorch (Debian's packages; apt-installed when missing), c=1 and c=32", load: () => import("./peer.ts") },
  auth: { describe: "what authentication + authorization add per request: in process (cached token, policy, run loader) and over HTTP (log-batch with a token vs auth off)", load: () => import("./auth.ts") },
  router: { describe: "what a canary split adds to versionless infer p50 (in process and over HTTP) vs a single version; router pick+observe ns", load: () => import("./router.ts") },
  workspaces: { describe: "workspace ready time p50/p95 cold and from the warm pool beside a bare Jupyter start; proxy overhead on a kernel execute_request round trip vs Jupyter's socket", load: () => import("./workspaces.ts") },
  failover: { describe: "writes refused after kill -9 of the control plane: three replicas on PostgreSQL (a follower takes over) beside one paved up started again at once", load: () => import("./failover.ts") },
  monitoring: { describe: "PSI + KS of 100 columns, 1,000,000 reference x 1,000,000 actual rows, on worker threads beside scipy's ks_2samp on the same data", load: () => import("./monitoring.ts") },
  datasets: { describe: "statistics of a generated CSV (BENCH_SIZE, default 100 MB; --gb for 1 GB) through Paved's analysis vs DuckDB's own SUMMARIZE of the same file (node-api), same threads", load: () => import("./datasets.ts") },
  "batch-inference": { describe: "batch inference rows/s: the MLP over 1,000,000 Parquet rows through Paved's engine (output written) vs a bare DuckDB-chunks + session.run loop", load: () => import("./batch-inference.ts") },
  pipelines: { describe: "the same 1,000-task DAG of trivial steps on Paved (echo steps) and on snakemake (shell: date): total wall time and step-to-step gap p50/p99", load: () => import("./pipelines.ts") },
  ui: { describe: "the web UI in Chromium: the runs page with 30,000 runs interactive from navigation, a 1,000,000-point metric chart drawn, and the bundle's gzip size", load: () => import("./ui.ts") },
  audit: { describe: "what audit.dataEvents: true (each log-batch's record committed before the answer) adds to log-batch p50 and throughput, c=1 and c=4, vs the default summaries", load: () => import("./audit.ts") },
};

const args = process.argv.slice(2);
const names = args.filter((a) => !a.startsWith("-"));
const options: BenchOptions = {
  installSlurm: args.includes("--install-slurm") || process.env.BENCH_INSTALL_SLURM === "1",
  scale: Number(process.env.BENCH_SCALE ?? "1") || 1,
};
if (args.includes("--help") || args.includes("-h")) {
  process.stdout.write(`usage: npm run bench [-- <name>...] [--install-slurm]\n\n${Object.entries(BENCHES).map(([n, b]) => `  ${n.padEnd(12)} ${b.describe}`).join("\n")}\n`);
  process.exit(0);
}
const unknown = names.filter((n) => !(n in BENCHES));
if (unknown.length) {
  process.stderr.write(`unknown bench '${unknown.join("', '")}'; known: ${Object.keys(BENCHES).join(", ")}\n`);
  process.exit(2);
}

const host = machine();
process.stdout.write(`machine: ${host.cpus} x ${host.cpuModel}, ${host.memoryGiB} GiB, Node ${host.node}${options.scale !== 1 ? `, BENCH_SCALE=${options.scale}` : ""}\n`);
const resultsDir = join(ROOT, "bench", "results");
mkdirSync(resultsDir, { recursive: true });
let failed = false;
for (const name of names.length ? names : Object.keys(BENCHES)) {
  process.stdout.write(`\n=== ${name}: ${BENCHES[name]!.describe} ===\n`);
  try {
    const bench = await BENCHES[name]!.load();
    const result = await bench.run(options);
    process.stdout.write(`\n${result.notes.map((n) => `  ${n}`).join("\n")}\n`);
    const file = join(resultsDir, `${result.name}.json`);
    writeFileSync(file, JSON.stringify({ bench: result.name, date: new Date().toISOString(), machine: host, scale: options.scale, ...result.figures, notes: result.notes }, null, 2) + "\n");
    process.stdout.write(`  wrote ${file.slice(ROOT.length)}\n`);
  } catch (error) {
    failed = true;
    process.stderr.write(`bench ${name} failed: ${(error as Error).stack ?? String(error)}\n`);
  }
}
process.exit(failed ? 1 : 0);
