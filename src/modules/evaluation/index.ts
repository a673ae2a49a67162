// Evaluation: gate policies (YAML, a default shipped in catalog, overridable per model), checks the
// platform computes itself by running a version's ONNX model on the serving runtime (quality,
// performance, bias, drift, compliance), stored results, and the guard on the production alias.
// Evaluations are resources: the API stores them Pending and a runner runs them one at a time, so
// nothing acknowledged is lost to a restart. Data comes only from files the platform stores (run
// artifacts, version files, uploads), never a server path. It sits above registry, tracking and
// serving and hooks into the registry through its alias-guard point.
import type { ArtifactStore } from "../../artifacts/index.ts";
import { BUILT_IN_GATE_POLICY_FILE } from "../catalog/index.ts";
import type { Clock, IdGenerator, Logger, RouteDefinition } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import type { RegistryService } from "../registry/index.ts";
import type { ServingService } from "../serving/index.ts";
import type { TrackingService } from "../tracking/index.ts";
import { loadPolicyFile } from "./policy.ts";
import { evaluationRoutes } from "./routes.ts";
import { EvaluationRunner } from "./runner.ts";
import { EvaluationService, type RequiredGatePolicyHook } from "./service.ts";
import { DataResolver, type EvaluationDatasets } from "./sources.ts";
import { EvaluationStore } from "./store.ts";

export { EvaluationService, GATED_ALIAS, type MonitorBasis, type RequiredGatePolicyHook } from "./service.ts";
export { EvaluationRunner } from "./runner.ts";
export { parsePolicy, type VersionedPolicy } from "./policy.ts";
export { parseDataUri, ACCEPTED_DATA_URIS, type DataSource, type EvaluationDatasets } from "./sources.ts";
export { cardFeatures, cardTags } from "./checks/compliance.ts";
export { shownName } from "./data.ts";
export { DriftCheck, PerformanceCheck, EvaluationView, GatePolicyView, GateStatusView, CheckResult, GatePolicy, GatePolicyChangeView, EvaluationUploadView, UploadQuery } from "./schema.ts";

export interface EvaluationModuleDeps {
  database: Database;
  registry: RegistryService;
  tracking: TrackingService;
  serving: ServingService;
  /** Where run artifacts, version files and uploads keep their bytes. */
  artifacts: ArtifactStore;
  /** Largest evaluation CSV read or uploaded, in bytes (config `evaluation.maxDataBytes`). */
  maxDataBytes: number;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  /** Batch-1 requests the performance check sends (default 200). */
  performanceRequests?: number;
  /** How often the runner looks for evaluations to run (default 1000 ms). */
  intervalMs?: number;
  /** The gate policy a policy in force requires of a team's models (guardrails'). */
  requiredPolicy?: RequiredGatePolicyHook;
  /** Refuses (QUOTA_EXCEEDED) an upload of a team at its artifact storage quota (guardrails' ledger). */
  storageQuota?: (team: string, bytes: number, what: string) => Promise<void>;
  /** Registered dataset versions, read as `datasets:/<name>@<version>[/<file>]` (the datasets module). */
  datasets?: EvaluationDatasets;
}

/** Builds the evaluation service, runner and routes, and installs the production gate as a registry alias guard. */
export function createEvaluationModule(deps: EvaluationModuleDeps): { service: EvaluationService; runner: EvaluationRunner; routes: RouteDefinition[] } {
  const logger = deps.logger.child({ module: "evaluation" });
  const store = new EvaluationStore(deps.database);
  const data = new DataResolver({ tracking: deps.tracking, registry: deps.registry, artifacts: deps.artifacts, store, maxBytes: deps.maxDataBytes, ...(deps.datasets ? { datasets: deps.datasets } : {}) });
  const runner = new EvaluationRunner({
    store,
    data,
    registry: deps.registry,
    serving: deps.serving,
    clock: deps.clock,
    logger,
    ...(deps.performanceRequests !== undefined ? { performanceRequests: deps.performanceRequests } : {}),
    ...(deps.intervalMs !== undefined ? { intervalMs: deps.intervalMs } : {}),
  });
  const service = new EvaluationService({ store, db: deps.database.db, registry: deps.registry, data, artifacts: deps.artifacts, clock: deps.clock, ids: deps.ids, logger, defaultPolicy: loadPolicyFile(BUILT_IN_GATE_POLICY_FILE), kick: () => runner.kick(), ...(deps.requiredPolicy ? { requiredPolicy: deps.requiredPolicy } : {}), ...(deps.storageQuota ? { storageQuota: deps.storageQuota } : {}) });
  deps.registry.addAliasGuard(service.guard);
  return { service, runner, routes: evaluationRoutes(service) };
}
