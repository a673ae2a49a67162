// Computes one column's PSI and KS at a time for columnDrift's pool; the columns arrive as views
// of SharedArrayBuffers, so nothing is copied on the way in.
import { parentPort } from "node:worker_threads";
import { isPlatformError } from "./errors.ts";
import { columnDriftOne } from "./column-drift.ts";

/** One column's job for a worker; columns backed by a SharedArrayBuffer are read in place. */
export interface ColumnDriftTask {
  id: number;
  reference: Float64Array;
  actual: Float64Array;
}

export type ColumnDriftReply = { id: number; ok: true; psi: number; ks: number } | { id: number; ok: false; code: string; message: string };

parentPort!.on("message", (task: ColumnDriftTask) => {
  let reply: ColumnDriftReply;
  try {
    reply = { id: task.id, ok: true, ...columnDriftOne(task.reference, task.actual) };
  } catch (error) {
    reply = { id: task.id, ok: false, code: isPlatformError(error) ? error.code : "INTERNAL", message: (error as Error).message };
  }
  parentPort!.postMessage(reply);
});
