// Deployments: rollouts of registered model versions to environments (canary steps or replace),
// with integration tests, step-by-step analysis of canary against stable, promotion (the
// environment's alias moves; against a failing analysis only when forced, and recorded) and
// automatic rollback. It sits above serving, registry and evaluation (whose gate a production
// deployment must pass), and routes each environment's versionless traffic through the router it
// registers there: a deployment belongs to (model, environment) and never touches another's.
import type { Clock, IdGenerator, Logger, RouteDefinition } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import type { EvaluationService } from "../evaluation/index.ts";
import type { RegistryService } from "../registry/index.ts";
import type { ServingPlane } from "../serving/index.ts";
import { DeploymentController } from "./controller.ts";
import { DeploymentRouter } from "./router.ts";
import { deploymentRoutes } from "./routes.ts";
import { DeploymentService, type DeploymentServiceDeps, type DeploymentAdmissionHook } from "./service.ts";
import { DeploymentStore } from "./store.ts";

export { DeploymentService, GATED_ENVIRONMENT, endpointOf, type DeploymentAdmissionHook, type DeploymentServiceDeps } from "./service.ts";
export { DeploymentController, INTEGRATION_TESTS_TAG } from "./controller.ts";
export { DeploymentRouter, stickyVariant, type Split, type WindowReport } from "./router.ts";
export { CreateDeploymentBody, DeploymentView, DeploymentList, PromoteBody, DeploymentOverrideView, DeploymentMonitor } from "./schema.ts";

export interface DeploymentsModuleDeps {
  database: Database;
  registry: RegistryService;
  /** What serves: this process's serving service, or the data-plane fleet. */
  serving: ServingPlane;
  /** The router splits are kept in (default: a new one, registered with `serving`); the data-plane fleet shares its own. */
  router?: DeploymentRouter;
  evaluation: EvaluationService;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  /** How often the controller reconciles (default 500 ms). */
  intervalMs?: number;
  /** Draws new deployments' replicas from the team's serving-replica quota (guardrails' ledger). */
  replicaQuota?: (team: string, replicas: number, what: string) => Promise<void>;
  /** Admission of new deployments and forced promotions (policies, budget). */
  admission?: DeploymentAdmissionHook;
  /** Watches each new deployment's version with a monitor (monitoring's `ensure`), unless the request says `monitor: false`. */
  monitor?: DeploymentServiceDeps["monitor"];
}

/** Builds the deployment service, controller and routes, and registers the traffic router with serving. */
export function createDeploymentsModule(deps: DeploymentsModuleDeps): { service: DeploymentService; controller: DeploymentController; routes: RouteDefinition[] } {
  const logger = deps.logger.child({ module: "deployments" });
  const store = new DeploymentStore(deps.database);
  const router = deps.router ?? new DeploymentRouter((name, version, environment) => deps.serving.isLoaded(name, version, environment));
  deps.serving.setRouter?.(router);
  const limits = deps.serving.limits;
  const controller = new DeploymentController({
    store,
    registry: deps.registry,
    serving: deps.serving,
    router,
    clock: deps.clock,
    logger,
    maxModelBytes: limits.maxModelBytes,
    ...(deps.intervalMs !== undefined ? { intervalMs: deps.intervalMs } : {}),
  });
  const service = new DeploymentService({
    store,
    registry: deps.registry,
    evaluation: deps.evaluation,
    clock: deps.clock,
    ids: deps.ids,
    logger,
    kick: () => controller.kick(),
    maxReplicasPerVersion: limits.maxReplicasPerVersion,
    ...(deps.replicaQuota ? { replicaQuota: deps.replicaQuota } : {}),
    scaleLimit: (model, environment) => deps.serving.list(environment).find((v) => v.name === model && v.scaleLimit !== undefined)?.scaleLimit,
    ...(deps.admission ? { admission: deps.admission } : {}),
    ...(deps.monitor ? { monitor: deps.monitor } : {}),
  });
  return { service, controller, routes: deploymentRoutes(service, () => deps.serving.metricsText()) };
}
