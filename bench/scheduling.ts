// Scheduling bench: from just before `POST /api/v1/jobs` to the job's own first instruction
// (`/bin/date +%s%N`, read back from its log) on the local executor of a real `paved up`; beside
// it the same trivial jobs through Slurm (`sbatch` to the job's own timestamp) when Slurm exists,
// and through Paved onto that Slurm (a profile with `executor: slurm`), alternating with sbatch.
import { execFile, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { HttpClient, ROOT, nowMs, printTable, round, startPaved, summarize, tempDir, type BenchOptions, type BenchResult } from "./support.ts";

const run_ = promisify(execFile);
const TARGET_P99_MS = 50;
/** What Paved may add to Slurm's own submit latency, p50 (issue 13). */
const SLURM_ADDED_P50_MS = 50;
const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);
const TIMESTAMP = /^(\d{18,20})\s*$/m;

interface Job {
  id: string;
  phase: string;
  events: { time: number; type: string }[];
  startedAt: number | null;
  exitCode: number | null;
  message: string | null;
}

type Stats = ReturnType<typeof summarize>;

interface Sample {
  /** Submit (just before the POST / sbatch) to the process's own timestamp, ms. */
  startMs: number;
  /** Submit to the answer of the POST / exit of sbatch, ms. */
  submitMs: number;
  /** Submit to the job's `Scheduled` event (resources claimed, Job.startedAt), ms; local only. */
  scheduledMs?: number;
  /** Submit to the job's `Started` event (the executor returned from spawning), ms; local only. */
  spawnedMs?: number;
  /** Submit to the job being in Slurm's queue (sbatch returned), ms; Slurm only. */
  queuedMs?: number;
}

async function waitForJob(client: HttpClient, id: string, deadlineMs = 60_000): Promise<Job> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const job = await client.request<Job>("GET", `/api/v1/jobs/${id}`);
    if (TERMINAL.has(job.phase)) return job;
    if (Date.now() > until) throw new Error(`job ${id} still ${job.phase} after ${deadlineMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Waits for a trivial job to succeed and reads the process's own start time (ms) from its log. */
async function startedAt(client: HttpClient, id: string): Promise<{ done: Job; started: number }> {
  const done = await waitForJob(client, id);
  if (done.phase !== "SUCCEEDED") throw new Error(`job ${id} ended ${done.phase} (exit ${done.exitCode}): ${done.message ?? ""}`);
  const { text } = await client.raw("GET", `/api/v1/jobs/${id}/logs`);
  const m = text.match(TIMESTAMP);
  if (!m?.[1]) throw new Error(`job ${id} logged no timestamp; log was: ${text.slice(0, 300)}`);
  return { done, started: Number(BigInt(m[1]) / 1000n) / 1000 };
}

async function oneLocalJob(client: HttpClient, workingDir: string, i: number, tag: string): Promise<Sample> {
  const t0 = nowMs();
  const job = await client.request<Job>("POST", "/api/v1/jobs", {
    name: `bench-${tag}-${i}`,
    experiment: "scheduling-bench",
    command: ["/bin/date", "+%s%N"],
    workingDir,
    // A sliver of a core, so several trivial jobs may run at once and none waits on resources.
    compute: { cpus: 0.1, memory: 16 },
  });
  const submitMs = nowMs() - t0;
  const { done, started } = await startedAt(client, job.id);
  const at = (type: string) => done.events.find((e) => e.type === type)?.time;
  const scheduled = at("Scheduled") ?? done.startedAt ?? undefined;
  const spawned = at("Started");
  return {
    startMs: started - t0,
    submitMs,
    ...(scheduled !== undefined ? { scheduledMs: scheduled - t0 } : {}),
    ...(spawned !== undefined ? { spawnedMs: spawned - t0 } : {}),
  };
}

async function localExecutor(options: BenchOptions): Promise<Record<string, unknown>> {
  const jobs = Math.max(20, Math.round(1000 * options.scale));
  const concurrentJobs = Math.max(20, Math.round(200 * options.scale));
  const inFlight = 4;
  const paved = await startPaved({ name: "scheduling" });
  const work = tempDir("jobs");
  try {
    const client = new HttpClient(paved.url, paved.token, inFlight + 2);
    for (let i = 0; i < 5; i++) await oneLocalJob(client, work.path, i, "warmup");
    const sequential: Sample[] = [];
    for (let i = 0; i < jobs; i++) {
      sequential.push(await oneLocalJob(client, work.path, i, "seq"));
      if ((i + 1) % 100 === 0) process.stdout.write(`  local, sequential: ${i + 1}/${jobs}\n`);
    }
    const concurrent: Sample[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        for (;;) {
          const i = next++;
          if (i >= concurrentJobs) return;
          concurrent.push(await oneLocalJob(client, work.path, i, "par"));
        }
      }),
    );
    client.close();
    return {
      sequential: {
        jobs,
        start: summarize(sequential.map((s) => s.startMs)),
        submit: summarize(sequential.map((s) => s.submitMs)),
        scheduled: summarize(sequential.flatMap((s) => (s.scheduledMs === undefined ? [] : [s.scheduledMs]))),
        spawned: summarize(sequential.flatMap((s) => (s.spawnedMs === undefined ? [] : [s.spawnedMs]))),
      },
      concurrent: { jobs: concurrentJobs, inFlight, start: summarize(concurrent.map((s) => s.startMs)), submit: summarize(concurrent.map((s) => s.submitMs)) },
    };
  } finally {
    await paved.stop();
    work.remove();
  }
}

function hasSlurm(): boolean {
  return spawnSync("sh", ["-c", "command -v sbatch && command -v slurmctld"], { stdio: "ignore" }).status === 0;
}

function installSlurm(): void {
  process.stdout.write("slurm: installing slurm-wlm with apt-get (about 20 s) ...\n");
  const sudo = process.getuid?.() === 0 ? [] : ["sudo"];
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  spawnSync([...sudo, "apt-get", "update", "-q"].join(" "), { shell: true, stdio: "ignore", env });
  const r = spawnSync([...sudo, "apt-get", "install", "-y", "-q", "slurm-wlm"].join(" "), { shell: true, stdio: "inherit", env });
  if (r.status !== 0) throw new Error("apt-get install slurm-wlm failed");
}

/** One trivial job through `sbatch` itself: submit is the call to sbatch's exit (the job is in Slurm's queue). */
async function oneSbatchJob(out: string, env: NodeJS.ProcessEnv): Promise<Sample> {
  const t0 = nowMs();
  const { stdout } = await run_("sbatch", ["--parsable", "--output", `${out}/%j.out`, "--wrap", "/bin/date +%s%N"], { env });
  const submitMs = nowMs() - t0;
  const file = join(out, `${stdout.trim().split(";")[0]}.out`);
  const until = Date.now() + 60_000;
  let text = "";
  while (!(text = existsSync(file) ? readFileSync(file, "utf8") : "").match(TIMESTAMP)) {
    if (Date.now() > until) throw new Error(`slurm job ${stdout.trim()} did not start within 60 s`);
    await new Promise((r) => setTimeout(r, 2));
  }
  const started = Number(BigInt(text.match(TIMESTAMP)![1]!) / 1000n) / 1000;
  return { startMs: started - t0, submitMs, queuedMs: submitMs };
}

async function slurmJobs(count: number, out: string, env: NodeJS.ProcessEnv): Promise<Sample[]> {
  // A fresh Slurm numbers jobs from 1 again, so each start needs its own output folder.
  mkdirSync(out, { recursive: true });
  const samples: Sample[] = [];
  for (let i = 0; i < count; i++) samples.push(await oneSbatchJob(out, env));
  return samples;
}

/**
 * One trivial job through Paved onto Slurm (a profile with `executor: slurm`): queued is the POST to
 * the BackendSubmitted event (written as Paved's sbatch returned),
 * so Paved's part (admission, scheduling pass, token, batch script, sbatch) is that minus sbatch's own.
 */
async function onePavedSlurmJob(client: HttpClient, workingDir: string, i: number): Promise<Sample> {
  const t0 = nowMs();
  const job = await client.request<Job>("POST", "/api/v1/jobs", { name: `bench-slurm-${i}`, experiment: "scheduling-bench", command: ["/bin/date", "+%s%N"], workingDir, compute: { profile: "slurm-trivial" } });
  const submitMs = nowMs() - t0;
  const { done, started } = await startedAt(client, job.id);
  const queued = done.events.find((e) => e.type === "BackendSubmitted")?.time;
  return { startMs: started - t0, submitMs, ...(queued !== undefined ? { queuedMs: queued - t0 } : {}) };
}

/** Paved on Slurm beside sbatch, alternating job by job on the same cluster so its scheduler's tick and the machine's drift fall on both alike. */
async function pavedBesideSbatch(count: number, conf: string, out: string, env: NodeJS.ProcessEnv): Promise<{ paved: Sample[]; sbatch: Sample[] }> {
  const dir = tempDir("slurm-profiles");
  const profilesFile = join(dir.path, "profiles.yaml");
  writeFileSync(profilesFile, "profiles:\n  slurm-trivial:\n    executor: slurm\n    cpus: 1\n    memory: 16Mi\n");
  const paved = await startPaved({ name: "scheduling-slurm", config: { compute: { gpus: [], profilesFile, slurm: { conf, pollSeconds: 0.05 } } } });
  const work = tempDir("slurm-jobs");
  mkdirSync(out, { recursive: true });
  try {
    const client = new HttpClient(paved.url, paved.token, 2);
    for (let i = 0; i < 3; i++) await onePavedSlurmJob(client, work.path, -1 - i);
    const samples = { paved: [] as Sample[], sbatch: [] as Sample[] };
    for (let i = 0; i < count; i++) {
      samples.sbatch.push(await oneSbatchJob(out, env));
      samples.paved.push(await onePavedSlurmJob(client, work.path, i));
    }
    client.close();
    return samples;
  } finally {
    await paved.stop();
    work.remove();
    dir.remove();
  }
}

/** Slurm 22.05 on this machine, stock and with batch_sched_delay=0; undefined with a reason when absent. */
async function slurm(options: BenchOptions): Promise<Record<string, unknown> | string> {
  if (!hasSlurm()) {
    if (!options.installSlurm) return "slurm: not installed (run with BENCH_INSTALL_SLURM=1)";
    installSlurm();
  }
  if (process.getuid?.() !== 0) return "slurm: skipped, scripts/slurm-up.sh needs root (munge, SlurmUser=root)";
  const jobs = Math.max(5, Math.round(20 * Math.min(1, options.scale * 2)));
  const state = tempDir("slurm");
  const results: Record<string, unknown> = { jobs };
  try {
    for (const [label, parameters] of [
      ["stock", ""],
      ["batch_sched_delay=0", "batch_sched_delay=0"],
    ] as const) {
      const up = await run_(join(ROOT, "scripts/slurm-up.sh"), [state.path], { env: { ...process.env, FAKE_GPUS: "0", SCHEDULER_PARAMETERS: parameters } });
      const conf = up.stdout.match(/SLURM_CONF=(\S+)/)?.[1];
      if (!conf) throw new Error(`slurm-up.sh printed no SLURM_CONF:\n${up.stdout}${up.stderr}`);
      const env = { ...process.env, SLURM_CONF: conf };
      try {
        const out = join(state.path, `out-${label}`);
        await slurmJobs(1, join(out, "warmup"), env); // the first job after start also waits for the node
        const samples = await slurmJobs(jobs, out, env);
        results[label] = { start: summarize(samples.map((s) => s.startMs)), submit: summarize(samples.map((s) => s.submitMs)) };
        process.stdout.write(`  slurm (${label}): ${jobs} jobs done\n`);
        if (parameters) {
          const pair = await pavedBesideSbatch(jobs, conf, join(out, "beside-paved"), env);
          const stats = (xs: Sample[]) => ({ start: summarize(xs.map((s) => s.startMs)), submit: summarize(xs.map((s) => s.submitMs)), queued: summarize(xs.flatMap((s) => (s.queuedMs === undefined ? [] : [s.queuedMs]))) });
          results.pavedBesideSbatch = { label, paved: stats(pair.paved), sbatch: stats(pair.sbatch) };
          process.stdout.write(`  slurm (${label}): ${jobs} jobs through Paved beside ${jobs} through sbatch done\n`);
        }
      } finally {
        await run_(join(ROOT, "scripts/slurm-down.sh"), [state.path]);
      }
    }
    return results;
  } finally {
    state.remove();
  }
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const local = await localExecutor(options);
  const slurmResult = await slurm(options);
  const seq = local.sequential as { jobs: number; start: Stats; submit: Stats; scheduled: Stats; spawned: Stats };
  const par = local.concurrent as { jobs: number; inFlight: number; start: Stats; submit: Stats };
  const row = (name: string, n: number, start: Stats, submit: Stats): (string | number)[] => [name, n, start.p50, start.p90, start.p99, start.max, submit.p50];
  const rows = [
    row("paved local executor, one at a time", seq.jobs, seq.start, seq.submit),
    row(`paved local executor, ${par.inFlight} in flight`, par.jobs, par.start, par.submit),
  ];
  const notes: string[] = [];
  if (typeof slurmResult === "string") {
    notes.push(slurmResult);
  } else {
    for (const label of ["stock", "batch_sched_delay=0"]) {
      const r = slurmResult[label] as { start: Stats; submit: Stats } | undefined;
      if (r) rows.push(row(`slurm 22.05 sbatch (${label}), one at a time`, slurmResult.jobs as number, r.start, r.submit));
    }
    const beside = slurmResult.pavedBesideSbatch as { label: string; paved: { start: Stats; submit: Stats; queued: Stats }; sbatch: { start: Stats; submit: Stats; queued: Stats } } | undefined;
    if (beside) {
      const n = slurmResult.jobs as number;
      rows.push(row(`sbatch (${beside.label}), alternating with Paved`, n, beside.sbatch.start, beside.sbatch.submit));
      rows.push(row(`paved on slurm (${beside.label}), alternating with sbatch`, n, beside.paved.start, beside.paved.submit));
      const added = round(beside.paved.queued.p50 - beside.sbatch.queued.p50, 2);
      notes.push(
        `slurm: submit -> in Slurm's queue p50 ${beside.paved.queued.p50} ms through Paved vs ${beside.sbatch.queued.p50} ms for sbatch itself: Paved adds ${added} ms (target <= ${SLURM_ADDED_P50_MS} ms: ${added <= SLURM_ADDED_P50_MS ? "met" : "NOT met"}); submit -> start p50 ${beside.paved.start.p50} vs ${beside.sbatch.start.p50} ms (Slurm's one-second scheduling tick dominates both)`,
      );
    }
  }
  printTable(
    "Submit -> process start (the job's own `date +%s%N`), trivial jobs, ms",
    ["path", "jobs", "p50", "p90", "p99", "max", "submit call p50"],
    rows,
  );
  notes.unshift(
    `local p99 ${seq.start.p99} ms (one at a time), ${par.start.p99} ms (${par.inFlight} in flight); target p99 < ${TARGET_P99_MS} ms: ${seq.start.p99 < TARGET_P99_MS ? "met" : "NOT met"}`,
    `where the time goes (one at a time, p50 ms after submit): POST answered ${seq.submit.p50}, Scheduled event ${seq.scheduled.p50}, Started event (spawn returned) ${seq.spawned.p50}, process's own clock ${seq.start.p50}`,
  );
  return {
    name: "scheduling",
    figures: { local, slurm: slurmResult, targetP99Ms: TARGET_P99_MS, meetsTarget: seq.start.p99 < TARGET_P99_MS, slurmAddedTargetP50Ms: SLURM_ADDED_P50_MS },
    notes,
  };
}
