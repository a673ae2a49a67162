import type { Kysely, Migration } from "kysely";

/**
 * Datasets (issue 10, item 1). `datasets` holds a team's named dataset (names are unique across
 * the platform, as registered models' are). `dataset_versions` holds its immutable versions 1, 2,
 * 3…, each with the digest over its files (unique per dataset: the same files make the same
 * version), where it came from (`source`, a connector's description without secrets) and what made
 * it (`lineage`). `dataset_files` holds each version's files: the blob's digest and size, its format
 * and, for CSV and Parquet, the analysis DuckDB computed (schema, row count, per-column statistics,
 * a bounded preview) as JSON. `dataset_aliases` names versions. `dataset_blobs` records which blobs
 * a team stored for its datasets, once each: the storage quota counts them, and a version may only
 * name blobs of its own team.
 */
export function datasetsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("datasets")
        .addColumn("dataset_id", "text", (c) => c.primaryKey())
        .addColumn("team_id", "text", (c) => c.notNull())
        .addColumn("name", "text", (c) => c.notNull().unique())
        .addColumn("description", "text")
        .addColumn("created_by", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("updated_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("datasets_team").on("datasets").column("team_id").execute();
      await db.schema
        .createTable("dataset_versions")
        .addColumn("dataset_id", "text", (c) => c.notNull())
        .addColumn("version", "integer", (c) => c.notNull())
        .addColumn("digest", "text", (c) => c.notNull())
        .addColumn("file_count", "integer", (c) => c.notNull())
        .addColumn("total_bytes", "bigint", (c) => c.notNull())
        // Rows of its CSV and Parquet files together; null when it has none.
        .addColumn("row_count", "bigint")
        .addColumn("description", "text")
        // JSON { kind, description } or null.
        .addColumn("source", "text")
        // JSON { kind, id, ... } or null.
        .addColumn("lineage", "text")
        .addColumn("created_by", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("dataset_versions_pk", ["dataset_id", "version"])
        .execute();
      await db.schema.createIndex("dataset_versions_digest").on("dataset_versions").columns(["dataset_id", "digest"]).unique().execute();
      await db.schema
        .createTable("dataset_files")
        .addColumn("dataset_id", "text", (c) => c.notNull())
        .addColumn("version", "integer", (c) => c.notNull())
        .addColumn("path", "text", (c) => c.notNull())
        .addColumn("digest", "text", (c) => c.notNull())
        .addColumn("size", "bigint", (c) => c.notNull())
        // csv, parquet or other.
        .addColumn("format", "text", (c) => c.notNull())
        .addColumn("row_count", "bigint")
        // JSON FileAnalysis (columns with statistics, preview) for csv and parquet; null for other files.
        .addColumn("analysis", "text")
        .addPrimaryKeyConstraint("dataset_files_pk", ["dataset_id", "version", "path"])
        .execute();
      await db.schema.createIndex("dataset_files_digest").on("dataset_files").columns(["digest", "format"]).execute();
      await db.schema
        .createTable("dataset_aliases")
        .addColumn("dataset_id", "text", (c) => c.notNull())
        .addColumn("alias", "text", (c) => c.notNull())
        .addColumn("version", "integer", (c) => c.notNull())
        .addColumn("updated_by", "text", (c) => c.notNull())
        .addColumn("updated_at", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("dataset_aliases_pk", ["dataset_id", "alias"])
        .execute();
      await db.schema
        .createTable("dataset_blobs")
        .addColumn("team_id", "text", (c) => c.notNull())
        .addColumn("digest", "text", (c) => c.notNull())
        .addColumn("size", "bigint", (c) => c.notNull())
        .addColumn("created_by", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("dataset_blobs_pk", ["team_id", "digest"])
        .execute();
    },
  };
}
