import type { Kysely, Migration } from "kysely";

/**
 * Garbage collection of deleted runs (issue 15, item 4). A collected run leaves a tombstone, so
 * that `runs/get`, `runs/restore` and logging to it answer that it was collected and when, rather
 * than that it never existed. `gc_blobs` holds the blobs a committed collection let go of, until
 * the pass after the commit has removed them from the artifact store (or found them referenced):
 * a crash between the two leaves rows here, which the next pass finishes, never dangling rows.
 */
export function runCollectionMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("run_tombstones")
        .addColumn("run_id", "text", (c) => c.primaryKey())
        .addColumn("experiment_id", "text", (c) => c.notNull())
        .addColumn("team_id", "text", (c) => c.notNull())
        .addColumn("run_name", "text", (c) => c.notNull())
        .addColumn("deleted_time", "bigint", (c) => c.notNull())
        .addColumn("collected_at", "bigint", (c) => c.notNull())
        // What the collection removed: metric bytes (chunks) plus the bytes of the artifact rows.
        .addColumn("bytes_freed", "bigint", (c) => c.notNull())
        .addColumn("metric_points", "bigint", (c) => c.notNull())
        .addColumn("artifact_files", "bigint", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("run_tombstones_team").on("run_tombstones").columns(["team_id", "collected_at"]).execute();
      await db.schema
        .createTable("gc_blobs")
        .addColumn("digest", "text", (c) => c.primaryKey())
        .addColumn("size", "bigint", (c) => c.notNull())
        .addColumn("team_id", "text", (c) => c.notNull())
        .addColumn("queued_at", "bigint", (c) => c.notNull())
        .execute();
      // GC looks up every reference to a digest; these tables had no index on it (dataset_files has one, 023).
      await db.schema.createIndex("artifacts_digest").ifNotExists().on("artifacts").column("digest").execute();
      await db.schema.createIndex("model_version_files_digest").ifNotExists().on("model_version_files").column("digest").execute();
      await db.schema.createIndex("logged_model_artifacts_digest").ifNotExists().on("logged_model_artifacts").column("digest").execute();
      await db.schema.createIndex("dataset_blobs_digest").ifNotExists().on("dataset_blobs").column("digest").execute();
      await db.schema.createIndex("evaluation_uploads_digest").ifNotExists().on("evaluation_uploads").column("digest").execute();
      await db.schema.createIndex("runs_deleted_stage").ifNotExists().on("runs").columns(["lifecycle_stage", "deleted_time"]).execute();
    },
    async down(db: Kysely<unknown>) {
      for (const index of ["artifacts_digest", "model_version_files_digest", "logged_model_artifacts_digest", "dataset_blobs_digest", "evaluation_uploads_digest", "runs_deleted_stage"]) {
        await db.schema.dropIndex(index).ifExists().execute();
      }
      await db.schema.dropTable("gc_blobs").execute();
      await db.schema.dropTable("run_tombstones").execute();
    },
  };
}
