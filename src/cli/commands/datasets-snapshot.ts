import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Command } from "commander";
import { parse as parseYaml } from "yaml";
import { invalidInput, notFound } from "../../core/index.ts";
import type { CliContext } from "../context.ts";
import { formatBytes, formatNumber } from "../render/format.ts";

/** A connector spec file is small; anything larger is not one. */
const MAX_SPEC_BYTES = 256 * 1024;

/** `paved datasets snapshot <name> -f connector.yaml`: a connector's source as the dataset's next version. */
export function registerDatasetSnapshot(datasets: Command, ctx: CliContext): void {
  datasets
    .command("snapshot")
    .argument("<name>", "the dataset (created in your team when new)")
    .requiredOption("-f, --file <file>", "the connector spec (YAML or JSON): kind local, postgres or s3, naming team secrets for credentials")
    .description("Snapshot a connector's source into the dataset's next version: a folder under a server root, a PostgreSQL query (as Parquet), or an S3 prefix")
    .option("--description <text>", "what this version holds")
    .option("--alias <alias>", "point this alias at the version, e.g. prod")
    .option("--team <team>", "the team of a new dataset (default: your only team)")
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      "\nSee docs/datasets.md#connectors.\n\nExample:\n  $ cat warehouse.yaml\n  kind: postgres\n  host: warehouse.internal\n  database: sales\n  user: reader\n  passwordSecret: warehouse-password\n  query: select * from customers where active\n  $ paved datasets snapshot customers -f warehouse.yaml --alias fresh",
    )
    .action(async (name: string, opts: { file: string; description?: string; alias?: string; team?: string; json?: boolean }) => {
      const spec = await readSpec(opts.file, ctx.cwd);
      const version = await (await ctx.client()).snapshotDataset(name, {
        spec,
        ...(opts.team ? { team: opts.team } : {}),
        ...(opts.description !== undefined ? { description: opts.description } : {}),
        ...(opts.alias ? { alias: opts.alias } : {}),
      });
      if (opts.json) return ctx.json(version);
      const rows = version.rowCount === null ? "" : `, ${formatNumber(version.rowCount)} rows`;
      const verb = version.existing ? "unchanged: answers" : "created";
      ctx.out(`${verb} datasets:/${version.dataset}@${version.version} (${version.fileCount} files, ${formatBytes(version.totalBytes)}${rows}) from ${version.source?.description ?? "the connector"}\n`);
    });
}

async function readSpec(file: string, cwd: string): Promise<Record<string, unknown>> {
  const text = await readFile(resolve(cwd, file), "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") throw notFound(`connector spec '${file}' does not exist; check the path given to -f`);
    throw invalidInput(`cannot read connector spec '${file}' (${error.code ?? "error"}); check the path given to -f`);
  });
  if (text.length > MAX_SPEC_BYTES) throw invalidInput(`connector spec '${file}' is larger than ${MAX_SPEC_BYTES} bytes; a spec names its source, it does not hold data`);
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (error) {
    throw invalidInput(`connector spec '${file}' is not valid YAML: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw invalidInput(`connector spec '${file}' must be a mapping with a kind (local, postgres or s3)`);
  return value as Record<string, unknown>;
}
