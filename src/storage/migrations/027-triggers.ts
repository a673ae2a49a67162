import type { Kysely, Migration } from "kysely";

/**
 * Pipeline triggers (issue 10, item 4). `pipeline_triggers` holds what starts a pipeline by itself:
 * a cron schedule in a time zone, a new version of a dataset, or a git push to a repository and
 * branch (whose webhook secret is a team secret, named, never stored here); `state` is what the
 * trigger last acted on (the schedule's last firing, the dataset's last version seen). Every firing
 * is first recorded in `trigger_firings` under a key that names it (`cron:<time>`,
 * `dataset:<name>@<version>`, `git:<commit>`), unique per trigger: a replayed webhook delivery
 * or a restart mid-firing never starts a second run, and a firing recorded but not yet started
 * (a crash) is started after the restart, under the run id chosen when it was recorded.
 */
export function triggersMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("pipeline_triggers")
        .addColumn("trigger_id", "text", (c) => c.primaryKey())
        .addColumn("team_id", "text", (c) => c.notNull())
        .addColumn("pipeline_name", "text", (c) => c.notNull())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("kind", "text", (c) => c.notNull())
        // JSON TriggerSpec: the kind's settings and the parameters runs get.
        .addColumn("spec", "text", (c) => c.notNull())
        // JSON: what it last acted on.
        .addColumn("state", "text", (c) => c.notNull())
        .addColumn("created_by", "text", (c) => c.notNull())
        // The user id its runs act as (its creator), with the roles they have when a run starts.
        .addColumn("acts_as", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("updated_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("pipeline_triggers_name").on("pipeline_triggers").columns(["pipeline_name", "name"]).unique().execute();
      await db.schema.createIndex("pipeline_triggers_team").on("pipeline_triggers").column("team_id").execute();
      await db.schema
        .createTable("trigger_firings")
        .addColumn("trigger_id", "text", (c) => c.notNull())
        .addColumn("firing_key", "text", (c) => c.notNull())
        // The pipeline run it starts (chosen when recorded, so a start after a crash is the same run).
        .addColumn("run_id", "text", (c) => c.notNull())
        // pending (recorded, not started), started, refused (with the reason), ignored.
        .addColumn("outcome", "text", (c) => c.notNull())
        .addColumn("message", "text")
        // JSON: the parameters the run gets (the commit, the dataset version).
        .addColumn("params", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("updated_at", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("trigger_firings_pk", ["trigger_id", "firing_key"])
        .execute();
      await db.schema.createIndex("trigger_firings_outcome").on("trigger_firings").columns(["outcome", "created_at"]).execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable("trigger_firings").execute();
      await db.schema.dropTable("pipeline_triggers").execute();
    },
  };
}
