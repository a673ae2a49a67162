// Tracking bench: metric points per second through MLflow's runs/log-batch on a real `paved up`,
// on SQLite and on PostgreSQL, beside the storage ceiling of each (raw better-sqlite3 / raw `pg`
// writes of the same points into the same chunk layout, from this process) at the same size in
// the same run: 1M points by default, 10M with --10m, 100M with --100m. At the first size also
// bare node:http servers driven with the same bodies (bench/bare-http-server.ts): the HTTP ceiling
// (parse only) and the floors (parse and store, nothing else: what any server reaches here),
// Paved's store alone (no HTTP) and two reference rows; each row with its CPU time per body,
// server (and its main thread) and client (Linux). Then search_runs latency over 30,000 runs x 20
// metrics (bench/tracking-search.ts). BENCH_CONNECTIONS sets the client's connections (4);
// BENCH_PAVED_OUTPUT=file keeps each paved up's output (its --trace-gc lines, say).
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, existsSync, statSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { LocalArtifactStore } from "../src/artifacts/index.ts";
import { loadConfig } from "../src/config/index.ts";
import { createLogger, randomIds, systemClock } from "../src/core/index.ts";
import { createTrackingModule } from "../src/modules/tracking/index.ts";
import { openDatabase } from "../src/storage/index.ts";
import { CHUNK_DDL, openRawSqlite, pgChunkAppend, rawChunkWriter, type MetricPoint } from "./raw-chunk-writer.ts";
import { search, SEARCH_TARGET_MS } from "./tracking-search.ts";
import { HttpClient, nowMs, printTable, processCpuMs, ROOT, round, startHelperServer, startPaved, summarize, tempDir, type BenchOptions, type BenchResult } from "./support.ts";

const POINTS_PER_BODY = 1000;
const KEYS = 10; // 10 metrics x 100 steps per body, like a training loop flushing every 100 steps
/** The client's keep-alive connections, one run each: 4, or BENCH_CONNECTIONS. */
const CONNECTIONS = connections(process.env.BENCH_CONNECTIONS);
const BODIES_PER_CONNECTION = 50;
const TARGET_POINTS_PER_SECOND = 100_000;
/** Issue 15: Paved at >= 80% of raw writes into the same layout, and 10M/100M within 20% of 1M. */
const TARGET_SHARE_OF_RAW = 0.8;
const TARGET_SHARE_OF_FIRST_SIZE = 0.8;
const MILLION = 1_000_000;

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
async function drive(
  client: HttpClient,
  path: string,
  bodies: string[][],
  requests: number,
  serverPid?: number,
): Promise<{ pointsPerSecond: number; seconds: number; latency: ReturnType<typeof summarize>; cpuMsPerBody?: { server: number; serverMain: number; client: number } }> {
  let next = 0;
  const latencies: number[] = [];
  const serverCpu = serverPid === undefined ? undefined : processCpuMs(serverPid);
  const clientCpu = process.cpuUsage();
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
  const clientUsed = process.cpuUsage(clientCpu);
  const serverAfter = serverPid === undefined ? undefined : processCpuMs(serverPid);
  // CPU per body: where the time of a CPU-bound run goes (this machine may have fewer cores than the processes want).
  const cpuMsPerBody =
    serverCpu && serverAfter ? { server: round((serverAfter.all - serverCpu.all) / requests, 2), serverMain: round((serverAfter.main - serverCpu.main) / requests, 2), client: round((clientUsed.user + clientUsed.system) / 1000 / requests, 2) } : undefined;
  return { pointsPerSecond: (requests * POINTS_PER_BODY) / seconds, seconds: round(seconds, 3), latency: summarize(latencies), ...(cpuMsPerBody ? { cpuMsPerBody } : {}) };
}

/** Yields to the event loop, so a long synchronous write loop never holds it for more than one body. */
const yieldLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The SQLite storage ceiling: the same points into the same layout with Paved's pragmas, one
 * transaction per body. `chunks`: the table of migration 017, each key's points appended to its
 * open chunk (read it, append, write it back; new chunks when full) by the same codec, as Paved's
 * writes do, without HTTP, validation or latest values. `rows`: the one-row-per-point table Paved
 * used before (001-initial's DDL, index included), for reference. Yields between bodies.
 */
async function rawSqlite(points: MetricPoint[][][], batches: number, synchronous: "FULL" | "NORMAL" = "FULL", layout: "chunks" | "rows" = "chunks"): Promise<Measured> {
  const dir = tempDir("sqlite");
  try {
    const file = join(dir.path, "raw.db");
    const db = openRawSqlite(file, synchronous);
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
      writeBody = rawChunkWriter(db).append;
    }
    const cpu = process.cpuUsage();
    const start = nowMs();
    for (let b = 0; b < batches; b++) {
      const c = b % points.length;
      const pool = points[c]!;
      writeBody(`run-${c}`, pool[Math.floor(b / points.length) % pool.length]!);
      await yieldLoop();
    }
    const seconds = (nowMs() - start) / 1000;
    const used = process.cpuUsage(cpu);
    db.pragma("wal_checkpoint(TRUNCATE)");
    db.close();
    return { pointsPerSecond: (batches * POINTS_PER_BODY) / seconds, seconds: round(seconds, 3), cpuMsPerBody: { server: round((used.user + used.system) / 1000 / batches, 2), client: 0 }, bytesPerPoint: round(statSync(file).size / (batches * POINTS_PER_BODY), 1) };
  } finally {
    dir.remove();
  }
}

/**
 * Paved's store alone: `TrackingService.logBatch` called from this process by CONNECTIONS callers
 * (one run each), on a fresh SQLite database with Paved's schema: the writer thread, the group
 * commit and the latest values, without HTTP, authentication or the body's JSON. Splits the gap
 * between `paved up` and the raw ceiling into what storage costs and what the request costs.
 */
async function storeAlone(points: MetricPoint[][][], batches: number): Promise<Measured> {
  const dir = tempDir("store");
  const database = await openDatabase({ dataDir: dir.path });
  try {
    const config = loadConfig({ env: {}, overrides: { dataDir: dir.path, logLevel: "silent" } });
    const { service } = createTrackingModule({ database, artifacts: new LocalArtifactStore(join(dir.path, "artifacts")), clock: systemClock, ids: randomIds, config, logger: createLogger("silent") });
    const experimentId = await service.ensureExperiment("store-alone", "default");
    const runIds: string[] = [];
    for (let c = 0; c < points.length; c++) runIds.push((await service.createRun({ experimentId, runName: `store-${c}`, userId: "bench" })).runId);
    // Warm-up, as the HTTP rows have: the first write starts the writer thread.
    for (const runId of runIds) await service.logBatch(runId, { metrics: [{ key: "warmup", value: 0, timestamp: Date.now(), step: 0 }] });
    let next = 0;
    const cpu = process.cpuUsage();
    const start = nowMs();
    await Promise.all(
      points.map(async (pool, c) => {
        for (let k = 0; next < batches; k++) {
          next++;
          // A copy, as a parsed body is: logBatch may fill in a missing timestamp.
          await service.logBatch(runIds[c]!, { metrics: pool[k % pool.length]!.map((m) => ({ ...m })) });
        }
      }),
    );
    const seconds = (nowMs() - start) / 1000;
    const used = process.cpuUsage(cpu);
    return { pointsPerSecond: (batches * POINTS_PER_BODY) / seconds, seconds: round(seconds, 3), cpuMsPerBody: { server: round((used.user + used.system) / 1000 / batches, 2), client: 0 } };
  } finally {
    await database.close();
    dir.remove();
  }
}

/**
 * The PostgreSQL storage ceiling: the same chunk appends into migration 017's layout on a fresh
 * database, one transaction per body, over CONNECTIONS connections (one run each, as Paved is
 * driven), each body as pgChunkAppend writes it. No HTTP, validation or latest values.
 */
async function rawPostgres(url: string, points: MetricPoint[][][], batches: number): Promise<Measured> {
  const pool = new pg.Pool({ connectionString: url, max: CONNECTIONS });
  try {
    await pool.query(CHUNK_DDL.replace("$BLOB", "bytea"));
    let next = 0;
    const start = nowMs();
    await Promise.all(
      points.map(async (perRun, c) => {
        const client = await pool.connect();
        try {
          for (let k = 0; next < batches; k++) {
            next++;
            const runId = `run-${c}`;
            await pgChunkAppend(client, runId, perRun[k % perRun.length]!);
          }
        } finally {
          client.release();
        }
      }),
    );
    const seconds = (nowMs() - start) / 1000;
    const size = await pool.query<{ bytes: string }>("select pg_total_relation_size('metric_chunks') as bytes");
    return { pointsPerSecond: (batches * POINTS_PER_BODY) / seconds, seconds: round(seconds, 3), bytesPerPoint: round(Number(size.rows[0]!.bytes) / (batches * POINTS_PER_BODY), 1) };
  } finally {
    await pool.end();
  }
}

interface Measured {
  pointsPerSecond: number;
  seconds: number;
  latency?: ReturnType<typeof summarize>;
  /** CPU time per body of the server process (all its threads) and of this process, the client (Linux). */
  cpuMsPerBody?: { server: number; serverMain?: number; client: number };
  /** The store's size on disk after the run over the points written (SQLite: the database file; PostgreSQL: metric_chunks with its indexes). */
  bytesPerPoint?: number;
}

/** PostgreSQL for the bench: BENCH_DATABASE_URL, or the throwaway cluster the tests use (scripts/pg-up.sh); BENCH_POSTGRES=0 skips it. */
function postgresAdminUrl(): { url?: string; why?: string } {
  if (process.env.BENCH_POSTGRES === "0") return { why: "BENCH_POSTGRES=0" };
  if (process.env.BENCH_DATABASE_URL) return { url: process.env.BENCH_DATABASE_URL };
  try {
    return { url: execFileSync("bash", [`${ROOT}scripts/pg-up.sh`], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim().split("\n").at(-1)! };
  } catch (error) {
    return { why: `scripts/pg-up.sh failed (${(error as Error).message.split("\n")[0]}); set BENCH_DATABASE_URL` };
  }
}

/** A new database on the admin URL's server, dropped by `drop()`. */
async function freshDatabase(admin: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `paved_bench_${randomBytes(5).toString("hex")}`;
  const run = async (statement: string) => {
    const client = new pg.Client({ connectionString: admin });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await run(`create database ${name}`);
  return { url: admin.replace(/\/[^/]*$/, `/${name}`), drop: () => run(`drop database if exists ${name} with (force)`) };
}

/**
 * `requests` log-batch bodies (after `warmup` more) into a fresh `paved up` with `config`, four
 * runs on four keep-alive connections; `size()` tells the store's bytes once the points are in.
 */
async function pavedIngest(opts: { config?: Record<string, unknown>; requests: number; warmup: number; size(paved: { dataDir: string }): Promise<number> }): Promise<Measured & { bodies: string[][]; points: MetricPoint[][][] }> {
  const prof = process.env.BENCH_CPU_PROF;
  const nodeArgs = [...(prof ? ["--cpu-prof", `--cpu-prof-dir=${prof}`] : []), ...(process.env.BENCH_PAVED_NODE_ARGS?.split(" ").filter(Boolean) ?? [])];
  const paved = await startPaved({ name: "tracking", ...(opts.config ? { config: opts.config } : {}), nodeArgs });
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
    await drive(client, "/api/2.0/mlflow/runs/log-batch", bodies, opts.warmup);
    const result = await drive(client, "/api/2.0/mlflow/runs/log-batch", bodies, opts.requests, paved.child.pid);
    client.close();
    const bytes = await opts.size(paved);
    return { ...result, bytesPerPoint: round(bytes / ((opts.requests + opts.warmup) * POINTS_PER_BODY), 1), bodies, points };
  } finally {
    await paved.stop();
    // BENCH_PAVED_OUTPUT=file: the server's output (its --trace-gc lines, say) is appended there.
    if (process.env.BENCH_PAVED_OUTPUT) appendFileSync(process.env.BENCH_PAVED_OUTPUT, paved.output());
  }
}

/** SQLite's files in a data folder (the database and its WAL), in bytes. */
function sqliteBytes(dataDir: string): number {
  return ["paved.db", "paved.db-wal"].map((f) => join(dataDir, f)).filter((f) => existsSync(f)).reduce((sum, f) => sum + statSync(f).size, 0);
}

async function postgresBytes(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return Number((await client.query<{ bytes: string }>("select pg_total_relation_size('metric_chunks') as bytes")).rows[0]!.bytes);
  } finally {
    await client.end();
  }
}

interface SizeFigures {
  points: number;
  requests: number;
  sqlite: { paved: Measured; raw: Measured; share: number };
  postgres?: { paved: Measured; raw: Measured; share: number };
}

/**
 * The sweep: for each size, Paved on SQLite, raw SQLite, Paved on PostgreSQL and raw PostgreSQL,
 * each on a fresh store, one after the other; at the first size also the HTTP ceiling and the
 * reference rows.
 */
async function ingestion(options: BenchOptions): Promise<Record<string, unknown>> {
  const first = Math.max(20, Math.round(1000 * options.scale));
  const requestCounts = [first];
  if (process.argv.includes("--10m")) requestCounts.push((10 * MILLION) / POINTS_PER_BODY);
  if (process.argv.includes("--100m")) requestCounts.push((100 * MILLION) / POINTS_PER_BODY);
  const postgres = postgresAdminUrl();
  const sizes: SizeFigures[] = [];
  let reference: Record<string, Measured> | undefined;
  let bodyBytes = 0;
  for (const requests of requestCounts) {
    const warmup = Math.min(40, requests);
    const points = (requests + warmup) * POINTS_PER_BODY;
    const label = `${(requests * POINTS_PER_BODY).toLocaleString("en-US")} points`;
    process.stdout.write(`\n${label}: paved up on SQLite ...`);
    const pavedSqlite = await pavedIngest({ requests, warmup, size: async (p) => sqliteBytes(p.dataDir) });
    bodyBytes = Buffer.byteLength(pavedSqlite.bodies[0]![0]!);
    process.stdout.write(` ${Math.round(pavedSqlite.pointsPerSecond).toLocaleString("en-US")} points/s; raw SQLite ...`);
    const rawSqliteResult = await rawSqlite(pavedSqlite.points, requests);
    process.stdout.write(` ${Math.round(rawSqliteResult.pointsPerSecond).toLocaleString("en-US")}`);
    const figures: SizeFigures = {
      points,
      requests,
      sqlite: { paved: strip(pavedSqlite), raw: rawSqliteResult, share: round(pavedSqlite.pointsPerSecond / rawSqliteResult.pointsPerSecond, 3) },
    };
    if (postgres.url) {
      process.stdout.write(`; paved up on PostgreSQL ...`);
      const pavedDb = await freshDatabase(postgres.url);
      let pavedPg;
      try {
        pavedPg = await pavedIngest({ config: { databaseUrl: pavedDb.url }, requests, warmup, size: () => postgresBytes(pavedDb.url) });
      } finally {
        await pavedDb.drop();
      }
      process.stdout.write(` ${Math.round(pavedPg.pointsPerSecond).toLocaleString("en-US")} points/s; raw PostgreSQL ...`);
      const rawDb = await freshDatabase(postgres.url);
      let rawPg;
      try {
        rawPg = await rawPostgres(rawDb.url, pavedSqlite.points, requests);
      } finally {
        await rawDb.drop();
      }
      process.stdout.write(` ${Math.round(rawPg.pointsPerSecond).toLocaleString("en-US")}`);
      figures.postgres = { paved: strip(pavedPg), raw: rawPg, share: round(pavedPg.pointsPerSecond / rawPg.pointsPerSecond, 3) };
    }
    process.stdout.write("\n");
    if (!reference) {
      reference = {
        bareHttp: await bareServer(() => [], pavedSqlite.bodies, requests, warmup),
        bareHttpStore: await bareServer((dir) => ["--store", join(dir, "bare.db")], pavedSqlite.bodies, requests, warmup),
        bareHttpWriterThread: await bareServer((dir) => ["--store", join(dir, "bare.db"), "--writer-thread"], pavedSqlite.bodies, requests, warmup),
      };
      if (postgres.url) {
        const bareDb = await freshDatabase(postgres.url);
        try {
          reference.bareHttpPostgres = await bareServer(() => ["--store-pg", bareDb.url], pavedSqlite.bodies, requests, warmup);
        } finally {
          await bareDb.drop();
        }
      }
      // Not a ceiling Paved may use (a power cut can lose acknowledged commits): it shows how much
      // of the storage cost is the fsync per commit on this disk.
      reference.sqliteStoreAlone = await storeAlone(pavedSqlite.points, requests);
      reference.sqliteSynchronousNormal = await rawSqlite(pavedSqlite.points, requests, "NORMAL");
      reference.sqliteOldRowLayout = await rawSqlite(pavedSqlite.points, requests, "FULL", "rows");
    }
    sizes.push(figures);
  }

  const base = sizes[0]!;
  const rows: (string | number)[][] = [];
  const cpu = (m: Measured) => (m.cpuMsPerBody ? `${m.cpuMsPerBody.server}${m.cpuMsPerBody.serverMain !== undefined ? ` (${m.cpuMsPerBody.serverMain})` : ""} + ${m.cpuMsPerBody.client}` : "-");
  const row = (name: string, size: SizeFigures, m: Measured, baseline: Measured, ceiling?: Measured) => [
    name,
    (size.requests * POINTS_PER_BODY).toLocaleString("en-US"),
    m.pointsPerSecond,
    m.latency?.p50 ?? "-",
    m.latency?.p99 ?? "-",
    ceiling ? round(m.pointsPerSecond / ceiling.pointsPerSecond).toFixed(2) : "-",
    round(m.pointsPerSecond / baseline.pointsPerSecond).toFixed(2),
    m.bytesPerPoint ?? "-",
    cpu(m),
  ];
  for (const size of sizes) {
    rows.push(row("paved up on SQLite: POST runs/log-batch (HTTP + auth + validation + storage)", size, size.sqlite.paved, base.sqlite.paved, size.sqlite.raw));
    rows.push(row("raw better-sqlite3: same chunk appends, 1 txn per body (SQLite ceiling)", size, size.sqlite.raw, base.sqlite.raw));
    if (size.postgres && base.postgres) {
      rows.push(row("paved up on PostgreSQL: POST runs/log-batch", size, size.postgres.paved, base.postgres.paved, size.postgres.raw));
      rows.push(row("raw pg: same chunk appends, 1 txn per body, 4 connections (PostgreSQL ceiling)", size, size.postgres.raw, base.postgres.raw));
    }
  }
  printTable(
    `Metric ingestion sweep: bodies of ${POINTS_PER_BODY} points (${Math.round(bodyBytes / 1024)} KiB), ${CONNECTIONS} keep-alive connections, one run each; SQLite WAL + synchronous=FULL${postgres.url ? "" : `; PostgreSQL rows skipped: ${postgres.why}`}`,
    ["path", "points", "points/s", "p50 ms/body", "p99 ms/body", "of raw", "of first size", "bytes/point", "CPU ms/body: server (main thread) + client"],
    rows,
  );
  const ref = reference!;
  // `of raw` and `paved / this` against the same database's rows (SQLite unless said).
  const refRow = (name: string, m: Measured, dialect: "sqlite" | "postgres" = "sqlite") => [
    name,
    m.pointsPerSecond,
    m.latency?.p50 ?? "-",
    m.latency?.p99 ?? "-",
    round(m.pointsPerSecond / base[dialect]!.raw.pointsPerSecond).toFixed(2),
    round(base[dialect]!.paved.pointsPerSecond / m.pointsPerSecond).toFixed(2),
    cpu(m),
  ];
  printTable(
    `At ${(base.requests * POINTS_PER_BODY).toLocaleString("en-US")} points, for reference`,
    ["path", "points/s", "p50 ms/body", "p99 ms/body", "of raw", "paved / this", "CPU ms/body: server (main thread) + client"],
    [
      refRow("bare node:http: parse JSON, answer {} (HTTP ceiling)", ref.bareHttp!),
      refRow("bare node:http + raw chunk appends, 1 txn per body on its thread", ref.bareHttpStore!),
      refRow("bare node:http + raw chunk appends on a writer thread, group commit", ref.bareHttpWriterThread!),
      ...(ref.bareHttpPostgres ? [refRow("bare node:http + raw pg chunk appends, 1 txn per body, 4 connections", ref.bareHttpPostgres, "postgres")] : []),
      refRow("Paved's store alone: TrackingService.logBatch in-process, no HTTP (SQLite)", ref.sqliteStoreAlone!),
      refRow("raw better-sqlite3, synchronous=NORMAL (no fsync per commit)", ref.sqliteSynchronousNormal!),
      refRow("raw rows into the old one-row-per-point table", ref.sqliteOldRowLayout!),
    ],
  );
  return {
    pointsPerBody: POINTS_PER_BODY,
    connections: CONNECTIONS,
    bodyBytes,
    postgres: postgres.url ? "on" : `skipped: ${postgres.why}`,
    sizes,
    reference: ref,
    targets: { pointsPerSecond: TARGET_POINTS_PER_SECOND, shareOfRaw: TARGET_SHARE_OF_RAW, shareOfFirstSize: TARGET_SHARE_OF_FIRST_SIZE },
  };
}

/**
 * A bare node:http server (bench/bare-http-server.ts with `flags`, given a fresh folder for its store)
 * driven with the same bodies as Paved: what any server parsing them, and storing them, reaches here.
 */
async function bareServer(flags: (dir: string) => string[], bodies: string[][], requests: number, warmup: number): Promise<Measured> {
  const dir = tempDir("bare");
  const bare = await startHelperServer("bare-http-server.ts", flags(dir.path));
  try {
    const client = new HttpClient(bare.url, undefined, CONNECTIONS);
    await drive(client, "/api/2.0/mlflow/runs/log-batch", bodies, warmup);
    const measured = await drive(client, "/api/2.0/mlflow/runs/log-batch", bodies, requests, bare.pid);
    client.close();
    return measured;
  } finally {
    await bare.stop();
    dir.remove();
  }
}

/** A measurement without the bodies and points it was driven with. */
function strip(m: Measured & { bodies?: unknown; points?: unknown }): Measured {
  return { pointsPerSecond: m.pointsPerSecond, seconds: m.seconds, ...(m.latency ? { latency: m.latency } : {}), ...(m.cpuMsPerBody ? { cpuMsPerBody: m.cpuMsPerBody } : {}), ...(m.bytesPerPoint !== undefined ? { bytesPerPoint: m.bytesPerPoint } : {}) };
}

function ingestionNotes(figures: Record<string, unknown>): string[] {
  const sizes = figures.sizes as SizeFigures[];
  const base = sizes[0]!;
  const pct = (x: number) => `${Math.round(x * 100)}%`;
  const notes: string[] = [];
  for (const size of sizes) {
    const n = (size.requests * POINTS_PER_BODY).toLocaleString("en-US");
    for (const dialect of ["sqlite", "postgres"] as const) {
      const d = size[dialect];
      if (!d) continue;
      const name = dialect === "sqlite" ? "SQLite" : "PostgreSQL";
      notes.push(`ingestion at ${n} points on ${name}: ${Math.round(d.paved.pointsPerSecond).toLocaleString("en-US")} points/s, ${pct(d.share)} of raw; target >= ${pct(TARGET_SHARE_OF_RAW)}: ${d.share >= TARGET_SHARE_OF_RAW ? "met" : "NOT met"}`);
      const baseline = base[dialect];
      if (size !== base && baseline) {
        const ratio = d.paved.pointsPerSecond / baseline.paved.pointsPerSecond;
        notes.push(`ingestion at ${n} points on ${name}: ${pct(ratio)} of the first size's figure; target >= ${pct(TARGET_SHARE_OF_FIRST_SIZE)}: ${ratio >= TARGET_SHARE_OF_FIRST_SIZE ? "met" : "NOT met"}`);
      }
    }
  }
  // The floor: what a server doing nothing but parse and store the bodies reached, over raw.
  const ref = figures.reference as Record<string, Measured>;
  const floors: [string, Measured | undefined, "sqlite" | "postgres"][] = [
    ["SQLite, writer thread and group commit", ref.bareHttpWriterThread, "sqlite"],
    ["PostgreSQL", ref.bareHttpPostgres, "postgres"],
  ];
  for (const [name, floor, dialect] of floors) {
    const d = base[dialect];
    if (!floor || !d) continue;
    notes.push(
      `a bare server that only parses and stores the bodies (${name}): ${pct(floor.pointsPerSecond / d.raw.pointsPerSecond)} of raw; Paved ${pct(d.paved.pointsPerSecond / floor.pointsPerSecond)} of that server`,
    );
  }
  notes.push(`ingestion on SQLite at ${(base.requests * POINTS_PER_BODY).toLocaleString("en-US")} points: target >= ${TARGET_POINTS_PER_SECOND.toLocaleString("en-US")} points/s: ${base.sqlite.paved.pointsPerSecond >= TARGET_POINTS_PER_SECOND ? "met" : "NOT met"}`);
  return notes;
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  // BENCH_TRACKING=ingestion (or search) runs one part: the ingestion sweep without seeding
  // 300,000 runs for search.
  const parts = (process.env.BENCH_TRACKING ?? "ingestion,search").split(",");
  const ingest = parts.includes("ingestion") ? await ingestion(options) : undefined;
  const searchFigures = parts.includes("search") ? await search(options) : undefined;
  const notes: string[] = [];
  if (ingest) notes.push(...ingestionNotes(ingest));
  if (searchFigures) {
    notes.push(`search_runs p50 (filter + order_by): ${((searchFigures.queries as { ms: { p50: number } }[])[0]!.ms.p50)} ms; target < ${SEARCH_TARGET_MS} ms: ${searchFigures.meetsTarget ? "met" : "NOT met"}`);
  }
  return { name: "tracking", figures: { ingestion: ingest, search: searchFigures }, notes };
}

function connections(text: string | undefined): number {
  const n = Number(text ?? 4);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`BENCH_CONNECTIONS is '${text}'; give a whole number from 1 to 64`);
  return n;
}
