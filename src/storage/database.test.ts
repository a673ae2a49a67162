import { afterAll, describe, expect, it } from "vitest";
import { openTestDatabase, testDialects } from "../../test/support/databases.ts";
import { openDatabase, type Database } from "./database.ts";

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
