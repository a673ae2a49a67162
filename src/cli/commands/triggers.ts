import type { Command } from "commander";
import type { Trigger, TriggerRequest } from "../../client/index.ts";
import { invalidInput } from "../../core/index.ts";
import type { CliContext } from "../context.ts";
import { collect } from "../options.ts";
import { formatTime } from "../render/format.ts";
import { renderFields, renderTable } from "../render/table.ts";
import { parseParams } from "./pipelines.ts";

interface AddOptions {
  name?: string;
  cron?: string;
  tz?: string;
  missed?: string;
  dataset?: string;
  datasetParam?: string;
  git?: string;
  url?: string;
  branch?: string;
  secret?: string;
  param?: string[];
  json?: boolean;
}

/** `paved triggers add|ls|show|rm`: what starts a pipeline by itself. */
export function registerTriggers(program: Command, ctx: CliContext): void {
  const triggers = program
    .command("triggers")
    .description("What starts a pipeline by itself: a cron schedule in a time zone, a new dataset version, a git push (a verified webhook)")
    .addHelpText(
      "after",
      `
Examples:
  $ paved triggers add golden-path --cron "0 3 * * 1-5" --tz Europe/Berlin
  $ paved triggers add retrain --dataset churn
  $ paved triggers add golden-path --git acme/churn --url https://github.com/acme/churn.git --secret churn-webhook
  $ paved triggers ls golden-path`,
    );

  triggers
    .command("add")
    .argument("<pipeline>", "the pipeline it starts")
    .description("Add a trigger: exactly one of --cron, --dataset, --git")
    .option("--name <name>", "its name within the pipeline (default: its kind)")
    .option("--cron <schedule>", "crontab's five fields, or @hourly, @daily, @weekly, @monthly, @yearly")
    .option("--tz <zone>", "the schedule's IANA time zone (default UTC)")
    .option("--missed <policy>", "firings missed while Paved was down: run-once (default: one run for the latest) or skip")
    .option("--dataset <name>", "a new version of this dataset starts a run (its reference goes to the parameter 'dataset')")
    .option("--dataset-param <name>", "the parameter the new version's reference goes to (default dataset)")
    .option("--git <owner/name>", "a push to this repository (as the webhook names it) starts a run at the pushed commit")
    .option("--url <url>", "git: where Paved fetches the commit (an https URL or a folder on the server, allow-listed by an admin in triggers.allowedRemotes)")
    .option("--branch <branch>", "git: the branch whose pushes start runs (default main)")
    .option("--secret <name>", "git: the team secret holding the webhook's secret (`paved secrets set <name> --team <team>`)")
    .option("--param <name=value>", "a parameter every run it starts gets (repeatable)", collect)
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      `
Examples:
  $ paved triggers add nightly-train --cron "30 2 * * *" --tz America/New_York --missed skip
  $ paved triggers add retrain --dataset churn --param epochs=20
  $ paved triggers add golden-path --git acme/churn --url https://github.com/acme/churn.git --secret churn-webhook

A git trigger answers with the webhook path: point the repository's push webhook at
<server>/api/v1/triggers/<id>/webhook (content type application/json, the same secret).`,
    )
    .action(async (pipeline: string, opts: AddOptions) => {
      const kinds = [opts.cron, opts.dataset, opts.git].filter((k) => k !== undefined).length;
      if (kinds !== 1) throw invalidInput("give exactly one of --cron, --dataset and --git");
      if (opts.git && (!opts.url || !opts.secret)) throw invalidInput("--git needs --url (where to fetch the commit) and --secret (the team secret holding the webhook's secret)");
      if (opts.missed !== undefined && opts.missed !== "run-once" && opts.missed !== "skip") throw invalidInput(`--missed '${opts.missed}' is unknown; use run-once or skip`);
      const body: TriggerRequest = {
        ...(opts.name ? { name: opts.name } : {}),
        ...(opts.param ? { params: parseParams(opts.param) } : {}),
        ...(opts.cron ? { cron: { schedule: opts.cron, ...(opts.tz ? { timeZone: opts.tz } : {}), ...(opts.missed ? { missed: opts.missed as "run-once" | "skip" } : {}) } } : {}),
        ...(opts.dataset ? { dataset: { name: opts.dataset, ...(opts.datasetParam ? { param: opts.datasetParam } : {}) } } : {}),
        ...(opts.git ? { git: { repository: opts.git, url: opts.url!, secret: opts.secret!, ...(opts.branch ? { branch: opts.branch } : {}) } } : {}),
      };
      const client = await ctx.client();
      const trigger = await client.createTrigger(pipeline, body);
      if (opts.json) return ctx.json(trigger);
      ctx.out(`trigger ${trigger.id} (${trigger.name}, ${describe(trigger)}) starts pipeline ${trigger.pipeline}\n${trigger.webhook ? `point the push webhook at ${client.url}${trigger.webhook}\n` : ""}`);
    });

  triggers
    .command("ls")
    .argument("<pipeline>", "the pipeline")
    .description("A pipeline's triggers and what each last started")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved triggers ls golden-path")
    .action(async (pipeline: string, opts: { json?: boolean }) => {
      const list = await (await ctx.client()).listTriggers(pipeline);
      if (opts.json) return ctx.json({ triggers: list });
      const now = ctx.now();
      ctx.out(
        renderTable(list, [
          { header: "ID", value: (t) => t.id },
          { header: "NAME", value: (t) => t.name },
          { header: "WHEN", value: (t) => describe(t) },
          { header: "NEXT", value: (t) => (t.next !== null ? formatTime(t.next, now) : undefined) },
          { header: "LAST", value: (t) => (t.firings[0] ? `${t.firings[0].outcome} ${t.firings[0].runId}` : undefined) },
        ]),
      );
    });

  triggers
    .command("show")
    .argument("<id>", "a trigger id (paved triggers ls <pipeline>)")
    .description("A trigger, its state and its newest firings with the runs they started")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved triggers show trig-3f2a9c41d0")
    .action(async (id: string, opts: { json?: boolean }) => {
      const client = await ctx.client();
      const t = await client.getTrigger(id);
      if (opts.json) return ctx.json(t);
      const now = ctx.now();
      const head = renderFields([
        ["ID", t.id],
        ["Pipeline", t.pipeline],
        ["Name", t.name],
        ["When", describe(t)],
        ["Webhook", t.webhook ? `${client.url}${t.webhook}` : undefined],
        ["Next", t.next !== null ? formatTime(t.next, now) : undefined],
        ["Parameters", Object.keys(t.params).length ? JSON.stringify(t.params) : undefined],
        ["Created", `${formatTime(t.createdAt, now)} by ${t.createdBy}`],
      ]);
      const firings = renderTable(t.firings, [
        { header: "FIRED", value: (f) => f.key },
        { header: "RUN", value: (f) => f.runId },
        { header: "OUTCOME", value: (f) => f.outcome },
        { header: "WHEN", value: (f) => formatTime(f.createdAt, now) },
        { header: "MESSAGE", value: (f) => f.message ?? undefined },
      ]);
      ctx.out(`${head}\nFirings:\n${firings}`);
    });

  triggers
    .command("rm")
    .argument("<id>", "a trigger id")
    .description("Delete a trigger (the runs it started stay)")
    .addHelpText("after", "\nExample:\n  $ paved triggers rm trig-3f2a9c41d0")
    .action(async (id: string) => {
      await (await ctx.client()).deleteTrigger(id);
      ctx.out(`deleted trigger ${id}\n`);
    });
}

function describe(t: Trigger): string {
  if (t.cron) return `cron ${t.cron.schedule} (${t.cron.timeZone}, missed: ${t.cron.missed})`;
  if (t.dataset) return `new versions of dataset ${t.dataset.name}`;
  if (t.git) return `pushes to ${t.git.repository}@${t.git.branch}`;
  return t.kind;
}
