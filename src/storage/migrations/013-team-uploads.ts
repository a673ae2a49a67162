import { sql, type Kysely, type Migration } from "kysely";

/**
 * Evaluation uploads belong to a team: the same CSV uploaded by two teams is two uploads, and an
 * evaluation reads `uploads:/<sha256>` only among its own team's. The key becomes (team, digest),
 * which needs the table rebuilt (SQLite cannot change a primary key); every upload from before
 * keeps its team (`default`, from 010-teams).
 */
export function teamUploadsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("evaluation_uploads_by_team")
        .addColumn("team_id", "text", (c) => c.notNull())
        .addColumn("digest", "text", (c) => c.notNull())
        .addColumn("size", "bigint", (c) => c.notNull())
        .addColumn("user_id", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("evaluation_uploads_team_digest", ["team_id", "digest"])
        .execute();
      await sql`insert into evaluation_uploads_by_team (team_id, digest, size, user_id, created_at)
        select team_id, digest, size, user_id, created_at from evaluation_uploads`.execute(db);
      await db.schema.dropTable("evaluation_uploads").execute();
      await db.schema.alterTable("evaluation_uploads_by_team").renameTo("evaluation_uploads").execute();
    },
  };
}
