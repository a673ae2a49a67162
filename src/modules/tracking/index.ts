// Tracking: experiments, runs, params, metrics, tags, dataset inputs (lineage) and run artifacts,
// served both as Paved's /api/v1 and as MLflow's REST API so the unmodified mlflow client works.
// Metric logging is the hot path: one transaction per request, prepared statements on SQLite.
import type { RouteDefinition } from "../../core/index.ts";
import { teamForNew } from "../identity/index.ts";
import { mlflowRoutes } from "./mlflow-routes.ts";
import { trackingRoutes } from "./routes.ts";
import { TrackingService } from "./service.ts";
import type { PlatformDeps } from "../platform-deps.ts";

export { TrackingService, DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME, LIMITS, TEAM_TAG } from "./service.ts";
export type { RunDetails, Experiment, CreateRunInput, DatasetInput, ArtifactFile, ArtifactBlob, ProxyArtifactRoot } from "./service.ts";
export type { MetricInput } from "./metric-store.ts";
export { RunView, ExperimentView, MetricPoint, ArtifactFileView, RUN_STATUSES, type RunStatus } from "./schema.ts";
export { runView, experimentView, presignedRedirect } from "./routes.ts";

export type TrackingModuleDeps = PlatformDeps;

/** Builds the tracking service and its routes (Paved /api/v1 and MLflow /api/2.0/mlflow). */
export function createTrackingModule(deps: TrackingModuleDeps): { service: TrackingService; routes: RouteDefinition[] } {
  const service = new TrackingService({ ...deps, logger: deps.logger.child({ module: "tracking" }) });
  const newTeam = (principal: Parameters<typeof teamForNew>[1], requested: string | undefined) => teamForNew(deps.database.db, principal, requested);
  return { service, routes: [...trackingRoutes(service), ...mlflowRoutes(service, () => deps.clock.now(), newTeam)] };
}
