// Messages between OnnxRuntime (main thread) and its workers (onnx-worker.ts).
import type { TensorData } from "./tensor.ts";

export interface WorkerInit {
  bytes: Uint8Array;
  /** onnxruntime intra-op threads for this worker's session. */
  threads: number;
}

/** A tensor in onnxruntime's terms (element type name, dims). */
export interface WireTensor {
  name: string;
  type: string;
  dims: number[];
  data: TensorData;
}

export interface WireSpec {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: (number | string)[];
}

export type WorkerReply =
  | { type: "ready"; inputs: WireSpec[]; outputs: WireSpec[] }
  | { type: "failed"; message: string }
  | { type: "result"; id: number; outputs: WireTensor[] }
  | { type: "error"; id: number; message: string };

export interface RunMessage {
  id: number;
  inputs: WireTensor[];
}
