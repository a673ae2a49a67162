import { sql, type RawBuilder } from "kysely";
import type { Database } from "../../storage/index.ts";

/** The axis points are bucketed over: their step, or their timestamp (epoch milliseconds). */
export type HistoryAxis = "step" | "time";

export interface BucketQuery {
  runId: string;
  key: string;
  axis: HistoryAxis;
  /** At most this many buckets (non-empty ones are answered). */
  points: number;
  startStep?: number | undefined;
  endStep?: number | undefined;
  startTime?: number | undefined;
  endTime?: number | undefined;
}

/** One bucket of a downsampled history; `last` is its last point in history order (NaN → null in views). */
export interface MetricBucket {
  /** The bucket's first axis value (start + index × width). */
  start: number;
  count: number;
  min: number | null;
  max: number | null;
  last: number;
  firstStep: number;
  lastStep: number;
  firstTime: number;
  lastTime: number;
}

export interface BucketedHistory {
  axis: HistoryAxis;
  /** The axis range bucketed (the query's bounds, or the points' own extent). */
  start: number | null;
  end: number | null;
  /** Axis units per bucket. */
  width: number;
  buckets: MetricBucket[];
}

interface BucketRow {
  b: number | string;
  n: number | string;
  mn: number | string | null;
  mx: number | string | null;
  s0: number | string;
  s1: number | string;
  t0: number | string;
  t1: number | string;
  last_value: number | string | null;
}

const num = (v: number | string) => Number(v);
const numOrNull = (v: number | string | null) => (v === null ? null : Number(v));

/**
 * A metric's history cut into at most `points` equal-width buckets along the step or time axis,
 * each with count, min, max and last, computed by one GROUP BY in the database: the points never
 * reach Node. Each bucket's last point is found by an index seek on (run_id, key, step) at its
 * highest step (step axis), or among its highest timestamp within its step span (time axis).
 */
export async function bucketHistory(database: Database, q: BucketQuery): Promise<BucketedHistory> {
  const { db } = database;
  const filters: RawBuilder<unknown>[] = [sql`run_id = ${q.runId}`, sql`key = ${q.key}`];
  if (q.startStep !== undefined) filters.push(sql`step >= ${q.startStep}`);
  if (q.endStep !== undefined) filters.push(sql`step <= ${q.endStep}`);
  if (q.startTime !== undefined) filters.push(sql`timestamp >= ${q.startTime}`);
  if (q.endTime !== undefined) filters.push(sql`timestamp <= ${q.endTime}`);
  const where = sql.join(filters, sql` and `);
  const column = q.axis === "step" ? sql.ref("step") : sql.ref("timestamp");
  const given = q.axis === "step" ? [q.startStep, q.endStep] : [q.startTime, q.endTime];

  let [start, end] = given;
  if (start === undefined || end === undefined) {
    // Two subqueries, not min() and max() in one: SQLite answers a lone min or max from the index.
    const extent = await sql<{ lo: number | string | null; hi: number | string | null }>`
      select (select min(${column}) from metrics where ${where}) as lo, (select max(${column}) from metrics where ${where}) as hi`.execute(db);
    const row = extent.rows[0];
    if (!row || row.lo === null || row.hi === null) return { axis: q.axis, start: start ?? null, end: end ?? null, width: 1, buckets: [] };
    start ??= num(row.lo);
    end ??= num(row.hi);
  }
  if (end < start) return { axis: q.axis, start, end, width: 1, buckets: [] };
  const width = Math.max(1, Math.ceil((end - start + 1) / q.points));

  // Bound numbers may arrive as doubles (better-sqlite3); integer division needs integers.
  const bigint = (v: number) => (database.dialect === "postgres" ? sql`cast(${v} as bigint)` : sql`cast(${v} as integer)`);
  // Integer division of non-negative integers: both dialects floor it.
  const bucket = sql`(${column} - ${bigint(start)}) / ${bigint(width)}`;
  const last =
    q.axis === "step"
      ? sql`from metrics l where l.run_id = ${q.runId} and l.key = ${q.key} and l.step = g.s1 order by l.timestamp desc, l.id desc limit 1`
      : sql`from metrics l where l.run_id = ${q.runId} and l.key = ${q.key} and l.step between g.s0 and g.s1 and l.timestamp = g.t1 order by l.step desc, l.id desc limit 1`;
  const result = await sql<BucketRow>`
    select g.*, (select l.value ${last}) as last_value
    from (
      select ${bucket} as b, count(*) as n, min(value) as mn, max(value) as mx,
             min(step) as s0, max(step) as s1, min(timestamp) as t0, max(timestamp) as t1
      from metrics where ${where} and ${column} between ${bigint(start)} and ${bigint(end)}
      group by 1
    ) g
    order by g.b`.execute(db);

  const buckets = result.rows.map((r) => ({
    start: start + num(r.b) * width,
    count: num(r.n),
    min: numOrNull(r.mn),
    max: numOrNull(r.mx),
    // A NaN point is stored as a null value.
    last: numOrNull(r.last_value) ?? NaN,
    firstStep: num(r.s0),
    lastStep: num(r.s1),
    firstTime: num(r.t0),
    lastTime: num(r.t1),
  }));
  return { axis: q.axis, start, end, width, buckets };
}
