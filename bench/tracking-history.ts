// History bench (issue 15, item 3): one metric of 1,000,000 points downsampled to 1,000 buckets
// through GET /api/v1/runs/:id/metrics/:key/history on a real `paved up`, beside reading the same
// 1,000,000 raw points (every page of GET /api/v1/runs/:id/metrics/:key) in the same run, beside
// reading the chunk summaries and every chunk alone on the server's SQLite file (storage), and
// beside the old layout's per-point GROUP BY on a copy of the points in a one-row-per-point table.
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { appendPoints, CHUNK_POINTS, decodeChunk, encodeChunk, summarizeChunk } from "../src/storage/index.ts";
import { HttpClient, nowMs, printTable, round, startPaved, summarize, tempDir, type BenchOptions, type BenchResult } from "./support.ts";

const POINTS = 1_000_000;
const BUCKETS = 1000;
const REPEATS = 20;
const RAW_REPEATS = 1;
const TARGET_MS = 50;
const KEY = "train/loss";

const CHUNK_COLUMNS = ["count", "min_step", "max_step", "min_time", "max_time", "min_value", "max_value", "step_last_time", "step_last_value", "time_last_step", "time_last_value", "points"] as const;

/** The series' points: step 0 (value 1) through `points - 1`, a random walk, 10 ms apart. */
function* series(points: number): Generator<{ step: number; timestamp: number; value: number }> {
  const t0 = 1_700_000_000_000;
  let value = 1;
  yield { step: 0, timestamp: t0, value };
  for (let step = 1; step < points; step++) {
    value = Math.max(0, value + (Math.random() - 0.505) * 0.01);
    yield { step, timestamp: t0 + step * 10, value };
  }
}

/**
 * Writes the whole series straight into the server's SQLite file as log-batch leaves it (full
 * chunks of CHUNK_POINTS in step order, by the same codec), replacing the chunk step 0 was logged
 * in through the API; returns seconds, and the points for the old-layout copy.
 */
function seed(dbFile: string, runId: string, points: number): { seconds: number; all: { step: number; timestamp: number; value: number }[] } {
  const start = nowMs();
  const all = [...series(points)];
  const db = new BetterSqlite3(dbFile);
  db.pragma("busy_timeout = 10000");
  const insert = db.prepare(`insert into metric_chunks (run_id, key, seq, ${CHUNK_COLUMNS.join(", ")}) values (?, ?, ?, ${CHUNK_COLUMNS.map(() => "?").join(", ")})`);
  db.transaction(() => {
    db.prepare("delete from metric_chunks where run_id = ? and key = ?").run(runId, KEY);
    for (let from = 0, seq = 0; from < all.length; from += CHUNK_POINTS, seq++) {
      const p = appendPoints(undefined, all, from, Math.min(all.length, from + CHUNK_POINTS));
      const s = summarizeChunk(p);
      insert.run(runId, KEY, seq, ...CHUNK_COLUMNS.map((c) => (c === "points" ? encodeChunk(p) : s[c])));
    }
  })();
  db.close();
  return { seconds: round((nowMs() - start) / 1000, 1), all };
}

/** The same points in the one-row-per-point table Paved used before migration 017, in a file of their own. */
function seedOldLayout(file: string, runId: string, all: { step: number; timestamp: number; value: number }[]): BetterSqlite3.Database {
  const db = new BetterSqlite3(file);
  db.pragma("journal_mode = WAL");
  db.exec(`create table metrics (id integer primary key autoincrement, run_id text not null, key text not null, value double precision,
    timestamp bigint not null, step bigint not null, is_nan integer not null);
    create index metrics_history on metrics (run_id, key, step);`);
  const insert = db.prepare("insert into metrics (run_id, key, value, timestamp, step, is_nan) values (?, ?, ?, ?, ?, 0)");
  db.transaction(() => {
    for (const p of all) insert.run(runId, KEY, p.value, p.timestamp, p.step);
  })();
  return db;
}

async function timed(repeats: number, fn: () => Promise<unknown>, warm = true): Promise<ReturnType<typeof summarize>> {
  if (warm) await fn(); // warm the cache and the plan
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t = nowMs();
    await fn();
    times.push(nowMs() - t);
  }
  return summarize(times);
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const points = Math.max(10_000, Math.round(POINTS * options.scale));
  const paved = await startPaved({ name: "history" });
  try {
    const client = new HttpClient(paved.url, paved.token, 1);
    const created = await client.request<{ run: { info: { run_id: string } } }>("POST", "/api/2.0/mlflow/runs/create", { experiment_id: "0", start_time: 1 });
    const runId = created.run.info.run_id;
    // Step 0 through the API, so the run has the metric as log-batch leaves it (its latest value too).
    await client.request("POST", "/api/2.0/mlflow/runs/log-batch", { run_id: runId, metrics: [{ key: KEY, value: 1, step: 0, timestamp: 1_700_000_000_000 }] });
    process.stdout.write(`\nseeding one metric of ${points.toLocaleString("en-US")} points by direct inserts ...\n`);
    const { seconds: seedSeconds, all } = seed(join(paved.dataDir, "paved.db"), runId, points);
    const base = `/api/v1/runs/${runId}/metrics/${encodeURIComponent(KEY)}`;

    let buckets = 0;
    const downsampled = await timed(REPEATS, async () => {
      const body = await client.request<{ buckets: unknown[] }>("GET", `${base}/history?points=${BUCKETS}`);
      buckets = body.buckets.length;
    });
    const byTime = await timed(REPEATS, () => client.request("GET", `${base}/history?points=${BUCKETS}&axis=time`));
    const zoomFrom = Math.floor(points * 0.45);
    const zoomTo = Math.floor(points * 0.55);
    const zoom = await timed(REPEATS, () => client.request("GET", `${base}/history?points=${BUCKETS}&startStep=${zoomFrom}&endStep=${zoomTo}`));
    let rawPoints = 0;
    const raw = await timed(RAW_REPEATS, async () => {
      rawPoints = 0;
      let token: string | undefined;
      do {
        const page = await client.request<{ history: unknown[]; nextPageToken?: string }>("GET", `${base}${token ? `?pageToken=${token}` : ""}`);
        rawPoints += page.history.length;
        token = page.nextPageToken;
      } while (token);
    }, false); // after the downsampled reads, the pages are in the cache already

    // Storage alone, in process on the same file: the chunk summaries, and every chunk decoded.
    const db = new BetterSqlite3(join(paved.dataDir, "paved.db"), { readonly: true });
    const summaries = db.prepare(`select seq, ${CHUNK_COLUMNS.filter((c) => c !== "points").join(", ")} from metric_chunks where run_id = ? and key = ?`);
    const sqlSummaries = await timed(REPEATS, async () => summaries.all(runId, KEY));
    const readAll = db.prepare("select points from metric_chunks where run_id = ? and key = ? order by seq");
    let decoded = 0;
    const sqlReadAll = await timed(RAW_REPEATS, async () => {
      decoded = 0;
      for (const r of readAll.all(runId, KEY) as { points: Buffer }[]) decoded += decodeChunk(r.points).steps.length;
    });
    db.close();
    // The old layout beside it: its per-point GROUP BY (what the endpoint ran before) on a copy.
    const old = tempDir("history-old");
    let sqlGroupBy;
    try {
      const oldDb = seedOldLayout(join(old.path, "old.db"), runId, all);
      const width = Math.ceil(points / BUCKETS);
      const groupBy = oldDb.prepare(
        `select (step - 0) / ${width} as b, count(*), min(value), max(value), min(step), max(step), min(timestamp), max(timestamp)
         from metrics where run_id = ? and key = ? and step between 0 and ? group by 1 order by 1`,
      );
      sqlGroupBy = await timed(RAW_REPEATS, async () => groupBy.all(runId, KEY, points - 1));
      oldDb.close();
    } finally {
      old.remove();
    }
    client.close();

    const ms = (s: ReturnType<typeof summarize>) => round(s.p50, 1);
    printTable(`one metric of ${points.toLocaleString("en-US")} points (seeded in ${seedSeconds} s), SQLite`, ["read", "answered", "p50 ms", "p90 ms"], [
      [`downsampled, ${BUCKETS} buckets by step (HTTP)`, `${buckets} buckets`, ms(downsampled), round(downsampled.p90, 1)],
      [`downsampled, ${BUCKETS} buckets by time (HTTP)`, "", ms(byTime), round(byTime.p90, 1)],
      [`zoom: steps ${zoomFrom}-${zoomTo}, ${BUCKETS} buckets (HTTP)`, "", ms(zoom), round(zoom.p90, 1)],
      [`raw: every page of the history (HTTP, 25,000 a page)`, `${rawPoints} points`, ms(raw), round(raw.p90, 1)],
      ["storage: the chunk summaries alone, better-sqlite3 in process", "", ms(sqlSummaries), round(sqlSummaries.p90, 1)],
      ["storage: every chunk read and decoded, better-sqlite3 in process", `${decoded} points`, ms(sqlReadAll), round(sqlReadAll.p90, 1)],
      ["old layout: its per-point GROUP BY on a one-row-per-point copy (reference)", "", ms(sqlGroupBy), round(sqlGroupBy.p90, 1)],
    ]);
    const notes = [
      `downsampled p50 ${ms(downsampled)} ms vs raw ${ms(raw)} ms (${round(raw.p50 / downsampled.p50, 1)}x); target < ${TARGET_MS} ms: ${downsampled.p50 < TARGET_MS ? "met" : "NOT met"}`,
    ];
    for (const n of notes) process.stdout.write(`${n}\n`);
    return {
      name: "history",
      figures: { points, buckets, seedSeconds, downsampled, byTime, zoom, raw, rawPoints, sqlSummaries, sqlReadAll, oldLayoutGroupBy: sqlGroupBy },
      notes,
    };
  } finally {
    await paved.stop();
  }
}
