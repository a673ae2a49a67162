import type { ModelSignature, Tensor } from "./tensor.ts";

/** What a runtime may offer beyond the verbs: batching concurrent requests into one run. */
export type RuntimeCapability = "batching" | "cpu" | "gpu";

/** A loaded model version inside a runtime. Opaque: only the runtime that made it reads it. */
export interface ModelHandle {
  readonly runtime: string;
  readonly id: string;
}

export interface LoadOptions {
  /** Workers (or processes, pods) that each hold their own copy of the model. */
  replicas: number;
  /** Most rows one batched run may hold. */
  maxBatch: number;
  /** Told once per run with how many requests and rows it held (for metrics). */
  onBatch?(requests: number, rows: number): void;
}

/** A snapshot of one loaded model's replicas. */
export interface ReplicaStats {
  /** Replicas running (during a shrink, also those finishing their last run). */
  replicas: number;
  /** Replicas running a batch now. */
  busy: number;
  /** Requests waiting for a replica. */
  queued: number;
  /** Whether small requests run on the calling thread (OnnxRuntime's inlineBelowMs). */
  inline?: boolean;
}

/**
 * A serving backend: loads model bytes, runs inference on validated tensors, unloads. One
 * instance serves many models and versions at once.
 */
export interface ServingRuntime {
  readonly kind: string;
  /** The OIP `platform` reported in model metadata. */
  readonly platform: string;
  readonly capabilities: ReadonlySet<RuntimeCapability>;
  /** Loads a model from its serialized bytes; resolves once every replica is ready. */
  load(bytes: Uint8Array, options: LoadOptions): Promise<ModelHandle>;
  /** The model's inputs and outputs (-1 for dynamic dimensions). */
  metadata(handle: ModelHandle): ModelSignature;
  /** Runs one request; `inputs` already match the signature. Returns every output. */
  infer(handle: ModelHandle, inputs: Tensor[]): Promise<Tensor[]>;
  /**
   * Grows or shrinks the model's replicas; resolves once exactly `replicas` are running. Shrinking
   * retires idle replicas first and lets busy ones finish their run; queued requests are never
   * dropped (they go to the replicas that stay).
   */
  resize(handle: ModelHandle, replicas: number): Promise<void>;
  /** What the model's replicas are doing now (for autoscaling). */
  stats(handle: ModelHandle): ReplicaStats;
  /** Stops the model's replicas; requests still queued fail with UNAVAILABLE. */
  unload(handle: ModelHandle): Promise<void>;
  /** Unloads everything. */
  close(): Promise<void>;
}
