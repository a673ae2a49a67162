import type { Kysely, Migration } from "kysely";

/**
 * Evaluation gates: per-model gate policies, stored evaluations (one row each, per-check results
 * as JSON) and admin overrides of the production gate. Models are keyed by their internal id so
 * a rename keeps its policy and history.
 */
export function evaluationsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("gate_policies")
        .addColumn("model_id", "text", (c) => c.primaryKey())
        .addColumn("policy", "text", (c) => c.notNull())
        .addColumn("policy_version", "text", (c) => c.notNull())
        .addColumn("updated_by", "text", (c) => c.notNull())
        .addColumn("updated_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("evaluations")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("model_id", "text", (c) => c.notNull())
        .addColumn("model_name", "text", (c) => c.notNull())
        .addColumn("version", "integer", (c) => c.notNull())
        .addColumn("policy_version", "text", (c) => c.notNull())
        .addColumn("data_path", "text", (c) => c.notNull())
        .addColumn("data_digest", "text", (c) => c.notNull())
        .addColumn("reference_path", "text")
        .addColumn("passed", "integer", (c) => c.notNull())
        .addColumn("checks", "text", (c) => c.notNull())
        .addColumn("user_id", "text", (c) => c.notNull())
        .addColumn("started_at", "bigint", (c) => c.notNull())
        .addColumn("finished_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("evaluations_model_version").on("evaluations").columns(["model_id", "version"]).execute();
      await db.schema
        .createTable("evaluation_overrides")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("model_id", "text", (c) => c.notNull())
        .addColumn("model_name", "text", (c) => c.notNull())
        .addColumn("version", "integer", (c) => c.notNull())
        .addColumn("alias", "text", (c) => c.notNull())
        .addColumn("policy_version", "text", (c) => c.notNull())
        .addColumn("user_id", "text", (c) => c.notNull())
        .addColumn("reason", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("evaluation_overrides_model").on("evaluation_overrides").columns(["model_id", "version"]).execute();
    },
  };
}
