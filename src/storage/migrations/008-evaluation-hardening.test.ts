import BetterSqlite3 from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect, sql } from "kysely";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { testDialects, testPostgresUrl } from "../../../test/support/databases.ts";
import { registryMigration } from "./002-registry.ts";
import { evaluationsMigration } from "./004-evaluations.ts";
import { evaluationPhasesMigration } from "./007-evaluation-phases.ts";
import { evaluationHardeningMigration } from "./008-evaluation-hardening.ts";

describe.each(testDialects())("008-evaluation-hardening on %s", (dialect) => {
  let db: Kysely<unknown> | undefined;
  afterEach(async () => db?.destroy());

  it("starts the policy history with each model's stored policy (no previous one recorded)", async () => {
    db = new Kysely<unknown>({
      dialect: dialect === "sqlite" ? new SqliteDialect({ database: new BetterSqlite3(":memory:") }) : new PostgresDialect({ pool: new pg.Pool({ connectionString: await testPostgresUrl() }) }),
    });
    await registryMigration().up(db);
    await evaluationsMigration().up(db);
    await evaluationPhasesMigration().up(db);
    await sql`insert into registered_models (model_id, name, description, user_id, max_version, creation_time, last_update_time) values ('m1', 'churn', null, 'ada', 1, 1, 1)`.execute(db);
    await sql`insert into gate_policies (model_id, policy, policy_version, updated_by, updated_at) values ('m1', '{"checks":[]}', 'p1', 'ada', 1000)`.execute(db);
    await evaluationHardeningMigration().up(db);
    const rows = await sql<Record<string, unknown>>`select model_id, model_name, policy_version, previous_version, user_id, created_at from gate_policy_changes`.execute(db);
    expect(rows.rows.map((r) => ({ ...r, created_at: Number(r.created_at) }))).toEqual([
      { model_id: "m1", model_name: "churn", policy_version: "p1", previous_version: null, user_id: "ada", created_at: 1000 },
    ]);
    await sql`insert into evaluation_uploads (digest, size, user_id, created_at) values ('ab', 3, 'ada', 1)`.execute(db);
  });
});
