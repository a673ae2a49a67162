import type { Command } from "commander";
import type { Sweep, SweepTrial } from "../../client/index.ts";
import { invalidInput, isPlatformError, PlatformError } from "../../core/index.ts";
import type { CliContext } from "../context.ts";
import { parseInteger } from "../options.ts";
import { formatAgo, formatNumber, formatTime } from "../render/format.ts";
import { renderFields, renderTable } from "../render/table.ts";
import { loadSpecDocuments } from "../spec-file.ts";
import { defaultTeam } from "./train.ts";

const EXAMPLE = `  $ cat sweep.yaml
  kind: Sweep
  name: lr-search
  method: asha                 # grid, random or asha
  objective: { metric: val_loss, goal: minimize }
  parameters:
    lr: { distribution: log-uniform, min: 0.0001, max: 0.1 }
    layers: { values: [2, 3, 4] }
  maxTrials: 20
  parallelism: 4
  asha: { minResource: 1, maxResource: 27, reductionFactor: 3 }
  trial:                       # a job spec; parameters arrive as --lr=... --layers=...
    command: [python3, train.py]
    compute: { cpus: 1 }
  $ paved sweeps create -f sweep.yaml`;

/** `paved sweeps create|ls|show|cancel`: hyperparameter sweeps whose trials are jobs. */
export function registerSweeps(program: Command, ctx: CliContext): void {
  const sweeps = program
    .command("sweeps")
    .alias("sweep")
    .description("Hyperparameter sweeps (grid, random, ASHA): each trial is a job of the team and a child run of the sweep's run")
    .addHelpText("after", `\nSee docs/sweeps.md.\n\nExample:\n${EXAMPLE}\n  $ paved sweeps show sweep-1a2b3c4d5e`);

  sweeps
    .command("create")
    .description("Create a sweep from a YAML spec (kind: Sweep)")
    .requiredOption("-f, --file <file>", "YAML spec file; the trial's workingDir and paths resolve against its folder")
    .option("--team <team>", "the team it belongs to (default: the spec's, $PAVED_TEAM, else your token's)")
    .option("--json", "print JSON")
    .addHelpText("after", `\nExample:\n${EXAMPLE}`)
    .action(async (opts: { file: string; team?: string; json?: boolean }) => {
      const documents = await loadSpecDocuments(opts.file, ctx.cwd);
      const document = documents[0]!;
      if (documents.length !== 1 || document.kind !== "Sweep") {
        throw invalidInput(`${opts.file} must hold one document with kind: Sweep; submit jobs with \`paved apply -f job.yaml\``);
      }
      if (opts.team && document.spec.team && document.spec.team !== opts.team) {
        throw invalidInput(`${document.where}: names team '${document.spec.team}' but --team is '${opts.team}'; drop one of them`);
      }
      const team = document.spec.team ?? opts.team ?? defaultTeam(ctx);
      const spec = team ? { ...document.spec, team } : document.spec;
      const sweep = await (await ctx.client()).createSweep(spec).catch((error: unknown) => {
        if (isPlatformError(error) && error.code === "INVALID_INPUT") throw new PlatformError(error.code, `${document.where}: ${error.message}`, error.details);
        throw error;
      });
      if (opts.json) return ctx.json(sweep);
      ctx.out(`sweep ${sweep.id} created: ${sweep.method}, ${sweep.trialsTarget} trials, ${sweep.parallelism} at a time, seed ${sweep.seed}; watch it with \`paved sweeps show ${sweep.id}\`\n`);
    });

  sweeps
    .command("ls")
    .description("List sweeps of your teams, newest first")
    .option("--limit <n>", "at most this many sweeps", parseInteger("--limit", 1))
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved sweeps ls --limit 20")
    .action(async (opts: { limit?: number; json?: boolean }) => {
      const list = await (await ctx.client()).listSweeps({ limit: opts.limit });
      if (opts.json) return ctx.json({ sweeps: list });
      ctx.out(renderSweepTable(list, ctx.now()));
    });

  sweeps
    .command("show")
    .argument("<id>", "sweep id")
    .description("Show a sweep: its trials with their parameters, phase and objective, and the best trial with its run")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved sweeps show sweep-1a2b3c4d5e")
    .action(async (id: string, opts: { json?: boolean }) => {
      const sweep = await (await ctx.client()).getSweep(id);
      if (opts.json) return ctx.json(sweep);
      ctx.out(renderSweep(sweep, ctx.now()));
    });

  sweeps
    .command("cancel")
    .argument("<id>", "sweep id")
    .description("Cancel a sweep: no trial starts after, and its queued and running trials are cancelled")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved sweeps cancel sweep-1a2b3c4d5e")
    .action(async (id: string, opts: { json?: boolean }) => {
      const sweep = await (await ctx.client()).cancelSweep(id);
      if (opts.json) return ctx.json(sweep);
      ctx.out(`sweep ${sweep.id} (${sweep.name}) is ${sweep.phase}\n`);
    });
}

function progress(s: Sweep): string {
  const ended = ["SUCCEEDED", "FAILED", "CANCELLED", "STOPPED"].reduce((n, p) => n + (s.counts[p] ?? 0), 0);
  return `${ended}/${s.trialsTarget}`;
}

export function renderSweepTable(list: readonly Sweep[], now: number): string {
  if (list.length === 0) return "no sweeps; create one with `paved sweeps create -f sweep.yaml`\n";
  return renderTable(list, [
    { header: "ID", value: (s) => s.id },
    { header: "NAME", value: (s) => s.name },
    { header: "TEAM", value: (s) => s.team },
    { header: "METHOD", value: (s) => s.method },
    { header: "PHASE", value: (s) => s.phase },
    { header: "TRIALS", value: (s) => progress(s), align: "right" },
    { header: "BEST", value: (s) => (s.best ? `${formatNumber(s.best.value)} (trial ${s.best.index})` : undefined) },
    { header: "CREATED", value: (s) => formatAgo(s.createdAt, now) },
  ]);
}

function formatParams(params: SweepTrial["params"]): string {
  return Object.entries(params)
    .map(([k, v]) => `${k}=${typeof v === "number" ? formatNumber(v) : String(v)}`)
    .join(" ");
}

/** `paved sweeps show`: the sweep, the best trial and its run, every trial, the events. */
export function renderSweep(s: Sweep, now: number): string {
  const best = s.best;
  const sections = [
    renderFields([
      ["ID", s.id],
      ["Name", s.name],
      ["Phase", s.phase],
      ["Method", s.method],
      ["Objective", `${s.objective.goal} ${s.objective.metric}`],
      ["Trials", `${progress(s)} ended, ${s.parallelism} at a time (${Object.entries(s.counts).map(([p, n]) => `${n} ${p}`).join(", ") || "none yet"})`],
      ["Seed", s.seed],
      ["Team", s.team],
      ["Owner", s.owner],
      ["Experiment", s.experimentId],
      ["Parent run", s.parentRunId],
      ["Created", formatTime(s.createdAt, now)],
      ["Finished", formatTime(s.finishedAt, now)],
      ["Message", s.message],
      ["Best", best ? `trial ${best.index}: ${s.objective.metric} ${formatNumber(best.value)} with ${formatParams(best.params)}` : "none yet"],
      ["Best run", best?.runId ? `${best.runId} (paved runs show ${best.runId}; ${best.link})` : undefined],
    ]),
  ];
  const trials = s.trials ?? [];
  if (trials.length) {
    sections.push(
      "Trials:\n" +
        renderTable(trials, [
          { header: "#", value: (t) => (best?.index === t.index ? `${t.index}*` : String(t.index)), align: "right" },
          { header: "PHASE", value: (t) => t.phase },
          { header: s.objective.metric.toUpperCase(), value: (t) => (t.objective === null ? undefined : formatNumber(t.objective)), align: "right" },
          { header: "STEP", value: (t) => t.objectiveStep ?? undefined, align: "right" },
          { header: "PARAMS", value: (t) => formatParams(t.params) },
          { header: "JOB", value: (t) => t.jobId },
          { header: "RUN", value: (t) => t.runId ?? undefined },
          { header: "MESSAGE", value: (t) => t.message ?? undefined },
        ]),
    );
  }
  if (s.events?.length) {
    sections.push(
      "Events:\n" +
        renderTable(s.events, [
          { header: "AGE", value: (e) => formatAgo(e.time, now) },
          { header: "TYPE", value: (e) => e.type },
          { header: "MESSAGE", value: (e) => e.message },
        ]),
    );
  }
  return sections.join("\n");
}
