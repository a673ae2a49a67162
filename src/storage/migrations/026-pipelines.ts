import { sql, type Kysely, type Migration } from "kysely";

/**
 * Pipelines (issue 10, item 3). `pipelines` holds each applied pipeline (its spec, bumped to a new
 * version when applied changed). `pipeline_runs` holds a run: the plan it started with, its
 * parameters, who started it (its steps act as them) and its phase. `pipeline_steps` holds one row
 * per step instance of a run: its phase, attempt, the key it was started under (chosen and stored
 * before it starts, so a restart adopts its job instead of submitting another), its resolved body,
 * cache key and outputs. `pipeline_events` is a run's history.
 */
export function pipelinesMigration(dialect: "sqlite" | "postgres"): Migration {
  const serial = dialect === "postgres" ? "bigserial primary key" : "integer primary key autoincrement";
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("pipelines")
        .addColumn("pipeline_id", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull().unique())
        .addColumn("team_id", "text", (c) => c.notNull())
        .addColumn("description", "text")
        .addColumn("spec", "text", (c) => c.notNull())
        .addColumn("version", "integer", (c) => c.notNull())
        .addColumn("created_by", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("updated_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("pipelines_team").on("pipelines").columns(["team_id", "name"]).execute();
      await db.schema
        .createTable("pipeline_runs")
        .addColumn("run_id", "text", (c) => c.primaryKey())
        .addColumn("pipeline_id", "text", (c) => c.notNull())
        .addColumn("pipeline_name", "text", (c) => c.notNull())
        .addColumn("pipeline_version", "integer", (c) => c.notNull())
        .addColumn("team_id", "text", (c) => c.notNull())
        .addColumn("owner", "text", (c) => c.notNull())
        .addColumn("principal", "text", (c) => c.notNull())
        .addColumn("params", "text", (c) => c.notNull())
        .addColumn("phase", "text", (c) => c.notNull())
        .addColumn("message", "text")
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("updated_at", "bigint", (c) => c.notNull())
        .addColumn("finished_at", "bigint")
        .execute();
      await db.schema.createIndex("pipeline_runs_pipeline").on("pipeline_runs").columns(["pipeline_id", "created_at"]).execute();
      await db.schema.createIndex("pipeline_runs_phase").on("pipeline_runs").column("phase").execute();
      await db.schema
        .createTable("pipeline_steps")
        .addColumn("run_id", "text", (c) => c.notNull())
        .addColumn("step_key", "text", (c) => c.notNull())
        .addColumn("pipeline_id", "text", (c) => c.notNull())
        .addColumn("position", "integer", (c) => c.notNull())
        .addColumn("step_name", "text", (c) => c.notNull())
        .addColumn("kind", "text", (c) => c.notNull())
        // JSON: the planned step (kind body with references, dependencies, retries, timeout, cache).
        .addColumn("plan", "text", (c) => c.notNull())
        // JSON fan-out item; null for a step without forEach.
        .addColumn("item", "text")
        .addColumn("phase", "text", (c) => c.notNull())
        .addColumn("attempt", "integer", (c) => c.notNull())
        .addColumn("start_key", "text")
        .addColumn("handle", "text")
        // JSON: the body with its references resolved, stored before it starts.
        .addColumn("body", "text")
        .addColumn("cache_key", "text")
        .addColumn("cached_from_run", "text")
        .addColumn("cached_from_step", "text")
        .addColumn("outputs", "text")
        .addColumn("message", "text")
        .addColumn("started_at", "bigint")
        .addColumn("deadline_at", "bigint")
        .addColumn("finished_at", "bigint")
        .addColumn("updated_at", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("pipeline_steps_pk", ["run_id", "step_key"])
        .execute();
      await db.schema.createIndex("pipeline_steps_cache").on("pipeline_steps").columns(["pipeline_id", "cache_key"]).execute();
      await sql`create table pipeline_events (
        id ${sql.raw(serial)},
        run_id text not null,
        time bigint not null,
        type text not null,
        message text not null
      )`.execute(db);
      await db.schema.createIndex("pipeline_events_run").on("pipeline_events").columns(["run_id", "id"]).execute();
    },
  };
}
