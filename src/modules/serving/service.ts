import { createHash } from "node:crypto";
import { join } from "node:path";
import { PlatformError, conflict, invalidInput, isPlatformError, notFound, type Clock, type IdGenerator, type Logger, type ResourceRef } from "../../core/index.ts";
import { DEFAULT_TEAM_ID } from "../../storage/index.ts";
import { ReplicaAutoscaler, SCALE_DEFAULTS, type ScalePolicy } from "./autoscaler.ts";
import { ServingMetrics } from "./metrics.ts";
import { LiveSamples, type SampleSet } from "./live-samples.ts";
import { PredictionLog } from "./prediction-log.ts";
import { EnvironmentName, ModelName, type InferRequest, type InferResponse, type LoadedModelView, type ModelConfig, type ModelMetadata, type ModelStatistics } from "./schema.ts";
import type { ModelHandle, ServingRuntime } from "./serving-runtime.ts";
import { meanAbsoluteDifference, rowScores } from "./prediction-scores.ts";
import { inputValuePrefix, tensorValuePrefix, toInputTensors, toJsonData, type ModelSignature, type Tensor } from "./tensor.ts";

export const SERVING_DEFAULTS = { replicas: 1, maxBatch: 64 } as const;
/**
 * The environment of the unprefixed OIP endpoint (`/v2/models/{name}/…`). Every other environment
 * is served under `/environments/{environment}/v2/…`, with its own loaded versions and router state.
 */
export const DEFAULT_ENVIRONMENT = "production";
/**
 * Where `loadPrivate` puts versions no endpoint serves (evaluations). Not a valid environment
 * name, so no request can name it; nothing there is written to the prediction log.
 */
const PRIVATE_ENVIRONMENT = "(private)";
/** Server-wide bounds (configuration `serving.*`); the teams issue adds quotas below them. */
export const SERVING_LIMITS = {
  /** Largest total size of one request's outputs, in bytes of tensor data (`serving.maxOutputBytes`). */
  maxOutputBytes: 4 * 1024 ** 2,
  /** Most replicas one loaded version may run, autoscaled or not (`serving.maxReplicasPerVersion`). */
  maxReplicasPerVersion: 8,
  /** Largest model a version may load from, in bytes (`serving.maxModelBytes`); every replica holds a copy. */
  maxModelBytes: 1024 ** 3,
} as const;
/** Most tensor values one prediction-log line holds (inputs first, then outputs); the rest is cut, and the line says so. */
export const MAX_LOGGED_VALUES = 16_384;

export interface ServingServiceOptions {
  /** The runtimes by kind; the first is the default for `load`. */
  runtimes: ServingRuntime[];
  dataDir: string;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  /** Share of requests written to the prediction log, 0..1 (default 1). */
  sampleRate?: number;
  /** Whether a bounded sample of live inputs and outcomes is kept for monitors (default true; see drainSamples). */
  liveSamples?: boolean;
  /** Prediction-log cap per model version per second (default 100). */
  sampleMaxPerSecond?: number;
  /** Largest total size of one request's outputs in bytes (default SERVING_LIMITS.maxOutputBytes). */
  maxOutputBytes?: number;
  /** Most replicas per loaded version (default SERVING_LIMITS.maxReplicasPerVersion). */
  maxReplicasPerVersion?: number;
  /** Largest model accepted by `load` (default SERVING_LIMITS.maxModelBytes). */
  maxModelBytes?: number;
  random?: () => number;
  /** How often autoscaled versions are sampled and resized (default 500 ms). */
  autoscaleIntervalMs?: number;
  /** Autoscaler windows (defaults: SCALE_DEFAULTS). */
  autoscaleWindows?: { stableWindowMs: number; panicWindowMs: number; scaleDownDelayMs: number };
}

/**
 * What the control plane needs of what serves, to decide what is loaded (admin routes, the
 * deployment controller) and to read it back: this process's ServingService (data plane inline),
 * or the fleet of data-plane processes (src/dataplane), which keeps the same answers across them.
 */
export interface ServingPlane {
  readonly limits: { maxOutputBytes: number; maxReplicasPerVersion: number; maxModelBytes: number };
  load(input: LoadModelInput): Promise<LoadedModelView>;
  unload(name: string, version: string, environment?: string): Promise<void>;
  /** Whether the version is served in the environment (a map lookup). */
  isLoaded(name: string, version: string, environment?: string): boolean;
  list(environment?: string, teams?: readonly string[]): LoadedModelView[];
  /** Runs a request on a version (the controller's integration tests). */
  infer(name: string, version: string | undefined, request: InferRequest, key?: string, environment?: string): Promise<InferResponse>;
  metricsText(): Promise<string>;
  /** Requests answered per loaded version, keyed `model\0version\0environment` (usage metering). */
  answered(): Promise<Map<string, number>>;
  /** What the served traffic of the monitored versions looked like since the last call (live samples per version); empties it. */
  drainSamples(): SampleSet[];
  /** The versions monitors watch, as `environment/model/version` (monitoredKey): only their traffic is sampled. */
  setMonitored(keys: readonly string[]): void;
  /** Registers the router of versionless requests, where they are answered in this process. */
  setRouter?(router: InferRouter | undefined): void;
  setReplicaRoom?(room: ((team: string) => number | undefined) | undefined): void;
}

/** A version loaded by `loadPrivate`: reachable only through this handle. */
export interface PrivateModel {
  infer(request: InferRequest): Promise<InferResponse>;
  unload(): Promise<void>;
}

export interface LoadModelInput {
  name: string;
  version: string;
  /** The environment whose endpoint serves it (default production, the unprefixed `/v2/models/{name}`). */
  environment?: string;
  /** The team that owns it (its model's, default `default`): only its members reach the endpoint. */
  team?: string;
  /** The serialized model (an .onnx file for the onnx runtime). */
  bytes: Uint8Array;
  /** Replicas to start with, and the fewest the autoscaler keeps (default 1). */
  replicas?: number;
  /** The most replicas the autoscaler may run (default: `replicas`, i.e. no autoscaling). */
  maxReplicas?: number;
  /** Also scale up while the p95 latency is above this and requests queue (default: load only). */
  targetP95Ms?: number;
  /** Most rows one batched run may hold. */
  maxBatch?: number;
  /** Runtime kind; default: the first runtime (onnx). */
  runtime?: string;
}

/** Where a versionless request goes. */
export interface RouteDecision {
  /** The version that answers. */
  version: string;
  /** A version that gets a copy of the request; its answer is recorded and compared, never returned. */
  shadow?: string | undefined;
}

/** A request's answer as tensors, before it is written as JSON or as binary tensor data. */
export interface InferResult {
  model_name: string;
  model_version: string;
  id: string;
  /** The outputs the request asked for (every output when it names none), in the model's order. */
  outputs: Tensor[];
}

/** How one routed request ended on one version. */
export interface RoutedOutcome {
  model: string;
  environment: string;
  version: string;
  role: "primary" | "shadow";
  ok: boolean;
  seconds: number;
  /** The request's routing key (header X-Paved-Route-Key), if it had one. */
  key: string | undefined;
  /** The first output, for prediction-distribution analysis (see rowScores). */
  output: Tensor | undefined;
  /** Shadow only: mean absolute difference between the shadow's and the primary's first output. */
  divergence?: number | undefined;
}

/**
 * Picks the version of requests that name no version, and hears how each routed request ended.
 * Higher modules (deployments) register one; serving never imports them.
 */
export interface InferRouter {
  /** Where a request for `name` in `environment` with this routing key goes; undefined for the default (the environment's most recently loaded version). */
  pick(name: string, key: string | undefined, environment: string): RouteDecision | undefined;
  /** Called once per routed request (and once per shadow copy) with its outcome. */
  observe?(outcome: RoutedOutcome): void;
}

/** Most shadow copies running at once; beyond it copies are dropped (counted), never queued behind users. */
const MAX_SHADOWS_IN_FLIGHT = 32;

interface Loaded {
  view: LoadedModelView;
  runtime: ServingRuntime;
  handle: ModelHandle;
  signature: ModelSignature;
  labels: { model: string; version: string; environment: string };
  /** The signature's output names, and the first one (whose values the metrics and analysis follow). */
  outputNames: Set<string>;
  firstOutput: string | undefined;
  seq: number;
  /** Set when the version is autoscaled (maxReplicas > replicas). */
  scale: ScalePolicy | undefined;
  /** The newest request latencies in ms (a ring), for the autoscaler's latency target. */
  latencies: Float64Array;
  latencyCount: number;
  resizing: boolean;
  /** Whether every input and output has a dynamic first dimension: rows then count as inferences (statistics, config). */
  batchDimension: boolean;
  /** Since the version was first loaded in this process (a replacement keeps counting). */
  statistics: VersionStatistics;
}

/** What the statistics extension reports of one loaded version, kept as requests end (a few additions each). */
interface VersionStatistics {
  lastInference: number;
  inferences: number;
  executions: number;
  successes: number;
  successMs: number;
  failures: number;
  failureMs: number;
}

/** Triton's `platform` for the models of each runtime kind (model configuration extension). */
const TRITON_PLATFORMS: Record<string, { platform: string; backend: string }> = { onnx: { platform: "onnxruntime_onnx", backend: "onnxruntime" } };

/** Latencies kept per version for the autoscaler's p95. */
const LATENCY_RING = 256;

/**
 * Serves model versions: loads them into a runtime, validates OIP requests against their
 * signature, runs them, and records metrics and sampled predictions. What is loaded is decided
 * by the caller (the admin routes and the deployment controller); which version answers a
 * request that names none is decided by the registered router (see setRouter).
 */
export class ServingService implements ServingPlane {
  readonly metrics = new ServingMetrics();
  private readonly runtimes: Map<string, ServingRuntime>;
  /** Loaded versions by environment and model (see slot), then version: environments never share a copy. */
  private readonly models = new Map<string, Map<string, Loaded>>();
  private readonly locks = new Map<string, Promise<unknown>>();
  /** endpointResource's answers by environment and model: made per request, they cost as much as the policy check they feed. */
  private readonly endpoints = new Map<string, Map<string, ResourceRef>>();
  private readonly log: PredictionLog;
  /** What monitors read of live traffic (drained by the control plane; see drainSamples). */
  private readonly samples: LiveSamples;
  private readonly logger: Logger;
  private seq = 0;
  private closing = false;
  private router: InferRouter | undefined;
  private readonly autoscaler: ReplicaAutoscaler;
  private autoscaleTimer: NodeJS.Timeout | undefined;
  private shadowsInFlight = 0;
  /** How many more replicas a team may start (its serving-replica quota); undefined: no limit. */
  private replicaRoom: ((team: string) => number | undefined) | undefined;
  /** Replicas being added by resizes still in flight, per team (not yet in any view's count). */
  private readonly growing = new Map<string, number>();

  constructor(private readonly options: ServingServiceOptions) {
    if (options.runtimes.length === 0) throw new PlatformError("CONFIG", "the serving service needs at least one runtime");
    this.runtimes = new Map(options.runtimes.map((r) => [r.kind, r]));
    this.logger = options.logger;
    this.autoscaler = new ReplicaAutoscaler(options.autoscaleWindows ?? SCALE_DEFAULTS);
    this.samples = new LiveSamples(options.random);
    this.log = new PredictionLog({
      root: join(options.dataDir, "serving"),
      clock: options.clock,
      sampleRate: options.sampleRate ?? 1,
      maxPerSecond: options.sampleMaxPerSecond ?? 100,
      ...(options.random ? { random: options.random } : {}),
    });
  }

  /**
   * Loads (or replaces) a model version. Loading the same bytes with the same options again is a
   * no-op; other bytes or options load a new copy, switch traffic to it, then drain the old one.
   */
  async load(input: LoadModelInput): Promise<LoadedModelView> {
    const environment = input.environment ?? DEFAULT_ENVIRONMENT;
    checkLoad(input, environment, this.limits);
    return this.serialized(`${slot(environment, input.name)}/${input.version}`, () => this.loadNow(input, environment));
  }

  /**
   * Loads a version that no endpoint serves and the prediction log never records (evaluation's
   * runs): only the returned handle reaches it, so a user's model of the same name is untouched.
   */
  async loadPrivate(input: Omit<LoadModelInput, "environment">): Promise<PrivateModel> {
    checkLoad(input, PRIVATE_ENVIRONMENT, this.limits);
    const { name, version } = input;
    await this.serialized(`${slot(PRIVATE_ENVIRONMENT, name)}/${version}`, () => this.loadNow(input, PRIVATE_ENVIRONMENT));
    return {
      infer: (request) => this.infer(name, version, request, undefined, PRIVATE_ENVIRONMENT),
      unload: () => this.unload(name, version, PRIVATE_ENVIRONMENT),
    };
  }

  /** Unloads a version from one environment: new requests get 404, queued ones finish (bounded), workers stop. Other environments' copies stay. */
  unload(name: string, version: string, environment: string = DEFAULT_ENVIRONMENT): Promise<void> {
    const key = slot(environment, name);
    return this.serialized(`${key}/${version}`, async () => {
      const loaded = this.models.get(key)?.get(version);
      if (!loaded) throw notFound(`model '${name}' version '${version}' is not loaded${where(environment)}; see what is loaded with GET /api/v1/serving/models`);
      this.models.get(key)!.delete(version);
      if (this.models.get(key)!.size === 0) this.models.delete(key);
      this.endpoints.get(environment)?.delete(name);
      await this.retire(loaded, true);
    });
  }

  /** Whether this version is loaded in the environment (a map lookup: routers call it per request). */
  isLoaded(name: string, version: string, environment: string = DEFAULT_ENVIRONMENT): boolean {
    return this.models.get(slot(environment, name))?.has(version) ?? false;
  }

  /** The loaded versions (of one environment, or all; of some teams, or all). */
  list(environment?: string, teams?: readonly string[]): LoadedModelView[] {
    return [...this.models.values()]
      .flatMap((versions) => [...versions.values()].map((l) => l.view))
      .filter((v) => (environment === undefined || v.environment === environment) && (teams === undefined || teams.includes(v.team)));
  }

  /**
   * A model's endpoint in an environment as the policy sees it: the team of what is loaded there (a
   * map lookup, no database: inference is the hot path), and the answer a model that is not loaded
   * gets, which a caller of another team gets too. Nothing loaded: no team, and the route answers 404.
   */
  endpointResource(name: string, environment: string = DEFAULT_ENVIRONMENT): ResourceRef {
    const cached = this.endpoints.get(environment)?.get(name);
    if (cached) return cached;
    const team = this.teamOf(name, environment);
    const resource: ResourceRef = Object.freeze({ kind: "endpoint", id: name, ...(team !== undefined ? { team } : {}), notFound: () => notLoaded(name, environment) });
    // Kept only while something is loaded there (forgotten when that changes), so a request naming any model cannot grow the map.
    if (team !== undefined) {
      let byName = this.endpoints.get(environment);
      if (!byName) this.endpoints.set(environment, (byName = new Map()));
      byName.set(name, resource);
    }
    return resource;
  }

  /** The team whose versions of `name` are loaded in `environment`; undefined when none is. */
  teamOf(name: string, environment: string = DEFAULT_ENVIRONMENT): string | undefined {
    return this.models.get(slot(environment, name))?.values().next().value?.view.team;
  }

  /** Server-wide bounds, for callers that check requests before loading (the deployment API). */
  get limits(): { maxOutputBytes: number; maxReplicasPerVersion: number; maxModelBytes: number } {
    return {
      maxOutputBytes: this.options.maxOutputBytes ?? SERVING_LIMITS.maxOutputBytes,
      maxReplicasPerVersion: this.options.maxReplicasPerVersion ?? SERVING_LIMITS.maxReplicasPerVersion,
      maxModelBytes: this.options.maxModelBytes ?? SERVING_LIMITS.maxModelBytes,
    };
  }

  /** OIP model metadata of a version in an environment (default: its most recently loaded one). */
  metadata(name: string, version?: string, environment: string = DEFAULT_ENVIRONMENT): ModelMetadata {
    const loaded = this.resolve(name, version, environment);
    const spec = (t: { name: string; datatype: string; shape: number[] }) => ({ name: t.name, datatype: t.datatype, shape: t.shape });
    return {
      name,
      versions: [...this.models.get(slot(environment, name))!.keys()],
      platform: loaded.runtime.platform,
      inputs: loaded.signature.inputs.map(spec),
      outputs: loaded.signature.outputs.map(spec),
    };
  }

  /** Whether the version is loaded in the environment and accepting requests (throws NOT_FOUND when not loaded). */
  ready(name: string, version?: string, environment: string = DEFAULT_ENVIRONMENT): { name: string; version: string; ready: boolean } {
    const loaded = this.resolve(name, version, environment);
    return { name, version: loaded.view.version, ready: !this.closing };
  }

  /**
   * A version's configuration as Triton's model configuration extension answers it (its ModelConfig
   * as JSON), from what Paved knows: signature, batching, replicas. A batchable model (every input
   * and output with a dynamic first dimension) reports `max_batch_size` and dims without that dimension.
   */
  modelConfig(name: string, version?: string, environment: string = DEFAULT_ENVIRONMENT): ModelConfig {
    const loaded = this.resolve(name, version, environment);
    const batch = loaded.batchDimension;
    const tensor = (t: { name: string; datatype: string; shape: number[] }) => ({ name: t.name, data_type: `TYPE_${t.datatype}`, dims: batch ? t.shape.slice(1) : t.shape });
    const { view } = loaded;
    const triton = TRITON_PLATFORMS[loaded.runtime.kind] ?? { platform: loaded.runtime.platform, backend: loaded.runtime.kind };
    return {
      name,
      ...triton,
      version_policy: { specific: { versions: [view.version] } },
      max_batch_size: batch ? view.maxBatch : 0,
      input: loaded.signature.inputs.map(tensor),
      output: loaded.signature.outputs.map(tensor),
      instance_group: [{ name, kind: loaded.runtime.capabilities.has("gpu") ? "KIND_GPU" : "KIND_CPU", count: view.replicas }],
      parameters: {
        "paved.version": { string_value: view.version },
        "paved.environment": { string_value: view.environment },
        "paved.team": { string_value: view.team },
        "paved.runtime": { string_value: view.runtime },
        "paved.sha256": { string_value: view.sha256 },
        "paved.min_replicas": { string_value: String(view.minReplicas) },
        "paved.max_replicas": { string_value: String(view.maxReplicas) },
      },
    };
  }

  /**
   * Statistics of loaded versions (Triton's statistics extension): one version, every version of one
   * model, or (no name) every version loaded in the environment for the given teams. Durations are
   * whole requests as the server saw them (validation, queue, run, outputs); Paved does not time
   * queue and compute apart, so those and the per-batch-size figures stay at zero.
   */
  statistics(name: string | undefined, version: string | undefined, environment: string = DEFAULT_ENVIRONMENT, teams?: readonly string[]): ModelStatistics[] {
    let chosen: Loaded[];
    if (name === undefined) {
      chosen = [...this.models.entries()].filter(([key]) => key.startsWith(`${environment}/`)).flatMap(([, versions]) => [...versions.values()]);
      if (teams) chosen = chosen.filter((l) => teams.includes(l.view.team));
    } else if (version !== undefined) {
      chosen = [this.resolve(name, version, environment)];
    } else {
      chosen = [...(this.models.get(slot(environment, name))?.values() ?? [])];
      if (chosen.length === 0) throw notLoaded(name, environment);
    }
    const zero = { count: 0, ns: 0 };
    return chosen
      .sort((a, b) => a.labels.model.localeCompare(b.labels.model) || a.seq - b.seq)
      .map(({ labels, view, statistics: s }) => ({
        name: labels.model,
        version: view.version,
        last_inference: s.lastInference,
        inference_count: s.inferences,
        execution_count: s.executions,
        inference_stats: {
          success: { count: s.successes, ns: Math.round(s.successMs * 1e6) },
          fail: { count: s.failures, ns: Math.round(s.failureMs * 1e6) },
          queue: zero,
          compute_input: zero,
          compute_infer: zero,
          compute_output: zero,
          cache_hit: zero,
        },
        batch_stats: [],
      }));
  }

  /** Server readiness: false once the service is closing. */
  serverReady(): boolean {
    return !this.closing;
  }

  /**
   * Registers what bounds autoscaling by team (guardrails' ledger: the team's serving-replica quota
   * less what its loaded versions run). Synchronous: the autoscaler asks between requests.
   */
  setReplicaRoom(room: ((team: string) => number | undefined) | undefined): void {
    this.replicaRoom = room;
  }

  /** Registers the router of versionless requests (one at a time; undefined removes it). */
  setRouter(router: InferRouter | undefined): void {
    this.router = router;
  }

  /**
   * Runs a request. Without a version the registered router picks one (by `key` where it splits
   * traffic stickily) and may name a shadow version that gets a copy after the answer is ready.
   */
  async infer(name: string, version: string | undefined, request: InferRequest, key?: string, environment: string = DEFAULT_ENVIRONMENT): Promise<InferResponse> {
    const result = await this.inferTensors(name, version, request, key, environment);
    return { ...result, outputs: result.outputs.map((o) => ({ name: o.name, shape: o.shape, datatype: o.datatype, data: toJsonData(o) })) };
  }

  /**
   * `infer`, answered as tensors: for a caller that writes them itself (the OIP routes, which send
   * outputs asked for as binary tensor data as their bytes, never as JSON numbers).
   */
  async inferTensors(name: string, version: string | undefined, request: InferRequest, key?: string, environment: string = DEFAULT_ENVIRONMENT): Promise<InferResult> {
    const started = performance.now();
    const decision = version === undefined ? this.router?.pick(name, key, environment) : undefined;
    // A picked version that is not loaded (any more) falls back to the default: traffic only reaches loaded versions of this environment.
    const loaded =
      decision !== undefined && this.models.get(slot(environment, name))?.has(decision.version) ? this.resolve(name, decision.version, environment) : this.resolve(name, version, environment);
    const routed = version === undefined ? this.router : undefined;
    try {
      const { response, first } = await this.run(loaded, request, started);
      routed?.observe?.({ model: name, environment, version: loaded.view.version, role: "primary", ok: true, seconds: (performance.now() - started) / 1000, key, output: first });
      if (decision?.shadow !== undefined && decision.shadow !== loaded.view.version) this.shadow(name, environment, decision.shadow, request, key, response.id, first);
      return response;
    } catch (error) {
      routed?.observe?.({ model: name, environment, version: loaded.view.version, role: "primary", ok: false, seconds: (performance.now() - started) / 1000, key, output: undefined });
      throw error;
    }
  }

  /** Validates and runs a request on one loaded version, recording metrics and the sampled prediction log. */
  private async run(loaded: Loaded, request: InferRequest, started: number, id?: string): Promise<{ response: InferResult; first: Tensor | undefined }> {
    const statistics = loaded.statistics;
    const monitored = this.options.liveSamples !== false && this.samples.watches(loaded.labels);
    try {
      const inputs = toInputTensors(loaded.signature, request.inputs);
      const unknown = request.outputs?.filter((o) => !loaded.outputNames.has(o.name)) ?? [];
      if (unknown.length) {
        throw invalidInput(`unknown output ${unknown.map((o) => `'${o.name}'`).join(", ")}; the model's outputs are ${[...loaded.outputNames].join(", ")}`);
      }
      // Read before the run: the inputs' arrays move to the worker.
      const inferences = loaded.batchDimension ? (inputs[0]?.shape[0] ?? 1) : 1;
      const offer = monitored ? this.samples.offer(loaded.labels, inputs[0]) : undefined;
      const outputs = await loaded.runtime.infer(loaded.handle, inputs);
      this.checkOutputSize(outputs);
      const wanted = request.outputs ? new Set(request.outputs.map((o) => o.name)) : undefined;
      const response: InferResult = {
        model_name: loaded.labels.model,
        model_version: loaded.view.version,
        id: id ?? request.id ?? this.options.ids.hex32(),
        outputs: wanted ? outputs.filter((o) => wanted.has(o.name)) : outputs,
      };
      const ms = performance.now() - started;
      const seconds = ms / 1000;
      loaded.latencies[loaded.latencyCount++ % LATENCY_RING] = ms;
      statistics.successes++;
      statistics.successMs += ms;
      statistics.inferences += inferences;
      statistics.lastInference = this.options.clock.now();
      const first = outputs.find((o) => o.name === loaded.firstOutput);
      this.metrics.request(loaded.labels, seconds);
      this.metrics.predictions(loaded.labels, first);
      if (monitored) this.samples.answered(loaded.labels, offer, offer ? rowScores(first) : undefined, seconds);
      if (loaded.labels.environment !== PRIVATE_ENVIRONMENT && this.log.sample(loaded.labels)) this.logPrediction(loaded, request, response, seconds);
      return { response, first };
    } catch (error) {
      statistics.failures++;
      statistics.failureMs += performance.now() - started;
      this.metrics.error(loaded.labels, isPlatformError(error) ? error.code : "INTERNAL");
      if (monitored) this.samples.failed(loaded.labels, isPlatformError(error) ? error.code : "INTERNAL");
      throw error;
    }
  }

  /** Sends a copy of an answered request to the shadow version; its answer is logged under the same id and discarded. */
  private shadow(name: string, environment: string, version: string, request: InferRequest, key: string | undefined, id: string, primary: Tensor | undefined): void {
    const loaded = this.models.get(slot(environment, name))?.get(version);
    if (!loaded) return;
    if (this.shadowsInFlight >= MAX_SHADOWS_IN_FLIGHT) {
      this.metrics.shadowDropped(loaded.labels);
      return;
    }
    this.shadowsInFlight++;
    const started = performance.now();
    const observe = (ok: boolean, first: Tensor | undefined) =>
      this.router?.observe?.({ model: name, environment, version, role: "shadow", ok, seconds: (performance.now() - started) / 1000, key, output: first, divergence: meanAbsoluteDifference(first, primary) });
    this.run(loaded, request, started, id).then(
      ({ first }) => observe(true, first),
      () => observe(false, undefined),
    ).finally(() => this.shadowsInFlight--);
  }

  drainSamples(): SampleSet[] {
    return this.samples.drain();
  }

  setMonitored(keys: readonly string[]): void {
    this.samples.setMonitored(keys);
  }

  /** Prometheus text exposition of the serving metrics. */
  metricsText(): Promise<string> {
    return this.metrics.text();
  }

  async answered(): Promise<Map<string, number>> {
    const counter = this.metrics.registry.getSingleMetric("paved_serving_requests_total");
    return new Map(((await counter?.get())?.values ?? []).map((v) => [`${v.labels.model}\0${v.labels.version}\0${v.labels.environment}`, v.value]));
  }

  /** Stops every runtime (terminating their workers) and flushes the prediction logs. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.autoscaleTimer) clearInterval(this.autoscaleTimer);
    this.models.clear();
    this.endpoints.clear();
    await Promise.all([...this.runtimes.values()].map((r) => r.close()));
    await this.log.close();
  }

  private async loadNow(input: LoadModelInput, environment: string): Promise<LoadedModelView> {
    if (this.closing) throw new PlatformError("UNAVAILABLE", "the server is shutting down; load the model after it restarts");
    const runtime = this.runtime(input.runtime);
    const replicas = input.replicas ?? SERVING_DEFAULTS.replicas;
    const maxReplicas = input.maxReplicas ?? replicas;
    const maxBatch = input.maxBatch ?? SERVING_DEFAULTS.maxBatch;
    const sha256 = createHash("sha256").update(input.bytes).digest("hex");
    const key = slot(environment, input.name);
    const previous = this.models.get(key)?.get(input.version);
    const targetP95Ms = input.targetP95Ms ?? null;
    const team = input.team ?? DEFAULT_TEAM_ID;
    const owner = environment === PRIVATE_ENVIRONMENT ? undefined : this.teamOf(input.name, environment);
    checkOwner(input, environment, owner);
    if (
      previous &&
      previous.view.sha256 === sha256 &&
      previous.view.minReplicas === replicas &&
      previous.view.maxReplicas === maxReplicas &&
      (previous.scale?.targetP95Ms ?? null) === targetP95Ms &&
      previous.view.maxBatch === maxBatch &&
      previous.runtime === runtime
    ) {
      return previous.view;
    }
    const labels = { model: input.name, version: input.version, environment };
    const statistics: VersionStatistics = previous?.statistics ?? { lastInference: 0, inferences: 0, executions: 0, successes: 0, successMs: 0, failures: 0, failureMs: 0 };
    const onBatch = (requests: number) => {
      this.metrics.batch(labels, requests);
      statistics.executions++;
    };
    const handle = await runtime.load(input.bytes, { replicas, maxBatch, onBatch });
    const signature = runtime.metadata(handle);
    const loaded: Loaded = {
      view: {
        name: input.name,
        version: input.version,
        environment,
        team,
        runtime: runtime.kind,
        platform: runtime.platform,
        replicas,
        minReplicas: replicas,
        maxReplicas,
        maxBatch,
        sha256,
        sizeBytes: input.bytes.byteLength,
        loadedAt: this.options.clock.now(),
        execution: runtime.stats(handle).inline ? "inline" : "workers",
      },
      runtime,
      handle,
      signature,
      labels,
      outputNames: new Set(signature.outputs.map((o) => o.name)),
      firstOutput: signature.outputs[0]?.name,
      seq: ++this.seq,
      scale: maxReplicas > replicas ? { minReplicas: replicas, maxReplicas, targetLoadPerReplica: SCALE_DEFAULTS.targetLoadPerReplica, targetP95Ms } : undefined,
      latencies: new Float64Array(LATENCY_RING),
      latencyCount: 0,
      resizing: false,
      batchDimension: [...signature.inputs, ...signature.outputs].every((t) => t.shape.length > 0 && t.shape[0] === -1),
      statistics,
    };
    if (loaded.scale && !this.autoscaleTimer) {
      this.autoscaleTimer = setInterval(() => this.autoscale(), this.options.autoscaleIntervalMs ?? 500);
      this.autoscaleTimer.unref();
    }
    if (!this.models.has(key)) this.models.set(key, new Map());
    this.models.get(key)!.set(input.version, loaded);
    this.endpoints.get(environment)?.delete(input.name);
    this.metrics.replicas(labels, replicas);
    this.logger.info({ model: input.name, version: input.version, environment, replicas, sha256 }, previous ? "model version replaced" : "model version loaded");
    if (previous) await this.retire(previous, false);
    return loaded.view;
  }

  /** One autoscaler pass: samples every autoscaled version and resizes those whose replica count should change. */
  private autoscale(): void {
    const now = this.options.clock.now();
    for (const versions of this.models.values()) {
      for (const loaded of versions.values()) {
        if (!loaded.scale || loaded.resizing) continue;
        const key = `${slot(loaded.labels.environment, loaded.labels.model)}/${loaded.labels.version}`;
        this.autoscaler.observe(key, now, loaded.runtime.stats(loaded.handle));
        const current = loaded.view.replicas;
        const asked = this.autoscaler.desired(key, now, current, loaded.scale, p95(loaded));
        const team = loaded.view.team;
        // Scaling up draws on the team's serving-replica quota: stop at it, and say so on the version.
        const room = asked > current && loaded.labels.environment !== PRIVATE_ENVIRONMENT ? this.replicaRoom?.(team) : undefined;
        const free = room === undefined ? undefined : Math.max(0, room - (this.growing.get(team) ?? 0));
        const wanted = free === undefined ? asked : Math.min(asked, current + free);
        if (wanted < asked) {
          loaded.view.scaleLimit = `held at ${wanted} of the ${asked} replicas its load asks for: team ${team} is at its serving-replica quota; ask a platform admin to raise it (paved quotas set ${team} --serving-replicas <n>)`;
        } else {
          delete loaded.view.scaleLimit;
        }
        if (wanted === current) continue;
        const growth = Math.max(0, wanted - current);
        this.growing.set(team, (this.growing.get(team) ?? 0) + growth);
        loaded.resizing = true;
        this.serialized(key, () => loaded.runtime.resize(loaded.handle, wanted))
          .then(
            () => {
              loaded.view.replicas = wanted;
              this.metrics.replicas(loaded.labels, wanted);
              this.logger.info({ ...loaded.labels, from: current, to: wanted }, "model version autoscaled");
            },
            (error: unknown) => this.logger.warn({ ...loaded.labels, reason: (error as Error).message }, "autoscaling failed; retrying"),
          )
          .finally(() => {
            loaded.resizing = false;
            this.growing.set(team, (this.growing.get(team) ?? 0) - growth);
          });
      }
    }
  }

  private async retire(loaded: Loaded, forgetMetrics: boolean): Promise<void> {
    this.autoscaler.forget(`${slot(loaded.labels.environment, loaded.labels.model)}/${loaded.labels.version}`);
    await loaded.runtime.unload(loaded.handle);
    if (forgetMetrics) {
      await this.metrics.forget(loaded.labels);
      await this.log.close(loaded.labels);
    }
    this.logger.info(loaded.labels, "model version unloaded");
  }

  /**
   * Refuses a request whose outputs exceed serving.maxOutputBytes, before they are turned into
   * JSON, measured, logged or compared (a model can answer one float with megabytes).
   */
  private checkOutputSize(outputs: Tensor[]): void {
    const limit = this.limits.maxOutputBytes;
    let bytes = 0;
    for (const o of outputs) bytes += o.data.byteLength;
    if (bytes > limit) {
      throw new PlatformError(
        "PAYLOAD_TOO_LARGE",
        `the model's outputs for this request hold ${bytes} bytes, above this server's limit of ${limit} bytes per request (serving.maxOutputBytes); send fewer rows per request, or ask an admin to raise serving.maxOutputBytes`,
        { outputBytes: bytes, limit, setting: "serving.maxOutputBytes" },
      );
    }
  }

  private resolve(name: string, version: string | undefined, environment: string): Loaded {
    const versions = this.models.get(slot(environment, name));
    if (!versions) throw notLoaded(name, environment);
    if (version === undefined) {
      let latest: Loaded | undefined;
      for (const l of versions.values()) if (!latest || l.seq > latest.seq) latest = l;
      return latest!;
    }
    const loaded = versions.get(version);
    if (!loaded) throw notFound(`model '${name}' has no loaded version '${version}'${where(environment)}; loaded versions there: ${[...versions.keys()].join(", ")}`);
    return loaded;
  }

  private runtime(kind: string | undefined): ServingRuntime {
    if (kind === undefined) return this.options.runtimes[0]!;
    const runtime = this.runtimes.get(kind);
    if (!runtime) throw invalidInput(`unknown serving runtime '${kind}'; known runtimes: ${[...this.runtimes.keys()].join(", ")}`);
    return runtime;
  }


  /**
   * Writes one bounded line: at most MAX_LOGGED_VALUES tensor values in all, inputs first (drift
   * monitoring reads them), then outputs; a tensor cut short keeps its full shape and says
   * `truncated`, so a large request or output never becomes a large line.
   */
  private logPrediction(loaded: Loaded, request: InferRequest, response: InferResult, seconds: number): void {
    let budget = MAX_LOGGED_VALUES;
    const bounded = (t: { name: string; shape: number[]; datatype: string }, prefix: (max: number) => { values: unknown[]; truncated: boolean }) => {
      const { values, truncated } = prefix(budget);
      budget -= values.length;
      return { name: t.name, shape: t.shape, datatype: t.datatype, data: values, ...(truncated ? { truncated: true } : {}) };
    };
    this.log.write({
      time: new Date(this.options.clock.now()).toISOString(),
      id: response.id,
      model: loaded.labels.model,
      version: loaded.labels.version,
      environment: loaded.labels.environment,
      latencyMs: Math.round(seconds * 1e6) / 1e3,
      // Binary inputs are logged as the values they hold, as JSON ones are: drift monitoring reads them.
      inputs: request.inputs.map((t) => bounded(t, (max) => inputValuePrefix(t.datatype, t.data, max))),
      outputs: response.outputs.map((t) => bounded(t, (max) => tensorValuePrefix(t, max))),
    });
  }

  /** Runs `task` after the previous task on the same key (load/unload of one version never interleave). */
  private serialized<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(key) ?? Promise.resolve();
    const next = previous.then(task, task);
    const settled = next.catch(() => undefined);
    this.locks.set(key, settled);
    void settled.then(() => {
      if (this.locks.get(key) === settled) this.locks.delete(key);
    });
    return next;
  }
}

/** p95 of a version's newest latencies in ms; null before 20 requests. */
function p95(loaded: Loaded): number | null {
  const n = Math.min(loaded.latencyCount, LATENCY_RING);
  if (n < 20) return null;
  const sorted = loaded.latencies.slice(0, n).sort();
  return sorted[Math.ceil(n * 0.95) - 1]!;
}

/** The key of one environment's model in the loaded-versions map ('/' is in neither name). */
function slot(environment: string, name: string): string {
  return `${environment}/${name}`;
}

/**
 * What a request for a model that is not loaded gets, and a request for another team's model too:
 * it names nothing that is loaded (that would tell other teams' models).
 */
function notLoaded(name: string, environment: string): PlatformError {
  return notFound(`model '${name}' is not loaded${where(environment)}; see the models you can call with GET /api/v1/serving/models (\`paved deployments ls\` shows what is deployed where)`);
}

/** " in environment 'staging'" for messages; nothing for the default environment. */
function where(environment: string): string {
  return environment === DEFAULT_ENVIRONMENT ? "" : ` in environment '${environment}'`;
}

/**
 * The checks a load passes before anything is loaded, here or on the data plane (whose fleet calls
 * it too): names, environment, replica counts, the model's size, and, given the team that serves the
 * endpoint now, one team per endpoint.
 */
export function checkLoad(input: LoadModelInput, environment: string, limits: ServingPlane["limits"], owner?: string): void {
  checkName(input.name, "model name");
  checkName(input.version, "model version");
  if (environment !== PRIVATE_ENVIRONMENT) checkEnvironment(environment);
  const replicas = input.replicas ?? SERVING_DEFAULTS.replicas;
  const maxReplicas = input.maxReplicas ?? replicas;
  if (maxReplicas < replicas) throw invalidInput(`maxReplicas (${maxReplicas}) is below replicas (${replicas}); give maxReplicas ≥ replicas, or leave it out for a fixed count`);
  checkReplicaLimit(Math.max(replicas, maxReplicas), limits.maxReplicasPerVersion);
  if (input.bytes.byteLength > limits.maxModelBytes) {
    throw new PlatformError("PAYLOAD_TOO_LARGE", `the model is ${input.bytes.byteLength} bytes, above this server's limit of ${limits.maxModelBytes} (serving.maxModelBytes); ask an admin to raise serving.maxModelBytes`, {
      sizeBytes: input.bytes.byteLength,
      limit: limits.maxModelBytes,
      setting: "serving.maxModelBytes",
    });
  }
  checkOwner(input, environment, owner);
}

/** One endpoint, one team: its members alone reach it. */
function checkOwner(input: LoadModelInput, environment: string, owner: string | undefined): void {
  if (owner !== undefined && owner !== (input.team ?? DEFAULT_TEAM_ID)) {
    throw conflict(`model '${input.name}'${where(environment)} is served for another team; unload its versions there first (DELETE /api/v1/serving/models/${input.name}/versions/<version>)`);
  }
}

function checkReplicaLimit(replicas: number, limit: number): void {
  if (replicas > limit) {
    throw invalidInput(`${replicas} replicas per version is above this server's limit of ${limit} (serving.maxReplicasPerVersion); ask for at most ${limit}, or ask an admin to raise serving.maxReplicasPerVersion`, {
      replicas,
      limit,
      setting: "serving.maxReplicasPerVersion",
    });
  }
}

function checkEnvironment(value: string): void {
  if (!EnvironmentName.safeParse(value).success) {
    throw invalidInput(`environment '${value}' is not allowed; use lower-case letters, digits and '-' (at most 63, starting with a letter), e.g. staging`);
  }
}

function checkName(value: string, what: string): void {
  if (!ModelName.safeParse(value).success) {
    throw invalidInput(`${what} '${value}' is not allowed; use letters, digits, '.', '_' and '-' (at most 128, starting with a letter or digit)`);
  }
}
