// History bench (issue 15, item 3): one metric of 1,000,000 points downsampled to 1,000 buckets
// through GET /api/v1/runs/:id/metrics/:key/history on a real `paved up`, beside reading the same
// 1,000,000 raw points (every page of GET /api/v1/runs/:id/metrics/:key) in the same run, and
// beside the bucketing query alone on the server's SQLite file (the storage ceiling).
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { HttpClient, nowMs, printTable, round, startPaved, summarize, type BenchOptions, type BenchResult } from "./support.ts";

const POINTS = 1_000_000;
const BUCKETS = 1000;
const REPEATS = 20;
const RAW_REPEATS = 1;
const TARGET_MS = 50;
const KEY = "train/loss";

/** Inserts `points` steps of one metric straight into the server's SQLite file, as log-batch writes them. */
function seed(dbFile: string, runId: string, points: number): number {
  const start = nowMs();
  const db = new BetterSqlite3(dbFile);
  db.pragma("busy_timeout = 10000");
  const insert = db.prepare("insert into metrics (run_id, key, value, timestamp, step, is_nan) values (?, ?, ?, ?, ?, 0)");
  const t0 = 1_700_000_000_000;
  let value = 1;
  for (let from = 1; from < points; from += 100_000) {
    db.transaction(() => {
      for (let step = from; step < Math.min(points, from + 100_000); step++) {
        value = Math.max(0, value + (Math.random() - 0.505) * 0.01);
        insert.run(runId, KEY, value, t0 + step * 10, step);
      }
    })();
  }
  db.close();
  return round((nowMs() - start) / 1000, 1);
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
    const seedSeconds = seed(join(paved.dataDir, "paved.db"), runId, points);
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

    // The storage ceiling: the bucketing query and a full read, in process on the same file.
    const db = new BetterSqlite3(join(paved.dataDir, "paved.db"), { readonly: true });
    const width = Math.ceil(points / BUCKETS);
    const groupBy = db.prepare(
      `select (step - 0) / ${width} as b, count(*), min(value), max(value), min(step), max(step), min(timestamp), max(timestamp)
       from metrics where run_id = ? and key = ? and step between 0 and ? group by 1 order by 1`,
    );
    const sqlGroupBy = await timed(REPEATS, async () => groupBy.all(runId, KEY, points - 1));
    const readAll = db.prepare("select value, step, timestamp from metrics where run_id = ? and key = ? order by step");
    const sqlReadAll = await timed(RAW_REPEATS, async () => readAll.all(runId, KEY));
    db.close();
    client.close();

    const ms = (s: ReturnType<typeof summarize>) => round(s.p50, 1);
    printTable(`one metric of ${points.toLocaleString("en-US")} points (seeded in ${seedSeconds} s), SQLite`, ["read", "answered", "p50 ms", "p90 ms"], [
      [`downsampled, ${BUCKETS} buckets by step (HTTP)`, `${buckets} buckets`, ms(downsampled), round(downsampled.p90, 1)],
      [`downsampled, ${BUCKETS} buckets by time (HTTP)`, "", ms(byTime), round(byTime.p90, 1)],
      [`zoom: steps ${zoomFrom}-${zoomTo}, ${BUCKETS} buckets (HTTP)`, "", ms(zoom), round(zoom.p90, 1)],
      [`raw: every page of the history (HTTP, 25,000 a page)`, `${rawPoints} points`, ms(raw), round(raw.p90, 1)],
      ["storage: the GROUP BY alone, better-sqlite3 in process", "", ms(sqlGroupBy), round(sqlGroupBy.p90, 1)],
      ["storage: select every point, better-sqlite3 in process", "", ms(sqlReadAll), round(sqlReadAll.p90, 1)],
    ]);
    const notes = [
      `downsampled p50 ${ms(downsampled)} ms vs raw ${ms(raw)} ms (${round(raw.p50 / downsampled.p50, 1)}x); target < ${TARGET_MS} ms: ${downsampled.p50 < TARGET_MS ? "met" : "NOT met"}`,
    ];
    for (const n of notes) process.stdout.write(`${n}\n`);
    return {
      name: "history",
      figures: { points, buckets, seedSeconds, downsampled, byTime, zoom, raw, rawPoints, sqlGroupBy, sqlReadAll },
      notes,
    };
  } finally {
    await paved.stop();
  }
}
