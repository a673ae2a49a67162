import { sql, type Kysely, type Migration } from "kysely";

/**
 * Workspaces (issue 9). `workspaces` holds each workspace's spec (profile, environment, experiment,
 * who it is shared with) and status (phase, the job that runs its Jupyter server now, when it was
 * last active); its Jupyter token is stored here for the proxy and shown to nobody. Each start is
 * a row of `workspace_sessions` (when it was asked for, when its kernel first answered, how it
 * ended), from which ready times per profile are read. `workspace_events` is its history, as
 * `job_events` is a job's. `workspace_logins` holds the one-time codes `paved workspace open`
 * hands a browser and the cookies they turn into (both stored as SHA-256 hashes).
 */
export function workspacesMigration(dialect: "sqlite" | "postgres"): Migration {
  const serial = dialect === "postgres" ? "bigserial primary key" : "integer primary key autoincrement";
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("workspaces")
        .addColumn("workspace_id", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("team_id", "text", (c) => c.notNull())
        .addColumn("owner", "text", (c) => c.notNull())
        .addColumn("owner_user_id", "text")
        // JSON WorkspaceSpec: profile, environment, experiment, idle limits, reproduced run.
        .addColumn("spec", "text", (c) => c.notNull())
        .addColumn("phase", "text", (c) => c.notNull())
        .addColumn("experiment_id", "text", (c) => c.notNull())
        // JSON list of user names the owner shares it with.
        .addColumn("shared_with", "text", (c) => c.notNull().defaultTo("[]"))
        .addColumn("job_id", "text")
        .addColumn("session", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("jupyter_token", "text")
        .addColumn("socket_path", "text")
        .addColumn("home_dir", "text", (c) => c.notNull())
        .addColumn("message", "text")
        .addColumn("last_activity_at", "bigint")
        .addColumn("idle_warned_at", "bigint")
        .addColumn("gpu_idle_since", "bigint")
        .addColumn("stop_requested_at", "bigint")
        .addColumn("stop_reason", "text")
        .addColumn("home_bytes", "bigint", (c) => c.notNull().defaultTo(0))
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("updated_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("workspaces_team").on("workspaces").columns(["team_id", "created_at"]).execute();
      await db.schema.createIndex("workspaces_job").on("workspaces").column("job_id").execute();
      await db.schema
        .createTable("workspace_sessions")
        .addColumn("workspace_id", "text", (c) => c.notNull())
        .addColumn("session", "integer", (c) => c.notNull())
        .addColumn("job_id", "text", (c) => c.notNull())
        .addColumn("profile", "text", (c) => c.notNull())
        .addColumn("requested_at", "bigint", (c) => c.notNull())
        .addColumn("ready_at", "bigint")
        .addColumn("ready_ms", "bigint")
        .addColumn("from_pool", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("ended_at", "bigint")
        .addColumn("end_reason", "text")
        .addPrimaryKeyConstraint("workspace_sessions_pk", ["workspace_id", "session"])
        .execute();
      await db.schema.createIndex("workspace_sessions_profile").on("workspace_sessions").columns(["profile", "requested_at"]).execute();
      await sql`create table workspace_events (
        id ${sql.raw(serial)},
        workspace_id text not null,
        time bigint not null,
        type text not null,
        message text not null
      )`.execute(db);
      await db.schema.createIndex("workspace_events_workspace").on("workspace_events").columns(["workspace_id", "id"]).execute();
      await db.schema
        .createTable("workspace_logins")
        .addColumn("key_hash", "text", (c) => c.primaryKey())
        .addColumn("workspace_id", "text", (c) => c.notNull())
        .addColumn("user_id", "text", (c) => c.notNull())
        // `code` (one use, minutes) or `cookie` (the browser's, hours).
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("expires_at", "bigint", (c) => c.notNull())
        .execute();
    },
  };
}
