// Tracking bench: metric points per second through MLflow's runs/log-batch on a real `paved up`,
// beside the HTTP ceiling (a bare node:http server parsing the same bodies) and the storage
// ceiling (raw better-sqlite3 writes of the same points into the same chunk layout, same pragmas); then search_runs latency
// over 30,000 runs x 20 metrics.
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { appendPoints, CHUNK_POINTS, decodeChunk, encodeChunk, summarizeChunk, type ChunkPoints } from "../src/storage/index.ts";
import { search, SEARCH_TARGET_MS } from "./tracking-search.ts";
import { HttpClient, nowMs, printTable, round, startHelperServer, startPaved, summarize, tempDir, type BenchOptions, type BenchResult } from "./support.ts";

const POINTS_PER_BODY = 1000;
const KEYS = 10; // 10 metrics x 100 steps per body, like a training loop flushing every 100 steps
const CONNECTIONS = 4;
const BODIES_PER_CONNECTION = 50;
const TARGET_POINTS_PER_SECOND = 100_000;
const TARGET_SHARE_OF_SQLITE = 0.5;

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
