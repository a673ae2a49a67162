// Computes one column's PSI and KS at a time for columnDrift's pool; the columns arrive as views
// of SharedArrayBuffers, so nothing is copied on the way in.
import { parentPort } from "node:worker_threads";
import { isPlatformError } from "./errors.ts";
import { columnDriftOne, type ColumnDriftReply, type ColumnDriftTask } from "./column-drift.ts";

parentPort!.on("message", (task: ColumnDriftTask) => {
  let reply: ColumnDriftReply;
  try {
    reply = { id: task.id, ok: true, ...columnDriftOne(task.reference, task.actual) };
  } catch (error) {
    reply = { id: task.id, ok: false, code: isPlatformError(error) ? error.code : "INTERNAL", message: (error as Error).message };
  }
  parentPort!.postMessage(reply);
});
