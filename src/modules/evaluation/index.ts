// Evaluation: gate policies (YAML, a default shipped in catalog, overridable per model), checks the
// platform computes itself by running a version's ONNX model on the serving runtime (quality,
// performance, bias, drift, compliance), stored results, and the guard on the production alias.
// It sits above registry and serving and hooks into the registry through its alias-guard point.
import { BUILT_IN_GATE_POLICY_FILE } from "../catalog/index.ts";
import type { Clock, IdGenerator, Logger, RouteDefinition } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import type { RegistryService } from "../registry/index.ts";
import type { ServingService } from "../serving/index.ts";
import { loadPolicyFile } from "./policy.ts";
import { evaluationRoutes } from "./routes.ts";
import { EvaluationService } from "./service.ts";

export { EvaluationService, GATED_ALIAS } from "./service.ts";
export { parsePolicy, type VersionedPolicy } from "./policy.ts";
export { EvaluationView, GatePolicyView, CheckResult, GatePolicy } from "./schema.ts";

export interface EvaluationModuleDeps {
  database: Database;
  registry: RegistryService;
  serving: ServingService;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  /** Batch-1 requests the performance check sends (default 200). */
  performanceRequests?: number;
}

/** Builds the evaluation service and routes, and installs the production gate as a registry alias guard. */
export function createEvaluationModule(deps: EvaluationModuleDeps): { service: EvaluationService; routes: RouteDefinition[] } {
  const service = new EvaluationService({ ...deps, logger: deps.logger.child({ module: "evaluation" }), defaultPolicy: loadPolicyFile(BUILT_IN_GATE_POLICY_FILE) });
  deps.registry.addAliasGuard(service.guard);
  return { service, routes: evaluationRoutes(service) };
}
