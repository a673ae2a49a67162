import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
// Types only: DuckDB (its library and native engine, about 40 MB of memory) is loaded by the first run.
import type { DuckDBConnection, DuckDBInstance, DuckDBType, DuckDBVector } from "@duckdb/node-api";
import { PlatformError, invalidInput, isPlatformError } from "../../core/index.ts";
import { OnnxRuntime, type OnnxRuntimeOptions, type Datatype, type ModelHandle, type ModelSignature, type Tensor, type TensorSpec } from "../serving/index.ts";
import { listNames, numericType, outputColumns, planColumns, type ColumnPlan, type FeatureNames, type KeepColumns, type OutputColumn, type SourceColumn } from "./columns.ts";

/** A file of the input data, on local disk. */
export interface InputFile {
  path: string;
  format: "csv" | "parquet";
  /** A gzip-compressed CSV (its name ended .gz; the engine may be handed a blob's path without it). */
  gzip?: boolean;
}

export interface EngineOptions {
  /** Worker threads running the model (each its own onnxruntime session). */
  workers: number;
  /** Rows per model run. */
  chunkRows: number;
  /** Where each run's DuckDB working database lives while it runs (removed after). */
  scratchDir: string;
  /** DuckDB's memory limit per run, MiB (it spills to the scratch folder beyond). */
  memoryLimitMiB: number;
  /** DuckDB's threads per run. */
  duckdbThreads: number;
  /** Bounds of the model check before it is loaded (the configuration's `registry.onnx`). */
  inspection?: OnnxRuntimeOptions["inspection"];
}

export interface EngineRequest {
  /** The ONNX model's bytes. */
  model: Uint8Array;
  input: InputFile[];
  /** The Parquet file written. */
  output: string;
  /** Feature names to match columns by; none: every column in file order. */
  features?: FeatureNames | undefined;
  keep: KeepColumns;
  /** What the input is, for messages: "dataset 'churn' version 3". */
  what: string;
  /** The model's signature as the registry recorded it: the input is planned and read while the model loads (checked once it has). */
  signature?: ModelSignature | undefined;
  /** Told after each chunk with the rows done, and the total once known. */
  onProgress?: (rows: number, total: number | undefined) => void;
  signal?: AbortSignal;
}

export interface EngineResult {
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  plan: ColumnPlan;
  /** The output's prediction columns. */
  predictions: OutputColumn[];
}

/** Most bytes of features read ahead while the model is still loading. */
const READ_AHEAD_BYTES = 64 * 1024 ** 2;

/** Model worker threads when the configuration says `auto`: every core but one (DuckDB reads and the server answer on it), at least 1, at most 8. */
export function defaultWorkers(): number {
  return Math.max(1, Math.min(8, availableParallelism() - 1));
}

/** An input that stopped being read because the run was cancelled. */
export class Cancelled extends Error {}

/**
 * Runs an ONNX model over CSV or Parquet files and writes a Parquet file: the kept input columns
 * and one column per prediction value. DuckDB reads the input in chunks (its own threads); the
 * model runs on `workers` worker threads (serving's OnnxRuntime), a few chunks in flight at once;
 * predictions go into a DuckDB table on disk in input order, and one COPY joins them to the input
 * by position. Memory stays bounded by the chunks in flight and DuckDB's memory limit.
 */
export class BatchInferenceEngine {
  constructor(private readonly options: EngineOptions) {}

  /** The input's columns as DuckDB reads them (without reading every row). */
  async describe(input: InputFile[], what: string): Promise<SourceColumn[]> {
    return this.withDatabase(input.map((f) => f.path), async (db) => {
      const connection = await db.connect();
      try {
        return await describeSource(connection, input, what);
      } finally {
        connection.closeSync();
      }
    });
  }

  async run(request: EngineRequest): Promise<EngineResult> {
    const started = performance.now();
    // One onnxruntime thread per worker (as serving runs them): the workers are the parallelism, and
    // no idle intra-op pool spins on the cores the main thread and DuckDB read the input with.
    const runtime = new OnnxRuntime({ threadsPerReplica: 1, maxQueuedPerVersion: Number.MAX_SAFE_INTEGER, ...(this.options.inspection ? { inspection: this.options.inspection } : {}) });
    let loading: Promise<ModelHandle> | undefined;
    try {
      return await this.withDatabase([...request.input.map((f) => f.path), request.output], async (db) => {
        const reader = await db.connect();
        const writer = await db.connect();
        const counter = await db.connect();
        try {
          // The model loads on its worker threads while the input is read: with the signature the
          // registry stored, the columns are planned and the first chunks read ahead before it is ready.
          loading = runtime.load(request.model, { replicas: this.options.workers, maxBatch: this.options.chunkRows });
          loading.catch(() => undefined);
          const columns = await describeSource(reader, request.input, request.what);
          const planned = (signature: ModelSignature) => planColumns({ signature, columns, names: request.features, keep: request.keep, what: request.what });
          const plan = planned(request.signature ?? runtime.metadata(await loading));
          const model: Promise<ModelHandle> = loading.then((handle) => {
            const loaded = planned(runtime.metadata(handle));
            if (JSON.stringify(loaded.input) !== JSON.stringify(plan.input)) {
              throw invalidInput(`the model's input is ${specText(loaded.input)}, not ${specText(plan.input)} as the registry recorded it; register the model version again`);
            }
            return handle;
          });
          model.catch(() => undefined);
          const source = sourceSql(request.input);
          // The total (from Parquet metadata, or a count of the CSV's records) is read beside the run;
          // a stream that ends early (DuckDB ends it quietly on a read error) is caught against it.
          const counting = counter.runAndReadAll(`SELECT count(*) FROM ${source}`).then((r) => Number(r.getRows()[0]![0]));
          counting.catch(() => undefined);
          let total: number | undefined;
          void counting.then((n) => (total = n), () => undefined);
          const types = new Map(columns.map((c) => [c.name, c.type]));
          const sink = new PredictionSink(writer, await import("@duckdb/node-api"));
          const rows = await this.infer({ runtime, model, plan, types, source, reader, sink, request, total: () => total });
          await sink.close();
          const expected = await counting;
          if (rows !== expected) await explainShortRead(reader, source, plan.features, rows, expected, request.what);
          await writeOutput(writer, source, plan.keep, sink.columns, request.output);
          await runtime.unload(await model);
          const seconds = (performance.now() - started) / 1000;
          return { rows, seconds, rowsPerSecond: rows / seconds, plan, predictions: sink.columns };
        } finally {
          reader.closeSync();
          writer.closeSync();
          counter.closeSync();
        }
      });
    } finally {
      // A load still starting (the run failed before the model was ready) is waited for: its workers are then stopped too.
      await loading?.catch(() => undefined);
      await runtime.close();
    }
  }

  /** Streams the features, runs the model on them a few chunks at a time, and appends the predictions in order. */
  private async infer(ctx: { runtime: OnnxRuntime; model: Promise<ModelHandle>; plan: ColumnPlan; types: Map<string, string>; source: string; reader: DuckDBConnection; sink: PredictionSink; request: EngineRequest; total: () => number | undefined }): Promise<number> {
    const { runtime, plan, types, reader, sink, request } = ctx;
    let handle: ModelHandle | undefined;
    void ctx.model.then((h) => (handle = h), () => undefined);
    const width = plan.features.length;
    const chunkRows = this.options.chunkRows;
    const readers = plan.features.map((f) => cellReader(types.get(f)!, f, request.what, plan.input.datatype));
    // Columns DuckDB hands over as JS numbers are read as they are; the others (BIGINT, DECIMAL, BOOLEAN) are cast to DOUBLE by DuckDB.
    const selected = plan.features.map((f) => (numericType(types.get(f)!) && !JS_NUMBER_TYPES.has(types.get(f)!) ? `CAST(${quoteIdent(f)} AS DOUBLE)` : quoteIdent(f)));
    const result = await reader.stream(`SELECT ${selected.join(", ")} FROM ${ctx.source}`);
    const allocate = bufferFor(plan.input.datatype);
    const window: Promise<Tensor[]>[] = [];
    const inFlight = this.options.workers * 2;
    let rows = 0;
    let done = 0;
    let buffer = allocate(chunkRows * width);
    let filled = 0;
    const drainOne = async () => {
      const outputs = await window.shift()!;
      done += await sink.append(outputs, plan.keep);
      request.onProgress?.(done, ctx.total());
    };
    // Chunks read before the model is ready wait here, up to READ_AHEAD_BYTES.
    const ahead: Tensor[] = [];
    let aheadBytes = 0;
    const send = async (tensor: Tensor, ready: ModelHandle) => {
      window.push(runtime.infer(ready, [tensor]));
      while (window.length >= inFlight) await drainOne();
    };
    const submit = async (last: boolean) => {
      const tensor = filled ? toTensor(plan.input.name, plan.input.datatype, buffer, filled, width) : undefined;
      buffer = allocate(chunkRows * width);
      filled = 0;
      if (tensor && !handle && !last) {
        ahead.push(tensor);
        aheadBytes += tensor.data.byteLength;
        if (aheadBytes < READ_AHEAD_BYTES) return;
      }
      const ready = handle ?? (await ctx.model);
      for (const waiting of ahead.splice(0)) await send(waiting, ready);
      aheadBytes = 0;
      if (tensor) await send(tensor, ready);
    };
    try {
      for (;;) {
        if (request.signal?.aborted) throw new Cancelled("cancelled");
        const chunk = await result.fetchChunk();
        if (!chunk || chunk.rowCount === 0) break;
        const n = chunk.rowCount;
        for (let start = 0; start < n; ) {
          const take = Math.min(n - start, chunkRows - filled);
          for (let j = 0; j < width; j++) readers[j]!(chunk.getColumnVector(j), start, take, buffer, filled, width, j, rows + 1);
          filled += take;
          start += take;
          rows += take;
          if (filled === chunkRows) await submit(false);
        }
      }
      await submit(true);
      while (window.length) await drainOne();
      return done;
    } finally {
      // Runs still in flight when a chunk failed must not reject unheard.
      for (const p of window) p.catch(() => undefined);
    }
  }

  /** A DuckDB working database of its own for one run, which may read and write only `files`' folders and its own. */
  private async withDatabase<T>(files: string[], work: (db: DuckDBInstance) => Promise<T>): Promise<T> {
    mkdirSync(this.options.scratchDir, { recursive: true });
    const dir = mkdtempSync(join(this.options.scratchDir, "run-"));
    const { DuckDBInstance } = await import("@duckdb/node-api");
    const db = await DuckDBInstance.create(join(dir, "work.duckdb"), {
      memory_limit: `${this.options.memoryLimitMiB}MB`,
      threads: String(this.options.duckdbThreads),
      temp_directory: join(dir, "spill"),
      // Only the files this engine names are read: no extensions installed, no URLs fetched.
      autoinstall_known_extensions: "false",
      autoload_known_extensions: "false",
    });
    try {
      const setup = await db.connect();
      try {
        const folders = [...new Set([dir, ...files.map((f) => dirname(f))])].map((d) => quoteLiteral(d.endsWith("/") ? d : `${d}/`));
        await setup.run(`SET allowed_directories = [${folders.join(", ")}]`);
        // From here DuckDB reads and writes only those folders and never the network; it cannot be turned back on.
        await setup.run("SET enable_external_access = false");
        await setup.run("SET lock_configuration = true");
      } finally {
        setup.closeSync();
      }
    } catch (error) {
      db.closeSync();
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
    try {
      return await work(db);
    } finally {
      db.closeSync();
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** DuckDB types whose vectors give JS numbers (BIGINT gives bigints, DECIMAL objects: DuckDB casts those). */
const JS_NUMBER_TYPES = new Set(["DOUBLE", "FLOAT", "INTEGER", "SMALLINT", "TINYINT", "UINTEGER", "USMALLINT", "UTINYINT"]);

/** A chunk's feature values, in the model input's element type (INT64 goes through doubles, then BigInt64Array). */
type FeatureBuffer = Float32Array | Float64Array | Int32Array;

function bufferFor(datatype: Datatype): (length: number) => FeatureBuffer {
  if (datatype === "FP32") return (n) => new Float32Array(n);
  if (datatype === "INT32") return (n) => new Int32Array(n);
  return (n) => new Float64Array(n);
}

/** Fills `width`-strided feature values of `take` rows from a DuckDB vector; throws INVALID_INPUT at a missing or non-numeric value. */
type CellReader = (vector: DuckDBVector, start: number, take: number, out: FeatureBuffer, at: number, width: number, column: number, firstRow: number) => void;

function cellReader(type: string, name: string, what: string, datatype: Datatype): CellReader {
  const shown = listNames([name]) || "(unnamed)";
  const bad = (row: number, why: string) => invalidInput(`${what}, row ${row} (not counting a header), column ${shown}: ${why}; features must be numbers: fix the value or drop the row`, { row, column: name });
  const integer = datatype === "INT32" || datatype === "INT64";
  if (numericType(type) && !integer) {
    // The hot path: numbers as DuckDB gives them.
    return (vector, start, take, out, at, width, column, firstRow) => {
      for (let i = 0; i < take; i++) {
        const value = vector.getItem(start + i) as number | null;
        if (value === null) throw bad(firstRow + i, "empty");
        out[(at + i) * width + column] = value;
      }
    };
  }
  return (vector, start, take, out, at, width, column, firstRow) => {
    for (let i = 0; i < take; i++) {
      const raw = vector.getItem(start + i) as unknown;
      if (raw === null) throw bad(firstRow + i, "empty");
      let value: number;
      if (typeof raw === "number") value = raw;
      else {
        const text = String(raw).trim();
        value = text === "" ? Number.NaN : Number(text);
        if (!Number.isFinite(value)) throw bad(firstRow + i, "not a number");
      }
      if (integer && !Number.isInteger(value)) throw bad(firstRow + i, "not a whole number (the model's input is an integer type)");
      out[(at + i) * width + column] = value;
    }
  };
}

function specText(spec: TensorSpec): string {
  return `'${spec.name}' ${spec.datatype} ${JSON.stringify(spec.shape)}`;
}

function toTensor(name: string, datatype: Datatype, values: FeatureBuffer, rows: number, width: number): Tensor {
  const length = rows * width;
  // A full buffer moves to the worker as it is; the last, partial one is cut to its rows.
  const used = values.length === length ? values : values.slice(0, length);
  const data: Tensor["data"] = datatype === "INT64" ? BigInt64Array.from(used, (v) => BigInt(v)) : used;
  return { name, datatype, shape: [rows, width], data };
}

type DuckDB = typeof import("@duckdb/node-api");

function duckdbType(duck: DuckDB, datatype: Datatype): DuckDBType | undefined {
  const types: Partial<Record<Datatype, DuckDBType>> = { FP32: duck.FLOAT, FP64: duck.DOUBLE, INT32: duck.INTEGER, INT64: duck.BIGINT, BOOL: duck.BOOLEAN };
  return types[datatype];
}

/** The predictions table: created at the first chunk's outputs (their shapes give the columns), appended in input order. */
class PredictionSink {
  columns: OutputColumn[] = [];
  private appender: Awaited<ReturnType<DuckDBConnection["createAppender"]>> | undefined;
  private types: DuckDBType[] = [];

  constructor(
    private readonly connection: DuckDBConnection,
    private readonly duck: DuckDB,
  ) {}

  /** Appends one chunk's outputs; returns its rows. */
  async append(outputs: Tensor[], keep: string[]): Promise<number> {
    const rows = outputs[0]?.shape[0] ?? 0;
    if (!this.appender) {
      this.columns = outputColumns(outputs, rows, keep);
      this.types = this.columns.map((c) => duckdbType(this.duck, c.datatype)!);
      await this.connection.run(`CREATE TABLE predictions (${this.columns.map((c, j) => `${quoteIdent(c.name)} ${this.types[j]!.toString()}`).join(", ")})`);
      this.appender = await this.connection.createAppender("predictions");
    }
    const byName = new Map(outputs.map((o) => [o.name, o]));
    for (let start = 0; start < rows; start += 2048) {
      const n = Math.min(2048, rows - start);
      const chunk = this.duck.DuckDBDataChunk.create(this.types, n);
      this.columns.forEach((c, j) => {
        const tensor = byName.get(c.tensor)!;
        const width = tensor.shape.length === 2 ? tensor.shape[1]! : 1;
        if (tensor.shape[0] !== rows || tensor.data.length !== rows * width) throw new PlatformError("INTERNAL", `the model's output '${c.tensor}' changed shape between chunks (${JSON.stringify(tensor.shape)})`);
        const vector = chunk.getColumnVector(j);
        const data = tensor.data;
        for (let i = 0; i < n; i++) {
          const v = data[(start + i) * width + c.index]!;
          vector.setItem(i, (c.datatype === "BOOL" ? v !== 0 : v) as never);
        }
        vector.flush();
      });
      this.appender!.appendDataChunk(chunk);
    }
    return rows;
  }

  async close(): Promise<void> {
    if (!this.appender) {
      // No rows: an empty table still gives the output its (unknown) prediction columns: none.
      await this.connection.run("CREATE TABLE predictions AS SELECT 1 AS _ WHERE false");
      return;
    }
    this.appender.flushSync();
    this.appender.closeSync();
  }
}

async function writeOutput(connection: DuckDBConnection, source: string, keep: string[], predictions: OutputColumn[], output: string): Promise<void> {
  const columns = [...keep.map((k) => `s.${quoteIdent(k)}`), ...predictions.map((p) => `p.${quoteIdent(p.name)}`)];
  await connection.run(`COPY (SELECT ${columns.join(", ")} FROM ${source} AS s POSITIONAL JOIN predictions AS p) TO ${quoteLiteral(output)} (FORMAT parquet)`);
}

/** The stream ended before the input did: DuckDB's reason, as INVALID_INPUT when it is the data's fault. */
async function explainShortRead(connection: DuckDBConnection, source: string, features: string[], rows: number, expected: number, what: string): Promise<never> {
  try {
    await connection.run(`SELECT ${features.map((f) => `count(${quoteIdent(f)})`).join(", ")} FROM ${source}`);
  } catch (error) {
    throw readError(error, what);
  }
  throw new PlatformError("INTERNAL", `reading ${what} stopped after ${rows} of ${expected} rows; run the prediction again`);
}

async function describeSource(connection: DuckDBConnection, input: InputFile[], what: string): Promise<SourceColumn[]> {
  if (!input.length) throw invalidInput(`${what} holds no CSV or Parquet file; batch inference reads .csv and .parquet files`);
  const formats = new Set(input.map((f) => f.format));
  if (formats.size > 1) throw invalidInput(`${what} mixes CSV and Parquet files; batch inference reads one format at a time: name one file with datasets:/<name>@<version>/<path>`);
  if (new Set(input.map((f) => f.gzip === true)).size > 1) throw invalidInput(`${what} mixes gzip-compressed and plain CSV files; name one file with datasets:/<name>@<version>/<path>`);
  try {
    const result = await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${sourceSql(input)}`);
    const columns = result.getRowObjectsJS().map((r) => ({ name: String(r.column_name), type: String(r.column_type) }));
    if (!columns.length) throw invalidInput(`${what} has no columns`);
    return columns;
  } catch (error) {
    throw readError(error, what);
  }
}

/** What DuckDB says about a file it could not read, without quoting the file's content. */
function readError(error: unknown, what: string): Error {
  if (isPlatformError(error)) return error;
  const message = (error as Error).message ?? "";
  const line = numberAfter(message, "CSV Error on Line: ");
  if (line !== undefined) {
    const column = quotedAfter(message, 'converting column "');
    return invalidInput(`${what}, line ${line}${column ? `, column ${listNames([column]) || "(unnamed)"}` : ""}: a value does not fit the column's type (${column ? "numbers above it" : "earlier rows"}); fix the value or drop the row`, { line, ...(column ? { column } : {}) });
  }
  if (message.includes("Invalid Input Error") || message.includes("Parquet") || message.includes("parquet")) {
    return invalidInput(`${what} could not be read as ${message.toLowerCase().includes("parquet") ? "Parquet" : "CSV"}; check that every file is what its name says (.csv, .parquet)`);
  }
  return new PlatformError("INTERNAL", `${what} could not be read: ${message.split("\n")[0]!.slice(0, 200)}`);
}

function numberAfter(text: string, marker: string): number | undefined {
  const at = text.indexOf(marker);
  if (at < 0) return undefined;
  let end = at + marker.length;
  while (end < text.length && text.charCodeAt(end) >= 48 && text.charCodeAt(end) <= 57) end++;
  const digits = text.slice(at + marker.length, end);
  return digits ? Number(digits) : undefined;
}

function quotedAfter(text: string, marker: string): string | undefined {
  const at = text.indexOf(marker);
  if (at < 0) return undefined;
  const end = text.indexOf('"', at + marker.length);
  return end < 0 ? undefined : text.slice(at + marker.length, end);
}

/** The DuckDB table function reading the input files, in order. */
export function sourceSql(input: InputFile[]): string {
  const list = `[${input.map((f) => quoteLiteral(f.path)).join(", ")}]`;
  return input[0]!.format === "parquet" ? `read_parquet(${list})` : `read_csv(${list}, header = true${input[0]!.gzip ? ", compression = 'gzip'" : ""})`;
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
