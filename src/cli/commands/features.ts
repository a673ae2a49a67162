import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Command } from "commander";
import { parse as parseYaml } from "yaml";
import type { FeatureSet, FeatureSetRequest } from "../../client/index.ts";
import { invalidInput, notFound } from "../../core/index.ts";
import type { CliContext } from "../context.ts";
import { formatAgo } from "../render/format.ts";
import { renderFields, renderTable } from "../render/table.ts";

/** A feature set file's YAML (the server validates its fields). */
async function readSpec(file: string, cwd: string): Promise<FeatureSetRequest> {
  const text = await readFile(resolve(cwd, file), "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") throw notFound(`feature set file '${file}' does not exist; check the path given to -f`);
    throw invalidInput(`cannot read feature set file '${file}': ${error.message}`);
  });
  try {
    return parseYaml(text) as FeatureSetRequest;
  } catch (error) {
    throw invalidInput(`feature set file '${file}' is not valid YAML: ${(error as Error).message}`);
  }
}

/** `customer-spend@2` → name and version; a bare name when `versionOptional`. */
function nameAt(target: string, versionOptional: boolean): { name: string; version?: number } {
  const match = /^([^@]+)(?:@(\d+))?$/.exec(target);
  if (!match || (!versionOptional && match[2] === undefined)) throw invalidInput(`'${target}' is not <feature set>@<version number>, e.g. customer-spend@2`);
  return match[2] === undefined ? { name: match[1]! } : { name: match[1]!, version: Number(match[2]) };
}

/** `paved features create|ls|show|materialize|training-set`: offline feature sets and training sets. */
export function registerFeatures(program: Command, ctx: CliContext): void {
  const features = program
    .command("features")
    .alias("feature-sets")
    .description("Feature sets: versioned SQL over dataset versions, materialized into datasets, and point-in-time-correct training sets (offline)")
    .addHelpText("after", "\nSee docs/features.md.\n\nExample:\n  $ paved features create -f featureset.yaml\n  $ paved features materialize customer-spend@1\n  $ paved features training-set --labels datasets:/labels@1 --features datasets:/customer-spend@1 --entity customer_id --timestamp event_time --output train-set");

  features
    .command("create")
    .description("Create the next version of a feature set from a YAML file (its inputs are pinned to their dataset versions now)")
    .requiredOption("-f, --file <file>", "the feature set YAML")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved features create -f featureset.yaml")
    .action(async (opts: { file: string; json?: boolean }) => {
      const created = await (await ctx.client()).createFeatureSet(await readSpec(opts.file, ctx.cwd));
      if (opts.json) return ctx.json(created);
      ctx.out(`feature set ${created.name}@${created.version} created (inputs ${Object.values(created.pinned).map((p) => p.ref).join(", ")}); materialize it with \`paved features materialize ${created.name}@${created.version}\`\n`);
    });

  features
    .command("ls")
    .description("List your teams' feature sets (latest versions)")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved features ls")
    .action(async (opts: { json?: boolean }) => {
      const list = await (await ctx.client()).listFeatureSets();
      if (opts.json) return ctx.json(list);
      const now = ctx.now();
      ctx.out(renderTable(list, [
        { header: "NAME", value: (f: FeatureSet) => f.name },
        { header: "VERSION", value: (f: FeatureSet) => f.version },
        { header: "TEAM", value: (f: FeatureSet) => f.team },
        { header: "ENTITY", value: (f: FeatureSet) => f.entityKey },
        { header: "INPUTS", value: (f: FeatureSet) => Object.values(f.pinned).map((p) => p.ref).join(", ") },
        { header: "CREATED", value: (f: FeatureSet) => formatAgo(f.createdAt, now) },
      ]));
    });

  features
    .command("show")
    .argument("<name[@version]>", "a feature set, optionally one version (default: the latest)")
    .description("Show a feature set version: its SQL and pinned inputs")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved features show customer-spend@1")
    .action(async (target: string, opts: { json?: boolean }) => {
      const { name, version } = nameAt(target, true);
      const f = await (await ctx.client()).getFeatureSet(name, version);
      if (opts.json) return ctx.json(f);
      ctx.out(renderFields([
        ["name", `${f.name}@${f.version}`],
        ["team", f.team],
        ["entity key", f.entityKey],
        ["timestamp", f.timestamp],
        ...Object.entries(f.pinned).map(([view, p]) => [`input ${view}`, `${p.ref} (asked: ${f.inputs[view]})`] as const),
        ["created", `${formatAgo(f.createdAt, ctx.now())} by ${f.createdBy}`],
      ]) + `\n${f.sql}\n`);
    });

  features
    .command("materialize")
    .argument("<name@version>", "the feature set version to run, e.g. customer-spend@1")
    .description("Run a feature set version's SQL into a new version of a dataset (default: the feature set's name)")
    .option("--output <dataset>", "the dataset to write")
    .option("--alias <alias>", "point this alias at the new dataset version")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved features materialize customer-spend@1 --output customer-spend")
    .action(async (target: string, opts: { output?: string; alias?: string; json?: boolean }) => {
      const { name, version } = nameAt(target, false);
      const m = await (await ctx.client()).materializeFeatureSet(name, version!, { ...(opts.output ? { output: opts.output } : {}), ...(opts.alias ? { alias: opts.alias } : {}) });
      if (opts.json) return ctx.json(m);
      ctx.out(`${name}@${version} materialized: ${m.ref} (${m.rows} rows)\n`);
    });

  features
    .command("training-set")
    .description("Join labels to feature datasets as of each label's timestamp (no value from after it), into a dataset version")
    .requiredOption("--labels <ref>", "the labels: datasets:/<name>@<version> with the entity key, timestamp and label columns")
    .requiredOption("--features <refs>", "feature datasets, comma-separated datasets:/<name>@<version>")
    .requiredOption("--entity <column>", "the entity key column")
    .requiredOption("--timestamp <column>", "the timestamp column")
    .requiredOption("--output <dataset>", "the dataset to write")
    .option("--team <team>", "the team (default: your only team where you may write)")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved features training-set --labels datasets:/labels@1 --features datasets:/customer-spend@1 --entity customer_id --timestamp event_time --output train-set")
    .action(async (opts: { labels: string; features: string; entity: string; timestamp: string; output: string; team?: string; json?: boolean }) => {
      const t = await (await ctx.client()).createTrainingSet({
        labels: opts.labels,
        features: opts.features.split(",").map((f) => f.trim()).filter(Boolean),
        entityKey: opts.entity,
        timestamp: opts.timestamp,
        output: opts.output,
        ...(opts.team ? { team: opts.team } : {}),
      });
      if (opts.json) return ctx.json(t);
      ctx.out(`training set ${t.ref}: ${t.rows} rows, columns ${t.columns.join(", ")}\n`);
    });
}
