// PSI and the exact two-sample KS statistic for many feature columns at once, equal to psi() and
// ksStatistic() of statistics.ts, without sorting whole columns: a histogram over each column's
// value range finds the few buckets where the answer can lie, and only those are sorted.
import { availableParallelism } from "node:os";
import type { Worker } from "node:worker_threads";
import { PlatformError, invalidInput } from "./errors.ts";
import { startModuleWorker } from "./module-worker.ts";
import { ksStatistic, psi } from "./statistics.ts";

/** One column's job for a worker (column-drift-worker.ts); columns backed by a SharedArrayBuffer are read in place. */
export interface ColumnDriftTask {
  id: number;
  reference: Float64Array;
  actual: Float64Array;
}

export type ColumnDriftReply = { id: number; ok: true; psi: number; ks: number } | { id: number; ok: false; code: string; message: string };

const PSI_BINS = 10;
const PSI_EPSILON = 1e-4;
/** A range with at most this many values is sorted outright rather than bucketed again. */
const SORT_AT_MOST = 2048;
const MAX_BUCKETS = 65_536;
/** Below this many values in all (reference and actual, every column), columnDrift stays on the calling thread. */
const IN_PROCESS_BELOW = 262_144;

export interface ColumnDrift {
  /** Population stability index over 10 quantile bins of the reference, as psi() computes it. */
  psi: number;
  /** Two-sample Kolmogorov–Smirnov statistic, as ksStatistic() computes it. */
  ks: number;
}

export interface ColumnDriftOptions {
  /** Total values (all columns, both sides) under which the work stays on the calling thread; default 262,144. */
  inProcessBelow?: number;
}

/**
 * PSI and KS of one column, on the calling thread: the same numbers as psi(reference, actual)
 * and ksStatistic(reference, actual), in a few linear passes instead of three sorts. Values must
 * not be NaN (ksStatistic never ends on them).
 */
export function columnDriftOne(reference: Float64Array, actual: Float64Array): ColumnDrift {
  if (reference.length === 0 || actual.length === 0) return { psi: psi(reference, actual), ks: ksStatistic(reference, actual) };
  const ranks = Array.from({ length: PSI_BINS - 1 }, (_, i) => Math.floor(((i + 1) * reference.length) / PSI_BINS));
  const state: SearchState = { nx: reference.length, ny: actual.length, ks: 0, quantiles: new Map() };
  search(reference, actual, 0, 0, [...new Set(ranks)], state, false, 0);
  // The cut values in rank order, duplicates dropped as psi()'s Set drops them.
  const cuts: Quantile[] = [];
  for (const r of ranks) {
    const q = state.quantiles.get(r)!;
    if (!cuts.some((c) => c.value === q.value)) cuts.push(q);
  }
  const shares = (below: (q: Quantile) => number, n: number) => {
    const counts = cuts.map((q, b) => below(q) - (b === 0 ? 0 : below(cuts[b - 1]!)));
    counts.push(n - below(cuts[cuts.length - 1]!));
    return counts.map((c) => Math.max(c / n, PSI_EPSILON));
  };
  const expected = shares((q) => q.referenceBelow, reference.length);
  const value = shares((q) => q.actualBelow, actual.length).reduce((sum, a, i) => sum + (a - expected[i]!) * Math.log(a / expected[i]!), 0);
  return { psi: value, ks: state.ks };
}

/** A reference order statistic: its value, and how many values of each side lie strictly below it. */
interface Quantile {
  value: number;
  referenceBelow: number;
  actualBelow: number;
}

interface SearchState {
  nx: number;
  ny: number;
  /** The largest ECDF gap found so far: every candidate must be able to beat it. */
  ks: number;
  /** Answers for the reference ranks psi() takes its bin edges at. */
  quantiles: Map<number, Quantile>;
}

/**
 * Values `xs` (reference) and `ys` (actual) of one value range, with `i0` and `j0` values of each
 * side below it: raises state.ks to the largest ECDF gap at any value in the range bar its
 * largest (the caller has that one), and answers the reference ranks in `ranks` (global ranks
 * inside [i0, i0 + xs.length)). `owned`: xs and ys are scratch and may be sorted in place.
 */
function search(xs: Float64Array, ys: Float64Array, i0: number, j0: number, ranks: number[], state: SearchState, owned: boolean, depth: number): void {
  const total = xs.length + ys.length;
  if (total <= SORT_AT_MOST || depth > 8) return sortAndWalk(owned ? xs : xs.slice(), owned ? ys : ys.slice(), i0, j0, ranks, state);
  // The bucket range comes from a sample; values outside it fall into the end buckets, which
  // keeps the buckets in value order. Only a sample of one value makes every value be read.
  let [lo, hi] = sampledRange(xs, ys);
  if (!(lo < hi)) {
    const full = fullRange(xs, ys);
    if (full.nan) throw nanInColumn();
    if (full.lo === full.hi && !full.infinite) {
      for (const r of ranks) state.quantiles.set(r, { value: full.lo, referenceBelow: i0, actualBelow: j0 });
      return;
    }
    [lo, hi] = [full.lo, full.hi];
  }
  const buckets = Math.min(MAX_BUCKETS, Math.max(256, 2 ** Math.ceil(Math.log2(total / 16))));
  const scale = buckets / (hi - lo);
  // A range too wide or too narrow for doubles, or only infinities beside one value: sorting is exact there too.
  if (!(lo < hi) || !(scale > 0 && scale < Infinity)) return sortAndWalk(owned ? xs : xs.slice(), owned ? ys : ys.slice(), i0, j0, ranks, state);
  const last = buckets - 1;
  const nanBucket = buckets;
  const hx = new Int32Array(buckets + 1);
  const hy = new Int32Array(buckets + 1);
  // Whether a bucket holds more than one distinct value: one that holds a single value (ties,
  // integer features) needs no look inside, and its ranks are that value.
  const seen = new Float64Array(buckets + 1).fill(Number.NaN);
  const mixed = new Uint8Array(buckets + 1);
  histogram(xs, lo, scale, last, hx, seen, mixed);
  histogram(ys, lo, scale, last, hy, seen, mixed);
  if (hx[nanBucket]! + hy[nanBucket]! > 0) throw nanInColumn();
  const { nx, ny } = state;
  // At a bucket's largest value the gap is known exactly from the counts up to it.
  let cx = i0;
  let cy = j0;
  for (let b = 0; b < buckets; b++) {
    if (hx[b]! + hy[b]! === 0) continue;
    cx += hx[b]!;
    cy += hy[b]!;
    const d = Math.abs(cx / nx - cy / ny);
    if (d > state.ks) state.ks = d;
  }
  // Inside a bucket the counts lie between its two edges' counts, which bounds the gap there
  // (i / nx - j / ny rounds monotonically in i and j); only buckets whose bound beats the best
  // gap, and those holding a rank, are looked into.
  const chosen: { bucket: number; i0: number; j0: number; ranks: number[] }[] = [];
  let gatheredX = 0;
  let gatheredY = 0;
  let rank = 0;
  cx = i0;
  cy = j0;
  for (let b = 0; b < buckets; b++) {
    const inX = hx[b]!;
    const inY = hy[b]!;
    if (inX + inY === 0) continue;
    const mine: number[] = [];
    while (rank < ranks.length && ranks[rank]! < cx + inX) mine.push(ranks[rank++]!);
    const bound = Math.max((cx + inX) / nx - cy / ny, (cy + inY) / ny - cx / nx);
    if (mixed[b] === 0) {
      for (const r of mine) state.quantiles.set(r, { value: seen[b]!, referenceBelow: cx, actualBelow: cy });
    } else if (mine.length > 0 || bound > state.ks) {
      gatheredX += inX;
      gatheredY += inY;
      chosen.push({ bucket: b, i0: cx, j0: cy, ranks: mine });
    }
    cx += inX;
    cy += inY;
  }
  if (chosen.length === 0) return;
  // One scratch array per side, each chosen bucket's values contiguous in it.
  const gx = new Float64Array(gatheredX);
  const gy = new Float64Array(gatheredY);
  const nextX = new Int32Array(buckets).fill(-1);
  const nextY = new Int32Array(buckets).fill(-1);
  let offset = 0;
  for (const c of chosen) {
    nextX[c.bucket] = offset;
    offset += hx[c.bucket]!;
  }
  offset = 0;
  for (const c of chosen) {
    nextY[c.bucket] = offset;
    offset += hy[c.bucket]!;
  }
  gather(xs, lo, scale, last, nextX, gx);
  gather(ys, lo, scale, last, nextY, gy);
  for (const c of chosen) {
    const inX = hx[c.bucket]!;
    const inY = hy[c.bucket]!;
    // Its start is where the gather left off, less its own count.
    const fromX = nextX[c.bucket]! - inX;
    const fromY = nextY[c.bucket]! - inY;
    const bound = Math.max((c.i0 + inX) / nx - c.j0 / ny, (c.j0 + inY) / ny - c.i0 / nx);
    if (c.ranks.length === 0 && !(bound > state.ks)) continue; // an earlier bucket raised the bar
    search(gx.subarray(fromX, fromX + inX), gy.subarray(fromY, fromY + inY), c.i0, c.j0, c.ranks, state, true, depth + 1);
  }
}

// The two passes over every value, each its own small function so that it is optimized early.
// bucket(v) = floor((v - lo) * scale) clamped to [0, last] never decreases as v grows (each
// rounding is monotone), so a bucket's values all lie above those of the buckets before it.
// NaN fails every comparison and lands in bucket last + 1.

/** Counts each bucket's values, and marks the buckets that hold more than one distinct value. */
function histogram(values: Float64Array, lo: number, scale: number, last: number, counts: Int32Array, seen: Float64Array, mixed: Uint8Array): void {
  const nanBucket = last + 1;
  for (let k = 0; k < values.length; k++) {
    const v = values[k]!;
    const t = (v - lo) * scale;
    const b = t >= last ? last : t > 0 ? t | 0 : t <= 0 ? 0 : nanBucket;
    counts[b]!++;
    if (mixed[b] === 0) {
      const s = seen[b]!;
      if (s !== v) {
        if (s === s) mixed[b] = 1;
        else seen[b] = v;
      }
    }
  }
}

/** Copies the values of the buckets whose `next` is not -1 to `out`, each bucket from its `next` on. */
function gather(values: Float64Array, lo: number, scale: number, last: number, next: Int32Array, out: Float64Array): void {
  for (let k = 0; k < values.length; k++) {
    const v = values[k]!;
    const t = (v - lo) * scale;
    const b = t >= last ? last : t > 0 ? t | 0 : 0;
    const p = next[b]!;
    if (p >= 0) {
      out[p] = v;
      next[b] = p + 1;
    }
  }
}

const SAMPLE = 1024;

/** Smallest and largest finite value among about SAMPLE values of each side (NaN for none). */
function sampledRange(xs: Float64Array, ys: Float64Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const values of [xs, ys]) {
    const step = Math.max(1, Math.floor(values.length / SAMPLE));
    for (let k = 0; k < values.length; k += step) {
      const v = values[k]!;
      if (v < lo && v > -Infinity) lo = v;
      if (v > hi && v < Infinity) hi = v;
    }
  }
  return [lo, hi];
}

/** Smallest and largest finite value of both sides, and whether any value is NaN or infinite. */
function fullRange(xs: Float64Array, ys: Float64Array): { lo: number; hi: number; nan: boolean; infinite: boolean } {
  let lo = Infinity;
  let hi = -Infinity;
  let nan = false;
  let infinite = false;
  for (const values of [xs, ys]) {
    for (let k = 0; k < values.length; k++) {
      const v = values[k]!;
      if (v - v !== 0) {
        if (v !== v) nan = true;
        else infinite = true;
      } else {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
  }
  return { lo, hi, nan, infinite };
}

const nanInColumn = () => invalidInput("a column holds NaN; drop or impute missing values before computing drift");

/** The exact walk of ksStatistic() over one sorted range, and its ranks read off directly. */
function sortAndWalk(x: Float64Array, y: Float64Array, i0: number, j0: number, ranks: number[], state: SearchState): void {
  x.sort();
  y.sort();
  const { nx, ny } = state;
  let i = 0;
  let j = 0;
  let best = state.ks;
  while (i < x.length || j < y.length) {
    const v = i < x.length ? (j < y.length ? Math.min(x[i]!, y[j]!) : x[i]!) : y[j]!;
    if (Number.isNaN(v)) throw nanInColumn();
    while (i < x.length && x[i] === v) i++;
    while (j < y.length && y[j] === v) j++;
    const d = Math.abs((i0 + i) / nx - (j0 + j) / ny);
    if (d > best) best = d;
  }
  state.ks = best;
  for (const r of ranks) {
    const value = x[r - i0]!;
    state.quantiles.set(r, { value, referenceBelow: i0 + lowerBound(x, value), actualBelow: j0 + lowerBound(y, value) });
  }
}

/** How many values of the sorted array lie strictly below `value`. */
function lowerBound(sorted: Float64Array, value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * PSI and KS of each column pair (reference[i] against actual[i]), spread over a pool of worker
 * threads (one per core) so the calling thread stays free; small inputs stay on the calling
 * thread. Columns backed by a SharedArrayBuffer are read in place, others are copied one column
 * at a time as a worker takes them.
 * @example const [age] = await columnDrift([trainAge], [liveAge]); // { psi, ks }
 */
export async function columnDrift(reference: Float64Array[], actual: Float64Array[], options: ColumnDriftOptions = {}): Promise<ColumnDrift[]> {
  if (reference.length !== actual.length) throw invalidInput(`reference has ${reference.length} columns and actual ${actual.length}; pass the same columns in the same order on both sides`);
  const values = reference.reduce((n, c, i) => n + c.length + actual[i]!.length, 0);
  if (values < (options.inProcessBelow ?? IN_PROCESS_BELOW)) return reference.map((c, i) => columnDriftOne(c, actual[i]!));
  return pool().run(reference, actual);
}

const shared = (column: Float64Array): Float64Array => {
  if (column.buffer instanceof SharedArrayBuffer) return column;
  const copy = new Float64Array(new SharedArrayBuffer(column.byteLength));
  copy.set(column);
  return copy;
};

interface Pending {
  resolve(value: ColumnDrift): void;
  reject(error: Error): void;
}

/** Worker threads, started on first use and kept (unreferenced, so they never hold the process open). */
class DriftPool {
  private readonly idle: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly queue: (() => void)[] = [];
  private nextId = 0;
  broken = false;

  constructor(size: number) {
    for (let k = 0; k < size; k++) {
      const worker = startModuleWorker(import.meta.url, "./column-drift-worker", { stdout: false, stderr: false });
      worker.unref();
      worker.on("message", (reply: ColumnDriftReply) => {
        const waiting = this.pending.get(reply.id);
        this.pending.delete(reply.id);
        if (reply.ok) waiting?.resolve({ psi: reply.psi, ks: reply.ks });
        else waiting?.reject(new PlatformError(reply.code === "INVALID_INPUT" ? "INVALID_INPUT" : "INTERNAL", reply.message));
        worker.unref();
        this.release(worker);
      });
      const fail = (error: Error) => {
        this.broken = true;
        for (const waiting of this.pending.values()) waiting.reject(new PlatformError("INTERNAL", `a drift worker failed: ${error.message}`));
        this.pending.clear();
        for (const next of this.queue.splice(0)) next();
      };
      worker.on("error", fail);
      worker.on("exit", (code) => fail(new Error(`it exited with code ${code}`)));
      this.idle.push(worker);
    }
  }

  run(reference: Float64Array[], actual: Float64Array[]): Promise<ColumnDrift[]> {
    return Promise.all(reference.map((column, i) => this.column(column, actual[i]!)));
  }

  private async column(reference: Float64Array, actual: Float64Array): Promise<ColumnDrift> {
    let worker = this.idle.pop();
    while (!worker) {
      await new Promise<void>((resolve) => this.queue.push(resolve));
      if (this.broken) throw new PlatformError("INTERNAL", "a drift worker failed; the next call starts new ones");
      worker = this.idle.pop();
    }
    const id = this.nextId++;
    const task: ColumnDriftTask = { id, reference: shared(reference), actual: shared(actual) };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref(); // held while it works, so an awaiting caller's process stays up for the answer
      worker.postMessage(task);
    });
  }

  private release(worker: Worker): void {
    this.idle.push(worker);
    this.queue.shift()?.();
  }
}

let current: DriftPool | undefined;

function pool(): DriftPool {
  if (!current || current.broken) current = new DriftPool(availableParallelism());
  return current;
}
