/**
 * The on-disk form of a metric series: points of one (run, key) in chunks of at most
 * CHUNK_POINTS, in the order they were logged. A chunk's `points` column packs three Float64
 * arrays (steps, timestamps, values), exact for every safe-integer step and epoch-ms timestamp and
 * for NaN and ±Infinity values; its other columns summarize it so a reader can answer a range
 * or a bucket without decoding it. Shared by migration 017 and the tracking module's store.
 */
export const CHUNK_POINTS = 256;

export interface ChunkPoints {
  steps: Float64Array;
  timestamps: Float64Array;
  values: Float64Array;
}

/** The names of a chunk's summary columns, in table order (what reads and rewrites of summaries list). */
export const CHUNK_SUMMARY_COLUMNS = ["count", "min_step", "max_step", "min_time", "max_time", "min_value", "max_value", "step_last_time", "step_last_value", "time_last_step", "time_last_value"] as const;

/** A chunk's summary columns. Values that are NaN are null here; min/max ignore them. */
export interface ChunkSummary {
  count: number;
  min_step: number;
  max_step: number;
  min_time: number;
  max_time: number;
  min_value: number | null;
  max_value: number | null;
  /** The timestamp and value of the chunk's last point by (step, timestamp, order logged). */
  step_last_time: number;
  step_last_value: number | null;
  /** The step and value of the chunk's last point by (timestamp, step, order logged). */
  time_last_step: number;
  time_last_value: number | null;
}

export function encodeChunk(p: ChunkPoints, count = p.steps.length): Buffer {
  const out = new Float64Array(count * 3);
  out.set(p.steps.subarray(0, count), 0);
  out.set(p.timestamps.subarray(0, count), count);
  out.set(p.values.subarray(0, count), 2 * count);
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

export function decodeChunk(blob: Uint8Array): ChunkPoints {
  // A Float64Array view needs an 8-byte aligned offset; drivers hand out pooled, unaligned slices.
  const aligned = blob.byteOffset % 8 === 0 ? blob : Uint8Array.prototype.slice.call(blob);
  const all = new Float64Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 8);
  const n = all.length / 3;
  return { steps: all.subarray(0, n), timestamps: all.subarray(n, 2 * n), values: all.subarray(2 * n) };
}

export function summarizeChunk(p: ChunkPoints): ChunkSummary {
  const n = p.steps.length;
  let minStep = Infinity, maxStep = -Infinity, minTime = Infinity, maxTime = -Infinity;
  let minValue: number | null = null, maxValue: number | null = null;
  let byStep = 0, byTime = 0;
  for (let i = 0; i < n; i++) {
    const s = p.steps[i]!, t = p.timestamps[i]!, v = p.values[i]!;
    if (s < minStep) minStep = s;
    if (s > maxStep) maxStep = s;
    if (t < minTime) minTime = t;
    if (t > maxTime) maxTime = t;
    if (!Number.isNaN(v)) {
      if (minValue === null || v < minValue) minValue = v;
      if (maxValue === null || v > maxValue) maxValue = v;
    }
    // ">=": among equal keys the one logged later wins.
    if (s > p.steps[byStep]! || (s === p.steps[byStep]! && t >= p.timestamps[byStep]!)) byStep = i;
    if (t > p.timestamps[byTime]! || (t === p.timestamps[byTime]! && s >= p.steps[byTime]!)) byTime = i;
  }
  const orNull = (v: number) => (Number.isNaN(v) ? null : v);
  return {
    count: n,
    min_step: minStep,
    max_step: maxStep,
    min_time: minTime,
    max_time: maxTime,
    min_value: minValue,
    max_value: maxValue,
    step_last_time: p.timestamps[byStep]!,
    step_last_value: orNull(p.values[byStep]!),
    time_last_step: p.steps[byTime]!,
    time_last_value: orNull(p.values[byTime]!),
  };
}

/** Points of `base` (may be empty) followed by those of `more` from `from` to `to`, as new arrays. */
export function appendPoints(base: ChunkPoints | undefined, more: { step: number; timestamp: number; value: number }[], from: number, to: number): ChunkPoints {
  const have = base ? base.steps.length : 0;
  const { steps, timestamps, values } = grown(base, to - from);
  for (let i = from; i < to; i++) {
    const m = more[i]!;
    steps[have + i - from] = m.step;
    timestamps[have + i - from] = m.timestamp;
    values[have + i - from] = m.value;
  }
  return { steps, timestamps, values };
}

/** appendPoints for points already in columns: copies ranges, with no object per point. */
export function appendColumns(base: ChunkPoints | undefined, more: ChunkPoints, from: number, to: number): ChunkPoints {
  const have = base ? base.steps.length : 0;
  const out = grown(base, to - from);
  out.steps.set(more.steps.subarray(from, to), have);
  out.timestamps.set(more.timestamps.subarray(from, to), have);
  out.values.set(more.values.subarray(from, to), have);
  return out;
}

/** New arrays holding `base`'s points with room for `more` after them. */
function grown(base: ChunkPoints | undefined, more: number): ChunkPoints {
  const have = base ? base.steps.length : 0;
  const out = { steps: new Float64Array(have + more), timestamps: new Float64Array(have + more), values: new Float64Array(have + more) };
  if (base) {
    out.steps.set(base.steps);
    out.timestamps.set(base.timestamps);
    out.values.set(base.values);
  }
  return out;
}
