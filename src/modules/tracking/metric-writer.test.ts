import type { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { openTestDatabase } from "../../../test/support/databases.ts";
import { PlatformError } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import { MetricStore, type MetricInput } from "./metric-store.ts";
import { seriesColumns, seriesOf, type SqliteMetricWriter, type WriteMessage } from "./metric-writer.ts";

// Issue 15, item 1: on SQLite a writer thread with its own connection stores log-batch points, so
// the server's thread parses the next bodies while a commit waits for the disk. These tests drive
// the real thread on a real SQLite file.

const points = (n: number, from = 0): MetricInput[] => Array.from({ length: n }, (_, i) => ({ key: `k${i % 3}`, step: from + i, value: i / 7, timestamp: 1_000 + i }));

/** The store's writer thread (private: these tests stop it to see what its callers get). */
const workerOf = (store: MetricStore): Worker => (store as unknown as { writer: SqliteMetricWriter }).writer["worker"] as unknown as Worker;

describe("the SQLite metric writer thread", () => {
  let database: (Database & { dataDir: string }) | undefined;
  afterEach(async () => database?.close());

  it("crosses a batch to the thread and back without changing a number", () => {
    const values = [NaN, Infinity, -Infinity, -0.5, 1e-300, Number.MAX_SAFE_INTEGER];
    const sent = [
      ...values.map((value, i) => ({ key: "a", step: -i, timestamp: 2 ** 52 + i, value })),
      { key: "b", step: 7, timestamp: 8, value: 9 },
    ];
    // Keys interleaved as a training loop sends them: each key's points stay in the order sent.
    sent.splice(2, 0, sent.pop()!);
    const series = seriesOf(sent);
    expect(series.points.length).toBe(3 * 7);
    const latest = [{ run_id: "r", experiment_id: "0", key: "b", value: 9, timestamp: 8, step: 7, is_nan: 0 }];
    const message: WriteMessage = { id: 3, args: ["r", [["p", "1"]], [["t", "x"]], series, latest] };
    const [runId, params, tags, back, latestBack] = structuredClone(message, { transfer: [series.points.buffer] }).args;
    expect(series.points.length).toBe(0); // transferred, not copied
    expect({ runId, params, tags, latestBack }).toEqual({ runId: "r", params: [["p", "1"]], tags: [["t", "x"]], latestBack: latest });
    const columns = seriesColumns(back).map(([key, p]) => [key, [...p.steps], [...p.timestamps], [...p.values]]);
    expect(columns).toEqual([
      ["a", values.map((_, i) => -i), values.map((_, i) => 2 ** 52 + i), values],
      ["b", [7], [8], [9]],
    ]);
    expect(Object.is(seriesColumns(back)[0]![1].steps[0], -0)).toBe(true);
  });

  it("answers a refused batch with its own error and stores the others of its group", async () => {
    database = await openTestDatabase("sqlite");
    const store = new MetricStore(database);
    await store.writeBatch("run-p", { metrics: points(3), params: { lr: "0.1" }, tags: {} }, "0");
    // Sent together, so the thread writes them in one transaction: the second's savepoint rolls back alone.
    const results = await Promise.allSettled([
      store.writeBatch("run-p", { metrics: points(5, 100), params: {}, tags: { a: "1" } }, "0"),
      store.writeBatch("run-p", { metrics: points(5, 200), params: { lr: "0.2" }, tags: {} }, "0"),
      store.writeBatch("run-p", { metrics: points(5, 300), params: { lr: "0.1" }, tags: {} }, "0"),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    const error = (results[1] as PromiseRejectedResult).reason as PlatformError;
    expect(error).toBeInstanceOf(PlatformError);
    expect(error.code).toBe("INVALID_INPUT");
    expect(error.message).toMatch(/param 'lr' of run run-p was already logged with value '0.1'/);
    expect(error.details).toEqual({ key: "lr", loggedValue: "0.1", attemptedValue: "0.2" });
    // k0 holds every third point: 0 from the first batch, 100 and 103, not 200 or 203, 300 and 303.
    const history = await store.history("run-p", "k0", { limit: 100 });
    expect(history.map((p) => p.step)).toEqual([0, 100, 103, 300, 303]);
    const tags = await database.db.selectFrom("tags").select(["key", "value"]).where("run_id", "=", "run-p").execute();
    expect(tags).toEqual([{ key: "a", value: "1" }]);
  });

  it("fails the batches a dead thread had not answered, never acknowledging a lost one, and starts a new thread for the next", async () => {
    database = await openTestDatabase("sqlite");
    const store = new MetricStore(database);
    await store.writeBatch("run-x", { metrics: points(3), params: {}, tags: {} }, "0");
    const first = workerOf(store);
    const sent = Array.from({ length: 20 }, (_, b) => store.writeBatch("run-x", { metrics: points(30, 1000 * (b + 1)), params: {}, tags: {} }, "0"));
    await first.terminate();
    const results = await Promise.allSettled(sent);
    const refused = results.filter((r) => r.status === "rejected").map((r) => (r as PromiseRejectedResult).reason as PlatformError);
    for (const error of refused) {
      expect(error.code).toBe("UNAVAILABLE");
      expect(error.message).toMatch(/the metric writer thread stopped .*send it again/);
    }
    // Every acknowledged batch is stored, whole.
    const stored = new Set((await store.history("run-x", "k0", { limit: 10_000 })).map((p) => p.step));
    results.forEach((r, b) => {
      if (r.status === "fulfilled") expect(stored.has(1000 * (b + 1)), `batch ${b}`).toBe(true);
    });
    await store.writeBatch("run-x", { metrics: points(3, 50_000), params: {}, tags: {} }, "0");
    expect(workerOf(store)).not.toBe(first);
    expect((await store.history("run-x", "k1", { limit: 10_000 })).map((p) => p.step)).toContain(50_001);
  });

  it("waits for a transaction of the server's thread that holds the lock past busy_timeout (5 s), then stores the batch", async () => {
    database = await openTestDatabase("sqlite");
    const db = database;
    const store = new MetricStore(db);
    let write: Promise<void> | undefined;
    let settled = false;
    await db.db.transaction().execute(async (trx) => {
      await trx.insertInto("tags").values({ run_id: "run-l", key: "held", value: "1" }).execute();
      write = store.writeBatch("run-l", { metrics: points(3), params: {}, tags: {} }, "0");
      void write.then(() => (settled = true));
      await new Promise((r) => setTimeout(r, 5_600));
      expect(settled).toBe(false);
    });
    await write;
    expect((await store.history("run-l", "k0", { limit: 10 })).map((p) => p.step)).toEqual([0]);
  }, 20_000);

  it("finishes what it was sent before the database closes", async () => {
    database = await openTestDatabase("sqlite");
    const { dataDir } = database;
    const store = new MetricStore(database);
    const sent = Array.from({ length: 10 }, (_, b) => store.writeBatch("run-c", { metrics: points(30, 100 * b), params: {}, tags: {} }, "0"));
    await database.close();
    database = undefined;
    await Promise.all(sent);
    const { openDatabase } = await import("../../storage/index.ts");
    database = { ...(await openDatabase({ dataDir })), dataDir };
    const count = await database.db.selectFrom("metric_chunks").select((eb) => eb.fn.sum<number>("count").as("n")).where("run_id", "=", "run-c").executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(300);
  });
});
