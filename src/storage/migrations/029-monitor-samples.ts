import type { Kysely, Migration } from "kysely";

/**
 * Sampled live traffic kept per monitor window (issue 12, item 5): for a monitor with
 * `keepSamples`, each judged window's sampled rows (inputs and prediction scores, at most 4,000) are
 * stored as a CSV blob in the artifact store (held to the team's storage quota) and named here, so
 * `paved monitors dataset` can turn a range of windows into a dataset version to retrain on. Kept as
 * long as the windows (30 days).
 */
export function monitorSamplesMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("monitor_samples")
        .addColumn("monitor_id", "text", (c) => c.notNull())
        .addColumn("window_start", "bigint", (c) => c.notNull())
        .addColumn("window_end", "bigint", (c) => c.notNull())
        .addColumn("digest", "text", (c) => c.notNull())
        .addColumn("size", "bigint", (c) => c.notNull())
        .addColumn("rows", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("monitor_samples_pk", ["monitor_id", "window_start"])
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable("monitor_samples").execute();
    },
  };
}
