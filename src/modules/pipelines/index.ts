// Pipelines: DAGs of steps (jobs, evaluations, registrations, deployments, and kinds other modules
// register) run by a controller from the database. Above compute; modules above or beside it reach
// pipelines through the step registry app.ts fills, so a step's state survives a kill -9.
import type { Principal, RouteDefinition } from "../../core/index.ts";
import type { JobService } from "../compute/index.ts";
import type { PlatformDeps } from "../platform-deps.ts";
import { PipelineController } from "./controller.ts";
import { jobStep } from "./job-step.ts";
import { pipelineRoutes } from "./routes.ts";
import { PipelineService } from "./service.ts";
import { echoStep, StepRegistry } from "./steps.ts";
import { PipelineStore } from "./store.ts";

export { PipelineService } from "./service.ts";
export { StepRegistry, echoStep, type StepKind, type StepContext, type StepObservation } from "./steps.ts";
export { evaluateStep, registerStep, deployStep, type EvaluateDeps, type RegisterDeps, type DeployDeps } from "./model-steps.ts";
export { planPipeline, findCycle, expandSteps, runParameters, type PlannedStep } from "./dag.ts";
export { parseTemplate, resolveReferences } from "./references.ts";
export * from "./schema.ts";

export interface PipelinesDeps extends PlatformDeps {
  jobs: JobService;
  /** The principal of a user by id, as they are now (identity); unset: the starter as stored. */
  principalOf?: (userId: string) => Promise<Principal | undefined>;
  /** How often running pipelines are looked at (tests go faster). */
  intervalMs?: number;
}

export interface PipelinesModule {
  service: PipelineService;
  /** Where step kinds are registered: job and echo are built in; app.ts adds evaluate, register, deploy and other modules' kinds. */
  steps: StepRegistry;
  routes: RouteDefinition[];
  controller: { start(): void; stop(): Promise<void> };
}

export function createPipelinesModule(deps: PipelinesDeps): PipelinesModule {
  const logger = deps.logger.child({ module: "pipelines" });
  const store = new PipelineStore(deps.database.db);
  const steps = new StepRegistry();
  steps.register(echoStep);
  steps.register(jobStep(deps.jobs));
  const controller = new PipelineController({
    store,
    kinds: steps,
    clock: deps.clock,
    ids: deps.ids,
    logger,
    ...(deps.principalOf ? { principalOf: deps.principalOf } : {}),
    intervalMs: deps.intervalMs ?? deps.config.pipelines.intervalSeconds * 1000,
  });
  // A job step's end moves its run on at once instead of at the next pass.
  deps.jobs.onJobEnded(() => controller.kick());
  const service = new PipelineService({ store, kinds: steps, clock: deps.clock, ids: deps.ids, teamFor: (team, principal) => deps.jobs.teamFor({ team }, principal), kick: () => controller.kick() });
  return { service, steps, routes: pipelineRoutes(service), controller };
}
