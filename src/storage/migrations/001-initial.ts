import type { Kysely } from "kysely";
import { sql } from "kysely";
import type { Migration } from "kysely";

/** Schema for tracking, compute and auth. Written in SQL both SQLite and PostgreSQL accept. */
export function initialMigration(dialect: "sqlite" | "postgres"): Migration {
  const serial = dialect === "postgres" ? "bigserial primary key" : "integer primary key autoincrement";
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("api_tokens")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("token_hash", "text", (c) => c.notNull().unique())
        .addColumn("role", "text", (c) => c.notNull())
        .addColumn("job_id", "text")
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("expires_at", "bigint")
        .execute();
      await db.schema
        .createTable("experiments")
        .addColumn("experiment_id", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull().unique())
        .addColumn("artifact_location", "text", (c) => c.notNull())
        .addColumn("lifecycle_stage", "text", (c) => c.notNull())
        .addColumn("creation_time", "bigint", (c) => c.notNull())
        .addColumn("last_update_time", "bigint", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("experiment_tags")
        .addColumn("experiment_id", "text", (c) => c.notNull())
        .addColumn("key", "text", (c) => c.notNull())
        .addColumn("value", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("experiment_tags_pk", ["experiment_id", "key"])
        .execute();
      await db.schema
        .createTable("runs")
        .addColumn("run_id", "text", (c) => c.primaryKey())
        .addColumn("experiment_id", "text", (c) => c.notNull())
        .addColumn("run_name", "text", (c) => c.notNull())
        .addColumn("user_id", "text", (c) => c.notNull())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("start_time", "bigint", (c) => c.notNull())
        .addColumn("end_time", "bigint")
        .addColumn("lifecycle_stage", "text", (c) => c.notNull())
        .addColumn("artifact_uri", "text", (c) => c.notNull())
        .addColumn("source_commit", "text")
        .addColumn("source_dirty", "integer")
        .addColumn("source_entrypoint", "text")
        .addColumn("job_id", "text")
        .addColumn("deleted_time", "bigint")
        .execute();
      await db.schema.createIndex("runs_experiment").on("runs").columns(["experiment_id", "start_time"]).execute();
      for (const table of ["params", "tags"]) {
        await db.schema
          .createTable(table)
          .addColumn("run_id", "text", (c) => c.notNull())
          .addColumn("key", "text", (c) => c.notNull())
          .addColumn("value", "text", (c) => c.notNull())
          .addPrimaryKeyConstraint(`${table}_pk`, ["run_id", "key"])
          .execute();
      }
      await sql`create table metrics (
        id ${sql.raw(serial)},
        run_id text not null,
        key text not null,
        value double precision,
        timestamp bigint not null,
        step bigint not null,
        is_nan integer not null
      )`.execute(db);
      await db.schema.createIndex("metrics_history").on("metrics").columns(["run_id", "key", "step"]).execute();
      await db.schema
        .createTable("latest_metrics")
        .addColumn("run_id", "text", (c) => c.notNull())
        .addColumn("key", "text", (c) => c.notNull())
        .addColumn("value", "double precision")
        .addColumn("timestamp", "bigint", (c) => c.notNull())
        .addColumn("step", "bigint", (c) => c.notNull())
        .addColumn("is_nan", "integer", (c) => c.notNull())
        .addPrimaryKeyConstraint("latest_metrics_pk", ["run_id", "key"])
        .execute();
      await db.schema.createIndex("latest_metrics_key").on("latest_metrics").columns(["key", "value"]).execute();
      await db.schema
        .createTable("dataset_inputs")
        .addColumn("run_id", "text", (c) => c.notNull())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("digest", "text", (c) => c.notNull())
        .addColumn("source_type", "text", (c) => c.notNull())
        .addColumn("source", "text", (c) => c.notNull())
        .addColumn("schema", "text")
        .addColumn("profile", "text")
        .addColumn("context", "text")
        .addPrimaryKeyConstraint("dataset_inputs_pk", ["run_id", "name", "digest"])
        .execute();
      await db.schema
        .createTable("artifacts")
        .addColumn("run_id", "text", (c) => c.notNull())
        .addColumn("path", "text", (c) => c.notNull())
        .addColumn("digest", "text", (c) => c.notNull())
        .addColumn("size", "bigint", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("artifacts_pk", ["run_id", "path"])
        .execute();
      await db.schema
        .createTable("jobs")
        .addColumn("job_id", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("spec", "text", (c) => c.notNull())
        .addColumn("phase", "text", (c) => c.notNull())
        .addColumn("priority", "integer", (c) => c.notNull())
        .addColumn("owner", "text", (c) => c.notNull())
        .addColumn("request", "text", (c) => c.notNull())
        .addColumn("experiment_id", "text", (c) => c.notNull())
        .addColumn("run_id", "text")
        .addColumn("attempt", "integer", (c) => c.notNull())
        .addColumn("allocation", "text")
        .addColumn("handle", "text")
        .addColumn("pending", "text")
        .addColumn("pid", "integer")
        .addColumn("pid_start", "text")
        .addColumn("exit_code", "integer")
        .addColumn("message", "text")
        .addColumn("cancel_requested_at", "bigint")
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("started_at", "bigint")
        .addColumn("attempt_started_at", "bigint")
        .addColumn("finished_at", "bigint")
        .addColumn("updated_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("jobs_phase").on("jobs").columns(["phase", "priority", "created_at"]).execute();
      await sql`create table job_events (
        id ${sql.raw(serial)},
        job_id text not null,
        time bigint not null,
        type text not null,
        message text not null
      )`.execute(db);
      await db.schema.createIndex("job_events_job").on("job_events").columns(["job_id", "id"]).execute();
    },
  };
}
