import { sql, type Kysely } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { openTestDatabase, testDialects } from "../../../test/support/databases.ts";
import type { Database } from "../database.ts";
import { searchIndexMigration } from "./031-search-index.ts";

describe.each(testDialects())("031-search-index on %s", (dialect) => {
  let database: Database | undefined;
  afterEach(async () => database?.close());

  it("backfills each latest value's experiment from its run (an orphan gets ''), and indexes (experiment_id, key, value, run_id)", async () => {
    database = await openTestDatabase(dialect);
    const db = database.db;
    const raw = db as unknown as Kysely<unknown>;
    // latest_metrics as 030 left it: no experiment_id.
    await searchIndexMigration().down!(raw);
    for (const id of ["11", "12"]) {
      await db.insertInto("experiments").values({ experiment_id: id, name: `e${id}`, artifact_location: `mlflow-artifacts:/${id}`, lifecycle_stage: "active", creation_time: 1, last_update_time: 1, team_id: "default" }).execute();
    }
    const runs: [string, string][] = [["run-a", "11"], ["run-b", "12"], ["run-c", "11"]];
    for (const [run_id, experiment_id] of runs) {
      await db
        .insertInto("runs")
        .values({ run_id, experiment_id, run_name: run_id, user_id: "ada", status: "FINISHED", start_time: 1, end_time: null, lifecycle_stage: "active", artifact_uri: "x", source_commit: null, source_dirty: null, source_entrypoint: null, job_id: null, deleted_time: null })
        .execute();
    }
    const old = [...runs.map(([run]) => run), "run-gone"].flatMap((run, i) => ["loss", "acc"].map((key) => sql`(${run}, ${key}, ${i / 10}, 1, 0, 0)`));
    await sql`insert into latest_metrics (run_id, key, value, timestamp, step, is_nan) values ${sql.join(old)}`.execute(raw);

    await searchIndexMigration().up(raw);

    const rows = await db.selectFrom("latest_metrics").select(["run_id", "key", "experiment_id"]).orderBy("run_id").orderBy("key").execute();
    expect(rows).toEqual(
      [["run-a", "11"], ["run-b", "12"], ["run-c", "11"], ["run-gone", ""]].flatMap(([run_id, experiment_id]) => ["acc", "loss"].map((key) => ({ run_id, key, experiment_id }))),
    );
    const plan =
      dialect === "sqlite"
        ? (await sql<{ detail: string }>`explain query plan select run_id from latest_metrics where experiment_id = '11' and key = 'loss' order by value limit 10`.execute(raw)).rows.map((r) => r.detail).join("\n")
        : (await sql<{ indexdef: string }>`select indexdef from pg_indexes where indexname = 'latest_metrics_search'`.execute(raw)).rows.map((r) => r.indexdef).join("\n");
    expect(plan).toMatch(dialect === "sqlite" ? /SEARCH latest_metrics USING COVERING INDEX latest_metrics_search \(experiment_id=\? AND key=\?\)/ : /\(experiment_id, key, value, run_id\)/);
  });
});
