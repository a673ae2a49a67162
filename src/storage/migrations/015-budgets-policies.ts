import type { Kysely, Migration } from "kysely";

/**
 * Budgets, costs and policies (issue 8, items 5 and 6). `budgets` holds a team's monthly amount
 * and its thresholds; `budget_events` one row per threshold crossed per team and month (its key
 * makes a crossing act and notify once, whichever server sees it first) with the webhook's
 * delivery state, so retries survive a restart. `serving_usage` is what serving's replicas and
 * requests added up to, per month and deployment (serving keeps its counters in memory; the meter
 * writes them here). `guardrail_policies` keeps every version of the platform's and each team's
 * policy document, with who set it and when.
 */
export function budgetsPoliciesMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("budgets")
        .addColumn("team_id", "text", (c) => c.primaryKey())
        .addColumn("amount", "real", (c) => c.notNull())
        // JSON [{at, action}], at in percent of the amount.
        .addColumn("thresholds", "text", (c) => c.notNull())
        .addColumn("webhook_url", "text")
        .addColumn("updated_by", "text", (c) => c.notNull())
        .addColumn("updated_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("budget_events")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("team_id", "text", (c) => c.notNull())
        // The UTC month, 2026-12.
        .addColumn("month", "text", (c) => c.notNull())
        .addColumn("at", "real", (c) => c.notNull())
        .addColumn("action", "text", (c) => c.notNull())
        .addColumn("amount", "real", (c) => c.notNull())
        .addColumn("spend", "real", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        // When the action was carried out (stop: the team's work was stopped); null until then.
        .addColumn("acted_at", "bigint")
        // The webhook: none, pending, delivered or failed (gave up after the last attempt).
        .addColumn("delivery", "text", (c) => c.notNull())
        .addColumn("webhook_url", "text")
        .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("next_attempt_at", "bigint")
        .addColumn("delivered_at", "bigint")
        .addColumn("last_error", "text")
        .addUniqueConstraint("budget_events_once", ["team_id", "month", "at"])
        .execute();
      await db.schema.createIndex("budget_events_delivery").on("budget_events").columns(["delivery", "next_attempt_at"]).execute();
      await db.schema
        .createTable("serving_usage")
        .addColumn("month", "text", (c) => c.notNull())
        .addColumn("team_id", "text", (c) => c.notNull())
        .addColumn("model_name", "text", (c) => c.notNull())
        .addColumn("environment", "text", (c) => c.notNull())
        // The deployment serving (model, environment) when the usage was metered; '' for a version loaded by hand.
        .addColumn("deployment_id", "text", (c) => c.notNull())
        // Replica-milliseconds: replicas × time loaded.
        .addColumn("replica_ms", "real", (c) => c.notNull())
        .addColumn("requests", "bigint", (c) => c.notNull())
        .addColumn("updated_at", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("serving_usage_pk", ["month", "team_id", "model_name", "environment", "deployment_id"])
        .execute();
      await db.schema
        .createTable("guardrail_policies")
        // `platform`, or `team:<name>`.
        .addColumn("scope", "text", (c) => c.notNull())
        .addColumn("version", "integer", (c) => c.notNull())
        // The YAML as it was sent, and its parsed rules (JSON).
        .addColumn("document", "text", (c) => c.notNull())
        .addColumn("rules", "text", (c) => c.notNull())
        .addColumn("created_by", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("guardrail_policies_pk", ["scope", "version"])
        .execute();
    },
  };
}
