import type { Kysely, Migration } from "kysely";

/** Each table's change time that the live change feed (src/modules/events) reads every second. */
const INDEXES: [name: string, table: string, column: string][] = [
  ["jobs_updated_at", "jobs", "updated_at"],
  ["deployments_updated_at", "deployments", "updated_at"],
  ["workspaces_updated_at", "workspaces", "updated_at"],
  ["pipelines_updated_at", "pipelines", "updated_at"],
  ["pipeline_runs_updated_at", "pipeline_runs", "updated_at"],
  ["pipeline_steps_updated_at", "pipeline_steps", "updated_at"],
  ["registered_models_last_update", "registered_models", "last_update_time"],
  ["model_versions_last_update", "model_versions", "last_update_time"],
  // runs.start_time has its index (021); the feed also asks which runs ended or were deleted.
  ["runs_end_time", "runs", "end_time"],
  ["runs_deleted_time", "runs", "deleted_time"],
  ["evaluations_created_at", "evaluations", "created_at"],
  ["evaluations_started_at", "evaluations", "started_at"],
  ["evaluations_finished_at", "evaluations", "finished_at"],
];

/**
 * Indexes on the change times the live change feed polls (`updated_at > cursor` once a second per
 * topic while anyone follows it): without them each poll scans its whole table, which at a year's
 * runs and jobs is most of the database.
 */
export function changeTimesMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      for (const [name, table, column] of INDEXES) await db.schema.createIndex(name).ifNotExists().on(table).column(column).execute();
    },
    async down(db: Kysely<unknown>) {
      for (const [name] of INDEXES) await db.schema.dropIndex(name).ifExists().execute();
    },
  };
}
