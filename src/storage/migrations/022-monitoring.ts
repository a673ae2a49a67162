import { sql, type Kysely, type Migration } from "kysely";

/**
 * Model monitors and alerts (issue 12, items 1 and 2). `monitors` holds one monitor per deployed
 * version and environment: its spec (window, thresholds beyond the gate policy's), the evaluation
 * whose data is its reference, and the prediction baseline (scores of its first full window).
 * `monitor_windows` keeps every closed window's figures and breaches (the history `paved monitors
 * windows` reads). `alert_receivers` are a team's webhooks; `alert_rules` say which signal fires
 * at which severity, to which receivers, and whether it pauses a rollout; `alerts` are the
 * firing and resolved instances, one per rule and fingerprint while firing, with what was sent.
 */
export function monitoringMigration(dialect: "sqlite" | "postgres"): Migration {
  const serial = dialect === "postgres" ? "bigserial primary key" : "integer primary key autoincrement";
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("monitors")
        .addColumn("monitor_id", "text", (c) => c.primaryKey())
        .addColumn("team_id", "text", (c) => c.notNull())
        .addColumn("model_id", "text", (c) => c.notNull())
        .addColumn("model_name", "text", (c) => c.notNull())
        .addColumn("version", "integer", (c) => c.notNull())
        .addColumn("environment", "text", (c) => c.notNull())
        // JSON MonitorSpec (window and the thresholds the gate policy does not give).
        .addColumn("spec", "text", (c) => c.notNull())
        .addColumn("evaluation_id", "text", (c) => c.notNull())
        // JSON: the reference's URI and kind, the features in the model's order.
        .addColumn("basis", "text", (c) => c.notNull())
        // JSON number[]: the first full window's prediction scores, which later windows are compared with.
        .addColumn("prediction_baseline", "text")
        .addColumn("created_by", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("window_start", "bigint", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("monitors_target").on("monitors").columns(["model_id", "version", "environment"]).unique().execute();
      await db.schema.createIndex("monitors_team").on("monitors").column("team_id").execute();
      await sql`create table monitor_windows (
        id ${sql.raw(serial)},
        monitor_id text not null,
        window_start bigint not null,
        window_end bigint not null,
        status text not null,
        requests bigint not null,
        errors bigint not null,
        rows_seen bigint not null,
        rows_kept bigint not null,
        rows_dropped bigint not null,
        figures text not null,
        breaches text not null
      )`.execute(db);
      await db.schema.createIndex("monitor_windows_monitor").on("monitor_windows").columns(["monitor_id", "window_start"]).unique().execute();
      await db.schema
        .createTable("alert_receivers")
        .addColumn("receiver_id", "text", (c) => c.primaryKey())
        .addColumn("team_id", "text", (c) => c.notNull())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("url", "text", (c) => c.notNull())
        .addColumn("format", "text", (c) => c.notNull())
        .addColumn("created_by", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("alert_receivers_name").on("alert_receivers").columns(["team_id", "name"]).unique().execute();
      await db.schema
        .createTable("alert_rules")
        .addColumn("rule_id", "text", (c) => c.primaryKey())
        .addColumn("team_id", "text", (c) => c.notNull())
        .addColumn("name", "text", (c) => c.notNull())
        // JSON AlertRuleSpec.
        .addColumn("spec", "text", (c) => c.notNull())
        .addColumn("created_by", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("alert_rules_name").on("alert_rules").columns(["team_id", "name"]).unique().execute();
      await db.schema
        .createTable("alerts")
        .addColumn("alert_id", "text", (c) => c.primaryKey())
        .addColumn("rule_id", "text", (c) => c.notNull())
        .addColumn("team_id", "text", (c) => c.notNull())
        .addColumn("fingerprint", "text", (c) => c.notNull())
        .addColumn("severity", "text", (c) => c.notNull())
        // JSON labels and annotations (Alertmanager's shape).
        .addColumn("labels", "text", (c) => c.notNull())
        .addColumn("annotations", "text", (c) => c.notNull())
        .addColumn("state", "text", (c) => c.notNull())
        .addColumn("started_at", "bigint", (c) => c.notNull())
        .addColumn("resolved_at", "bigint")
        // JSON: per receiver, the state last delivered and the attempts since.
        .addColumn("deliveries", "text", (c) => c.notNull())
        .addColumn("paused_deployment", "text")
        // 1 while a receiver has yet to get the alert's state (and tries remain).
        .addColumn("pending", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("updated_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("alerts_rule").on("alerts").columns(["rule_id", "fingerprint", "state"]).execute();
      await db.schema.createIndex("alerts_pending").on("alerts").column("pending").execute();
      await db.schema.createIndex("alerts_team").on("alerts").columns(["team_id", "started_at"]).execute();
    },
  };
}
