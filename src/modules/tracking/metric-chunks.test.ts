import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { openTestDatabase, testDialects } from "../../../test/support/databases.ts";
import { CHUNK_POINTS, type Database } from "../../storage/index.ts";
import { bucketHistory, type BucketQuery } from "./metric-buckets.ts";
import { MetricStore, pgUpsertShapesKept, pgUpsertText, type HistoryCursor, type MetricInput } from "./metric-store.ts";

// Issue 15, items 1 and 3: points stored in chunks per (run, key). What a user sees must not
// change: history order (step, timestamp, order logged), every duplicate kept, paging, buckets.

/** A deterministic pseudo-random sequence, so a failure reproduces. */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
}

interface Logged extends MetricInput {
  seq: number;
}

/**
 * `n` points of key `loss` logged in batches of irregular sizes (1 point up to more than a
 * chunk): steps out of order across chunk boundaries, timestamps shared by several steps, some
 * points logged twice identically, some at the same step with another timestamp, some NaN.
 */
function workload(n: number, seed: number): MetricInput[][] {
  const rnd = random(seed);
  const points: MetricInput[] = [];
  for (let i = 0; i < n; i++) {
    const step = (i * 37) % n; // a stride through the steps: out of order everywhere
    const value = step % 61 === 0 ? NaN : Math.round(rnd() * 1e6) / 1e3 - 500;
    const timestamp = 1_000_000 + Math.floor(step / 8) * 1000;
    points.push({ key: "loss", step, value, timestamp });
    if (step % 40 === 0) points.push({ key: "loss", step, value, timestamp }); // the very same point again
    if (step % 90 === 0) points.push({ key: "loss", step, value: -step - 1, timestamp: 500_000 });
  }
  // Then as a training loop logs: steps in order, whole chunks inside one bucket. Some steps twice
  // at the same timestamp with another value, some again with an earlier timestamp, three steps a
  // timestamp.
  for (let step = n; step < 2 * n; step++) {
    const timestamp = 2_000_000 + Math.floor(step / 3) * 1000;
    const value = Math.round(rnd() * 1e6) / 1e3;
    points.push({ key: "loss", step, value, timestamp });
    if (step % 5 === 0) points.push({ key: "loss", step, value: value + 0.5, timestamp });
    if (step % 7 === 0) points.push({ key: "loss", step, value: value - 0.5, timestamp: timestamp - 1000 });
  }
  // The last step twice more: the same timestamp with other values, and an earlier timestamp.
  const end = points.at(-1)!;
  points.push({ ...end, value: 7 }, { ...end, value: 8 }, { ...end, value: 9, timestamp: end.timestamp - 1 });
  const batches: MetricInput[][] = [];
  for (let i = 0; i < points.length; ) {
    const size = [1, 3, 17, 255, 256, 257, 600][Math.floor(rnd() * 7)]!;
    batches.push(points.slice(i, i + size));
    i += size;
  }
  return batches;
}

async function logAll(store: MetricStore, runId: string, batches: MetricInput[][]): Promise<Logged[]> {
  const logged: Logged[] = [];
  for (const metrics of batches) {
    await store.writeBatch(runId, { metrics, params: {}, tags: {} }, "0");
    for (const m of metrics) logged.push({ ...m, seq: logged.length });
  }
  return logged;
}

const historyOrder = (a: Logged, b: Logged) => a.step - b.step || a.timestamp - b.timestamp || a.seq - b.seq;

async function allPages(store: MetricStore, runId: string, pageSize: number): Promise<{ points: { step: number; timestamp: number; value: number }[]; pages: number }> {
  const points: { step: number; timestamp: number; value: number }[] = [];
  let after: HistoryCursor | undefined;
  let pages = 0;
  for (;;) {
    const page = await store.history(runId, "loss", { after, limit: pageSize + 1 });
    pages++;
    const kept = page.slice(0, pageSize);
    points.push(...kept.map((p) => ({ step: p.step, timestamp: p.timestamp, value: p.value })));
    if (page.length <= pageSize) return { points, pages };
    const last = kept.at(-1)!;
    after = [last.step, last.timestamp, last.seq, last.index];
  }
}

/** The bucketing of the one-row-per-point layout (before migration 017), run on a copy of the points. */
async function oldGroupBy(database: Database, runId: string, q: Omit<BucketQuery, "runId" | "key">) {
  const db = database.db;
  const filters = [sql`run_id = ${runId}`, sql`key = ${"loss"}`];
  if (q.startStep !== undefined) filters.push(sql`step >= ${q.startStep}`);
  if (q.endStep !== undefined) filters.push(sql`step <= ${q.endStep}`);
  if (q.startTime !== undefined) filters.push(sql`timestamp >= ${q.startTime}`);
  if (q.endTime !== undefined) filters.push(sql`timestamp <= ${q.endTime}`);
  const where = sql.join(filters, sql` and `);
  const column = q.axis === "step" ? sql.ref("step") : sql.ref("timestamp");
  let [start, end] = q.axis === "step" ? [q.startStep, q.endStep] : [q.startTime, q.endTime];
  if (start === undefined || end === undefined) {
    const extent = await sql<{ lo: number | null; hi: number | null }>`select min(${column}) as lo, max(${column}) as hi from old_metrics where ${where}`.execute(db);
    if (extent.rows[0]!.lo === null) return { start: start ?? null, end: end ?? null, width: 1, buckets: [] };
    start ??= Number(extent.rows[0]!.lo);
    end ??= Number(extent.rows[0]!.hi);
  }
  if (end < start) return { start, end, width: 1, buckets: [] };
  const width = Math.max(1, Math.ceil((end - start + 1) / q.points));
  const bigint = (v: number) => (database.dialect === "postgres" ? sql`cast(${v} as bigint)` : sql`cast(${v} as integer)`);
  const last =
    q.axis === "step"
      ? sql`from old_metrics l where l.run_id = ${runId} and l.key = ${"loss"} and l.step = g.s1 order by l.timestamp desc, l.id desc limit 1`
      : sql`from old_metrics l where l.run_id = ${runId} and l.key = ${"loss"} and l.step between g.s0 and g.s1 and l.timestamp = g.t1 order by l.step desc, l.id desc limit 1`;
  const rows = await sql<Record<string, number | string | null>>`
    select g.*, (select l.value ${last}) as last_value
    from (
      select (${column} - ${bigint(start)}) / ${bigint(width)} as b, count(*) as n, min(value) as mn, max(value) as mx,
             min(step) as s0, max(step) as s1, min(timestamp) as t0, max(timestamp) as t1
      from old_metrics where ${where} and ${column} between ${bigint(start)} and ${bigint(end)}
      group by 1
    ) g order by g.b`.execute(db);
  const n = (v: number | string | null | undefined) => (v === null || v === undefined ? null : Number(v));
  const buckets = rows.rows.map((r) => ({
    start: start + Number(r.b) * width,
    count: Number(r.n),
    min: n(r.mn),
    max: n(r.mx),
    last: n(r.last_value) ?? NaN,
    firstStep: Number(r.s0),
    lastStep: Number(r.s1),
    firstTime: Number(r.t0),
    lastTime: Number(r.t1),
  }));
  return { start, end, width, buckets };
}

describe.each(testDialects())("metric chunks on %s", (dialect) => {
  let database: (Database & { dataDir: string }) | undefined;
  afterEach(async () => database?.close());

  it("keeps every point, duplicates included, in history order across chunk boundaries, and pages through the middle of chunks", async () => {
    database = await openTestDatabase(dialect);
    const store = new MetricStore(database);
    const logged = await logAll(store, "run-a", workload(3000, 1));
    const want = [...logged].sort(historyOrder).map((p) => ({ step: p.step, timestamp: p.timestamp, value: p.value }));
    expect(logged.length).toBeGreaterThan(10 * CHUNK_POINTS);
    // 97 and 1000 do not divide 256: most page boundaries fall inside a chunk.
    // Summaries read 3 at a time too, so a page needs several summary queries.
    for (const reader of [store, new MetricStore(database, { summaryPage: 3 })]) {
      for (const size of [97, 1000, 25_000]) {
        const { points, pages } = await allPages(reader, "run-a", size);
        expect(points, `page size ${size}`).toEqual(want);
        expect(pages).toBe(Math.floor(want.length / size) + 1);
      }
    }
    // Full chunks in the order logged, the last one open: a write touches one open chunk and new ones.
    const chunks = await database.db.selectFrom("metric_chunks").select(["seq", "count"]).where("run_id", "=", "run-a").where("key", "=", "loss").orderBy("seq").execute();
    expect(chunks.map((c) => c.seq)).toEqual(chunks.map((_, i) => i));
    expect(chunks.slice(0, -1).every((c) => c.count === CHUNK_POINTS)).toBe(true);
    expect(chunks.reduce((n, c) => n + c.count, 0)).toBe(logged.length);
    // Another series of the same run and key name elsewhere is not mixed in.
    await store.writeBatch("run-b", { metrics: [{ key: "loss", step: 0, value: 42, timestamp: 1 }], params: {}, tags: {} }, "0");
    expect((await allPages(store, "run-a", 25_000)).points).toEqual(want);
  });

  it("downsamples exactly as the old per-point GROUP BY did on the same points", async () => {
    database = await openTestDatabase(dialect);
    const store = new MetricStore(database);
    const logged = await logAll(store, "run-a", workload(4000, 2));
    // The same points in the old layout, in the order logged (its id).
    await sql`create table old_metrics (id integer primary key, run_id text not null, key text not null, value double precision, timestamp bigint not null, step bigint not null)`.execute(database.db);
    for (let i = 0; i < logged.length; i += 500) {
      const rows = logged.slice(i, i + 500).map((p) => ({ id: p.seq + 1, run_id: "run-a", key: "loss", value: Number.isNaN(p.value) ? null : p.value, timestamp: p.timestamp, step: p.step }));
      await (database.db as unknown as import("kysely").Kysely<{ old_metrics: (typeof rows)[number] }>).insertInto("old_metrics").values(rows).execute();
    }
    const queries: Omit<BucketQuery, "runId" | "key">[] = [
      { axis: "step", points: 1000 },
      { axis: "step", points: 100 },
      { axis: "step", points: 7 },
      { axis: "step", points: 1 },
      { axis: "time", points: 1 },
      { axis: "step", points: 10_000 },
      { axis: "time", points: 50 },
      { axis: "time", points: 3 },
      { axis: "step", points: 40, startStep: 1000, endStep: 1999 },
      { axis: "step", points: 40, startStep: 1001, endStep: 1333 },
      { axis: "step", points: 25, startTime: 1_100_000, endTime: 1_300_000 },
      { axis: "time", points: 25, startStep: 250, endStep: 2600 },
      { axis: "time", points: 25, startTime: 1_200_000 },
      { axis: "step", points: 10, startStep: 9000, endStep: 10000 },
      { axis: "step", points: 30, startStep: 4000 },
      { axis: "time", points: 30, startStep: 4100, endStep: 7000 },
      { axis: "time", points: 20, startTime: 2_000_000 },
    ];
    let buckets = 0;
    for (const q of queries) {
      const got = await bucketHistory(database, { runId: "run-a", key: "loss", ...q });
      const want = await oldGroupBy(database, "run-a", q);
      expect({ start: got.start, end: got.end, width: got.width, buckets: got.buckets }, JSON.stringify(q)).toEqual(want);
      buckets += got.buckets.length;
    }
    expect(buckets).toBeGreaterThan(1000);
  });

  it("appends each key of a batch to that key's last chunk, also while a transaction of the server's connection holds the database", async () => {
    database = await openTestDatabase(dialect);
    const db = database;
    const store = new MetricStore(database);
    const keys = ["k0", "k1", "k2"];
    const logged: MetricInput[] = [];
    for (let b = 0; b < 12; b++) {
      // 97 points per key per batch: chunks fill up across batches, several chunks per key.
      const metrics = Array.from({ length: 3 * 97 }, (_, i) => ({ key: keys[i % 3]!, step: b * 97 + Math.floor(i / 3), value: b + i / 1000, timestamp: 1 }));
      logged.push(...metrics);
      if (b % 2 === 0) {
        await store.writeBatch("run-d", { metrics, params: {}, tags: {} }, "0");
        continue;
      }
      // A transaction of the server's connection in flight when the write arrives: on SQLite the
      // writer thread's transaction waits for its lock, on PostgreSQL for nothing (other rows).
      let begun!: () => void;
      let release!: () => void;
      const started = new Promise<void>((r) => (begun = r));
      const held = new Promise<void>((r) => (release = r));
      const other = db.db.transaction().execute(async (trx) => {
        await trx.selectFrom("metric_chunks").select("seq").limit(1).execute();
        begun();
        await held;
      });
      await started;
      const write = store.writeBatch("run-d", { metrics, params: {}, tags: {} }, "0");
      release();
      await other;
      await write;
    }
    for (const key of keys) {
      const want = logged.filter((m) => m.key === key).map((m) => ({ step: m.step, value: m.value }));
      expect((await store.history("run-d", key, { limit: 25_000 })).map((p) => ({ step: p.step, value: p.value })), key).toEqual(want);
      const chunks = await db.db.selectFrom("metric_chunks").select(["seq", "count"]).where("run_id", "=", "run-d").where("key", "=", key).orderBy("seq").execute();
      expect(chunks.map((c) => c.seq)).toEqual(chunks.map((_, i) => i));
      expect(chunks.map((c) => c.count)).toEqual([256, 256, 256, 256, 12 * 97 - 4 * 256]);
    }
  });

  it("writes a batch of more chunk rows than one statement holds (500 keys), with every key's latest value", async () => {
    database = await openTestDatabase(dialect);
    const store = new MetricStore(database);
    const keys = Array.from({ length: 500 }, (_, k) => `key_${k}`);
    // Two batches: the first makes 500 chunks, the second appends to each (and moves a latest value back in time, which is kept out).
    for (const b of [0, 1]) {
      const metrics = keys.flatMap((key, k) => [
        { key, step: 2 * b, value: k + b, timestamp: 10 },
        { key, step: b === 0 ? 1 : -1, value: -k, timestamp: 10 },
      ]);
      await store.writeBatch("run-wide", { metrics, params: {}, tags: {} }, "exp-1");
    }
    for (const k of [0, 199, 200, 201, 499]) {
      expect((await store.history("run-wide", keys[k]!, { limit: 10 })).map((p) => [p.step, p.value])).toEqual([
        [-1, -k],
        [0, k],
        [1, -k],
        [2, k + 1],
      ]);
    }
    const latest = await database.db.selectFrom("latest_metrics").select(["key", "step", "value", "experiment_id"]).where("run_id", "=", "run-wide").execute();
    expect(latest).toHaveLength(500);
    expect(latest.every((r) => Number(r.step) === 2 && Number(r.value) === Number(r.key.slice(4)) + 1 && r.experiment_id === "exp-1")).toBe(true);
    const { n } = await database.db.selectFrom("metric_chunks").select((eb) => eb.fn.countAll().as("n")).where("run_id", "=", "run-wide").executeTakeFirstOrThrow();
    expect(Number(n)).toBe(500);
  });

  it("appends concurrent batches to one series without losing any", async () => {
    database = await openTestDatabase(dialect);
    const store = new MetricStore(database);
    const batches = Array.from({ length: 30 }, (_, b) => Array.from({ length: 50 + b }, (_, i) => ({ key: i % 2 ? "a" : "b", step: b * 1000 + i, value: b, timestamp: 1 })));
    await Promise.all(batches.map((metrics) => store.writeBatch("run-c", { metrics, params: {}, tags: {} }, "0")));
    for (const key of ["a", "b"]) {
      const want = batches.flat().filter((m) => m.key === key).map((m) => m.step).sort((x, y) => x - y);
      expect((await store.history("run-c", key, { limit: 25_000 })).map((p) => p.step)).toEqual(want);
    }
  });
});

describe("PostgreSQL's upsert texts", () => {
  it("keeps a bounded number of shapes, whatever shapes clients send, and makes the same text past the bound", () => {
    // A client picks a batch's shape (its keys and chunk rows); 1,000 shapes must not all stay in memory.
    const first = pgUpsertText(3, 5);
    for (let latest = 0; latest < 20; latest++) for (let chunks = 1; chunks <= 50; chunks++) pgUpsertText(latest, chunks);
    expect(pgUpsertShapesKept()).toBeLessThanOrEqual(256);
    expect(pgUpsertText(3, 5)).toBe(first);
    const late = pgUpsertText(19, 50);
    expect(pgUpsertText(19, 50)).toEqual(late);
    expect(late.match(/\$\d+/g)).toHaveLength(19 * 7 + 50 * 15);
  });
});
