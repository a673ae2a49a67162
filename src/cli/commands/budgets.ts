import type { Command } from "commander";
import type { Budget, BudgetRequest } from "../../client/index.ts";
import { invalidInput } from "../../core/index.ts";
import type { CliContext } from "../context.ts";
import { collect } from "../options.ts";
import { formatAgo } from "../render/format.ts";
import { renderFields, renderTable } from "../render/table.ts";

const ACTIONS = ["notify", "block", "stop"] as const;
type Threshold = { at: number; action: (typeof ACTIONS)[number] };

/** `paved budgets ls|show|set|rm`: a team's monthly budget and what it does at its thresholds. */
export function registerBudgets(program: Command, ctx: CliContext): void {
  const budgets = program
    .command("budgets")
    .description("Team budgets per month (UTC): notify, block new work or stop running work at thresholds")
    .addHelpText(
      "after",
      `
Examples:
  $ paved budgets ls
  $ paved budgets set risk --amount 500 --threshold 80:notify --threshold 100:block --threshold 120:stop
  $ paved budgets show risk`,
    );

  budgets
    .command("ls")
    .description("Budgets of your teams, with this month's spend")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved budgets ls")
    .action(async (opts: { json?: boolean }) => {
      const list = await (await ctx.client()).listBudgets();
      if (opts.json) return ctx.json({ budgets: list });
      ctx.out(list.length === 0 ? "no budgets; a team admin sets one with `paved budgets set <team> --amount <number>`\n" : renderBudgets(list));
    });

  budgets
    .command("show")
    .argument("<team>", "the team")
    .description("A team's budget: spend this month, thresholds, and those crossed (with their notifications)")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved budgets show risk")
    .action(async (team: string, opts: { json?: boolean }) => {
      const budget = await (await ctx.client()).getBudget(team);
      if (opts.json) return ctx.json(budget);
      ctx.out(renderBudget(budget, ctx.now()));
    });

  budgets
    .command("set")
    .argument("<team>", "the team")
    .description("Set a team's monthly budget (team admins, platform admins)")
    .requiredOption("--amount <amount>", "the budget per month, in the price list's currency", parseAmount)
    .option("--threshold <at:action>", "percent of the amount and what happens there: notify, block (refuse new jobs and deployments) or stop (also cancel running jobs, pause rollouts); repeat it. Default: the current thresholds, or 50:notify 90:notify 100:block", collect)
    .option("--webhook <url>", "POST a JSON notification here at each threshold crossed (hosts outside the server's guardrails.budgets.webhookHosts need a platform admin)")
    .option("--no-webhook", "remove the webhook")
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      `
Examples:
  $ paved budgets set risk --amount 500
  $ paved budgets set risk --amount 500 --threshold 50:notify --threshold 90:notify --threshold 100:block --threshold 120:stop
  $ paved budgets set risk --amount 800 --webhook https://hooks.example.com/paved-budgets
  $ paved budgets set risk --amount 800 --no-webhook

A stop cancels the team's queued and running jobs (each gets SIGTERM, then the grace period to save a
checkpoint) and pauses its rollouts; what already serves keeps serving.`,
    )
    .action(async (team: string, opts: { amount: number; threshold?: string[]; webhook?: string | boolean; json?: boolean }) => {
      const body: BudgetRequest = { amount: opts.amount };
      if (opts.threshold) body.thresholds = opts.threshold.map(parseThreshold);
      if (typeof opts.webhook === "string") body.webhookUrl = opts.webhook;
      else if (opts.webhook === false) body.webhookUrl = null;
      const budget = await (await ctx.client()).setBudget(team, body);
      if (opts.json) return ctx.json(budget);
      ctx.out(renderBudget(budget, ctx.now()));
    });

  budgets
    .command("rm")
    .argument("<team>", "the team")
    .description("Remove a team's budget: nothing blocks or stops its work any more")
    .addHelpText("after", "\nExample:\n  $ paved budgets rm risk")
    .action(async (team: string) => {
      await (await ctx.client()).deleteBudget(team);
      ctx.out(`budget of team ${team} removed\n`);
    });
}

function parseAmount(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n <= 0) throw invalidInput(`--amount must be a positive number, e.g. 500; got '${value}'`);
  return n;
}

function parseThreshold(value: string): Threshold {
  const match = /^(\d+(?:\.\d+)?)%?:(\w+)$/.exec(value.trim());
  if (!match || !(ACTIONS as readonly string[]).includes(match[2]!)) {
    throw invalidInput(`--threshold takes <percent>:<action> with action ${ACTIONS.join(", ")}, e.g. 90:notify or 100:block; got '${value}'`);
  }
  return { at: Number(match[1]), action: match[2] as Threshold["action"] };
}

const money = (v: number) => v.toFixed(2);

function renderBudgets(list: Budget[]): string {
  return renderTable(list, [
    { header: "TEAM", value: (b) => b.team },
    { header: "MONTH", value: (b) => b.month },
    { header: "SPENT", value: (b) => `${money(b.spend)} ${b.currency}`, align: "right" },
    { header: "BUDGET", value: (b) => `${money(b.amount)} ${b.currency}`, align: "right" },
    { header: "USED", value: (b) => `${b.percent.toFixed(1)}%`, align: "right" },
    { header: "STATE", value: (b) => (b.blocked ? "BLOCKED" : "ok") },
    { header: "THRESHOLDS", value: (b) => b.thresholds.map((t) => `${t.at}%:${t.action}`).join(" ") },
  ]);
}

function renderBudget(b: Budget, now: number): string {
  let text = renderFields([
    ["team", b.team],
    ["month", `${b.month} (UTC)`],
    ["spent", `${money(b.spend)} of ${money(b.amount)} ${b.currency} (${b.percent.toFixed(1)}%)`],
    ["state", b.blocked ? "BLOCKED: new jobs and deployments are refused until the month ends or the budget rises" : "ok"],
    ["thresholds", b.thresholds.map((t) => `${t.at}%:${t.action}`).join(" ")],
    ["webhook", b.webhookHost ? `to ${b.webhookHost} (the URL is not shown)` : "none"],
    ["set by", `${b.updatedBy}, ${formatAgo(b.updatedAt, now)}`],
  ]);
  if (b.events.length) {
    text +=
      "\n" +
      renderTable(b.events, [
        { header: "CROSSED", value: (e) => `${e.at}%` },
        { header: "ACTION", value: (e) => e.action },
        { header: "WHEN", value: (e) => formatAgo(e.createdAt, now) },
        { header: "SPENT", value: (e) => money(e.spend), align: "right" },
        { header: "NOTIFICATION", value: (e) => (e.delivery === "none" ? "-" : `${e.delivery}${e.attempts > 1 ? ` (${e.attempts} tries)` : ""}${e.lastError ? `: ${e.lastError}` : ""}`) },
      ]);
  }
  return text;
}
