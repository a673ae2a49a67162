// Tracking search bench: MLflow's runs/search over many runs x 20 metrics on a real `paved up`.
// Run alone with `BENCH_TRACKING=search npm run bench -- tracking`, or as part of `-- tracking`.
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { decodeChunk, encodeChunk, summarizeChunk } from "../src/storage/index.ts";
import { HttpClient, nowMs, printTable, round, startPaved, summarize, type BenchOptions } from "./support.ts";

const SEARCH_RUNS = 30_000;
const SEARCH_METRICS = 20;
const SEARCH_REPEATS = 20;
const SEED_VIA_API = 500;
export const SEARCH_TARGET_MS = 1000;

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

export async function search(options: BenchOptions): Promise<Record<string, unknown>> {
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
