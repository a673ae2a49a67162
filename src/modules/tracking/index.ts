// Tracking: experiments, runs, params, metrics, tags, dataset inputs (lineage) and run artifacts,
// served both as Paved's /api/v1 and as MLflow's REST API so the unmodified mlflow client works.
// Metric logging is the hot path: one transaction per request, prepared statements on SQLite.
import type { RouteDefinition } from "../../core/index.ts";
import { teamForNew } from "../identity/index.ts";
import { directUploadRoutes } from "./direct-upload-routes.ts";
import { DirectUploadService } from "./direct-uploads.ts";
import { mlflowRoutes } from "./mlflow-routes.ts";
import { trackingRoutes } from "./routes.ts";
import { TrackingService } from "./service.ts";
import { RunCollector, gcController } from "./gc.ts";
import { gcRoutes } from "./gc-routes.ts";
import type { PlatformDeps } from "../platform-deps.ts";

export { TrackingService, DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME, LIMITS, TEAM_TAG } from "./service.ts";
export type { RunDetails, Experiment, CreateRunInput, DatasetInput, ArtifactFile, ArtifactBlob, ProxyArtifactRoot } from "./service.ts";
export type { MetricInput } from "./metric-store.ts";
export { RunView, ExperimentView, MetricPoint, ArtifactFileView, RUN_STATUSES, type RunStatus } from "./schema.ts";
export { runView, experimentView, presignedRedirect } from "./routes.ts";
export { RunCollector, type GcReport, type GcOptions } from "./gc.ts";
export { GcRequest, GcReportView, TeamStorageView, TeamStorageList } from "./gc-schema.ts";

export type TrackingModuleDeps = PlatformDeps;

/**
 * Builds the tracking service and its routes (Paved /api/v1 and MLflow /api/2.0/mlflow), and the
 * garbage collector of deleted runs with its controller (run under the leader lease) and routes.
 */
export function createTrackingModule(deps: TrackingModuleDeps): {
  service: TrackingService;
  routes: RouteDefinition[];
  collector: RunCollector;
  gcController: { start(): void; stop(): Promise<void> };
} {
  const logger = deps.logger.child({ module: "tracking" });
  const service = new TrackingService({ ...deps, logger });
  const newTeam = (principal: Parameters<typeof teamForNew>[1], requested: string | undefined) => teamForNew(deps.database.db, principal, requested);
  const settings = deps.config.tracking;
  const collector = new RunCollector({
    database: deps.database,
    artifacts: deps.artifacts,
    clock: deps.clock,
    logger,
    retentionDays: settings.retentionDays,
    minBlobAgeMs: settings.gcMinBlobAgeSeconds * 1000,
  });
  return {
    service,
    routes: [
      ...trackingRoutes(service),
      ...mlflowRoutes(service, () => deps.clock.now(), newTeam),
      ...directUploadRoutes(service, new DirectUploadService(service, deps)),
      ...gcRoutes(collector, deps.database, () => settings.retentionDays * 86_400_000),
    ],
    collector,
    gcController: gcController(collector, { intervalMs: settings.gcIntervalMinutes * 60_000, logger }),
  };
}
