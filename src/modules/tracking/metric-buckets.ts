import type { Database } from "../../storage/index.ts";
import { readChunks, type StoredPoint } from "./metric-store.ts";

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

/** A chunk's summary as the bucketing reads it. */
interface ChunkSummaryRow {
  seq: number;
  count: number;
  min_step: number;
  max_step: number;
  min_time: number;
  max_time: number;
  min_value: number | null;
  max_value: number | null;
  step_last_time: number;
  step_last_value: number | null;
  time_last_step: number;
  time_last_value: number | null;
}

/** A bucket being filled; `order` ranks its last point (axis value, the other one, seq, index). */
interface Accumulator {
  count: number;
  min: number | null;
  max: number | null;
  last: number;
  order: [number, number, number, number];
  firstStep: number;
  lastStep: number;
  firstTime: number;
  lastTime: number;
}

const later = (a: readonly number[], b: readonly number[]) => a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]! || a[3]! - b[3]!;

/**
 * A metric's history cut into at most `points` equal-width buckets along the step or time axis,
 * each with count, min, max and last, from the series' chunks: a chunk that lies wholly inside
 * the query's range and inside one bucket is answered by its summary and never decoded; only
 * chunks across a bucket edge or a range edge are decoded, point by point.
 */
export async function bucketHistory(database: Database, q: BucketQuery): Promise<BucketedHistory> {
  const step = q.axis === "step";
  let query = database.db
    .selectFrom("metric_chunks")
    .select([
      "seq",
      "count",
      "min_step",
      "max_step",
      "min_time",
      "max_time",
      "min_value",
      "max_value",
      "step_last_time",
      "step_last_value",
      "time_last_step",
      "time_last_value",
    ])
    .where("run_id", "=", q.runId)
    .where("key", "=", q.key);
  if (q.startStep !== undefined) query = query.where("max_step", ">=", q.startStep);
  if (q.endStep !== undefined) query = query.where("min_step", "<=", q.endStep);
  if (q.startTime !== undefined) query = query.where("max_time", ">=", q.startTime);
  if (q.endTime !== undefined) query = query.where("min_time", "<=", q.endTime);
  const chunks: ChunkSummaryRow[] = await query.execute();

  const inRange = (s: number, t: number) =>
    (q.startStep === undefined || s >= q.startStep) &&
    (q.endStep === undefined || s <= q.endStep) &&
    (q.startTime === undefined || t >= q.startTime) &&
    (q.endTime === undefined || t <= q.endTime);
  const whole: ChunkSummaryRow[] = [];
  const partial: number[] = [];
  for (const c of chunks) {
    if (inRange(c.min_step, c.min_time) && inRange(c.max_step, c.max_time)) whole.push(c);
    else partial.push(c.seq);
  }
  // Points of the chunks that cross a range edge, those inside the range only.
  const points: StoredPoint[] = [];
  const decode = async (seqs: number[]) => {
    for (const [seq, chunk] of await readChunks(database, q.runId, q.key, seqs)) {
      for (let i = 0; i < chunk.steps.length; i++) {
        const s = chunk.steps[i]!, t = chunk.timestamps[i]!;
        if (inRange(s, t)) points.push({ step: s, timestamp: t, value: chunk.values[i]!, seq, index: i });
      }
    }
  };
  await decode(partial);

  let [start, end] = step ? [q.startStep, q.endStep] : [q.startTime, q.endTime];
  if (start === undefined || end === undefined) {
    let lo = Infinity, hi = -Infinity;
    for (const c of whole) {
      lo = Math.min(lo, step ? c.min_step : c.min_time);
      hi = Math.max(hi, step ? c.max_step : c.max_time);
    }
    for (const p of points) {
      const x = step ? p.step : p.timestamp;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    if (lo === Infinity) return { axis: q.axis, start: start ?? null, end: end ?? null, width: 1, buckets: [] };
    start ??= lo;
    end ??= hi;
  }
  if (end < start) return { axis: q.axis, start, end, width: 1, buckets: [] };
  const width = Math.max(1, Math.ceil((end - start + 1) / q.points));
  const bucketOf = (x: number) => Math.floor((x - start) / width);

  const buckets = new Map<number, Accumulator>();
  const add = (b: number, a: Accumulator) => {
    const into = buckets.get(b);
    if (!into) {
      buckets.set(b, a);
      return;
    }
    into.count += a.count;
    if (a.min !== null && (into.min === null || a.min < into.min)) into.min = a.min;
    if (a.max !== null && (into.max === null || a.max > into.max)) into.max = a.max;
    if (later(a.order, into.order) > 0) {
      into.last = a.last;
      into.order = a.order;
    }
    into.firstStep = Math.min(into.firstStep, a.firstStep);
    into.lastStep = Math.max(into.lastStep, a.lastStep);
    into.firstTime = Math.min(into.firstTime, a.firstTime);
    into.lastTime = Math.max(into.lastTime, a.lastTime);
  };
  const straddling: number[] = [];
  for (const c of whole) {
    const b = bucketOf(step ? c.min_step : c.min_time);
    if (b !== bucketOf(step ? c.max_step : c.max_time)) {
      straddling.push(c.seq);
      continue;
    }
    add(b, {
      count: c.count,
      min: c.min_value,
      max: c.max_value,
      // A chunk's own last point ranks above its other points: Infinity for its index.
      last: (step ? c.step_last_value : c.time_last_value) ?? NaN,
      order: step ? [c.max_step, c.step_last_time, c.seq, Infinity] : [c.max_time, c.time_last_step, c.seq, Infinity],
      firstStep: c.min_step,
      lastStep: c.max_step,
      firstTime: c.min_time,
      lastTime: c.max_time,
    });
  }
  await decode(straddling);
  for (const p of points) {
    const x = step ? p.step : p.timestamp;
    const nan = Number.isNaN(p.value);
    add(bucketOf(x), {
      count: 1,
      min: nan ? null : p.value,
      max: nan ? null : p.value,
      last: p.value,
      order: step ? [p.step, p.timestamp, p.seq, p.index] : [p.timestamp, p.step, p.seq, p.index],
      firstStep: p.step,
      lastStep: p.step,
      firstTime: p.timestamp,
      lastTime: p.timestamp,
    });
  }
  const out = [...buckets.entries()]
    .sort(([a], [b]) => a - b)
    .map(([b, a]) => ({
      start: start + b * width,
      count: a.count,
      min: a.min,
      max: a.max,
      last: a.last,
      firstStep: a.firstStep,
      lastStep: a.lastStep,
      firstTime: a.firstTime,
      lastTime: a.lastTime,
    }));
  return { axis: q.axis, start, end, width, buckets: out };
}
