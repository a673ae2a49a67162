import type { Command } from "commander";
import type { AuditQuery, AuditRecord } from "../../client/index.ts";
import { invalidInput } from "../../core/index.ts";
import type { CliContext } from "../context.ts";
import { parseInteger } from "../options.ts";
import { formatTime } from "../render/format.ts";
import { renderTable } from "../render/table.ts";

interface AuditOptions extends AuditQuery {
  limit: number;
  pageToken?: string;
  json?: boolean;
  jsonl?: boolean;
}

/** `paved audit`: who changed what, when, from where, and how it went (platform admins). */
export function registerAudit(program: Command, ctx: CliContext): void {
  program
    .command("audit")
    .description("The audit log: every mutating request (who, team, what, when, from where, outcome, request id), newest first")
    .option("--since <time>", "answered at or after: a duration before now (30m, 1h, 7d) or an ISO 8601 time")
    .option("--until <time>", "answered before: same forms as --since")
    .option("--actor <name>", "a user, a service account or job:<id>")
    .option("--team <team>", "the team of the resource acted on")
    .option("--action <action>", "an action (models:write) or every action on a kind (models:*)")
    .option("--outcome <outcome>", "success, failure, a status (403) or an error code (FORBIDDEN)")
    .option("--limit <n>", "records per page (1 to 1000)", parseInteger("--limit", 1), 100)
    .option("--page-token <token>", "the next page, from the note a previous page printed")
    .option("--json", "print one page as JSON")
    .option("--jsonl", "export every matching record as JSON Lines, oldest first (for files and log pipelines)")
    .addHelpText(
      "after",
      `
Examples:
  $ paved audit --since 1h
  $ paved audit --since 1h --actor ada
  $ paved audit --team fraud --action models:* --outcome failure
  $ paved audit --since 2025-01-01T00:00:00Z --jsonl > audit.jsonl

Run-tracking writes (log-batch, metrics, params, tags, artifacts) appear as one summary per actor,
run, route and outcome per minute (COUNT > 1), unless the server sets audit.dataEvents: true.
Reading the audit log needs a platform admin's token.`,
    )
    .action(async (opts: AuditOptions) => {
      if (opts.json && opts.jsonl) throw invalidInput("--json prints one page and --jsonl exports every record; choose one");
      const client = await ctx.client();
      const query: AuditQuery = { since: opts.since, until: opts.until, actor: opts.actor, team: opts.team, action: opts.action, outcome: opts.outcome };
      if (opts.jsonl) {
        for await (const chunk of client.exportAudit(query)) await ctx.outBytes(chunk);
        return;
      }
      const page = await client.listAudit({ ...query, limit: opts.limit, ...(opts.pageToken ? { pageToken: opts.pageToken } : {}) });
      if (opts.json) return ctx.json(page);
      ctx.out(renderAudit(page.records, ctx.now()));
      if (page.nextPageToken) ctx.note(`more records: add --page-token ${page.nextPageToken}`);
    });
}

function renderAudit(records: AuditRecord[], now: number): string {
  if (records.length === 0) return "no audit records match\n";
  return renderTable(records, [
    { header: "TIME", value: (r) => formatTime(r.time, now) },
    { header: "ACTOR", value: (r) => (r.actor.name ? `${r.actor.name}${r.actor.kind && r.actor.kind !== "user" ? ` (${r.actor.kind})` : ""}` : "(no valid token)") },
    { header: "TEAM", value: (r) => r.team ?? "-" },
    { header: "ACTION", value: (r) => r.action },
    { header: "TARGET", value: (r) => (r.target ? `${r.target.kind}/${r.target.id}` : targetOfParams(r)) },
    { header: "OUTCOME", value: (r) => `${r.outcome.status}${r.outcome.errorCode ? ` ${r.outcome.errorCode}` : ""}` },
    { header: "COUNT", value: (r) => r.count },
    { header: "FROM", value: (r) => r.clientIp ?? "-" },
    { header: "REQUEST", value: (r) => r.requestId ?? "(summary)" },
  ]);
}

function targetOfParams(record: AuditRecord): string {
  const values = Object.values(record.params);
  return values.length ? values.join("/") : `${record.method} ${record.route}`;
}
