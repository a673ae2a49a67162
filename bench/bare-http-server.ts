// The tracking bench's bare node:http servers: what a server that only parses the same log-batch
// bodies (and stores them) costs on this machine, with none of Paved's platform around it.
//   (no flag)                     reads each body, JSON-parses it and answers {}: the HTTP ceiling.
//   --store FILE                  also appends the body's points into the chunk layout in FILE
//                                 (bench/raw-chunk-writer.ts, one transaction per body, on this
//                                 thread) and answers after the commit.
//   --store FILE --writer-thread  parses on this thread and hands the points (one Float64Array per
//                                 body, transferred) to a writer thread that appends every body
//                                 that arrived during the last commit in one transaction, as
//                                 Paved's SQLite writer does; answers after the commit.
//   --store-pg URL                appends each body on PostgreSQL (the chunk table created in
//                                 that database), one transaction per body on one of 4 pooled
//                                 connections, as the raw pg row; answers after the commit.
// Whatever Paved does beyond these is the cost of the platform (routing, authentication,
// validation, latest values, audit).
import http from "node:http";
import pg from "pg";
import { startModuleWorker } from "../src/core/index.ts";
import { CHUNK_DDL, openRawSqlite, pgChunkAppend, rawChunkWriter, type MetricPoint } from "./raw-chunk-writer.ts";

const argv = process.argv.slice(2);
const storeFile = argv.includes("--store") ? argv[argv.indexOf("--store") + 1] : undefined;
const writerThread = argv.includes("--writer-thread");
const pgUrl = argv.includes("--store-pg") ? argv[argv.indexOf("--store-pg") + 1] : undefined;

/** Stores one parsed body, then calls back (with an error if it was not stored). */
type Store = (runId: string, metrics: MetricPoint[], done: (error?: Error) => void) => void;

function threadStore(file: string): Store {
  const writer = rawChunkWriter(openRawSqlite(file));
  return (runId, metrics, done) => {
    try {
      writer.append(runId, metrics);
      done();
    } catch (error) {
      done(error as Error);
    }
  };
}

function writerThreadStore(file: string): Store {
  const worker = startModuleWorker(import.meta.url, "./bare-store-worker", { workerData: { file } });
  const waiting = new Map<number, (error?: Error) => void>();
  let nextId = 0;
  worker.on("message", (m: { written: number[]; error?: string }) => {
    for (const id of m.written) {
      waiting.get(id)?.(m.error ? new Error(m.error) : undefined);
      waiting.delete(id);
    }
  });
  worker.on("error", (error) => {
    console.error(error);
    process.exit(1);
  });
  return (runId, metrics, done) => {
    const keys: string[] = [];
    const points = new Float64Array(4 * metrics.length);
    const keyIndex = new Map<string, number>();
    let i = 0;
    for (const m of metrics) {
      let k = keyIndex.get(m.key);
      if (k === undefined) keyIndex.set(m.key, (k = keys.push(m.key) - 1));
      points[i++] = k;
      points[i++] = m.step;
      points[i++] = m.timestamp;
      points[i++] = m.value;
    }
    const id = nextId++;
    waiting.set(id, done);
    worker.postMessage({ id, runId, keys, points }, [points.buffer]);
  };
}

async function postgresStore(url: string): Promise<Store> {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  await pool.query(CHUNK_DDL.replace("$BLOB", "bytea"));
  return (runId, metrics, done) => {
    void pool.connect().then(async (client) => {
      try {
        await pgChunkAppend(client, runId, metrics);
        done();
      } catch (error) {
        done(error as Error);
      } finally {
        client.release();
      }
    }, done);
  };
}

const store: Store | undefined =
  pgUrl !== undefined ? await postgresStore(pgUrl) : storeFile === undefined ? undefined : writerThread ? writerThreadStore(storeFile) : threadStore(storeFile);

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const answer = (status: number) => {
      res.writeHead(status, { "content-type": "application/json", "content-length": 2 });
      res.end("{}");
    };
    let body: { run_id?: unknown; metrics?: unknown };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as typeof body;
    } catch {
      return answer(400);
    }
    if (!Array.isArray(body.metrics) || typeof body.run_id !== "string") return answer(400);
    if (!store) return answer(200);
    store(body.run_id, body.metrics as MetricPoint[], (error) => answer(error ? 500 : 200));
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`port=${typeof address === "object" && address ? address.port : 0}\n`);
});
process.on("SIGTERM", () => process.exit(0));
