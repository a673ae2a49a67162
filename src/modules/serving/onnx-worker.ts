// One onnxruntime InferenceSession on its own thread: OnnxRuntime starts `replicas` of these
// per loaded model version and sends them (possibly batched) runs.
import { parentPort, workerData } from "node:worker_threads";
import * as ort from "onnxruntime-node";
import type { RunMessage, WireSpec, WireTensor, WorkerInit, WorkerReply } from "./onnx-worker-protocol.ts";

/** Zero-filled arrays by onnxruntime element type, for the calibration input. */
const ZEROS: Record<string, (n: number) => ort.Tensor.DataType> = {
  float32: (n) => new Float32Array(n),
  float64: (n) => new Float64Array(n),
  int8: (n) => new Int8Array(n),
  uint8: (n) => new Uint8Array(n),
  int16: (n) => new Int16Array(n),
  uint16: (n) => new Uint16Array(n),
  int32: (n) => new Int32Array(n),
  uint32: (n) => new Uint32Array(n),
  int64: (n) => new BigInt64Array(n),
  uint64: (n) => new BigUint64Array(n),
  bool: (n) => new Uint8Array(n),
};

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
  const inputs = spec(session.inputMetadata);
  const runMs = init.calibrate ? await timeOneRow(session, inputs) : undefined;
  post({ type: "ready", inputs, outputs: spec(session.outputMetadata), ...(runMs !== undefined ? { runMs } : {}) });
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

/**
 * The median of 15 runs (after 3 untimed) of a one-row zero input, in ms; undefined when no such
 * input can be built (a string input, or a dynamic dimension other than the first). Zeros: a model
 * whose cost depends on its values is timed at one point, which the docs say.
 */
async function timeOneRow(session: ort.InferenceSession, inputs: WireSpec[]): Promise<number | undefined> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of inputs) {
    const zeros = input.type ? ZEROS[input.type] : undefined;
    const dims = (input.shape ?? []).map((d, i) => (typeof d === "number" && d >= 0 ? d : i === 0 ? 1 : -1));
    if (!zeros || dims.includes(-1)) return undefined;
    feeds[input.name] = new ort.Tensor(input.type as ort.Tensor.Type, zeros(dims.reduce((a, b) => a * b, 1)), dims);
  }
  try {
    const times: number[] = [];
    for (let i = 0; i < 18; i++) {
      const start = performance.now();
      await session.run(feeds);
      if (i >= 3) times.push(performance.now() - start);
    }
    return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
  } catch {
    return undefined;
  }
}
