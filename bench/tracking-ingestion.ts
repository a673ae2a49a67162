// Tracking bench: metric points per second through MLflow's runs/log-batch on a real `paved up`,
// beside the HTTP ceiling (a bare node:http server parsing the same bodies) and the storage
// ceiling (raw better-sqlite3 writes of the same points into the same chunk layout, same pragmas); then search_runs latency
// over 30,000 runs x 20 metrics.
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { appendPoints, CHUNK_POINTS, decodeChunk, encodeChunk, summarizeChunk, type ChunkPoints } from "../src/storage/index.ts";
import { HttpClient, nowMs, printTable, round, startHelperServer, startPaved, summarize, tempDir, type BenchOptions, type BenchResult } from "./support.ts";

const POINTS_PER_BODY = 1000;
const KEYS = 10; // 10 metrics x 100 steps per body, like a training loop flushing every 100 steps
const CONNECTIONS = 4;
const BODIES_PER_CONNECTION = 50;
const TARGET_POINTS_PER_SECOND = 100_000;
const TARGET_SHARE_OF_SQLITE = 0.5;
const SEARCH_RUNS = 30_000;
const SEARCH_METRICS = 20;
const SEARCH_REPEATS = 20;
const SEED_VIA_API = 500;
const SEARCH_TARGET_MS = 1000;

interface MetricPoint {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}

/** Pre-serialized log-batch bodies per connection (one run each), built before any timer starts. */
function buildBodies(runIds: string[]): { bodies: string[][]; points: MetricPoint[][][] } {
  const t0 = Date.now();
  const bodies: string[][] = [];
  const points: MetricPoint[][][] = [];
  for (const runId of runIds) {
    const perRun: string[] = [];
    const perRunPoints: MetricPoint[][] = [];
    for (let b = 0; b < BODIES_PER_CONNECTION; b++) {
      const metrics: MetricPoint[] = [];
      for (let i = 0; i < POINTS_PER_BODY; i++) {
        const step = b * (POINTS_PER_BODY / KEYS) + Math.floor(i / KEYS);
        metrics.push({ key: `metric_${i % KEYS}`, value: Math.random(), timestamp: t0 + step, step });
      }
      perRun.push(JSON.stringify({ run_id: runId, metrics }));
      perRunPoints.push(metrics);
    }
    bodies.push(perRun);
    points.push(perRunPoints);
  }
  return { bodies, points };
}

/** Sends `requests` bodies over `CONNECTIONS` keep-alive connections; returns points per second. */
async function drive(client: HttpClient, path: string, bodies: string[][], requests: number): Promise<{ pointsPerSecond: number; seconds: number; latency: ReturnType<typeof summarize> }> {
  let next = 0;
  const latencies: number[] = [];
  const start = nowMs();
  await Promise.all(
    bodies.map(async (pool, c) => {
      for (let k = 0; ; k++) {
        if (next >= requests) return;
        next++;
        const t = nowMs();
        const { status, text } = await client.raw("POST", path, pool[k % pool.length]);
        if (status !== 200) throw new Error(`connection ${c}: ${path} answered ${status}: ${text.slice(0, 300)}`);
        latencies.push(nowMs() - t);
      }
    }),
  );
  const seconds = (nowMs() - start) / 1000;
  return { pointsPerSecond: (requests * POINTS_PER_BODY) / seconds, seconds: round(seconds, 3), latency: summarize(latencies) };
}

const CHUNK_DDL = `create table metric_chunks (
  run_id text not null, key text not null, seq integer not null, count integer not null,
  min_step bigint not null, max_step bigint not null, min_time bigint not null, max_time bigint not null,
  min_value double precision, max_value double precision,
  step_last_time bigint not null, step_last_value double precision, time_last_step bigint not null, time_last_value double precision,
  points blob not null, primary key (run_id, key, seq))`;
const CHUNK_COLUMNS = ["count", "min_step", "max_step", "min_time", "max_time", "min_value", "max_value", "step_last_time", "step_last_value", "time_last_step", "time_last_value", "points"] as const;

/**
 * The storage ceiling: the same points into the same layout with Paved's pragmas, one transaction
 * per body. `chunks`: the table of migration 017, each key's points appended to its open chunk
 * (read it, append, write it back; new chunks when full) by the same codec, as Paved's writes do,
 * without HTTP, validation or latest values. `rows`: the one-row-per-point table Paved used
 * before (001-initial's DDL, index included), for reference.
 */
function rawSqlite(points: MetricPoint[][][], batches: number, synchronous: "FULL" | "NORMAL" = "FULL", layout: "chunks" | "rows" = "chunks"): { pointsPerSecond: number; seconds: number } {
  const dir = tempDir("sqlite");
  try {
    const db = new BetterSqlite3(join(dir.path, "raw.db"));
    db.pragma("journal_mode = WAL");
    db.pragma(`synchronous = ${synchronous}`);
    db.pragma("busy_timeout = 5000");
    db.pragma("foreign_keys = ON");
    let writeBody: (runId: string, rows: MetricPoint[]) => void;
    if (layout === "rows") {
      db.exec(`create table metrics (
        id integer primary key autoincrement,
        run_id text not null,
        key text not null,
        value double precision,
        timestamp bigint not null,
        step bigint not null,
        is_nan integer not null
      );
      create index metrics_history on metrics (run_id, key, step);`);
      const insert = db.prepare("insert into metrics (run_id, key, value, timestamp, step, is_nan) values (?, ?, ?, ?, ?, ?)");
      writeBody = db.transaction((runId: string, rows: MetricPoint[]) => {
        for (const m of rows) insert.run(runId, m.key, m.value, m.timestamp, m.step, 0);
      });
    } else {
      db.exec(CHUNK_DDL);
      const selectOpen = db.prepare<[number, string, string], { seq: number; count: number; points: Buffer | null }>(
        "select seq, count, case when count < ? then points end as points from metric_chunks where run_id = ? and key = ? order by seq desc limit 1",
      );
      const upsert = db.prepare(
        `insert into metric_chunks (run_id, key, seq, ${CHUNK_COLUMNS.join(", ")}) values (?, ?, ?, ${CHUNK_COLUMNS.map(() => "?").join(", ")})
         on conflict (run_id, key, seq) do update set ${CHUNK_COLUMNS.map((c) => `${c} = excluded.${c}`).join(", ")}`,
      );
      const write = (runId: string, key: string, seq: number, p: ChunkPoints) => {
        const s = summarizeChunk(p);
        upsert.run(runId, key, seq, ...CHUNK_COLUMNS.map((c) => (c === "points" ? encodeChunk(p) : s[c])));
      };
      writeBody = db.transaction((runId: string, rows: MetricPoint[]) => {
        const byKey = new Map<string, MetricPoint[]>();
        for (const m of rows) (byKey.get(m.key) ?? byKey.set(m.key, []).get(m.key)!).push(m);
        for (const [key, list] of byKey) {
          const open = selectOpen.get(CHUNK_POINTS, runId, key);
          let from = 0;
          if (open?.points) {
            from = Math.min(list.length, CHUNK_POINTS - open.count);
            write(runId, key, open.seq, appendPoints(decodeChunk(open.points), list, 0, from));
          }
          for (let seq = open ? open.seq + 1 : 0; from < list.length; seq++) {
            const to = Math.min(list.length, from + CHUNK_POINTS);
            write(runId, key, seq, appendPoints(undefined, list, from, to));
            from = to;
          }
        }
      });
    }
    const start = nowMs();
    for (let b = 0; b < batches; b++) {
      const c = b % points.length;
      const pool = points[c]!;
      writeBody(`run-${c}`, pool[Math.floor(b / points.length) % pool.length]!);
    }
    const seconds = (nowMs() - start) / 1000;
    db.close();
    return { pointsPerSecond: (batches * POINTS_PER_BODY) / seconds, seconds: round(seconds, 3) };
  } finally {
    dir.remove();
  }
}

async function ingestion(options: BenchOptions): Promise<Record<string, unknown>> {
  const requests = Math.max(20, Math.round(1000 * options.scale));
  const warmup = Math.min(40, requests);
  const paved = await startPaved({ name: "tracking" });
  try {
    const client = new HttpClient(paved.url, paved.token, CONNECTIONS);
    const { experiment_id } = await client.request<{ experiment_id: string }>("POST", "/api/2.0/mlflow/experiments/create", { name: "ingestion-bench" });
    const runIds: string[] = [];
    for (let c = 0; c < CONNECTIONS; c++) {
      const { run } = await client.request<{ run: { info: { run_id: string } } }>("POST", "/api/2.0/mlflow/runs/create", {
        experiment_id,
        run_name: `ingest-${c}`,
        start_time: Date.now(),
      });
      runIds.push(run.info.run_id);
    }
    const { bodies, points } = buildBodies(runIds);
    const bodyBytes = Buffer.byteLength(bodies[0]![0]!);

    await drive(client, "/api/2.0/mlflow/runs/log-batch", bodies, warmup);
    const pavedResult = await drive(client, "/api/2.0/mlflow/runs/log-batch", bodies, requests);
    client.close();

    const bare = await startHelperServer("bare-http-server.ts");
    let bareResult;
    try {
      const bareClient = new HttpClient(bare.url, undefined, CONNECTIONS);
      await drive(bareClient, "/api/2.0/mlflow/runs/log-batch", bodies, warmup);
      bareResult = await drive(bareClient, "/api/2.0/mlflow/runs/log-batch", bodies, requests);
      bareClient.close();
    } finally {
      await bare.stop();
    }

    const sqliteResult = rawSqlite(points, requests);
    // Not a ceiling Paved may use (a power cut can lose acknowledged commits): it shows how much
    // of the storage cost is the fsync per commit on this disk.
    const sqliteNormal = rawSqlite(points, requests, "NORMAL");
    const sqliteRows = rawSqlite(points, requests, "FULL", "rows");

    const rows: (string | number)[][] = [
      ["paved up: POST runs/log-batch (HTTP + auth + validation + SQLite)", pavedResult.pointsPerSecond, pavedResult.latency.p50, pavedResult.latency.p99, "1.00"],
      ["bare node:http: parse JSON, answer {} (HTTP ceiling)", bareResult.pointsPerSecond, bareResult.latency.p50, bareResult.latency.p99, round(pavedResult.pointsPerSecond / bareResult.pointsPerSecond).toFixed(2)],
      ["raw better-sqlite3: same chunk appends, 1 txn per body (storage ceiling)", sqliteResult.pointsPerSecond, "-", "-", round(pavedResult.pointsPerSecond / sqliteResult.pointsPerSecond).toFixed(2)],
      ["  same, synchronous=NORMAL (no fsync per commit; reference only)", sqliteNormal.pointsPerSecond, "-", "-", round(pavedResult.pointsPerSecond / sqliteNormal.pointsPerSecond).toFixed(2)],
      ["  raw rows into the old one-row-per-point table (reference only)", sqliteRows.pointsPerSecond, "-", "-", round(pavedResult.pointsPerSecond / sqliteRows.pointsPerSecond).toFixed(2)],
    ];
    printTable(
      `Metric ingestion: ${requests} bodies x ${POINTS_PER_BODY} points, ${CONNECTIONS} keep-alive connections, body ${Math.round(bodyBytes / 1024)} KiB, WAL + synchronous=FULL`,
      ["path", "points/s", "p50 ms/body", "p99 ms/body", "paved / this"],
      rows,
    );
    const share = pavedResult.pointsPerSecond / sqliteResult.pointsPerSecond;
    return {
      requests,
      pointsPerBody: POINTS_PER_BODY,
      connections: CONNECTIONS,
      bodyBytes,
      paved: pavedResult,
      bareHttp: bareResult,
      rawSqlite: sqliteResult,
      rawSqliteSynchronousNormal: sqliteNormal,
      rawSqliteOldRowLayout: sqliteRows,
      pavedShareOfRawSqlite: round(share, 3),
      pavedShareOfBareHttp: round(pavedResult.pointsPerSecond / bareResult.pointsPerSecond, 3),
      targets: { pointsPerSecond: TARGET_POINTS_PER_SECOND, shareOfRawSqlite: TARGET_SHARE_OF_SQLITE },
      meetsPointsPerSecond: pavedResult.pointsPerSecond >= TARGET_POINTS_PER_SECOND,
      meetsShareOfRawSqlite: share >= TARGET_SHARE_OF_SQLITE,
    };
  } finally {
    await paved.stop();
  }
}

/** Seeds runs through the MLflow API (runs/create + one log-batch each), several in flight. */
async function seedRuns(client: HttpClient, experimentId: string, runs: number): Promise<{ runs: number; seconds: number; runsPerSecond: number }> {
  const optimizers = ["adam", "sgd", "adamw", "rmsprop"];
  let next = 0;
  const start = nowMs();
  const base = Date.now() - runs * 1000;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (;;) {
        const i = next++;
        if (i >= runs) return;
        const { run } = await client.request<{ run: { info: { run_id: string } } }>("POST", "/api/2.0/mlflow/runs/create", {
          experiment_id: experimentId,
          run_name: `search-${i}`,
          start_time: base + i * 1000,
        });
        const metrics = [];
        for (let m = 0; m < SEARCH_METRICS; m++) {
          const key = m === 0 ? "val_loss" : m === 1 ? "val_accuracy" : `metric_${m}`;
          metrics.push({ key, value: Math.random(), timestamp: base + i * 1000, step: 0 });
        }
        await client.request("POST", "/api/2.0/mlflow/runs/log-batch", {
          run_id: run.info.run_id,
          metrics,
          params: [
            { key: "optimizer", value: optimizers[i % optimizers.length] },
            { key: "lr", value: String([0.1, 0.01, 0.001][i % 3]) },
            { key: "hidden", value: String(32 * (1 + (i % 4))) },
          ],
          tags: [{ key: "team", value: i % 2 ? "vision" : "nlp" }],
        });
      }
    }),
  );
  const seconds = (nowMs() - start) / 1000;
  return { runs, seconds: round(seconds, 1), runsPerSecond: round(runs / seconds, 0) };
}

/**
 * Copies API-written runs into `total` runs by direct inserts into the same tables of the
 * server's SQLite file (every column copied, so the rows look exactly like the API's), with
 * fresh ids, names, start times and metric values. Seeding all 30,000 through the API is two
 * fsynced commits per run, minutes on a small machine; the search itself is what is measured.
 */
function seedDirect(dbFile: string, experimentId: string, total: number): { runs: number; seconds: number } {
  const start = nowMs();
  const db = new BetterSqlite3(dbFile);
  db.pragma("busy_timeout = 10000");
  const templates = db.prepare("select * from runs where experiment_id = ? order by start_time").all(experimentId) as Record<string, unknown>[];
  const have = templates.length;
  const columns = (table: string) => (db.prepare(`select * from ${table} limit 0`).columns() as { name: string }[]).map((c) => c.name).filter((c) => c !== "id");
  const insert = (table: string) => {
    const cols = columns(table);
    const stmt = db.prepare(`insert into ${table} (${cols.join(", ")}) values (${cols.map(() => "?").join(", ")})`);
    return (row: Record<string, unknown>) => stmt.run(...cols.map((c) => row[c] ?? null));
  };
  const insertRun = insert("runs");
  const insertTag = insert("tags");
  const insertParam = insert("params");
  const insertChunk = insert("metric_chunks");
  const insertLatest = insert("latest_metrics");
  const byRun = (table: string) => db.prepare(`select * from ${table} where run_id = ?`);
  const tagsOf = byRun("tags");
  const paramsOf = byRun("params");
  const chunksOf = byRun("metric_chunks");
  const latestOf = byRun("latest_metrics");
  const base = Number(templates[have - 1]?.start_time ?? Date.now());
  db.transaction(() => {
    for (let i = have; i < total; i++) {
      const template = templates[i % have]!;
      const oldId = String(template.run_id);
      const runId = `${oldId.slice(0, 16)}${i.toString(16).padStart(16, "0")}`;
      const name = `search-${i}`;
      insertRun({ ...template, run_id: runId, run_name: name, start_time: base + (i - have + 1) * 1000, artifact_uri: String(template.artifact_uri).replace(oldId, runId) });
      for (const t of tagsOf.all(oldId) as Record<string, unknown>[]) insertTag({ ...t, run_id: runId, value: t.key === "mlflow.runName" ? name : t.value });
      for (const p of paramsOf.all(oldId) as Record<string, unknown>[]) insertParam({ ...p, run_id: runId });
      const values = new Map<string, number>();
      // One point per key (step 0): its chunk again with a new value.
      for (const c of chunksOf.all(oldId) as Record<string, unknown>[]) {
        const value = Math.random();
        values.set(String(c.key), value);
        const p = decodeChunk(c.points as Buffer);
        const points = { steps: p.steps, timestamps: p.timestamps, values: Float64Array.of(value) };
        insertChunk({ ...c, ...summarizeChunk(points), run_id: runId, points: encodeChunk(points) });
      }
      for (const m of latestOf.all(oldId) as Record<string, unknown>[]) insertLatest({ ...m, run_id: runId, value: values.get(String(m.key)) ?? m.value });
    }
  })();
  db.close();
  return { runs: total - have, seconds: round((nowMs() - start) / 1000, 1) };
}

async function search(options: BenchOptions): Promise<Record<string, unknown>> {
  const runs = Math.max(2000, Math.round(SEARCH_RUNS * options.scale));
  const paved = await startPaved({ name: "search" });
  try {
    const client = new HttpClient(paved.url, paved.token, 8);
    const { experiment_id } = await client.request<{ experiment_id: string }>("POST", "/api/2.0/mlflow/experiments/create", { name: "search-bench" });
    const viaApi = Math.min(runs, SEED_VIA_API);
    process.stdout.write(`\nseeding ${runs.toLocaleString("en-US")} runs x ${SEARCH_METRICS} metrics + 3 params + 1 tag: ${viaApi} through the MLflow API, the rest by direct inserts copying them ...\n`);
    const api = await seedRuns(client, experiment_id, viaApi);
    const direct = seedDirect(join(paved.dataDir, "paved.db"), experiment_id, runs);
    const queries = [
      {
        name: "filter + order_by, max_results 100",
        body: { experiment_ids: [experiment_id], filter: "metrics.val_accuracy > 0.9 and params.optimizer = 'adam'", order_by: ["metrics.val_loss ASC"], max_results: 100 },
      },
      {
        name: "filter + order_by, max_results 1000",
        body: { experiment_ids: [experiment_id], filter: "metrics.val_accuracy > 0.5", order_by: ["metrics.val_loss ASC"], max_results: 1000 },
      },
      {
        name: "no filter, default order (start_time DESC), max_results 100",
        body: { experiment_ids: [experiment_id], max_results: 100 },
      },
    ];
    const results: Record<string, unknown>[] = [];
    for (const q of queries) {
      const times: number[] = [];
      let returned = 0;
      for (let r = 0; r < SEARCH_REPEATS + 1; r++) {
        const t = nowMs();
        const answer = await client.request<{ runs?: unknown[] }>("POST", "/api/2.0/mlflow/runs/search", q.body);
        if (r > 0) times.push(nowMs() - t); // the first call warms caches and is reported apart
        returned = answer.runs?.length ?? 0;
      }
      results.push({ query: q.name, body: q.body, returned, ms: summarize(times) });
    }
    client.close();
    printTable(
      `search_runs over ${runs.toLocaleString("en-US")} runs x ${SEARCH_METRICS} metrics (${api.runs} seeded through the MLflow API at ${api.runsPerSecond} runs/s, ${direct.runs} by direct inserts in ${direct.seconds} s), ${SEARCH_REPEATS} repeats`,
      ["query", "runs returned", "p50 ms", "p99 ms", "target ms"],
      results.map((r) => {
        const ms = r.ms as ReturnType<typeof summarize>;
        return [r.query as string, r.returned as number, ms.p50, ms.p99, SEARCH_TARGET_MS];
      }),
    );
    const main = results[0]!.ms as ReturnType<typeof summarize>;
    return { runs, metricsPerRun: SEARCH_METRICS, seeding: { api: { via: "MLflow REST API (runs/create + runs/log-batch, 8 in flight)", ...api }, direct: { via: "direct inserts into the server's SQLite tables, copying the API-written rows", ...direct } }, queries: results, targetMs: SEARCH_TARGET_MS, meetsTarget: main.p50 < SEARCH_TARGET_MS };
  } finally {
    await paved.stop();
  }
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  // BENCH_TRACKING=ingestion (or search) runs one part: ingestion at BENCH_SCALE=10 without
  // seeding 300,000 runs for search.
  const parts = (process.env.BENCH_TRACKING ?? "ingestion,search").split(",");
  const ingest = parts.includes("ingestion") ? await ingestion(options) : undefined;
  const searchFigures = parts.includes("search") ? await search(options) : undefined;
  const notes: string[] = [];
  if (ingest) {
    notes.push(
      `ingestion: ${Math.round((ingest.paved as { pointsPerSecond: number }).pointsPerSecond).toLocaleString("en-US")} points/s; target >= ${TARGET_POINTS_PER_SECOND.toLocaleString("en-US")}: ${ingest.meetsPointsPerSecond ? "met" : "NOT met"}`,
      `ingestion: ${Math.round((ingest.pavedShareOfRawSqlite as number) * 100)}% of raw SQLite; target >= ${TARGET_SHARE_OF_SQLITE * 100}%: ${ingest.meetsShareOfRawSqlite ? "met" : "NOT met"}`,
    );
  }
  if (searchFigures) {
    notes.push(`search_runs p50 (filter + order_by): ${((searchFigures.queries as { ms: { p50: number } }[])[0]!.ms.p50)} ms; target < ${SEARCH_TARGET_MS} ms: ${searchFigures.meetsTarget ? "met" : "NOT met"}`);
  }
  return { name: "tracking", figures: { ingestion: ingest, search: searchFigures }, notes };
}
