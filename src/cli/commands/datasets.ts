import { createReadStream } from "node:fs";
import { lstat, readdir } from "node:fs/promises";
import { basename, join, relative, resolve, sep } from "node:path";
import { Readable } from "node:stream";
import type { Command } from "commander";
import type { Dataset, DatasetDiff, DatasetPreview, DatasetVersion } from "../../client/index.ts";
import { invalidInput, notFound } from "../../core/index.ts";
import type { CliContext } from "../context.ts";
import { registerDatasetSnapshot } from "./datasets-snapshot.ts";
import { parseInteger } from "../options.ts";
import { formatAgo, formatBytes, formatNumber } from "../render/format.ts";
import { renderFields, renderTable } from "../render/table.ts";

/** Most files one `paved datasets create` uploads (a version's bound). */
const MAX_FILES = 10_000;

/** `paved datasets create|ls|show|versions|preview|diff|alias|unalias`: versioned datasets of a team. */
export function registerDatasets(program: Command, ctx: CliContext): void {
  const datasets = program
    .command("datasets")
    .alias("dataset")
    .description("Versioned datasets: immutable, content-addressed versions with schema, row counts, column statistics and previews computed by the platform (referenced as datasets:/<name>@<version|alias>)")
    .addHelpText("after", "\nSee docs/datasets.md.\n\nExamples:\n  $ paved datasets create churn data/train.csv data/test.csv --alias prod\n  $ paved datasets show churn@prod\n  $ paved datasets diff churn@1 churn@2");

  datasets
    .command("create")
    .argument("<name>", "the dataset (created in your team when new): lower-case letters, digits, '.', '_', '-'")
    .argument("<file-or-folder...>", "files, and folders walked for their files (hidden ones skipped, symbolic links not followed)")
    .description("Upload files as the dataset's next version; the same files as an existing version answer that version")
    .option("--description <text>", "what this version holds")
    .option("--alias <alias>", "point this alias at the version, e.g. prod")
    .option("--team <team>", "the team of a new dataset (default: your only team, or your token's)")
    .option("--json", "print JSON")
    .addHelpText("after", "\nA file's path in the version is its name; a folder's files keep their paths inside it.\n\nExamples:\n  $ paved datasets create churn train.csv\n  $ paved datasets create churn ./exports/2024-06 --description 'June export' --alias prod")
    .action(async (name: string, inputs: string[], opts: { description?: string; alias?: string; team?: string; json?: boolean }) => {
      const files = await collectFiles(inputs, ctx.cwd);
      const client = await ctx.client();
      // Files go to the dataset's team: the one named, else the existing dataset's, else the server's default for the caller.
      const team = opts.team ?? (await client.getDataset(name).catch((error: unknown) => {
        if ((error as { code?: string }).code === "NOT_FOUND") return undefined;
        throw error;
      }))?.team;
      const uploaded: { path: string; digest: string }[] = [];
      for (const file of files) {
        ctx.note(`uploading ${file.path} (${formatBytes(file.size)})\n`);
        const body = Readable.toWeb(createReadStream(file.local)) as ReadableStream<Uint8Array>;
        const blob = await client.uploadDatasetFile(body, team ? { team } : {});
        uploaded.push({ path: file.path, digest: blob.digest });
      }
      const version = await client.createDatasetVersion(name, {
        files: uploaded,
        ...(team ? { team } : {}),
        ...(opts.description !== undefined ? { description: opts.description } : {}),
        ...(opts.alias !== undefined ? { alias: opts.alias } : {}),
      });
      if (opts.json) return ctx.json(version);
      const what = `${version.fileCount} file${version.fileCount === 1 ? "" : "s"}, ${formatBytes(version.totalBytes)}${version.rowCount === null ? "" : `, ${version.rowCount} rows`}`;
      ctx.out(
        version.existing
          ? `${version.dataset}@${version.version} already holds these files (${what}); no new version was made. Its ref: ${version.ref}\n`
          : `created ${version.ref} (${what}${version.aliases.length ? `; aliases ${version.aliases.join(", ")}` : ""}); see it with \`paved datasets show ${version.dataset}@${version.version}\`\n`,
      );
    });

  datasets
    .command("ls")
    .description("List the datasets of your teams, most recently changed first")
    .option("--limit <n>", "at most this many datasets (one page; default 100)", parseInteger("--limit", 1))
    .option("--page-token <token>", "the page after the one that printed this token")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExamples:\n  $ paved datasets ls\n  $ paved datasets ls --limit 20")
    .action(async (opts: { limit?: number; pageToken?: string; json?: boolean }) => {
      const page = await (await ctx.client()).listDatasetsPage({ ...(opts.limit ? { limit: opts.limit } : {}), ...(opts.pageToken ? { pageToken: opts.pageToken } : {}) });
      if (opts.json) return ctx.json(page);
      ctx.out(renderDatasetTable(page.datasets, ctx.now()));
      if (page.nextPageToken) ctx.note(`more datasets: add --page-token ${page.nextPageToken}`);
    });

  datasets
    .command("show")
    .argument("<name[@version]>", "a dataset, or one version of it by number or alias (churn@3, churn@prod); without one, its latest")
    .description("Show a version: digest, files, each CSV and Parquet file's schema and column statistics, source and lineage")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExamples:\n  $ paved datasets show churn\n  $ paved datasets show churn@prod --json")
    .action(async (ref: string, opts: { json?: boolean }) => {
      const { name, version } = splitRef(ref, "latest");
      const client = await ctx.client();
      if (version === "latest") {
        const dataset = await client.getDataset(name);
        if (dataset.latestVersion === null) {
          if (opts.json) return ctx.json({ dataset, version: null });
          return ctx.out(renderFields([["dataset", dataset.name], ["team", dataset.team], ["versions", 0]]) + `add one with \`paved datasets create ${name} <files>\`\n`);
        }
      }
      const view = await client.getDatasetVersion(name, version);
      if (opts.json) return ctx.json(view);
      ctx.out(renderVersion(view, ctx.now()));
    });

  datasets
    .command("versions")
    .argument("<name>", "a dataset")
    .description("List a dataset's versions, newest first")
    .option("--limit <n>", "at most this many versions (one page; default 100)", parseInteger("--limit", 1))
    .option("--page-token <token>", "the page after the one that printed this token")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExamples:\n  $ paved datasets versions churn\n  $ paved datasets versions churn --limit 10")
    .action(async (name: string, opts: { limit?: number; pageToken?: string; json?: boolean }) => {
      const page = await (await ctx.client()).listDatasetVersionsPage(name, { ...(opts.limit ? { limit: opts.limit } : {}), ...(opts.pageToken ? { pageToken: opts.pageToken } : {}) });
      if (opts.json) return ctx.json(page);
      ctx.out(
        renderTable(page.versions, [
          { header: "VERSION", value: (v) => v.version, align: "right" },
          { header: "ALIASES", value: (v) => v.aliases.join(",") },
          { header: "FILES", value: (v) => v.fileCount, align: "right" },
          { header: "SIZE", value: (v) => formatBytes(v.totalBytes), align: "right" },
          { header: "ROWS", value: (v) => v.rowCount, align: "right" },
          { header: "DIGEST", value: (v) => v.digest.slice(0, 19) },
          { header: "CREATED", value: (v) => `${formatAgo(v.createdAt, ctx.now())} by ${v.createdBy}` },
          { header: "DESCRIPTION", value: (v) => v.description },
        ]),
      );
      if (page.nextPageToken) ctx.note(`more versions: add --page-token ${page.nextPageToken}`);
    });

  datasets
    .command("preview")
    .argument("<name@version>", "a version by number or alias (churn@3, churn@prod)")
    .description("Print the first rows of a CSV or Parquet file of a version")
    .option("--rows <n>", "how many rows (at most 1000)", parseInteger("--rows", 1), 20)
    .option("--path <path>", "which file (default: the version's first CSV or Parquet file)")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExamples:\n  $ paved datasets preview churn@3\n  $ paved datasets preview churn@prod --rows 50 --path test.csv")
    .action(async (ref: string, opts: { rows: number; path?: string; json?: boolean }) => {
      const { name, version } = splitRef(ref, "latest");
      const preview = await (await ctx.client()).previewDataset(name, version, { rows: opts.rows, ...(opts.path ? { path: opts.path } : {}) });
      if (opts.json) return ctx.json(preview);
      ctx.out(renderPreview(preview));
    });

  datasets
    .command("diff")
    .argument("<from>", "a version, e.g. churn@1")
    .argument("<to>", "another version of the same dataset, e.g. churn@2 (or just 2)")
    .description("What changed between two versions: files added, removed and changed, schemas, row counts, column statistics")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExamples:\n  $ paved datasets diff churn@1 churn@2\n  $ paved datasets diff churn@prod churn@latest --json")
    .action(async (fromRef: string, toRef: string, opts: { json?: boolean }) => {
      const from = splitRef(fromRef);
      const to = toRef.includes("@") ? splitRef(toRef) : { name: from.name, version: toRef };
      if (to.name !== from.name) throw invalidInput(`diff compares two versions of one dataset; got ${from.name} and ${to.name} (e.g. paved datasets diff ${from.name}@1 ${from.name}@2)`);
      const diff = await (await ctx.client()).diffDataset(from.name, from.version, to.version);
      if (opts.json) return ctx.json(diff);
      ctx.out(renderDiff(diff));
    });

  datasets
    .command("alias")
    .argument("<name@version>", "the version the alias names, e.g. churn@3")
    .argument("<alias>", "the alias, e.g. prod")
    .description("Point an alias at a version (it moves if it named another)")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved datasets alias churn@3 prod")
    .action(async (ref: string, alias: string, opts: { json?: boolean }) => {
      const { name, version } = splitRef(ref);
      const result = await (await ctx.client()).setDatasetAlias(name, alias, version);
      if (opts.json) return ctx.json(result);
      ctx.out(`${result.dataset}@${result.alias} → version ${result.version}\n`);
    });

  datasets
    .command("unalias")
    .argument("<name>", "the dataset")
    .argument("<alias>", "the alias to remove (the version stays)")
    .description("Remove an alias")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved datasets unalias churn staging")
    .action(async (name: string, alias: string, opts: { json?: boolean }) => {
      const result = await (await ctx.client()).removeDatasetAlias(name, alias);
      if (opts.json) return ctx.json(result);
      ctx.out(`removed alias ${alias} of ${name}\n`);
    });

  registerDatasetSnapshot(datasets, ctx);
}

/** `churn@3` → { name, version }; without `@`, `fallback` (or an error naming the shape). */
function splitRef(ref: string, fallback?: string): { name: string; version: string } {
  const text = ref.startsWith("datasets:/") ? ref.slice("datasets:/".length) : ref;
  const at = text.indexOf("@");
  if (at === -1) {
    if (fallback !== undefined) return { name: text, version: fallback };
    throw invalidInput(`'${ref}' names no version; write <name>@<version|alias>, e.g. churn@3 or churn@prod`);
  }
  const version = text.slice(at + 1);
  if (!version) throw invalidInput(`'${ref}' names no version after '@'; e.g. churn@3 or churn@prod`);
  return { name: text.slice(0, at), version };
}

/** The files to upload: each file as its name, each folder's regular files by their path inside it (bounded). */
async function collectFiles(inputs: string[], cwd: string): Promise<{ local: string; path: string; size: number }[]> {
  const out: { local: string; path: string; size: number }[] = [];
  const seen = new Set<string>();
  const add = (local: string, path: string, size: number) => {
    if (seen.has(path)) throw invalidInput(`two files would both be ${path} in the version; rename one or upload the folder that holds both`);
    seen.add(path);
    if (out.length >= MAX_FILES) throw invalidInput(`a version holds at most ${MAX_FILES} files; pack small files together (e.g. into Parquet) or upload fewer`);
    out.push({ local, path, size });
  };
  for (const input of inputs) {
    const local = resolve(cwd, input);
    const stat = await lstat(local).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") throw notFound(`'${input}' does not exist; check the path`);
      throw invalidInput(`cannot read '${input}': ${error.message}`);
    });
    if (stat.isFile()) {
      add(local, basename(local), stat.size);
    } else if (stat.isDirectory()) {
      // Breadth-first, without following links; a bounded queue of folders.
      const folders = [local];
      while (folders.length) {
        const folder = folders.shift()!;
        const entries = await readdir(folder, { withFileTypes: true });
        entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        for (const entry of entries) {
          if (entry.name.startsWith(".")) continue;
          const full = join(folder, entry.name);
          if (entry.isDirectory()) {
            if (folders.length >= MAX_FILES) throw invalidInput(`'${input}' holds too many folders; upload at most ${MAX_FILES} files`);
            folders.push(full);
          } else if (entry.isFile()) {
            add(full, relative(local, full).split(sep).join("/"), (await lstat(full)).size);
          }
        }
      }
    } else {
      throw invalidInput(`'${input}' is neither a file nor a folder; give files or folders`);
    }
  }
  if (out.length === 0) throw invalidInput(`no files found in ${inputs.join(", ")} (hidden files are skipped); give at least one file`);
  return out;
}

function renderDatasetTable(list: Dataset[], now: number): string {
  if (list.length === 0) return "no datasets yet; create one with `paved datasets create <name> <files>`\n";
  return renderTable(list, [
    { header: "NAME", value: (d) => d.name },
    { header: "TEAM", value: (d) => d.team },
    { header: "LATEST", value: (d) => d.latestVersion, align: "right" },
    { header: "VERSIONS", value: (d) => d.versionCount, align: "right" },
    { header: "ALIASES", value: (d) => Object.entries(d.aliases).map(([a, v]) => `${a}=${v}`).join(",") },
    { header: "UPDATED", value: (d) => formatAgo(d.updatedAt, now) },
    { header: "DESCRIPTION", value: (d) => d.description },
  ]);
}

function renderVersion(v: DatasetVersion, now: number): string {
  let text = renderFields([
    ["ref", v.ref],
    ["team", v.team],
    ["digest", v.digest],
    ["aliases", v.aliases.join(", ")],
    ["files", `${v.fileCount} (${formatBytes(v.totalBytes)})`],
    ["rows", v.rowCount],
    ["description", v.description],
    ["source", v.source ? `${v.source.kind}: ${v.source.description}` : null],
    ["lineage", v.lineage ? Object.entries(v.lineage).map(([k, x]) => `${k}=${String(x)}`).join(" ") : null],
    ["created", `${formatAgo(v.createdAt, now)} by ${v.createdBy}`],
  ]);
  text += "\n" + renderTable(v.files ?? [], [
    { header: "PATH", value: (f) => f.path },
    { header: "FORMAT", value: (f) => f.format },
    { header: "SIZE", value: (f) => formatBytes(f.size), align: "right" },
    { header: "ROWS", value: (f) => f.rowCount, align: "right" },
    { header: "DIGEST", value: (f) => f.digest.slice(0, 19) },
  ]);
  for (const f of v.files ?? []) {
    if (!f.columns?.length) continue;
    text += `\n${f.path}: ${f.columns.length} columns, ${f.rowCount ?? 0} rows\n`;
    text += renderTable(f.columns, [
      { header: "COLUMN", value: (c) => c.name },
      { header: "TYPE", value: (c) => c.type },
      { header: "NULLS", value: (c) => (c.stats ? `${c.stats.nullCount} (${formatNumber(Math.round(c.stats.nullFraction * 1000) / 10)}%)` : null), align: "right" },
      { header: "DISTINCT~", value: (c) => c.stats?.distinctApprox, align: "right" },
      { header: "MIN", value: (c) => scalar(c.stats?.min) },
      { header: "MAX", value: (c) => scalar(c.stats?.max) },
      { header: "MEAN", value: (c) => formatNumber(c.stats?.mean), align: "right" },
      { header: "STD", value: (c) => formatNumber(c.stats?.std), align: "right" },
      { header: "P50", value: (c) => formatNumber(c.stats?.quantiles?.p50), align: "right" },
      { header: "TOP", value: (c) => c.stats?.topValues?.slice(0, 3).map(String).join(", ") },
    ]);
  }
  return text;
}

function renderPreview(p: DatasetPreview): string {
  const header = `${p.dataset}@${p.version} ${p.path} (first ${p.rows.length} row${p.rows.length === 1 ? "" : "s"})\n`;
  return header + renderTable(p.rows, p.columns.map((name, i) => ({ header: name, value: (row: unknown[]) => scalar(row[i]) })));
}

function renderDiff(d: DatasetDiff): string {
  if (d.identical) return `${d.dataset}@${d.from.version} and @${d.to.version} hold the same files (${d.from.digest})\n`;
  const lines = [`${d.dataset}@${d.from.version} → @${d.to.version}`, `rows: ${d.rowCount.from ?? "-"} → ${d.rowCount.to ?? "-"}${d.rowCount.change === null ? "" : ` (${d.rowCount.change >= 0 ? "+" : ""}${d.rowCount.change})`}`];
  for (const f of d.files.added) lines.push(`+ ${f.path} (${formatBytes(f.size)})`);
  for (const f of d.files.removed) lines.push(`- ${f.path} (${formatBytes(f.size)})`);
  for (const f of d.files.changed) lines.push(`~ ${f.path} (${formatBytes(f.sizeFrom)} → ${formatBytes(f.sizeTo)})`);
  for (const s of d.schema) {
    for (const c of s.added) lines.push(`  ${s.path}: + column ${c.name} ${c.type}`);
    for (const c of s.removed) lines.push(`  ${s.path}: - column ${c.name} ${c.type}`);
    for (const c of s.typeChanged) lines.push(`  ${s.path}: column ${c.name} ${c.from} → ${c.to}`);
  }
  let text = lines.join("\n") + "\n";
  if (d.statistics.length) {
    text += "\n" + renderTable(d.statistics, [
      { header: "FILE", value: (s) => s.path },
      { header: "COLUMN", value: (s) => s.column },
      { header: "STAT", value: (s) => s.stat },
      { header: "FROM", value: (s) => scalar(s.from), align: "right" },
      { header: "TO", value: (s) => scalar(s.to), align: "right" },
    ]);
  }
  return text;
}

function scalar(value: unknown): string | number | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "number") return formatNumber(value);
  if (typeof value === "string") return value.length > 40 ? `${value.slice(0, 39)}…` : value;
  return String(value);
}
