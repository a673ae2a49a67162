import { CHUNK_SUMMARY_COLUMNS, type ChunkPoints, type ChunkSummary, type Database } from "../../storage/index.ts";
import { readChunks } from "./metric-store.ts";

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
type ChunkSummaryRow = ChunkSummary & { seq: number };

/**
 * A metric's history cut into at most `points` equal-width buckets along the step or time axis,
 * each with count, min, max and last, from the series' chunks: a chunk that lies wholly inside
 * the query's range and inside one bucket is answered by its summary and never decoded; only
 * chunks across a bucket edge or a range edge are decoded, point by point. For a series logged in
 * order the width is rounded up to a multiple of its chunks' period (gridWidth), so that no chunk
 * crosses a bucket edge.
 */
export async function bucketHistory(database: Database, q: BucketQuery): Promise<BucketedHistory> {
  const step = q.axis === "step";
  let query = database.db
    .selectFrom("metric_chunks")
    .select(["seq", ...CHUNK_SUMMARY_COLUMNS])
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
  // The chunks that cross a range edge, decoded: only their points inside the range count.
  const partialChunks = await readChunks(database, q.runId, q.key, partial);

  let [start, end] = step ? [q.startStep, q.endStep] : [q.startTime, q.endTime];
  if (start === undefined || end === undefined) {
    let lo = Infinity, hi = -Infinity;
    for (const c of whole) {
      lo = Math.min(lo, step ? c.min_step : c.min_time);
      hi = Math.max(hi, step ? c.max_step : c.max_time);
    }
    for (const chunk of partialChunks.values()) {
      for (let i = 0; i < chunk.steps.length; i++) {
        const s = chunk.steps[i]!, t = chunk.timestamps[i]!;
        if (!inRange(s, t)) continue;
        const x = step ? s : t;
        if (x < lo) lo = x;
        if (x > hi) hi = x;
      }
    }
    if (lo === Infinity) return { axis: q.axis, start: start ?? null, end: end ?? null, width: 1, buckets: [] };
    start ??= lo;
    end ??= hi;
  }
  if (end < start) return { axis: q.axis, start, end, width: 1, buckets: [] };
  const minimum = Math.max(1, Math.ceil((end - start + 1) / q.points));
  const width = gridWidth(whole, step, start, minimum) ?? minimum;
  const from = start;
  const bucketOf = (x: number) => Math.floor((x - from) / width);

  const acc = new Accumulators(bucketOf(end) + 1);
  const straddling: number[] = [];
  for (const c of whole) {
    const b = bucketOf(step ? c.min_step : c.min_time);
    if (b !== bucketOf(step ? c.max_step : c.max_time)) {
      straddling.push(c.seq);
      continue;
    }
    // A chunk's own last point ranks above its other points: Infinity for its position.
    const [o0, o1] = step ? [c.max_step, c.step_last_time] : [c.max_time, c.time_last_step];
    acc.add(b, c.count, c.min_value ?? NaN, c.max_value ?? NaN, (step ? c.step_last_value : c.time_last_value) ?? NaN, o0, o1, c.seq, Infinity);
    acc.extent(b, c.min_step, c.max_step, c.min_time, c.max_time);
  }
  const addPoints = (seq: number, chunk: ChunkPoints, check: boolean) => {
    const { steps, timestamps, values } = chunk;
    for (let i = 0; i < steps.length; i++) {
      const s = steps[i]!, t = timestamps[i]!, v = values[i]!;
      if (check && !inRange(s, t)) continue;
      const b = bucketOf(step ? s : t);
      if (step) acc.add(b, 1, v, v, v, s, t, seq, i);
      else acc.add(b, 1, v, v, v, t, s, seq, i);
      acc.extent(b, s, s, t, t);
    }
  };
  for (const [seq, chunk] of partialChunks) addPoints(seq, chunk, true);
  for (const [seq, chunk] of await readChunks(database, q.runId, q.key, straddling)) addPoints(seq, chunk, false);
  return { axis: q.axis, start, end, width, buckets: acc.buckets(start, width) };
}

/**
 * A bucket width for series whose whole chunks lie on a regular grid along the axis (a training
 * loop logging every step, or every n steps, in order: each chunk starts one period after the one
 * before and ends before the next): the smallest multiple of that period at least `minimum`, when
 * the grid is aligned with `start` and the multiple stays within 1.5 × `minimum` (at least two
 * thirds of the buckets asked for). With it no chunk crosses a bucket edge, so every bucket is
 * answered from chunk summaries and none is decoded; the buckets stay exact for that width.
 * Undefined when the chunks are not on such a grid (points logged out of order, irregular times).
 */
function gridWidth(chunks: ChunkSummaryRow[], step: boolean, start: number, minimum: number): number | undefined {
  if (chunks.length < 8) return undefined;
  const lo = (c: ChunkSummaryRow) => (step ? c.min_step : c.min_time);
  const hi = (c: ChunkSummaryRow) => (step ? c.max_step : c.max_time);
  const sorted = [...chunks].sort((a, b) => lo(a) - lo(b));
  const first = lo(sorted[0]!);
  const period = lo(sorted[1]!) - first;
  if (period <= 0 || period >= minimum || (first - start) % period !== 0) return undefined;
  for (let i = 0; i < sorted.length; i++) {
    const c = sorted[i]!;
    if (lo(c) !== first + i * period || hi(c) >= first + (i + 1) * period) return undefined;
  }
  const width = Math.ceil(minimum / period) * period;
  return width <= 1.5 * minimum ? width : undefined;
}

/**
 * Buckets being filled, one slot per bucket index in typed arrays (a chart's few thousand), so a
 * decoded chunk's points are added without an allocation each. NaN stands for "none" in min/max.
 */
class Accumulators {
  private readonly count: Float64Array;
  private readonly min: Float64Array;
  private readonly max: Float64Array;
  private readonly last: Float64Array;
  /** The rank of each bucket's last point: axis value, the other axis, seq, position. */
  private readonly order: Float64Array[];
  private readonly firstStep: Float64Array;
  private readonly lastStep: Float64Array;
  private readonly firstTime: Float64Array;
  private readonly lastTime: Float64Array;

  constructor(private readonly n: number) {
    const filled = (v: number) => new Float64Array(n).fill(v);
    this.count = new Float64Array(n);
    this.min = filled(NaN);
    this.max = filled(NaN);
    this.last = filled(NaN);
    this.order = [filled(-Infinity), filled(-Infinity), filled(-Infinity), filled(-Infinity)];
    this.firstStep = filled(Infinity);
    this.lastStep = filled(-Infinity);
    this.firstTime = filled(Infinity);
    this.lastTime = filled(-Infinity);
  }

  add(b: number, count: number, min: number, max: number, last: number, o0: number, o1: number, o2: number, o3: number): void {
    this.count[b]! += count;
    // NaN compares false: a NaN min or max never replaces, and any number replaces a NaN slot.
    if (min < this.min[b]! || Number.isNaN(this.min[b]!)) this.min[b] = min;
    if (max > this.max[b]! || Number.isNaN(this.max[b]!)) this.max[b] = max;
    const [r0, r1, r2, r3] = this.order as [Float64Array, Float64Array, Float64Array, Float64Array];
    if (o0 > r0[b]! || (o0 === r0[b]! && (o1 > r1[b]! || (o1 === r1[b]! && (o2 > r2[b]! || (o2 === r2[b]! && o3 > r3[b]!)))))) {
      r0[b] = o0;
      r1[b] = o1;
      r2[b] = o2;
      r3[b] = o3;
      this.last[b] = last;
    }
  }

  extent(b: number, firstStep: number, lastStep: number, firstTime: number, lastTime: number): void {
    if (firstStep < this.firstStep[b]!) this.firstStep[b] = firstStep;
    if (lastStep > this.lastStep[b]!) this.lastStep[b] = lastStep;
    if (firstTime < this.firstTime[b]!) this.firstTime[b] = firstTime;
    if (lastTime > this.lastTime[b]!) this.lastTime[b] = lastTime;
  }

  /** The non-empty buckets, in axis order. */
  buckets(start: number, width: number): MetricBucket[] {
    const out: MetricBucket[] = [];
    const orNull = (v: number) => (Number.isNaN(v) ? null : v);
    for (let b = 0; b < this.n; b++) {
      if (!this.count[b]) continue;
      out.push({
        start: start + b * width,
        count: this.count[b]!,
        min: orNull(this.min[b]!),
        max: orNull(this.max[b]!),
        last: this.last[b]!,
        firstStep: this.firstStep[b]!,
        lastStep: this.lastStep[b]!,
        firstTime: this.firstTime[b]!,
        lastTime: this.lastTime[b]!,
      });
    }
    return out;
  }
}
