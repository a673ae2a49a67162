// One onnxruntime InferenceSession on its own thread: OnnxRuntime starts `replicas` of these
// per loaded model version and sends them (possibly batched) runs.
import { parentPort, workerData } from "node:worker_threads";
import * as ort from "onnxruntime-node";
import type { RunMessage, WireSpec, WireTensor, WorkerInit, WorkerReply } from "./onnx-worker-protocol.ts";

const port = parentPort!;
const init = workerData as WorkerInit;
const post = (reply: WorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(reply, transfer);

let session: ort.InferenceSession | undefined;
try {
  session = await ort.InferenceSession.create(init.bytes, {
    intraOpNumThreads: init.threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
  });
  const spec = (m: readonly unknown[]): WireSpec[] => m.map((x) => ({ ...(x as WireSpec), shape: [...((x as WireSpec).shape ?? [])] }));
  post({ type: "ready", inputs: spec(session.inputMetadata), outputs: spec(session.outputMetadata) });
} catch (error) {
  // The parent terminates this worker when it hears of the failure.
  post({ type: "failed", message: (error as Error).message });
}

if (session) {
  const ready = session;
  port.on("message", (message: RunMessage) => {
    void run(ready, message);
  });
}

async function run(session: ort.InferenceSession, message: RunMessage): Promise<void> {
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const t of message.inputs) feeds[t.name] = new ort.Tensor(t.type as ort.Tensor.Type, t.data as ort.Tensor.DataType, t.dims);
    const results = await session.run(feeds);
    const outputs: WireTensor[] = [];
    for (const name of session.outputNames) {
      const t = results[name]!;
      // A copy owns its buffer, so it can be transferred instead of cloned.
      outputs.push({ name, type: t.type, dims: [...t.dims], data: (t.data as Float32Array).slice() });
    }
    post({ type: "result", id: message.id, outputs }, outputs.map((o) => o.data.buffer as ArrayBuffer));
  } catch (error) {
    post({ type: "error", id: message.id, message: (error as Error).message });
  }
}
