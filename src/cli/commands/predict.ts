import type { Command } from "commander";
import type { PavedClient, Prediction } from "../../client/index.ts";
import { PlatformError, invalidInput } from "../../core/index.ts";
import type { CliContext } from "../context.ts";
import { parseInteger } from "../options.ts";
import { formatAgo, formatNumber } from "../render/format.ts";
import { renderFields, renderTable } from "../render/table.ts";

const ENDED = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);

/** `paved predict` and `paved predictions ls|show|cancel`: batch inference over dataset versions. */
export function registerPredict(program: Command, ctx: CliContext): void {
  program
    .command("predict")
    .argument("<model@version>", "the model version to run, e.g. churn@3 or churn@production")
    .requiredOption("--data <ref>", "the input dataset version: datasets:/<name>@<version|alias>, or datasets:/<name>@<v>/<file> for one file")
    .option("--output <dataset>", "the dataset the predictions go to (a new version of it; created if new); default <input>-predictions")
    .option("--features <names>", "the model's feature columns in its input order, comma-separated (default: the model_card.features tag, else every column in file order)")
    .option("--keep <columns>", "input columns written beside the predictions: other (those the model does not read: ids, labels), all, or a comma-separated list", "other")
    .option("--no-wait", "return once the server has queued it; follow it with `paved predictions show <id>`")
    .option("--json", "print JSON")
    .description("Run a model version over every row of a dataset version (batch inference); the output is a new dataset version with lineage to both. Waits, printing progress, and prints rows/s")
    .addHelpText("after", "\nSee docs/batch-inference.md.\n\nExamples:\n  $ paved predict churn@3 --data datasets:/customers@2\n  $ paved predict churn@production --data datasets:/customers@latest --output churn-scores --keep customer_id --no-wait")
    .action(async (ref: string, opts: { data: string; output?: string; features?: string; keep: string; wait: boolean; json?: boolean }) => {
      const at = ref.lastIndexOf("@");
      if (at <= 0 || at === ref.length - 1) throw invalidInput(`'${ref}' names no version; write <model>@<version>, e.g. churn@3`);
      const list = (text: string) => text.split(",").map((s) => s.trim()).filter(Boolean);
      const client = await ctx.client();
      const accepted = await client.createPrediction({
        model: ref.slice(0, at),
        version: ref.slice(at + 1),
        input: opts.data,
        ...(opts.output ? { output: opts.output } : {}),
        ...(opts.features ? { features: list(opts.features) } : {}),
        keep: opts.keep === "other" || opts.keep === "all" ? opts.keep : list(opts.keep),
      });
      if (!opts.wait) {
        if (opts.json) return ctx.json(accepted);
        return ctx.out(`prediction ${accepted.id}: ${accepted.model}@${accepted.version} over ${accepted.input}, ${accepted.phase}\nfollow it with \`paved predictions show ${accepted.id}\`\n`);
      }
      const done = await follow(ctx, client, accepted, !opts.json);
      if (opts.json) ctx.json(done);
      else ctx.out(renderPrediction(done, ctx.now()));
      if (done.phase === "FAILED") throw new PlatformError(codeOf(done.message), `prediction ${done.id} failed: ${done.message ?? "no reason recorded"}`);
      if (done.phase === "CANCELLED") throw new PlatformError("CONFLICT", `prediction ${done.id} was cancelled: ${done.message ?? ""}`);
    });

  const predictions = program
    .command("predictions")
    .description("Batch predictions (paved predict): their progress, output dataset versions and rows/s")
    .addHelpText("after", "\nExamples:\n  $ paved predictions ls\n  $ paved predictions show pred-3f2a9c41d0\n  $ paved predictions cancel pred-3f2a9c41d0");
  predictions
    .command("ls")
    .option("--limit <n>", "at most this many", parseInteger("--limit", 1))
    .option("--json", "print JSON")
    .description("List batch predictions of your teams, newest first")
    .addHelpText("after", "\nExample:\n  $ paved predictions ls --limit 20")
    .action(async (opts: { limit?: number; json?: boolean }) => {
      const list = await (await ctx.client()).listPredictions(opts.limit ? { limit: opts.limit } : {});
      if (opts.json) return ctx.json({ predictions: list });
      const now = ctx.now();
      ctx.out(
        list.length === 0
          ? "no predictions; run one with `paved predict <model>@<version> --data datasets:/<name>@<version>`\n"
          : renderTable(list, [
              { header: "ID", value: (p) => p.id },
              { header: "MODEL", value: (p) => `${p.model}@${p.version}` },
              { header: "INPUT", value: (p) => p.input },
              { header: "PHASE", value: (p) => p.phase },
              { header: "ROWS", value: (p) => `${formatNumber(p.rows)}${p.totalRows !== null && p.phase !== "SUCCEEDED" ? `/${formatNumber(p.totalRows)}` : ""}` },
              { header: "OUTPUT", value: (p) => p.output ?? "-" },
              { header: "ROWS/S", value: (p) => (p.rowsPerSecond === null ? "-" : formatNumber(Math.round(p.rowsPerSecond))) },
              { header: "CREATED", value: (p) => formatAgo(p.createdAt, now) },
            ]),
      );
    });
  predictions
    .command("show")
    .argument("<id>", "prediction id")
    .option("--json", "print JSON")
    .description("Show a prediction: its phase and progress, the output dataset version and rows/s, or why it failed")
    .addHelpText("after", "\nExample:\n  $ paved predictions show pred-3f2a9c41d0")
    .action(async (id: string, opts: { json?: boolean }) => {
      const prediction = await (await ctx.client()).getPrediction(id);
      if (opts.json) return ctx.json(prediction);
      ctx.out(renderPrediction(prediction, ctx.now()));
    });
  predictions
    .command("cancel")
    .argument("<id>", "prediction id")
    .option("--json", "print JSON")
    .description("Cancel a queued or running prediction (nothing is written)")
    .addHelpText("after", "\nExample:\n  $ paved predictions cancel pred-3f2a9c41d0")
    .action(async (id: string, opts: { json?: boolean }) => {
      const prediction = await (await ctx.client()).cancelPrediction(id);
      if (opts.json) return ctx.json(prediction);
      ctx.out(`prediction ${prediction.id}: ${prediction.phase}\n`);
    });
}

/** Polls until the prediction ends, writing its progress to stderr (stdout stays the result). */
async function follow(ctx: CliContext, client: PavedClient, accepted: Prediction, progress: boolean): Promise<Prediction> {
  let current = accepted;
  let shown = "";
  while (!ENDED.has(current.phase)) {
    await ctx.sleep(500);
    current = await client.getPrediction(current.id);
    const line = current.phase === "RUNNING" ? `running: ${formatNumber(current.rows)}${current.totalRows !== null ? ` of ${formatNumber(current.totalRows)}` : ""} rows` : current.phase.toLowerCase();
    if (progress && line !== shown) ctx.note(`prediction ${current.id} ${line}\n`);
    shown = line;
  }
  return current;
}

function codeOf(message: string | null): "INVALID_INPUT" | "UNSUPPORTED" | "NOT_FOUND" | "INTERNAL" {
  const code = message?.slice(0, message.indexOf(":"));
  return code === "INVALID_INPUT" || code === "UNSUPPORTED" || code === "NOT_FOUND" ? code : "INTERNAL";
}

export function renderPrediction(p: Prediction, now: number): string {
  return renderFields([
    ["id", p.id],
    ["model", `${p.model}@${p.version}`],
    ["input", p.input],
    ["phase", p.phase],
    ["rows", p.totalRows !== null && p.phase !== "SUCCEEDED" ? `${formatNumber(p.rows)} of ${formatNumber(p.totalRows)}` : formatNumber(p.rows)],
    ["output", p.output ?? `${p.outputDataset} (a new version once it succeeds)`],
    ...(p.rowsPerSecond !== null ? ([["rows/s", `${formatNumber(Math.round(p.rowsPerSecond))} (${formatNumber(Math.round((p.seconds ?? 0) * 10) / 10)} s)`]] as [string, string][]) : []),
    ...(p.message ? ([["message", p.message]] as [string, string][]) : []),
    ["attempts", String(p.attempts)],
    ["created", `${formatAgo(p.createdAt, now)} by ${p.createdBy}`],
  ]);
}
