import type { Command } from "commander";
import { JOB_PHASES, type Job } from "../../client/index.ts";
import { invalidInput } from "../../core/index.ts";
import type { CliContext } from "../context.ts";
import { followJob } from "../follow.ts";
import { parseInteger } from "../options.ts";
import { formatAgo, formatElapsed, formatMiB, formatTime } from "../render/format.ts";
import { renderFields, renderTable } from "../render/table.ts";

export function registerJobs(program: Command, ctx: CliContext): void {
  const jobs = program
    .command("jobs")
    .description("List, inspect, follow and cancel training jobs")
    .addHelpText("after", "\nExamples:\n  $ paved jobs ls --phase QUEUED\n  $ paved jobs describe job_01hx...\n  $ paved jobs logs -f job_01hx...");

  jobs
    .command("ls")
    .description("List jobs, newest first")
    .option("--phase <phase>", `only jobs in this phase (${JOB_PHASES.join(", ")})`, parsePhase)
    .option("--mine", "only the jobs you submitted")
    .option("--owner <name>", "only the jobs this user (or token) submitted")
    .option("--limit <n>", "at most this many jobs (one page; default 100)", parseInteger("--limit", 1))
    .option("--page-token <token>", "the page after the one that printed this token")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExamples:\n  $ paved jobs ls --phase RUNNING --limit 20\n  $ paved jobs ls --mine")
    .action(async (opts: { phase?: string; mine?: boolean; owner?: string; limit?: number; pageToken?: string; json?: boolean }) => {
      if (opts.mine && opts.owner) throw invalidInput("give --mine or --owner, not both");
      const owner = opts.mine ? "me" : opts.owner;
      const page = await (await ctx.client()).listJobsPage({ phase: opts.phase, limit: opts.limit, ...(owner ? { owner } : {}), ...(opts.pageToken ? { pageToken: opts.pageToken } : {}) });
      if (opts.json) return ctx.json(page);
      ctx.out(renderJobTable(page.jobs, ctx.now()));
      if (page.nextPageToken) ctx.note(`more jobs: add --page-token ${page.nextPageToken}`);
    });

  jobs
    .command("describe")
    .argument("<id>", "job id")
    .description("Show a job: phase, allocation, why it waits, its events")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved jobs describe job_01hx...   # a QUEUED job lists the resources it waits for and who holds them")
    .action(async (id: string, opts: { json?: boolean }) => {
      const job = await (await ctx.client()).getJob(id);
      if (opts.json) return ctx.json(job);
      ctx.out(renderJob(job, ctx.now()));
    });

  jobs
    .command("logs")
    .argument("<id>", "job id")
    .description("Print a job's log")
    .option("-f, --follow", "keep streaming until the job ends (waits while it is queued)")
    .option("--attempt <n>", "the log of this attempt (default: the latest)", parseInteger("--attempt", 1))
    .option("--offset <bytes>", "start at this byte of the log (default: its last page)", parseInteger("--offset", 0))
    .addHelpText("after", "\nExamples:\n  $ paved jobs logs job_01hx...\n  $ paved jobs logs -f job_01hx...\n  $ paved jobs logs --attempt 1 --offset 0 job_01hx...")
    .action((id: string, opts: LogsOptions) => printLogs(ctx, id, opts));

  jobs
    .command("cancel")
    .argument("<id>", "job id")
    .description("Cancel a queued or running job")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved jobs cancel job_01hx...")
    .action(async (id: string, opts: { json?: boolean }) => {
      const job = await (await ctx.client()).cancelJob(id);
      if (opts.json) return ctx.json(job);
      ctx.out(`job ${job.id} (${job.name}) is ${job.phase}\n`);
    });
}

/** `paved logs`, the short form `paved apply` and `paved train` point to. */
export function registerLogs(program: Command, ctx: CliContext): void {
  program
    .command("logs")
    .argument("<job-id>", "job id")
    .description("Print a job's log (same as `paved jobs logs`)")
    .option("-f, --follow", "keep streaming until the job ends (waits while it is queued)")
    .option("--attempt <n>", "the log of this attempt (default: the latest)", parseInteger("--attempt", 1))
    .option("--offset <bytes>", "start at this byte of the log (default: its last page)", parseInteger("--offset", 0))
    .addHelpText("after", "\nExamples:\n  $ paved logs -f job_01hx...\n  $ paved logs --offset 0 job_01hx...")
    .action((id: string, opts: LogsOptions) => printLogs(ctx, id, opts));
}

interface LogsOptions {
  follow?: boolean;
  attempt?: number;
  offset?: number;
}

async function printLogs(ctx: CliContext, id: string, opts: LogsOptions): Promise<void> {
  const client = await ctx.client();
  if (opts.follow) {
    if (opts.attempt === undefined) {
      await followJob(ctx, client, id);
      return;
    }
    for await (const text of client.streamLogs(id, { follow: true, attempt: opts.attempt })) ctx.out(text);
    return;
  }
  // The server answers one page (its end by default); say where it lies when it is not all of it.
  const page = await client.readLogs(id, { attempt: opts.attempt, offset: opts.offset });
  ctx.out(page.text);
  if (page.start > 0 || page.end < page.size) {
    const next = page.end < page.size ? `; next: paved logs ${id} --attempt ${page.attempt} --offset ${page.end}` : "";
    const earlier = page.start > 0 ? `; earlier: paved logs ${id} --attempt ${page.attempt} --offset 0` : "";
    ctx.note(`(bytes ${page.start}-${page.end} of ${page.size}${earlier}${next})`);
  }
}

function parsePhase(value: string): string {
  const phase = value.toUpperCase();
  if (!(JOB_PHASES as readonly string[]).includes(phase)) throw invalidInput(`--phase '${value}' is not a phase; choose one of ${JOB_PHASES.join(", ")}`);
  return phase;
}

export function renderJobTable(jobs: readonly Job[], now: number): string {
  if (jobs.length === 0) return "no jobs; submit one with `paved train` or `paved apply -f job.yaml`\n";
  return renderTable(jobs, [
    { header: "ID", value: (j) => j.id },
    { header: "NAME", value: (j) => j.name },
    { header: "TEAM", value: (j) => j.team },
    { header: "PHASE", value: (j) => j.phase },
    { header: "ATTEMPT", value: (j) => `${j.attempt}/${j.maxAttempts}`, align: "right" },
    { header: "GPUS", value: (j) => (j.allocation ? j.allocation.gpus.join(",") || "0" : undefined) },
    { header: "CREATED", value: (j) => formatAgo(j.createdAt, now) },
    { header: "DURATION", value: (j) => formatElapsed(j.startedAt, j.finishedAt, now), align: "right" },
    { header: "MESSAGE", value: (j) => (j.phase === "QUEUED" ? j.pending?.reason : j.message) },
  ]);
}

/** `paved jobs describe`: everything about one job, and for a queued one exactly why it waits. */
export function renderJob(job: Job, now: number): string {
  const spec = job.spec ?? ({} as Job["spec"]);
  const request = job.request;
  const compute = request
    ? `${request.profile ? `profile=${request.profile} ` : ""}gpus=${request.gpus}${request.gpuType ? ` gpuType=${request.gpuType}` : ""} cpus=${request.cpus} memory=${formatMiB(request.memoryMiB)}`
    : undefined;
  const sections: string[] = [
    renderFields([
      ["ID", job.id],
      ["Name", job.name],
      ["Phase", job.phase],
      ["Attempt", `${job.attempt} of ${job.maxAttempts}`],
      ["Priority", describePriority(job.priority, spec.preemptible)],
      ["Created", formatTime(job.createdAt, now)],
      ["Started", formatTime(job.startedAt, now)],
      ["Finished", formatTime(job.finishedAt, now)],
      ["Duration", formatElapsed(job.startedAt, job.finishedAt, now)],
      ["Exit code", job.exitCode],
      ["Message", job.message],
      ["Owner", job.owner],
      ["Team", job.team],
      ["Experiment", job.experimentId],
      ["Run", job.runId],
      ["Command", spec.command?.map(quoteArg).join(" ")],
      ["Working dir", spec.workingDir],
      ["Compute", compute],
      [
        "Allocation",
        job.allocation ? `gpus=[${job.allocation.gpus.join(",")}] cpus=${job.allocation.cpus} memory=${formatMiB(job.allocation.memoryMiB)}` : undefined,
      ],
    ]),
  ];
  if (job.phase === "QUEUED") {
    if (job.pending) {
      const lines = [`Waiting: ${job.pending.reason}`];
      if (job.pending.resources.length > 0) {
        lines.push(
          renderTable(job.pending.resources, [
            { header: "RESOURCE", value: (r) => r.resource },
            { header: "REQUESTED", value: (r) => r.requested, align: "right" },
            { header: "FREE", value: (r) => r.free, align: "right" },
            { header: "TOTAL", value: (r) => r.total, align: "right" },
            { header: "SHORT", value: (r) => (r.free < r.requested ? "yes" : "no") },
            { header: "HELD BY", value: (r) => r.heldBy.map((h) => `${holderName(h)}: ${h.amount}`).join(", ") },
          ]).trimEnd(),
        );
      }
      const quota = job.pending.quota;
      if (quota) {
        const unit = (n: number) => (quota.resource === "memoryMiB" ? formatMiB(n) : quota.resource === "gpuHoursPerMonth" ? `${n} h` : String(n));
        const what = { gpus: `${quota.gpuType ? `${quota.gpuType} ` : ""}GPUs`, gpuHoursPerMonth: "GPU-hours this month", cpus: "CPUs", memoryMiB: "memory" }[quota.resource];
        lines.push(
          renderTable([quota], [
            { header: "QUOTA", value: () => `team ${quota.team}: ${what}` },
            { header: "LIMIT", value: () => unit(quota.limit), align: "right" },
            { header: "USED", value: () => unit(quota.used), align: "right" },
            { header: "REQUESTED", value: () => (quota.resource === "gpuHoursPerMonth" ? undefined : unit(quota.requested)), align: "right" },
            { header: "USED BY", value: () => quota.by.map((h) => `${holderName(h)}: ${unit(h.amount)}`).join(", ") },
          ]).trimEnd(),
          `Fix: ${quota.fix} (a platform admin), or wait for the jobs using it`,
        );
      }
      sections.push(lines.join("\n") + "\n");
    } else {
      sections.push("Waiting: the server gave no reason yet; it is next in line once the scheduler runs\n");
    }
  }
  if (job.events?.length) {
    sections.push(
      "Events:\n" +
        renderTable(job.events, [
          { header: "AGE", value: (e) => formatAgo(e.time, now) },
          { header: "TYPE", value: (e) => e.type },
          { header: "MESSAGE", value: (e) => e.message },
        ]),
    );
  }
  return sections.join("\n");
}

/** "100 (high; not preemptible)": the number, its class when it has one, and whether it may be preempted. */
function describePriority(priority: number, preemptible: boolean | undefined): string {
  const classes: Record<number, string> = { [-100]: "low", 0: "normal", 100: "high" };
  const name = classes[priority];
  const mayBe = preemptible ?? priority < 100;
  return `${priority}${name ? ` (${name}` : " ("}${name ? "; " : ""}${mayBe ? "preemptible" : "not preemptible"})`;
}

/** "train-a (job_1)", or "another team" for a job of a team the reader is not in. */
export function holderName(holder: { jobId: string | null; name: string }): string {
  return holder.jobId === null ? holder.name : `${holder.name} (${holder.jobId})`;
}

function quoteArg(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
