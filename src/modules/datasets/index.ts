// Datasets: team-owned, versioned data. A version is immutable and content-addressed (a digest
// over its files, which are blobs in the artifact store); CSV and Parquet files get a schema, row
// count, statistics and a preview from one bounded DuckDB instance confined to the platform's folders.
// Other modules (evaluation, compute, batch inference, pipelines, connectors) use DatasetService:
// `resolve` to read a `datasets:/<name>@<version|alias>` ref, `putFile`/`putBlob` and
// `createVersion` to write one.
import { join } from "node:path";
import type { RouteDefinition } from "../../core/index.ts";
import type { PlatformDeps } from "../platform-deps.ts";
import { DatasetAnalyzer } from "./analyzer.ts";
import { datasetRoutes } from "./routes.ts";
import { DatasetService } from "./service.ts";
import { DatasetStore } from "./store.ts";

export { DatasetService, formatOf, versionDigest, type CreateVersionInput, type ResolvedDatasetVersion, type VersionFileInput } from "./service.ts";
export { DatasetAnalyzer, type AnalyzerOptions, type TabularFile } from "./analyzer.ts";
export { parseDatasetRef, formatDatasetRef, parseVersionRef, type DatasetRef } from "./reference.ts";
export * from "./schema.ts";
export { assertSingleSelect } from "./connectors/select-check.ts";

export interface DatasetsModule {
  /**
   * The datasets service.
   * - `resolve(team, "datasets:/churn@prod")` → the version (number, digest) and its files (path, digest, size, format, rowCount).
   * - `putFile(team, localFile, { createdBy })` / `putBlob(team, stream, ...)` → a blob held to the team's storage quota.
   * - `createVersion({ team, name, files, source?, lineage?, createdBy })` → the new version (or the existing one with the same digest, `existing: true`).
   * - `findByDigest(team, "sha256:…")` → the team's version with that digest, if any (to link an MLflow `log_input` dataset to it).
   */
  service: DatasetService;
  routes: RouteDefinition[];
  /** Closes the DuckDB instance. */
  close(): Promise<void>;
}

export function createDatasetsModule(deps: PlatformDeps): DatasetsModule {
  const settings = deps.config.datasets;
  const base = join(deps.config.dataDir, "datasets");
  const scratchDir = join(base, "scratch");
  const analyzer = new DatasetAnalyzer({
    threads: settings.duckdb.threads,
    memoryLimitMiB: settings.duckdb.memoryLimitMiB,
    maxConcurrent: settings.duckdb.maxConcurrent,
    allowedDirectories: [...(deps.artifacts.localRoot ? [deps.artifacts.localRoot] : []), scratchDir],
    tempDirectory: join(base, "duckdb-tmp"),
    previewRows: settings.previewRows,
    maxStatisticsColumns: settings.maxStatisticsColumns,
    maxCellChars: settings.maxCellChars,
  });
  const service = new DatasetService({
    store: new DatasetStore(deps.database.db),
    db: deps.database.db,
    artifacts: deps.artifacts,
    analyzer,
    clock: deps.clock,
    ids: deps.ids,
    logger: deps.logger.child({ module: "datasets" }),
    ...(deps.storageQuota ? { storageQuota: deps.storageQuota } : {}),
    scratchDir,
    limits: { maxFileBytes: settings.maxFileBytes },
  });
  return { service, routes: datasetRoutes(service), close: () => analyzer.close() };
}
