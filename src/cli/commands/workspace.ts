import type { Command } from "commander";
import type { PavedClient, Workspace } from "../../client/index.ts";
import { notFound } from "../../core/index.ts";
import type { CliContext } from "../context.ts";
import { collect } from "../options.ts";
import { formatAgo, formatBytes, formatDuration, formatTime } from "../render/format.ts";
import { renderFields, renderTable } from "../render/table.ts";

/** `paved workspace create|ls|show|stop|start|delete|share|open|envs|stats`: Jupyter servers reached through Paved. */
export function registerWorkspace(program: Command, ctx: CliContext): void {
  const ws = program
    .command("workspace")
    .alias("workspaces")
    .description("Workspaces: a Jupyter server of a compute profile, scheduled as a job, reached only through Paved")
    .addHelpText(
      "after",
      `
A workspace's server holds its profile's GPUs (CUDA_VISIBLE_DEVICES) from the team's quota, like a job;
\`mlflow.start_run()\` in it records into its experiment, and \`paved train\` in its terminal submits jobs.
It is stopped when idle (its home folder kept) and comes back with \`start\`. See docs/workspaces.md.

Examples:
  $ paved workspace create --profile gpu-1 --name churn-eda
  $ paved workspace open churn-eda          # prints a link that logs your browser in (once, 2 minutes)
  $ paved workspace ls
  $ paved workspace stop churn-eda; paved workspace start churn-eda`,
    );

  ws.command("create")
    .description("Create a workspace and start its Jupyter server")
    .option("--profile <name>", "compute profile (paved profiles ls); default: the server's workspaces.defaultProfile")
    .option("--env <name>", "environment of the catalog, NAME or NAME@VERSION")
    .option("--name <name>", "lowercase letters, digits and '-'; default: your name and a few letters")
    .option("--experiment <name>", "where mlflow.start_run() records runs; default: the workspace's name")
    .option("--team <team>", "the team it belongs to (default: your token's, or your only one)")
    .option("--from-run <run-id>", "open it on this run's code snapshot, parameters (paved-run/params.json, $PAVED_HYPERPARAMETERS), environment and dataset references")
    .option("--from-model <name@version>", "the same, for the run a model version was registered from (a version number or an alias)")
    .option("--wait", "wait until a kernel answers (or it fails)")
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      "\nExamples:\n  $ paved workspace create --profile gpu-1 --env torch\n  $ paved workspace create --profile cpu --name eda --experiment churn --wait\n  $ paved workspace create --from-run 3f2a9c0d...   # then, in its terminal: paved apply -f paved-run/job.yaml",
    )
    .action(async (opts: { profile?: string; env?: string; name?: string; experiment?: string; team?: string; fromRun?: string; fromModel?: string; wait?: boolean; json?: boolean }) => {
      const client = await ctx.client();
      let w = await client.createWorkspace({
        ...(opts.profile ? { profile: opts.profile } : {}),
        ...(opts.env ? { environment: opts.env } : {}),
        ...(opts.name ? { name: opts.name } : {}),
        ...(opts.experiment ? { experiment: opts.experiment } : {}),
        ...(opts.team ? { team: opts.team } : {}),
        ...(opts.fromRun ? { fromRun: opts.fromRun } : {}),
        ...(opts.fromModel ? { fromModel: opts.fromModel } : {}),
      });
      if (opts.wait) w = await waitRunning(client, w.id);
      if (opts.json) return ctx.json(w);
      ctx.out(`workspace ${w.name} (${w.id}) is ${w.phase}${w.message ? `: ${w.message}` : ""}\n${w.url}\nopen it in a browser with: paved workspace open ${w.name}\n`);
    });

  ws.command("ls")
    .description("Your workspaces and those shared with you")
    .option("--all", "team admins: every workspace of their teams")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved workspace ls")
    .action(async (opts: { all?: boolean; json?: boolean }) => {
      const list = await (await ctx.client()).listWorkspaces(opts.all ?? false);
      if (opts.json) return ctx.json({ workspaces: list });
      const now = Date.now();
      ctx.out(
        renderTable(list, [
          { header: "NAME", value: (w) => w.name },
          { header: "ID", value: (w) => w.id },
          { header: "TEAM", value: (w) => w.team },
          { header: "OWNER", value: (w) => w.owner },
          { header: "PROFILE", value: (w) => w.profile },
          { header: "PHASE", value: (w) => w.phase },
          { header: "GPUS", value: (w) => (w.gpus.length ? w.gpus.join(",") : undefined) },
          { header: "LAST USED", value: (w) => formatAgo(w.lastActivityAt, now) },
          { header: "READY IN", value: (w) => (w.readyMs === null ? undefined : formatDuration(w.readyMs)), align: "right" },
        ]),
      );
    });

  ws.command("show")
    .argument("<workspace>", "its name or id")
    .description("A workspace: phase, URL, why it waits, GPUs, ready time, last use, events")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved workspace show churn-eda")
    .action(async (ref: string, opts: { json?: boolean }) => {
      const client = await ctx.client();
      const w = await client.getWorkspace(await resolve(client, ref));
      if (opts.json) return ctx.json(w);
      ctx.out(renderWorkspace(w, Date.now()));
    });

  for (const [verb, description] of [
    ["stop", "Stop it: its server and kernels end, its GPUs go back to the team; its home folder stays"],
    ["start", "Start it again: same URL, same home folder, a new server"],
  ] as const) {
    ws.command(verb)
      .argument("<workspace>", "its name or id")
      .description(description)
      .option("--wait", verb === "start" ? "wait until a kernel answers" : "wait until it is STOPPED")
      .option("--json", "print JSON")
      .addHelpText("after", `\nExample:\n  $ paved workspace ${verb} churn-eda`)
      .action(async (ref: string, opts: { wait?: boolean; json?: boolean }) => {
        const client = await ctx.client();
        const id = await resolve(client, ref);
        let w = verb === "stop" ? await client.stopWorkspace(id) : await client.startWorkspace(id);
        if (opts.wait) w = verb === "start" ? await waitRunning(client, id) : await waitPhase(client, id, ["STOPPED", "FAILED"]);
        if (opts.json) return ctx.json(w);
        ctx.out(`workspace ${w.name} is ${w.phase}${w.message ? `: ${w.message}` : ""}\n`);
      });
  }

  ws.command("delete")
    .argument("<workspace>", "its name or id")
    .description("Stop it and remove it with its home folder")
    .addHelpText("after", "\nExample:\n  $ paved workspace delete churn-eda")
    .action(async (ref: string) => {
      const client = await ctx.client();
      const id = await resolve(client, ref);
      await client.deleteWorkspace(id);
      ctx.out(`workspace ${ref} deleted\n`);
    });

  ws.command("share")
    .argument("<workspace>", "its name or id")
    .description("Let members of its team use it (or stop letting them)")
    .option("--with <user>", "a member of the workspace's team (repeatable)", collect)
    .option("--remove <user>", "stop sharing with this user (repeatable)", collect)
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved workspace share churn-eda --with grace")
    .action(async (ref: string, opts: { with?: string[]; remove?: string[]; json?: boolean }) => {
      const client = await ctx.client();
      const w = await client.shareWorkspace(await resolve(client, ref), { add: opts.with ?? [], remove: opts.remove ?? [] });
      if (opts.json) return ctx.json(w);
      ctx.out(`workspace ${w.name} is shared with: ${w.sharedWith.length ? w.sharedWith.join(", ") : "nobody"}\n`);
    });

  ws.command("open")
    .argument("<workspace>", "its name or id")
    .description("Print a link that opens the workspace in a browser (it works once, for 2 minutes)")
    .option("--json", "print JSON")
    .addHelpText("after", "\nThe link logs the browser into this workspace only (a cookie of its path); the Jupyter token never leaves the server.\n\nExample:\n  $ paved workspace open churn-eda")
    .action(async (ref: string, opts: { json?: boolean }) => {
      const client = await ctx.client();
      const link = await client.openWorkspace(await resolve(client, ref));
      if (opts.json) return ctx.json(link);
      ctx.out(`${link.url}\n`);
    });

  ws.command("envs")
    .description("The environments --env takes: interpreter, packages, and whether each is built (built once, then reused)")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved workspace envs")
    .action(async (opts: { json?: boolean }) => {
      const list = await (await ctx.client()).listEnvironments();
      if (opts.json) return ctx.json({ environments: list });
      ctx.out(
        renderTable(list, [
          { header: "ENVIRONMENT", value: (e) => e.ref },
          { header: "PYTHON", value: (e) => (e.pythonVersion ? `${e.python} (${e.pythonVersion})` : e.python) },
          { header: "PACKAGES", value: (e) => e.packages.join(" ") || undefined },
          { header: "BUILT", value: (e) => (e.builtAt === null ? "no" : `${formatTime(e.builtAt, Date.now())} in ${formatDuration(e.buildMs ?? 0)}`) },
          { header: "DESCRIPTION", value: (e) => e.description || undefined },
        ]),
      );
    });

  ws.command("stats")
    .description("Ready times per profile (request to a kernel answering), p50 and p95, last 30 days")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved workspace stats")
    .action(async (opts: { json?: boolean }) => {
      const stats = await (await ctx.client()).workspaceStats();
      if (opts.json) return ctx.json(stats);
      ctx.out(
        renderTable(stats.profiles, [
          { header: "PROFILE", value: (p) => p.profile },
          { header: "SESSIONS", value: (p) => p.sessions, align: "right" },
          { header: "P50", value: (p) => (p.p50Ms === null ? undefined : formatDuration(p.p50Ms)), align: "right" },
          { header: "P95", value: (p) => (p.p95Ms === null ? undefined : formatDuration(p.p95Ms)), align: "right" },
          { header: "FROM POOL", value: (p) => p.fromPool, align: "right" },
        ]),
      );
    });
}

/** A workspace's id from its id or its name (among the caller's). */
async function resolve(client: PavedClient, ref: string): Promise<string> {
  if (/^ws-[0-9a-f]+$/.test(ref)) return ref;
  const match = (await client.listWorkspaces()).filter((w) => w.name === ref);
  if (match.length === 1) return match[0]!.id;
  if (match.length === 0) throw notFound(`no workspace named '${ref}' among yours; list them with \`paved workspace ls\``);
  throw notFound(`several of your workspaces are named '${ref}' (in ${match.map((w) => w.team).join(", ")}); give its id instead`);
}

async function waitPhase(client: PavedClient, id: string, phases: string[]): Promise<Workspace> {
  for (;;) {
    const w = await client.getWorkspace(id);
    if (phases.includes(w.phase) || w.phase === "FAILED") return w;
    await new Promise((r) => setTimeout(r, 250));
  }
}

function waitRunning(client: PavedClient, id: string): Promise<Workspace> {
  return waitPhase(client, id, ["RUNNING"]);
}

export function renderWorkspace(w: Workspace, now: number): string {
  const pending = w.pending as { reason?: string; quota?: { fix?: string } } | undefined;
  const fields = renderFields([
    ["Name", `${w.name} (${w.id})`],
    ["Team", w.team],
    ["Owner", w.owner],
    ["Shared with", w.sharedWith.length ? w.sharedWith.join(", ") : "nobody"],
    ["Phase", w.phase],
    ...(w.message ? ([["Message", w.message]] as [string, string][]) : []),
    ...(pending?.reason ? ([["Waiting for", `${pending.reason}${pending.quota?.fix ? ` (fix: ${pending.quota.fix})` : ""}`]] as [string, string][]) : []),
    ["URL", w.url],
    ["Profile", w.profile],
    ["Environment", w.environment ?? "the server's Python"],
    ...(w.fromRun ? ([["Reproduces", `run ${w.fromRun}${w.fromModel ? ` (model ${w.fromModel})` : ""}: see paved-run/ in its home`]] as [string, string][]) : []),
    ["Experiment", `${w.experiment} (${w.experimentId})`],
    ["GPUs", w.gpus.length ? w.gpus.join(",") : "none"],
    ["Job", w.jobId ?? "-"],
    ["Session", String(w.session)],
    ["Ready in", w.readyMs === null ? "-" : formatDuration(w.readyMs)],
    ["Last used", formatAgo(w.lastActivityAt, now)],
    ["Home", formatBytes(w.homeBytes)],
  ]);
  const events = renderTable(w.events, [
    { header: "TIME", value: (e) => formatTime(e.time, now) },
    { header: "EVENT", value: (e) => e.type },
    { header: "MESSAGE", value: (e) => e.message },
  ]);
  return `${fields}\n${events}`;
}
