// The windows monitors fill and judge, kept on a worker thread of their own (windows-worker.ts),
// not on the control plane's main thread. Every second the controller hands the thread what
// serving sampled (typed arrays, moved, not copied); the thread merges it into the window of the
// monitor it belongs to, and judges a window when the controller closes it. The merges and the
// judging read and write a number at a time in code that runs once a second, which V8 does not
// optimize soon, and unoptimized code allocates for each number; on the main thread that garbage
// kept its young generation large and its full collections of the whole heap coming every few
// seconds while a monitor watched (docs/benchmarks.md, "Monitoring, overhead"). The thread's heap
// holds only the windows and the references, and is cheap to collect.
//
// Should the thread die, the windows it was filling are lost (as in a restart): the caller learns
// it from the close in flight, or else from the next close (WindowsLost), and does not judge them;
// the next call starts a new thread.
import type { Worker } from "node:worker_threads";
import { startModuleWorker } from "../../core/index.ts";
import type { SampleRows, SampleSet } from "../serving/index.ts";
import type { MonitorSpec } from "./schema.ts";
import type { EffectiveThresholds, JudgedWindow, PreparedReference } from "./window.ts";

/** A window closed on the thread: its judgement, its traffic's figures, and its kept rows when asked for. */
export interface ClosedOnThread {
  judged: JudgedWindow;
  requests: number;
  errors: number;
  rowsSeen: number;
  rowsKept: number;
  rowsDropped: number;
  /** The window's sampled rows, when the close asked to keep them and there were any. */
  rows: SampleRows | undefined;
}

export interface WindowToClose {
  monitor: string;
  /** The monitor's target as serving names it (monitoredKey). */
  key: string;
  reference: PreparedReference;
  spec: MonitorSpec;
  thresholds: EffectiveThresholds;
  /** The monitor's prediction baseline as saved (JSON), parsed by the thread once while it stays the same. */
  baseline: string | null;
  /** Whether to send the window's sampled rows back (the monitor keeps its samples). */
  keepRows: boolean;
}

/** A message to the thread. */
export type WindowsRequest =
  | { type: "absorb"; sets: SampleSet[] }
  /** `reference`: sent with a monitor's first window on a thread, and after its reference was prepared again. */
  | ({ type: "close"; id: number } & Omit<WindowToClose, "reference"> & { reference: PreparedReference | undefined })
  | { type: "forget"; monitor: string; key: string }
  | { type: "discard"; key: string }
  | { type: "reset" };

export type WindowsReply = ({ id: number; ok: true } & ClosedOnThread) | { id: number; ok: false; message: string };

/** The thread stopped before it closed the window: the samples of the windows being filled are gone. */
export class WindowsLost extends Error {}

export class WindowsThread {
  private worker: Worker | undefined;
  /** Which prepared reference the current thread holds for each monitor. */
  private readonly held = new Map<string, PreparedReference>();
  private readonly pending = new Map<number, { resolve: (closed: ClosedOnThread) => void; reject: (error: Error) => void }>();
  private nextId = 0;
  /** The thread died with no close in flight: the next close says so. */
  private lost: WindowsLost | undefined;

  /** Merges sampled traffic into the windows being filled (moves the sets' arrays to the thread: the caller must not read them after). */
  absorb(sets: SampleSet[]): void {
    if (sets.length === 0) return;
    const buffers = new Set<ArrayBuffer>();
    for (const set of sets) for (const values of [set.rows, set.scores, set.latencies]) if (values.buffer instanceof ArrayBuffer && values.byteLength > 0) buffers.add(values.buffer);
    this.thread().postMessage({ type: "absorb", sets } satisfies WindowsRequest, [...buffers]);
  }

  /** Judges and empties a monitor's window; WindowsLost when the thread died since the window began. */
  close(window: WindowToClose): Promise<ClosedOnThread> {
    if (this.lost) {
      const lost = this.lost;
      this.lost = undefined;
      return Promise.reject(lost);
    }
    const worker = this.thread();
    const id = this.nextId++;
    const reference = this.held.get(window.monitor) === window.reference ? undefined : window.reference;
    this.held.set(window.monitor, window.reference);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref(); // held while it works, so that the caller's process waits for the answer
      worker.postMessage({ type: "close", id, ...window, reference } satisfies WindowsRequest);
    });
  }

  /** Drops a monitor's window and reference (the monitor was deleted, or its reference is to be read again). */
  forget(monitor: string, key: string): void {
    this.held.delete(monitor);
    this.worker?.postMessage({ type: "forget", monitor, key } satisfies WindowsRequest);
  }

  /** Empties a monitor's window unjudged (it began before this process watched). */
  discard(key: string): void {
    this.worker?.postMessage({ type: "discard", key } satisfies WindowsRequest);
  }

  /** Empties every window being filled (this process starts watching afresh). */
  reset(): void {
    this.lost = undefined;
    this.worker?.postMessage({ type: "reset" } satisfies WindowsRequest);
  }

  /** Stops the thread; its windows are lost, and a later call starts a new thread. */
  async stop(): Promise<void> {
    await this.worker?.terminate();
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const worker = startModuleWorker(import.meta.url, "./windows-worker", { stdout: false, stderr: false });
    worker.unref();
    worker.on("message", (reply: WindowsReply) => {
      const waiting = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (this.pending.size === 0) worker.unref();
      if (reply.ok) waiting?.resolve(reply);
      else waiting?.reject(new Error(`judging a monitor window failed: ${reply.message}`));
    });
    let reason = "";
    worker.on("error", (error) => (reason = error.message));
    worker.on("exit", (code) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.held.clear();
      const lost = new WindowsLost(`the monitors' thread stopped (${reason || `exit code ${code}`}); the samples of the windows being filled were lost`);
      if (this.pending.size === 0) this.lost = lost;
      for (const waiting of this.pending.values()) waiting.reject(lost);
      this.pending.clear();
    });
    this.worker = worker;
    return worker;
  }
}
