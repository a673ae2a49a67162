import { sql, type Kysely, type Migration } from "kysely";

/**
 * Sweeps (issue 13, item 5). `sweeps` holds each sweep's spec (search space, method, objective,
 * trial template), who created it (to submit its trials as them), its phase and best trial.
 * `sweep_trials` holds one row per trial, keyed by (sweep, index): its parameters and the id of its
 * job, chosen before the job is submitted, so a restart finds a trial's job instead of submitting
 * a second one. `rungs` is ASHA's record of the trial's metric at each rung. `sweep_events` is a
 * sweep's history, as `job_events` is a job's.
 */
export function sweepsMigration(dialect: "sqlite" | "postgres"): Migration {
  const serial = dialect === "postgres" ? "bigserial primary key" : "integer primary key autoincrement";
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("sweeps")
        .addColumn("sweep_id", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("team_id", "text", (c) => c.notNull())
        .addColumn("owner", "text", (c) => c.notNull())
        // JSON: the principal that created it (its trials are submitted as them).
        .addColumn("principal", "text", (c) => c.notNull())
        // JSON SweepSpec, resolved (seed and trial count fixed at creation).
        .addColumn("spec", "text", (c) => c.notNull())
        .addColumn("phase", "text", (c) => c.notNull())
        .addColumn("experiment_id", "text", (c) => c.notNull())
        .addColumn("parent_run_id", "text")
        .addColumn("trials_target", "integer", (c) => c.notNull())
        .addColumn("best_trial", "integer")
        .addColumn("best_value", "double precision")
        .addColumn("message", "text")
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("updated_at", "bigint", (c) => c.notNull())
        .addColumn("finished_at", "bigint")
        .execute();
      await db.schema.createIndex("sweeps_team").on("sweeps").columns(["team_id", "created_at"]).execute();
      await db.schema.createIndex("sweeps_phase").on("sweeps").column("phase").execute();
      await db.schema
        .createTable("sweep_trials")
        .addColumn("sweep_id", "text", (c) => c.notNull())
        .addColumn("trial_index", "integer", (c) => c.notNull())
        .addColumn("params", "text", (c) => c.notNull())
        .addColumn("job_id", "text", (c) => c.notNull())
        .addColumn("run_id", "text")
        .addColumn("phase", "text", (c) => c.notNull())
        .addColumn("objective", "double precision")
        .addColumn("objective_step", "bigint")
        // JSON list of { rung, resource, value } ASHA recorded for it.
        .addColumn("rungs", "text", (c) => c.notNull().defaultTo("[]"))
        .addColumn("message", "text")
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("updated_at", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("sweep_trials_pk", ["sweep_id", "trial_index"])
        .execute();
      await db.schema.createIndex("sweep_trials_job").on("sweep_trials").column("job_id").unique().execute();
      await sql`create table sweep_events (
        id ${sql.raw(serial)},
        sweep_id text not null,
        time bigint not null,
        type text not null,
        message text not null
      )`.execute(db);
      await db.schema.createIndex("sweep_events_sweep").on("sweep_events").columns(["sweep_id", "id"]).execute();
    },
  };
}
