import type { Command } from "commander";
import type { QuotaLine, QuotaRequest, TeamQuota } from "../../client/index.ts";
import { invalidInput } from "../../core/index.ts";
import type { CliContext } from "../context.ts";
import { collect } from "../options.ts";
import { formatAgo, formatBytes, formatMiB, formatNumber } from "../render/format.ts";
import { renderTable } from "../render/table.ts";

/** `paved quotas ls|set`: what each team may hold at once and per month, and what uses it. */
export function registerQuotas(program: Command, ctx: CliContext): void {
  const quotas = program
    .command("quotas")
    .description("Team quotas: GPUs (by type), GPU-hours per month, CPUs, memory, serving replicas, artifact storage")
    .addHelpText(
      "after",
      `
Jobs over a quota wait (\`paved jobs describe\` says which quota and who uses it); deployments and
uploads over one are refused (exit code 7, QUOTA_EXCEEDED).

Examples:
  $ paved quotas ls
  $ paved quotas ls risk
  $ paved quotas set risk --gpus 2 --gpu-type H100=1 --gpu-hours 500 --storage 500Gi
  $ paved quotas set risk --cpus unlimited --memory default`,
    );

  quotas
    .command("ls")
    .argument("[team]", "one team (default: all of yours)")
    .description("Quotas of your teams: each limit, where it comes from, what is used and by what")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved quotas ls risk")
    .action(async (team: string | undefined, opts: { json?: boolean }) => {
      const client = await ctx.client();
      const views = team === undefined ? await client.listQuotas() : [await client.getQuota(team)];
      if (opts.json) return ctx.json(team === undefined ? { teams: views } : views[0]);
      ctx.out(views.map((v) => renderQuota(v, Date.now())).join("\n"));
    });

  quotas
    .command("set")
    .argument("<team>", "the team")
    .description("Change a team's quota (platform admins); a limit not named stays as it is")
    .option("--gpus <n>", "GPUs at once, all types together (a number, unlimited, or default)")
    .option("--gpu-type <type=n>", "GPUs at once of one type, matched in the GPU's name, e.g. H100=2 (repeatable; TYPE=default drops it)", collect)
    .option("--gpu-hours <n>", "GPU-hours per calendar month (UTC)")
    .option("--cpus <n>", "CPUs at once")
    .option("--memory <quantity>", "memory at once, e.g. 64Gi")
    .option("--serving-replicas <n>", "serving replicas at once, every environment together")
    .option("--storage <quantity>", "artifact storage, e.g. 500Gi or 2T")
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      "\nEach value is a number (a quantity for --memory and --storage), `unlimited`, or `default` (the server's\nguardrails.defaultQuota, unlimited when that is unset).\n\nExamples:\n  $ paved quotas set risk --gpus 2\n  $ paved quotas set risk --gpu-type H100=1 --gpu-type A10G=default\n  $ paved quotas set risk --storage 1Ti --serving-replicas 8",
    )
    .action(async (team: string, opts: QuotaFlags & { json?: boolean }) => {
      const client = await ctx.client();
      const current = await client.getQuota(team);
      const settings = applyQuotaFlags(current.settings as QuotaRequest, opts);
      const view = await client.setQuota(team, settings);
      if (opts.json) return ctx.json(view);
      ctx.out(renderQuota(view, Date.now()));
    });
}

export interface QuotaFlags {
  gpus?: string;
  gpuType?: string[];
  gpuHours?: string;
  cpus?: string;
  memory?: string;
  servingReplicas?: string;
  storage?: string;
}

/** The settings after the flags: a number or quantity sets a limit, `unlimited` sends null, `default` drops the field. */
export function applyQuotaFlags(current: QuotaRequest, flags: QuotaFlags): QuotaRequest {
  const out: Record<string, unknown> = { ...current };
  const set = (field: keyof QuotaRequest, flag: string, raw: string | undefined, quantity: boolean) => {
    if (raw === undefined) return;
    const value = raw.trim();
    if (value === "default") delete out[field];
    else if (value === "unlimited") out[field] = null;
    else if (quantity) out[field] = /^\d+(\.\d+)?$/.test(value) ? Number(value) : value;
    else {
      const n = Number(value);
      if (value === "" || !Number.isFinite(n) || n < 0) throw invalidInput(`${flag} takes a number, unlimited or default; got '${raw}'`);
      out[field] = n;
    }
  };
  set("gpus", "--gpus", flags.gpus, false);
  set("gpuHoursPerMonth", "--gpu-hours", flags.gpuHours, false);
  set("cpus", "--cpus", flags.cpus, false);
  set("memoryMiB", "--memory", flags.memory, true);
  set("servingReplicas", "--serving-replicas", flags.servingReplicas, false);
  set("storageBytes", "--storage", flags.storage, true);
  if (flags.gpuType?.length) {
    const types: Record<string, number> = { ...((out.gpusByType as Record<string, number> | null | undefined) ?? {}) };
    for (const entry of flags.gpuType) {
      const match = /^([^=]+)=(.+)$/.exec(entry.trim());
      const n = Number(match?.[2]);
      if (!match) throw invalidInput(`--gpu-type takes TYPE=N (or TYPE=default), e.g. H100=2; got '${entry}'`);
      if (match[2] === "default") delete types[match[1]!];
      else if (!Number.isInteger(n) || n < 0) throw invalidInput(`--gpu-type ${match[1]} takes a whole number of GPUs or default; got '${match[2]}'`);
      else types[match[1]!] = n;
    }
    out.gpusByType = types;
  }
  return out as QuotaRequest;
}

const RESOURCE_LABEL: Record<QuotaLine["resource"], string> = {
  gpus: "GPUs",
  gpuHoursPerMonth: "GPU-hours this month",
  cpus: "CPUs",
  memoryMiB: "memory",
  servingReplicas: "serving replicas",
  storageBytes: "artifact storage",
};

function amount(line: Pick<QuotaLine, "resource">, n: number): string {
  if (line.resource === "memoryMiB") return formatMiB(n);
  if (line.resource === "storageBytes") return formatBytes(n);
  if (line.resource === "gpuHoursPerMonth") return `${formatNumber(Math.round(n * 100) / 100)} h`;
  return formatNumber(n);
}

/** One team's quota as a table: each limit, where it comes from, what is used and by what. */
export function renderQuota(view: TeamQuota, now: number): string {
  const head = `Team ${view.team}${view.updatedBy ? ` (set by ${view.updatedBy} ${formatAgo(view.updatedAt, now)})` : " (no quota of its own)"}:\n`;
  return (
    head +
    renderTable(view.lines, [
      { header: "QUOTA", value: (l) => (l.gpuType ? `${l.gpuType} GPUs` : RESOURCE_LABEL[l.resource]) },
      { header: "LIMIT", value: (l) => (l.limit === null ? "unlimited" : amount(l, l.limit)), align: "right" },
      { header: "USED", value: (l) => amount(l, l.used), align: "right" },
      { header: "SOURCE", value: (l) => l.source },
      { header: "USED BY", value: (l) => l.by.map((h) => `${h.kind === "job" ? `${h.name} (${h.id})` : h.name}: ${amount(l, h.amount)}`).join(", ") },
    ])
  );
}
