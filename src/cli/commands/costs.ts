import type { Command } from "commander";
import type { CostItem, CostQuery, CostReport } from "../../client/index.ts";
import { invalidInput } from "../../core/index.ts";
import type { CliContext } from "../context.ts";
import { parseInteger } from "../options.ts";
import { formatNumber } from "../render/format.ts";
import { renderTable } from "../render/table.ts";

const GROUPINGS = ["team", "job", "deployment", "user"] as const;

/** `paved costs`: where the money went, per team, job, deployment or user, in a UTC month. */
export function registerCosts(program: Command, ctx: CliContext): void {
  program
    .command("costs")
    .description("What work cost in a month (UTC): each team's jobs, deployments and storage, at the catalog's prices")
    .option("--team <team>", "one team (default: every team you can read)")
    .option("--month <YYYY-MM>", "a UTC month, e.g. 2026-12 (default: this month, until now)")
    .option("--by <what>", `also list the items, most expensive first: ${GROUPINGS.join(", ")}`, "team")
    .option("--limit <n>", "most items listed (1 to 1000)", parseInteger("--limit", 1), 20)
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      `
Examples:
  $ paved costs                          # this month, every team you can read
  $ paved costs --team risk --by job     # risk's most expensive jobs
  $ paved costs --by deployment          # serving: replica-hours, requests, cost per 1,000 predictions
  $ paved costs --month 2026-11 --by user

A job costs each attempt's time × what it held (GPUs by type, CPUs, memory) at \`paved profiles ls\`'s
prices; a deployment its replica-hours; storage its GB-months. Budgets: \`paved budgets ls\`.`,
    )
    .action(async (opts: { team?: string; month?: string; by: string; limit: number; json?: boolean }) => {
      if (!(GROUPINGS as readonly string[]).includes(opts.by)) throw invalidInput(`--by '${opts.by}' is not known; choose one of ${GROUPINGS.join(", ")}`);
      if (opts.month !== undefined && !/^\d{4}-(0[1-9]|1[0-2])$/.test(opts.month)) throw invalidInput(`--month takes YYYY-MM, e.g. 2026-12; got '${opts.month}'`);
      const query: CostQuery = { by: opts.by as CostQuery["by"], limit: opts.limit, ...(opts.team ? { team: opts.team } : {}), ...(opts.month ? { month: opts.month } : {}) };
      const report = await (await ctx.client()).getCosts(query);
      if (opts.json) return ctx.json(report);
      ctx.out(renderCosts(report));
      if (report.more) ctx.note(`${report.more} more not listed; raise --limit to see them`);
    });
}

export function renderCosts(report: CostReport): string {
  const money = (v: number | null | undefined) => (v === null || v === undefined ? undefined : v.toFixed(2));
  const until = report.to < Date.UTC(Number(report.month.slice(0, 4)), Number(report.month.slice(5, 7)), 1) ? ` until ${new Date(report.to).toISOString().slice(0, 16).replace("T", " ")} UTC` : "";
  let text = `costs of ${report.month}${until}, in ${report.currency}: ${money(report.total)}\n\n`;
  if (report.teams.length === 0) return text + "nothing was spent by your teams\n";
  text += renderTable(report.teams, [
    { header: "TEAM", value: (t) => t.team },
    { header: "TOTAL", value: (t) => money(t.total), align: "right" },
    { header: "JOBS", value: (t) => money(t.jobs), align: "right" },
    { header: "DEPLOYMENTS", value: (t) => money(t.deployments), align: "right" },
    { header: "STORAGE", value: (t) => money(t.storage), align: "right" },
    { header: "BUDGET", value: (t) => (t.budget ? `${money(t.budget.amount)} (${formatNumber(Math.round(t.budget.percent))}%)` : undefined), align: "right" },
  ]);
  if (!report.items) return text;
  text += "\n";
  if (report.items.length === 0) return text + "no items this month\n";
  const kind = report.items[0]!.kind;
  const columns =
    kind === "job"
      ? [
          { header: "JOB", value: (i: CostItem) => i.id },
          { header: "NAME", value: (i: CostItem) => i.name },
          { header: "TEAM", value: (i: CostItem) => i.team },
          { header: "USER", value: (i: CostItem) => i.user },
          { header: "GPU-H", value: (i: CostItem) => formatNumber(i.gpuHours), align: "right" as const },
          { header: "CPU-H", value: (i: CostItem) => formatNumber(i.cpuHours), align: "right" as const },
          { header: "PER HOUR", value: (i: CostItem) => formatNumber(i.hourlyCost), align: "right" as const },
          { header: "COST", value: (i: CostItem) => money(i.cost), align: "right" as const },
        ]
      : kind === "deployment"
        ? [
            { header: "DEPLOYMENT", value: (i: CostItem) => i.id || "(loaded by hand)" },
            { header: "MODEL/ENVIRONMENT", value: (i: CostItem) => i.name },
            { header: "TEAM", value: (i: CostItem) => i.team },
            { header: "REPLICA-H", value: (i: CostItem) => formatNumber(i.replicaHours), align: "right" as const },
            { header: "REQUESTS", value: (i: CostItem) => i.requests, align: "right" as const },
            { header: "COST", value: (i: CostItem) => money(i.cost), align: "right" as const },
            { header: "PER 1K PREDICTIONS", value: (i: CostItem) => (i.costPer1000Predictions == null ? undefined : formatNumber(i.costPer1000Predictions)), align: "right" as const },
          ]
        : [
            { header: "USER", value: (i: CostItem) => i.id },
            { header: "TEAM", value: (i: CostItem) => i.team },
            { header: "JOBS", value: (i: CostItem) => money(i.jobs), align: "right" as const },
            { header: "DEPLOYMENTS", value: (i: CostItem) => money(i.deployments), align: "right" as const },
            { header: "STORAGE", value: (i: CostItem) => money(i.storage), align: "right" as const },
            { header: "COST", value: (i: CostItem) => money(i.cost), align: "right" as const },
          ];
  return text + renderTable(report.items, columns);
}
