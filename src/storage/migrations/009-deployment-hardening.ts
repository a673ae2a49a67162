import type { Kysely, Migration } from "kysely";

/**
 * Deployments per environment, and forced promotions: an index to find the newest deployment of
 * each (model, environment) without reading every row, and the table of promotions that went ahead
 * against a failing or missing analysis (who, when, why, the verdict overridden).
 */
export function deploymentHardeningMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.createIndex("deployments_target").on("deployments").columns(["model_name", "environment", "created_at"]).execute();
      await db.schema
        .createTable("deployment_overrides")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("deployment_id", "text", (c) => c.notNull())
        .addColumn("model_name", "text", (c) => c.notNull())
        .addColumn("environment", "text", (c) => c.notNull())
        .addColumn("version", "text", (c) => c.notNull())
        .addColumn("action", "text", (c) => c.notNull())
        .addColumn("verdict", "text", (c) => c.notNull())
        .addColumn("verdict_reason", "text", (c) => c.notNull())
        .addColumn("user_id", "text", (c) => c.notNull())
        .addColumn("reason", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("deployment_overrides_deployment").on("deployment_overrides").columns(["deployment_id", "created_at"]).execute();
    },
  };
}
