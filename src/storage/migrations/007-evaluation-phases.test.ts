import BetterSqlite3 from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect, sql } from "kysely";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { testDialects, testPostgresUrl } from "../../../test/support/databases.ts";
import { evaluationsMigration } from "./004-evaluations.ts";
import { evaluationPhasesMigration } from "./007-evaluation-phases.ts";

describe.each(testDialects())("007-evaluation-phases on %s", (dialect) => {
  let db: Kysely<unknown> | undefined;
  afterEach(async () => db?.destroy());

  it("turns stored evaluations into finished ones: Passed or Failed, created when started", async () => {
    db = new Kysely<unknown>({
      dialect: dialect === "sqlite" ? new SqliteDialect({ database: new BetterSqlite3(":memory:") }) : new PostgresDialect({ pool: new pg.Pool({ connectionString: await testPostgresUrl() }) }),
    });
    await evaluationsMigration().up(db);
    for (const [id, passed] of [["e1", 1], ["e2", 0]] as const) {
      await sql`insert into evaluations (id, model_id, model_name, version, policy_version, data_path, data_digest, reference_path, passed, checks, user_id, started_at, finished_at)
        values (${id}, 'm1', 'churn', 1, 'p1', '/d.csv', 'sha256:00', null, ${passed}, '[]', 'ada', 1000, 2000)`.execute(db);
    }
    await evaluationPhasesMigration().up(db);
    const rows = await sql<{ id: string; phase: string; created_at: number | string; request: string | null; message: string | null }>`select id, phase, created_at, request, message from evaluations order by id`.execute(db);
    expect(rows.rows.map((r) => ({ ...r, created_at: Number(r.created_at) }))).toEqual([
      { id: "e1", phase: "Passed", created_at: 1000, request: null, message: null },
      { id: "e2", phase: "Failed", created_at: 1000, request: null, message: null },
    ]);
  });
});
