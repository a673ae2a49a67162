import type { Kysely, Migration } from "kysely";

/** Deployments: one row per rollout of a model version to an environment, spec and status as JSON. */
export function deploymentsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("deployments")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("model_name", "text", (c) => c.notNull())
        .addColumn("environment", "text", (c) => c.notNull())
        .addColumn("spec", "text", (c) => c.notNull())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("phase", "text", (c) => c.notNull())
        .addColumn("paused", "integer", (c) => c.notNull())
        .addColumn("requested", "text")
        .addColumn("created_by", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("updated_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("deployments_model").on("deployments").columns(["model_name", "created_at"]).execute();
    },
  };
}
