import { readFileSync, writeFileSync, renameSync } from "node:fs";
import { open } from "node:fs/promises";
import type { Clock } from "../../core/index.ts";
import { parseMetricLine } from "./metric-lines.ts";
import type { RunRecorder } from "./run-recorder.ts";

interface TailState {
  /** Bytes of the log already read. */
  offset: number;
  /** Metric lines seen so far: the default step of the next one. */
  lines: number;
}

/**
 * Reads an attempt's log as it grows and logs its metric lines to the run. Its position is
 * saved beside the log, so a restarted server carries on where it stopped instead of logging
 * the same lines twice.
 */
export class MetricTailer {
  private state: TailState;
  private partial = "";
  private busy: Promise<void> = Promise.resolve();

  constructor(
    private readonly logPath: string,
    private readonly stateFile: string,
    private readonly runId: string,
    private readonly runs: RunRecorder,
    private readonly clock: Clock,
  ) {
    this.state = loadState(stateFile);
  }

  /** Reads what was appended since the last call; calls never overlap. `final`: the log is complete. */
  poll(final = false): Promise<void> {
    this.busy = this.busy.then(() => this.read(final)).catch(() => undefined);
    return this.busy;
  }

  private async read(final: boolean): Promise<void> {
    let file;
    try {
      file = await open(this.logPath, "r");
    } catch {
      return;
    }
    try {
      const buffer = Buffer.alloc(256 * 1024);
      for (;;) {
        const { bytesRead } = await file.read(buffer, 0, buffer.length, this.state.offset);
        if (bytesRead === 0) break;
        const text = this.partial + buffer.subarray(0, bytesRead).toString("latin1");
        const lines = text.split("\n");
        this.partial = lines.pop() ?? "";
        if (final && bytesRead < buffer.length && this.partial) {
          lines.push(this.partial);
          this.partial = "";
        }
        const metrics: { key: string; value: number; step: number; timestamp: number }[] = [];
        const timestamp = this.clock.now();
        for (const line of lines) {
          const parsed = parseMetricLine(Buffer.from(line, "latin1").toString("utf8"));
          if (!parsed) continue;
          const step = parsed.step ?? this.state.lines;
          if (!parsed.system) this.state.lines++;
          for (const m of parsed.metrics) metrics.push({ ...m, step, timestamp });
        }
        if (metrics.length > 0) await this.runs.logMetrics(this.runId, metrics);
        // Only whole lines count as read; a partial last line is read again next time, unless
        // it fills the whole buffer (no metric line is that long).
        const pending = lines.length === 0 && bytesRead === buffer.length ? 0 : Buffer.byteLength(this.partial, "latin1");
        this.state.offset += bytesRead - pending;
        this.partial = "";
        saveState(this.stateFile, this.state);
        if (pending > 0) break;
      }
    } finally {
      await file.close();
    }
  }
}

function loadState(file: string): TailState {
  try {
    const parsed = JSON.parse(readFileSync(file, "utf8")) as Partial<TailState>;
    return { offset: Number(parsed.offset) || 0, lines: Number(parsed.lines) || 0 };
  } catch {
    return { offset: 0, lines: 0 };
  }
}

function saveState(file: string, state: TailState): void {
  // Owner-only, like the log it is read from (under runAs the job folder is passable by the job user).
  writeFileSync(`${file}.tmp`, JSON.stringify(state), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}
