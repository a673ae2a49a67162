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
import type { Tables } from "../../storage/index.ts";

export interface SeriesPoint {
  step: number;
  timestamp: number;
  value: number;
}

export type LatestRow = Tables["latest_metrics"];

/** One request's write: its points per key in the order sent, and the latest value per key. */
export type BatchArgs = [runId: string, params: [string, string][], tags: [string, string][], series: Map<string, SeriesPoint[]>, latest: LatestRow[]];

/** A batch as it crosses to the writer: the points of all its series in one Float64Array. */
export interface WriteMessage {
  id: number;
  runId: string;
  params: [string, string][];
  tags: [string, string][];
  keys: string[];
  /** Points per key, in `keys` order; `points` holds them in that order, three numbers each. */
  counts: number[];
  points: Float64Array<ArrayBuffer>;
  latest: BatchArgs[4];
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

/** Packs a batch for the writer; the points' buffer is transferred, not copied. */
export function packBatch(id: number, [runId, params, tags, series, latest]: BatchArgs): WriteMessage {
  const keys = [...series.keys()];
  const counts = keys.map((k) => series.get(k)!.length);
  const points = new Float64Array(3 * counts.reduce((a, b) => a + b, 0));
  let i = 0;
  for (const key of keys) {
    for (const p of series.get(key)!) {
      points[i++] = p.step;
      points[i++] = p.timestamp;
      points[i++] = p.value;
    }
  }
  return { id, runId, params, tags, keys, counts, points, latest };
}

/** The writer's side of packBatch. */
export function unpackBatch(m: WriteMessage): BatchArgs {
  const series = new Map<string, SeriesPoint[]>();
  let i = 0;
  m.keys.forEach((key, k) => {
    const list = new Array<SeriesPoint>(m.counts[k]!);
    for (let j = 0; j < list.length; j++, i += 3) list[j] = { step: m.points[i]!, timestamp: m.points[i + 1]!, value: m.points[i + 2]! };
    series.set(key, list);
  });
  return [m.runId, m.params, m.tags, series, m.latest];
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
    const message = packBatch(this.nextId++, args);
    return new Promise<void>((resolve, reject) => {
      // Held open only while a batch waits, so an idle writer never keeps the process alive.
      if (this.waiting.size === 0) worker.ref();
      this.waiting.set(message.id, { resolve, reject });
      worker.postMessage(message, [message.points.buffer]);
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
