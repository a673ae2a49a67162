import { afterAll, describe, expect, it } from "vitest";
import { openTestDatabase, testDialects } from "../../test/support/databases.ts";
import { CompiledQuery } from "kysely";
import { NamedStatements, openDatabase, type Database } from "./database.ts";

describe.each(testDialects())("database on %s", (dialect) => {
  let database: Database;
  afterAll(async () => database?.close());

  it("migrates and round-trips bigint times and NaN-free doubles", async () => {
    database = await openTestDatabase(dialect);
    const t = 1_764_000_000_123;
    await database.db
      .insertInto("latest_metrics")
      .values({ run_id: "r", experiment_id: "0", key: "loss", value: 0.25, timestamp: t, step: 3, is_nan: 0 })
      .execute();
    const row = await database.db.selectFrom("latest_metrics").selectAll().executeTakeFirstOrThrow();
    expect(row).toEqual({ run_id: "r", experiment_id: "0", key: "loss", value: 0.25, timestamp: t, step: 3, is_nan: 0 });
  });

  it("keeps data when reopened and migrated again", async () => {
    const first = await openTestDatabase(dialect);
    await first.db.insertInto("params").values({ run_id: "r", key: "lr", value: "0.1" }).execute();
    await first.close();
    const again = await openDatabase({ dataDir: first.dataDir, url: first.url });
    expect(await again.db.selectFrom("params").select("value").execute()).toEqual([{ value: "0.1" }]);
    await again.close();
  });
});

describe("named statements", () => {
  it("names at most its limit of texts, each once", () => {
    const statements = new NamedStatements(2);
    for (const text of ["a", "b", "a", "c"]) expect(statements.add(text)).toBe(text);
    expect(["a", "b", "c"].map((text) => statements.name(text))).toEqual(["paved_0", "paved_1", undefined]);
  });

  it.runIf(testDialects().includes("postgres"))("runs a registered text as a statement prepared on its session, and any other unnamed", async () => {
    const database = await openTestDatabase("postgres");
    try {
      const text = database.statements!.add("select $1::int + 1 as n");
      await database.db.transaction().execute(async (trx) => {
        for (const v of [1, 2]) expect((await trx.executeQuery(CompiledQuery.raw(text, [v]))).rows).toEqual([{ n: v + 1 }]);
        expect((await trx.executeQuery(CompiledQuery.raw("select $1::int * 2 as m", [5]))).rows).toEqual([{ m: 10 }]);
        const { rows } = await trx.executeQuery(CompiledQuery.raw("select name, statement from pg_prepared_statements"));
        expect(rows).toEqual([{ name: "paved_0", statement: text }]);
      });
    } finally {
      await database.close();
    }
  });
});
