// The SQLite metric writer thread, the main thread's side. A log-batch body is parsed and
// validated on the main thread; its points go to a worker thread that owns a second connection to
// the same file and writes them (chunk appends, latest values, params, tags) with the same
// group commit as before: every batch that arrived while the last commit was being fsynced is
// written in the next transaction. The main thread goes on parsing the next bodies while the
// writer waits for the disk, which one thread doing both could not (docs/benchmarks.md#tracking).
// Each caller is answered only after its batch is committed, so an acknowledged point survives
// kill -9 and power loss as before (synchronous = FULL on both connections).
import type { Worker } from "node:worker_threads";
import { PlatformError, startModuleWorker, type ErrorCode } from "../../core/index.ts";
import type { ChunkPoints, Tables } from "../../storage/index.ts";

export type LatestRow = Tables["latest_metrics"];

/**
 * A batch's points per key, in the order sent, as columns: one Float64Array holds, key after key,
 * that key's steps, then its timestamps, then its values. It crosses to the writer thread as is
 * (its buffer transferred) and chunks are cut from it with typed-array copies, so a point never
 * becomes an object again after the body is parsed.
 */
export interface Series {
  keys: string[];
  /** Points per key, in `keys` order. */
  counts: number[];
  points: Float64Array<ArrayBuffer>;
}

/** The points of a batch per key, in the order sent. */
export function seriesOf(metrics: readonly { key: string; step: number; timestamp: number; value: number }[]): Series {
  const index = new Map<string, number>();
  const keys: string[] = [];
  const counts: number[] = [];
  const keyOf = new Uint32Array(metrics.length);
  for (let i = 0; i < metrics.length; i++) {
    const key = metrics[i]!.key;
    let k = index.get(key);
    if (k === undefined) {
      index.set(key, (k = keys.length));
      keys.push(key);
      counts.push(0);
    }
    counts[k]!++;
    keyOf[i] = k;
  }
  const next: number[] = [];
  let start = 0;
  for (const count of counts) {
    next.push(start);
    start += 3 * count;
  }
  const points = new Float64Array(start);
  for (let i = 0; i < metrics.length; i++) {
    const m = metrics[i]!;
    const k = keyOf[i]!;
    const count = counts[k]!;
    const at = next[k]!++;
    points[at] = m.step;
    points[at + count] = m.timestamp;
    points[at + 2 * count] = m.value;
  }
  return { keys, counts, points };
}

/** Each key of a series with its points as views into `series.points` (no copy). */
export function seriesColumns(series: Series): [key: string, points: ChunkPoints][] {
  const out: [string, ChunkPoints][] = [];
  let at = 0;
  series.keys.forEach((key, k) => {
    const n = series.counts[k]!;
    const { points } = series;
    out.push([key, { steps: points.subarray(at, at + n), timestamps: points.subarray(at + n, at + 2 * n), values: points.subarray(at + 2 * n, at + 3 * n) }]);
    at += 3 * n;
  });
  return out;
}

/** One request's write: its points per key in the order sent, and the latest value per key. */
export type BatchArgs = [runId: string, params: [string, string][], tags: [string, string][], series: Series, latest: LatestRow[]];

/** A batch as it crosses to the writer; its points' buffer is transferred, not copied. */
export interface WriteMessage {
  id: number;
  args: BatchArgs;
}

/** What the writer answers after each commit: the batches it wrote, with the error of those refused. */
export interface WrittenMessage {
  written: [id: number, error: WriteError | null][];
}

/** An error as it crosses back: a PlatformError's code, message and details, or a plain message. */
export interface WriteError {
  code?: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

export interface WriterData {
  file: string;
  activeRunsOnly: boolean;
}

export function toWriteError(error: unknown): WriteError {
  if (error instanceof PlatformError) return { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) };
  return { message: error instanceof Error ? error.message : String(error) };
}

function fromWriteError(e: WriteError): Error {
  return e.code ? new PlatformError(e.code, e.message, e.details) : new Error(`writing metrics: ${e.message}`);
}

/**
 * Starts the writer thread on first use and again after it died. A writer that dies fails its
 * unanswered batches (none of them was acknowledged); `close` lets it finish what it was sent.
 */
export class SqliteMetricWriter {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve(): void; reject(error: unknown): void }>();

  constructor(
    private readonly file: string,
    private readonly activeRunsOnly: boolean,
  ) {}

  write(args: BatchArgs): Promise<void> {
    const worker = (this.worker ??= this.start());
    const message: WriteMessage = { id: this.nextId++, args };
    return new Promise<void>((resolve, reject) => {
      // Held open only while a batch waits, so an idle writer never keeps the process alive.
      if (this.waiting.size === 0) worker.ref();
      this.waiting.set(message.id, { resolve, reject });
      worker.postMessage(message, [args[3].points.buffer]);
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.worker = undefined;
    const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
    worker.ref();
    worker.postMessage("close");
    await exited;
  }

  private start(): Worker {
    const data: WriterData = { file: this.file, activeRunsOnly: this.activeRunsOnly };
    const worker = startModuleWorker(import.meta.url, "./metric-writer-worker", { workerData: data });
    worker.unref();
    worker.on("message", (m: WrittenMessage) => {
      for (const [id, error] of m.written) {
        const waiter = this.waiting.get(id);
        this.waiting.delete(id);
        if (error) waiter?.reject(fromWriteError(error));
        else waiter?.resolve();
      }
      if (this.waiting.size === 0) worker.unref();
    });
    const fail = (reason: string) => {
      if (this.worker === worker) this.worker = undefined;
      const error = new PlatformError("UNAVAILABLE", `the metric writer thread stopped (${reason}); the batch was not stored: send it again`);
      for (const waiter of this.waiting.values()) waiter.reject(error);
      this.waiting.clear();
    };
    worker.on("error", (error) => fail(error.message));
    worker.on("exit", (code) => fail(`exit code ${code}`));
    return worker;
  }
}
