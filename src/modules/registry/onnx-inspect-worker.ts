// Reads an ONNX model's signature and external-data references on its own thread (see
// onnx-inspection.ts): a crafted file can hold millions of tiny fields, and the main thread
// answers every request. The bytes arrive in chunks, one asked for at a time.
import { parentPort, workerData } from "node:worker_threads";
import type { InspectReply, InspectWorkerData } from "./onnx-inspection.ts";
import { MalformedOnnx, OnnxTooComplex, readOnnx } from "./onnx-signature.ts";

const port = parentPort!;
const { maxStructureBytes } = workerData as InspectWorkerData;
const post = (reply: InspectReply) => port.postMessage(reply);

let waiting: ((chunk: Uint8Array | undefined) => void) | undefined;
port.on("message", (message: { chunk?: Uint8Array }) => {
  const resolve = waiting;
  waiting = undefined;
  resolve?.(message.chunk);
});
const next = () =>
  new Promise<Uint8Array | undefined>((resolve) => {
    waiting = resolve;
    post({ type: "more" });
  });

try {
  post({ type: "done", inspection: await readOnnx(next, { maxStructureBytes }) });
} catch (error) {
  const kind = error instanceof OnnxTooComplex ? "too-complex" : error instanceof MalformedOnnx ? "malformed" : "failed";
  post({ type: kind, message: (error as Error).message });
}
