import { join } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import type { Kysely } from "kysely";
import { PlatformError, alreadyExists, invalidInput, isPlatformError, notFound, type Clock, type Principal, type ResourceRef } from "../../core/index.ts";
import { assertSingleSelect, type DatasetService, type ResolvedDatasetVersion } from "../datasets/index.ts";
import { teamForNew, visibleTeams } from "../identity/index.ts";
import type { Tables } from "../../storage/index.ts";
import type { FeatureSetSpec, FeatureSetView, MaterializationView, TrainingSetBody, TrainingSetView } from "./schema.ts";
import type { FeatureSetRow, FeatureSetStore } from "./store.ts";

export interface FeatureServiceDeps {
  store: FeatureSetStore;
  db: Kysely<Tables>;
  datasets: DatasetService;
  clock: Clock;
}

/** Table functions and statements that would read something other than the input views. */
const FILE_ACCESS = /\b(read_[a-z_]+|glob|parquet_[a-z_]+|sniff_csv|query|query_table|getenv|[a-z_]+_scan|attach|install|load|pragma|duckdb_[a-z_]+)\s*\(/i;

/**
 * Feature sets: named, versioned SQL over pinned dataset versions, materialized by the datasets
 * module's confined DuckDB into dataset versions; and point-in-time-correct training sets (an
 * as-of join of labels to feature values at or before each label's timestamp).
 */
export class FeatureService {
  constructor(private readonly deps: FeatureServiceDeps) {}

  /** A feature set as the policy sees it; one of another team answers as a missing one. */
  async resource(name: string): Promise<ResourceRef> {
    const row = await this.deps.store.latest(name);
    if (!row) throw missing(name);
    return { kind: "feature-set", id: name, team: row.team_id, notFound: () => missing(name) };
  }

  /** What creating a version of `name` touches: the set if it exists, else the team it would go to. */
  async creationResource(name: string, team: string | undefined, principal: Principal): Promise<ResourceRef> {
    const existing = await this.deps.store.latest(name);
    if (existing) {
      if (!principal.platformAdmin && principal.teams[existing.team_id] === undefined) throw alreadyExists(`the feature set name ${name} is taken; choose another name`);
      if (team !== undefined && team !== existing.team_id) throw invalidInput(`feature set ${name} belongs to team ${existing.team_id}, not ${team}; drop team or choose another name`);
      return { kind: "feature-set", id: name, team: existing.team_id, notFound: () => missing(name) };
    }
    return { kind: "feature-set", id: name, team: await teamForNew(this.deps.db, principal, team) };
  }

  /** The team a training set is built in: the one named, else the caller's only team where it may write. */
  async teamResource(team: string | undefined, principal: Principal): Promise<ResourceRef> {
    return { kind: "feature-set", id: "(training-set)", team: await teamForNew(this.deps.db, principal, team) };
  }

  /** Creates the next version: the SQL checked, every input resolved (NOT_FOUND when missing) and pinned. */
  async create(spec: FeatureSetSpec, team: string, createdBy: string): Promise<FeatureSetView> {
    checkSql(spec.sql);
    const pinned: Record<string, { ref: string; digest: string }> = {};
    for (const [view, ref] of Object.entries(spec.inputs)) {
      const resolved = await this.deps.datasets.resolve(team, ref);
      tabularFiles(resolved, view);
      pinned[view] = { ref: resolved.ref, digest: resolved.digest };
    }
    const { team: _team, ...stored } = spec;
    for (;;) {
      const latest = await this.deps.store.latest(spec.name);
      const row: FeatureSetRow = { name: spec.name, version: (latest ? Number(latest.version) : 0) + 1, team_id: team, spec: JSON.stringify(stored), pinned: JSON.stringify(pinned), created_by: createdBy, created_at: this.deps.clock.now() };
      if (await this.deps.store.insert(row)) return toView(row);
    }
  }

  async list(opts: { limit: number }, reader: Principal): Promise<FeatureSetView[]> {
    return (await this.deps.store.list({ limit: opts.limit, teams: visibleTeams(reader, "features:read") })).map(toView);
  }

  /** One version (the latest when none is named). */
  async get(name: string, version?: number): Promise<FeatureSetView> {
    const row = version === undefined ? await this.deps.store.latest(name) : await this.deps.store.get(name, version);
    if (!row) throw version === undefined ? missing(name) : notFound(`feature set ${name} has no version ${version}; list its versions with \`paved features show ${name}\``, { name, version });
    return toView(row);
  }

  /** Runs the version's SQL over its pinned inputs into a Parquet file, stored as a new dataset version with lineage. */
  async materialize(name: string, version: number, opts: { output?: string | undefined; alias?: string | undefined }, createdBy: string): Promise<MaterializationView> {
    const fs = await this.get(name, version);
    const inputs = await Promise.all(Object.entries(fs.pinned).map(async ([view, p]) => ({ view, resolved: await this.deps.datasets.resolve(fs.team, p.ref) })));
    const files = inputs.flatMap((i) => tabularFiles(i.resolved, i.view));
    const blob = await this.deps.datasets.withDuckDB(files, async (connection, locals, outDir) => {
      let at = 0;
      for (const input of inputs) {
        const own = tabularFiles(input.resolved, input.view);
        await connection.run(`CREATE TEMP VIEW ${ident(input.view)} AS SELECT * FROM ${source(own, locals.slice(at, at + own.length))}`);
        at += own.length;
      }
      const what = `feature set ${name}@${version}`;
      const columns = await describe(connection, fs.sql, what);
      for (const [role, column] of [["entity key", fs.entityKey], ["timestamp", fs.timestamp]] as const) {
        if (!columns.includes(column)) throw invalidInput(`${what}: its SQL's output has no ${role} column '${column}' (it has ${columns.slice(0, 20).join(", ")}); select it in the SQL or fix ${role === "entity key" ? "entityKey" : "timestamp"}`, { column });
      }
      const out = join(outDir, "features.parquet");
      await sqlRun(connection, `COPY (${fs.sql}) TO ${literal(out)} (FORMAT parquet)`, what);
      return this.deps.datasets.putFile(fs.team, out, { createdBy, what: `the materialization of ${what}` });
    });
    const lineage: Record<string, string | number> = { kind: "features", id: `${name}@${version}`, featureSet: name, version };
    for (const [view, p] of Object.entries(fs.pinned)) lineage[`input:${view}`] = p.ref;
    const created = await this.deps.datasets.createVersion({
      team: fs.team,
      name: opts.output ?? name,
      files: [{ path: "features.parquet", ...blob }],
      lineage: lineage as { kind: "features"; id: string },
      alias: opts.alias,
      createdBy,
    });
    return { featureSet: name, version, dataset: created.dataset, datasetVersion: created.version, ref: created.ref, rows: created.rowCount ?? 0 };
  }

  /**
   * A training set: each label row joined, per feature dataset, to the latest feature row of the
   * same entity whose timestamp is at or before the label's (DuckDB's ASOF LEFT JOIN); no later
   * value can leak in, and a label before any feature value gets NULLs.
   */
  async trainingSet(body: TrainingSetBody, team: string, createdBy: string): Promise<TrainingSetView> {
    const labels = await this.deps.datasets.resolve(team, body.labels);
    const features = await Promise.all(body.features.map((ref) => this.deps.datasets.resolve(team, ref)));
    const all = [{ view: "labels", resolved: labels }, ...features.map((resolved, i) => ({ view: `f${i}`, resolved }))];
    const files = all.flatMap((i) => tabularFiles(i.resolved, i.view === "labels" ? "labels" : i.resolved.ref));
    const key = body.entityKey;
    const ts = body.timestamp;
    const result = await this.deps.datasets.withDuckDB(files, async (connection, locals, outDir) => {
      let at = 0;
      const selects: string[] = [];
      const taken = new Set<string>();
      const joins: string[] = [];
      for (const input of all) {
        const own = tabularFiles(input.resolved, input.resolved.ref);
        await connection.run(`CREATE TEMP VIEW ${ident(input.view)} AS SELECT * FROM ${source(own, locals.slice(at, at + own.length))}`);
        at += own.length;
        const columns = await describe(connection, `SELECT * FROM ${ident(input.view)}`, input.resolved.ref);
        for (const column of [key, ts]) {
          if (!columns.includes(column)) throw invalidInput(`${input.resolved.ref} has no column '${column}' (it has ${columns.slice(0, 20).join(", ")}); give the ${column === key ? "entity key" : "timestamp"} column every input shares`, { column });
        }
        for (const column of columns) {
          if (input.view !== "labels" && (column === key || column === ts)) continue;
          if (taken.has(column)) throw invalidInput(`column '${column}' of ${input.resolved.ref} is also in an earlier input; rename it in the feature set's SQL so each column name is used once`, { column });
          taken.add(column);
          selects.push(`${ident(input.view)}.${ident(column)}`);
        }
        if (input.view !== "labels") joins.push(`ASOF LEFT JOIN ${ident(input.view)} ON labels.${ident(key)} = ${ident(input.view)}.${ident(key)} AND labels.${ident(ts)} >= ${ident(input.view)}.${ident(ts)}`);
      }
      const out = join(outDir, "training.parquet");
      await sqlRun(connection, `COPY (SELECT ${selects.join(", ")} FROM labels ${joins.join(" ")} ORDER BY labels.${ident(ts)}, labels.${ident(key)}) TO ${literal(out)} (FORMAT parquet)`, "the training set");
      return { blob: await this.deps.datasets.putFile(team, out, { createdBy, what: "a training set" }), columns: selects.map((s) => s.slice(s.indexOf(".") + 1).replace(/^"|"$/g, "").replaceAll('""', '"')) };
    });
    const lineage: Record<string, string> = { kind: "features", id: `training-set:${body.output}`, labels: labels.ref };
    features.forEach((f, i) => (lineage[`features:${i}`] = f.ref));
    const created = await this.deps.datasets.createVersion({ team, name: body.output, files: [{ path: "training.parquet", ...result.blob }], lineage: lineage as { kind: "features"; id: string }, alias: body.alias, createdBy });
    return { dataset: created.dataset, datasetVersion: created.version, ref: created.ref, rows: created.rowCount ?? 0, columns: result.columns };
  }
}

/** One SELECT, reading only the input views (no file, URL or extension functions). */
function checkSql(sql: string): void {
  assertSingleSelect(sql);
  const found = FILE_ACCESS.exec(sql);
  if (found) throw invalidInput(`the feature set's SQL calls ${found[1]}(…); a feature set reads only its inputs, by their names: name the dataset under inputs and select from it`);
  const quoted = /\b(from|join)\s+'/i.exec(sql);
  if (quoted) throw invalidInput(`the feature set's SQL reads a quoted file name after ${quoted[1]!.toUpperCase()}; name the dataset under inputs and select from it`);
}

function tabularFiles(resolved: ResolvedDatasetVersion, what: string): { path: string; digest: string; format: "csv" | "parquet" }[] {
  const files = (resolved.file ? [resolved.file] : resolved.files).filter((f) => f.format === "csv" || f.format === "parquet");
  const formats = new Set(files.map((f) => f.format));
  if (files.length === 0 || formats.size > 1) {
    throw invalidInput(`${what} (${resolved.ref}) has ${files.length === 0 ? "no CSV or Parquet file" : "both CSV and Parquet files"}; name one file (datasets:/${resolved.dataset}@${resolved.version}/<path>) or a version of one format`);
  }
  return files.map((f) => ({ path: f.path, digest: f.digest.replace(/^sha256:/, ""), format: f.format as "csv" | "parquet" }));
}

function source(files: { path: string; format: "csv" | "parquet" }[], locals: string[]): string {
  const list = `[${locals.map(literal).join(", ")}]`;
  if (files[0]!.format === "parquet") return `read_parquet(${list})`;
  return `read_csv(${list}, header = true${files.every((f) => f.path.endsWith(".gz")) ? ", compression = 'gzip'" : ""})`;
}

async function describe(connection: DuckDBConnection, sql: string, what: string): Promise<string[]> {
  const reader = await connection.runAndReadAll(`DESCRIBE ${sql}`).catch((error: unknown) => {
    throw duckError(error, what);
  });
  return reader.getRowObjectsJson().map((r) => String(r.column_name));
}

async function sqlRun(connection: DuckDBConnection, sql: string, what: string): Promise<void> {
  await connection.run(sql).catch((error: unknown) => {
    throw duckError(error, what);
  });
}

function duckError(error: unknown, what: string): Error {
  if (isPlatformError(error)) return error;
  const line = ((error instanceof Error ? error.message : String(error)).split("\n")[0] ?? "").replace(/'\/[^']*'/g, "'…'").slice(0, 300);
  if (/Out of Memory/i.test(line)) return new PlatformError("UNAVAILABLE", `${what} ran out of DuckDB's memory (${line}); an operator can raise datasets.duckdb.memoryLimitMiB`);
  return invalidInput(`${what} failed in DuckDB: ${line}; fix the SQL or the columns it names`);
}

function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

function missing(name: string): PlatformError {
  return notFound(`feature set '${name.slice(0, 130)}' does not exist; list feature sets with \`paved features ls\``, { name });
}

function toView(row: FeatureSetRow): FeatureSetView {
  const spec = JSON.parse(row.spec) as Omit<FeatureSetSpec, "team">;
  return {
    name: row.name,
    team: row.team_id,
    version: Number(row.version),
    description: spec.description ?? null,
    entityKey: spec.entityKey,
    timestamp: spec.timestamp,
    sql: spec.sql,
    inputs: spec.inputs,
    pinned: JSON.parse(row.pinned) as FeatureSetView["pinned"],
    createdBy: row.created_by,
    createdAt: Number(row.created_at),
  };
}
