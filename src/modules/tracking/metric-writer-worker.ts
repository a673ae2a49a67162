// The SQLite metric writer thread (see metric-writer.ts): its own connection to the database file,
// the write path's prepared statements, and the group commit. Messages that arrive while a
// commit runs (the fsync included) wait in the port; the next turn writes them all in one
// transaction, one savepoint per batch, and answers them in one message.
import { parentPort, workerData } from "node:worker_threads";
import { openSqlite } from "../../storage/index.ts";
import { prepareSqliteWrites, type GroupItem } from "./metric-store.ts";
import { toWriteError, type WriteMessage, type WrittenMessage, type WriterData } from "./metric-writer.ts";

const { file, activeRunsOnly } = workerData as WriterData;
const sqlite = openSqlite(file);
const writes = prepareSqliteWrites(sqlite, activeRunsOnly);
const port = parentPort!;
let pending: WriteMessage[] = [];
const BUSY_RETRY_MS = 10;
let closing = false;
let scheduled = false;

port.on("message", (m: WriteMessage | "close") => {
  if (m === "close") closing = true;
  else pending.push(m);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
});

function flush(): void {
  scheduled = false;
  const batch = pending;
  pending = [];
  if (batch.length) {
    const items: GroupItem[] = batch.map((m) => ({ args: m.args }));
    let failed: unknown;
    try {
      writes.group(items);
    } catch (error) {
      // The server's thread held the lock longer than busy_timeout (a long transaction of its
      // own): nothing was written, so the group waits and tries again, as callers of one thread did.
      if ((error as { code?: unknown }).code === "SQLITE_BUSY") {
        pending = [...batch, ...pending];
        scheduled = true;
        setTimeout(flush, BUSY_RETRY_MS);
        return;
      }
      failed = error; // the commit itself: nothing of the group is stored
    }
    const answer: WrittenMessage = { written: batch.map((m, i) => [m.id, failed !== undefined || items[i]!.error !== undefined ? toWriteError(failed ?? items[i]!.error) : null]) };
    port.postMessage(answer);
  }
  if (closing) {
    sqlite.close();
    port.close();
  }
}
