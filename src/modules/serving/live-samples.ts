// Live samples for model monitoring (issue 12): what monitors need from the traffic a version
// serves, kept off the request path and only for the versions a monitor watches (setMonitored).
// A request of a watched version costs a few counters and, while its reservoir takes rows, a copy
// of some of its input rows into one preallocated Float32Array; statistics are computed by
// whoever drains the samples (the control plane's monitors), never while a request waits. Memory
// is bounded: each version keeps at most MAX_ROWS rows between drains (a reservoir, so a flood is
// sampled evenly), and the batch says how many rows were seen and not kept. Whoever absorbs
// batches (a monitor's window, on the monitors' thread) merges them in proportion to the rows each
// stands for.
// The rows, scores and latencies stay Float32 from the reservoir to the window: on the wire (a
// data-plane process's answer) as binary (encodeSampleSets), never as JSON numbers or base64 text.
// The monitors' thread loads this file alone (not serving's index), so it imports little.
import { z } from "zod";
import { invalidInput } from "../../core/errors.ts";
import type { Tensor } from "./tensor.ts";

/** Most input rows (and their scores) kept per version between two drains. */
export const MAX_ROWS = 4_000;
/** Most rows taken from one request: one large batch must not fill the reservoir alone. */
export const MAX_ROWS_PER_REQUEST = 64;
/** Most features per row kept (wider inputs are cut, and the batch says so). */
export const MAX_FEATURES = 1_024;
/** Most latencies kept per version between drains (the newest win). */
const MAX_LATENCIES = 4_000;

/** What a drained sample says besides its rows and scores. */
const SampleFigures = z.object({
  model: z.string(),
  version: z.string(),
  environment: z.string(),
  /** Requests answered, and refused or failed, since the last drain. */
  requests: z.number().int().min(0),
  errors: z.number().int().min(0),
  /** Failed requests by error code (INVALID_INPUT: the input broke the model's schema). */
  errorCodes: z.record(z.string(), z.number().int().min(0)),
  /** Rows the answered requests held, and how many of them were not kept (reservoir full, or a row of another width). */
  rowsSeen: z.number().int().min(0),
  rowsDropped: z.number().int().min(0),
  /**
   * Rows the kept ones are an even sample of: those offered to the reservoir (each request's first
   * 64, of the version's width). A merge takes from each set in proportion, so a busy second
   * counts for its traffic, not for its 4,000 rows. Absent: the kept rows.
   */
  rowsOffered: z.number().min(0).optional(),
  /** Values per kept row (the first input's, at most MAX_FEATURES). */
  width: z.number().int().min(0).max(MAX_FEATURES),
  /** Whether rows were wider than MAX_FEATURES and cut. */
  truncated: z.boolean(),
});

/**
 * A drained sample: its figures, and its kept rows and their scores as Float32 arrays. It stays
 * binary from the data plane's reservoir to the monitor's window (encodeSampleSets on the wire):
 * a second of samples is about 0.5 MB, and strings of that size are garbage that the control
 * plane's full collections pay for.
 */
export type SampleSet = z.output<typeof SampleFigures> & {
  /** Kept rows, row-major, `width` per row; NaN for a missing value. */
  rows: Float32Array;
  /** Each kept row's prediction score (see rowScores); NaN when the output has none. */
  scores: Float32Array;
  /** Latencies of answered requests in seconds (at most MAX_LATENCIES: the newest, or an even sample of a merge). */
  latencies: Float32Array;
};

/** The kept rows and scores of a set as numbers. */
export interface SampleRows {
  width: number;
  count: number;
  /** Row-major, `width` per row; NaN for a missing value. */
  values: Float32Array;
  /** One per row; NaN without a score. */
  scores: Float32Array;
}

export function sampleRows(set: SampleSet): SampleRows {
  const count = set.width > 0 ? Math.min(Math.floor(set.rows.length / set.width), set.scores.length) : 0;
  return { width: set.width, count, values: set.rows, scores: set.scores };
}

const MAGIC = "PVS2";
/** A set's figures on the wire, with how many rows and scores values follow the header. */
const WireFigures = SampleFigures.extend({ rowValues: z.number().int().min(0), scoreValues: z.number().int().min(0) });
const WireHeader = z.array(WireFigures.extend({ latencyValues: z.number().int().min(0).max(MAX_LATENCIES) }));
/** Before 2026-12-05 a body ("PVS1") carried the latencies in its header. A data-plane process started by an older Paved, and adopted by a newer one, still answers so. */
const LEGACY_MAGIC = "PVS1";
const LegacyWireHeader = z.array(WireFigures.extend({ latencies: z.array(z.number()).max(MAX_LATENCIES) }));
const align4 = (n: number) => (n + 3) & ~3;
/** Float32Array is in the machine's byte order; the wire's is little-endian. */
const LITTLE_ENDIAN = new Uint8Array(Float32Array.of(1).buffer)[3] === 0x3f;

/**
 * Sets as one binary body (a data-plane process's answer to the control plane): "PVS2", the
 * header's length (u32), the header (JSON: each set's figures and how many rows, scores and
 * latencies values it has), zero bytes up to a multiple of 4, then each set's rows, scores and
 * latencies as Float32, all little-endian. ("PVS1" carried the latencies as JSON numbers in the
 * header: thousands of numbers a second for the control plane's main thread to parse.)
 */
export function encodeSampleSets(sets: readonly SampleSet[]): Buffer {
  const header = Buffer.from(JSON.stringify(sets.map(({ rows, scores, latencies, ...figures }) => ({ ...figures, rowValues: rows.length, scoreValues: scores.length, latencyValues: latencies.length }))));
  const start = align4(8 + header.length);
  const out = Buffer.alloc(start + 4 * sets.reduce((n, set) => n + set.rows.length + set.scores.length + set.latencies.length, 0));
  out.write(MAGIC, 0, "latin1");
  out.writeUInt32LE(header.length, 4);
  header.copy(out, 8);
  let at = start;
  for (const values of sets.flatMap((set) => [set.rows, set.scores, set.latencies])) {
    if (LITTLE_ENDIAN) out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), at);
    else values.forEach((v, i) => out.writeFloatLE(v, at + 4 * i));
    at += 4 * values.length;
  }
  return out;
}

/** The sets of an encodeSampleSets body; INVALID_INPUT (saying what is wrong) for anything else. */
export function decodeSampleSets(body: Uint8Array): SampleSet[] {
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const magic = bytes.length < 8 ? "" : bytes.toString("latin1", 0, 4);
  if (magic !== MAGIC && magic !== LEGACY_MAGIC) throw invalidInput(`a samples body starts with "${MAGIC}" and its header's length`);
  const length = bytes.readUInt32LE(4);
  if (8 + length > bytes.length) throw invalidInput(`a samples body's header of ${length} bytes runs past its end (${bytes.length} bytes)`);
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8", 8, 8 + length));
  } catch (error) {
    throw invalidInput(`a samples body's header is not JSON: ${(error as Error).message}`);
  }
  const parsed = magic === MAGIC ? WireHeader.safeParse(json) : LegacyWireHeader.safeParse(json);
  if (!parsed.success) throw invalidInput(`a samples body's header is not a list of sample figures: ${parsed.error.issues[0]?.message ?? ""}`);
  const header = parsed.data.map((h) => ("latencies" in h ? { ...h, latencyValues: 0 } : { ...h, latencies: undefined }));
  let at = align4(8 + length);
  const need = at + 4 * header.reduce((n, h) => n + h.rowValues + h.scoreValues + h.latencyValues, 0);
  if (need !== bytes.length) throw invalidInput(`a samples body's header announces ${need} bytes; the body has ${bytes.length}`);
  const take = (count: number) => {
    const offset = bytes.byteOffset + at;
    at += 4 * count;
    // A view where the bytes allow it (fetch's arrayBuffer() starts at 0), else a copy.
    if (LITTLE_ENDIAN && offset % 4 === 0) return new Float32Array(bytes.buffer, offset, count);
    return Float32Array.from({ length: count }, (_, i) => bytes.readFloatLE(offset - bytes.byteOffset + 4 * i));
  };
  return header.map(({ rowValues, scoreValues, latencyValues, latencies, ...figures }) => ({ ...figures, rows: take(rowValues), scores: take(scoreValues), latencies: latencies ? Float32Array.from(latencies) : take(latencyValues) }));
}

/** Where one request's rows went (answered() adds their scores). */
export interface Offer {
  entry: Entry;
  /** The entry's drain count when offered: a drain between offer and answer took the rows. */
  drains: number;
  /** The reservoir slot of each row taken, -1 for a row not kept. */
  slots: number[];
  /** Each slot's generation when this request wrote it: a later request may have replaced the row before this one's answer. */
  generations: number[];
}

interface Entry {
  labels: { model: string; version: string; environment: string };
  requests: number;
  errors: number;
  errorCodes: Record<string, number>;
  rowsSeen: number;
  rowsDropped: number;
  truncated: boolean;
  /** Latencies kept (the first `latencyCount`, at most MAX_LATENCIES), allocated once. */
  latencies: Float32Array;
  latencyCount: number;
  /** Width of the kept rows (set by the first row offered). */
  width: number;
  values: Float32Array | undefined;
  scores: Float32Array;
  /** How many times each slot was written. */
  generation: Uint32Array;
  /** Rows offered to the reservoir since the last drain: the rows the kept ones stand for. */
  offered: number;
  /** Rows in the reservoir (min(offered, MAX_ROWS) for rows offered one by one). */
  kept: number;
  /** Whether anything was recorded since the last drain (an entry without is not drained). */
  touched: boolean;
  /** Drains so far: the entry and its buffers are kept for the next period, not allocated again each drain. */
  drains: number;
}

/** The first rows since a drain set the entry's width; its buffer is kept while the width stays. */
function takeWidth(entry: Entry, width: number): Float32Array {
  if (entry.values !== undefined && entry.offered > 0) return entry.values;
  if (entry.values === undefined || width !== entry.width) entry.values = new Float32Array(MAX_ROWS * width);
  entry.width = width;
  return entry.values;
}

const keyOf = (l: { model: string; version: string; environment: string }) => `${l.environment}/${l.model}/${l.version}`;

/** The key setMonitored takes for a version in an environment. */
export const monitoredKey = keyOf;

/** Per-version reservoirs of live input rows, scores, outcomes and latencies of the watched versions, emptied by drain(). */
export class LiveSamples {
  private entries = new Map<string, Entry>();
  /** The versions to sample; none until told. */
  private monitored: ReadonlySet<string> = new Set();
  /**
   * Each labels object seen since setMonitored, with its entry (null: not watched). Serving passes
   * one labels object per loaded version, so a request finds its entry without building its key.
   */
  private byLabels = new WeakMap<object, Entry | null>();

  constructor(private readonly random: () => number = Math.random) {}

  /** Which versions monitors watch (keys of monitoredKey); requests of others cost nothing here. */
  setMonitored(keys: Iterable<string>): void {
    this.monitored = new Set(keys);
    for (const key of this.entries.keys()) if (!this.monitored.has(key)) this.entries.delete(key);
    this.byLabels = new WeakMap();
  }

  /** Whether this version is watched (checked once per request). */
  watches(labels: { model: string; version: string; environment: string }): boolean {
    return this.monitored.size > 0 && this.lookup(labels) !== null;
  }

  /** The entry of a watched version (made on first sight), null for one not watched. */
  private lookup(labels: { model: string; version: string; environment: string }): Entry | null {
    let entry = this.byLabels.get(labels);
    if (entry === undefined) {
      const key = keyOf(labels);
      entry = this.monitored.has(key) ? this.entryOf(key, labels) : null;
      this.byLabels.set(labels, entry);
    }
    return entry;
  }

  /** A version's entry, marked as having activity since the last drain. */
  private entry(labels: { model: string; version: string; environment: string }): Entry {
    const entry = this.lookup(labels) ?? this.entryOf(keyOf(labels), labels);
    entry.touched = true;
    return entry;
  }

  private entryOf(key: string, labels: { model: string; version: string; environment: string }): Entry {
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { labels: { model: labels.model, version: labels.version, environment: labels.environment }, requests: 0, errors: 0, errorCodes: {}, rowsSeen: 0, rowsDropped: 0, truncated: false, latencies: new Float32Array(MAX_LATENCIES), latencyCount: 0, width: 0, values: undefined, scores: new Float32Array(MAX_ROWS).fill(Number.NaN), generation: new Uint32Array(MAX_ROWS), offered: 0, kept: 0, touched: false, drains: 0 };
      this.entries.set(key, entry);
    }
    return entry;
  }

  /**
   * Offers a request's first input (before the run: its worker takes the arrays) to the version's
   * reservoir; answered() then adds the outcome and each kept row's score. Call only for a watched version.
   */
  offer(labels: { model: string; version: string; environment: string }, input: Tensor | undefined): Offer | undefined {
    if (!input || input.datatype === "BOOL" || input.shape.length === 0) return undefined;
    const rows = input.shape.length === 1 ? 1 : input.shape[0]!;
    if (rows === 0) return undefined;
    const inputWidth = input.data.length / rows;
    if (!Number.isInteger(inputWidth)) return undefined;
    const entry = this.entry(labels);
    const width = Math.min(inputWidth, MAX_FEATURES);
    if (width < inputWidth) entry.truncated = true;
    entry.rowsSeen += rows;
    const buffer = takeWidth(entry, width);
    if (width !== entry.width) {
      // Rows of another shape than the version's first: not comparable, counted as not kept.
      entry.rowsDropped += rows;
      return undefined;
    }
    const take = Math.min(rows, MAX_ROWS_PER_REQUEST);
    entry.rowsDropped += rows - take;
    const values = input.data as ArrayLike<number | bigint>;
    const bigint = input.datatype === "INT64" || input.datatype === "UINT64";
    let offer: Offer | undefined;
    for (let r = 0; r < take; r++) {
      // Algorithm R: every row offered so far has the same chance MAX_ROWS / offered of being kept.
      const slot = entry.offered < MAX_ROWS ? entry.offered : Math.floor(this.random() * (entry.offered + 1));
      entry.offered++;
      entry.kept = Math.min(entry.offered, MAX_ROWS);
      // Past MAX_ROWS each offer drops one row: this one, or the one it replaces.
      if (entry.offered > MAX_ROWS) entry.rowsDropped++;
      if (slot >= MAX_ROWS) continue;
      const base = r * inputWidth;
      const at = slot * width;
      // A plain loop: no view object per kept row.
      if (bigint) for (let c = 0; c < width; c++) buffer[at + c] = Number(values[base + c]);
      else for (let c = 0; c < width; c++) buffer[at + c] = values[base + c] as number;
      entry.scores[slot] = Number.NaN;
      const generation = ++entry.generation[slot]!;
      offer ??= { entry, drains: entry.drains, slots: [], generations: [] };
      offer.slots[r] = slot;
      offer.generations[r] = generation;
    }
    return offer;
  }

  /** An answered request of a watched version, with the per-row scores of its first output (see rowScores). */
  answered(labels: { model: string; version: string; environment: string }, offer: Offer | undefined, scores: readonly number[] | undefined, seconds: number): void {
    const entry = this.entry(labels);
    entry.requests++;
    if (entry.latencyCount < MAX_LATENCIES) entry.latencies[entry.latencyCount++] = seconds;
    else entry.latencies[entry.requests % MAX_LATENCIES] = seconds;
    // A drain between offer and answer took the rows already; their scores stay unknown.
    if (!offer || offer.entry !== entry || offer.drains !== entry.drains || !scores) return;
    offer.slots.forEach((slot, r) => {
      const score = scores[r];
      if (entry.generation[slot] === offer.generations[r] && score !== undefined) entry.scores[slot] = score;
    });
  }

  /** A refused or failed request of a watched version, by its error code. */
  failed(labels: { model: string; version: string; environment: string }, code: string): void {
    const entry = this.entry(labels);
    entry.requests++;
    entry.errors++;
    entry.errorCodes[code] = (entry.errorCodes[code] ?? 0) + 1;
  }

  /**
   * Adds batches drained elsewhere (each data-plane process's), merging them per version; rows
   * beyond MAX_ROWS go through the same reservoir, so memory stays bounded however many arrive.
   * Batches of versions not watched here are dropped.
   */
  absorb(batches: readonly SampleSet[]): void {
    for (const more of batches) {
      if (!this.watches(more)) continue;
      const entry = this.entry(more);
      entry.requests += more.requests;
      entry.errors += more.errors;
      for (const [code, n] of Object.entries(more.errorCodes)) entry.errorCodes[code] = (entry.errorCodes[code] ?? 0) + n;
      entry.rowsSeen += more.rowsSeen;
      entry.rowsDropped += more.rowsDropped;
      entry.truncated ||= more.truncated;
      // Copied in bulk while there is room (no boxing of each number in code not yet optimized:
      // this runs once a second), then each further one replaces a kept one at random.
      const latencies = more.latencies;
      const room = Math.min(latencies.length, MAX_LATENCIES - entry.latencyCount);
      if (room > 0) entry.latencies.set(latencies.subarray(0, room), entry.latencyCount);
      entry.latencyCount += room;
      for (let i = room; i < latencies.length; i++) entry.latencies[Math.floor(this.random() * MAX_LATENCIES)] = latencies[i]!;
      const rows = sampleRows(more);
      if (rows.count === 0) continue;
      const buffer = takeWidth(entry, rows.width);
      if (rows.width !== entry.width) {
        entry.rowsDropped += rows.count;
        continue;
      }
      // The batch's rows are an even sample of `offered` rows, the reservoir's of entry.offered: the
      // merge is an even sample of both, as if every row had been offered here (a busy second
      // counts for its traffic, not for the 4,000 rows it kept).
      const offered = Math.max(rows.count, more.rowsOffered ?? rows.count);
      if (entry.kept + rows.count <= MAX_ROWS) {
        // Room for all: one copy, in order.
        buffer.set(rows.values.subarray(0, rows.count * rows.width), entry.kept * rows.width);
        entry.scores.set(rows.scores.subarray(0, rows.count), entry.kept);
        for (let slot = entry.kept; slot < entry.kept + rows.count; slot++) entry.generation[slot]!++;
        entry.kept += rows.count;
        entry.offered += offered;
        continue;
      }
      // MAX_ROWS draws without replacement from the rows both stand for: how many fall in the batch.
      let fromBatch = 0;
      for (let here = entry.offered, there = offered, d = 0; d < MAX_ROWS; d++) {
        if (this.random() * (here + there) < there) {
          fromBatch++;
          there--;
        } else here--;
      }
      // Within what each holds (only a batch that misstates its rows could ask for more).
      fromBatch = Math.max(MAX_ROWS - entry.kept, Math.min(fromBatch, rows.count));
      // Slots for them: the empty ones, then kept rows dropped at random; rows of the batch at random.
      const slots = this.pick(entry.kept, entry.kept - (MAX_ROWS - fromBatch));
      for (let slot = entry.kept; slot < MAX_ROWS; slot++) slots.push(slot);
      const taken = this.pick(rows.count, fromBatch);
      taken.forEach((i, n) => {
        const slot = slots[n]!;
        buffer.set(rows.values.subarray(i * rows.width, (i + 1) * rows.width), slot * rows.width);
        entry.scores[slot] = rows.scores[i]!;
        entry.generation[slot]!++;
      });
      entry.rowsDropped += entry.kept + rows.count - MAX_ROWS;
      entry.kept = MAX_ROWS;
      entry.offered += offered;
    }
  }

  /** `count` distinct integers of [0, n), at random (a partial Fisher–Yates shuffle). */
  private pick(n: number, count: number): number[] {
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = 0; i < count; i++) {
      const j = i + Math.floor(this.random() * (n - i));
      const swapped = order[j]!;
      order[j] = order[i]!;
      order[i] = swapped;
    }
    return order.slice(0, count);
  }

  /** Everything kept since the last drain, per watched version with activity since; empties the reservoirs (their buffers are reused). */
  drain(): SampleSet[] {
    const out: SampleSet[] = [];
    for (const e of this.entries.values()) {
      if (!e.touched) continue;
      const kept = e.kept;
      out.push({
        ...e.labels,
        requests: e.requests,
        errors: e.errors,
        errorCodes: e.errorCodes,
        rowsSeen: e.rowsSeen,
        rowsDropped: e.rowsDropped,
        rowsOffered: e.offered,
        width: e.width,
        // Copies out: the buffers take the next period's rows.
        rows: e.values ? e.values.slice(0, kept * e.width) : new Float32Array(0),
        scores: e.scores.slice(0, e.values ? kept : 0),
        latencies: e.latencies.slice(0, e.latencyCount),
        truncated: e.truncated,
      });
      Object.assign(e, { requests: 0, errors: 0, errorCodes: {}, rowsSeen: 0, rowsDropped: 0, truncated: false, latencyCount: 0, offered: 0, kept: 0, touched: false, drains: e.drains + 1 });
    }
    return out;
  }
}
