import type { Kysely, Migration } from "kysely";

/**
 * Outcomes reported for A/B deployments: one row per (routing key, value), with the variant it was
 * routed to; an outcome reported with an id is stored once however often it is sent.
 */
export function deploymentOutcomesMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("deployment_outcomes")
        .addColumn("deployment_id", "text", (c) => c.notNull())
        .addColumn("version", "text", (c) => c.notNull())
        .addColumn("route_key", "text", (c) => c.notNull())
        .addColumn("value", "double precision", (c) => c.notNull())
        .addColumn("outcome_id", "text")
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("deployment_outcomes_id").on("deployment_outcomes").columns(["deployment_id", "outcome_id"]).unique().execute();
      await db.schema.createIndex("deployment_outcomes_deployment").on("deployment_outcomes").columns(["deployment_id", "version"]).execute();
    },
  };
}
