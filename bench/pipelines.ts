// Pipelines bench (issue 10, "Done when"): the same 1,000-task DAG of trivial steps on a real
// `paved up` and on snakemake (Debian's), in one run. The DAG: 10 layers of 100 tasks, each task
// after two of the layer before (j and j+1 mod 100), so both fan-out and fan-in are exercised.
// Trivial steps: on Paved the built-in `echo` kind (runs no process: it measures the scheduler, not
// process start-up; each echo step passes its two upstream outputs on by reference); on snakemake
// its cheapest trivial step, a `shell:` rule running `date +%s.%N > {output}` (snakemake 7's `run:`
// blocks are slower here: with them it starts a whole snakemake process per job), with its faster
// greedy scheduler (the default ILP one calls a solver each round). Figures: total wall time, and
// the step-to-step gap (a task's start minus the latest end of the tasks it waits for; a shell
// task's one timestamp stands for both), p50 and p99.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { HttpClient, nowMs, printTable, round, startPaved, summarize, tempDir, type BenchOptions, type BenchResult } from "./support.ts";

const LAYERS = 10;

interface Step {
  key: string;
  phase: string;
  startedAt: number | null;
  finishedAt: number | null;
}
interface Run {
  id: string;
  phase: string;
  message: string | null;
  createdAt: number;
  finishedAt: number | null;
  steps: Step[];
}

const name = (layer: number, j: number) => `l${layer}_${j}`;
const depsOf = (layer: number, j: number, width: number) => (layer === 0 ? [] : [...new Set([name(layer - 1, j), name(layer - 1, (j + 1) % width)])]);

function gaps(tasks: Map<string, { start: number; end: number }>, width: number): number[] {
  const out: number[] = [];
  for (let layer = 1; layer < LAYERS; layer++) {
    for (let j = 0; j < width; j++) {
      const t = tasks.get(name(layer, j))!;
      out.push(t.start - Math.max(...depsOf(layer, j, width).map((d) => tasks.get(d)!.end)));
    }
  }
  return out;
}

async function onPaved(width: number, kind: "echo" | "job"): Promise<{ wallMs: number; gaps: number[] }> {
  const paved = await startPaved({ name: "pipelines", config: { pipelines: { intervalSeconds: 1 }, compute: { gpus: [], systemMetricsInterval: 3600 } } });
  try {
    const client = new HttpClient(paved.url, paved.token, 2);
    await client.request("POST", "/api/v1/teams", { name: "bench" });
    const steps = [];
    const work = tempDir("pipelines-jobs");
    for (let layer = 0; layer < LAYERS; layer++) {
      for (let j = 0; j < width; j++) {
        const deps = depsOf(layer, j, width);
        steps.push(
          kind === "echo"
            ? { name: name(layer, j), echo: { v: name(layer, j), ...Object.fromEntries(deps.map((d, i) => [`in${i}`, `\${{ steps.${d}.outputs.v }}`])) } }
            : { name: name(layer, j), dependsOn: deps, cache: false, job: { command: ["/bin/sh", "-c", "date +%s%N"], workingDir: work.path, hyperparameterArgs: false, compute: { cpus: 0.1, memory: 16 } } },
        );
      }
    }
    await client.request("POST", "/api/v1/pipelines", { kind: "Pipeline", metadata: { name: "bench-dag", team: "bench" }, spec: { steps } });
    const started = await client.request<Run>("POST", "/api/v1/pipelines/bench-dag/runs", { parameters: {} });
    let run: Run;
    const deadline = Date.now() + 480_000;
    for (;;) {
      run = await client.request<Run>("GET", `/api/v1/pipeline-runs/${started.id}`);
      if (["SUCCEEDED", "FAILED", "CANCELLED"].includes(run.phase)) break;
      if (Date.now() > deadline) throw new Error(`the run did not end within 480 s: ${run.steps.filter((s) => s.phase !== "succeeded").length} steps not done; ${paved.output().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    client.close();
    work.remove();
    if (run.phase !== "SUCCEEDED") throw new Error(`the run ended ${run.phase}: ${run.message ?? ""}`);
    const tasks = new Map(run.steps.map((s) => [s.key, { start: s.startedAt!, end: s.finishedAt! }]));
    return { wallMs: run.finishedAt! - run.createdAt, gaps: gaps(tasks, width) };
  } finally {
    await paved.stop();
  }
}

function onSnakemake(width: number): { wallMs: number; gaps: number[]; version: string } {
  const version = spawnSync("snakemake", ["--version"], { encoding: "utf8" });
  if (version.status !== 0) throw new Error("snakemake is not installed: run scripts/install-deps.sh (Debian's snakemake package)");
  const dir = tempDir("pipelines-snakemake");
  try {
    mkdirSync(join(dir.path, "out"));
    // One rule; a task's inputs are the two tasks of the layer before; it writes its own time.
    writeFileSync(
      join(dir.path, "Snakefile"),
      `LAYERS = ${LAYERS}
WIDTH = ${width}

def deps(wildcards):
    layer, j = int(wildcards.layer), int(wildcards.j)
    if layer == 0:
        return []
    return sorted({f"out/l{layer - 1}_{j}", f"out/l{layer - 1}_{(j + 1) % WIDTH}"})

rule all:
    input: [f"out/l{LAYERS - 1}_{j}" for j in range(WIDTH)]

rule task:
    input: deps
    output: "out/l{layer}_{j}"
    shell: "date +%s.%N > {output}"
`,
    );
    const t0 = nowMs();
    const result = spawnSync("snakemake", ["--cores", String(cpus().length), "--scheduler", "greedy", "--snakefile", "Snakefile", "--directory", dir.path, "--quiet", "all"], { cwd: dir.path, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    const wallMs = nowMs() - t0;
    if (result.status !== 0) throw new Error(`snakemake failed (${result.status}): ${(result.stderr || result.stdout).slice(-2000)}`);
    const tasks = new Map<string, { start: number; end: number }>();
    for (let layer = 0; layer < LAYERS; layer++) {
      for (let j = 0; j < width; j++) {
        const time = Number(readFileSync(join(dir.path, "out", name(layer, j)), "utf8").trim()) * 1000;
        tasks.set(name(layer, j), { start: time, end: time });
      }
    }
    return { wallMs, gaps: gaps(tasks, width), version: version.stdout.trim() };
  } finally {
    dir.remove();
  }
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const width = Math.max(10, Math.round(100 * options.scale));
  const total = width * LAYERS;
  const paved = await onPaved(width, "echo");
  // The same DAG with a process per step on Paved too: job steps (sh -c date) through the compute queue.
  const jobs = process.env.BENCH_PIPELINE_JOBS === "0" ? undefined : await onPaved(width, "job");
  const snake = onSnakemake(width);
  const p = summarize(paved.gaps);
  const s = summarize(snake.gaps);
  const jg = jobs ? summarize(jobs.gaps) : undefined;
  printTable(
    `The same ${total}-task DAG (${LAYERS} layers of ${width}, each task after two of the layer before) of trivial steps`,
    ["", "total wall s", "gap p50 ms", "gap p99 ms", "gap max ms"],
    [
      ["Paved (echo steps, paved up on SQLite)", round(paved.wallMs / 1000, 2), round(p.p50, 1), round(p.p99, 1), round(p.max, 1)],
      ...(jobs && jg ? [["Paved (job steps: sh -c date, a process each)", round(jobs.wallMs / 1000, 2), round(jg.p50, 1), round(jg.p99, 1), round(jg.max, 1)]] : []),
      [`snakemake ${snake.version} (shell: date, --cores ${cpus().length}, greedy)`, round(snake.wallMs / 1000, 2), round(s.p50, 1), round(s.p99, 1), round(s.max, 1)],
    ],
  );
  const notes = [
    `Paved's total is the run's own (created -> finished, server clock); snakemake's is its process (start -> exit, DAG building included), as a user waits for each`,
    `target gap p50 <= 20 ms: ${p.p50 <= 20 ? "met" : "NOT met"} (${round(p.p50, 1)} ms); target total <= snakemake's: ${paved.wallMs <= snake.wallMs ? "met" : "NOT met"} (${round(paved.wallMs / 1000, 2)} s vs ${round(snake.wallMs / 1000, 2)} s)`,
    `times are milliseconds of the server's clock (a gap of 0 is under 1 ms); a job step's gap runs from its last dependency's end, as the controller saw it, to its job's submission`,
    `trivial steps: Paved's built-in echo kind (no process; each passes its inputs on by reference, resolved, checked and recorded in the database; echo steps are never cached); snakemake's shell: rule running date (a process per task: snakemake's cheapest trivial step; 7.x's run: blocks start a snakemake process per job)`,
  ];
  return {
    name: "pipelines",
    figures: { tasks: total, layers: LAYERS, width, paved: { wallMs: round(paved.wallMs, 1), gapMs: p }, ...(jobs ? { pavedJobSteps: { wallMs: round(jobs.wallMs, 1), gapMs: jg } } : {}), snakemake: { version: snake.version, cores: cpus().length, wallMs: round(snake.wallMs, 1), gapMs: s } },
    notes,
  };
}
