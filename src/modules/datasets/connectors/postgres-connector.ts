import { createHash } from "node:crypto";
import { rm, stat } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import type { DuckDBInstance } from "@duckdb/node-api";
import pg from "pg";
import { z } from "zod";
import { PlatformError, invalidInput } from "../../../core/index.ts";
import { assertAllowedHost } from "./allowed-hosts.ts";
import type { Connector, ConnectorContext, SnapshotResult } from "./connector.ts";
import { checkAborted, tooLarge } from "./limits.ts";
import { MAX_QUERY_CHARS, assertSingleSelect } from "./select-check.ts";

const SECRET_NAME = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;

export const PostgresSpec = z.strictObject({
  kind: z.literal("postgres"),
  /** The database server: its host must be in datasets.connectors.allowedHosts. */
  host: z.string().min(1).max(253).regex(/^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:]+\]$/, "a host name or IP address"),
  port: z.number().int().min(1).max(65535).default(5432),
  database: z.string().min(1).max(63),
  user: z.string().min(1).max(63),
  /** The name of the team secret holding the user's password (never the password itself). */
  passwordSecret: z.string().regex(SECRET_NAME, "the name of a team secret (`paved secrets ls`)").optional(),
  /** One SELECT (or WITH … SELECT); its rows become the snapshot's Parquet file. */
  query: z.string().min(1).max(MAX_QUERY_CHARS),
  /** TLS to the server: verify (its certificate against the system's CAs; the default), require (encrypted, unverified) or disable. */
  tls: z.enum(["verify", "require", "disable"]).default("verify"),
  /** The Parquet file's name in the version. */
  file: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.parquet$/, "a file name ending in .parquet, e.g. customers.parquet")
    .default("data.parquet"),
});
export type PostgresSpec = z.output<typeof PostgresSpec>;

export interface PostgresConnectorOptions {
  allowedHosts: readonly string[];
  statementTimeoutSeconds: number;
  batchRows: number;
}

/** DuckDB's type for a PostgreSQL column (by type OID and modifier); VARCHAR for anything else, so nothing is lost. */
function duckType(oid: number, modifier: number): string {
  switch (oid) {
    case 16:
      return "BOOLEAN";
    case 20:
      return "BIGINT";
    case 21:
      return "SMALLINT";
    case 23:
      return "INTEGER";
    case 26:
      return "UBIGINT";
    case 700:
      return "FLOAT";
    case 701:
      return "DOUBLE";
    case 1700: {
      // numeric(p, s) carries ((p << 16) | s) + 4; unconstrained numeric carries -1 and is kept as DOUBLE.
      if (modifier < 4) return "DOUBLE";
      const precision = ((modifier - 4) >> 16) & 0xffff;
      const scale = (modifier - 4) & 0xffff;
      return precision >= 1 && precision <= 38 && scale <= precision ? `DECIMAL(${precision},${scale})` : "DOUBLE";
    }
    case 1082:
      return "DATE";
    case 1083:
      return "TIME";
    case 1114:
      return "TIMESTAMP";
    case 1184:
      return "TIMESTAMPTZ";
    case 2950:
      return "UUID";
    case 17:
      return "BLOB";
    default:
      return "VARCHAR";
  }
}

const quoteName = (name: string) => `"${name.replace(/"/g, '""')}"`;
const quoteText = (text: string) => `'${text.replace(/'/g, "''")}'`;

/** Every value as PostgreSQL's text: DuckDB casts it, so that numerics, timestamps and microseconds arrive exact. */
const asText = { getTypeParser: () => (value: string) => value };

/**
 * A query snapshotted into Parquet. The query must be one SELECT (checked before connecting); it
 * then runs as a cursor (which PostgreSQL accepts only for a SELECT or VALUES) in a READ ONLY
 * transaction with a statement timeout, sent with the extended protocol (one statement only). Rows
 * come in batches into a DuckDB staging table on disk, then one COPY writes the Parquet file.
 */
export class PostgresConnector implements Connector<PostgresSpec> {
  readonly kind = "postgres";
  readonly spec = PostgresSpec;

  constructor(private readonly options: PostgresConnectorOptions) {}

  async snapshot(spec: PostgresSpec, ctx: ConnectorContext): Promise<SnapshotResult> {
    checkAborted(ctx.signal);
    assertSingleSelect(spec.query);
    assertAllowedHost(spec.host, spec.port, this.options.allowedHosts, "PostgreSQL");
    const password = spec.passwordSecret ? await ctx.secrets.read(spec.passwordSecret) : undefined;
    const client = new pg.Client({
      host: spec.host.replace(/^\[|\]$/g, ""),
      port: spec.port,
      database: spec.database,
      user: spec.user,
      ...(password !== undefined ? { password } : {}),
      ssl: spec.tls === "disable" ? false : { rejectUnauthorized: spec.tls === "verify" },
      connectionTimeoutMillis: 10_000,
      application_name: "paved-snapshot",
    });
    // A cancelled snapshot asks the server to cancel the running statement (closing the connection
    // alone would leave it running until it next writes), then closes the connection.
    const onAbort = () => {
      const { processID, secretKey } = client as unknown as { processID: number | null; secretKey: number | null };
      if (processID !== null && secretKey !== null) sendCancel(client.host, client.port, processID, secretKey);
      setTimeout(() => void client.end().catch(() => undefined), 1000).unref();
    };
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    const stagingFile = join(ctx.scratchDir, ".staging.duckdb");
    let duck: DuckDBInstance | undefined;
    try {
      await client.connect().catch((error: Error) => {
        checkAborted(ctx.signal);
        throw new PlatformError("UNAVAILABLE", `cannot connect to PostgreSQL at ${spec.host}:${spec.port} as '${spec.user}': ${error.message}; check the host, the user, its password secret ('${spec.passwordSecret ?? "none"}') and tls`, { host: spec.host });
      });
      // Nothing this transaction runs may write; every statement (each FETCH too) stops at the timeout.
      await client.query("begin transaction isolation level repeatable read read only");
      await client.query({ text: "select set_config('statement_timeout', $1, true), set_config('TimeZone', 'UTC', true)", values: [`${Math.round(this.options.statementTimeoutSeconds * 1000)}`] });
      // queryMode "extended" (pg 8.13+, not in its types yet): Parse refuses more than one statement.
      const declare = { text: `declare paved_snapshot no scroll cursor for ${spec.query.replace(/;\s*$/, "")}`, queryMode: "extended" } as pg.QueryConfig;
      await client.query(declare).catch((error: Error) => {
        throw invalidInput(`PostgreSQL refused the query: ${error.message}; give one SELECT that runs read-only`);
      });
      const { DuckDBInstance } = await import("@duckdb/node-api");
      duck = await DuckDBInstance.create(stagingFile, { threads: "2", memory_limit: "512MB", temp_directory: join(ctx.scratchDir, ".staging.tmp") });
      const connection = await duck.connect();
      let columns: { name: string; type: string }[] | undefined;
      let appender: Awaited<ReturnType<typeof connection.createAppender>> | undefined;
      let rows = 0;
      let textBytes = 0;
      for (;;) {
        checkAborted(ctx.signal);
        const batch = await client.query({ text: `fetch forward ${this.options.batchRows} from paved_snapshot`, rowMode: "array", types: asText }).catch((error: Error) => {
          // A cancelled snapshot closed the connection under the query: say so, not "the query failed".
          checkAborted(ctx.signal);
          throw invalidInput(`the query failed on PostgreSQL: ${error.message}; fix the query (it ran out of time after datasets.connectors.postgres.statementTimeoutSeconds if it says so)`);
        });
        if (!columns) {
          columns = uniqueNames(batch.fields.map((f) => f.name)).map((name, i) => ({ name, type: duckType(batch.fields[i]!.dataTypeID, batch.fields[i]!.dataTypeModifier) }));
          if (columns.length === 0) throw invalidInput("the query returns no columns; select at least one");
          await connection.run(`create table staging (${columns.map((_, i) => `c${i} varchar`).join(", ")})`);
          appender = await connection.createAppender("staging");
        }
        for (const row of batch.rows as (string | null)[][]) {
          rows++;
          if (rows > ctx.limits.maxRows) throw tooLarge("the query's row count", "maxRows", ctx.limits.maxRows, "add a WHERE or LIMIT");
          for (const value of row) {
            if (value === null) appender!.appendNull();
            else {
              textBytes += value.length;
              appender!.appendVarchar(value);
            }
          }
          appender!.endRow();
        }
        if (textBytes > ctx.limits.maxBytes) throw tooLarge("the query's result in bytes", "maxBytes", ctx.limits.maxBytes, "select fewer rows or columns");
        appender!.flushSync();
        if (batch.rows.length < this.options.batchRows) break;
      }
      appender!.closeSync();
      await client.query("close paved_snapshot").catch(() => undefined);
      await client.query("rollback").catch(() => undefined);
      const out = join(ctx.scratchDir, spec.file);
      const select = columns!.map((c, i) => `${c.type === "BLOB" ? `from_hex(substr(c${i}, 3))` : `cast(c${i} as ${c.type})`} as ${quoteName(c.name)}`).join(", ");
      await connection.run(`copy (select ${select} from staging) to ${quoteText(out)} (format parquet, compression zstd)`).catch((error: Error) => {
        throw invalidInput(`the query's values could not be written as Parquet: ${error.message}; cast the column to text in the query`);
      });
      connection.closeSync();
      const bytes = (await stat(out)).size;
      if (bytes > ctx.limits.maxBytes) throw tooLarge("the Parquet file's size in bytes", "maxBytes", ctx.limits.maxBytes, "select fewer rows or columns");
      return {
        files: [{ path: spec.file, bytes }],
        source: {
          kind: "postgres",
          host: spec.host,
          port: spec.port,
          database: spec.database,
          user: spec.user,
          queryDigest: `sha256:${createHash("sha256").update(spec.query).digest("hex")}`,
          rows,
          columns: columns!.length,
        },
      };
    } finally {
      ctx.signal.removeEventListener("abort", onAbort);
      await client.end().catch(() => undefined);
      duck?.closeSync();
      await rm(stagingFile, { force: true });
      await rm(`${stagingFile}.wal`, { force: true });
      await rm(join(ctx.scratchDir, ".staging.tmp"), { recursive: true, force: true });
    }
  }
}

/** PostgreSQL's CancelRequest (protocol message 80877102) on a connection of its own; its answer is the server closing it. */
function sendCancel(host: string, port: number, processID: number, secretKey: number): void {
  const packet = Buffer.alloc(16);
  packet.writeInt32BE(16, 0);
  packet.writeInt32BE(80877102, 4);
  packet.writeInt32BE(processID, 8);
  packet.writeInt32BE(secretKey, 12);
  const socket = connect({ host, port }, () => socket.end(packet));
  socket.setTimeout(10_000, () => socket.destroy());
  socket.on("error", () => undefined);
}

/** Column names made unique (`?column?` twice becomes `?column?` and `?column?_2`), as Parquet needs. */
function uniqueNames(names: string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((name) => {
    const base = name || "column";
    const n = (seen.get(base.toLowerCase()) ?? 0) + 1;
    seen.set(base.toLowerCase(), n);
    return n === 1 ? base : `${base}_${n}`;
  });
}
