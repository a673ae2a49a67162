import { sql, type Kysely, type Migration } from "kysely";

/**
 * runs/search at scale (issue 15, item 2): each latest metric value carries its run's experiment
 * (a run never changes experiment), indexed by (experiment_id, key, value, run_id). A search
 * ordered by a metric walks that index in order and stops once its page is full, instead of
 * sorting every run of the experiment; run_id makes the walk read the index alone (it covers the
 * driving table). Existing rows are backfilled from `runs`; a row whose run is gone gets ''.
 */
export function searchIndexMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await sql`alter table latest_metrics add column experiment_id text not null default ''`.execute(db);
      await sql`update latest_metrics set experiment_id = coalesce((select r.experiment_id from runs r where r.run_id = latest_metrics.run_id), '')`.execute(db);
      await db.schema.createIndex("latest_metrics_search").ifNotExists().on("latest_metrics").columns(["experiment_id", "key", "value", "run_id"]).execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropIndex("latest_metrics_search").ifExists().execute();
      await sql`alter table latest_metrics drop column experiment_id`.execute(db);
    },
  };
}
