import type { Command } from "commander";
import type { Deployment, DeploymentRequest } from "../../client/index.ts";
import { invalidInput } from "../../core/index.ts";
import type { CliContext } from "../context.ts";
import { formatTime } from "../render/format.ts";
import { renderFields, renderTable } from "../render/table.ts";

/** `paved deploy <model>@<version|alias>` and `paved deployments …`. */
export function registerDeploy(program: Command, ctx: CliContext): void {
  program
    .command("deploy")
    .argument("<model@version>", "a version by number or alias, e.g. churn@3 or churn@staging")
    .option("--env <environment>", "environment; its alias moves to the version on success (production needs a passing evaluation)", "production")
    .option("--strategy <strategy>", "canary (traffic shifted step by step, analysed, rolled back on a breach) or replace", "canary")
    .option("--steps <percents>", "canary traffic steps, increasing, ending at 100", parseSteps, undefined)
    .option("--interval <duration>", "time per step, e.g. 30s, 2m, 0.5s", parseInterval, undefined)
    .option("--json", "print JSON")
    .description("Roll a model version out to an environment; follow it with `paved deployments status <id>`")
    .addHelpText("after", "\nExample:\n  $ paved deploy churn@3 --env production --strategy canary --steps 10,50,100 --interval 30s")
    .action(async (ref: string, opts: { env: string; strategy: string; steps?: number[]; interval?: number; json?: boolean }) => {
      const at = ref.lastIndexOf("@");
      if (at <= 0 || at === ref.length - 1) throw invalidInput(`'${ref}' names no version; write <model>@<version|alias>, e.g. churn@3`);
      if (opts.strategy !== "canary" && opts.strategy !== "replace") throw invalidInput(`--strategy '${opts.strategy}' is unknown; use canary or replace`);
      const target = ref.slice(at + 1);
      const body: DeploymentRequest = {
        model: ref.slice(0, at),
        ...(/^\d+$/.test(target) ? { version: target } : { alias: target }),
        environment: opts.env,
        strategy: opts.strategy,
        ...(opts.steps ? { steps: opts.steps } : {}),
        ...(opts.interval !== undefined ? { stepIntervalSeconds: opts.interval } : {}),
      };
      const deployment = await (await ctx.client()).createDeployment(body);
      if (opts.json) return ctx.json(deployment);
      ctx.out(`deployment ${deployment.id}: ${deployment.spec.model}@${deployment.spec.version} to ${deployment.spec.environment} (${deployment.spec.strategy})\nfollow it with \`paved deployments status ${deployment.id}\`\n`);
    });

  const deployments = program
    .command("deployments")
    .description("Deployments: list, status, pause, resume, promote, rollback")
    .addHelpText("after", "\nExamples:\n  $ paved deployments ls --model churn\n  $ paved deployments status deploy-3f2a9c41d0\n  $ paved deployments rollback deploy-3f2a9c41d0");
  deployments
    .command("ls")
    .option("--model <name>", "only this model's deployments")
    .option("--json", "print JSON")
    .description("List deployments, newest first")
    .addHelpText("after", "\nExample:\n  $ paved deployments ls --model churn")
    .action(async (opts: { model?: string; json?: boolean }) => {
      const list = await (await ctx.client()).listDeployments(opts.model ? { model: opts.model } : {});
      if (opts.json) return ctx.json({ deployments: list });
      const now = ctx.now();
      ctx.out(
        list.length === 0
          ? "no deployments; start one with `paved deploy <model>@<version>`\n"
          : renderTable(list, [
              { header: "ID", value: (d) => d.id },
              { header: "MODEL", value: (d) => `${d.spec.model}@${d.spec.version}` },
              { header: "ENV", value: (d) => d.spec.environment },
              { header: "PHASE", value: (d) => d.status.phase },
              { header: "CANARY", value: (d) => `${d.status.canaryWeight}%` },
              { header: "STABLE", value: (d) => d.status.stableVersion ?? "-" },
              { header: "UPDATED", value: (d) => formatTime(d.updatedAt, now) },
            ]),
      );
    });
  deployments
    .command("status")
    .argument("<id>", "deployment id")
    .option("--json", "print JSON")
    .description("Show a deployment's spec, status and history")
    .addHelpText("after", "\nExample:\n  $ paved deployments status deploy-3f2a9c41d0")
    .action(async (id: string, opts: { json?: boolean }) => {
      const deployment = await (await ctx.client()).getDeployment(id);
      if (opts.json) return ctx.json(deployment);
      ctx.out(renderDeployment(deployment, ctx.now()));
    });
  const actions = [
    ["pause", "Pause a rollout at its current traffic split"],
    ["resume", "Resume a paused rollout"],
    ["promote", "Promote the canary now, skipping the remaining steps"],
    ["rollback", "Roll back now: all traffic to stable, canary unloaded"],
  ] as const;
  for (const [action, description] of actions) {
    deployments
      .command(action)
      .argument("<id>", "deployment id")
      .option("--json", "print JSON")
      .description(description)
      .addHelpText("after", `\nExample:\n  $ paved deployments ${action} deploy-3f2a9c41d0`)
      .action(async (id: string, opts: { json?: boolean }) => {
        const deployment = await (await ctx.client()).deploymentAction(id, action);
        if (opts.json) return ctx.json(deployment);
        ctx.out(`deployment ${deployment.id}: ${action} requested (now ${deployment.status.phase}); follow it with \`paved deployments status ${deployment.id}\`\n`);
      });
  }
}

function parseSteps(value: string): number[] {
  const steps = value.split(",").map((s) => Number(s.trim()));
  if (!steps.length || steps.some((s) => !Number.isInteger(s) || s < 1 || s > 100)) throw invalidInput(`--steps '${value}' is not a list of percents; write e.g. 10,50,100`);
  return steps;
}

function parseInterval(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!match) throw invalidInput(`--interval '${value}' is not a duration; write e.g. 30s, 2m or 0.5s`);
  const factor = { ms: 0.001, s: 1, m: 60, h: 3600 }[(match[2] ?? "s") as "ms" | "s" | "m" | "h"];
  return Number(match[1]) * factor;
}

function renderDeployment(d: Deployment, now: number): string {
  const head = renderFields([
    ["Deployment", d.id],
    ["Model", `${d.spec.model}@${d.spec.version}`],
    ["Environment", d.spec.environment],
    ["Strategy", d.spec.strategy === "canary" ? `canary, steps ${d.spec.steps.join(",")}%, ${d.spec.stepIntervalSeconds}s each` : "replace"],
    ["Phase", d.status.phase + (d.paused && d.status.phase !== "Paused" ? " (pause requested)" : "") + (d.requested ? ` (${d.requested} requested)` : "")],
    ["Stable", d.status.stableVersion ?? "-"],
    ["Canary", d.status.canaryVersion !== null ? `${d.status.canaryVersion} at ${d.status.canaryWeight}%` : undefined],
    ["Updated", formatTime(d.updatedAt, now)],
  ]);
  const history = renderTable(d.status.history, [
    { header: "TIME", value: (e) => formatTime(e.time, now) },
    { header: "EVENT", value: (e) => e.reason },
  ]);
  return `${head}\nHistory:\n${history}`;
}
