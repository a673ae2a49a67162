// Serves ONNX models with onnxruntime-node off the main thread: each loaded model version gets
// `replicas` worker threads, each with its own InferenceSession. Requests queue per version and
// go to an idle worker; while every worker is busy they accumulate, and a worker that frees up
// takes the compatible ones as one batch (adaptive micro-batching, no timer: at concurrency 1 a
// request is dispatched at once, and under load a batch waits at most one run of the model).
import type { Worker } from "node:worker_threads";
import type * as ort from "onnxruntime-node";
import { PlatformError, invalidInput, startModuleWorker } from "../../core/index.ts";
import { checkOnnxForServing, type OnnxInspectionLimits } from "../registry/index.ts";
import { batchKey, batchRows, isBatchable, mergeInputs, splitOutputs } from "./batching.ts";
import type { RunMessage, WireSpec, WireTensor, WorkerInit, WorkerReply } from "./onnx-worker-protocol.ts";
import type { LoadOptions, ModelHandle, ReplicaStats, RuntimeCapability, ServingRuntime } from "./serving-runtime.ts";
import { datatypeFromOrt, datatypeToOrt, unsupportedType, type ModelSignature, type Tensor, type TensorSpec } from "./tensor.ts";

export interface OnnxRuntimeOptions {
  /** onnxruntime intra-op threads per worker (replicas give the parallelism; default 1). */
  threadsPerReplica?: number;
  /** How long an unload waits for queued and running requests before stopping the workers. */
  drainTimeoutMs?: number;
  /** Bounds of the check every model passes before a session is created (the configuration's `registry.onnx`). */
  inspection?: Partial<OnnxInspectionLimits>;
  /**
   * Most requests waiting for a worker per loaded version (default 1,024; `serving.maxQueuedRequests`):
   * beyond it a request is refused at once with UNAVAILABLE instead of holding its inputs in memory.
   */
  maxQueuedPerVersion?: number;
  /**
   * Run a version's small requests on the calling (HTTP) thread, without the hop to a worker, when
   * one row's run measured at load takes at most this many ms and a request's rows fit in it
   * (`serving.inlineBelowMs`; 0 or unset: always on workers). Larger requests, and every request of
   * a slower model, go to the workers, so no request holds the HTTP thread for longer than this.
   */
  inlineBelowMs?: number;
}

/** Default bound of one version's request queue. */
export const DEFAULT_MAX_QUEUED = 1024;

/** The ONNX runtime: onnxruntime-node sessions in worker threads, several models at once. */
export class OnnxRuntime implements ServingRuntime {
  readonly kind = "onnx";
  readonly platform = "onnxruntime";
  readonly capabilities: ReadonlySet<RuntimeCapability> = new Set(["batching", "cpu"]);
  private readonly models = new Map<string, ModelWorkers>();
  private nextId = 1;

  constructor(private readonly options: OnnxRuntimeOptions = {}) {}

  async load(bytes: Uint8Array, options: LoadOptions): Promise<ModelHandle> {
    checkReplicas(options.replicas);
    // onnxruntime would read a tensor's external data from its own working directory: refuse first.
    await checkOnnxForServing(bytes, this.options.inspection);
    const model = await ModelWorkers.start(bytes, options, this.options.threadsPerReplica ?? 1, this.options.maxQueuedPerVersion ?? DEFAULT_MAX_QUEUED, this.options.inlineBelowMs ?? 0);
    const handle: ModelHandle = { runtime: this.kind, id: `onnx-${this.nextId++}` };
    this.models.set(handle.id, model);
    return handle;
  }

  metadata(handle: ModelHandle): ModelSignature {
    return this.model(handle).signature;
  }

  async infer(handle: ModelHandle, inputs: Tensor[]): Promise<Tensor[]> {
    return this.model(handle).submit(inputs);
  }

  async resize(handle: ModelHandle, replicas: number): Promise<void> {
    checkReplicas(replicas);
    return this.model(handle).resize(replicas);
  }

  stats(handle: ModelHandle): ReplicaStats {
    return this.model(handle).stats();
  }

  async unload(handle: ModelHandle): Promise<void> {
    const model = this.models.get(handle.id);
    if (!model) return;
    this.models.delete(handle.id);
    await model.stop(this.options.drainTimeoutMs ?? 5000);
  }

  async close(): Promise<void> {
    const all = [...this.models.values()];
    this.models.clear();
    await Promise.all(all.map((m) => m.stop(0)));
  }

  private model(handle: ModelHandle): ModelWorkers {
    const model = this.models.get(handle.id);
    if (!model) throw new PlatformError("NOT_FOUND", `model handle ${handle.id} is not loaded in the onnx runtime; load the model first`);
    return model;
  }
}

interface Pending {
  inputs: Tensor[];
  /** Undefined: runs alone (inputs disagree on the batch size, or its batch failed). */
  key: string | undefined;
  rows: number;
  resolve(outputs: Tensor[]): void;
  reject(error: Error): void;
}

interface Slot {
  worker: Worker;
  busy: Pending[] | undefined;
  runId: number;
  /** Set while a shrink waits for this worker's run to end; called once it is gone. */
  retired?: () => void;
}

/** A session on the calling thread, for a version whose one-row run measured tiny at load. */
interface InlineSession {
  /** onnxruntime-node, imported once: an import per request goes through the module loader (under tsx, a round trip to its thread). */
  ort: typeof ort;
  session: ort.InferenceSession;
  /** One row's run at load, ms. */
  msPerRow: number;
  /** The most a request may hold the thread, ms (rows × msPerRow). */
  budgetMs: number;
}

/** The workers and the request queue of one loaded model version (and its inline session, when it has one). */
class ModelWorkers {
  private readonly queue: Pending[] = [];
  private inline: InlineSession | undefined;
  private inlineRuns = 0;
  private readonly slots: Slot[] = [];
  private next = 0;
  private runIds = 1;
  private stopping = false;
  private drained: (() => void) | undefined;
  /** The replicas wanted: the load's, then the last resize's. */
  private target: number;
  /** Resizes run one after another. */
  private resizing: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly signature: ModelSignature,
    private readonly batchable: boolean,
    private readonly outputSpecs: Map<string, TensorSpec>,
    private readonly init: WorkerInit,
    private readonly options: LoadOptions,
    private readonly maxQueued: number,
  ) {
    this.target = options.replicas;
  }

  static async start(bytes: Uint8Array, options: LoadOptions, threads: number, maxQueued: number, inlineBelowMs: number): Promise<ModelWorkers> {
    const init: WorkerInit = { bytes, threads };
    // The first worker also times a one-row run: whether small requests may run inline.
    const started = await Promise.allSettled(Array.from({ length: options.replicas }, (_, i) => startWorker(i === 0 && inlineBelowMs > 0 ? { ...init, calibrate: true } : init)));
    const failure = started.find((s) => s.status === "rejected");
    if (failure) {
      await Promise.all(started.map((s) => (s.status === "fulfilled" ? s.value.worker.terminate() : undefined)));
      throw failure.reason;
    }
    const ready = started.map((s) => (s as PromiseFulfilledResult<Awaited<ReturnType<typeof startWorker>>>).value);
    const first = ready[0]!;
    try {
      const signature = { inputs: first.inputs.map((s) => toSpec(s, "input")), outputs: first.outputs.map((s) => toSpec(s, "output")) };
      const axisNames = [...first.inputs, ...first.outputs].map((s) => s.shape?.[0]);
      const model = new ModelWorkers(signature, isBatchable(signature, axisNames), new Map(signature.outputs.map((o) => [o.name, o])), init, options, maxQueued);
      for (const r of ready) model.adopt(r.worker);
      if (first.runMs !== undefined && first.runMs <= inlineBelowMs) {
        const ort = await import("onnxruntime-node");
        const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: "sequential" });
        model.inline = { ort, session, msPerRow: Math.max(first.runMs, 0.001), budgetMs: inlineBelowMs };
      }
      return model;
    } catch (error) {
      await Promise.all(ready.map((r) => r.worker.terminate()));
      throw error;
    }
  }

  submit(inputs: Tensor[]): Promise<Tensor[]> {
    if (this.stopping) return Promise.reject(unavailable());
    if (this.queue.length >= this.maxQueued) {
      return Promise.reject(
        new PlatformError(
          "UNAVAILABLE",
          `the model version already has ${this.queue.length} requests waiting for a worker (serving.maxQueuedRequests); retry shortly, or give it more replicas (replicas/maxReplicas)`,
          { queued: this.queue.length, limit: this.maxQueued, setting: "serving.maxQueuedRequests" },
        ),
      );
    }
    // Inline when nothing waits for a worker (order is kept) and the request's rows fit the budget; a fixed-shape model's request is the calibrated one.
    if (this.inline && this.queue.length === 0) {
      const rows = this.batchable ? batchRows(inputs) : 1;
      if (rows !== undefined && rows * this.inline.msPerRow <= this.inline.budgetMs) return this.runInline(this.inline, inputs, rows);
    }
    // The key (a string of every input's name, type and shape) only for a request that may join a batch.
    const batch = this.batchable ? batchKey(inputs) : undefined;
    return new Promise((resolve, reject) => {
      this.queue.push({ inputs, key: batch?.key, rows: batch?.rows ?? 0, resolve, reject });
      this.pump();
    });
  }

  /** One request on this thread's session (no hop, no batching: the run is as short as a hop). */
  private async runInline(inline: InlineSession, inputs: Tensor[], rows: number): Promise<Tensor[]> {
    const { ort } = inline;
    this.inlineRuns++;
    try {
      const feeds: Record<string, ort.Tensor> = {};
      for (const t of inputs) feeds[t.name] = new ort.Tensor(datatypeToOrt(t.datatype) as ort.Tensor.Type, t.data as ort.Tensor.DataType, t.shape);
      this.options.onBatch?.(1, rows);
      let results: ort.InferenceSession.OnnxValueMapType;
      try {
        results = await inline.session.run(feeds);
      } catch (error) {
        throw invalidInput(`the model could not run this request: ${(error as Error).message}`);
      }
      return inline.session.outputNames.map((name) => {
        const t = results[name] as ort.Tensor;
        return this.toTensor({ name, type: t.type, dims: [...t.dims], data: t.data as WireTensor["data"] });
      });
    } finally {
      this.inlineRuns--;
      if (this.stopping && this.drained && this.inlineRuns === 0 && !this.slots.some((s) => s.busy)) this.drained();
    }
  }

  stats(): ReplicaStats {
    let busy = 0;
    for (const slot of this.slots) if (slot.busy) busy++;
    return { replicas: this.slots.length, busy, queued: this.queue.length, ...(this.inline ? { inline: true } : {}) };
  }

  /** Resolves once exactly `replicas` workers run (after the resizes asked for before it). */
  resize(replicas: number): Promise<void> {
    const next = this.resizing.then(() => this.resizeNow(replicas));
    this.resizing = next.catch(() => undefined);
    return next;
  }

  private async resizeNow(replicas: number): Promise<void> {
    if (this.stopping) throw unavailable();
    const serving = this.slots.filter((s) => !s.retired);
    if (replicas > serving.length) {
      const previous = this.target;
      this.target = replicas;
      const started = await Promise.allSettled(Array.from({ length: replicas - serving.length }, () => startWorker(this.init)));
      const failure = started.find((s) => s.status === "rejected");
      if (failure || this.stopping) {
        if (!this.stopping) this.target = previous;
        await Promise.all(started.map((s) => (s.status === "fulfilled" ? s.value.worker.terminate() : undefined)));
        throw failure ? failure.reason : unavailable();
      }
      for (const s of started) this.adoptUpToTarget((s as PromiseFulfilledResult<{ worker: Worker }>).value.worker);
      this.pump();
    } else if (replicas < serving.length) {
      this.target = replicas;
      // Idle workers go first; a busy one is retired when its run ends (see finish).
      const retiring = [...serving.filter((s) => !s.busy), ...serving.filter((s) => s.busy)].slice(0, serving.length - replicas);
      await Promise.all(retiring.map((slot) => this.retire(slot)));
    }
  }

  private retire(slot: Slot): Promise<void> {
    return new Promise((resolve) => {
      slot.retired = resolve;
      if (!slot.busy) this.remove(slot);
    });
  }

  /** Takes a retired (or retiring, now idle) worker out of service and stops it. */
  private remove(slot: Slot): void {
    const index = this.slots.indexOf(slot);
    if (index >= 0) this.slots.splice(index, 1);
    void slot.worker.terminate().finally(() => slot.retired?.());
  }

  async stop(drainTimeoutMs: number): Promise<void> {
    this.stopping = true;
    if (drainTimeoutMs > 0 && (this.queue.length || this.inlineRuns > 0 || this.slots.some((s) => s.busy))) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, drainTimeoutMs);
        this.drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    for (const p of this.queue.splice(0)) p.reject(unavailable());
    const slots = this.slots.splice(0);
    for (const slot of slots) for (const p of slot.busy ?? []) p.reject(unavailable());
    await Promise.all(slots.map((s) => s.worker.terminate()));
    for (const slot of slots) slot.retired?.();
    const inline = this.inline;
    this.inline = undefined;
    await inline?.session.release().catch(() => undefined);
  }

  private adopt(worker: Worker): void {
    const slot: Slot = { worker, busy: undefined, runId: 0 };
    this.slots.push(slot);
    worker.on("message", (reply: WorkerReply) => this.finish(slot, reply));
    worker.on("error", () => undefined);
    worker.once("exit", () => {
      const index = this.slots.indexOf(slot);
      if (index < 0) return;
      // A worker that died on its own (out of memory, a crash in native code): fail its run and
      // start a replacement so the model keeps its replicas.
      this.slots.splice(index, 1);
      for (const p of slot.busy ?? []) p.reject(new PlatformError("UNAVAILABLE", "the model's worker stopped during this request; retry it"));
      if (slot.retired) slot.retired();
      else if (!this.stopping) {
        startWorker(this.init).then(
          (r) => {
            this.adoptUpToTarget(r.worker);
            this.pump();
          },
          () => undefined,
        );
      }
    });
  }

  /** Adopts a newly started worker unless the model is stopping or already has its replicas. */
  private adoptUpToTarget(worker: Worker): void {
    if (this.stopping || this.slots.filter((s) => !s.retired).length >= this.target) void worker.terminate();
    else this.adopt(worker);
  }

  private pump(): void {
    while (this.queue.length) {
      const slot = this.idleSlot();
      if (!slot) return;
      this.dispatch(slot, this.take());
    }
    if (this.stopping && this.drained && this.inlineRuns === 0 && !this.slots.some((s) => s.busy)) this.drained();
  }

  private idleSlot(): Slot | undefined {
    for (let i = 0; i < this.slots.length; i++) {
      const slot = this.slots[(this.next + i) % this.slots.length]!;
      if (!slot.busy && !slot.retired) {
        this.next = (this.next + i + 1) % this.slots.length;
        return slot;
      }
    }
    return undefined;
  }

  /** The head of the queue plus the queued requests that fit its batch, in arrival order. */
  private take(): Pending[] {
    const head = this.queue.shift()!;
    if (head.key === undefined) return [head];
    const batch = [head];
    let rows = head.rows;
    const rest: Pending[] = [];
    for (const p of this.queue) {
      if (p.key === head.key && rows + p.rows <= this.options.maxBatch) {
        batch.push(p);
        rows += p.rows;
      } else rest.push(p);
    }
    this.queue.splice(0, this.queue.length, ...rest);
    return batch;
  }

  private dispatch(slot: Slot, batch: Pending[]): void {
    const inputs = mergeInputs(batch.map((p) => p.inputs));
    slot.busy = batch;
    slot.runId = this.runIds++;
    this.options.onBatch?.(batch.length, batch.reduce((n, p) => n + p.rows, 0));
    const message: RunMessage = {
      id: slot.runId,
      inputs: inputs.map((t): WireTensor => ({ name: t.name, type: datatypeToOrt(t.datatype), dims: t.shape, data: t.data })),
    };
    // The request's own arrays are not read again, so they move to the worker without a copy.
    const buffers = [...new Set(message.inputs.map((t) => t.data.buffer as ArrayBuffer))];
    slot.worker.postMessage(message, buffers);
  }

  private finish(slot: Slot, reply: WorkerReply): void {
    const batch = slot.busy;
    if (!batch || (reply.type !== "result" && reply.type !== "error") || reply.id !== slot.runId) return;
    slot.busy = undefined;
    if (slot.retired) this.remove(slot);
    if (reply.type === "error") {
      if (batch.length > 1) {
        // One bad request must not fail its neighbours: run each again on its own.
        for (const p of batch) p.key = undefined;
        this.queue.unshift(...batch);
      } else {
        batch[0]!.reject(invalidInput(`the model could not run this request: ${reply.message}`));
      }
    } else {
      try {
        const outputs = reply.outputs.map((o) => this.toTensor(o));
        const split = splitOutputs(outputs, batch.map((p) => p.rows));
        batch.forEach((p, i) => p.resolve(split[i]!));
      } catch (error) {
        for (const p of batch) p.reject(new PlatformError("INTERNAL", `could not split the batched outputs: ${(error as Error).message}`));
      }
    }
    this.pump();
  }

  private toTensor(wire: WireTensor): Tensor {
    const spec = this.outputSpecs.get(wire.name);
    const datatype = spec?.datatype ?? datatypeFromOrt(wire.type);
    if (!datatype) throw unsupportedType(`output '${wire.name}'`, wire.type);
    return { name: wire.name, datatype, shape: wire.dims, data: wire.data };
  }
}

function checkReplicas(replicas: number): void {
  if (!Number.isInteger(replicas) || replicas < 1) throw invalidInput(`replicas must be a positive integer, not ${replicas}`);
}

function unavailable(): PlatformError {
  return new PlatformError("UNAVAILABLE", "the model version is being unloaded; retry against the version now serving");
}

function toSpec(spec: WireSpec, what: string): TensorSpec {
  if (!spec.isTensor || !spec.type) throw new PlatformError("UNSUPPORTED", `${what} '${spec.name}' is not a tensor (a sequence or map); Paved serves tensor inputs and outputs only`);
  const datatype = datatypeFromOrt(spec.type);
  if (!datatype) throw unsupportedType(`${what} '${spec.name}'`, spec.type);
  return { name: spec.name, datatype, shape: (spec.shape ?? []).map((d) => (typeof d === "number" && d >= 0 ? d : -1)) };
}

function startWorker(init: WorkerInit): Promise<{ worker: Worker; inputs: WireSpec[]; outputs: WireSpec[]; runMs?: number | undefined }> {
  const worker = startModuleWorker(import.meta.url, "./onnx-worker", { workerData: init, stdout: false, stderr: false });
  return new Promise((resolve, reject) => {
    const fail = (error: Error) => {
      void worker.terminate();
      reject(error);
    };
    worker.once("message", (reply: WorkerReply) => {
      worker.off("error", onError);
      worker.off("exit", onExit);
      if (reply.type === "ready") resolve({ worker, inputs: reply.inputs, outputs: reply.outputs, runMs: reply.runMs });
      else if (reply.type === "failed") fail(invalidInput(`not a model onnxruntime can load: ${reply.message}`));
      else fail(new PlatformError("INTERNAL", "the model worker answered before it was ready"));
    });
    const onError = (error: Error) => fail(new PlatformError("INTERNAL", `the model worker failed to start: ${error.message}`));
    const onExit = (code: number) => reject(new PlatformError("INTERNAL", `the model worker exited with code ${code} while starting`));
    worker.once("error", onError);
    worker.once("exit", onExit);
  });
}
