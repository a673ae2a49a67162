import type { Command } from "commander";
import type { AdoptionReport } from "../../client/index.ts";
import type { CliContext } from "../context.ts";
import { parseInteger } from "../options.ts";
import { formatDuration } from "../render/format.ts";
import { renderFields, renderTable } from "../render/table.ts";

interface AdoptionOptions {
  since?: string;
  until?: string;
  users?: boolean;
  json?: boolean;
}

interface FeedbackOptions {
  score: number;
  comment?: string;
  context?: string;
  team?: string;
  json?: boolean;
}

/** `paved adoption`: how the platform is used, as its own records tell (platform admins). */
export function registerAdoption(program: Command, ctx: CliContext): void {
  program
    .command("adoption")
    .description("The platform's adoption over a window: active people and teams, usage per team, the golden-path funnel, time-to-value, delivery figures and satisfaction (platform admins)")
    .option("--since <time>", "start of the window: a duration before its end (28d, 7d) or an ISO 8601 time (default 28d)")
    .option("--until <time>", "end of the window: a duration before now (1d) or an ISO 8601 time (default now)")
    .option("--users", "also list each person's figures and the window's feedback comments (kept out by default)")
    .option("--json", "print the report as JSON")
    .addHelpText(
      "after",
      `
Examples:
  $ paved adoption
  $ paved adoption --since 7d
  $ paved adoption --since 2026-03-01T00:00:00Z --until 2026-04-01T00:00:00Z --json
  $ paved adoption --since 90d --users

docs/adoption.md says what each figure means and exactly how it is computed.`,
    )
    .action(async (opts: AdoptionOptions) => {
      const client = await ctx.client();
      const report = await client.getAdoption({ since: opts.since, until: opts.until, perUser: opts.users === true });
      if (opts.json) return ctx.json(report);
      ctx.out(renderAdoption(report));
    });
}

/** `paved feedback`: a score from 1 to 5 and a comment on the platform. */
export function registerFeedback(program: Command, ctx: CliContext): void {
  program
    .command("feedback")
    .description("Tell the platform team how Paved works for you: a score from 1 (very unhappy) to 5 (very happy) and a comment")
    .requiredOption("--score <n>", "1 to 5", parseInteger("--score", 1))
    .option("--comment <text>", "what went well or badly (at most 2,000 characters)")
    .option("--context <milestone>", "what it follows, e.g. first-run, first-production-deployment, workspaces")
    .option("--team <team>", "the team it is about (default: your token's team, or your only team)")
    .option("--json", "print what was recorded as JSON")
    .addHelpText(
      "after",
      `
Examples:
  $ paved feedback --score 5
  $ paved feedback --score 2 --comment "my jobs waited in the queue for hours" --context jobs

Platform admins read the scores in \`paved adoption\`, and comments with \`paved adoption --users\`.`,
    )
    .action(async (opts: FeedbackOptions) => {
      const client = await ctx.client();
      const recorded = await client.sendFeedback({
        score: opts.score,
        ...(opts.comment !== undefined ? { comment: opts.comment } : {}),
        ...(opts.context !== undefined ? { context: opts.context } : {}),
        ...(opts.team !== undefined ? { team: opts.team } : {}),
      });
      if (opts.json) return ctx.json(recorded);
      ctx.out(`thank you: feedback ${recorded.id} recorded (score ${recorded.score}${recorded.team ? `, team ${recorded.team}` : ""})\n`);
    });
}

/** The report as text: headline figures, then tables. */
export function renderAdoption(r: AdoptionReport): string {
  const days = (r.until - r.since) / 86_400_000;
  const parts: string[] = [`Adoption from ${utc(r.since)} to ${utc(r.until)} (${trim(days)} days)\n`];
  const active = (a: AdoptionReport["activeUsers"]) => `${a.lastDay} last day, ${a.last7Days} last 7 days, ${a.window} in the window (daily average ${trim(a.dailyAverage)}, weekly average ${trim(a.weeklyAverage)})`;
  parts.push(
    renderFields([
      ["active people", active(r.activeUsers)],
      ["active teams", active(r.activeTeams)],
    ]),
  );
  parts.push(renderTable(r.weekly, [{ header: "WEEK FROM", value: (w) => utc(w.from) }, { header: "PEOPLE", value: (w) => w.users, align: "right" }, { header: "TEAMS", value: (w) => w.teams, align: "right" }]));
  parts.push(
    r.teams.length === 0
      ? "no teams\n"
      : renderTable(r.teams, [
          { header: "TEAM", value: (t) => t.team },
          { header: "PEOPLE", value: (t) => t.activeUsers, align: "right" },
          { header: "RUNS", value: (t) => t.runs, align: "right" },
          { header: "JOBS", value: (t) => t.jobs, align: "right" },
          { header: "GPU-HOURS", value: (t) => trim(t.gpuHours), align: "right" },
          { header: "WORKSPACES", value: (t) => t.workspaces, align: "right" },
          { header: "VERSIONS", value: (t) => t.modelVersions, align: "right" },
          { header: "DEPLOYMENTS", value: (t) => t.deployments, align: "right" },
          { header: "PRODUCTION", value: (t) => t.productionDeployments, align: "right" },
        ]),
  );
  parts.push(
    renderTable(r.funnel, [
      { header: "GOLDEN PATH", value: (s) => s.stage },
      { header: "PEOPLE", value: (s) => s.users, align: "right" },
      { header: "THROUGH THE PATH", value: (s) => s.throughPath, align: "right" },
      { header: "CONVERSION", value: (s) => percent(s.conversion), align: "right" },
    ]),
  );
  const median = (q: { count: number; p50Seconds: number | null }, what: string) => (q.p50Seconds === null ? `none yet (0 ${what})` : `p50 ${formatDuration(q.p50Seconds * 1000)} (${q.count} ${what})`);
  const d = r.delivery;
  parts.push(
    renderFields([
      ["new people", r.timeToValue.newUsers],
      ["sign-in to first run", median(r.timeToValue.firstRun, "people")],
      ["sign-in to production", median(r.timeToValue.firstProduction, "people")],
      ["production deployments", `${d.productionDeployments} (${trim(d.perWeek)} a week)`],
      ["lead time, run to production", `${median(d.leadTime, "promotions")}${d.withoutRun ? `; ${d.withoutRun} from no run` : ""}`],
      ["change failure rate", d.changeFailureRate === null ? "no rollout finished" : `${percent(d.changeFailureRate)} (${d.failedRollouts} of ${d.finishedRollouts} rolled back or failed)`],
      ["time to restore", `${median(d.timeToRestore, "restored")}${d.unrestored ? `; ${d.unrestored} not restored yet` : ""}`],
      [
        "satisfaction",
        r.satisfaction.responses === 0
          ? "no feedback yet (`paved feedback --score 5`)"
          : `${r.satisfaction.responses} responses, mean ${trim(r.satisfaction.meanScore ?? 0)} of 5, ${percent(r.satisfaction.satisfied)} scored 4 or 5; scores 1-5: ${r.satisfaction.distribution.join(" ")}`,
      ],
    ]),
  );
  if (r.users) {
    parts.push(
      renderTable(r.users, [
        { header: "PERSON", value: (u) => u.user },
        { header: "TEAMS", value: (u) => u.teams.join(",") },
        { header: "FIRST SIGN-IN", value: (u) => (u.firstSignIn === null ? null : utc(u.firstSignIn)) },
        { header: "FIRST RUN", value: (u) => (u.firstRun === null ? null : utc(u.firstRun)) },
        { header: "FIRST PRODUCTION", value: (u) => (u.firstProduction === null ? null : utc(u.firstProduction)) },
        { header: "ACTIVE DAYS", value: (u) => u.activeDays, align: "right" },
        { header: "RUNS", value: (u) => u.runs, align: "right" },
        { header: "STAGES", value: (u) => u.stages.join(",") },
      ]),
    );
  }
  if (r.feedback && r.feedback.length > 0) {
    parts.push(
      renderTable(r.feedback, [
        { header: "TIME", value: (f) => utc(f.createdAt) },
        { header: "PERSON", value: (f) => f.user },
        { header: "TEAM", value: (f) => f.team },
        { header: "SCORE", value: (f) => f.score, align: "right" },
        { header: "CONTEXT", value: (f) => f.context },
        { header: "COMMENT", value: (f) => f.comment },
      ]),
    );
  }
  return parts.join("\n");
}

function utc(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

function percent(x: number | null): string {
  return x === null ? "-" : `${trim(x * 100)}%`;
}

function trim(x: number): string {
  return String(Math.round(x * 100) / 100);
}
