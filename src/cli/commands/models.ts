import type { Command } from "commander";
import type { GateStatus, ModelDetail, ModelVersion } from "../../client/index.ts";
import { invalidInput } from "../../core/index.ts";
import type { CliContext } from "../context.ts";
import { collect, parseInteger } from "../options.ts";
import { formatAgo, formatBytes, formatTime } from "../render/format.ts";
import { renderFields, renderTable } from "../render/table.ts";

export function registerModels(program: Command, ctx: CliContext): void {
  const models = program
    .command("models")
    .description("Registered models: versions, aliases, tags, signatures and lineage")
    .addHelpText(
      "after",
      "\nExamples:\n  $ paved models register runs:/3f2a9c.../model --name churn\n  $ paved models alias churn champion 3\n  $ paved models tag churn model_card.owner=ml-team\n  $ paved models show churn@champion",
    );

  models
    .command("ls")
    .description("List registered models with their newest version and aliases")
    .option("--filter <expression>", "MLflow filter, e.g. \"name LIKE 'churn%'\"")
    .option("--limit <n>", "at most this many models (one page; default 100)", parseInteger("--limit", 1))
    .option("--page-token <token>", "the page after the one that printed this token")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExamples:\n  $ paved models ls --filter \"name LIKE 'churn%'\"\n  $ paved models ls --limit 20")
    .action(async (opts: { filter?: string; limit?: number; pageToken?: string; json?: boolean }) => {
      const page = await (await ctx.client()).listModelsPage({ ...(opts.filter ? { filter: opts.filter } : {}), ...(opts.limit ? { limit: opts.limit } : {}), ...(opts.pageToken ? { pageToken: opts.pageToken } : {}) });
      if (opts.json) return ctx.json(page);
      const list = page.models;
      const now = ctx.now();
      ctx.out(
        list.length === 0
          ? "no registered models; register one with `paved models register runs:/<run-id>/<path> --name <name>`\n"
          : renderTable(list, [
              { header: "NAME", value: (m) => m.name },
              { header: "TEAM", value: (m) => m.team },
              { header: "LATEST", value: (m) => m.latestVersion ?? "-", align: "right" },
              { header: "ALIASES", value: (m) => aliasesText(m.aliases) },
              { header: "UPDATED", value: (m) => formatAgo(m.updatedAt, now) },
              { header: "DESCRIPTION", value: (m) => m.description ?? "" },
            ]),
      );
      if (page.nextPageToken) ctx.note(`more models: add --page-token ${page.nextPageToken}`);
    });

  models
    .command("show")
    .argument("<name[@version]>", "a model, or one version of it by number or alias (churn@3, churn@champion)")
    .description("Show a model's versions, aliases and production gate per version, or one version's signature, lineage and files")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExamples:\n  $ paved models show churn\n  $ paved models show churn@champion")
    .action(async (ref: string, opts: { json?: boolean }) => {
      const client = await ctx.client();
      const at = ref.lastIndexOf("@");
      if (at > 0) {
        const version = await client.getModelVersion(ref.slice(0, at), ref.slice(at + 1));
        if (opts.json) return ctx.json(version);
        return ctx.out(renderVersion(version, ctx.now()));
      }
      const [model, gate] = await Promise.all([client.getModel(ref), client.getGateStatus(ref)]);
      if (opts.json) return ctx.json(model);
      ctx.out(renderModel(model, gate, ctx.now()));
    });

  models
    .command("register")
    .argument("<source>", "runs:/<run-id>/<path> (or models:/<name>/<version>)")
    .requiredOption("--name <name>", "registered model name (created when new)")
    .option("--description <text>", "what this version is")
    .option("--team <team>", "for a new model, the team it goes to (default: the source's team when you are in it, else your token's team)")
    .option("--json", "print JSON")
    .description("Register a version: copies the files under the source into the registry")
    .addHelpText(
      "after",
      "\nExamples:\n  $ paved models register runs:/3f2a9c.../model --name churn --description \"retrained on May data\"\n  $ paved models register runs:/3f2a9c.../model --name churn --team risk",
    )
    .action(async (source: string, opts: { name: string; description?: string; team?: string; json?: boolean }) => {
      const version = await (await ctx.client()).registerModelVersion(opts.name, {
        source,
        ...(opts.description ? { description: opts.description } : {}),
        ...(opts.team ? { team: opts.team } : {}),
      });
      if (opts.json) return ctx.json(version);
      ctx.out(`registered ${version.name} version ${version.version} (${version.files.length} files${version.signature ? ", ONNX signature read" : ""})\n`);
    });

  models
    .command("alias")
    .argument("<name>", "registered model name")
    .argument("<alias>", "alias, e.g. champion or staging")
    .argument("<version>", "version number the alias points at (an existing alias moves)")
    .option("--force", "admin only: override the production gate (needs --reason; recorded)")
    .option("--reason <text>", "why the gate is overridden")
    .option("--json", "print JSON")
    .description("Point an alias at a version (production needs a passing `paved evaluate`)")
    .addHelpText("after", "\nExample:\n  $ paved models alias churn champion 3")
    .action(async (name: string, alias: string, version: string, opts: { force?: boolean; reason?: string; json?: boolean }) => {
      if (!/^\d+$/.test(version)) throw invalidInput(`version '${version}' is not a number; give a version number, e.g. paved models alias ${name} ${alias} 3`);
      const result = await (await ctx.client()).setModelAlias(name, alias, version, opts.force ? { force: true, reason: opts.reason ?? "" } : undefined);
      if (opts.json) return ctx.json(result);
      ctx.out(`${result.name}@${result.alias} → version ${result.version}\n`);
    });

  models
    .command("tag")
    .argument("<name[@version]>", "a registered model, or one version of it by number or alias (churn@3, churn@champion)")
    .argument("[key=value...]", "tags to set; an existing key gets the new value")
    .option("--delete <key>", "delete a tag (repeatable)", collect)
    .option("--json", "print JSON")
    .description("Set or delete tags of a model or a version (the model card the compliance check reads is tags model_card.<field>)")
    .addHelpText(
      "after",
      `
Examples:
  $ paved models tag churn model_card.intended_use="churn scoring for retention offers" model_card.owner=ml-team
  $ paved models tag churn@3 reviewed=yes --delete draft
A version's tags override the model's for the same key.`,
    )
    .action(async (ref: string, pairs: string[], opts: { delete?: string[]; json?: boolean }) => {
      const at = ref.lastIndexOf("@");
      const [name, version] = at > 0 ? [ref.slice(0, at), ref.slice(at + 1)] : [ref, undefined];
      const set = parseTags(pairs, ref);
      if (Object.keys(set).length === 0 && !opts.delete?.length) {
        throw invalidInput(`give tags to set or --delete, e.g. paved models tag ${ref} model_card.owner=ml-team`);
      }
      const result = await (await ctx.client()).updateModelTags(name, version, { set, delete: opts.delete ?? [] });
      if (opts.json) return ctx.json(result);
      const entries = Object.entries(result.tags).sort(([a], [b]) => a.localeCompare(b));
      const what = result.version === null ? result.name : `${result.name}@${result.version}`;
      ctx.out(
        entries.length === 0
          ? `${what} has no tags\n`
          : `${what} tags:\n` + renderTable(entries, [{ header: "KEY", value: ([k]) => k }, { header: "VALUE", value: ([, v]) => v }]),
      );
    });
}

/** `key=value` arguments (the value may hold '='), e.g. model_card.owner=ml-team. */
function parseTags(pairs: readonly string[], ref: string): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf("=");
    if (at <= 0) throw invalidInput(`tags are key=value, got '${pair}'; e.g. paved models tag ${ref} model_card.owner=ml-team (delete one with --delete ${pair})`);
    tags[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return tags;
}

function tagsSection(tags: Record<string, string>): string | undefined {
  const entries = Object.entries(tags).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return undefined;
  return "Tags:\n" + renderTable(entries, [{ header: "KEY", value: ([k]) => k }, { header: "VALUE", value: ([, v]) => v }]);
}

function aliasesText(aliases: Record<string, string>): string {
  return Object.entries(aliases)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([alias, version]) => `${alias}→${version}`)
    .join(" ");
}

/** The production gate's verdict on a version under the current policy, and an evaluation still running. */
function gateText(gate: GateStatus, version: string): string {
  const entry = gate.versions.find((v) => v.version === version);
  if (!entry) return "none";
  const verdict = entry.evaluation ? `${entry.gate} (${entry.evaluation})` : entry.gate;
  return entry.inProgress ? `${verdict}; ${entry.inProgress.phase.toLowerCase()} ${entry.inProgress.id}` : verdict;
}

function renderModel(model: ModelDetail, gate: GateStatus, now: number): string {
  const sections = [
    renderFields([
      ["Name", model.name],
      ["Description", model.description ?? undefined],
      ["Owner", model.user],
      ["Aliases", aliasesText(model.aliases) || undefined],
      ["Gate policy", gate.policyVersion],
      ["Created", formatTime(model.createdAt, now)],
      ["Updated", formatTime(model.updatedAt, now)],
    ]),
  ];
  const tags = tagsSection(model.tags);
  if (tags) sections.push(tags);
  if (model.versions.length) {
    sections.push(
      "Versions:\n" +
        renderTable(model.versions, [
          { header: "VERSION", value: (v) => v.version, align: "right" },
          { header: "ALIASES", value: (v) => v.aliases.join(" ") },
          { header: "GATE", value: (v) => gateText(gate, v.version) },
          { header: "RUN", value: (v) => v.runId ?? "-" },
          { header: "CREATED", value: (v) => formatAgo(v.createdAt, now) },
          { header: "SOURCE", value: (v) => v.source },
        ]),
    );
  }
  return sections.join("\n");
}

function renderVersion(v: ModelVersion, now: number): string {
  const sections = [
    renderFields([
      ["Model", v.name],
      ["Version", v.version],
      ["Status", v.status],
      ["Aliases", v.aliases.join(" ") || undefined],
      ["Description", v.description ?? undefined],
      ["Source", v.source],
      ["Run", v.runId ?? undefined],
      ["Commit", v.lineage?.commit ?? undefined],
      ["Created", formatTime(v.createdAt, now)],
      ["Download", v.downloadUri],
    ]),
  ];
  const tags = tagsSection(v.tags);
  if (tags) sections.push(tags);
  if (v.signature) {
    const tensors = [...v.signature.inputs.map((t) => ({ ...t, kind: "input" })), ...v.signature.outputs.map((t) => ({ ...t, kind: "output" }))];
    sections.push(
      `Signature (${v.signature.file}):\n` +
        renderTable(tensors, [
          { header: "KIND", value: (t) => t.kind },
          { header: "NAME", value: (t) => t.name },
          { header: "TYPE", value: (t) => t.type },
          { header: "SHAPE", value: (t) => (t.shape ? `[${t.shape.map((d) => d ?? "?").join(", ")}]` : "?") },
        ]),
    );
  }
  if (v.lineage?.datasets.length) {
    sections.push(
      "Datasets:\n" +
        renderTable(v.lineage.datasets, [
          { header: "NAME", value: (d) => d.name },
          { header: "DIGEST", value: (d) => d.digest },
          { header: "SOURCE", value: (d) => d.source },
        ]),
    );
  }
  if (v.files.length) {
    sections.push(
      "Files:\n" +
        renderTable(v.files, [
          { header: "PATH", value: (f) => f.path },
          { header: "SIZE", value: (f) => formatBytes(f.size), align: "right" },
        ]),
    );
  }
  return sections.join("\n");
}
