import { sql, type Kysely, type Migration } from "kysely";
import { appendPoints, CHUNK_POINTS, encodeChunk, summarizeChunk } from "../metric-chunk.ts";

/**
 * Metric points move from one row per point (`metrics`, whose index made every insert slower as
 * it grew) to `metric_chunks`: per (run, key), chunks of up to CHUNK_POINTS points in the order
 * they were logged (`seq`, then position in the chunk), each with a summary (step and time range,
 * count, min/max value, last point by step and by time) that range reads and downsampling use
 * without decoding it. Existing points are carried over series by series, in id (logged) order.
 * `latest_metrics` is unchanged.
 */
export function metricChunksMigration(dialect: "sqlite" | "postgres"): Migration {
  const blob = dialect === "postgres" ? "bytea" : "blob";
  return {
    async up(db: Kysely<unknown>) {
      // Idempotent up to the drop: SQLite runs a migration outside a transaction, so a process
      // killed while converting leaves the old table whole and a partial metric_chunks, and the
      // next start begins the conversion again.
      await sql`create table if not exists metric_chunks (
        run_id text not null,
        key text not null,
        seq integer not null,
        count integer not null,
        min_step bigint not null,
        max_step bigint not null,
        min_time bigint not null,
        max_time bigint not null,
        min_value double precision,
        max_value double precision,
        step_last_time bigint not null,
        step_last_value double precision,
        time_last_step bigint not null,
        time_last_value double precision,
        points ${sql.raw(blob)} not null,
        primary key (run_id, key, seq)
      )`.execute(db);
      // The summaries again, apart from the points: a range read or a downsample scans this
      // index alone (SQLite keeps the first ~4 KiB of a row beside its key, so scanning the table
      // would read a page per chunk); ordered by first step for history pages.
      await sql`create index if not exists metric_chunks_summary on metric_chunks (run_id, key, min_step, seq, count, max_step, min_time, max_time,
        min_value, max_value, step_last_time, step_last_value, time_last_step, time_last_value)`.execute(db);
      await sql`delete from metric_chunks`.execute(db);
      await convertRows(db);
      await sql`drop table metrics`.execute(db);
    },
  };
}

interface OldRow {
  value: number | string | null;
  timestamp: number | string;
  step: number | string;
  is_nan: number | string;
}

async function convertRows(db: Kysely<unknown>): Promise<void> {
  const series = await sql<{ run_id: string; key: string }>`select distinct run_id, key from metrics`.execute(db);
  for (const { run_id, key } of series.rows) {
    const rows = await sql<OldRow>`select value, timestamp, step, is_nan from metrics where run_id = ${run_id} and key = ${key} order by id`.execute(db);
    const points = rows.rows.map((r) => ({
      step: Number(r.step),
      timestamp: Number(r.timestamp),
      value: Number(r.is_nan) ? NaN : r.value === null ? NaN : Number(r.value),
    }));
    for (let from = 0, seq = 0; from < points.length; from += CHUNK_POINTS, seq++) {
      const chunk = appendPoints(undefined, points, from, Math.min(points.length, from + CHUNK_POINTS));
      const s = summarizeChunk(chunk);
      await sql`insert into metric_chunks (run_id, key, seq, count, min_step, max_step, min_time, max_time, min_value, max_value,
          step_last_time, step_last_value, time_last_step, time_last_value, points)
        values (${run_id}, ${key}, ${seq}, ${s.count}, ${s.min_step}, ${s.max_step}, ${s.min_time}, ${s.max_time}, ${s.min_value}, ${s.max_value},
          ${s.step_last_time}, ${s.step_last_value}, ${s.time_last_step}, ${s.time_last_value}, ${encodeChunk(chunk)})`.execute(db);
    }
  }
}
