import type { Command } from "commander";
import { createWriteStream } from "node:fs";
import { rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import type { PavedClient, RunView } from "../../client/index.ts";
import { invalidInput, isPlatformError } from "../../core/index.ts";
import type { CliContext } from "../context.ts";
import { parseInteger } from "../options.ts";
import { formatAgo, formatBytes, formatElapsed, formatNumber, formatTime } from "../render/format.ts";
import { renderFields, renderTable } from "../render/table.ts";

export function registerRuns(program: Command, ctx: CliContext): void {
  const runs = program
    .command("runs")
    .description("Search, show and compare tracked runs; their metric histories and artifacts")
    .addHelpText(
      "after",
      "\nExamples:\n  $ paved runs ls --experiment mnist --filter \"metrics.loss < 0.3\"\n  $ paved runs compare run_a run_b\n  $ paved runs metrics run_a loss\n  $ paved runs artifacts get run_a outputs/model.onnx -o model.onnx",
    );

  runs
    .command("ls")
    .description("List runs, newest first (MLflow search syntax for --filter and --order-by)")
    .option("--experiment <name-or-id>", "only runs of this experiment")
    .option("--status <status>", "only runs with this status (RUNNING, FINISHED, FAILED, KILLED)")
    .option("--filter <expression>", "MLflow filter, e.g. \"metrics.loss < 0.5 and params.lr = '0.01'\"")
    .option("--order-by <clause>", "e.g. \"metrics.loss ASC\"")
    .option("--limit <n>", "at most this many runs", parseInteger("--limit", 1))
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved runs ls --experiment mnist --filter \"metrics.loss < 0.5\" --order-by \"metrics.loss ASC\" --limit 10")
    .action(async (opts: { experiment?: string; status?: string; filter?: string; orderBy?: string; limit?: number; json?: boolean }) => {
      const { json, ...query } = opts;
      const list = await (await ctx.client()).listRuns(query);
      if (json) return ctx.json({ runs: list });
      ctx.out(renderRunTable(list, ctx.now()));
    });

  runs
    .command("show")
    .argument("<id>", "run id")
    .description("Show a run: status, source, params, latest metrics, tags, inputs and artifacts")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved runs show 3f2a9c...")
    .action(async (id: string, opts: { json?: boolean }) => {
      const client = await ctx.client();
      const run = await client.getRun(id);
      if (opts.json) return ctx.json(run);
      ctx.out(await renderRun(client, run, ctx.now()));
    });

  runs
    .command("compare")
    .argument("<ids...>", "two or more run ids")
    .description("Params and latest metrics of runs side by side; rows that differ are marked *")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved runs compare 3f2a9c... 8b1d04... 77e0aa...")
    .action(async (ids: string[], opts: { json?: boolean }) => {
      if (ids.length < 2) throw invalidInput("give at least two run ids to compare, e.g. paved runs compare <id> <id>");
      const client = await ctx.client();
      const list = await Promise.all(ids.map((id) => client.getRun(id)));
      const rows = compareRuns(list);
      if (opts.json) return ctx.json({ runs: list.map((r) => r.id), rows });
      ctx.out(renderComparison(list, rows));
    });

  runs
    .command("metrics")
    .argument("<id>", "run id")
    .argument("[key]", "metric key; without it, each metric's latest value")
    .description("A metric's history, every logged point by step, or --points buckets of it (or each metric's latest value)")
    .option("--points <n>", "downsample to at most N buckets (1-10000), each with min, max and last", parseInteger("--points", 1))
    .option("--by-time", "with --points: bucket by timestamp instead of step")
    .option("--start-step <n>", "with --points: only steps from N (zoom)", parseInteger("--start-step", Number.MIN_SAFE_INTEGER))
    .option("--end-step <n>", "with --points: only steps up to N (zoom)", parseInteger("--end-step", Number.MIN_SAFE_INTEGER))
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      "\nExamples:\n  $ paved runs metrics 3f2a9c... val_accuracy\n  $ paved runs metrics 3f2a9c... loss --points 50                 # 50 buckets: min, max, last\n  $ paved runs metrics 3f2a9c... loss --points 50 --start-step 1000 --end-step 2000\n  $ paved runs metrics 3f2a9c...              # the keys and their latest values",
    )
    .action(async (id: string, key: string | undefined, opts: { json?: boolean; points?: number; byTime?: boolean; startStep?: number; endStep?: number }) => {
      const client = await ctx.client();
      if (key === undefined) {
        const run = await client.getRun(id);
        if (opts.json) return ctx.json({ metrics: run.metrics });
        const metrics = Object.entries(run.metrics).sort(([a], [b]) => a.localeCompare(b));
        ctx.out(
          metrics.length === 0
            ? `run ${id} has logged no metrics\n`
            : renderTable(metrics, [
                { header: "KEY", value: ([k]) => k },
                { header: "LATEST", value: ([, m]) => formatNumber(m.value), align: "right" },
                { header: "STEP", value: ([, m]) => m.step, align: "right" },
              ]) + `history of one: paved runs metrics ${id} <key>\n`,
        );
        return;
      }
      if (opts.points !== undefined || opts.startStep !== undefined || opts.endStep !== undefined) {
        const result = await client.getMetricBuckets(id, key, {
          ...(opts.points !== undefined ? { points: opts.points } : {}),
          ...(opts.byTime ? { axis: "time" as const } : {}),
          ...(opts.startStep !== undefined ? { startStep: opts.startStep } : {}),
          ...(opts.endStep !== undefined ? { endStep: opts.endStep } : {}),
        });
        if (opts.json) return ctx.json(result);
        if (result.buckets.length === 0) return ctx.out(`run ${id} has no points of metric '${key}' in that range\n`);
        const now = ctx.now();
        const axis = result.axis === "step" ? "STEPS" : "LOGGED";
        ctx.out(
          renderTable(result.buckets, [
            { header: axis, value: (b) => (result.axis === "step" ? (b.firstStep === b.lastStep ? String(b.firstStep) : `${b.firstStep}-${b.lastStep}`) : formatTime(b.firstTime, now)) },
            { header: "POINTS", value: (b) => b.count, align: "right" },
            { header: "MIN", value: (b) => formatNumber(b.min), align: "right" },
            { header: "MAX", value: (b) => formatNumber(b.max), align: "right" },
            { header: "LAST", value: (b) => formatNumber(b.last), align: "right" },
          ]) + `${result.buckets.length} buckets of ${result.width} ${result.axis === "step" ? "steps" : "ms"} each\n`,
        );
        return;
      }
      const history = await client.getMetricHistory(id, key);
      if (opts.json) return ctx.json({ key, history });
      if (history.length === 0) return ctx.out(`run ${id} has no points of metric '${key}'; list its metrics with \`paved runs metrics ${id}\`\n`);
      const now = ctx.now();
      ctx.out(
        renderTable(history, [
          { header: "STEP", value: (p) => p.step, align: "right" },
          { header: "VALUE", value: (p) => formatNumber(p.value), align: "right" },
          { header: "LOGGED", value: (p) => formatTime(p.timestamp, now) },
        ]),
      );
    });

  const artifacts = runs
    .command("artifacts")
    .description("List and download a run's artifacts (model files, logs, checkpoints)")
    .addHelpText("after", "\nExamples:\n  $ paved runs artifacts ls 3f2a9c... outputs\n  $ paved runs artifacts get 3f2a9c... outputs/model.onnx -o model.onnx");

  artifacts
    .command("ls")
    .argument("<id>", "run id")
    .argument("[path]", "a folder under the run's artifact root (default: the root)")
    .description("List the files and folders directly under an artifact folder of a run")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExamples:\n  $ paved runs artifacts ls 3f2a9c...\n  $ paved runs artifacts ls 3f2a9c... outputs")
    .action(async (id: string, path: string | undefined, opts: { json?: boolean }) => {
      const files = await (await ctx.client()).listArtifacts(id, path);
      if (opts.json) return ctx.json({ files });
      if (files.length === 0) return ctx.out(`no artifacts under ${path ? `'${path}'` : "the root"} of run ${id}\n`);
      ctx.out(
        renderTable(files, [
          { header: "PATH", value: (f) => (f.isDir ? `${f.path}/` : f.path) },
          { header: "SIZE", value: (f) => (f.isDir ? undefined : formatBytes(f.size)), align: "right" },
        ]),
      );
    });

  artifacts
    .command("get")
    .argument("<id>", "run id")
    .argument("<path>", "the file, relative to the run's artifact root (see `paved runs artifacts ls`)")
    .option("-o, --output <file>", "write to this file (or into this folder) instead of stdout")
    .description("Download one artifact file of a run, streamed to stdout or a file")
    .addHelpText("after", "\nExamples:\n  $ paved runs artifacts get 3f2a9c... outputs/model.onnx -o model.onnx\n  $ paved runs artifacts get 3f2a9c... logs/attempt-1.log | tail")
    .action(async (id: string, path: string, opts: { output?: string }) => {
      const client = await ctx.client();
      if (!opts.output) {
        for await (const chunk of client.downloadArtifact(id, path)) await ctx.outBytes(chunk);
        return;
      }
      const target = await outputPath(resolve(ctx.cwd, opts.output), path);
      const size = await downloadTo(target, client.downloadArtifact(id, path));
      ctx.note(`wrote ${formatBytes(size)} to ${target}`);
    });
}

/** `-o` naming a folder writes into it under the artifact's file name. */
async function outputPath(output: string, artifactPath: string): Promise<string> {
  const info = await stat(output).catch(() => undefined);
  return info?.isDirectory() ? join(output, basename(artifactPath)) : output;
}

/** Streams into a sibling temporary file renamed into place at the end, so a failed download leaves no partial file. */
async function downloadTo(target: string, chunks: AsyncIterable<Uint8Array>): Promise<number> {
  const partial = join(dirname(target), `.${basename(target)}.partial-${process.pid}`);
  let size = 0;
  try {
    await pipeline(
      chunks,
      async function* (source: AsyncIterable<Uint8Array>) {
        for await (const chunk of source) {
          size += chunk.byteLength;
          yield chunk;
        }
      },
      createWriteStream(partial, { flags: "wx" }),
    );
    await rename(partial, target);
    return size;
  } catch (error) {
    await rm(partial, { force: true });
    if ((error as NodeJS.ErrnoException).code === "ENOENT" && !isPlatformError(error)) {
      throw invalidInput(`cannot write to '${target}': its folder does not exist; create it or pass another -o`);
    }
    throw error;
  }
}

export function renderRunTable(runs: readonly RunView[], now: number): string {
  if (runs.length === 0) return "no runs match; runs appear when jobs log to Paved (`paved train`) or MLflow clients point at it\n";
  return renderTable(runs, [
    { header: "ID", value: (r) => r.id },
    { header: "NAME", value: (r) => r.name },
    { header: "STATUS", value: (r) => r.status },
    { header: "USER", value: (r) => r.user },
    { header: "STARTED", value: (r) => formatAgo(r.startTime, now) },
    { header: "DURATION", value: (r) => formatElapsed(r.startTime, r.endTime, now), align: "right" },
    { header: "METRICS", value: (r) => summariseMetrics(r, 3) },
  ]);
}

function summariseMetrics(run: RunView, max: number): string {
  const keys = Object.keys(run.metrics).sort();
  const shown = keys.slice(0, max).map((k) => `${k}=${formatNumber(run.metrics[k]?.value)}`);
  if (keys.length > max) shown.push(`+${keys.length - max}`);
  return shown.join(" ");
}

async function renderRun(client: PavedClient, run: RunView, now: number): Promise<string> {
  const source = run.source;
  const sections = [
    renderFields([
      ["ID", run.id],
      ["Name", run.name],
      ["Status", run.status],
      ["Experiment", run.experimentId],
      ["User", run.user],
      ["Started", formatTime(run.startTime, now)],
      ["Ended", formatTime(run.endTime, now)],
      ["Duration", formatElapsed(run.startTime, run.endTime, now)],
      ["Job", run.jobId],
      ["Source", source?.commit ? `${source.commit}${source.dirty ? " (dirty)" : ""}` : undefined],
      ["Entrypoint", source?.entrypoint],
      ["Artifacts", run.artifactUri],
    ]),
  ];
  const params = Object.entries(run.params).sort(([a], [b]) => a.localeCompare(b));
  if (params.length) sections.push("Params:\n" + renderTable(params, [{ header: "KEY", value: ([k]) => k }, { header: "VALUE", value: ([, v]) => v }]));
  const metrics = Object.entries(run.metrics).sort(([a], [b]) => a.localeCompare(b));
  if (metrics.length) {
    sections.push(
      "Metrics (latest):\n" +
        renderTable(metrics, [
          { header: "KEY", value: ([k]) => k },
          { header: "VALUE", value: ([, m]) => formatNumber(m.value), align: "right" },
          { header: "STEP", value: ([, m]) => m.step, align: "right" },
          { header: "LOGGED", value: ([, m]) => formatAgo(m.timestamp, now) },
        ]),
    );
  }
  const tags = Object.entries(run.tags)
    .filter(([k]) => !k.startsWith("mlflow."))
    .sort(([a], [b]) => a.localeCompare(b));
  if (tags.length) sections.push("Tags:\n" + renderTable(tags, [{ header: "KEY", value: ([k]) => k }, { header: "VALUE", value: ([, v]) => v }]));
  if (run.inputs.length) {
    sections.push(
      "Inputs:\n" +
        renderTable(run.inputs, [
          { header: "NAME", value: (i) => i.name },
          { header: "DIGEST", value: (i) => i.digest },
          { header: "TYPE", value: (i) => i.sourceType },
          { header: "SOURCE", value: (i) => i.source },
        ]),
    );
  }
  try {
    const files = await client.listArtifacts(run.id);
    if (files.length) {
      sections.push(
        "Artifacts:\n" +
          renderTable(files, [
            { header: "PATH", value: (f) => (f.isDir ? `${f.path}/` : f.path) },
            { header: "SIZE", value: (f) => (f.isDir ? undefined : formatBytes(f.size)), align: "right" },
          ]),
      );
    }
  } catch (error) {
    // The run itself was shown; a missing artifact listing should not hide it.
    if (!isPlatformError(error) || error.code === "UNAUTHENTICATED") throw error;
    sections.push(`Artifacts: not listed (${error.message})\n`);
  }
  return sections.join("\n");
}

export interface ComparisonRow {
  key: string;
  values: (string | null)[];
  differs: boolean;
}

/** One row per param and per latest metric across the runs, flagged where the values differ. */
export function compareRuns(runs: readonly RunView[]): ComparisonRow[] {
  const rows: ComparisonRow[] = [];
  const add = (key: string, values: (string | null)[]) => rows.push({ key, values, differs: new Set(values).size > 1 });
  add("name", runs.map((r) => r.name));
  add("status", runs.map((r) => r.status));
  const paramKeys = [...new Set(runs.flatMap((r) => Object.keys(r.params)))].sort();
  for (const key of paramKeys) add(`params.${key}`, runs.map((r) => r.params[key] ?? null));
  const metricKeys = [...new Set(runs.flatMap((r) => Object.keys(r.metrics)))].sort();
  for (const key of metricKeys) {
    add(
      `metrics.${key}`,
      runs.map((r) => {
        const metric = r.metrics[key];
        return metric ? formatNumber(metric.value) : null;
      }),
    );
  }
  return rows;
}

function renderComparison(runs: readonly RunView[], rows: readonly ComparisonRow[]): string {
  return (
    renderTable(rows, [
      { header: " ", value: (row) => (row.differs ? "*" : " ") },
      { header: "KEY", value: (row) => row.key },
      ...runs.map((run, i) => ({ header: run.id, value: (row: ComparisonRow) => row.values[i] })),
    ]) + "(* = values differ)\n"
  );
}
