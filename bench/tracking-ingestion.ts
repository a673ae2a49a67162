// Tracking bench: metric points per second through MLflow's runs/log-batch on a real `paved up`,
// on SQLite and on PostgreSQL, beside the storage ceiling of each (raw better-sqlite3 / raw `pg`
// writes of the same points into the same chunk layout, from this process) at the same size in
// the same run: 1M points by default, 10M with --10m, 100M with --100m. A size's rows of one
// database take turns (BENCH_TURNS rounds, 5), so the machine's changes of speed weigh on each
// alike. At the first size also
// bare node:http servers driven with the same bodies (bench/bare-http-server.ts): the HTTP ceiling
// (parse only) and the floors (parse and store, nothing else: what any server reaches here),
// Paved's store alone (no HTTP) and two reference rows; each row with its CPU time per body,
// server (and its main thread) and client (Linux). Then search_runs latency over 30,000 runs x 20
// metrics (bench/tracking-search.ts). The bodies go out on RawConnection (bench/support.ts), each
// encoded once; BENCH_CLIENT=node sends them with node:http's client instead, which costs the
// shared cores more CPU a body. BENCH_CONNECTIONS sets the client's connections (4);
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
import { busiestOtherThreadMs, encodeRequest, HttpClient, nowMs, printTable, processCpuMs, ROOT, RawConnection, round, startHelperServer, startPaved, summarize, tempDir, type BenchOptions, type BenchResult } from "./support.ts";

const POINTS_PER_BODY = 1000;
const KEYS = 10; // 10 metrics x 100 steps per body, like a training loop flushing every 100 steps
/** The client's keep-alive connections, one run each: 4, or BENCH_CONNECTIONS. */
const CONNECTIONS = wholeNumber("BENCH_CONNECTIONS", process.env.BENCH_CONNECTIONS, 4, 1, 64);
const BODIES_PER_CONNECTION = 50;
/**
 * Bodies each row sends (or writes) before it is measured, raw rows included. With 40, Paved's
 * first fifth of the 5M row read 57-73% of raw and its last 74-103%, in six runs.
 */
const WARMUP_BODIES = 500;
/** How the bodies are sent: RawConnection (raw), or BENCH_CLIENT=node the node:http client (HttpClient). */
const CLIENT = oneOf("BENCH_CLIENT", process.env.BENCH_CLIENT, ["raw", "node"]);
const LOG_BATCH = "/api/2.0/mlflow/runs/log-batch";
/** Each size's rows take turns, this many rounds of an equal share of the bodies (interleave): 5, or BENCH_TURNS. */
const TURNS = wholeNumber("BENCH_TURNS", process.env.BENCH_TURNS, 5, 1, 100);
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

/**
 * The bodies' sender, one connection per pool of bodies: RawConnection (each request encoded
 * once, one write a body), or with BENCH_CLIENT=node the bench's node:http client, which costs
 * the shared cores two to four times the CPU a body (docs/benchmarks.md#tracking).
 */
interface Sender {
  send(connection: number, body: number): Promise<{ status: number; text: string }>;
  close(): void;
}

async function sender(url: string, token: string | undefined, bodies: string[][]): Promise<Sender> {
  if (CLIENT === "node") {
    const client = new HttpClient(url, token, bodies.length);
    return { send: (c, k) => client.raw("POST", LOG_BATCH, bodies[c]![k % bodies[c]!.length]), close: () => client.close() };
  }
  const requests = bodies.map((pool) => pool.map((body) => encodeRequest("POST", url, LOG_BATCH, body, token)));
  const connections = await Promise.all(bodies.map(() => RawConnection.open(url)));
  return { send: (c, k) => connections[c]!.send(requests[c]![k % requests[c]!.length]!), close: () => connections.forEach((c) => c.close()) };
}

/** What one turn of a row measured: bodies, wall seconds, each body's latency (HTTP rows), CPU ms. */
interface Turn {
  bodies: number;
  seconds: number;
  latencies?: number[];
  /** CPU ms of the server process (all its threads, its main thread, and the busiest of its other threads: the SQLite writer's), when the row has one. */
  server?: { all: number; main: number; busiestOther: number };
  /** CPU ms of this process: the client of an HTTP row, the writer of a raw one. */
  here: number;
}

/** Sends `requests` bodies, each connection its own in turn; `serverPid`'s CPU is read around it. */
async function drive(client: Sender, connections: number, requests: number, serverPid?: number): Promise<Turn> {
  let next = 0;
  const latencies: number[] = [];
  const serverCpu = serverPid === undefined ? undefined : processCpuMs(serverPid);
  const clientCpu = process.cpuUsage();
  const start = nowMs();
  await Promise.all(
    Array.from({ length: connections }, async (_, c) => {
      for (let k = 0; ; k++) {
        if (next >= requests) return;
        next++;
        const t = nowMs();
        const { status, text } = await client.send(c, k);
        if (status !== 200) throw new Error(`connection ${c}: ${LOG_BATCH} answered ${status}: ${text.slice(0, 300)}`);
        latencies.push(nowMs() - t);
      }
    }),
  );
  const seconds = (nowMs() - start) / 1000;
  const here = process.cpuUsage(clientCpu);
  const serverAfter = serverPid === undefined ? undefined : processCpuMs(serverPid);
  return {
    bodies: requests,
    seconds,
    latencies,
    ...(serverCpu && serverAfter ? { server: { all: serverAfter.all - serverCpu.all, main: serverAfter.main - serverCpu.main, busiestOther: busiestOtherThreadMs(serverPid!, serverCpu, serverAfter) } } : {}),
    here: (here.user + here.system) / 1000,
  };
}

/**
 * A row of the sweep, driven in turns: `turn(n)` sends (or writes) its next n bodies into the same
 * store, `finish()` stops it and tells its store's bytes a point.
 */
interface Contender {
  turn(bodies: number): Promise<Turn>;
  finish(): Promise<{ bytesPerPoint?: number }>;
}

/** A row's turns added up. */
function measured(turns: Turn[], size: { bytesPerPoint?: number }): Measured {
  const bodies = turns.reduce((n, t) => n + t.bodies, 0);
  const seconds = turns.reduce((n, t) => n + t.seconds, 0);
  const latencies = turns.flatMap((t) => t.latencies ?? []);
  const per = (ms: number) => round(ms / bodies, 2);
  const here = per(turns.reduce((n, t) => n + t.here, 0));
  const servers = turns.map((t) => t.server).filter((x) => x !== undefined);
  return {
    pointsPerSecond: (bodies * POINTS_PER_BODY) / seconds,
    seconds: round(seconds, 3),
    ...(latencies.length ? { latency: summarize(latencies) } : {}),
    cpuMsPerBody: servers.length
      ? { server: per(servers.reduce((n, c) => n + c.all, 0)), serverMain: per(servers.reduce((n, c) => n + c.main, 0)), serverBusiestOther: per(servers.reduce((n, c) => n + c.busiestOther, 0)), client: here }
      : { server: here, client: 0 },
    ...(size.bytesPerPoint !== undefined ? { bytesPerPoint: size.bytesPerPoint } : {}),
  };
}

/** One contender alone: `warmup` bodies unmeasured, then all `requests` in one turn. */
async function alone(contender: Contender, requests: number, warmup: number): Promise<Measured> {
  const { rows } = await interleave([contender], requests, warmup, 1);
  return rows[0]!;
}

/**
 * Contenders that take turns after `warmup` bodies each (not measured): `rounds` of an equal
 * share of `requests` each, the order rotated each round, so that what the machine does meanwhile
 * (its speed here changed by a third between runs minutes apart) weighs on every row alike. Each
 * row's figure is its bodies over its seconds; `shares` holds, per round, each row's rate over the
 * last row's (the ceiling's), `rates` each row's points a second.
 */
async function interleave(contenders: Contender[], requests: number, warmup: number, rounds = TURNS): Promise<{ rows: Measured[]; shares: number[][]; rates: number[][] }> {
  const turns: Turn[][] = contenders.map(() => []);
  const shares: number[][] = contenders.map(() => []);
  const rate = (t: Turn) => t.bodies / t.seconds;
  try {
    for (const c of contenders) await c.turn(warmup);
    for (let r = 0; r < rounds; r++) {
      const n = Math.floor(requests / rounds) + (r < requests % rounds ? 1 : 0);
      for (let k = 0; k < contenders.length; k++) {
        const i = (k + r) % contenders.length;
        turns[i]!.push(await contenders[i]!.turn(n));
      }
      const ceiling = rate(turns.at(-1)!.at(-1)!);
      turns.forEach((list, i) => shares[i]!.push(round(rate(list.at(-1)!) / ceiling, 3)));
    }
  } catch (error) {
    for (const c of contenders) await c.finish().catch(() => undefined);
    throw error;
  }
  const sizes: { bytesPerPoint?: number }[] = [];
  for (const c of contenders) sizes.push(await c.finish());
  return { rows: turns.map((list, i) => measured(list, sizes[i]!)), shares, rates: turns.map((list) => list.map((t) => Math.round(rate(t) * POINTS_PER_BODY))) };
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
function rawSqlite(points: MetricPoint[][][], synchronous: "FULL" | "NORMAL" = "FULL", layout: "chunks" | "rows" = "chunks"): Contender {
  const dir = tempDir("sqlite");
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
  let written = 0;
  return {
    async turn(bodies) {
      const cpu = process.cpuUsage();
      const start = nowMs();
      for (const end = written + bodies; written < end; written++) {
        const c = written % points.length;
        const pool = points[c]!;
        writeBody(`run-${c}`, pool[Math.floor(written / points.length) % pool.length]!);
        await yieldLoop();
      }
      const used = process.cpuUsage(cpu);
      return { bodies, seconds: (nowMs() - start) / 1000, here: (used.user + used.system) / 1000 };
    },
    async finish() {
      if (!db.open) return {};
      db.pragma("wal_checkpoint(TRUNCATE)");
      db.close();
      const bytes = statSync(file).size;
      dir.remove();
      return { bytesPerPoint: round(bytes / (written * POINTS_PER_BODY), 1) };
    },
  };
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
async function rawPostgres(url: string, points: MetricPoint[][][]): Promise<Contender> {
  const pool = new pg.Pool({ connectionString: url, max: CONNECTIONS });
  await pool.query(CHUNK_DDL.replace("$BLOB", "bytea"));
  const clients = await Promise.all(points.map(() => pool.connect()));
  // Each run's next body (one run a connection).
  const sent = points.map(() => 0);
  let written = 0;
  let done = false;
  return {
    async turn(bodies) {
      let next = 0;
      const cpu = process.cpuUsage();
      const start = nowMs();
      await Promise.all(
        points.map(async (perRun, c) => {
          while (next < bodies) {
            next++;
            await pgChunkAppend(clients[c]!, `run-${c}`, perRun[sent[c]!++ % perRun.length]!);
          }
        }),
      );
      written += bodies;
      const used = process.cpuUsage(cpu);
      return { bodies, seconds: (nowMs() - start) / 1000, here: (used.user + used.system) / 1000 };
    },
    async finish() {
      if (done) return {};
      done = true;
      try {
        // On a run's connection: the pool holds no more than those.
        const size = await clients[0]!.query<{ bytes: string }>("select pg_total_relation_size('metric_chunks') as bytes");
        return { bytesPerPoint: round(Number(size.rows[0]!.bytes) / (written * POINTS_PER_BODY), 1) };
      } finally {
        for (const c of clients) c.release();
        await pool.end();
      }
    },
  };
}

interface Measured {
  pointsPerSecond: number;
  seconds: number;
  latency?: ReturnType<typeof summarize>;
  /** CPU time per body of the server process (all its threads) and of this process, the client (Linux). */
  cpuMsPerBody?: { server: number; serverMain?: number; serverBusiestOther?: number; client: number };
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
 * A fresh `paved up` with `config`, four runs on four keep-alive connections; `size()` tells the
 * store's bytes once the points are in. Its bodies and points are the ones every other row of the
 * size is driven with.
 */
async function pavedContender(opts: { config?: Record<string, unknown>; size(paved: { dataDir: string }): Promise<number> }): Promise<Contender & { bodies: string[][]; points: MetricPoint[][][] }> {
  const prof = process.env.BENCH_CPU_PROF;
  const nodeArgs = [...(prof ? ["--cpu-prof", `--cpu-prof-dir=${prof}`] : []), ...(process.env.BENCH_PAVED_NODE_ARGS?.split(" ").filter(Boolean) ?? [])];
  const paved = await startPaved({ name: "tracking", ...(opts.config ? { config: opts.config } : {}), nodeArgs });
  let done = false;
  let written = 0;
  const stop = async () => {
    done = true;
    await paved.stop();
    // BENCH_PAVED_OUTPUT=file: the server's output (its --trace-gc lines, say) is appended there.
    if (process.env.BENCH_PAVED_OUTPUT) appendFileSync(process.env.BENCH_PAVED_OUTPUT, paved.output());
  };
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
    client.close();
    const { bodies, points } = buildBodies(runIds);
    const bodySender = await sender(paved.url, paved.token, bodies);
    return {
      bodies,
      points,
      async turn(n) {
        written += n;
        return drive(bodySender, CONNECTIONS, n, paved.child.pid);
      },
      async finish() {
        if (done) return {};
        try {
          bodySender.close();
          return { bytesPerPoint: round((await opts.size(paved)) / (written * POINTS_PER_BODY), 1) };
        } finally {
          await stop();
        }
      },
    };
  } catch (error) {
    await stop();
    throw error;
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

/** Paved and its database's ceiling at one size, driven in turns; `shares`: Paved over raw, per round. */
interface Dialect {
  paved: Measured;
  raw: Measured;
  share: number;
  shares: number[];
  /** Points a second in each round: Paved's, and raw's. */
  turns: { paved: number[]; raw: number[] };
}

interface SizeFigures {
  points: number;
  requests: number;
  sqlite: Dialect;
  postgres?: Dialect;
}

/** `contender`, then `after()` once it is finished (a database to drop). */
function andThen(contender: Contender, after: () => Promise<void>): Contender {
  let done = false;
  return {
    turn: (n) => contender.turn(n),
    async finish() {
      if (done) return {};
      done = true;
      try {
        return await contender.finish();
      } finally {
        await after();
      }
    },
  };
}

/** A fresh database on `admin`'s server for `make`'s contender, dropped when it finishes. */
async function onFreshDatabase(admin: string, make: (url: string) => Promise<Contender>): Promise<Contender> {
  const db = await freshDatabase(admin);
  try {
    return andThen(await make(db.url), db.drop);
  } catch (error) {
    await db.drop();
    throw error;
  }
}

/**
 * Paved, the floor (at the first size) and raw taking turns (interleave): one database's rows at
 * one size, each on a fresh store.
 */
async function sideBySide(paved: Contender, floor: Contender | undefined, raw: Contender, requests: number, warmup: number): Promise<{ dialect: Dialect; floor?: Measured }> {
  const { rows, shares, rates } = await interleave([paved, ...(floor ? [floor] : []), raw], requests, warmup);
  const [pavedRow, ...rest] = rows;
  const rawRow = rest.at(-1)!;
  return {
    dialect: { paved: pavedRow!, raw: rawRow, share: round(pavedRow!.pointsPerSecond / rawRow.pointsPerSecond, 3), shares: shares[0]!, turns: { paved: rates[0]!, raw: rates.at(-1)! } },
    ...(floor ? { floor: rest[0]! } : {}),
  };
}

/**
 * The sweep: for each size, Paved on SQLite beside raw SQLite, then Paved on PostgreSQL beside raw
 * PostgreSQL, each on a fresh store, taking turns (at the first size with each database's floor
 * among them); at the first size also the HTTP ceiling and the reference rows, one after the other.
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
  const pointsPerSecond = (m: Measured) => Math.round(m.pointsPerSecond).toLocaleString("en-US");
  for (const requests of requestCounts) {
    const warmup = Math.min(WARMUP_BODIES, requests);
    const points = (requests + warmup) * POINTS_PER_BODY;
    const firstSize = sizes.length === 0;
    process.stdout.write(`\n${(requests * POINTS_PER_BODY).toLocaleString("en-US")} points, ${TURNS} turns each: paved up on SQLite${firstSize ? ", the bare server" : ""} and raw SQLite ...`);
    const pavedSqlite = await pavedContender({ size: async (p) => sqliteBytes(p.dataDir) });
    const { bodies } = pavedSqlite;
    bodyBytes = Buffer.byteLength(bodies[0]![0]!);
    const sqliteFloor = firstSize ? await bareServer((dir) => ["--store", join(dir, "bare.db"), "--writer-thread"], bodies).catch(async (error: unknown) => {
      await pavedSqlite.finish();
      throw error;
    }) : undefined;
    const sqlite = await sideBySide(pavedSqlite, sqliteFloor, rawSqlite(pavedSqlite.points), requests, warmup);
    process.stdout.write(` ${pointsPerSecond(sqlite.dialect.paved)} and ${pointsPerSecond(sqlite.dialect.raw)} points/s`);
    const figures: SizeFigures = { points, requests, sqlite: sqlite.dialect };
    if (firstSize) reference = { bareHttpWriterThread: sqlite.floor! };
    if (postgres.url) {
      const admin = postgres.url;
      process.stdout.write(`; paved up on PostgreSQL${firstSize ? ", the bare server" : ""} and raw PostgreSQL ...`);
      const contenders: Contender[] = [];
      try {
        contenders.push(await onFreshDatabase(admin, (url) => pavedContender({ config: { databaseUrl: url }, size: () => postgresBytes(url) })));
        if (firstSize) contenders.push(await onFreshDatabase(admin, (url) => bareServer(() => ["--store-pg", url], bodies)));
        contenders.push(await onFreshDatabase(admin, (url) => rawPostgres(url, pavedSqlite.points)));
      } catch (error) {
        for (const c of contenders) await c.finish();
        throw error;
      }
      const pg = await sideBySide(contenders[0]!, firstSize ? contenders[1] : undefined, contenders.at(-1)!, requests, warmup);
      process.stdout.write(` ${pointsPerSecond(pg.dialect.paved)} and ${pointsPerSecond(pg.dialect.raw)} points/s`);
      figures.postgres = pg.dialect;
      if (pg.floor) reference!.bareHttpPostgres = pg.floor;
    }
    process.stdout.write("\n");
    if (firstSize) {
      const ref = reference!;
      ref.bareHttp = await alone(await bareServer(() => [], bodies), requests, warmup);
      ref.bareHttpStore = await alone(await bareServer((dir) => ["--store", join(dir, "bare.db")], bodies), requests, warmup);
      // Not a ceiling Paved may use (a power cut can lose acknowledged commits): it shows how much
      // of the storage cost is the fsync per commit on this disk.
      ref.sqliteStoreAlone = await storeAlone(pavedSqlite.points, requests);
      ref.sqliteSynchronousNormal = await alone(rawSqlite(pavedSqlite.points, "NORMAL"), requests, warmup);
      ref.sqliteOldRowLayout = await alone(rawSqlite(pavedSqlite.points, "FULL", "rows"), requests, warmup);
    }
    sizes.push(figures);
  }

  const base = sizes[0]!;
  const rows: (string | number)[][] = [];
  const cpu = (m: Measured) => (m.cpuMsPerBody ? `${m.cpuMsPerBody.server}${m.cpuMsPerBody.serverMain !== undefined ? ` (${m.cpuMsPerBody.serverMain}, ${m.cpuMsPerBody.serverBusiestOther})` : ""} + ${m.cpuMsPerBody.client}` : "-");
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
    `Metric ingestion sweep: bodies of ${POINTS_PER_BODY} points (${Math.round(bodyBytes / 1024)} KiB), ${CONNECTIONS} keep-alive connections (${CLIENT === "raw" ? "RawConnection" : "node:http client"}), one run each; each size's rows of a database take ${TURNS} turns; SQLite WAL + synchronous=FULL${postgres.url ? "" : `; PostgreSQL rows skipped: ${postgres.why}`}`,
    ["path", "points", "points/s", "p50 ms/body", "p99 ms/body", "of raw", "of first size", "bytes/point", "CPU ms/body: server (main thread, busiest other thread) + client"],
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
    ["path", "points/s", "p50 ms/body", "p99 ms/body", "of raw", "paved / this", "CPU ms/body: server (main thread, busiest other thread) + client"],
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
    client: CLIENT === "raw" ? "RawConnection (bench/support.ts)" : "node:http (HttpClient)",
    turns: TURNS,
    bodyBytes,
    postgres: postgres.url ? "on" : `skipped: ${postgres.why}`,
    sizes,
    reference: ref,
    targets: { pointsPerSecond: TARGET_POINTS_PER_SECOND, shareOfRaw: TARGET_SHARE_OF_RAW, shareOfFirstSize: TARGET_SHARE_OF_FIRST_SIZE },
  };
}

/**
 * A bare node:http server (bench/bare-http-server.ts with `flags`, given a fresh folder for its
 * store) driven with the same bodies as Paved: what any server parsing them, and storing them,
 * reaches here.
 */
async function bareServer(flags: (dir: string) => string[], bodies: string[][]): Promise<Contender> {
  const dir = tempDir("bare");
  let done = false;
  const stop = async (bare?: { stop(): Promise<void> }) => {
    done = true;
    await bare?.stop();
    dir.remove();
  };
  let bare;
  try {
    bare = await startHelperServer("bare-http-server.ts", flags(dir.path));
    const client = await sender(bare.url, undefined, bodies);
    const server = bare;
    return {
      turn: (n) => drive(client, CONNECTIONS, n, server.pid),
      async finish() {
        if (done) return {};
        client.close();
        await stop(server);
        return {};
      },
    };
  } catch (error) {
    await stop(bare);
    throw error;
  }
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
      notes.push(`ingestion at ${n} points on ${name}: ${Math.round(d.paved.pointsPerSecond).toLocaleString("en-US")} points/s, ${pct(d.share)} of raw (its ${d.shares.length} turns: ${pct(Math.min(...d.shares))}-${pct(Math.max(...d.shares))}); target >= ${pct(TARGET_SHARE_OF_RAW)}: ${d.share >= TARGET_SHARE_OF_RAW ? "met" : "NOT met"}`);
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

function oneOf<T extends string>(name: string, text: string | undefined, values: readonly T[]): T {
  if (text === undefined) return values[0]!;
  if (!values.includes(text as T)) throw new Error(`${name} is '${text}'; give one of ${values.join(", ")}`);
  return text as T;
}

function wholeNumber(name: string, text: string | undefined, fallback: number, min: number, max: number): number {
  const n = text === undefined ? fallback : Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} is '${text}'; give a whole number from ${min} to ${max}`);
  return n;
}
