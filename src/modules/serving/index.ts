// Serving: loads model versions into runtimes (ONNX in worker threads today) and answers the
// KServe Open Inference Protocol v2 (with Triton's binary tensor data, model configuration and
// statistics extensions, so tritonclient works as it is), with metrics and sampled prediction
// logs. It takes model bytes and never reads the registry: what is loaded is decided by the caller
// (the deployment controller). Every loaded copy belongs to one environment, whose endpoint alone
// can reach it.
import type { Clock, IdGenerator, Logger, RouteDefinition } from "../../core/index.ts";
import { OnnxRuntime, type OnnxRuntimeOptions } from "./onnx-runtime.ts";
import { oipRoutes, servingRoutes } from "./routes.ts";
import { ServingService } from "./service.ts";

export { ServingService, checkLoad, SERVING_DEFAULTS, SERVING_LIMITS, DEFAULT_ENVIRONMENT, MAX_LOGGED_VALUES, type LoadModelInput, type PrivateModel, type ServingServiceOptions, type InferRouter, type ServingPlane, type InferResult, type RouteDecision, type RoutedOutcome } from "./service.ts";
export { rowScores } from "./prediction-scores.ts";
export { LiveSamples, sampleRows, encodeSampleSets, decodeSampleSets, monitoredKey, type SampleSet, MAX_ROWS as MAX_SAMPLED_ROWS, type SampleRows } from "./live-samples.ts";
export { ROUTE_KEY_HEADER, ENVIRONMENT_PREFIX, answerInfer, oipRoutes, oipServerRoutes, servingRoutes, metricsRoute, type ServingRouteOptions } from "./routes.ts";
export { OnnxRuntime, type OnnxRuntimeOptions } from "./onnx-runtime.ts";
export type { ServingRuntime, ModelHandle, LoadOptions, RuntimeCapability } from "./serving-runtime.ts";
export type { Tensor, TensorSpec, ModelSignature, Datatype } from "./tensor.ts";
export { InferRequest, InferResponse, ModelMetadata, LoadedModelView, EnvironmentName, ModelName, isEnvironmentName, isModelName } from "./schema.ts";

export interface ServingModuleDeps {
  dataDir: string;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  /** Largest infer request body (default 16 MiB). */
  maxRequestBytes?: number;
  /** Largest model upload through the admin route (default 1 GiB). */
  maxModelBytes?: number;
  /** Share of requests written to the prediction log (default 1). */
  sampleRate?: number;
  /** Prediction-log cap per model version per second (default 100). */
  sampleMaxPerSecond?: number;
  /** Whether live samples are kept for monitors (default true). */
  liveSamples?: boolean;
  /** Largest total size of one request's outputs, in bytes (default 4 MiB; PAYLOAD_TOO_LARGE beyond). */
  maxOutputBytes?: number;
  /** Most replicas one loaded version may run (default 8; INVALID_INPUT beyond). */
  maxReplicasPerVersion?: number;
  /** Most requests waiting for a worker per loaded version (default 1,024; UNAVAILABLE beyond). */
  maxQueuedRequests?: number;
  /** Small requests of a version whose one-row run measures at most this (ms) run on the HTTP thread (default: off). */
  inlineBelowMs?: number;
  onnx?: OnnxRuntimeOptions;
}

/** Builds the serving service (with the ONNX runtime) and its OIP v2 and admin routes. */
export function createServingModule(deps: ServingModuleDeps): { service: ServingService; routes: RouteDefinition[] } {
  const service = new ServingService({
    runtimes: [
      new OnnxRuntime({
        ...deps.onnx,
        ...(deps.maxQueuedRequests !== undefined ? { maxQueuedPerVersion: deps.maxQueuedRequests } : {}),
        ...(deps.inlineBelowMs !== undefined ? { inlineBelowMs: deps.inlineBelowMs } : {}),
      }),
    ],
    dataDir: deps.dataDir,
    clock: deps.clock,
    ids: deps.ids,
    logger: deps.logger.child({ module: "serving" }),
    ...(deps.sampleRate !== undefined ? { sampleRate: deps.sampleRate } : {}),
    ...(deps.sampleMaxPerSecond !== undefined ? { sampleMaxPerSecond: deps.sampleMaxPerSecond } : {}),
    ...(deps.liveSamples !== undefined ? { liveSamples: deps.liveSamples } : {}),
    ...(deps.maxOutputBytes !== undefined ? { maxOutputBytes: deps.maxOutputBytes } : {}),
    ...(deps.maxReplicasPerVersion !== undefined ? { maxReplicasPerVersion: deps.maxReplicasPerVersion } : {}),
    ...(deps.maxModelBytes !== undefined ? { maxModelBytes: deps.maxModelBytes } : {}),
  });
  const limits = { maxRequestBytes: deps.maxRequestBytes ?? 16 * 1024 ** 2, maxModelBytes: deps.maxModelBytes ?? 1024 ** 3 };
  return { service, routes: [...oipRoutes(service, limits), ...servingRoutes(service, limits)] };
}
