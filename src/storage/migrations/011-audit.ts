import { sql, type Kysely, type Migration } from "kysely";

/**
 * The audit log: one row per mutating request (or per summary of high-volume run-tracking writes),
 * who, team, what, when, from where and the outcome. Append-only: the database refuses an UPDATE
 * of a row (a trigger on both dialects); rows leave only by the retention job's DELETE.
 */
export function auditMigration(dialect: "sqlite" | "postgres"): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("audit_events")
        .addColumn("id", "text", (c) => c.primaryKey())
        // When the answer was sent (epoch ms); for a summary, the last request it counts.
        .addColumn("time", "bigint", (c) => c.notNull())
        // For a summary: the first request it counts; null for a single request.
        .addColumn("first_time", "bigint")
        .addColumn("count", "integer", (c) => c.notNull())
        .addColumn("request_id", "text")
        .addColumn("actor", "text")
        .addColumn("actor_kind", "text")
        .addColumn("actor_user_id", "text")
        .addColumn("actor_job_id", "text")
        .addColumn("team", "text")
        .addColumn("action", "text", (c) => c.notNull())
        .addColumn("method", "text", (c) => c.notNull())
        .addColumn("route", "text", (c) => c.notNull())
        .addColumn("target_kind", "text")
        .addColumn("target_id", "text")
        .addColumn("params", "text")
        .addColumn("status", "integer", (c) => c.notNull())
        .addColumn("error_code", "text")
        .addColumn("client_ip", "text")
        .addColumn("duration_ms", "real", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("audit_events_time").on("audit_events").columns(["time", "id"]).execute();
      await db.schema.createIndex("audit_events_actor").on("audit_events").columns(["actor", "time"]).execute();
      await db.schema.createIndex("audit_events_team").on("audit_events").columns(["team", "time"]).execute();
      await db.schema.createIndex("audit_events_action").on("audit_events").columns(["action", "time"]).execute();
      if (dialect === "sqlite") {
        await sql`create trigger audit_events_append_only before update on audit_events
          begin select raise(abort, 'audit records are append-only'); end`.execute(db);
      } else {
        await sql`create function audit_events_append_only() returns trigger language plpgsql as $$
          begin raise exception 'audit records are append-only'; end $$`.execute(db);
        await sql`create trigger audit_events_append_only before update on audit_events
          for each row execute function audit_events_append_only()`.execute(db);
      }
    },
  };
}
