// Predictions: batch inference. A registered ONNX model version runs over a dataset version's CSV
// or Parquet files in chunks (DuckDB reads, worker threads infer) and the output is a new version
// of a dataset with lineage to both. Above registry, serving, evaluation and datasets; a
// prediction is a resource (spec and status in the database) that a controller runs, so a restart
// queues a running one again instead of forgetting it.
import { join } from "node:path";
import type { RouteDefinition } from "../../core/index.ts";
import type { PlatformDeps } from "../platform-deps.ts";
import { PredictionController } from "./controller.ts";
import { BatchInferenceEngine, defaultWorkers } from "./engine.ts";
import { predictionRoutes } from "./routes.ts";
import { PredictionService, type PredictionDatasets, type PredictionRegistry } from "./service.ts";
import { PredictionStore } from "./store.ts";

export { PredictionService, type PredictionDatasets, type PredictionRegistry } from "./service.ts";
export { BatchInferenceEngine, Cancelled, defaultWorkers, type EngineOptions, type EngineRequest, type EngineResult, type InputFile } from "./engine.ts";
export { predictStep } from "./step.ts";
export { signatureFromRegistry, type FeatureNames, type KeepColumns } from "./columns.ts";
export * from "./schema.ts";

export interface PredictionsDeps extends PlatformDeps {
  registry: PredictionRegistry;
  datasets: PredictionDatasets;
  /** How often the controller looks for queued predictions (tests go faster). */
  intervalMs?: number;
}

export interface PredictionsModule {
  /**
   * Batch predictions: `create(spec, principal)` queues one (a pipeline's `predict:` step calls it,
   * then follows `get(id)` until its phase is SUCCEEDED, FAILED or CANCELLED), `cancel(id, principal)`.
   */
  service: PredictionService;
  routes: RouteDefinition[];
  controller: { start(): void; stop(): Promise<void> };
}

export function createPredictionsModule(deps: PredictionsDeps): PredictionsModule {
  const settings = deps.config.predictions;
  const logger = deps.logger.child({ module: "predictions" });
  const store = new PredictionStore(deps.database.db);
  const scratchDir = join(deps.config.dataDir, "predictions");
  const engine = new BatchInferenceEngine({
    workers: settings.workers === "auto" ? defaultWorkers() : settings.workers,
    chunkRows: settings.chunkRows,
    scratchDir: join(scratchDir, "engine"),
    memoryLimitMiB: settings.memoryLimitMiB,
    duckdbThreads: settings.duckdbThreads,
    inspection: deps.config.registry.onnx,
  });
  const controller = new PredictionController({
    store,
    registry: deps.registry,
    datasets: deps.datasets,
    artifacts: deps.artifacts,
    engine,
    clock: deps.clock,
    logger,
    scratchDir: join(scratchDir, "runs"),
    concurrency: settings.concurrency,
    intervalMs: deps.intervalMs ?? settings.intervalSeconds * 1000,
  });
  const service = new PredictionService({ store, registry: deps.registry, datasets: deps.datasets, clock: deps.clock, ids: deps.ids, kick: () => controller.kick() });
  return { service, routes: predictionRoutes(service), controller };
}
