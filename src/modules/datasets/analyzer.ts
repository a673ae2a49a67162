import { mkdir } from "node:fs/promises";
import { join } from "node:path";
// Types only: DuckDB (its library and native engine, about 40 MB of memory) is loaded by the first analysis.
import type { DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { PlatformError, invalidInput } from "../../core/index.ts";
import { checkCsvSample } from "./csv-check.ts";
import type { ColumnView, FileAnalysis, Preview } from "./schema.ts";

export interface AnalyzerOptions {
  /** DuckDB's worker threads. */
  threads: number;
  /** DuckDB's memory limit, in MiB (it spills to `tempDirectory` past it). */
  memoryLimitMiB: number;
  /** The only folders DuckDB may read (the artifact store's, the scratch folder); nothing else, and no network. */
  allowedDirectories: string[];
  tempDirectory: string;
  /** Files analysed at once; the rest wait their turn. */
  maxConcurrent: number;
  /** Rows kept as a version's stored preview. */
  previewRows: number;
  /** Columns that get statistics (the rest are listed with their type). */
  maxStatisticsColumns: number;
  /** Longest text of one preview cell or statistic value. */
  maxCellChars: number;
}

/** The CSV sample checked for ragged rows before DuckDB sniffs it (DuckDB's own sniffing sample). */
const CSV_SAMPLE_RECORDS = 20_480;
const CSV_SAMPLE_BYTES = 64 * 1024 ** 2;

const NUMERIC = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL(\(\d+,\s*\d+\))?)$/;
const TEMPORAL = /^(DATE|TIME|TIMESTAMP|TIMESTAMP WITH TIME ZONE|TIMESTAMP_S|TIMESTAMP_MS|TIMESTAMP_NS|TIME WITH TIME ZONE|INTERVAL)$/;
const NESTED = /[[\]()]|^(STRUCT|MAP|UNION|LIST)/;

/** What one analysis reads: a CSV (optionally gzipped) or a Parquet file on local disk. */
export interface TabularFile {
  /** Where the bytes are on this machine (inside an allowed directory). */
  file: string;
  /** The file's path in its version, for messages. */
  path: string;
  format: "csv" | "parquet";
  gzip?: boolean;
}

/**
 * Schema, row count, per-column statistics and previews of CSV and Parquet files, computed by one
 * DuckDB instance (its own threads; the event loop only awaits). The instance is confined to the
 * allowed folders with external access off, so a query can read nothing else, and is bounded in
 * threads and memory.
 */
export class DatasetAnalyzer {
  private instance: Promise<DuckDBInstance> | undefined;
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly options: AnalyzerOptions) {}

  /** Schema, row count, statistics and a stored preview; INVALID_INPUT for a file that is not what its name says. */
  async analyze(input: TabularFile): Promise<FileAnalysis> {
    const delimiter = input.format === "csv" ? await checkCsvSample(input.file, input.path, { maxRecords: CSV_SAMPLE_RECORDS, maxBytes: CSV_SAMPLE_BYTES, gzip: input.gzip ?? false }) : undefined;
    return this.withConnection(async (connection) => {
      const source = sourceOf(input, delimiter);
      const described = await this.run(connection, input, `DESCRIBE SELECT * FROM ${source}`);
      const columns = described.map((row) => ({ name: String(row.column_name), type: String(row.column_type) }));
      const statsColumns = columns.slice(0, this.options.maxStatisticsColumns);
      const selects = ["count(*) AS n"];
      statsColumns.forEach((c, i) => selects.push(...aggregatesFor(c, i)));
      const [stats] = await this.run(connection, input, `SELECT ${selects.join(", ")} FROM ${source}`);
      const rowCount = Number(stats!.n ?? 0);
      const views: ColumnView[] = columns.map((c, i) => (i < statsColumns.length ? this.columnView(c, i, stats!, rowCount) : { name: c.name, type: c.type, kind: kindOf(c.type) }));
      const preview = await this.previewWith(connection, input, source, this.options.previewRows);
      return { rowCount, columns: views, preview };
    });
  }

  /** The first `rows` rows (cells cut to maxCellChars). */
  async preview(input: TabularFile, rows: number): Promise<Preview> {
    return this.withConnection(async (connection) => this.previewWith(connection, input, sourceOf(input, undefined), rows));
  }

  /**
   * Runs `work` (SQL a user wrote: feature sets) on an instance of its own that may read and write
   * `dir` and nothing else: not the artifact store, not the network. It takes one of the
   * `maxConcurrent` slots and has this analyzer's thread and memory bounds; it is closed after.
   */
  async withConfinedDuckDB<T>(dir: string, work: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      const instance = await this.newInstance(join(dir, ".spill"));
      try {
        const connection = await instance.connect();
        try {
          await connection.run(`SET allowed_directories = [${quoteString(dir.endsWith("/") ? dir : `${dir}/`)}]`);
          await connection.run("SET enable_external_access = false");
          await connection.run("SET lock_configuration = true");
          return await work(connection);
        } finally {
          connection.closeSync();
        }
      } finally {
        instance.closeSync();
      }
    } finally {
      this.release();
    }
  }

  async close(): Promise<void> {
    const instance = this.instance;
    this.instance = undefined;
    if (instance) (await instance.catch(() => undefined))?.closeSync();
  }

  private async previewWith(connection: DuckDBConnection, input: TabularFile, source: string, rows: number): Promise<Preview> {
    const reader = await connection.runAndReadAll(`SELECT * FROM ${source} LIMIT ${Math.max(1, Math.floor(rows))}`).catch((error: unknown) => {
      throw fileError(error, input);
    });
    const numeric = reader.columnTypes().map((t) => kindOf(t.toString()) === "numeric");
    return { columns: reader.columnNames(), rows: reader.getRowsJson().map((row) => row.map((cell, i) => this.cell(cell, numeric[i] ?? false))) };
  }

  private async run(connection: DuckDBConnection, input: TabularFile, query: string): Promise<Record<string, unknown>[]> {
    try {
      const reader = await connection.runAndReadAll(query);
      return reader.getRowObjectsJson() as Record<string, unknown>[];
    } catch (error) {
      throw fileError(error, input);
    }
  }

  private columnView(column: { name: string; type: string }, i: number, row: Record<string, unknown>, rowCount: number): ColumnView {
    const kind = kindOf(column.type);
    const nonNull = Number(row[`c${i}_nn`] ?? 0);
    const nullCount = rowCount - nonNull;
    const stats: NonNullable<ColumnView["stats"]> = {
      nullCount,
      nullFraction: rowCount === 0 ? 0 : nullCount / rowCount,
      distinctApprox: row[`c${i}_d`] === undefined || row[`c${i}_d`] === null ? null : Number(row[`c${i}_d`]),
    };
    if (kind === "numeric") {
      stats.min = finite(row[`c${i}_min`]);
      stats.max = finite(row[`c${i}_max`]);
      stats.mean = finite(row[`c${i}_mean`]);
      stats.std = finite(row[`c${i}_std`]);
      const q = Array.isArray(row[`c${i}_q`]) ? (row[`c${i}_q`] as unknown[]) : [];
      stats.quantiles = { p05: finite(q[0]), p25: finite(q[1]), p50: finite(q[2]), p75: finite(q[3]), p95: finite(q[4]) };
    } else if (kind === "string" || kind === "temporal" || kind === "boolean") {
      stats.min = this.scalar(row[`c${i}_min`]);
      stats.max = this.scalar(row[`c${i}_max`]);
      if (kind !== "temporal") stats.topValues = Array.isArray(row[`c${i}_top`]) ? (row[`c${i}_top`] as unknown[]).map((v) => this.scalar(v)) : [];
    }
    return { name: column.name, type: column.type, kind, stats };
  }

  private scalar(value: unknown): string | number | boolean | null {
    if (value === null || value === undefined) return null;
    if (typeof value === "number") return Number.isFinite(value) ? value : null;
    if (typeof value === "boolean") return value;
    const text = typeof value === "string" ? value : JSON.stringify(value);
    return text.length > this.options.maxCellChars ? `${text.slice(0, this.options.maxCellChars)}…` : text;
  }

  private cell(value: unknown, numeric: boolean): unknown {
    if (value === null || typeof value === "number" || typeof value === "boolean") return value;
    // DuckDB's JSON gives 64-bit integers and decimals as text; a number is what a reader expects, when it is exact.
    if (numeric && typeof value === "string") {
      const n = Number(value);
      if (Number.isFinite(n) && (!/^-?\d+$/.test(value) || Number.isSafeInteger(n))) return n;
    }
    return this.scalar(value);
  }

  private async withConnection<T>(work: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      const connection = await (await this.open()).connect();
      try {
        return await work(connection);
      } finally {
        connection.closeSync();
      }
    } finally {
      this.release();
    }
  }

  /**
   * An in-memory DuckDB instance with this analyzer's thread and memory bounds, spilling to
   * `tempDirectory`, that installs and loads no extension. DuckDB itself is loaded by the first call.
   */
  private async newInstance(tempDirectory: string): Promise<DuckDBInstance> {
    const { DuckDBInstance } = await import("@duckdb/node-api");
    const o = this.options;
    return DuckDBInstance.create(":memory:", {
      threads: String(o.threads),
      memory_limit: `${o.memoryLimitMiB}MB`,
      temp_directory: tempDirectory,
      autoinstall_known_extensions: "false",
      autoload_known_extensions: "false",
    });
  }

  private open(): Promise<DuckDBInstance> {
    this.instance ??= (async () => {
      const o = this.options;
      await mkdir(o.tempDirectory, { recursive: true });
      for (const dir of o.allowedDirectories) await mkdir(dir, { recursive: true });
      const instance = await this.newInstance(o.tempDirectory);
      const setup = await instance.connect();
      try {
        const dirs = [...o.allowedDirectories, o.tempDirectory].map((d) => quoteString(d.endsWith("/") ? d : `${d}/`)).join(", ");
        await setup.run(`SET allowed_directories = [${dirs}]`);
        // After this, DuckDB reads only the folders above and never the network; it cannot be turned back on.
        await setup.run("SET enable_external_access = false");
        await setup.run("SET lock_configuration = true");
      } finally {
        setup.closeSync();
      }
      return instance;
    })();
    this.instance.catch(() => {
      this.instance = undefined;
    });
    return this.instance;
  }

  private async acquire(): Promise<void> {
    if (this.running < this.options.maxConcurrent) {
      this.running += 1;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running -= 1;
  }
}

export function kindOf(type: string): ColumnView["kind"] {
  if (NUMERIC.test(type)) return "numeric";
  if (type === "VARCHAR") return "string";
  if (type === "BOOLEAN") return "boolean";
  if (TEMPORAL.test(type)) return "temporal";
  return "other";
}

function aggregatesFor(column: { name: string; type: string }, i: number): string[] {
  const c = quoteIdentifier(column.name);
  const kind = kindOf(column.type);
  const out = [`count(${c}) AS c${i}_nn`];
  if (!NESTED.test(column.type) || kind === "numeric") out.push(`approx_count_distinct(${c}) AS c${i}_d`);
  if (kind === "numeric") {
    const x = /^(DOUBLE|FLOAT)$/.test(column.type) ? c : `CAST(${c} AS DOUBLE)`;
    out.push(`min(${x}) AS c${i}_min`, `max(${x}) AS c${i}_max`, `avg(${x}) AS c${i}_mean`, `stddev_samp(${x}) AS c${i}_std`, `approx_quantile(${x}, [0.05, 0.25, 0.5, 0.75, 0.95]) AS c${i}_q`);
  } else if (kind === "string") {
    out.push(`min(${c}) AS c${i}_min`, `max(${c}) AS c${i}_max`, `approx_top_k(${c}, 5) AS c${i}_top`);
  } else if (kind === "boolean") {
    out.push(`min(${c}) AS c${i}_min`, `max(${c}) AS c${i}_max`, `approx_top_k(${c}, 2) AS c${i}_top`);
  } else if (kind === "temporal") {
    out.push(`CAST(min(${c}) AS VARCHAR) AS c${i}_min`, `CAST(max(${c}) AS VARCHAR) AS c${i}_max`);
  }
  return out;
}

function sourceOf(input: TabularFile, delimiter: string | undefined): string {
  const file = quoteString(input.file);
  if (input.format === "parquet") return `read_parquet(${file})`;
  const options = ["strict_mode = true"];
  if (delimiter !== undefined) options.push(`delim = ${quoteString(delimiter)}`);
  if (input.gzip) options.push("compression = 'gzip'");
  return `read_csv(${file}, ${options.join(", ")})`;
}

function quoteString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function finite(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  const n = typeof value === "number" ? value : Number(value);
  return Number.isFinite(n) ? n : null;
}

/** DuckDB's complaint about a file, as INVALID_INPUT naming the file (and the line, for CSV), without server paths. */
function fileError(error: unknown, input: TabularFile): Error {
  if (error instanceof PlatformError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const firstLine = (message.split("\n")[0] ?? "").replaceAll(input.file, input.path).slice(0, 300);
  if (input.format === "csv") {
    // DuckDB's strict reader names the line: "CSV Error on Line: 50002".
    const line = /CSV Error on Line: (\d{1,12})/.exec(message.slice(0, 200))?.[1];
    if (line !== undefined) {
      return invalidInput(`${input.path}: line ${line} does not match the header (a ragged row, or a stray quote): ${firstLine}; fix or remove that row and upload the file again`, { path: input.path, line: Number(line) });
    }
    if (/Invalid Input Error|Conversion Error|Parser Error|Sniff/i.test(firstLine)) {
      return invalidInput(`${input.path} could not be read as CSV (${firstLine}); check it is comma-, tab-, ';'- or '|'-separated text with a header row, or give it another extension to keep it as a plain file`, { path: input.path });
    }
  } else if (/Invalid Input Error|Invalid Error|IO Error|not a parquet|magic/i.test(firstLine)) {
    return invalidInput(`${input.path} is not a Parquet file (${firstLine}); upload a real Parquet file, or give it another extension to keep it as a plain file`, { path: input.path });
  }
  if (/Out of Memory/i.test(firstLine)) {
    return new PlatformError("UNAVAILABLE", `analysing ${input.path} ran out of DuckDB's memory (${firstLine}); an operator can raise datasets.memoryLimitMiB`, { path: input.path });
  }
  return new PlatformError("INTERNAL", `analysing ${input.path} failed: ${firstLine}`, { path: input.path });
}
