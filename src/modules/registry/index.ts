// Registry: registered models, versions, aliases, ONNX signatures and lineage, plus MLflow 3's
// logged models. A version's files are copied (as rows naming content-addressed blobs) at
// registration, so it never depends on the run it came from. Speaks Paved's /api/v1 and MLflow's API.
import type { RouteDefinition } from "../../core/index.ts";
import { teamForNew } from "../identity/index.ts";
import type { TrackingService } from "../tracking/index.ts";
import { LoggedModelService } from "./logged-model-service.ts";
import { mlflowRegistryRoutes } from "./mlflow-routes.ts";
import { registryRoutes } from "./routes.ts";
import { RegistryService } from "./service.ts";
import type { PlatformDeps } from "../platform-deps.ts";

export { RegistryService, REGISTRY_PROXY_ROOT, type RegisteredModel, type ModelVersion, type AliasChange, type AliasGuard } from "./service.ts";
export { LoggedModelService, type LoggedModel } from "./logged-model-service.ts";
export { MalformedOnnx, type ModelSignature, type TensorSpec, type OnnxInspection } from "./onnx-signature.ts";
export { inspectOnnx, checkOnnxForServing, ONNX_INSPECTION_DEFAULTS, type OnnxInspectionLimits } from "./onnx-inspection.ts";
export { parseSource, type ModelSource } from "./source.ts";
export { ModelView, ModelDetailView, VersionView, VersionSummary, Lineage, ModelSignature as ModelSignatureSchema } from "./schema.ts";

export interface RegistryModuleDeps extends PlatformDeps {
  tracking: TrackingService;
}

/** Builds the registry and logged-model services and their routes, and registers their artifact-proxy roots with tracking. */
export function createRegistryModule(deps: RegistryModuleDeps): { service: RegistryService; loggedModels: LoggedModelService; routes: RouteDefinition[] } {
  const logger = deps.logger.child({ module: "registry" });
  const loggedModels = new LoggedModelService({ ...deps, maxUploadBytes: deps.config.artifacts.maxUploadBytes });
  const service = new RegistryService({ ...deps, loggedModels, logger, onnx: deps.config.registry.onnx });
  deps.tracking.addProxyRoot({ list: (path) => service.listProxyPath(path), resource: (path) => service.proxyResource(path) });
  deps.tracking.addProxyRoot({ list: (path) => loggedModels.listProxyPath(path), resource: (path) => loggedModels.proxyResource(path) });
  const newTeam = (principal: Parameters<typeof teamForNew>[1], requested: string | undefined) => teamForNew(deps.database.db, principal, requested);
  return { service, loggedModels, routes: [...registryRoutes(service), ...mlflowRegistryRoutes(service, loggedModels, newTeam)] };
}
