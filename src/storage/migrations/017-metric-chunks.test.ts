import { sql, type Kysely } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { openTestDatabase, testDialects } from "../../../test/support/databases.ts";
import type { Database } from "../database.ts";
import { CHUNK_POINTS, decodeChunk } from "../metric-chunk.ts";
import { metricChunksMigration } from "./017-metric-chunks.ts";

interface OldPoint {
  id: number;
  run_id: string;
  key: string;
  value: number;
  timestamp: number;
  step: number;
}

describe.each(testDialects())("017-metric-chunks on %s", (dialect) => {
  let database: Database | undefined;
  afterEach(async () => database?.close());

  it("carries every point of the one-row-per-point table into chunks, in the order logged, with their summaries, also when run again after a kill", async () => {
    database = await openTestDatabase(dialect);
    const db = database.db as unknown as Kysely<unknown>;
    // The metrics table as 001-initial left it, with points out of order, duplicates, NaN and
    // infinities; and a chunk a conversion killed half-way left behind (SQLite migrates outside a
    // transaction), which the next run must not keep.
    await sql`insert into metric_chunks (run_id, key, seq, count, min_step, max_step, min_time, max_time, step_last_time, time_last_step, points)
      values ('run-a', 'loss', 0, 1, 5, 5, 5, 5, 5, 5, ${Buffer.alloc(24)})`.execute(db);
    const serial = dialect === "postgres" ? sql`bigserial primary key` : sql`integer primary key autoincrement`;
    await sql`create table metrics (id ${serial}, run_id text not null, key text not null, value double precision, timestamp bigint not null, step bigint not null, is_nan integer not null)`.execute(db);
    const old: OldPoint[] = [];
    const series: [string, string, number][] = [["run-a", "loss", 2 * CHUNK_POINTS + 17], ["run-a", "acc", 3], ["run-b", "loss", CHUNK_POINTS]];
    let id = 0;
    for (let i = 0; i < 3 * CHUNK_POINTS; i++) {
      for (const [run_id, key, n] of series) {
        if (i >= n) continue;
        const step = (i * 13) % n;
        const value = i % 50 === 7 ? NaN : i === 11 ? Infinity : i % 9 === 0 ? step : -i / 3;
        old.push({ id: ++id, run_id, key, value, timestamp: 1000 + Math.floor(step / 4), step });
      }
    }
    for (let i = 0; i < old.length; i += 200) {
      const rows = old.slice(i, i + 200).map((p) => sql`(${p.run_id}, ${p.key}, ${Number.isNaN(p.value) ? null : p.value}, ${p.timestamp}, ${p.step}, ${Number.isNaN(p.value) ? 1 : 0})`);
      await sql`insert into metrics (run_id, key, value, timestamp, step, is_nan) values ${sql.join(rows)}`.execute(db);
    }

    await metricChunksMigration(dialect).up(db);

    await expect(sql`select count(*) from metrics`.execute(db)).rejects.toThrow();
    for (const [run, key, n] of series) {
      const chunks = await database.db.selectFrom("metric_chunks").selectAll().where("run_id", "=", run).where("key", "=", key).orderBy("seq").execute();
      expect(chunks.map((c) => c.count)).toEqual(Array.from({ length: Math.ceil(n / CHUNK_POINTS) }, (_, i) => Math.min(CHUNK_POINTS, n - i * CHUNK_POINTS)));
      const want = old.filter((p) => p.run_id === run && p.key === key);
      const got = chunks.flatMap((c) => {
        const p = decodeChunk(c.points);
        return Array.from(p.steps, (step, i) => ({ step, timestamp: p.timestamps[i]!, value: p.values[i]! }));
      });
      expect(got).toEqual(want.map((p) => ({ step: p.step, timestamp: p.timestamp, value: p.value })));
      chunks.forEach((c, k) => {
        const mine = want.slice(k * CHUNK_POINTS, (k + 1) * CHUNK_POINTS);
        const values = mine.map((p) => p.value).filter((v) => !Number.isNaN(v));
        const byStep = [...mine].sort((a, b) => a.step - b.step || a.timestamp - b.timestamp || a.id - b.id).at(-1)!;
        const byTime = [...mine].sort((a, b) => a.timestamp - b.timestamp || a.step - b.step || a.id - b.id).at(-1)!;
        const nullNaN = (v: number) => (Number.isNaN(v) ? null : v);
        expect({ ...c, points: undefined, seq: undefined, run_id: undefined, key: undefined }).toEqual({
          run_id: undefined,
          key: undefined,
          seq: undefined,
          points: undefined,
          count: mine.length,
          min_step: Math.min(...mine.map((p) => p.step)),
          max_step: Math.max(...mine.map((p) => p.step)),
          min_time: Math.min(...mine.map((p) => p.timestamp)),
          max_time: Math.max(...mine.map((p) => p.timestamp)),
          min_value: values.length ? Math.min(...values) : null,
          max_value: values.length ? Math.max(...values) : null,
          step_last_time: byStep.timestamp,
          step_last_value: nullNaN(byStep.value),
          time_last_step: byTime.step,
          time_last_value: nullNaN(byTime.value),
        });
      });
    }
  });

  it("migrates an empty table", async () => {
    database = await openTestDatabase(dialect);
    const db = database.db as unknown as Kysely<unknown>;
    await sql`drop table metric_chunks`.execute(db);
    await sql`create table metrics (id integer primary key, run_id text not null, key text not null, value double precision, timestamp bigint not null, step bigint not null, is_nan integer not null)`.execute(db);
    await metricChunksMigration(dialect).up(db);
    expect(await database.db.selectFrom("metric_chunks").selectAll().execute()).toEqual([]);
  });
});
