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
    .option(
      "--env <environment>",
      "environment, with its own endpoint: production answers /v2/models/<model>/infer, any other /environments/<env>/v2/models/<model>/infer; its alias moves to the version on success (production needs a passing evaluation)",
      "production",
    )
    .option("--strategy <strategy>", "canary (traffic shifted step by step, analysed, rolled back on a breach), ab (sticky split + significance test), shadow (copies of traffic, answers discarded) or replace", "canary")
    .option("--steps <percents>", "canary traffic steps, increasing, ending at 100", parseSteps, undefined)
    .option("--interval <duration>", "time per canary step, or between A/B and shadow analyses, e.g. 30s, 2m, 0.5s", parseInterval, undefined)
    .option("--max-psi <psi|off>", "canary: largest PSI of the canary's predictions against stable's (default 0.25; off disables)", parsePsi, undefined)
    .option("--split <percent>", "ab: percent of routing keys (header X-Paved-Route-Key) sent to the new version", parsePercent, undefined)
    .option("--metric <name>", "ab: the outcome compared: error_rate, latency_ms, or a metric you report with POST /api/v1/deployments/{id}/outcomes")
    .option("--kind <kind>", "ab: binary (0/1 outcomes) or continuous, for a reported metric")
    .option("--lower-is-better", "ab: a smaller value of the reported metric is better")
    .option("--alpha <level>", "ab: significance level (default 0.05)", Number, undefined)
    .option("--min-samples <n>", "ab: outcomes per variant before the test is judged (default 100)", Number, undefined)
    .option("--auto-conclude", "ab: promote B when significantly better, roll back when significantly worse")
    .option("--replicas <n>", "replicas per version to start with, and the fewest the autoscaler keeps (default 1; at most the server's serving.maxReplicasPerVersion)", parseReplicas, undefined)
    .option("--max-replicas <n>", "autoscale up to this many replicas per version from queue depth (and latency, with --target-p95; at most serving.maxReplicasPerVersion)", parseReplicas, undefined)
    .option("--target-p95 <ms>", "the autoscaler also adds replicas while p95 latency is above this and requests queue", Number, undefined)
    .option("--no-monitor", "do not watch the version with a monitor (by default one is created when the version has reference data from `paved evaluate`)")
    .option("--json", "print JSON")
    .description("Roll a model version out to an environment; follow it with `paved deployments status <id>`")
    .addHelpText(
      "after",
      "\nExamples:\n  $ paved deploy churn@3 --env production --strategy canary --steps 10,50,100 --interval 30s\n  $ paved deploy churn@4 --strategy ab --split 50 --metric converted --kind binary --min-samples 1000\n  $ paved deploy churn@5 --strategy shadow --interval 1m\n  $ paved deploy churn@6 --env staging --strategy replace   # served at /environments/staging/v2/models/churn\n\nEnvironments never share traffic or loaded versions: production keeps /v2/models/<model>/…, and\nstaging (or any other) answers only under /environments/<env>/v2/models/<model>/… .",
    )
    .action(async (ref: string, opts: DeployOptions) => {
      const at = ref.lastIndexOf("@");
      if (at <= 0 || at === ref.length - 1) throw invalidInput(`'${ref}' names no version; write <model>@<version|alias>, e.g. churn@3`);
      if (!STRATEGIES.includes(opts.strategy as Strategy)) throw invalidInput(`--strategy '${opts.strategy}' is unknown; use ${STRATEGIES.join(", ")}`);
      const abFlags = [opts.split, opts.metric, opts.kind, opts.lowerIsBetter, opts.alpha, opts.minSamples, opts.autoConclude].some((v) => v !== undefined);
      if (abFlags && opts.strategy !== "ab") throw invalidInput("--split, --metric, --kind, --lower-is-better, --alpha, --min-samples and --auto-conclude need --strategy ab");
      if (opts.kind !== undefined && opts.kind !== "binary" && opts.kind !== "continuous") throw invalidInput(`--kind '${opts.kind}' is unknown; use binary or continuous`);
      const target = ref.slice(at + 1);
      const ab = {
        ...(opts.split !== undefined ? { split: opts.split } : {}),
        ...(opts.metric !== undefined ? { metric: opts.metric } : {}),
        ...(opts.kind !== undefined ? { kind: opts.kind as "binary" | "continuous" } : {}),
        ...(opts.lowerIsBetter ? { higherIsBetter: false } : {}),
        ...(opts.alpha !== undefined ? { alpha: opts.alpha } : {}),
        ...(opts.minSamples !== undefined ? { minSamples: opts.minSamples } : {}),
        ...(opts.autoConclude ? { autoConclude: true } : {}),
      };
      const body: DeploymentRequest = {
        model: ref.slice(0, at),
        ...(/^\d+$/.test(target) ? { version: target } : { alias: target }),
        environment: opts.env,
        strategy: opts.strategy as Strategy,
        ...(opts.steps ? { steps: opts.steps } : {}),
        ...(opts.interval !== undefined ? { stepIntervalSeconds: opts.interval } : {}),
        ...(opts.maxPsi !== undefined ? { analysis: { maxPredictionPsi: opts.maxPsi === "off" ? null : opts.maxPsi } } : {}),
        ...(Object.keys(ab).length ? { ab } : {}),
        ...(opts.replicas !== undefined ? { replicas: opts.replicas } : {}),
        ...(opts.maxReplicas !== undefined ? { maxReplicas: opts.maxReplicas } : {}),
        ...(opts.targetP95 !== undefined ? { targetP95Ms: opts.targetP95 } : {}),
        ...(opts.monitor === false ? { monitor: false } : {}),
      };
      const deployment = await (await ctx.client()).createDeployment(body);
      if (opts.json) return ctx.json(deployment);
      ctx.out(
        `deployment ${deployment.id}: ${deployment.spec.model}@${deployment.spec.version} to ${deployment.spec.environment} (${deployment.spec.strategy}), endpoint ${deployment.endpoint}/infer\n${deployment.monitor ? `${deployment.monitor.note}\n` : ""}follow it with \`paved deployments status ${deployment.id}\`\n`,
      );
    });

  const deployments = program
    .command("deployments")
    .description("Deployments: list, status, pause, resume, promote, rollback")
    .addHelpText("after", "\nExamples:\n  $ paved deployments ls --model churn\n  $ paved deployments status deploy-3f2a9c41d0\n  $ paved deployments rollback deploy-3f2a9c41d0");
  deployments
    .command("ls")
    .option("--model <name>", "only this model's deployments")
    .option("--env <environment>", "only this environment's deployments")
    .option("--limit <n>", "at most this many (default 100, at most 1000)", parseLimit, undefined)
    .option("--json", "print JSON")
    .description("List deployments, newest first")
    .addHelpText("after", "\nExamples:\n  $ paved deployments ls --model churn\n  $ paved deployments ls --env staging")
    .action(async (opts: { model?: string; env?: string; limit?: number; json?: boolean }) => {
      const list = await (await ctx.client()).listDeployments({ ...(opts.model ? { model: opts.model } : {}), ...(opts.env ? { environment: opts.env } : {}), ...(opts.limit !== undefined ? { limit: opts.limit } : {}) });
      if (opts.json) return ctx.json({ deployments: list });
      const now = ctx.now();
      ctx.out(
        list.length === 0
          ? "no deployments; start one with `paved deploy <model>@<version>`\n"
          : renderTable(list, [
              { header: "ID", value: (d) => d.id },
              { header: "MODEL", value: (d) => `${d.spec.model}@${d.spec.version}` },
              { header: "ENV", value: (d) => d.spec.environment },
              { header: "STRATEGY", value: (d) => d.spec.strategy },
              { header: "PHASE", value: (d) => d.status.phase },
              { header: "NEW", value: (d) => (d.status.canaryVersion === null ? "-" : d.spec.strategy === "shadow" ? "shadow" : `${d.status.canaryWeight}%`) },
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
  deployments
    .command("promote")
    .argument("<id>", "deployment id")
    .option("--force", "promote even though the analysis is failing or missing (needs --reason; recorded with who and when)")
    .option("--reason <text>", "why the override is needed (recorded)")
    .option("--json", "print JSON")
    .description("Promote the new version now (canary: skipping the remaining steps; A/B: B wins; shadow: it takes the traffic), if its analysis passes")
    .addHelpText(
      "after",
      "\nA failing or missing analysis (see `paved deployments status <id>`) is refused (exit code 9, GATE_FAILED)\nunless --force comes with --reason; the override is recorded in the deployment's history.\n\nExamples:\n  $ paved deployments promote deploy-3f2a9c41d0\n  $ paved deployments promote deploy-3f2a9c41d0 --force --reason \"hotfix for INC-123, shadow errors are a logging bug\"",
    )
    .action(async (id: string, opts: { force?: boolean; reason?: string; json?: boolean }) => {
      if (opts.force && !opts.reason?.trim()) throw invalidInput('--force needs --reason "<why>" (it is recorded)');
      if (!opts.force && opts.reason !== undefined) throw invalidInput("--reason goes with --force; without --force a promote needs a passing analysis");
      const deployment = await (await ctx.client()).promoteDeployment(id, opts.force ? { force: true, reason: opts.reason! } : undefined);
      if (opts.json) return ctx.json(deployment);
      ctx.out(`deployment ${deployment.id}: ${opts.force ? "forced promote" : "promote"} requested (now ${deployment.status.phase}); follow it with \`paved deployments status ${deployment.id}\`\n`);
    });
  const actions = [
    ["pause", "Pause a rollout at its current traffic split"],
    ["resume", "Resume a paused rollout"],
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

const STRATEGIES = ["canary", "ab", "shadow", "replace"] as const;
type Strategy = (typeof STRATEGIES)[number];

interface DeployOptions {
  env: string;
  strategy: string;
  steps?: number[];
  interval?: number;
  maxPsi?: number | "off";
  split?: number;
  metric?: string;
  kind?: string;
  lowerIsBetter?: boolean;
  alpha?: number;
  minSamples?: number;
  autoConclude?: boolean;
  replicas?: number;
  maxReplicas?: number;
  targetP95?: number;
  /** false with --no-monitor. */
  monitor?: boolean;
  json?: boolean;
}

function parseLimit(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw invalidInput(`--limit '${value}' is not a count between 1 and 1000`);
  return n;
}

/** A replica count; the server refuses one above its serving.maxReplicasPerVersion and names it. */
function parseReplicas(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw invalidInput(`'${value}' is not a replica count; write a positive whole number, e.g. 2`);
  return n;
}

function parsePercent(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 99) throw invalidInput(`--split '${value}' is not a percent between 1 and 99; write e.g. 50`);
  return n;
}

/** A PSI limit, or "off" (commander cannot carry null through a parser). */
function parsePsi(value: string): number | "off" {
  if (value === "off") return "off";
  const n = Number(value);
  if (!(n > 0)) throw invalidInput(`--max-psi '${value}' is not a positive number or 'off'; write e.g. 0.25`);
  return n;
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

function describeStrategy(d: Deployment): string {
  const { spec } = d;
  if (spec.strategy === "canary") return `canary, steps ${spec.steps.join(",")}%, ${spec.stepIntervalSeconds}s each`;
  if (spec.strategy === "ab" && spec.ab) {
    return `A/B, ${spec.ab.split}% of routing keys to B, ${spec.ab.metric} (${spec.ab.kind}, ${spec.ab.higherIsBetter ? "higher" : "lower"} is better, alpha ${spec.ab.alpha}, ≥${spec.ab.minSamples} each${spec.ab.autoConclude ? ", concludes itself" : ""})`;
  }
  if (spec.strategy === "shadow") return `shadow, figures every ${spec.stepIntervalSeconds}s`;
  return spec.strategy;
}

const num = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(1) : x.toPrecision(3));

function abLines(d: Deployment): [string, string | undefined][] {
  const test = d.status.abTest;
  if (!test) return [];
  const r = test.result;
  return [
    ["Outcomes", `A (version ${test.versionA}): ${test.a.n}${r ? `, mean ${num(r.meanA)}` : ""}; B (version ${test.versionB}): ${test.b.n}${r ? `, mean ${num(r.meanB)}` : ""}`],
    [
      "Test",
      r
        ? `${r.test}: B - A = ${num(r.difference)} [${num(r.ciLow)}, ${num(r.ciHigh)}], always-valid p = ${(r.sequentialPValue ?? r.pValue).toPrecision(3)} (fixed-horizon ${r.pValue.toPrecision(3)}), ${r.winner ? `${r.winner} is better` : r.significant ? "significant, waiting for min samples" : "not significant yet"}`
        : "waiting for outcomes (2 per variant)",
    ],
  ];
}

function shadowLines(d: Deployment): [string, string | undefined][] {
  const s = d.status.shadow;
  if (!s) return [];
  return [
    ["Copies", `${s.requests} answered, ${(s.errorRate * 100).toFixed(1)}% errors${s.p99Ms !== null ? `, p99 ${s.p99Ms.toFixed(2)} ms` : ""}${s.stableP99Ms !== null ? ` (stable ${s.stableP99Ms.toFixed(2)} ms)` : ""}`],
    ["Predictions", `${s.predictionPsi !== null ? `PSI ${s.predictionPsi.toFixed(3)} vs stable` : "PSI: too few yet"}${s.meanAbsoluteDifference !== null ? `, mean |shadow - stable| ${num(s.meanAbsoluteDifference)}` : ""}`],
    ["Verdict", s.verdict],
  ];
}

function renderDeployment(d: Deployment, now: number): string {
  const head = renderFields([
    ["Deployment", d.id],
    ["Model", `${d.spec.model}@${d.spec.version}`],
    ["Environment", d.spec.environment],
    ["Endpoint", `${d.endpoint}/infer`],
    ["Strategy", describeStrategy(d)],
    ["Phase", d.status.phase + (d.paused && d.status.phase !== "Paused" ? " (pause requested)" : "") + (d.requested ? ` (${d.requested} requested)` : "")],
    ["Stable", d.status.stableVersion ?? "-"],
    ["Replicas", d.spec.scale ? (d.spec.scale.maxReplicas > d.spec.scale.replicas ? `${d.spec.scale.replicas}..${d.spec.scale.maxReplicas} per version (autoscaled${d.spec.scale.targetP95Ms !== null ? `, p95 target ${d.spec.scale.targetP95Ms} ms` : ""})` : `${d.spec.scale.replicas} per version`) : undefined],
    [d.spec.strategy === "shadow" ? "Shadow" : d.spec.strategy === "ab" ? "B" : "Canary", d.status.canaryVersion !== null ? `${d.status.canaryVersion}${d.spec.strategy === "shadow" ? "" : ` at ${d.status.canaryWeight}%`}` : undefined],
    ...abLines(d),
    ...shadowLines(d),
    ["Analysis", d.status.analysis && (d.status.phase === "Progressing" || d.status.phase === "Paused") ? `${d.status.analysis.verdict}: ${d.status.analysis.reason}` : undefined],
    ...d.overrides.map((o): [string, string] => ["Override", `${o.action} forced by ${o.user} ${formatTime(o.createdAt, now)} over a ${o.verdict} analysis (${o.verdictReason}): "${o.reason}"`]),
    ["Updated", formatTime(d.updatedAt, now)],
  ]);
  const history = renderTable(d.status.history, [
    { header: "TIME", value: (e) => formatTime(e.time, now) },
    { header: "EVENT", value: (e) => e.reason },
  ]);
  return `${head}\nHistory:\n${history}`;
}
