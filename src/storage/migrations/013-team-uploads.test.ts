import { sql, type Kysely } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { openTestDatabase, testDialects } from "../../../test/support/databases.ts";
import type { Database } from "../database.ts";
import { teamUploadsMigration } from "./013-team-uploads.ts";

describe.each(testDialects())("013-team-uploads on %s", (dialect) => {
  let database: Database | undefined;
  afterEach(async () => database?.close());

  it("keys uploads by team and digest, keeping the uploads from before in their team", async () => {
    database = await openTestDatabase(dialect);
    const db = database.db;
    await db.insertInto("evaluation_uploads").values({ team_id: "default", digest: "ab", size: 3, user_id: "ada", created_at: 1 }).execute();
    await db.insertInto("evaluation_uploads").values({ team_id: "risk", digest: "ab", size: 3, user_id: "bo", created_at: 2 }).execute();
    await expect(db.insertInto("evaluation_uploads").values({ team_id: "risk", digest: "ab", size: 3, user_id: "cy", created_at: 3 }).execute()).rejects.toThrow();
    const rows = await db.selectFrom("evaluation_uploads").select(["team_id", "digest", "user_id"]).orderBy("team_id").execute();
    expect(rows).toEqual([
      { team_id: "default", digest: "ab", user_id: "ada" },
      { team_id: "risk", digest: "ab", user_id: "bo" },
    ]);
  });

  it("carries every upload across the rebuild", async () => {
    database = await openTestDatabase(dialect);
    const db = database.db as unknown as Kysely<unknown>;
    // Run it again on a table shaped as 010-teams left it, with a row in it.
    await sql`drop table evaluation_uploads`.execute(db);
    await sql`create table evaluation_uploads (digest text primary key, size bigint not null, user_id text not null, created_at bigint not null, team_id text not null default 'default')`.execute(db);
    await sql`insert into evaluation_uploads (digest, size, user_id, created_at) values ('cd', 5, 'ada', 7)`.execute(db);
    await teamUploadsMigration().up(db);
    const rows = await sql<Record<string, unknown>>`select team_id, digest, size, user_id, created_at from evaluation_uploads`.execute(db);
    expect(rows.rows.map((r) => ({ ...r, size: Number(r.size), created_at: Number(r.created_at) }))).toEqual([{ team_id: "default", digest: "cd", size: 5, user_id: "ada", created_at: 7 }]);
  });
});
