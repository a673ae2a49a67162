// The tracking bench's raw writes into Paved's chunk layout (migration 017's table and summary
// index, Paved's codec and pragmas), without HTTP, validation or latest values: the storage
// ceiling of bench/tracking-ingestion.ts, and the storage of the bare HTTP servers that bound what
// any server parsing the same bodies could reach (bench/bare-http-server.ts).
import BetterSqlite3 from "better-sqlite3";
import type pg from "pg";
import { appendPoints, CHUNK_POINTS, decodeChunk, encodeChunk, summarizeChunk, type ChunkPoints } from "../src/storage/index.ts";

export interface MetricPoint {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}

/** Migration 017's table and its summary index, as Paved has them ($BLOB: blob or bytea). */
export const CHUNK_DDL = `create table metric_chunks (
  run_id text not null, key text not null, seq integer not null, count integer not null,
  min_step bigint not null, max_step bigint not null, min_time bigint not null, max_time bigint not null,
  min_value double precision, max_value double precision,
  step_last_time bigint not null, step_last_value double precision, time_last_step bigint not null, time_last_value double precision,
  points $BLOB not null, primary key (run_id, key, seq));
create index metric_chunks_summary on metric_chunks (run_id, key, min_step, seq, count, max_step, min_time, max_time,
  min_value, max_value, step_last_time, step_last_value, time_last_step, time_last_value)`;
export const CHUNK_COLUMNS = ["count", "min_step", "max_step", "min_time", "max_time", "min_value", "max_value", "step_last_time", "step_last_value", "time_last_step", "time_last_value", "points"] as const;

export function byKey(rows: MetricPoint[]): Map<string, MetricPoint[]> {
  const out = new Map<string, MetricPoint[]>();
  for (const m of rows) (out.get(m.key) ?? out.set(m.key, []).get(m.key)!).push(m);
  return out;
}

/** A series' new points as chunk rows [seq, ...CHUNK_COLUMNS]: its open chunk filled up, then new ones. */
export function chunkRows(list: MetricPoint[], open: { seq: number; count: number; points: Uint8Array | null } | undefined): unknown[][] {
  const out: unknown[][] = [];
  const row = (seq: number, p: ChunkPoints) => {
    const s = summarizeChunk(p);
    out.push([seq, ...CHUNK_COLUMNS.map((c) => (c === "points" ? encodeChunk(p) : s[c]))]);
  };
  let from = 0;
  if (open?.points) {
    from = Math.min(list.length, CHUNK_POINTS - open.count);
    row(open.seq, appendPoints(decodeChunk(open.points), list, 0, from));
  }
  for (let seq = open ? open.seq + 1 : 0; from < list.length; seq++) {
    const to = Math.min(list.length, from + CHUNK_POINTS);
    row(seq, appendPoints(undefined, list, from, to));
    from = to;
  }
  return out;
}

export interface RawChunkWriter {
  /** Appends one body's points to their series' open chunks (read it, append, write it back; new chunks when full), in one transaction. */
  append(runId: string, rows: MetricPoint[]): void;
  /** Several bodies' appends in one transaction. */
  appendAll(bodies: [runId: string, rows: MetricPoint[]][]): void;
}

/** A SQLite file opened with Paved's pragmas: WAL, `synchronous` (Paved's is FULL), busy timeout, foreign keys. */
export function openRawSqlite(file: string, synchronous: "FULL" | "NORMAL" = "FULL"): BetterSqlite3.Database {
  const db = new BetterSqlite3(file);
  db.pragma("journal_mode = WAL");
  db.pragma(`synchronous = ${synchronous}`);
  db.pragma("busy_timeout = 5000");
  db.pragma("foreign_keys = ON");
  return db;
}

/** Creates the chunk table in `db` and prepares the appends. */
export function rawChunkWriter(db: BetterSqlite3.Database): RawChunkWriter {
  db.exec(CHUNK_DDL.replace("$BLOB", "blob"));
  const selectOpen = db.prepare<[number, string, string], { seq: number; count: number; points: Buffer | null }>(
    "select seq, count, case when count < ? then points end as points from metric_chunks where run_id = ? and key = ? order by seq desc limit 1",
  );
  const upsert = db.prepare(
    `insert into metric_chunks (run_id, key, seq, ${CHUNK_COLUMNS.join(", ")}) values (?, ?, ?, ${CHUNK_COLUMNS.map(() => "?").join(", ")})
     on conflict (run_id, key, seq) do update set ${CHUNK_COLUMNS.map((c) => `${c} = excluded.${c}`).join(", ")}`,
  );
  const write = (runId: string, rows: MetricPoint[]) => {
    for (const [key, list] of byKey(rows)) {
      for (const r of chunkRows(list, selectOpen.get(CHUNK_POINTS, runId, key))) upsert.run(runId, key, ...r);
    }
  };
  return {
    append: db.transaction(write),
    appendAll: db.transaction((bodies: [string, MetricPoint[]][]) => {
      for (const [runId, rows] of bodies) write(runId, rows);
    }),
  };
}

const PG_WIDTH = CHUNK_COLUMNS.length + 3;
const pgUpserts = new Map<number, string>();
/** The multi-row upsert of `rows` chunk rows, made once per row count. */
const pgUpsert = (rows: number): string => {
  let text = pgUpserts.get(rows);
  if (text === undefined) {
    text = `insert into metric_chunks (run_id, key, seq, ${CHUNK_COLUMNS.join(", ")})
  values ${Array.from({ length: rows }, (_, r) => `(${Array.from({ length: PG_WIDTH }, (_, c) => `$${r * PG_WIDTH + c + 1}`).join(", ")})`).join(", ")}
  on conflict (run_id, key, seq) do update set ${CHUNK_COLUMNS.map((c) => `${c} = excluded.${c}`).join(", ")}`;
    pgUpserts.set(rows, text);
  }
  return text;
};

const PG_OPEN_CHUNKS = `select k.key, c.seq, c.count, c.points from unnest($3::text[]) as k(key) cross join lateral (
  select m.seq, m.count, case when m.count < $1 then m.points end as points
  from metric_chunks m where m.run_id = $2 and m.key = k.key order by m.seq desc limit 1) c`;

/**
 * One body's chunk appends on PostgreSQL (the table from CHUNK_DDL with bytea), one transaction:
 * read the open chunks of the body's keys in one query (a backward primary-key probe per key),
 * append, write every chunk row in one multi-row upsert (bytea bound as binary, as Paved sends it).
 * Both are named statements, parsed and planned once per connection, as Paved's are
 * (NamedStatements, src/storage/database.ts): unnamed, PostgreSQL took 3.5 ms of CPU a body
 * against 2.05 (docs/benchmarks.md#tracking).
 */
export async function pgChunkAppend(client: pg.ClientBase, runId: string, rows: MetricPoint[]): Promise<void> {
  const series = byKey(rows);
  await client.query("begin");
  try {
    const open = await client.query<{ key: string; seq: number; count: number; points: Buffer | null }>({
      name: "raw_open_chunks",
      text: PG_OPEN_CHUNKS,
      values: [CHUNK_POINTS, runId, [...series.keys()]],
    });
    const openByKey = new Map(open.rows.map((r) => [r.key, r]));
    const values: unknown[] = [];
    let count = 0;
    for (const [key, list] of series) {
      for (const r of chunkRows(list, openByKey.get(key))) {
        values.push(runId, key, ...r);
        count++;
      }
    }
    await client.query({ name: `raw_upsert_${count}`, text: pgUpsert(count), values });
    await client.query("commit");
  } catch (error) {
    await client.query("rollback");
    throw error;
  }
}
