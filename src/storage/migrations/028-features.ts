import type { Kysely, Migration } from "kysely";

/**
 * Feature sets (issue 10, item 6). One row per immutable version: `spec` is the JSON definition
 * (entity key, timestamp, SQL, inputs as asked) and `pinned` the dataset version each input
 * resolved to when the version was created. A name belongs to the team of its first version.
 */
export function featuresMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("feature_sets")
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("version", "integer", (c) => c.notNull())
        .addColumn("team_id", "text", (c) => c.notNull())
        .addColumn("spec", "text", (c) => c.notNull())
        .addColumn("pinned", "text", (c) => c.notNull())
        .addColumn("created_by", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("feature_sets_pk", ["name", "version"])
        .execute();
      await db.schema.createIndex("feature_sets_team").on("feature_sets").column("team_id").execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable("feature_sets").execute();
    },
  };
}
