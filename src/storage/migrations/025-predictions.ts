import type { Kysely, Migration } from "kysely";

/**
 * Batch predictions (issue 10, item 5). `batch_predictions` holds each prediction's spec (model
 * version, input dataset version, output dataset, columns kept) and its status: the phase, rows
 * done and in all, the output dataset version, the figures and the reason it failed. `attempts`
 * counts starts: a prediction running when the server stopped is started again from the beginning.
 */
export function predictionsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("batch_predictions")
        .addColumn("prediction_id", "text", (c) => c.primaryKey())
        .addColumn("team_id", "text", (c) => c.notNull())
        .addColumn("model_name", "text", (c) => c.notNull())
        .addColumn("model_version", "integer", (c) => c.notNull())
        // The input as resolved at creation: datasets:/<name>@<number>[/<path>].
        .addColumn("input", "text", (c) => c.notNull())
        .addColumn("output_dataset", "text", (c) => c.notNull())
        // JSON PredictionSpec, resolved (version and input numbers fixed at creation).
        .addColumn("spec", "text", (c) => c.notNull())
        .addColumn("phase", "text", (c) => c.notNull())
        .addColumn("rows_done", "bigint", (c) => c.notNull())
        .addColumn("rows_total", "bigint")
        .addColumn("output_version", "integer")
        .addColumn("seconds", "double precision")
        .addColumn("rows_per_second", "double precision")
        .addColumn("message", "text")
        .addColumn("attempts", "integer", (c) => c.notNull())
        .addColumn("created_by", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("started_at", "bigint")
        .addColumn("finished_at", "bigint")
        .addColumn("updated_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("batch_predictions_team").on("batch_predictions").columns(["team_id", "created_at"]).execute();
      await db.schema.createIndex("batch_predictions_phase").on("batch_predictions").columns(["phase", "created_at"]).execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable("batch_predictions").execute();
    },
  };
}
