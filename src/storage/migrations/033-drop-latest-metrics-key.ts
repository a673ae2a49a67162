import type { Kysely, Migration } from "kysely";

/**
 * `latest_metrics_key (key, value)` (001) served a filter on a metric across every run; since 031
 * every search names its experiments and `latest_metrics_search (experiment_id, key, value,
 * run_id)` serves the same walks within them. The old index was only a second B-tree to update on
 * every latest value a batch moves, and PostgreSQL's planner could pick it over the search index
 * on small or fresh statistics (a walk of every experiment's values, filtered).
 */
export function dropLatestMetricsKeyMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.dropIndex("latest_metrics_key").ifExists().execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.createIndex("latest_metrics_key").ifNotExists().on("latest_metrics").columns(["key", "value"]).execute();
    },
  };
}
