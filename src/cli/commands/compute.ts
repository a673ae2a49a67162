import type { Command } from "commander";
import type { CliContext } from "../context.ts";
import { formatMiB, formatNumber } from "../render/format.ts";
import { renderFields, renderTable } from "../render/table.ts";
import type { ComputeResources, TeamQuota } from "../../client/index.ts";
import { renderQuota } from "./quotas.ts";

export function registerCompute(program: Command, ctx: CliContext): void {
  const profiles = program
    .command("profiles")
    .description("Compute profiles: named bundles of GPUs, CPUs and memory for jobs")
    .addHelpText("after", "\nExample:\n  $ paved profiles ls");

  profiles
    .command("ls")
    .description("List compute profiles")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved profiles ls\n  $ paved train --name demo --profile gpu-1 -- python3 train.py")
    .action(async (opts: { json?: boolean }) => {
      const list = await (await ctx.client()).listProfiles();
      if (opts.json) return ctx.json({ profiles: list });
      ctx.out(
        renderTable(list, [
          { header: "NAME", value: (p) => p.name },
          { header: "GPUS", value: (p) => p.gpus, align: "right" },
          { header: "GPU TYPE", value: (p) => p.gpuType },
          { header: "CPUS", value: (p) => p.cpus, align: "right" },
          { header: "MEMORY", value: (p) => formatMiB(p.memoryMiB), align: "right" },
          { header: "COST/H", value: (p) => (p.hourlyCost === null || p.hourlyCost === undefined ? undefined : formatNumber(p.hourlyCost)), align: "right" },
          { header: "DESCRIPTION", value: (p) => p.description },
        ]),
      );
    });

  program
    .command("resources")
    .description("What the machine (and each cluster backend) has and holds (GPUs, CPUs, memory), and what your teams use of their quotas")
    .option("--json", "print JSON")
    .addHelpText("after", "\nA job of a team you are not in shows as `another team`.\n\nExample:\n  $ paved resources")
    .action(async (opts: { json?: boolean }) => {
      const client = await ctx.client();
      const [machine, quotas] = await Promise.all([client.computeResources(), client.listQuotas()]);
      if (opts.json) return ctx.json({ ...machine, quotas });
      ctx.out(renderResources(machine, quotas, Date.now()));
    });
}

/** The machine (totals, free, who holds each GPU), then each of your teams' quotas with what uses them. */
export function renderResources(machine: ComputeResources, quotas: TeamQuota[], now: number): string {
  const { total, free } = machine;
  const head = renderFields([
    ["GPUs", `${free.gpus} of ${total.gpus} free`],
    ["CPUs", `${formatNumber(free.cpus)} of ${formatNumber(total.cpus)} free`],
    ["Memory", `${formatMiB(free.memoryMiB)} of ${formatMiB(total.memoryMiB)} free`],
  ]);
  const gpus = machine.gpus.length
    ? "\n" +
      renderTable(machine.gpus, [
        { header: "GPU", value: (g) => g.index, align: "right" },
        { header: "NAME", value: (g) => g.name },
        { header: "MEMORY", value: (g) => formatMiB(g.memoryMiB), align: "right" },
        { header: "HELD BY", value: (g) => (g.heldBy ? (g.heldBy.jobId === null ? g.heldBy.name : `${g.heldBy.name} (${g.heldBy.jobId}${g.heldBy.team ? `, team ${g.heldBy.team}` : ""})`) : undefined) },
      ])
    : "";
  // With a cluster configured: each backend's capacity and what Paved's jobs use of it.
  const backends =
    (machine.backends?.length ?? 0) > 1
      ? "\n" +
        renderTable(machine.backends!, [
          { header: "BACKEND", value: (b) => b.name },
          { header: "GPUS FREE", value: (b) => (b.available ? `${b.free.gpus} of ${b.total.gpus}` : undefined), align: "right" },
          { header: "CPUS FREE", value: (b) => (b.available ? `${formatNumber(b.free.cpus)} of ${formatNumber(b.total.cpus)}` : undefined), align: "right" },
          { header: "MEMORY FREE", value: (b) => (b.available ? `${formatMiB(b.free.memoryMiB)} of ${formatMiB(b.total.memoryMiB)}` : undefined), align: "right" },
          { header: "JOBS", value: (b) => b.jobs, align: "right" },
          { header: "GPU TYPES", value: (b) => b.gpuTypes.join(",") || undefined },
          { header: "PARTITIONS", value: (b) => b.partitions.join(",") || undefined },
          { header: "STATUS", value: (b) => (b.available ? "up" : `unavailable: ${b.reason ?? ""}`) },
        ])
      : "";
  const teams = quotas.map((q) => "\n" + renderQuota(q, now)).join("");
  return head + gpus + backends + teams;
}

/**
 * Renders a JSON object whose shape this CLI does not fix: scalars as fields, lists of objects
 * as tables, nested objects as indented sections.
 */
export function renderGeneric(value: Record<string, unknown>, title?: string): string {
  const scalars: [string, string][] = [];
  const sections: string[] = [];
  for (const [key, v] of Object.entries(value)) {
    if (Array.isArray(v) && v.length > 0 && v.every((x) => x && typeof x === "object" && !Array.isArray(x))) {
      const rows = v as Record<string, unknown>[];
      const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
      sections.push(`${label(key)}:\n` + renderTable(rows, keys.map((k) => ({ header: label(k).toUpperCase(), value: (r: Record<string, unknown>) => scalar(r[k], k) }))));
    } else if (v && typeof v === "object" && !Array.isArray(v)) {
      sections.push(renderGeneric(v as Record<string, unknown>, label(key)));
    } else {
      scalars.push([label(key), scalar(v, key)]);
    }
  }
  const head = title ? `${title}:\n` : "";
  const body = [scalars.length ? renderFields(scalars) : "", ...sections].filter(Boolean).join("\n");
  return head + (title ? indent(body) : body);
}

function scalar(v: unknown, key = ""): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return key.endsWith("MiB") ? formatMiB(v) : formatNumber(v);
  if (Array.isArray(v)) return v.map((x) => scalar(x)).join(",");
  if (typeof v === "object") {
    return Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== null && x !== undefined)
      .map(([k, x]) => `${label(k)}=${scalar(x, k)}`)
      .join(" ");
  }
  return String(v);
}

/** "memoryMiB" → "memory", "heldBy" → "held by" (units are shown with the values). */
function label(key: string): string {
  return key
    .replace(/MiB$/, "")
    .replace(/([a-z])([A-Z])/g, "$1 $2")
    .toLowerCase();
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((l) => (l ? `  ${l}` : l))
    .join("\n");
}
