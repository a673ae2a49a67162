import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { copyFile, link, mkdir, mkdtemp, rm } from "node:fs/promises";
import type { DuckDBConnection } from "@duckdb/node-api";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Kysely } from "kysely";
import type { ArtifactStore } from "../../artifacts/index.ts";
import { PlatformError, alreadyExists, confinePath, decodeNumberToken, decodePositionToken, encodeNumberToken, encodePositionToken, invalidInput, isPlatformError, notFound, type Clock, type IdGenerator, type Logger, type Principal, type ResourceRef, cutPage } from "../../core/index.ts";
import { teamForNew, visibleTeams } from "../identity/index.ts";
import type { StorageQuota } from "../platform-deps.ts";
import type { Tables } from "../../storage/index.ts";
import type { DatasetAnalyzer, TabularFile } from "./analyzer.ts";
import { diffVersions } from "./diff.ts";
import { formatDatasetRef, parseDatasetRef, parseVersionRef, type DatasetRef } from "./reference.ts";
import {
  DATASET_NAME,
  DIGEST,
  LATEST,
  MAX_FILES,
  type ColumnView,
  type DatasetDiff,
  type DatasetFileView,
  type DatasetLineage,
  type DatasetSource,
  type DatasetVersionView,
  type DatasetView,
  type FileAnalysis,
  type FileFormat,
  type PreviewView,
  aliasSchema,
  lineageSchema,
  sourceSchema,
} from "./schema.ts";
import type { DatasetRow, DatasetStore, FileRow, VersionRow } from "./store.ts";

export interface DatasetServiceDeps {
  store: DatasetStore;
  db: Kysely<Tables>;
  artifacts: ArtifactStore;
  analyzer: DatasetAnalyzer;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  storageQuota?: StorageQuota;
  /** Where blobs of stores without local files are copied to be read (under dataDir). */
  scratchDir: string;
  limits: { maxFileBytes: number };
}

/** One file of a version being created: a blob already in the artifact store. */
export interface VersionFileInput {
  /** Its path inside the version (relative, no `..`), e.g. `train/part-0.parquet`. */
  path: string;
  /** The blob's SHA-256 (64 hex digits; `sha256:` prefix accepted). */
  digest: string;
  /** The blob's size in bytes. */
  size: number;
}

/** What {@link DatasetService.createVersion} takes. */
export interface CreateVersionInput {
  /** The team the dataset belongs to (one created by this call goes there; one that exists must be this team's). */
  team: string;
  name: string;
  files: VersionFileInput[];
  description?: string | undefined;
  /** Where the data came from: a connector's description, never its credentials. */
  source?: DatasetSource | undefined;
  /** What produced it: `{ kind: "run" | "prediction" | "pipeline" | "deployment" | "upload", id, ... }`. */
  lineage?: DatasetLineage | undefined;
  /** Points this alias at the version. */
  alias?: string | undefined;
  /** The user or service recorded as its creator. */
  createdBy: string;
}

/** A resolved dataset version: what jobs, evaluations, pipelines and batch inference read. */
export interface ResolvedDatasetVersion {
  dataset: string;
  team: string;
  version: number;
  /** `datasets:/<name>@<version>` (the number, never the alias it was asked by). */
  ref: string;
  /** `sha256:<hex>` over its files. */
  digest: string;
  files: { path: string; digest: string; size: number; format: FileFormat; rowCount: number | null }[];
  /** The one file the ref named (`datasets:/x@3/train.csv`), when it named one. */
  file?: { path: string; digest: string; size: number; format: FileFormat; rowCount: number | null };
}

/**
 * Team-owned datasets with immutable, content-addressed versions. A version's digest is the
 * SHA-256 over its files' sorted `<path>\0<blob sha256>\n` lines; creating a version with the
 * digest of an existing one returns that one. CSV and Parquet files are analysed by DuckDB when
 * the version is created (a file that fails is refused, and nothing is created).
 */
export class DatasetService {
  /** Scratch copies a crash left behind are removed once, before the first new one. */
  private readonly scratchCleared: Promise<void>;

  constructor(private readonly deps: DatasetServiceDeps) {
    this.scratchCleared = rm(deps.scratchDir, { recursive: true, force: true }).catch(() => undefined);
  }

  // ---- policy ----

  /** A dataset as the policy sees it; one of another team answers as a missing one. */
  async resource(name: string): Promise<ResourceRef> {
    const row = await this.datasetRow(name);
    return { kind: "dataset", id: row.name, team: row.team_id, notFound: () => missingDataset(name) };
  }

  /** What creating `name` (or a version of it) touches: the dataset if it exists, else the team it would go to. */
  async creationResource(name: string, team: string | undefined, principal: Principal): Promise<ResourceRef> {
    const existing = await this.deps.store.byName(name);
    if (existing) {
      if (!sees(principal, existing.team_id)) throw nameTaken(name);
      if (team !== undefined && team !== existing.team_id) throw invalidInput(`dataset ${name} belongs to team ${existing.team_id}, not ${team}; drop --team or choose another name`);
      return { kind: "dataset", id: name, team: existing.team_id, notFound: () => missingDataset(name) };
    }
    return { kind: "dataset", id: name, team: await teamForNew(this.deps.db, principal, team) };
  }

  /** The team an upload goes to: the one named, else the caller's only team where it may write. */
  async uploadResource(team: string | undefined, principal: Principal): Promise<ResourceRef> {
    return { kind: "dataset", id: "(upload)", team: await teamForNew(this.deps.db, principal, team) };
  }

  // ---- datasets ----

  async createDataset(input: { name: string; team: string; description?: string | undefined }, createdBy: string): Promise<DatasetView> {
    const name = checkName(input.name);
    if (await this.deps.store.byName(name)) throw alreadyExists(`dataset ${name} already exists; add a version with \`paved datasets create ${name} <files>\` or choose another name`);
    const now = this.deps.clock.now();
    try {
      await this.deps.store.insertDataset({ dataset_id: this.deps.ids.prefixed("ds"), team_id: input.team, name, description: input.description ?? null, created_by: createdBy, created_at: now, updated_at: now });
    } catch (error) {
      if (await this.deps.store.byName(name)) throw alreadyExists(`dataset ${name} already exists; choose another name`);
      throw error;
    }
    return this.getDataset(name);
  }

  async getDataset(name: string): Promise<DatasetView> {
    const row = await this.datasetRow(name);
    return (await this.views([row]))[0]!;
  }

  /**
   * One page of the datasets the reader may see (every team's without a reader), most recently
   * changed first; `nextPageToken` is set when more remain. A page ends at its last row's (updated
   * time, name), so a dataset that gets a new version between pages moves to the first page (it is
   * not repeated, and it is not on later pages); every other dataset is listed once.
   */
  async list(opts: { limit: number; pageToken?: string | undefined }, reader?: Principal): Promise<{ datasets: DatasetView[]; nextPageToken?: string }> {
    const teams = reader ? visibleTeams(reader, "datasets:read") : undefined;
    const after = opts.pageToken === undefined ? undefined : decodePositionToken(opts.pageToken);
    const rows = await this.deps.store.list({ limit: opts.limit + 1, teams, ...(after ? { after: { updatedAt: after.createdAt, name: after.id } } : {}) });
    const { page, nextPageToken } = cutPage(rows, opts.limit, (last) => encodePositionToken({ createdAt: Number(last.updated_at), id: last.name }));
    return { datasets: await this.views(page), ...(nextPageToken ? { nextPageToken } : {}) };
  }

  private async views(rows: DatasetRow[]): Promise<DatasetView[]> {
    const ids = rows.map((r) => r.dataset_id);
    const counts = await this.deps.store.versionCounts(ids);
    const aliases = await this.deps.store.aliases(ids);
    return rows.map((r) => ({
      name: r.name,
      team: r.team_id,
      description: r.description,
      createdBy: r.created_by,
      createdAt: Number(r.created_at),
      updatedAt: Number(r.updated_at),
      latestVersion: counts.get(r.dataset_id)?.latest ?? null,
      versionCount: counts.get(r.dataset_id)?.count ?? 0,
      aliases: Object.fromEntries(aliases.filter((a) => a.dataset_id === r.dataset_id).map((a) => [a.alias, Number(a.version)])),
    }));
  }

  // ---- blobs ----

  /**
   * Stores bytes for the team's datasets (bounded by datasets.maxFileBytes and `maxBytes`), held
   * to the team's storage quota; answers the blob's digest and size. Bytes the team stored before
   * count once.
   */
  async putBlob(team: string, body: Readable | Buffer, opts: { createdBy: string; what?: string; sizeHint?: number; maxBytes?: number }): Promise<{ digest: string; size: number }> {
    const what = opts.what ?? "a dataset file";
    await this.deps.storageQuota?.(team, opts.sizeHint ?? 0, what);
    const limit = Math.min(this.deps.limits.maxFileBytes, opts.maxBytes ?? Infinity);
    let blob: { digest: string; size: number };
    try {
      blob = await this.deps.artifacts.put(body, { maxBytes: limit });
    } catch (error) {
      if (isPlatformError(error) && error.code === "PAYLOAD_TOO_LARGE") {
        throw new PlatformError("PAYLOAD_TOO_LARGE", `${what} is larger than the ${limit}-byte limit; split it into several files of one version (or an operator raises datasets.maxFileBytes)`, { limit });
      }
      throw error;
    }
    const known = await this.deps.store.teamBlobs(team, [blob.digest]);
    if (!known.has(blob.digest)) {
      await this.deps.storageQuota?.(team, blob.size, what);
      await this.deps.store.recordBlobs([{ team_id: team, digest: blob.digest, size: blob.size, created_by: opts.createdBy, created_at: this.deps.clock.now() }]);
    }
    return blob;
  }

  /** Stores a local file (one a connector or a job wrote) for the team's datasets; see {@link putBlob}. */
  async putFile(team: string, file: string, opts: { createdBy: string; what?: string }): Promise<{ digest: string; size: number }> {
    return this.putBlob(team, createReadStream(file), opts);
  }

  // ---- versions ----

  /**
   * Creates a version from uploaded blobs (POST /api/v1/datasets/:name/versions): each digest must
   * be one the dataset's team uploaded (NOT_FOUND otherwise), so nobody reads another team's
   * bytes by naming their digest.
   */
  async createVersionFromUploads(input: Omit<CreateVersionInput, "files"> & { files: { path: string; digest: string }[] }): Promise<DatasetVersionView> {
    const sizes = await this.deps.store.teamBlobs(input.team, input.files.map((f) => f.digest));
    const files = input.files.map((f) => {
      const size = sizes.get(f.digest);
      if (size === undefined) {
        throw notFound(`file ${f.path}: blob sha256:${f.digest} was not uploaded to team ${input.team}; upload its bytes first (POST /api/v1/dataset-uploads?team=${input.team}, or \`paved datasets create ${input.name} <file>\`)`, { path: f.path, digest: f.digest });
      }
      return { path: f.path, digest: f.digest, size };
    });
    return this.createVersion({ ...input, files, lineage: input.lineage ?? { kind: "upload", id: input.createdBy } });
  }

  /**
   * Creates the next version of `name` (and the dataset, in `team`, when it does not exist) from
   * blobs already in the artifact store. CSV and Parquet files are analysed (schema, row count,
   * statistics, preview); a ragged CSV or a `.parquet` that is not Parquet is refused
   * (INVALID_INPUT naming the file and, for CSV, the line) and nothing is created. When a version
   * of the dataset has the same digest, that version is returned with `existing: true`.
   * @example
   * const blob = await datasets.putFile("risk", "/tmp/out/predictions.parquet", { createdBy: "job:123" });
   * await datasets.createVersion({ team: "risk", name: "churn-scores", files: [{ path: "predictions.parquet", ...blob }],
   *   lineage: { kind: "prediction", id: "pred-42", model: "churn@3" }, createdBy: "ada" });
   */
  async createVersion(input: CreateVersionInput): Promise<DatasetVersionView> {
    const name = checkName(input.name);
    const files = checkFiles(input.files);
    const source = input.source === undefined ? null : sourceSchema.parse(input.source);
    const lineage = input.lineage === undefined ? null : lineageSchema.parse(input.lineage);
    const alias = input.alias === undefined ? undefined : checkAlias(input.alias);
    let dataset = await this.deps.store.byName(name);
    if (dataset && dataset.team_id !== input.team) throw nameTaken(name);
    const digest = versionDigest(files);
    if (dataset) {
      const existing = await this.deps.store.versionByDigest(dataset.dataset_id, digest);
      if (existing) return this.existingVersion(dataset, existing, alias, input.createdBy);
    }
    // Blobs the team has not stored before: they must be in the store, and fit its quota.
    const known = await this.deps.store.teamBlobs(input.team, files.map((f) => f.digest));
    const fresh = new Map<string, number>();
    for (const f of files) if (!known.has(f.digest)) fresh.set(f.digest, f.size);
    for (const d of fresh.keys()) {
      if (!(await this.deps.artifacts.has(d))) throw notFound(`blob sha256:${d} is not in the artifact store; store the file first (DatasetService.putFile)`, { digest: d });
    }
    const freshBytes = [...fresh.values()].reduce((a, b) => a + b, 0);
    if (fresh.size > 0) await this.deps.storageQuota?.(input.team, freshBytes, `dataset ${name}'s new files`);
    // Analysis before anything is written: a file that fails refuses the whole version.
    const analysed: Omit<FileRow, "dataset_id" | "version">[] = [];
    for (const f of files) {
      const format = formatOf(f.path);
      const analysis = format === "other" ? undefined : await this.analysis(f, format);
      analysed.push({ path: f.path, digest: f.digest, size: f.size, format, row_count: analysis?.rowCount ?? null, analysis: analysis ? JSON.stringify(analysis) : null });
    }
    const now = this.deps.clock.now();
    if (fresh.size > 0) await this.deps.store.recordBlobs([...fresh].map(([d, size]) => ({ team_id: input.team, digest: d, size, created_by: input.createdBy, created_at: now })));
    if (!dataset) {
      try {
        await this.deps.store.insertDataset({ dataset_id: this.deps.ids.prefixed("ds"), team_id: input.team, name, description: input.description ?? null, created_by: input.createdBy, created_at: now, updated_at: now });
      } catch (error) {
        // Created meanwhile by another request: fine if it is this team's.
        if (!(await this.deps.store.byName(name))) throw error;
      }
      dataset = (await this.deps.store.byName(name))!;
      if (dataset.team_id !== input.team) throw nameTaken(name);
    }
    const tabular = analysed.filter((f) => f.row_count !== null);
    const row: Omit<VersionRow, "version"> = {
      dataset_id: dataset.dataset_id,
      digest,
      file_count: files.length,
      total_bytes: files.reduce((n, f) => n + f.size, 0),
      row_count: tabular.length ? tabular.reduce((n, f) => n + Number(f.row_count), 0) : null,
      description: input.description ?? null,
      source: source ? JSON.stringify(source) : null,
      lineage: lineage ? JSON.stringify(lineage) : null,
      created_by: input.createdBy,
      created_at: now,
    };
    const version = await this.deps.store.insertVersion(row, analysed, alias ? { alias, by: input.createdBy } : undefined);
    if (version === undefined) {
      // Lost a race: the same files were inserted meanwhile (answer that version), or the number was taken (try once more).
      const winner = await this.deps.store.versionByDigest(dataset.dataset_id, digest);
      if (winner) return this.existingVersion(dataset, winner, alias, input.createdBy);
      const again = await this.deps.store.insertVersion(row, analysed, alias ? { alias, by: input.createdBy } : undefined);
      if (again === undefined) throw new PlatformError("CONFLICT", `dataset ${name} got another version at the same moment; try again`);
      return this.versionView(dataset, (await this.deps.store.version(dataset.dataset_id, again))!, true, false);
    }
    this.deps.logger.info({ dataset: name, version, team: input.team, files: files.length, digest }, "dataset version created");
    return this.versionView(dataset, (await this.deps.store.version(dataset.dataset_id, version))!, true, false);
  }

  private async existingVersion(dataset: DatasetRow, existing: VersionRow, alias: string | undefined, by: string): Promise<DatasetVersionView> {
    if (alias) await this.deps.store.setAlias({ dataset_id: dataset.dataset_id, alias, version: Number(existing.version), updated_by: by, updated_at: this.deps.clock.now() });
    return this.versionView(dataset, existing, true, true);
  }

  /** The analysis of one file: one computed before for the same bytes, or DuckDB's now. */
  private async analysis(file: { path: string; digest: string }, format: "csv" | "parquet"): Promise<FileAnalysis> {
    const known = await this.deps.store.knownAnalysis(file.digest, format);
    if (known) return JSON.parse(known.analysis) as FileAnalysis;
    return this.withLocalFile(file, async (local) => this.deps.analyzer.analyze({ file: local, path: file.path, format, gzip: file.path.endsWith(".gz") }));
  }

  /** Runs `work` on the blob as a local file: in place on a local store, else a scratch copy (removed after). */
  private async withLocalFile<T>(file: { path: string; digest: string }, work: (local: string) => Promise<T>): Promise<T> {
    const inPlace = await this.deps.artifacts.localPath?.(file.digest);
    if (inPlace) return work(inPlace);
    await this.scratchCleared;
    await mkdir(this.deps.scratchDir, { recursive: true });
    const scratch = join(this.deps.scratchDir, `${file.digest.slice(0, 16)}-${randomBytes(6).toString("hex")}`);
    try {
      await pipeline(await this.deps.artifacts.get(file.digest), createWriteStream(scratch));
      return await work(scratch);
    } finally {
      await rm(scratch, { force: true });
    }
  }

  /**
   * Runs `work` (SQL a user wrote: feature sets) on a DuckDB instance of its own that may read only
   * `files` and write only `outDir`: each file is linked (or, across file systems, copied) into a
   * folder made for this call, the only folder that instance may touch, removed after. So the SQL
   * reads no other blob of the artifact store, whatever path it names.
   */
  async withDuckDB<T>(files: { path: string; digest: string }[], work: (connection: DuckDBConnection, locals: string[], outDir: string) => Promise<T>): Promise<T> {
    await this.scratchCleared;
    await mkdir(this.deps.scratchDir, { recursive: true });
    const dir = await mkdtemp(join(this.deps.scratchDir, "sql-"));
    try {
      const locals: string[] = [];
      for (const [i, file] of files.entries()) {
        const target = join(dir, `input-${i}${extensionOf(file.path)}`);
        await this.withLocalFile(file, async (local) => {
          await link(local, target).catch(() => copyFile(local, target));
        });
        locals.push(target);
      }
      const outDir = join(dir, "out");
      await mkdir(outDir);
      return await this.deps.analyzer.withConfinedDuckDB(dir, (connection) => work(connection, locals, outDir));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Versions of a dataset, newest first (the first page of {@link versionsPage}). */
  async versions(name: string, limit = 100): Promise<DatasetVersionView[]> {
    return (await this.versionsPage(name, { limit })).versions;
  }

  /**
   * One page of a dataset's versions, newest first; `nextPageToken` is set when older ones remain.
   * Versions never change, and new ones are higher, so a later page holds exactly the older ones.
   */
  async versionsPage(name: string, opts: { limit: number; pageToken?: string | undefined }): Promise<{ versions: DatasetVersionView[]; nextPageToken?: string }> {
    const before = opts.pageToken === undefined ? undefined : decodeNumberToken(opts.pageToken);
    const dataset = await this.datasetRow(name);
    const rows = await this.deps.store.versions(dataset.dataset_id, opts.limit + 1, before);
    const { page, nextPageToken } = cutPage(rows, opts.limit, (last) => encodeNumberToken(Number(last.version)));
    const aliases = await this.deps.store.aliases([dataset.dataset_id]);
    return {
      versions: page.map((r) => toVersionView(dataset, r, aliases.filter((a) => Number(a.version) === Number(r.version)).map((a) => a.alias))),
      ...(nextPageToken ? { nextPageToken } : {}),
    };
  }

  /** One version with its files, their schemas and statistics. */
  async getVersion(name: string, versionRef: string | number): Promise<DatasetVersionView> {
    const dataset = await this.datasetRow(name);
    return this.versionView(dataset, await this.versionRow(dataset, versionRef), true);
  }

  private async versionView(dataset: DatasetRow, row: VersionRow, withFiles: boolean, existing?: boolean): Promise<DatasetVersionView> {
    const aliases = (await this.deps.store.aliases([dataset.dataset_id])).filter((a) => Number(a.version) === Number(row.version)).map((a) => a.alias);
    const view = toVersionView(dataset, row, aliases);
    if (withFiles) view.files = (await this.deps.store.files(dataset.dataset_id, Number(row.version))).map(toFileView);
    if (existing !== undefined) view.existing = existing;
    return view;
  }

  /**
   * Resolves `datasets:/<name>@<version|alias>[/<path>]` (or a parsed ref) for `team`: the
   * version with its files. A dataset of another team, a version or alias that does not exist, a
   * path not in the version: NOT_FOUND, saying how to list what exists.
   */
  async resolve(team: string, ref: string | DatasetRef): Promise<ResolvedDatasetVersion> {
    const parsed = typeof ref === "string" ? parseDatasetRef(ref) : ref;
    const dataset = await this.deps.store.byName(parsed.name);
    if (!dataset || dataset.team_id !== team) throw missingDataset(parsed.name);
    const row = await this.versionRow(dataset, parsed.version);
    const files = (await this.deps.store.files(dataset.dataset_id, Number(row.version))).map((f) => ({
      path: f.path,
      digest: f.digest,
      size: Number(f.size),
      format: f.format as FileFormat,
      rowCount: f.row_count === null ? null : Number(f.row_count),
    }));
    const resolved: ResolvedDatasetVersion = { dataset: dataset.name, team, version: Number(row.version), ref: formatDatasetRef(dataset.name, Number(row.version)), digest: `sha256:${row.digest}`, files };
    if (parsed.path !== undefined) {
      const file = files.find((f) => f.path === parsed.path);
      if (!file) throw notFound(`${resolved.ref} has no file ${parsed.path}; list its files with \`paved datasets show ${dataset.name}@${row.version}\``, { path: parsed.path });
      resolved.file = file;
    }
    return resolved;
  }

  /**
   * The team's dataset version with this digest (`sha256:<hex>` or the hex), for linking what
   * names data by digest (an MLflow `log_input` dataset whose digest is a Paved version's) to the
   * version; undefined when none has it. When several datasets hold the same files, the oldest.
   */
  async findByDigest(team: string, digest: string): Promise<ResolvedDatasetVersion | undefined> {
    const hex = digest.startsWith("sha256:") ? digest.slice(7) : digest;
    if (!DIGEST.test(hex)) return undefined;
    const row = (await this.deps.store.teamVersionsByDigest(team, hex))[0];
    return row ? this.resolve(team, { name: row.name, version: Number(row.version) }) : undefined;
  }

  /** The first rows of a CSV or Parquet file of a version (the first such file by path, unless `path` names one). */
  async preview(name: string, versionRef: string, opts: { rows: number; path?: string | undefined }): Promise<PreviewView> {
    const dataset = await this.datasetRow(name);
    const row = await this.versionRow(dataset, versionRef);
    const files = await this.deps.store.files(dataset.dataset_id, Number(row.version));
    const ref = formatDatasetRef(dataset.name, Number(row.version));
    const file = opts.path === undefined ? files.find((f) => f.format !== "other") : files.find((f) => f.path === confinePath(opts.path!, "path"));
    if (!file) {
      throw opts.path === undefined
        ? invalidInput(`${ref} has no CSV or Parquet file to preview; its files are listed by \`paved datasets show ${name}@${row.version}\``)
        : notFound(`${ref} has no file ${opts.path}; list its files with \`paved datasets show ${name}@${row.version}\``);
    }
    if (file.format === "other") throw invalidInput(`${file.path} is neither CSV nor Parquet, so it has no preview; preview a .csv or .parquet file of ${ref}`);
    const stored = file.analysis ? (JSON.parse(file.analysis) as FileAnalysis).preview : undefined;
    const preview =
      stored && (stored.rows.length >= opts.rows || stored.rows.length >= Number(file.row_count ?? 0))
        ? { columns: stored.columns, rows: stored.rows.slice(0, opts.rows) }
        : await this.withLocalFile(file, async (local) => this.deps.analyzer.preview(localInput(local, file), opts.rows));
    return { dataset: dataset.name, version: Number(row.version), path: file.path, ...preview };
  }

  /** What changed from one version to another: files, schemas, row counts, statistics. */
  async diff(name: string, fromRef: string, toRef: string): Promise<DatasetDiff> {
    const dataset = await this.datasetRow(name);
    const from = await this.versionRow(dataset, fromRef);
    const to = await this.versionRow(dataset, toRef);
    const [fromFiles, toFiles] = await Promise.all([this.deps.store.files(dataset.dataset_id, Number(from.version)), this.deps.store.files(dataset.dataset_id, Number(to.version))]);
    return diffVersions(dataset.name, { row: from, files: fromFiles }, { row: to, files: toFiles });
  }

  // ---- aliases ----

  async setAlias(name: string, alias: string, versionRef: string | number, by: string): Promise<{ dataset: string; alias: string; version: number }> {
    const checked = checkAlias(alias);
    const dataset = await this.datasetRow(name);
    const row = await this.versionRow(dataset, versionRef);
    await this.deps.store.setAlias({ dataset_id: dataset.dataset_id, alias: checked, version: Number(row.version), updated_by: by, updated_at: this.deps.clock.now() });
    return { dataset: dataset.name, alias: checked, version: Number(row.version) };
  }

  async removeAlias(name: string, alias: string): Promise<{ dataset: string; alias: string; version: null }> {
    const dataset = await this.datasetRow(name);
    if (!(await this.deps.store.removeAlias(dataset.dataset_id, alias))) {
      throw notFound(`dataset ${name} has no alias ${alias}; its aliases are listed by \`paved datasets show ${name}\``);
    }
    return { dataset: dataset.name, alias, version: null };
  }

  // ---- lookups ----

  private async datasetRow(name: string): Promise<DatasetRow> {
    const row = DATASET_NAME.test(name) ? await this.deps.store.byName(name) : undefined;
    if (!row) throw missingDataset(name);
    return row;
  }

  private async versionRow(dataset: DatasetRow, ref: string | number): Promise<VersionRow> {
    const parsed = parseVersionRef(ref);
    let number: number | undefined;
    if (typeof parsed === "number") number = parsed;
    else if (parsed === LATEST) number = await this.deps.store.latestVersion(dataset.dataset_id);
    else number = await this.deps.store.alias(dataset.dataset_id, parsed);
    const row = number === undefined ? undefined : await this.deps.store.version(dataset.dataset_id, number);
    if (!row) {
      const what = typeof parsed === "number" ? `version ${parsed}` : parsed === LATEST ? "any version" : `alias ${parsed}`;
      throw notFound(`dataset ${dataset.name} has no ${what}; list its versions and aliases with \`paved datasets versions ${dataset.name}\``, { dataset: dataset.name, version: String(ref) });
    }
    return row;
  }
}

/**
 * The digest of a version: SHA-256 over its files sorted by path (UTF-16 code unit order, as
 * JavaScript sorts), one `<path>\0<blob sha256 hex>\n` line each.
 */
export function versionDigest(files: readonly { path: string; digest: string }[]): string {
  const hash = createHash("sha256");
  for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) hash.update(`${f.path}\0${f.digest}\n`);
  return hash.digest("hex");
}

/** The format a file's name says: .csv, .tsv (optionally .gz) → csv; .parquet, .pq → parquet; others are kept as they are. */
export function formatOf(path: string): FileFormat {
  const lower = path.toLowerCase();
  if (/\.(csv|tsv)(\.gz)?$/.test(lower)) return "csv";
  if (/\.(parquet|pq)$/.test(lower)) return "parquet";
  return "other";
}

function localInput(local: string, file: FileRow): TabularFile {
  return { file: local, path: file.path, format: file.format as "csv" | "parquet", gzip: file.path.endsWith(".gz") };
}

function checkName(name: string): string {
  if (typeof name !== "string" || !DATASET_NAME.test(name)) {
    throw invalidInput(`dataset name '${String(name).slice(0, 130)}' is not allowed; use lower-case letters, digits, '.', '_' and '-', starting and ending with a letter or digit, at most 128 (e.g. churn-2024)`);
  }
  return name;
}

function checkAlias(alias: string): string {
  const result = aliasSchema.safeParse(alias);
  if (!result.success) throw invalidInput(`alias '${String(alias).slice(0, 70)}' is not allowed; ${result.error.issues[0]?.message ?? "use a lower-case word like prod"}`);
  return result.data;
}

function checkFiles(files: readonly VersionFileInput[]): VersionFileInput[] {
  if (files.length === 0) throw invalidInput("a dataset version needs at least one file");
  if (files.length > MAX_FILES) throw invalidInput(`a dataset version holds at most ${MAX_FILES} files (got ${files.length}); pack small files together (e.g. into Parquet)`);
  const seen = new Set<string>();
  return files.map((f) => {
    const path = confinePath(f.path, "dataset file path");
    const digest = f.digest.startsWith("sha256:") ? f.digest.slice(7) : f.digest;
    if (!DIGEST.test(digest)) throw invalidInput(`file ${path}: '${f.digest.slice(0, 80)}' is not a sha256 digest (64 hex digits)`);
    if (!Number.isSafeInteger(f.size) || f.size < 0) throw invalidInput(`file ${path}: size must be a whole number of bytes`);
    if (seen.has(path)) throw invalidInput(`file ${path} is given twice; each path appears once in a version`);
    seen.add(path);
    return { path, digest, size: f.size };
  });
}

function sees(principal: Principal, team: string): boolean {
  return principal.platformAdmin || principal.teams[team] !== undefined || (principal.kind === "job" && principal.team === team);
}

function missingDataset(name: string): PlatformError {
  return notFound(`dataset '${name.slice(0, 130)}' does not exist; list datasets with \`paved datasets ls\``, { dataset: name });
}

function nameTaken(name: string): PlatformError {
  return alreadyExists(`the dataset name ${name} is taken; choose another name`);
}

function toVersionView(dataset: DatasetRow, row: VersionRow, aliases: string[]): DatasetVersionView {
  return {
    dataset: dataset.name,
    team: dataset.team_id,
    version: Number(row.version),
    ref: formatDatasetRef(dataset.name, Number(row.version)),
    digest: `sha256:${row.digest}`,
    fileCount: Number(row.file_count),
    totalBytes: Number(row.total_bytes),
    rowCount: row.row_count === null ? null : Number(row.row_count),
    description: row.description,
    source: row.source ? (JSON.parse(row.source) as DatasetSource) : null,
    lineage: row.lineage ? (JSON.parse(row.lineage) as Record<string, unknown>) : null,
    aliases,
    createdBy: row.created_by,
    createdAt: Number(row.created_at),
  };
}

function toFileView(f: FileRow): DatasetFileView {
  const analysis = f.analysis ? (JSON.parse(f.analysis) as FileAnalysis) : undefined;
  const view: DatasetFileView = { path: f.path, digest: `sha256:${f.digest}`, size: Number(f.size), format: f.format as FileFormat, rowCount: f.row_count === null ? null : Number(f.row_count) };
  if (analysis) view.columns = analysis.columns as ColumnView[];
  return view;
}

/** A file's extension as DuckDB's readers know it (`.csv`, `.csv.gz`, `.parquet`), or none. */
function extensionOf(path: string): string {
  const match = /(\.[a-z0-9]{1,8}(\.gz)?)$/i.exec(path.slice(-24));
  return match ? match[1]!.toLowerCase() : "";
}
