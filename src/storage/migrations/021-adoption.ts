import type { Kysely, Migration } from "kysely";

/**
 * Adoption (issue 12, item 6): the `feedback` table (a person's score from 1 to 5, an optional
 * bounded comment and the milestone it was asked after), and indexes the adoption figures read
 * other tables by: runs by start time and by author, jobs and model versions by creation time.
 */
export function adoptionMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("feedback")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("user_id", "text", (c) => c.notNull())
        .addColumn("user_name", "text", (c) => c.notNull())
        .addColumn("team_id", "text")
        .addColumn("score", "integer", (c) => c.notNull())
        .addColumn("comment", "text")
        .addColumn("context", "text")
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("feedback_time").on("feedback").columns(["created_at"]).execute();
      await db.schema.createIndex("feedback_user").on("feedback").columns(["user_id", "created_at"]).execute();
      await db.schema.createIndex("runs_start_time").on("runs").columns(["start_time"]).execute();
      await db.schema.createIndex("runs_user").on("runs").columns(["user_id", "start_time"]).execute();
      await db.schema.createIndex("jobs_created").on("jobs").columns(["created_at"]).execute();
      await db.schema.createIndex("model_versions_created").on("model_versions").columns(["creation_time"]).execute();
    },
  };
}
