// Tracking search bench (issue 15, items 2 and 5): MLflow's runs/search over many runs x 20 metrics
// on a real `paved up`, on SQLite and on PostgreSQL, each figure beside the same logical query
// written by hand in SQL against the same database in this process (the ceiling), at each size of
// a sweep: 30,000 runs by default; BENCH_SEARCH_RUNS=30000,300000,1000000 (or `--large`) for more.
// Run alone with `BENCH_TRACKING=search npm run bench -- tracking`, or as part of `-- tracking`.
//   BENCH_SEARCH_DIALECTS=sqlite            one dialect (default: sqlite,postgres)
//   BENCH_DATABASE_URL=postgres://…         PostgreSQL to create the bench's database in (default: scripts/pg-up.sh's)
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import BetterSqlite3 from "better-sqlite3";
import pg from "pg";
import { HttpClient, ROOT, nowMs, printTable, round, startPaved, summarize, type BenchOptions } from "./support.ts";

const SEARCH_METRICS = 20;
const SEARCH_REPEATS = 20;
const SEED_VIA_API = 500;
/** Runs the seeder writes per transaction: short enough that the server's readers never wait long. */
const SEED_BATCH = 20_000;
export const SEARCH_TARGET_MS = 1000;

type Dialect = "sqlite" | "postgres";
type Ms = ReturnType<typeof summarize>;

interface Query {
  name: string;
  body: Record<string, unknown>;
  /** The same logical query by hand: the page's runs (then `rawClient` reads their params, tags and latest metrics, as Paved does). */
  raw: { sql: string; params: unknown[] };
}

function sizes(options: BenchOptions): number[] {
  const list = process.env.BENCH_SEARCH_RUNS ?? (process.argv.includes("--large") ? "30000,300000,1000000" : "30000");
  return list
    .split(",")
    .map((s) => Math.max(2000, Math.round(Number(s) * options.scale)))
    .filter((n) => Number.isFinite(n))
    .sort((a, b) => a - b);
}

/** Seeds runs through the MLflow API (runs/create + one log-batch each), several in flight: the rows direct seeding imitates. */
async function seedViaApi(client: HttpClient, experimentId: string, runs: number, base: number): Promise<{ runs: number; seconds: number; runsPerSecond: number }> {
  const optimizers = ["adam", "sgd", "adamw", "rmsprop"];
  let next = 0;
  const start = nowMs();
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
        for (let m = 0; m < SEARCH_METRICS; m++) metrics.push({ key: metricKey(m), value: Math.random(), timestamp: base + i * 1000, step: 0 });
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

function metricKey(m: number): string {
  return m === 0 ? "val_loss" : m === 1 ? "val_accuracy" : `metric_${m}`;
}

/**
 * The rows of runs [from, to) as the API writes them (the run, its mlflow.runName and team tags,
 * 3 params, 20 latest metric values), generated inside the database: SQLite's recursive CTE,
 * PostgreSQL's generate_series. Metric histories (metric_chunks) are left out: runs/search never
 * reads them.
 */
function seedStatements(dialect: Dialect): string[] {
  const keys = Array.from({ length: SEARCH_METRICS }, (_, m) => `('${metricKey(m)}')`).join(", ");
  if (dialect === "sqlite") {
    const ids = "with recursive n(i) as (select $from union all select i + 1 from n where i + 1 < $to)";
    const id = "printf('%032x', i)";
    return [
      `${ids} insert into runs (run_id, experiment_id, run_name, user_id, status, start_time, end_time, lifecycle_stage, artifact_uri)
        select ${id}, $experiment, 'search-' || i, 'bench', 'FINISHED', $base + i * 1000, null, 'active', 'mlflow-artifacts:/' || $experiment || '/' || ${id} || '/artifacts' from n`,
      `${ids} insert into tags (run_id, key, value) select ${id}, 'mlflow.runName', 'search-' || i from n union all select ${id}, 'team', case when i % 2 = 1 then 'vision' else 'nlp' end from n`,
      `${ids} insert into params (run_id, key, value)
        select ${id}, 'optimizer', case i % 4 when 0 then 'adam' when 1 then 'sgd' when 2 then 'adamw' else 'rmsprop' end from n
        union all select ${id}, 'lr', case i % 3 when 0 then '0.1' when 1 then '0.01' else '0.001' end from n
        union all select ${id}, 'hidden', cast(32 * (1 + i % 4) as text) from n`,
      `${ids}, k(key) as (values ${keys}) insert into latest_metrics (run_id, experiment_id, key, value, timestamp, step, is_nan)
        select ${id}, $experiment, k.key, (abs(random()) % 1000000000) / 1000000000.0, $base + i * 1000, 0, 0 from n, k`,
    ];
  }
  const ids = "n as (select i from generate_series($1::bigint, $2::bigint - 1) as i)";
  const id = "lpad(to_hex(i), 32, '0')";
  return [
    `with ${ids} insert into runs (run_id, experiment_id, run_name, user_id, status, start_time, end_time, lifecycle_stage, artifact_uri)
      select ${id}, $3, 'search-' || i, 'bench', 'FINISHED', $4 + i * 1000, null, 'active', 'mlflow-artifacts:/' || $3 || '/' || ${id} || '/artifacts' from n`,
    `with ${ids} insert into tags (run_id, key, value) select ${id}, 'mlflow.runName', 'search-' || i from n union all select ${id}, 'team', case when i % 2 = 1 then 'vision' else 'nlp' end from n`,
    `with ${ids} insert into params (run_id, key, value)
      select ${id}, 'optimizer', case i % 4 when 0 then 'adam' when 1 then 'sgd' when 2 then 'adamw' else 'rmsprop' end from n
      union all select ${id}, 'lr', case i % 3 when 0 then '0.1' when 1 then '0.01' else '0.001' end from n
      union all select ${id}, 'hidden', (32 * (1 + i % 4))::text from n`,
    `with ${ids}, k(key) as (values ${keys}) insert into latest_metrics (run_id, experiment_id, key, value, timestamp, step, is_nan)
      select ${id}, $3, k.key, random(), $4 + i * 1000, 0, 0 from n, k`,
  ];
}

/** The SQLite seeder: a worker thread, so that the bench's event loop (its HTTP client) never waits on it. */
const SQLITE_SEEDER = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.module);
const db = new Database(workerData.file);
db.pragma("busy_timeout = 60000");
const statements = workerData.statements.map((s) => db.prepare(s));
for (let from = workerData.from; from < workerData.to; from += workerData.batch) {
  const args = { from, to: Math.min(workerData.to, from + workerData.batch), experiment: workerData.experiment, base: workerData.base };
  db.transaction(() => { for (const s of statements) s.run(args); })();
}
db.close();
parentPort.postMessage("done");
`;

async function seedDirect(dialect: Dialect, target: { file?: string; url?: string }, experimentId: string, from: number, to: number, base: number): Promise<number> {
  const start = nowMs();
  if (dialect === "sqlite") {
    const worker = new Worker(SQLITE_SEEDER, {
      eval: true,
      workerData: { module: BetterSqlite3Path, file: target.file, statements: seedStatements("sqlite"), from, to, batch: SEED_BATCH, experiment: experimentId, base },
    });
    await new Promise<void>((resolve, reject) => {
      worker.once("message", () => resolve());
      worker.once("error", reject);
      worker.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`the seeder exited with ${code}`))));
    });
  } else {
    // PostgreSQL generates the rows itself; this process only waits on the socket.
    const client = new pg.Client({ connectionString: target.url });
    await client.connect();
    try {
      for (let at = from; at < to; at += SEED_BATCH) {
        await client.query("begin");
        // PostgreSQL refuses a parameter a statement does not use: tags and params take the range only.
        for (const s of seedStatements("postgres")) await client.query(s, [at, Math.min(to, at + SEED_BATCH), ...(s.includes("$3") ? [experimentId, base] : [])]);
        await client.query("commit");
      }
      await client.query("analyze");
    } finally {
      await client.end();
    }
  }
  return round((nowMs() - start) / 1000, 1);
}

const BetterSqlite3Path = join(ROOT, "node_modules", "better-sqlite3");

/** PostgreSQL: BENCH_DATABASE_URL, or the throwaway cluster the tests use (scripts/pg-up.sh); a fresh database in it. */
async function freshPostgres(): Promise<string> {
  const admin = process.env.BENCH_DATABASE_URL ?? execFileSync("bash", [`${ROOT}scripts/pg-up.sh`], { encoding: "utf8" }).trim().split("\n").at(-1)!;
  const name = `paved_search_${randomBytes(5).toString("hex")}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`create database ${name}`);
  await client.end();
  return admin.replace(/\/[^/]*$/, `/${name}`);
}

/** The queries, each with its hand-written twin ($e: the experiment, `?` or `$n` per dialect). */
function queries(dialect: Dialect, experimentId: string, after: { value: number; startTime: number; runId: string } | undefined): Query[] {
  const p = (n: number) => (dialect === "sqlite" ? "?" : `$${n}`);
  const byMetric = (extra: string, limit: number, keyset = "") =>
    `select r.* from latest_metrics o join runs r on r.run_id = o.run_id
      where o.experiment_id = ${p(1)} and o.key = 'val_loss' and o.value is not null and r.lifecycle_stage = 'active' ${extra} ${keyset}
      order by o.value asc, r.start_time desc, r.run_id asc limit ${limit + 1}`;
  const adamAndAccurate = `and exists (select 1 from latest_metrics a where a.run_id = r.run_id and a.key = 'val_accuracy' and a.is_nan = 0 and a.value > 0.9)
      and exists (select 1 from params x where x.run_id = r.run_id and x.key = 'optimizer' and x.value = 'adam')`;
  const list: Query[] = [
    {
      name: "filter + order_by, max_results 100",
      body: { experiment_ids: [experimentId], filter: "metrics.val_accuracy > 0.9 and params.optimizer = 'adam'", order_by: ["metrics.val_loss ASC"], max_results: 100 },
      raw: { sql: byMetric(adamAndAccurate, 100), params: [experimentId] },
    },
    {
      name: "filter + order_by, max_results 1000",
      body: { experiment_ids: [experimentId], filter: "metrics.val_accuracy > 0.5", order_by: ["metrics.val_loss ASC"], max_results: 1000 },
      raw: {
        sql: byMetric("and exists (select 1 from latest_metrics a where a.run_id = r.run_id and a.key = 'val_accuracy' and a.is_nan = 0 and a.value > 0.5)", 1000),
        params: [experimentId],
      },
    },
    {
      name: "no filter, default order (start_time DESC), max_results 100",
      body: { experiment_ids: [experimentId], max_results: 100 },
      raw: {
        sql: `select r.* from runs r where r.experiment_id = ${p(1)} and r.lifecycle_stage = 'active' order by r.start_time desc, r.run_id asc limit 101`,
        params: [experimentId],
      },
    },
    {
      // mlflow.search_runs(max_results=10000) asks for its DataFrame in one page of this size (its
      // pages are 10,000 runs); what the client then does with pandas is not Paved's to time.
      name: "no filter, default order, max_results 10,000 (mlflow.search_runs' page)",
      body: { experiment_ids: [experimentId], max_results: 10_000 },
      raw: {
        sql: `select r.* from runs r where r.experiment_id = ${p(1)} and r.lifecycle_stage = 'active' order by r.start_time desc, r.run_id asc limit 10001`,
        params: [experimentId],
      },
    },
  ];
  if (after) {
    list.push({
      name: "the same filter + order_by, its next page (page_token)",
      body: { ...list[0]!.body, page_token: "" },
      raw: {
        sql: byMetric(
          adamAndAccurate,
          100,
          `and o.value >= ${p(2)} and (o.value > ${p(2)} or (o.value = ${p(2)} and (r.start_time < ${p(3)} or (r.start_time = ${p(3)} and r.run_id > ${p(4)}))))`,
        ),
        params: dialect === "sqlite" ? [experimentId, after.value, after.value, after.value, after.startTime, after.startTime, after.runId] : [experimentId, after.value, after.startTime, after.runId],
      },
    });
  }
  return list;
}

interface Raw {
  run(q: Query): Promise<number>;
  close(): Promise<void>;
}

async function rawClient(dialect: Dialect, target: { file?: string; url?: string }): Promise<Raw> {
  const detailTables = ["params", "tags", "latest_metrics"];
  if (dialect === "sqlite") {
    const db = new BetterSqlite3(target.file!, { readonly: true });
    return {
      run: async (q) => {
        const page = db.prepare(q.raw.sql).all(...q.raw.params) as { run_id: string }[];
        const ids = page.map((r) => r.run_id);
        for (const table of detailTables) db.prepare(`select * from ${table} where run_id in (${ids.map(() => "?").join(", ") || "null"}) order by key`).all(...ids);
        return page.length;
      },
      close: async () => {
        db.close();
      },
    };
  }
  const client = new pg.Client({ connectionString: target.url });
  await client.connect();
  return {
    run: async (q) => {
      const page = (await client.query<{ run_id: string }>(q.raw.sql, q.raw.params)).rows;
      const ids = page.map((r) => r.run_id);
      for (const table of detailTables) await client.query(`select * from ${table} where run_id = any($1) order by key`, [ids]);
      return page.length;
    },
    close: () => client.end(),
  };
}

async function time(repeats: number, once: () => Promise<unknown>): Promise<Ms> {
  await once(); // warms caches; reported apart from the samples
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t = nowMs();
    await once();
    times.push(nowMs() - t);
  }
  return summarize(times);
}

interface SizeFigures {
  dialect: Dialect;
  runs: number;
  seeding: { viaApi?: Record<string, unknown>; direct: { runs: number; seconds: number } };
  queries: { query: string; body: Record<string, unknown>; returned: number; ms: Ms; raw: Ms }[];
}

async function sweep(dialect: Dialect, runSizes: number[]): Promise<SizeFigures[]> {
  const url = dialect === "postgres" ? await freshPostgres() : undefined;
  const paved = await startPaved({ name: `search-${dialect}`, ...(url ? { config: { databaseUrl: url, serving: { dataPlane: { processes: 0 } } } } : {}) });
  const target = { file: join(paved.dataDir, "paved.db"), url };
  const out: SizeFigures[] = [];
  try {
    const client = new HttpClient(paved.url, paved.token, 8);
    const { experiment_id } = await client.request<{ experiment_id: string }>("POST", "/api/2.0/mlflow/experiments/create", { name: "search-bench" });
    const base = Date.now() - 10 * runSizes.at(-1)! * 1000;
    const viaApi = Math.min(runSizes[0]!, SEED_VIA_API);
    process.stdout.write(`\n[${dialect}] seeding ${viaApi} runs through the MLflow API ...\n`);
    const api = await seedViaApi(client, experiment_id, viaApi, base);
    let have = viaApi;
    for (const runs of runSizes) {
      process.stdout.write(`[${dialect}] seeding runs ${have.toLocaleString("en-US")}..${runs.toLocaleString("en-US")} in the database (a ${dialect === "sqlite" ? "worker thread" : "PostgreSQL statement"}, ${SEED_BATCH.toLocaleString("en-US")} runs a transaction) ...\n`);
      const seconds = await seedDirect(dialect, target, experiment_id, have, runs, base);
      const direct = { runs: runs - have, seconds };
      have = runs;
      // The token of query 1's first page, and the position it stands for (for the raw twin).
      const first = await client.request<{ runs: { info: { run_id: string; start_time: number }; data: { metrics?: { key: string; value: number }[] } }[]; next_page_token?: string }>(
        "POST",
        "/api/2.0/mlflow/runs/search",
        queries(dialect, experiment_id, undefined)[0]!.body,
      );
      const last = first.runs.at(-1)!;
      const after = { value: Number(last.data.metrics!.find((m) => m.key === "val_loss")!.value), startTime: Number(last.info.start_time), runId: last.info.run_id };
      const raw = await rawClient(dialect, target);
      const figures: SizeFigures["queries"] = [];
      try {
        for (const q of queries(dialect, experiment_id, first.next_page_token ? after : undefined)) {
          const body = "page_token" in q.body ? { ...q.body, page_token: first.next_page_token } : q.body;
          let returned = 0;
          const ms = await time(SEARCH_REPEATS, async () => {
            const answer = await client.request<{ runs?: unknown[] }>("POST", "/api/2.0/mlflow/runs/search", body);
            returned = answer.runs?.length ?? 0;
          });
          const rawMs = await time(SEARCH_REPEATS, () => raw.run(q));
          figures.push({ query: q.name, body: q.body, returned, ms, raw: rawMs });
        }
      } finally {
        await raw.close();
      }
      out.push({ dialect, runs, seeding: { ...(runs === runSizes[0] ? { viaApi: { via: "MLflow REST API (runs/create + runs/log-batch, 8 in flight)", ...api } } : {}), direct }, queries: figures });
      printTable(
        `[${dialect}] runs/search over ${runs.toLocaleString("en-US")} runs x ${SEARCH_METRICS} metrics + 3 params + 2 tags (${direct.runs.toLocaleString("en-US")} seeded in the database in ${direct.seconds} s${runs === runSizes[0] ? `, ${api.runs} through the MLflow API at ${api.runsPerSecond} runs/s` : ""}), ${SEARCH_REPEATS} repeats`,
        ["query", "runs returned", "paved p50 ms", "paved p99 ms", `raw ${dialect} p50 ms`, "paved / raw", "target ms"],
        figures.map((f) => [f.query, f.returned, f.ms.p50, f.ms.p99, f.raw.p50, round(f.ms.p50 / Math.max(f.raw.p50, 0.01), 1), SEARCH_TARGET_MS]),
      );
    }
    client.close();
  } finally {
    await paved.stop();
  }
  return out;
}

/** The MLflow client's DataFrame search (mlflow.search_runs of 10,000 runs), when a Python with mlflow is here. */
function mlflowClient(): { available: false; why: string } {
  for (const python of ["/usr/bin/python3", "python3"]) {
    try {
      execFileSync(python, ["-c", "import mlflow"], { stdio: "ignore" });
      return { available: false, why: `${python} has mlflow, but the DataFrame timing is not written yet` };
    } catch {
      // next
    }
  }
  return {
    available: false,
    why: "no Python here has the mlflow package (/usr/bin/python3 and pyenv's python3 checked), and it cannot be installed from this machine's registries (npm, Debian); the server's part is the row 'max_results 10,000 (mlflow.search_runs' page)' above, the client's pandas DataFrame is NOT timed",
  };
}

export async function search(options: BenchOptions): Promise<Record<string, unknown>> {
  const runSizes = sizes(options);
  const dialects = (process.env.BENCH_SEARCH_DIALECTS ?? "sqlite,postgres").split(",").filter((d): d is Dialect => d === "sqlite" || d === "postgres");
  const figures: SizeFigures[] = [];
  for (const dialect of dialects) figures.push(...(await sweep(dialect, runSizes)));
  const mlflow = mlflowClient();
  process.stdout.write(`\nMLflow client DataFrame search (mlflow.search_runs, 10,000 results): ${mlflow.why}\n`);
  const headline = figures[0]!;
  const worst = Math.max(...figures.map((f) => f.queries[0]!.ms.p50));
  return {
    runs: headline.runs,
    metricsPerRun: SEARCH_METRICS,
    sizes: runSizes,
    dialects,
    queries: headline.queries,
    sweep: figures,
    mlflowClient: mlflow,
    targetMs: SEARCH_TARGET_MS,
    meetsTarget: worst < SEARCH_TARGET_MS,
  };
}
