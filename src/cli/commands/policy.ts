import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Command } from "commander";
import type { Policy } from "../../client/index.ts";
import { PlatformError, invalidInput, isPlatformError, notFound } from "../../core/index.ts";
import type { CliContext } from "../context.ts";
import { parseInteger } from "../options.ts";
import { formatAgo, formatMiB, formatNumber } from "../render/format.ts";
import { renderFields, renderTable } from "../render/table.ts";
import { loadSpecFile } from "../spec-file.ts";
import { defaultTeam } from "./train.ts";

/** `paved policy show|set|check`: the platform's and each team's policy, and checking a job against them. */
export function registerPolicy(program: Command, ctx: CliContext): void {
  const policy = program
    .command("policy")
    .description("Platform-wide and per-team policy (versioned YAML): allowed profiles, GPUs per job, runtime, who moves production, the gate")
    .addHelpText(
      "after",
      `
Examples:
  $ paved policy show --team risk
  $ paved policy set -f platform-policy.yaml          # platform admins
  $ paved policy set -f risk-policy.yaml --team risk  # risk's admins
  $ paved policy check job.yaml                       # before paved apply -f job.yaml`,
    );

  policy
    .command("show")
    .description("The policies in force: the platform's and a team's own (a job must satisfy both)")
    .option("--team <team>", "also this team's policy (default: $PAVED_TEAM)")
    .option("--history", "every version instead (of the team's policy with --team, else of the platform's)")
    .option("--limit <n>", "versions with --history", parseInteger("--limit", 1), 20)
    .option("--json", "print JSON")
    .addHelpText("after", "\nExamples:\n  $ paved policy show\n  $ paved policy show --team risk\n  $ paved policy show --team risk --history")
    .action(async (opts: { team?: string; history?: boolean; limit: number; json?: boolean }) => {
      const client = await ctx.client();
      const team = opts.team ?? defaultTeam(ctx);
      if (opts.history) {
        const versions = await client.policyHistory(opts.team, opts.limit);
        if (opts.json) return ctx.json({ versions });
        ctx.out(versions.length === 0 ? "no version was ever set\n" : renderHistory(versions, ctx.now()));
        return;
      }
      const effective = await client.getPolicies(team);
      if (opts.json) return ctx.json(effective);
      ctx.out(renderPolicy(effective.platform, ctx.now()));
      if (effective.teamPolicy) ctx.out("\n" + renderPolicy(effective.teamPolicy, ctx.now()));
    });

  policy
    .command("set")
    .description("Set the platform's policy (platform admins) or, with --team, a team's (its admins): a new version, every version kept")
    .requiredOption("-f, --file <file>", "the policy document (YAML); an empty file clears every rule")
    .option("--team <team>", "the team's policy instead of the platform's")
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      `
Example:
  $ cat risk-policy.yaml
  kind: Policy
  allowedProfiles: [cpu, gpu-1, gpu-2]
  maxGpusPerJob: 2
  maxRuntime: 12h
  productionMovers: [maintainer, user:ada]
  allowGateOverrides: false
  $ paved policy set -f risk-policy.yaml --team risk

Rules: allowedProfiles, maxGpusPerJob, maxRuntime, productionMovers, requiredGatePolicy,
allowGateOverrides (docs/teams.md#policies). A team's policy narrows the platform's.`,
    )
    .action(async (opts: { file: string; team?: string; json?: boolean }) => {
      const path = resolve(ctx.cwd, opts.file);
      const text = await readFile(path, "utf8").catch((error: NodeJS.ErrnoException) => {
        if (error.code === "ENOENT") throw notFound(`policy file '${opts.file}' does not exist; check the path given to -f`);
        throw invalidInput(`cannot read policy file '${opts.file}': ${error.message}`);
      });
      const set = await (await ctx.client()).setPolicy(opts.team, text);
      if (opts.json) return ctx.json(set);
      ctx.out(`${scopeName(set.scope)} is now version ${set.version}\n`);
    });

  policy
    .command("check")
    .argument("<file>", "a job spec file, as `paved apply` takes it")
    .description("Check a job spec as submitting it would (team, resources, policies, budget), without submitting it")
    .option("--team <team>", "team of the documents that name none (default: $PAVED_TEAM, else your token's team)")
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      `
Examples:
  $ paved policy check job.yaml && paved apply -f job.yaml
  $ paved policy check job.yaml --team risk

Exit code 0 when every job in the file would be admitted; otherwise the code submitting would give
(6 refused by a policy rule, 7 over a budget, 2 invalid input), with the rule that was broken.`,
    )
    .action(async (file: string, opts: { team?: string; json?: boolean }) => {
      const documents = await loadSpecFile(file, ctx.cwd);
      const client = await ctx.client();
      const results = [];
      for (const document of documents) {
        if (opts.team && document.spec.team && document.spec.team !== opts.team) {
          throw invalidInput(`${document.where}: names team '${document.spec.team}' but --team is '${opts.team}'; drop one of them`);
        }
        const team = document.spec.team ?? opts.team ?? defaultTeam(ctx);
        const spec = team ? { ...document.spec, team } : document.spec;
        const checked = await client.checkJob(spec).catch((error: unknown) => {
          if (isPlatformError(error) && error.code === "INVALID_INPUT") throw new PlatformError(error.code, `${document.where}: ${error.message}`, error.details);
          throw error;
        });
        results.push({ name: spec.name, ...checked });
        if (!opts.json) {
          const r = checked.request;
          const what = `${r.profile ? `profile ${r.profile}: ` : ""}${r.gpus ? `${r.gpus} GPU${r.gpus === 1 ? "" : "s"}, ` : ""}${formatNumber(r.cpus)} CPUs, ${formatMiB(r.memoryMiB)}`;
          ctx.out(`job '${spec.name}' would be admitted in team ${checked.team} (${what}; ${formatNumber(checked.hourlyCost)} ${checked.currency} an hour)\n`);
        }
      }
      if (opts.json) ctx.json(results.length === 1 ? results[0] : { jobs: results });
    });
}

function scopeName(scope: string): string {
  return scope === "platform" ? "the platform policy" : `team ${scope.slice("team:".length)}'s policy`;
}

function renderPolicy(p: Policy, now: number): string {
  const title = `${scopeName(p.scope)}: ${p.version === 0 ? "none set" : `version ${p.version}, set by ${p.createdBy} ${formatAgo(p.createdAt, now)}`}\n`;
  const r = p.rules;
  const rows: [string, string | number | undefined][] = [
    ["allowedProfiles", r.allowedProfiles?.join(", ")],
    ["maxGpusPerJob", r.maxGpusPerJob],
    ["maxRuntime", r.maxRuntimeSeconds === undefined ? undefined : `${formatNumber(r.maxRuntimeSeconds / 3600)}h`],
    ["productionMovers", r.productionMovers?.join(", ")],
    ["requiredGatePolicy", r.requiredGatePolicy?.version],
    ["allowGateOverrides", r.allowGateOverrides === undefined ? undefined : String(r.allowGateOverrides)],
  ];
  const set = rows.filter(([, v]) => v !== undefined);
  return title + (set.length ? renderFields(set.map(([k, v]) => [`  ${k}`, v] as const)) : "  (no rules)\n");
}

function renderHistory(versions: Policy[], now: number): string {
  return renderTable(versions, [
    { header: "VERSION", value: (v) => v.version },
    { header: "SET BY", value: (v) => v.createdBy },
    { header: "WHEN", value: (v) => formatAgo(v.createdAt, now) },
    { header: "RULES", value: (v) => Object.keys(v.rules).join(", ") || "(none)" },
  ]);
}
