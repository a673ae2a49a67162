import type { Command } from "commander";
import type { GcReport, TeamStorage } from "../../client/index.ts";
import type { CliContext } from "../context.ts";
import { formatBytes, formatNumber } from "../render/format.ts";
import { renderTable } from "../render/table.ts";


/** `paved gc`: garbage-collect deleted runs past retention (platform admins), as `mlflow gc` does. */
export function registerGc(program: Command, ctx: CliContext): void {
  program
    .command("gc")
    .description("Remove deleted runs past their retention period for good: metrics, params, tags, inputs and artifact files (platform admins)")
    .option("--dry-run", "only say what would be removed and freed; change nothing")
    .option("--older-than <duration>", "collect runs deleted at least this long ago, e.g. 7d, 12h, 0s (default: the server's tracking.retentionDays)")
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      `
A deleted run (\`mlflow.delete_run\`, runs/delete, or its experiment deleted) can be restored until it
is collected. The server collects runs deleted more than tracking.retentionDays (30) ago by itself,
every tracking.gcIntervalMinutes; this command does it now. A collected run answers NOT_FOUND saying
when it was collected. Artifact files a registered model version, a logged model, a dataset or
another run still uses are kept (the report says which, and why).

Examples:
  $ paved gc --dry-run                 # what the next pass would free, per team
  $ paved gc --older-than 7d           # runs deleted a week ago or more, now
  $ paved gc --older-than 0s --json    # every deleted run, as JSON`,
    )
    .action(async (opts: { dryRun?: boolean; olderThan?: string; json?: boolean }) => {
      // The server checks --older-than (gc-schema's pattern) and says how to write it.
      const report = await (await ctx.client()).collectGarbage({ dryRun: opts.dryRun ?? false, ...(opts.olderThan !== undefined ? { olderThan: opts.olderThan } : {}) });
      if (opts.json) return ctx.json(report);
      ctx.out(renderGc(report));
    });
}

/** `paved storage`: what each of your teams stores, and what garbage collection frees next. */
export function registerStorage(program: Command, ctx: CliContext): void {
  program
    .command("storage")
    .description("What your teams store: run artifacts, metric data, models, datasets, workspaces, and deleted runs pending collection")
    .option("--team <team>", "one team (default: every team you can read)")
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      `
QUOTA is what the team's storage quota counts (\`paved quotas ls\`): deleted runs' artifacts count until
they are collected (\`paved gc\`). Metric data is not held to the quota.

Examples:
  $ paved storage
  $ paved storage --team risk --json`,
    )
    .action(async (opts: { team?: string; json?: boolean }) => {
      const client = await ctx.client();
      const teams = opts.team === undefined ? await client.listStorage() : [await client.getStorage(opts.team)];
      if (opts.json) return ctx.json(opts.team === undefined ? { teams } : teams[0]);
      ctx.out(renderStorage(teams));
    });
}

export function renderGc(report: GcReport): string {
  const days = report.olderThanMs / 86_400_000;
  const head = `${report.dryRun ? "would collect" : "collected"} ${formatNumber(report.runs)} run${report.runs === 1 ? "" : "s"} deleted before ${report.cutoff.slice(0, 19).replace("T", " ")} UTC (older than ${formatNumber(Math.round(days * 100) / 100)} days)`;
  const lines = [
    head,
    `  metric data    ${formatNumber(report.metricPoints)} points in ${formatNumber(report.metricChunks)} chunks, ${formatBytes(report.metricBytes)}`,
    `  artifacts      ${formatNumber(report.artifactFiles)} files, ${formatBytes(report.artifactBytes)}`,
    `  blobs ${report.dryRun ? "freed " : "removed"}  ${formatNumber(report.blobsRemoved)}, ${formatBytes(report.blobBytesRemoved)}`,
    `  kept           ${formatNumber(report.blobsKept)} blobs, ${formatBytes(report.blobBytesKept)} (still in use, or too recent)`,
    `  ${report.dryRun ? "would free" : "freed     "}     ${formatBytes(report.bytesFreed)}`,
  ];
  let text = lines.join("\n") + "\n";
  if (report.teams.length) {
    text +=
      "\n" +
      renderTable(report.teams, [
        { header: "TEAM", value: (t) => t.team },
        { header: "RUNS", value: (t) => formatNumber(t.runs), align: "right" },
        { header: "POINTS", value: (t) => formatNumber(t.metricPoints), align: "right" },
        { header: "METRIC DATA", value: (t) => formatBytes(t.metricBytes), align: "right" },
        { header: "FILES", value: (t) => formatNumber(t.artifactFiles), align: "right" },
        { header: "BLOBS FREED", value: (t) => formatBytes(t.blobBytesRemoved), align: "right" },
      ]);
  }
  if (report.kept.length) {
    text += "\nkept:\n" + renderTable(report.kept, [
      { header: "BLOB", value: (k) => k.digest.slice(0, 12) },
      { header: "SIZE", value: (k) => formatBytes(k.size), align: "right" },
      { header: "WHY", value: (k) => k.reason },
    ]);
  }
  for (const s of report.skipped) text += `left ${s.runId}: ${s.reason}\n`;
  return text;
}

export function renderStorage(teams: TeamStorage[]): string {
  if (!teams.length) return "you are in no team\n";
  return renderTable(teams, [
    { header: "TEAM", value: (t) => t.team },
    { header: "RUN ARTIFACTS", value: (t) => formatBytes(t.runArtifacts), align: "right" },
    { header: "METRIC DATA", value: (t) => formatBytes(t.metricData), align: "right" },
    { header: "MODELS", value: (t) => formatBytes(t.models), align: "right" },
    { header: "DATASETS", value: (t) => formatBytes(t.datasets + t.evaluationUploads), align: "right" },
    { header: "WORKSPACES", value: (t) => formatBytes(t.workspaces), align: "right" },
    {
      header: "PENDING COLLECTION",
      value: (t) => (t.pendingCollection.runs ? `${formatNumber(t.pendingCollection.runs)} runs, ${formatBytes(t.pendingCollection.artifactBytes + t.pendingCollection.metricBytes)}` : "-"),
      align: "right",
    },
    { header: "QUOTA", value: (t) => formatBytes(t.quotaCounted), align: "right" },
  ]);
}
