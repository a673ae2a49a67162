// Inspects ONNX models before anything else reads them: the signature reader and the
// external-data check (onnx-signature.ts) run on a worker thread, fed the model's bytes a chunk at
// a time, within a bound on the structure read and on the worker's time. Registration inspects
// the file it records a signature for, and serving inspects every model before onnxruntime
// creates a session from it: a model whose tensors live in other files never loads.
import type { Worker } from "node:worker_threads";
import { PlatformError, invalidInput, startModuleWorker } from "../../core/index.ts";
import { MalformedOnnx, type OnnxInspection } from "./onnx-signature.ts";

export interface OnnxInspectionLimits {
  /** Bytes of a model's structure read (names, graph, nodes; not the weights, which are skipped). */
  maxStructureBytes: number;
  /** Seconds of the worker's time one inspection may take. */
  timeoutSeconds: number;
}

/** The defaults of the configuration's `registry.onnx`. */
export const ONNX_INSPECTION_DEFAULTS: OnnxInspectionLimits = { maxStructureBytes: 64 * 1024 ** 2, timeoutSeconds: 30 };

export interface InspectWorkerData {
  maxStructureBytes: number;
}

export type InspectReply =
  | { type: "more" }
  | { type: "done"; inspection: OnnxInspection }
  | { type: "malformed" | "too-complex" | "failed"; message: string };

/** Bytes sent to the worker per message. */
const CHUNK_BYTES = 4 * 1024 ** 2;
/** Inspections running at once; more wait their turn (each holds a thread). */
const MAX_RUNNING = 2;

let running = 0;
const queue: (() => void)[] = [];

/**
 * Inspects a model (its bytes, or a stream of them) off the main thread. Throws MalformedOnnx for
 * bytes that are not an ONNX model, and INVALID_INPUT when the model is over a bound.
 */
export async function inspectOnnx(source: Uint8Array | AsyncIterable<Uint8Array>, limits: Partial<OnnxInspectionLimits> = {}): Promise<OnnxInspection> {
  const bounds = { ...ONNX_INSPECTION_DEFAULTS, ...limits };
  if (running >= MAX_RUNNING) await new Promise<void>((resolve) => queue.push(resolve));
  running++;
  try {
    return await inspectOnWorker(source instanceof Uint8Array ? slices(source) : batches(source), bounds);
  } finally {
    running--;
    queue.shift()?.();
  }
}

/**
 * Refuses a model onnxruntime must not load: not an ONNX model Paved can read, over a bound, or
 * with tensors stored in other files (which onnxruntime would read from its working directory).
 */
export async function checkOnnxForServing(bytes: Uint8Array, limits: Partial<OnnxInspectionLimits> = {}): Promise<OnnxInspection> {
  let inspection: OnnxInspection;
  try {
    inspection = await inspectOnnx(bytes, limits);
  } catch (error) {
    if (error instanceof MalformedOnnx) throw invalidInput(`not an ONNX model Paved can load (${error.message}); export the model again with torch.onnx.export or onnx.save_model`);
    throw error;
  }
  refuseExternalData(inspection, "the model");
  return inspection;
}

/** INVALID_INPUT when any tensor of the model keeps its data in another file. */
export function refuseExternalData(inspection: OnnxInspection, what: string): void {
  const [first] = inspection.externalData;
  if (!first) return;
  const others = inspection.externalTensors - 1;
  throw invalidInput(
    `${what} keeps tensor '${first.tensor}'${others ? ` and ${others} more` : ""} in another file (ONNX external data${first.location ? ` at '${first.location}'` : ""}), which Paved does not load; ` +
      "save the model with its weights inside the file: onnx.save_model(model, path, save_as_external_data=False) (a model over 2 GB cannot be)",
    { tensors: inspection.externalData, count: inspection.externalTensors },
  );
}

async function* slices(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  // Copies, each with a buffer of its own to transfer (Buffer#slice would be a view of the caller's).
  for (let at = 0; at < bytes.length; at += CHUNK_BYTES) yield Uint8Array.prototype.slice.call(bytes, at, at + CHUNK_BYTES);
}

async function* batches(stream: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  let parts: Uint8Array[] = [];
  let size = 0;
  const join = () => {
    // A buffer of its own (Node's pooled Buffers must not be transferred).
    const out = new Uint8Array(size);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    parts = [];
    size = 0;
    return out;
  };
  for await (const chunk of stream) {
    parts.push(chunk);
    size += chunk.length;
    if (size >= CHUNK_BYTES) yield join();
  }
  if (size) yield join();
}

function inspectOnWorker(chunks: AsyncGenerator<Uint8Array>, limits: OnnxInspectionLimits): Promise<OnnxInspection> {
  const worker: Worker = startModuleWorker(import.meta.url, "./onnx-inspect-worker", {
    workerData: { maxStructureBytes: limits.maxStructureBytes } satisfies InspectWorkerData,
    stdout: false,
    stderr: false,
    resourceLimits: { maxOldGenerationSizeMb: Math.max(256, Math.ceil((limits.maxStructureBytes / 1024 ** 2) * 4)) },
  });
  const budgetMs = limits.timeoutSeconds * 1000;
  let spentMs = 0;
  let busySince = 0;
  let timer: NodeJS.Timeout | undefined;
  return new Promise<OnnxInspection>((resolve, reject) => {
    let settled = false;
    const finish = (error: Error | undefined, inspection?: OnnxInspection) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      chunks.return(undefined).catch(() => undefined);
      if (error) reject(error);
      else resolve(inspection!);
    };
    // Only the worker's own time counts: waiting for the next chunk (storage, network) does not.
    const busy = () => {
      busySince = performance.now();
      timer = setTimeout(
        () =>
          finish(
            invalidInput(
              `reading the ONNX model took longer than ${limits.timeoutSeconds} s, which no exported model needs; check the file, or raise registry.onnx.timeoutSeconds in the configuration`,
            ),
          ),
        Math.max(0, budgetMs - spentMs),
      );
    };
    const idle = () => {
      clearTimeout(timer);
      spentMs += performance.now() - busySince;
    };
    worker.on("message", (reply: InspectReply) => {
      idle();
      switch (reply.type) {
        case "more":
          chunks.next().then(
            ({ value, done }) => {
              if (settled) return;
              busy();
              if (done) worker.postMessage({});
              else worker.postMessage({ chunk: value }, [value.buffer as ArrayBuffer]);
            },
            (error: unknown) => finish(error instanceof Error ? error : new Error(String(error))),
          );
          return;
        case "done":
          return finish(undefined, reply.inspection);
        case "malformed":
          return finish(new MalformedOnnx(reply.message));
        case "too-complex":
          return finish(
            invalidInput(
              `${reply.message} (limit ${limits.maxStructureBytes} bytes; weights do not count), more than exported models hold; check the file, or raise registry.onnx.maxStructureBytes in the configuration`,
            ),
          );
        case "failed":
          return finish(new PlatformError("INTERNAL", `could not read the ONNX model: ${reply.message}`));
      }
    });
    worker.once("error", (error: Error & { code?: string }) =>
      finish(
        error.code === "ERR_WORKER_OUT_OF_MEMORY"
          ? invalidInput("reading the ONNX model ran out of the memory its structure is given; check the file, or raise registry.onnx.maxStructureBytes (the memory grows with it)")
          : new PlatformError("INTERNAL", `the thread reading the ONNX model failed: ${error.message}`),
      ),
    );
    worker.once("exit", (code) => finish(new PlatformError("INTERNAL", `the thread reading the ONNX model exited with code ${code}`)));
    busy();
  });
}
