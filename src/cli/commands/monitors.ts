import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Command } from "commander";
import { parse as parseYaml } from "yaml";
import type { Alert, AlertReceiver, AlertRule, Monitor, MonitorWindow } from "../../client/index.ts";
import { invalidInput, notFound, resolveTimeBound, timeBoundSchema } from "../../core/index.ts";
import type { CliContext } from "../context.ts";
import { parseInteger } from "../options.ts";
import { formatAgo, formatNumber, formatTime } from "../render/format.ts";
import { renderFields, renderTable } from "../render/table.ts";

/** A rule file's YAML (the server validates its fields). */
async function readRule(file: string, cwd: string): Promise<unknown> {
  const text = await readFile(resolve(cwd, file), "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") throw notFound(`rule file '${file}' does not exist; check the path given to -f`);
    throw invalidInput(`cannot read rule file '${file}': ${error.message}`);
  });
  try {
    return parseYaml(text) as unknown;
  } catch (error) {
    throw invalidInput(`rule file '${file}' is not valid YAML: ${(error as Error).message}`);
  }
}

/** `paved monitors create|ls|show|windows|rm`: model monitors of deployed versions. */
export function registerMonitors(program: Command, ctx: CliContext): void {
  const monitors = program
    .command("monitors")
    .alias("monitor")
    .description("Model monitors: each deployed version's live inputs against its reference data (drift: PSI, KS, chi-square), prediction shift, missing, out-of-range and schema-violating inputs, errors and latency, window by window")
    .addHelpText("after", "\nSee docs/observability.md#model-monitors.\n\nExample:\n  $ paved monitors create churn@3 --window 300\n  $ paved monitors ls\n  $ paved monitors windows mon-1a2b3c4d5e");

  monitors
    .command("create")
    .argument("<model@version>", "the version to watch, e.g. churn@3 (its newest evaluation's reference data is the baseline)")
    .description("Monitor a version in an environment; thresholds for drift and latency come from the model's gate policy")
    .option("--environment <env>", "the environment whose traffic is watched", "production")
    .option("--window <seconds>", "window length in seconds", parseInteger("--window", 1))
    .option("--min-rows <n>", "fewest sampled rows a window needs to judge drift", parseInteger("--min-rows", 20))
    .option("--features <names>", "judge only these features, comma-separated (default: all of the model's)")
    .option("--keep-samples", "keep each window's sampled rows for 30 days, to make a dataset of them (paved monitors dataset)")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved monitors create churn@3 --environment production --window 300 --keep-samples")
    .action(async (target: string, opts: { environment: string; window?: number; minRows?: number; features?: string; keepSamples?: boolean; json?: boolean }) => {
      const match = /^([^@]+)@(\d+)$/.exec(target);
      if (!match) throw invalidInput(`'${target}' is not <model>@<version number>, e.g. churn@3`);
      const monitor = await (await ctx.client()).createMonitor({
        model: match[1]!,
        version: Number(match[2]),
        environment: opts.environment,
        ...(opts.window !== undefined ? { windowSeconds: opts.window } : {}),
        ...(opts.minRows !== undefined ? { minRows: opts.minRows } : {}),
        ...(opts.features !== undefined ? { features: opts.features.split(",").map((f) => f.trim()).filter(Boolean) } : {}),
        ...(opts.keepSamples ? { keepSamples: true } : {}),
      });
      if (opts.json) return ctx.json(monitor);
      ctx.out(`monitor ${monitor.id} watches ${monitor.model}@${monitor.version} in ${monitor.environment} every ${monitor.spec.windowSeconds} s against ${monitor.reference.uri}; see it with \`paved monitors show ${monitor.id}\`\n`);
    });

  monitors
    .command("ls")
    .description("List monitors of your teams, with each one's latest window")
    .option("--model <name>", "only this model's")
    .option("--environment <env>", "only this environment's")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved monitors ls --model churn")
    .action(async (opts: { model?: string; environment?: string; json?: boolean }) => {
      const list = await (await ctx.client()).listMonitors({ ...(opts.model ? { model: opts.model } : {}), ...(opts.environment ? { environment: opts.environment } : {}) });
      if (opts.json) return ctx.json({ monitors: list });
      ctx.out(renderMonitorTable(list, ctx.now()));
    });

  monitors
    .command("show")
    .argument("<id>", "monitor id")
    .description("Show a monitor: its reference, the thresholds in force and its latest window per feature")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved monitors show mon-1a2b3c4d5e")
    .action(async (id: string, opts: { json?: boolean }) => {
      const monitor = await (await ctx.client()).getMonitor(id);
      if (opts.json) return ctx.json(monitor);
      ctx.out(renderMonitor(monitor, ctx.now()));
    });

  monitors
    .command("windows")
    .argument("<id>", "monitor id")
    .description("A monitor's closed windows, newest first: status, traffic, drifted features and breaches")
    .option("--limit <n>", "at most this many windows", parseInteger("--limit", 1))
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved monitors windows mon-1a2b3c4d5e --limit 20")
    .action(async (id: string, opts: { limit?: number; json?: boolean }) => {
      const windows = await (await ctx.client()).monitorWindows(id, opts.limit ? { limit: opts.limit } : {});
      if (opts.json) return ctx.json({ windows });
      ctx.out(renderWindowTable(windows, ctx.now()));
    });

  monitors
    .command("dataset")
    .argument("<id>", "monitor id (one created with --keep-samples)")
    .requiredOption("--name <dataset>", "the dataset the version goes to (created when new)")
    .option("--since <time>", "only windows that ended after: a duration before now (7d, 12h) or an ISO 8601 time")
    .description("Make a dataset version of the live traffic a monitor kept: each window's sampled inputs and prediction scores, with lineage to the deployment")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExamples:\n  $ paved monitors dataset mon-1a2b3c4d5e --name churn-live\n  $ paved monitors dataset mon-1a2b3c4d5e --name churn-live --since 7d\n  $ paved datasets show churn-live")
    .action(async (id: string, opts: { name: string; since?: string; json?: boolean }) => {
      const since = opts.since === undefined ? undefined : resolveTimeBound(parseTimeBound(opts.since), ctx.now());
      const made = await (await ctx.client()).monitorDataset(id, { name: opts.name, ...(since !== undefined ? { since } : {}) });
      if (opts.json) return ctx.json(made);
      ctx.out(`${made.ref}: ${made.rows} sampled rows of ${made.windows} window${made.windows === 1 ? "" : "s"}${made.existing ? " (this version held the same windows already)" : ""}; see it with \`paved datasets show ${made.dataset}@${made.version}\`\n`);
    });

  monitors
    .command("rm")
    .argument("<id>", "monitor id")
    .description("Delete a monitor and its windows")
    .addHelpText("after", "\nExample:\n  $ paved monitors rm mon-1a2b3c4d5e")
    .action(async (id: string) => {
      await (await ctx.client()).deleteMonitor(id);
      ctx.out(`monitor ${id} deleted\n`);
    });
}

/** `paved alerts [ls] | rules add|ls|rm | receivers add|ls|rm`. */
export function registerAlerts(program: Command, ctx: CliContext): void {
  const alerts = program
    .command("alerts")
    .description("Alerts on model signals (monitor breaches) and infrastructure readings, sent to webhooks; a rule may pause a rollout")
    .addHelpText("after", "\nSee docs/observability.md#alerts.\n\nExample:\n  $ paved alerts receivers add oncall https://hooks.example.com/paved --format alertmanager\n  $ paved alerts rules add canary-drift -f rule.yaml\n  $ paved alerts ls --state firing");

  alerts
    .command("ls")
    .description("Alerts of your teams, newest first, with what each receiver was sent")
    .option("--state <state>", "firing or resolved")
    .option("--limit <n>", "at most this many", parseInteger("--limit", 1))
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved alerts ls --state firing")
    .action(async (opts: { state?: string; limit?: number; json?: boolean }) => {
      if (opts.state !== undefined && opts.state !== "firing" && opts.state !== "resolved") throw invalidInput(`--state must be firing or resolved, not '${opts.state}'`);
      const list = await (await ctx.client()).listAlerts({ ...(opts.state ? { state: opts.state as "firing" | "resolved" } : {}), ...(opts.limit ? { limit: opts.limit } : {}) });
      if (opts.json) return ctx.json({ alerts: list });
      ctx.out(renderAlertTable(list, ctx.now()));
    });

  const rules = alerts.command("rules").description("Alert rules: a signal, a severity, receivers, and whether it pauses the rollout in progress").addHelpText("after", "\nExample:\n  $ paved alerts rules ls");
  rules
    .command("add")
    .argument("<name>", "rule name")
    .description("Add an alert rule from a YAML file (signal, severity, model, environment, threshold, forWindows, pauseRollout, receivers)")
    .requiredOption("-f, --file <file>", "YAML rule")
    .option("--team <team>", "the team it belongs to (default: your only team)")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ cat rule.yaml\n  signal: model.drift\n  severity: critical\n  model: churn\n  pauseRollout: true\n  receivers: [oncall]\n  $ paved alerts rules add canary-drift -f rule.yaml")
    .action(async (name: string, opts: { file: string; team?: string; json?: boolean }) => {
      const rule = await readRule(opts.file, ctx.cwd);
      const created = await (await ctx.client()).createAlertRule({ name, rule, ...(opts.team ? { team: opts.team } : {}) });
      if (opts.json) return ctx.json(created);
      ctx.out(`alert rule ${created.name} added to team ${created.team}\n`);
    });
  rules
    .command("ls")
    .description("List the alert rules of your teams")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved alerts rules ls")
    .action(async (opts: { json?: boolean }) => {
      const list = await (await ctx.client()).listAlertRules();
      if (opts.json) return ctx.json({ rules: list });
      ctx.out(renderRuleTable(list));
    });
  rules
    .command("rm")
    .argument("<name>", "rule name")
    .option("--team <team>", "the rule's team (default: your only team)")
    .description("Delete an alert rule (its firing alerts resolve)")
    .addHelpText("after", "\nExample:\n  $ paved alerts rules rm canary-drift")
    .action(async (name: string, opts: { team?: string }) => {
      await (await ctx.client()).deleteAlertRule(name, opts.team);
      ctx.out(`alert rule ${name} deleted\n`);
    });

  const receivers = alerts.command("receivers").description("Webhook receivers (hosts must be in the server's monitoring.alerts.allowedHosts)").addHelpText("after", "\nExample:\n  $ paved alerts receivers ls");
  receivers
    .command("add")
    .argument("<name>", "receiver name")
    .argument("<url>", "http(s) webhook URL on an allow-listed host")
    .option("--format <format>", "json (Paved's body) or alertmanager (Alertmanager's webhook body)", "json")
    .option("--team <team>", "the team it belongs to (default: your only team)")
    .option("--json", "print JSON")
    .description("Add a webhook receiver")
    .addHelpText("after", "\nExample:\n  $ paved alerts receivers add oncall https://hooks.example.com/paved --format alertmanager")
    .action(async (name: string, url: string, opts: { format: string; team?: string; json?: boolean }) => {
      if (opts.format !== "json" && opts.format !== "alertmanager") throw invalidInput(`--format must be json or alertmanager, not '${opts.format}'`);
      const created = await (await ctx.client()).createAlertReceiver({ name, url, format: opts.format, ...(opts.team ? { team: opts.team } : {}) });
      if (opts.json) return ctx.json(created);
      ctx.out(`receiver ${created.name} (${created.format}) added to team ${created.team}\n`);
    });
  receivers
    .command("ls")
    .description("List the webhook receivers of your teams (URL paths are not shown)")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved alerts receivers ls")
    .action(async (opts: { json?: boolean }) => {
      const list = await (await ctx.client()).listAlertReceivers();
      if (opts.json) return ctx.json({ receivers: list });
      ctx.out(renderReceiverTable(list));
    });
  receivers
    .command("rm")
    .argument("<name>", "receiver name")
    .option("--team <team>", "the receiver's team (default: your only team)")
    .description("Delete a webhook receiver")
    .addHelpText("after", "\nExample:\n  $ paved alerts receivers rm oncall")
    .action(async (name: string, opts: { team?: string }) => {
      await (await ctx.client()).deleteAlertReceiver(name, opts.team);
      ctx.out(`receiver ${name} deleted\n`);
    });
}

const pct = (x: number | null | undefined) => (x === null || x === undefined ? undefined : `${(x * 100).toFixed(1)}%`);

export function renderMonitorTable(list: readonly Monitor[], now: number): string {
  if (list.length === 0) return "no monitors; create one with `paved monitors create <model>@<version>`\n";
  return renderTable(list, [
    { header: "ID", value: (m) => m.id },
    { header: "MODEL", value: (m) => `${m.model}@${m.version}` },
    { header: "ENV", value: (m) => m.environment },
    { header: "WINDOW", value: (m) => `${m.spec.windowSeconds}s`, align: "right" },
    { header: "LATEST", value: (m) => m.latest?.status ?? "none yet" },
    { header: "DRIFTED", value: (m) => m.latest?.figures.driftedFeatures.join(",") || undefined },
    { header: "ERRORS", value: (m) => pct(m.latest?.figures.errorRate), align: "right" },
    { header: "ENDED", value: (m) => (m.latest ? formatAgo(m.latest.end, now) : undefined) },
  ]);
}

export function renderMonitor(m: Monitor, now: number): string {
  const sections = [
    renderFields([
      ["ID", m.id],
      ["Model", `${m.model}@${m.version}`],
      ["Environment", m.environment],
      ["Team", m.team],
      ["Window", `${m.spec.windowSeconds} s (drift judged from ${m.spec.minRows} sampled rows)`],
      ["Reference", `${m.reference.uri} (${m.reference.kind} of evaluation ${m.reference.evaluationId})`],
      ["Features", m.reference.features.join(", ")],
      ["Thresholds", Object.entries(m.thresholds).filter(([, v]) => v !== null).map(([k, v]) => `${k}=${v}`).join(" ")],
      ["Baseline", m.predictionBaseline ? `${m.predictionBaseline} prediction scores` : "none yet (the first full window)"],
      ["Created", `${formatTime(m.createdAt, now)} by ${m.createdBy}`],
    ]),
  ];
  const w = m.latest;
  if (w) {
    sections.push(
      `Latest window (${formatTime(w.start, now)} – ${formatTime(w.end, now)}): ${w.status}, ${w.requests} requests, ${w.rowsKept} rows sampled of ${w.rowsSeen}\n` +
        renderTable(w.figures.features, [
          { header: "FEATURE", value: (f) => f.feature },
          { header: "KIND", value: (f) => f.kind },
          { header: "PSI", value: (f) => (f.psi === null ? undefined : formatNumber(f.psi)), align: "right" },
          { header: "KS", value: (f) => (f.ksStatistic === null ? undefined : formatNumber(f.ksStatistic)), align: "right" },
          { header: "CHI2 P", value: (f) => (f.chiSquarePValue === null ? undefined : f.chiSquarePValue.toExponential(2)), align: "right" },
          { header: "MISSING", value: (f) => pct(f.missingRate), align: "right" },
          { header: "OUT OF RANGE", value: (f) => pct(f.outOfRangeRate), align: "right" },
          { header: "DRIFTED", value: (f) => (f.drifted ? "yes" : "") },
        ]),
    );
    if (w.breaches.length) sections.push(`Breaches:\n${w.breaches.map((b) => `  ${b.signal}: ${b.message}`).join("\n")}\n`);
    if (w.figures.notes.length) sections.push(`Notes:\n${w.figures.notes.map((n) => `  ${n}`).join("\n")}\n`);
  }
  return sections.join("\n");
}

export function renderWindowTable(list: readonly MonitorWindow[], now: number): string {
  if (list.length === 0) return "no closed windows yet\n";
  return renderTable(list, [
    { header: "ENDED", value: (w) => formatAgo(w.end, now) },
    { header: "STATUS", value: (w) => w.status },
    { header: "REQUESTS", value: (w) => w.requests, align: "right" },
    { header: "ROWS", value: (w) => `${w.rowsKept}/${w.rowsSeen}`, align: "right" },
    { header: "ERRORS", value: (w) => pct(w.figures.errorRate), align: "right" },
    { header: "P99 MS", value: (w) => (w.figures.latencyP99Ms === null ? undefined : formatNumber(w.figures.latencyP99Ms)), align: "right" },
    { header: "PRED PSI", value: (w) => (w.figures.predictionPsi === null ? undefined : formatNumber(w.figures.predictionPsi)), align: "right" },
    { header: "DRIFTED", value: (w) => w.figures.driftedFeatures.join(",") || undefined },
    { header: "BREACHES", value: (w) => [...new Set(w.breaches.map((b) => b.signal))].join(",") || undefined },
  ]);
}

export function renderAlertTable(list: readonly Alert[], now: number): string {
  if (list.length === 0) return "no alerts\n";
  return renderTable(list, [
    { header: "ID", value: (a) => a.id },
    { header: "STATE", value: (a) => a.state },
    { header: "SEVERITY", value: (a) => a.severity },
    { header: "RULE", value: (a) => a.labels.alertname },
    { header: "SUMMARY", value: (a) => a.annotations.summary },
    { header: "STARTED", value: (a) => formatAgo(a.startedAt, now) },
    { header: "RESOLVED", value: (a) => (a.resolvedAt === null ? undefined : formatAgo(a.resolvedAt, now)) },
    { header: "PAUSED", value: (a) => a.pausedDeployment ?? undefined },
  ]);
}

function renderRuleTable(list: readonly AlertRule[]): string {
  if (list.length === 0) return "no alert rules; add one with `paved alerts rules add <name> -f rule.yaml`\n";
  return renderTable(list, [
    { header: "NAME", value: (r) => r.name },
    { header: "TEAM", value: (r) => r.team },
    { header: "SIGNAL", value: (r) => (r.spec as { signal: string }).signal },
    { header: "SEVERITY", value: (r) => (r.spec as { severity: string }).severity },
    { header: "PAUSES ROLLOUT", value: (r) => ((r.spec as { pauseRollout?: boolean }).pauseRollout ? "yes" : "") },
    { header: "RECEIVERS", value: (r) => (r.spec as { receivers?: string[] }).receivers?.join(",") || undefined },
  ]);
}

function renderReceiverTable(list: readonly AlertReceiver[]): string {
  if (list.length === 0) return "no receivers; add one with `paved alerts receivers add <name> <url>`\n";
  return renderTable(list, [
    { header: "NAME", value: (r) => r.name },
    { header: "TEAM", value: (r) => r.team },
    { header: "FORMAT", value: (r) => r.format },
    { header: "URL", value: (r) => r.url },
  ]);
}

/** `--since 7d` or an ISO time, as the audit log and adoption read them. */
function parseTimeBound(text: string) {
  const parsed = timeBoundSchema("7d or 2026-03-01T00:00:00Z").safeParse(text);
  if (!parsed.success) throw invalidInput(`--since '${text}' is neither a duration (7d, 12h, 30m) nor an ISO 8601 time`);
  return parsed.data;
}
