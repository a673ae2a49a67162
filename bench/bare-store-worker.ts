// The writer thread of bench/bare-http-server.ts --writer-thread: the bodies that arrived while
// the last commit ran are appended in one transaction (group commit), then answered together.
import { parentPort, workerData } from "node:worker_threads";
import { openRawSqlite, rawChunkWriter, type MetricPoint } from "./raw-chunk-writer.ts";

interface Body {
  id: number;
  runId: string;
  keys: string[];
  /** Four numbers a point: key index, step, timestamp, value. */
  points: Float64Array;
}

const writer = rawChunkWriter(openRawSqlite((workerData as { file: string }).file));
const port = parentPort!;
let pending: Body[] = [];
let scheduled = false;

port.on("message", (m: Body) => {
  pending.push(m);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
});

function flush(): void {
  scheduled = false;
  const group = pending;
  pending = [];
  let error: string | undefined;
  try {
    writer.appendAll(
      group.map((b) => {
        const rows: MetricPoint[] = new Array(b.points.length / 4);
        for (let i = 0, j = 0; j < rows.length; j++, i += 4) rows[j] = { key: b.keys[b.points[i]!]!, step: b.points[i + 1]!, timestamp: b.points[i + 2]!, value: b.points[i + 3]! };
        return [b.runId, rows];
      }),
    );
  } catch (e) {
    error = (e as Error).message;
  }
  port.postMessage({ written: group.map((b) => b.id), ...(error ? { error } : {}) });
}
