// Messages between OnnxRuntime (main thread) and its workers (onnx-worker.ts).
import type { TensorData } from "./tensor.ts";

export interface WorkerInit {
  bytes: Uint8Array;
  /** onnxruntime intra-op threads for this worker's session. */
  threads: number;
  /** Time a run of a one-row zero input after loading (ready's runMs): the parent decides on that whether small requests may run inline. */
  calibrate?: boolean;
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
  /** runMs: the median of timed one-row runs, when asked and the inputs allowed building one (numeric, only the first dimension dynamic). */
  | { type: "ready"; inputs: WireSpec[]; outputs: WireSpec[]; runMs?: number }
  | { type: "failed"; message: string }
  | { type: "result"; id: number; outputs: WireTensor[] }
  | { type: "error"; id: number; message: string };

export interface RunMessage {
  id: number;
  inputs: WireTensor[];
}
