import type { Command } from "commander";
import type { Pipeline, PipelineRun, PipelineParameterValue as ParameterValue } from "../../client/index.ts";
import { invalidInput, isPlatformError, PlatformError } from "../../core/index.ts";
import type { CliContext } from "../context.ts";
import { EXIT_JOB_FAILED } from "../exit-codes.ts";
import { collect, parseInteger } from "../options.ts";
import { formatAgo, formatElapsed, formatTime } from "../render/format.ts";
import { renderFields, renderTable } from "../render/table.ts";
import { loadSpecDocuments } from "../spec-file.ts";
import { defaultTeam } from "./train.ts";

const EXAMPLE = `  $ cat pipeline.yaml
  kind: Pipeline
  metadata: { name: train-and-deploy }
  spec:
    parameters: { lrs: [0.1, 0.01] }
    steps:
      - name: train
        forEach: \${{ params.lrs }}          # one job per value, side by side
        retries: 1
        timeoutSeconds: 3600
        job: { command: [python3, train.py], hyperparameters: { lr: "\${{ item }}" } }
      - name: register
        register: { name: churn, source: "\${{ steps.train.outputs.artifacts }}" }
  $ paved pipelines apply -f pipeline.yaml
  $ paved pipelines run train-and-deploy --param lrs='[0.5, 0.05]' --wait`;

const ENDED = ["SUCCEEDED", "FAILED", "CANCELLED"];

/** `--param k=v`: the value read as JSON when it is JSON (a number, a list), else as text. */
export function parseParams(pairs: readonly string[] | undefined): Record<string, ParameterValue> {
  const out: Record<string, ParameterValue> = {};
  for (const pair of pairs ?? []) {
    const at = pair.indexOf("=");
    if (at <= 0) throw invalidInput(`--param '${pair}' is not name=value; write e.g. --param lr=0.01`);
    const text = pair.slice(at + 1);
    let value: ParameterValue = text;
    try {
      const parsed = JSON.parse(text) as unknown;
      if (typeof parsed === "number" || typeof parsed === "boolean" || Array.isArray(parsed)) value = parsed as ParameterValue;
    } catch {
      // plain text
    }
    out[pair.slice(0, at)] = value;
  }
  return out;
}

/** `paved pipelines apply|run|ls|runs|status|logs|cancel`: DAGs of jobs and golden-path steps. */
export function registerPipelines(program: Command, ctx: CliContext): void {
  const pipelines = program
    .command("pipelines")
    .alias("pipeline")
    .description("Pipelines: DAGs of steps (jobs, evaluate, register, deploy, …) with outputs passed by reference, caching, retries and timeouts")
    .addHelpText("after", `\nSee docs/pipelines.md.\n\nExample:\n${EXAMPLE}\n  $ paved pipelines status prun-1a2b3c4d5e`);

  pipelines
    .command("apply")
    .description("Apply a pipeline from a YAML file (kind: Pipeline); applied again, a changed spec becomes its next version")
    .requiredOption("-f, --file <file>", "YAML file; job steps' workingDir and paths resolve against its folder")
    .option("--team <team>", "the team it belongs to (default: metadata.team, $PAVED_TEAM, else your token's)")
    .option("--json", "print JSON")
    .addHelpText("after", `\nExample:\n${EXAMPLE}`)
    .action(async (opts: { file: string; team?: string; json?: boolean }) => {
      const documents = await loadSpecDocuments(opts.file, ctx.cwd);
      const document = documents[0]!;
      if (documents.length !== 1 || document.kind !== "Pipeline") throw invalidInput(`${opts.file} must hold one document with kind: Pipeline; apply other kinds with \`paved apply -f job.yaml\``);
      const named = document.spec.metadata.team;
      if (opts.team && named && named !== opts.team) throw invalidInput(`${document.where}: names team '${named}' but --team is '${opts.team}'; drop one of them`);
      const team = named ?? opts.team ?? defaultTeam(ctx);
      const spec = team ? { ...document.spec, metadata: { ...document.spec.metadata, team } } : document.spec;
      const pipeline = await (await ctx.client()).applyPipeline(spec).catch((error: unknown) => {
        if (isPlatformError(error) && error.code === "INVALID_INPUT") throw new PlatformError(error.code, `${document.where}: ${error.message}`, error.details);
        throw error;
      });
      if (opts.json) return ctx.json(pipeline);
      ctx.out(`pipeline ${pipeline.name} applied (team ${pipeline.team}, version ${pipeline.version}, ${pipeline.steps.length} steps); run it with \`paved pipelines run ${pipeline.name}\`\n`);
    });

  pipelines
    .command("run")
    .argument("<name>", "pipeline name")
    .description("Start a run of a pipeline; --wait follows it to its end (exit code 12 if it did not succeed)")
    .option("--param <name=value>", "a parameter for this run (repeatable; JSON values such as 0.1 or [1,2] are read as such)", collect)
    .option("--wait", "wait for the run to end, printing each step as it ends")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved pipelines run train-and-deploy --param lr=0.01 --param epochs=5 --wait")
    .action(async (name: string, opts: { param?: string[]; wait?: boolean; json?: boolean }) => {
      const client = await ctx.client();
      let run = await client.startPipelineRun(name, parseParams(opts.param));
      if (!opts.json) ctx.out(`run ${run.id} of pipeline ${name} started; see it with \`paved pipelines status ${run.id}\`\n`);
      if (opts.wait) {
        const told = new Set<string>();
        for (;;) {
          run = await client.getPipelineRun(run.id);
          for (const s of run.steps ?? []) {
            if (told.has(s.key) || ["pending", "running"].includes(s.phase)) continue;
            told.add(s.key);
            if (!opts.json) ctx.note(`${s.key}: ${s.phase}${s.message ? ` (${s.message})` : ""}\n`);
          }
          if (ENDED.includes(run.phase)) break;
          await ctx.sleep(500);
        }
        if (run.phase !== "SUCCEEDED") ctx.exitCode = EXIT_JOB_FAILED;
      }
      if (opts.json) return ctx.json(run);
      if (opts.wait) ctx.out(`run ${run.id} ${run.phase}${run.message ? `: ${run.message}` : ""}\n`);
    });

  pipelines
    .command("ls")
    .description("List the pipelines of your teams, by name")
    .option("--limit <n>", "at most this many pipelines (one page; default 100)", parseInteger("--limit", 1))
    .option("--page-token <token>", "the page after the one that printed this token")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExamples:\n  $ paved pipelines ls\n  $ paved pipelines ls --limit 20")
    .action(async (opts: { limit?: number; pageToken?: string; json?: boolean }) => {
      const page = await (await ctx.client()).listPipelinesPage({ limit: opts.limit, ...(opts.pageToken ? { pageToken: opts.pageToken } : {}) });
      if (opts.json) return ctx.json(page);
      ctx.out(renderPipelines(page.pipelines, ctx.now()));
      if (page.nextPageToken) ctx.note(`more pipelines: add --page-token ${page.nextPageToken}`);
    });

  pipelines
    .command("runs")
    .argument("<name>", "pipeline name")
    .description("List a pipeline's runs, newest first")
    .option("--limit <n>", "at most this many runs (one page; default 100)", parseInteger("--limit", 1))
    .option("--page-token <token>", "the page after the one that printed this token")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved pipelines runs train-and-deploy --limit 10")
    .action(async (name: string, opts: { limit?: number; pageToken?: string; json?: boolean }) => {
      const page = await (await ctx.client()).listPipelineRunsPage(name, { limit: opts.limit, ...(opts.pageToken ? { pageToken: opts.pageToken } : {}) });
      if (opts.json) return ctx.json(page);
      ctx.out(renderRuns(page.runs, ctx.now()));
      if (page.nextPageToken) ctx.note(`more runs: add --page-token ${page.nextPageToken}`);
    });

  pipelines
    .command("status")
    .argument("<run-id>", "pipeline run id")
    .description("Show a run: each step's phase, attempt, outputs, and for a cached step the run it reused")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved pipelines status prun-1a2b3c4d5e")
    .action(async (id: string, opts: { json?: boolean }) => {
      const run = await (await ctx.client()).getPipelineRun(id);
      if (opts.json) return ctx.json(run);
      ctx.out(renderRun(run, ctx.now()));
    });

  pipelines
    .command("logs")
    .argument("<run-id>", "pipeline run id")
    .description("Print the logs of a run's job steps (the end of each), or of one step")
    .option("--step <step>", "only this step (train, or train[1] in a fan-out)")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved pipelines logs prun-1a2b3c4d5e --step train")
    .action(async (id: string, opts: { step?: string; json?: boolean }) => {
      const logs = await (await ctx.client()).pipelineRunLogs(id, opts.step ? { step: opts.step } : {});
      if (opts.json) return ctx.json({ logs });
      if (logs.length === 0) return ctx.out("no step of this run keeps logs (job steps do)\n");
      for (const l of logs) ctx.out(`==> ${l.step}${l.handle ? ` (${l.handle})` : ""} <==\n${l.text}${l.text.endsWith("\n") || l.text === "" ? "" : "\n"}`);
    });

  pipelines
    .command("cancel")
    .argument("<run-id>", "pipeline run id")
    .description("Cancel a run: no step starts after, and its running steps (their jobs) are cancelled")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved pipelines cancel prun-1a2b3c4d5e")
    .action(async (id: string, opts: { json?: boolean }) => {
      const run = await (await ctx.client()).cancelPipelineRun(id);
      if (opts.json) return ctx.json(run);
      ctx.out(`run ${run.id} of pipeline ${run.pipeline} is ${run.phase}\n`);
    });
}

function renderPipelines(list: readonly Pipeline[], now: number): string {
  if (list.length === 0) return "no pipelines; apply one with `paved pipelines apply -f pipeline.yaml`\n";
  return renderTable(list, [
    { header: "NAME", value: (p) => p.name },
    { header: "TEAM", value: (p) => p.team },
    { header: "VERSION", value: (p) => p.version, align: "right" },
    { header: "STEPS", value: (p) => p.steps.length, align: "right" },
    { header: "UPDATED", value: (p) => formatAgo(p.updatedAt, now) },
  ]);
}

function counts(r: PipelineRun): string {
  return Object.entries(r.counts).map(([p, n]) => `${n} ${p}`).join(", ");
}

function renderRuns(list: readonly PipelineRun[], now: number): string {
  if (list.length === 0) return "no runs yet; start one with `paved pipelines run <name>`\n";
  return renderTable(list, [
    { header: "RUN", value: (r) => r.id },
    { header: "PHASE", value: (r) => r.phase },
    { header: "STEPS", value: (r) => counts(r) },
    { header: "OWNER", value: (r) => r.owner },
    { header: "STARTED", value: (r) => formatAgo(r.createdAt, now) },
    { header: "TOOK", value: (r) => formatElapsed(r.createdAt, r.finishedAt, now) },
  ]);
}

function renderRun(r: PipelineRun, now: number): string {
  const sections = [
    renderFields([
      ["Run", r.id],
      ["Pipeline", `${r.pipeline} (version ${r.pipelineVersion})`],
      ["Phase", r.phase],
      ["Team", r.team],
      ["Owner", r.owner],
      ["Parameters", JSON.stringify(r.parameters)],
      ["Steps", counts(r)],
      ["Started", formatTime(r.createdAt, now)],
      ["Finished", formatTime(r.finishedAt, now)],
      ["Message", r.message],
    ]),
  ];
  if (r.steps?.length) {
    sections.push(
      "Steps:\n" +
        renderTable(r.steps, [
          { header: "STEP", value: (s) => s.key },
          { header: "KIND", value: (s) => s.kind },
          { header: "PHASE", value: (s) => s.phase },
          { header: "ATTEMPT", value: (s) => s.attempt, align: "right" },
          { header: "TOOK", value: (s) => (s.startedAt ? formatElapsed(s.startedAt, s.finishedAt, now) : undefined) },
          { header: "OUTPUTS / REUSED", value: (s) => (s.cachedFrom ? `from ${s.cachedFrom.run} ${s.cachedFrom.step}` : Object.keys(s.outputs).length ? JSON.stringify(s.outputs).slice(0, 120) : undefined) },
          { header: "MESSAGE", value: (s) => s.message ?? undefined },
        ]),
    );
  }
  if (r.events?.length) {
    sections.push("Events:\n" + renderTable(r.events.slice(-20), [{ header: "AGE", value: (e) => formatAgo(e.time, now) }, { header: "TYPE", value: (e) => e.type }, { header: "MESSAGE", value: (e) => e.message }]));
  }
  return sections.join("\n");
}
