import { readFile, stat } from "node:fs/promises";
import { resolve } from "node:path";
import type { Command } from "commander";
import { FINISHED_EVALUATION_PHASES, type Evaluation, type PavedClient } from "../../client/index.ts";
import { invalidInput, PlatformError } from "../../core/index.ts";
import type { CliContext } from "../context.ts";
import { collect, parseInteger } from "../options.ts";
import { formatTime } from "../render/format.ts";
import { renderFields, renderTable } from "../render/table.ts";

const POLL_MS = 1000;
/** A platform URI (runs:/…, models:/…, uploads:/…) rather than a local file. */
const URI = /^[a-z][a-z0-9+.-]*:/i;

/** `paved evaluate <model>@<version>` and `paved evaluations …` (results and gate policies). */
export function registerEvaluate(program: Command, ctx: CliContext): void {
  program
    .command("evaluate")
    .argument("<model@version>", "a version by number or alias, e.g. churn@3")
    .requiredOption("--data <csv|uri>", "evaluation CSV: a local file (uploaded first) or a runs:/<run_id>/<path>, models:/<name>/<version>/<path> or uploads:/<sha256> URI; the model's features (matched by name), the label, optional sensitive columns")
    .option("--label <column>", "label column", "label")
    .option("--sensitive <column>", "a sensitive column (not fed to the model; used by bias checks); repeatable", collect)
    .option("--reference <csv|uri>", "training CSV for drift, as for --data (default: the version's lineage dataset when it names a run artifact)")
    .option("--no-wait", "return once the server has accepted the evaluation (Pending); see it with `paved evaluations show <id>`")
    .option("--json", "print JSON")
    .description("Evaluate a model version against its gate policy: waits for the result and exits non-zero when a check fails")
    .addHelpText(
      "after",
      "\nExamples:\n  $ paved evaluate churn@3 --data eval.csv --reference train.csv --sensitive gender\n  $ paved evaluate churn@3 --data runs:/3f2a9c41/outputs/eval.csv --no-wait",
    )
    .action(async (ref: string, opts: { data: string; label: string; sensitive?: string[]; reference?: string; wait: boolean; json?: boolean }) => {
      const at = ref.lastIndexOf("@");
      if (at <= 0 || at === ref.length - 1) throw invalidInput(`'${ref}' names no version; write <model>@<version>, e.g. churn@3`);
      const client = await ctx.client();
      const model = ref.slice(0, at);
      const data = await dataUri(ctx, client, opts.data, "--data", model);
      const reference = opts.reference ? await dataUri(ctx, client, opts.reference, "--reference", model) : undefined;
      const accepted = await client.evaluateModelVersion(model, ref.slice(at + 1), {
        data,
        label: opts.label,
        sensitive: opts.sensitive ?? [],
        ...(reference ? { reference } : {}),
      });
      if (!opts.wait) {
        if (opts.json) return ctx.json(accepted);
        return ctx.out(`evaluation ${accepted.id} of ${accepted.model}@${accepted.version}: ${accepted.phase}\nsee it with \`paved evaluations show ${accepted.id}\`\n`);
      }
      const evaluation = await waitForEvaluation(ctx, client, accepted);
      if (opts.json) ctx.json(evaluation);
      else ctx.out(renderEvaluation(evaluation, ctx.now()));
      if (evaluation.phase === "Error") throw invalidInput(`evaluation ${evaluation.id} could not run: ${evaluation.message ?? "no reason recorded"}`);
      if (!evaluation.passed) throw new PlatformError("GATE_FAILED", `evaluation ${evaluation.id} failed; see the hints above`);
    });

  const evaluations = program
    .command("evaluations")
    .description("Stored evaluations and gate policies")
    .addHelpText("after", "\nExamples:\n  $ paved evaluations ls --model churn\n  $ paved evaluations show eval-3f2a9c41d0\n  $ paved evaluations policy set churn -f gate-policy.yaml");
  evaluations
    .command("show")
    .argument("<id>", "evaluation id")
    .option("--json", "print JSON")
    .description("Show one evaluation's phase, and once finished its checks with figures, thresholds and fix hints")
    .addHelpText("after", "\nExample:\n  $ paved evaluations show eval-3f2a9c41d0")
    .action(async (id: string, opts: { json?: boolean }) => {
      const evaluation = await (await ctx.client()).getEvaluation(id);
      if (opts.json) return ctx.json(evaluation);
      ctx.out(renderEvaluation(evaluation, ctx.now()));
    });
  evaluations
    .command("ls")
    .option("--model <name>", "only this model's evaluations")
    .option("--version <n>", "only this version (with --model)")
    .option("--limit <n>", "at most this many evaluations (one page; default 100)", parseInteger("--limit", 1))
    .option("--page-token <token>", "the page after the one that printed this token")
    .option("--json", "print JSON")
    .description("List evaluations, newest first")
    .addHelpText("after", "\nExamples:\n  $ paved evaluations ls --model churn\n  $ paved evaluations ls --limit 20")
    .action(async (opts: { model?: string; version?: string; limit?: number; pageToken?: string; json?: boolean }) => {
      const page = await (await ctx.client()).listEvaluationsPage({
        ...(opts.model ? { model: opts.model } : {}),
        ...(opts.version ? { version: opts.version } : {}),
        ...(opts.limit ? { limit: opts.limit } : {}),
        ...(opts.pageToken ? { pageToken: opts.pageToken } : {}),
      });
      if (opts.json) return ctx.json(page);
      const list = page.evaluations;
      const now = ctx.now();
      ctx.out(
        list.length === 0
          ? "no evaluations; run one with `paved evaluate <model>@<version> --data <csv>`\n"
          : renderTable(list, [
              { header: "ID", value: (e) => e.id },
              { header: "MODEL", value: (e) => `${e.model}@${e.version}` },
              { header: "PHASE", value: (e) => e.phase },
              { header: "FAILED", value: (e) => e.checks.filter((c) => !c.passed).map((c) => c.name).join(" ") },
              { header: "POLICY", value: (e) => e.policyVersion },
              { header: "FINISHED", value: (e) => (e.finishedAt !== null ? formatTime(e.finishedAt, now) : "-") },
            ]),
      );
      if (page.nextPageToken) ctx.note(`more evaluations: add --page-token ${page.nextPageToken}`);
    });
  const policy = evaluations
    .command("policy")
    .description("A model's gate policy")
    .addHelpText("after", "\nExamples:\n  $ paved evaluations policy show churn\n  $ paved evaluations policy set churn -f gate-policy.yaml");
  policy
    .command("show")
    .argument("<model>", "registered model name")
    .option("--json", "print JSON")
    .description("Show the model's gate policy (its own or the default) and its version")
    .addHelpText("after", "\nExample:\n  $ paved evaluations policy show churn")
    .action(async (model: string, opts: { json?: boolean }) => {
      const view = await (await ctx.client()).getGatePolicy(model);
      if (opts.json) return ctx.json(view);
      ctx.out(`${view.model}: policy ${view.version} (${view.source})\n${view.policy.checks.map((c) => `  - ${JSON.stringify(c)}`).join("\n")}\n`);
    });
  policy
    .command("set")
    .argument("<model>", "registered model name")
    .requiredOption("-f, --file <policy.yaml>", "the policy as YAML or JSON")
    .description("Store the model's own gate policy (evaluations under other policies stop counting; the change is recorded)")
    .addHelpText("after", "\nExample:\n  $ paved evaluations policy set churn -f gate-policy.yaml")
    .action(async (model: string, opts: { file: string }) => {
      const view = await (await ctx.client()).putGatePolicy(model, await readFile(resolve(ctx.cwd, opts.file), "utf8"));
      ctx.out(`${view.model}: policy ${view.version} stored\n`);
    });
  policy
    .command("history")
    .argument("<model>", "registered model name")
    .option("--limit <n>", "at most this many changes", parseInteger("--limit", 1))
    .option("--json", "print JSON")
    .description("Every change of the model's gate policy: who, when, and the policy before and after (newest first)")
    .addHelpText("after", "\nExample:\n  $ paved evaluations policy history churn")
    .action(async (model: string, opts: { limit?: number; json?: boolean }) => {
      const changes = await (await ctx.client()).getGatePolicyHistory(model, opts.limit ? { limit: opts.limit } : {});
      if (opts.json) return ctx.json({ changes });
      const now = ctx.now();
      ctx.out(
        changes.length === 0
          ? `no recorded changes: '${model}' uses the built-in default policy; store its own with \`paved evaluations policy set ${model} -f <policy.yaml>\`\n`
          : renderTable(changes, [
              { header: "WHEN", value: (c) => formatTime(c.createdAt, now) },
              { header: "USER", value: (c) => c.user },
              { header: "POLICY", value: (c) => c.version },
              { header: "REPLACED", value: (c) => (c.previous ? `${c.previous.version} (${c.previous.source})` : "(not recorded)") },
              { header: "CHECKS", value: (c) => c.policy.checks.map((check) => check.type).join(",") },
            ]),
      );
    });
}

/**
 * The URI the server reads evaluation data from: a platform URI as given, or a local file
 * uploaded first, for the model's team (the server never reads a path of its own disk).
 */
async function dataUri(ctx: CliContext, client: PavedClient, value: string, flag: string, model: string): Promise<string> {
  if (URI.test(value)) return value;
  const path = resolve(ctx.cwd, value);
  let bytes: Buffer;
  try {
    if (!(await stat(path)).isFile()) throw new Error("not a file");
    bytes = await readFile(path);
  } catch {
    throw invalidInput(`${flag} '${value}' is not a readable file on this machine; give a local CSV (it is uploaded) or a runs:/<run_id>/<path> URI`);
  }
  const upload = await client.uploadEvaluationData(new Uint8Array(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength), { model });
  ctx.note(`uploaded ${value} (${bytes.byteLength} bytes) as ${upload.uri}`);
  return upload.uri;
}

/** Polls an evaluation until the server's runner has finished it, noting each phase on stderr. */
async function waitForEvaluation(ctx: CliContext, client: PavedClient, accepted: Evaluation): Promise<Evaluation> {
  let evaluation = accepted;
  let noted = "";
  while (!FINISHED_EVALUATION_PHASES.has(evaluation.phase)) {
    if (evaluation.phase !== noted) {
      noted = evaluation.phase;
      ctx.note(`evaluation ${evaluation.id} ${evaluation.phase.toLowerCase()}${noted === "Pending" ? " (the server runs evaluations one at a time)" : ""}; Ctrl-C stops waiting, the evaluation goes on`);
    }
    await ctx.sleep(POLL_MS);
    evaluation = await client.getEvaluation(evaluation.id);
  }
  return evaluation;
}

function renderEvaluation(e: Evaluation, now: number): string {
  const finished = FINISHED_EVALUATION_PHASES.has(e.phase);
  const head = renderFields([
    ["Evaluation", e.id],
    ["Model", `${e.model}@${e.version}`],
    ["Phase", e.phase],
    ...(e.phase === "Passed" || e.phase === "Failed" ? [["Result", e.passed ? "passed" : "FAILED"] as const] : []),
    ...(e.message ? [["Error", e.message] as const] : []),
    ["Policy", e.policyVersion],
    ["Data", e.dataDigest ? `${e.dataPath} (${e.dataDigest.slice(0, 19)})` : e.dataPath],
    ["Reference", e.referencePath ? `${e.referencePath}${e.referenceOrigin ? ` (${e.referenceOrigin})` : ""}` : (e.referenceNote ?? undefined)],
    ["Features", e.features ? `${e.features.names.length}, matched by ${e.features.matchedBy} (${e.features.from})` : undefined],
    ["Created", formatTime(e.createdAt, now)],
    ...(e.finishedAt !== null ? [["Finished", formatTime(e.finishedAt, now)] as const] : []),
  ]);
  if (!finished) return `${head}\nchecks appear when it finishes; see it again with \`paved evaluations show ${e.id}\`\n`;
  if (!e.checks.length) return head;
  const text = (record: Record<string, unknown>) =>
    Object.entries(record)
      .filter(([, v]) => v !== null)
      .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(",") : String(v)}`)
      .join(" ");
  const table = renderTable(e.checks, [
    { header: "CHECK", value: (c) => c.name },
    { header: "RESULT", value: (c) => (c.passed ? "pass" : "FAIL") },
    { header: "FIGURES", value: (c) => text(c.figures) },
    { header: "THRESHOLDS", value: (c) => text(c.thresholds) },
  ]);
  const hints = e.checks.filter((c) => c.hint).map((c) => `  ${c.name}: ${c.hint}`);
  return `${head}\n${table}${hints.length ? `\nTo fix:\n${hints.join("\n")}\n` : ""}`;
}
