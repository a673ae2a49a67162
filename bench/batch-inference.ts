// Batch inference bench (issue 10): the MLP of the serving tests (30 -> 16 -> 16 -> 1) over the
// same N rows (default 1,000,000; BENCH_ROWS, scaled by BENCH_SCALE) of a Parquet file (an id and
// 30 features, written by DuckDB), through Paved's engine (src/modules/predictions: DuckDB chunks,
// the model on worker threads, predictions written with the id into an output Parquet file) beside
// a bare loop with no Paved code: the same file read by DuckDB (@duckdb/node-api) in the same
// 8,192-row chunks, onnxruntime-node's session.run on the main thread (default session options),
// nothing written. Rounds alternate; the figure is each side's median rows/s. Target: Paved ≥ 70%
// of the bare loop. BENCH_FORMAT=csv reads a CSV of the same rows instead.
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import * as ort from "onnxruntime-node";
import { signatureFromRegistry } from "../src/modules/predictions/columns.ts";
import { BatchInferenceEngine, defaultWorkers } from "../src/modules/predictions/engine.ts";
import { inspectOnnx } from "../src/modules/registry/index.ts";
import { buildTestModels } from "../src/modules/serving/test-models.ts";
import { printTable, round, tempDir, type BenchOptions, type BenchResult } from "./support.ts";

const CHUNK = 8192;
const FEATURES = 30;
const ROUNDS = 3;
const TARGET = 0.7;

export async function run(options: BenchOptions): Promise<BenchResult> {
  const rows = Math.max(10_000, Math.round(Number(process.env.BENCH_ROWS ?? 1_000_000) * options.scale));
  const format = process.env.BENCH_FORMAT === "csv" ? "csv" : "parquet";
  const scratch = tempDir("batch-inference");
  try {
    const model = readFileSync(join(buildTestModels().dir, "mlp.onnx"));
    const path = join(scratch.path, `input.${format}`);
    const names = Array.from({ length: FEATURES }, (_, i) => `f${i}`);
    const generator = await DuckDBInstance.create(":memory:");
    const g = await generator.connect();
    await g.run(`SELECT setseed(0.42)`);
    await g.run(`COPY (SELECT i AS id, ${names.map((n) => `random() * 2 - 1 AS ${n}`).join(", ")} FROM range(${rows}) t(i)) TO '${path}' ${format === "csv" ? "(HEADER)" : "(FORMAT parquet)"}`);
    g.closeSync();
    generator.closeSync();

    // What the registry recorded at registration, which the service hands the engine.
    const signature = signatureFromRegistry(await inspectOnnx(new Uint8Array(model)));
    const workers = defaultWorkers();
    const engine = new BatchInferenceEngine({ workers, chunkRows: CHUNK, scratchDir: join(scratch.path, "work"), memoryLimitMiB: 512, duckdbThreads: 2 });
    const paved = async () => {
      const result = await engine.run({ model, input: [{ path, format }], output: join(scratch.path, "out.parquet"), features: { names, from: "the bench" }, signature, keep: "other", what: "bench data" });
      if (result.rows !== rows) throw new Error(`Paved's engine predicted ${result.rows} rows of ${rows}`);
      return result.rowsPerSecond;
    };
    const bare = async () => {
      const start = performance.now();
      const session = await ort.InferenceSession.create(model);
      const db = await DuckDBInstance.create(":memory:");
      const connection = await db.connect();
      const result = await connection.stream(`SELECT ${names.join(", ")} FROM ${format === "csv" ? "read_csv" : "read_parquet"}('${path}')`);
      let buffer = new Float32Array(CHUNK * FEATURES);
      let filled = 0;
      let done = 0;
      const flush = async () => {
        const out = await session.run({ features: new ort.Tensor("float32", buffer.subarray(0, filled * FEATURES), [filled, FEATURES]) });
        done += (out.probability!.data as Float32Array).length;
        buffer = new Float32Array(CHUNK * FEATURES);
        filled = 0;
      };
      for (;;) {
        const chunk = await result.fetchChunk();
        if (!chunk || chunk.rowCount === 0) break;
        const vectors = names.map((_, j) => chunk.getColumnVector(j));
        for (let i = 0; i < chunk.rowCount; i++) {
          for (let j = 0; j < FEATURES; j++) buffer[filled * FEATURES + j] = vectors[j]!.getItem(i) as number;
          if (++filled === CHUNK) await flush();
        }
      }
      if (filled) await flush();
      connection.closeSync();
      db.closeSync();
      await session.release();
      if (done !== rows) throw new Error(`the bare loop predicted ${done} rows of ${rows}`);
      return rows / ((performance.now() - start) / 1000);
    };

    const rates = { paved: [] as number[], bare: [] as number[] };
    const loads: number[] = [];
    // One untimed run of each first (file cache, JIT, worker start-up paths).
    await paved();
    await bare();
    for (let r = 0; r < ROUNDS; r++) {
      loads.push(loadavg()[0]!);
      for (const side of r % 2 ? (["bare", "paved"] as const) : (["paved", "bare"] as const)) rates[side].push(side === "paved" ? await paved() : await bare());
    }
    loads.push(loadavg()[0]!);
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const pavedRate = median(rates.paved);
    const bareRate = median(rates.bare);
    const ratio = pavedRate / bareRate;
    printTable(`${rows.toLocaleString("en-US")} rows x ${FEATURES} features (${format}), MLP 30-16-16-1, chunks of ${CHUNK}`, ["side", "rows/s (median)", "rounds"], [
      [`Paved engine (${workers} worker thread${workers > 1 ? "s" : ""}, output Parquet written)`, round(pavedRate, 0), rates.paved.map((x) => Math.round(x)).join(", ")],
      ["bare loop (DuckDB chunks + session.run on the main thread, nothing written)", round(bareRate, 0), rates.bare.map((x) => Math.round(x)).join(", ")],
    ]);
    const load = `load average ${round(Math.min(...loads), 1)}–${round(Math.max(...loads), 1)}`;
    return {
      name: "batch-inference",
      figures: { rows, format, features: FEATURES, chunkRows: CHUNK, workers, pavedRowsPerSecond: pavedRate, bareRowsPerSecond: bareRate, ratio, rounds: rates, loadAverage: loads },
      notes: [`Paved ${round(pavedRate, 0)} rows/s = ${round(ratio * 100, 1)}% of the bare loop's ${round(bareRate, 0)} rows/s (target ≥ ${TARGET * 100}%: ${ratio >= TARGET ? "met" : "NOT met"}); ${load}`],
    };
  } finally {
    scratch.remove();
  }
}
