// Reads an evaluation CSV on its own thread (see readTableOffThread): parsing a large file takes
// seconds, and the server's main thread also answers inference requests.
import { parentPort, workerData } from "node:worker_threads";
import { isPlatformError } from "../../core/index.ts";
import { readTable, tableToWire, type TableReply, type TableRequest } from "./data.ts";

const { bytes, opts } = workerData as TableRequest;
let reply: TableReply;
try {
  reply = { ok: true, table: tableToWire(readTable(bytes, opts)) };
} catch (error) {
  reply = { ok: false, code: isPlatformError(error) ? error.code : "INTERNAL", message: isPlatformError(error) ? error.message : "the CSV could not be parsed" };
}
parentPort!.postMessage(reply, reply.ok ? [reply.table.values.buffer as ArrayBuffer, reply.table.labels.buffer as ArrayBuffer] : []);
