import type { Kysely, Migration } from "kysely";

/**
 * Schema for the model registry (registered models, versions, aliases, copied files) and for
 * MLflow 3's logged models. Versions own their files as (path → blob digest) rows, so deleting
 * the run they came from never breaks them.
 */
export function registryMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("registered_models")
        .addColumn("model_id", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull().unique())
        .addColumn("description", "text")
        .addColumn("user_id", "text", (c) => c.notNull())
        .addColumn("max_version", "integer", (c) => c.notNull())
        .addColumn("creation_time", "bigint", (c) => c.notNull())
        .addColumn("last_update_time", "bigint", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("registered_model_tags")
        .addColumn("model_id", "text", (c) => c.notNull())
        .addColumn("key", "text", (c) => c.notNull())
        .addColumn("value", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("registered_model_tags_pk", ["model_id", "key"])
        .execute();
      await db.schema
        .createTable("registered_model_aliases")
        .addColumn("model_id", "text", (c) => c.notNull())
        .addColumn("alias", "text", (c) => c.notNull())
        .addColumn("version", "integer", (c) => c.notNull())
        .addPrimaryKeyConstraint("registered_model_aliases_pk", ["model_id", "alias"])
        .execute();
      await db.schema
        .createTable("model_versions")
        .addColumn("model_id", "text", (c) => c.notNull())
        .addColumn("version", "integer", (c) => c.notNull())
        .addColumn("source", "text", (c) => c.notNull())
        .addColumn("run_id", "text")
        .addColumn("logged_model_id", "text")
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("current_stage", "text", (c) => c.notNull())
        .addColumn("description", "text")
        .addColumn("user_id", "text", (c) => c.notNull())
        .addColumn("signature", "text")
        .addColumn("lineage", "text")
        .addColumn("creation_time", "bigint", (c) => c.notNull())
        .addColumn("last_update_time", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("model_versions_pk", ["model_id", "version"])
        .execute();
      await db.schema.createIndex("model_versions_run").on("model_versions").column("run_id").execute();
      await db.schema
        .createTable("model_version_tags")
        .addColumn("model_id", "text", (c) => c.notNull())
        .addColumn("version", "integer", (c) => c.notNull())
        .addColumn("key", "text", (c) => c.notNull())
        .addColumn("value", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("model_version_tags_pk", ["model_id", "version", "key"])
        .execute();
      await db.schema
        .createTable("model_version_files")
        .addColumn("model_id", "text", (c) => c.notNull())
        .addColumn("version", "integer", (c) => c.notNull())
        .addColumn("path", "text", (c) => c.notNull())
        .addColumn("digest", "text", (c) => c.notNull())
        .addColumn("size", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("model_version_files_pk", ["model_id", "version", "path"])
        .execute();
      await db.schema
        .createTable("logged_models")
        .addColumn("model_id", "text", (c) => c.primaryKey())
        .addColumn("experiment_id", "text", (c) => c.notNull())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("artifact_location", "text", (c) => c.notNull())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("status_message", "text")
        .addColumn("model_type", "text")
        .addColumn("source_run_id", "text")
        .addColumn("user_id", "text", (c) => c.notNull())
        .addColumn("creation_time", "bigint", (c) => c.notNull())
        .addColumn("last_update_time", "bigint", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("logged_models_experiment").on("logged_models").columns(["experiment_id", "creation_time"]).execute();
      for (const table of ["logged_model_tags", "logged_model_params"]) {
        await db.schema
          .createTable(table)
          .addColumn("model_id", "text", (c) => c.notNull())
          .addColumn("key", "text", (c) => c.notNull())
          .addColumn("value", "text", (c) => c.notNull())
          .addPrimaryKeyConstraint(`${table}_pk`, ["model_id", "key"])
          .execute();
      }
      await db.schema
        .createTable("logged_model_artifacts")
        .addColumn("model_id", "text", (c) => c.notNull())
        .addColumn("path", "text", (c) => c.notNull())
        .addColumn("digest", "text", (c) => c.notNull())
        .addColumn("size", "bigint", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("logged_model_artifacts_pk", ["model_id", "path"])
        .execute();
      await db.schema
        .createTable("run_outputs")
        .addColumn("run_id", "text", (c) => c.notNull())
        .addColumn("model_id", "text", (c) => c.notNull())
        .addColumn("step", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("run_outputs_pk", ["run_id", "model_id"])
        .execute();
    },
  };
}
