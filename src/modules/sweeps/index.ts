// Sweeps: hyperparameter searches (grid, random, ASHA) whose trials are ordinary jobs of the
// sweep's team, each its own run (a child of the sweep's parent run). Above compute and tracking;
// trials are reserved in the database before they are submitted, so a restart neither loses nor
// duplicates them.
import type { Principal, RouteDefinition } from "../../core/index.ts";
import type { JobService, RunRecorder } from "../compute/index.ts";
import type { PlatformDeps } from "../platform-deps.ts";
import { SweepController, type MetricHistory } from "./controller.ts";
import { sweepRoutes } from "./routes.ts";
import { SweepService, type TeamLimits } from "./service.ts";
import { SweepStore } from "./store.ts";

export { SweepService, type TeamLimits } from "./service.ts";
export { ashaJudge, gridPoint, gridSize, rungResources, samplePoint, trialJobSpec } from "./search.ts";
export * from "./schema.ts";

export interface SweepsDeps extends PlatformDeps {
  jobs: JobService;
  /** Tracking: the sweep's experiment and parent run, and each trial's metric history. */
  runs: Pick<RunRecorder, "ensureExperiment" | "createRun" | "logParams" | "logMetrics" | "setTags" | "finishRun"> & MetricHistory;
  /** The team's quota (the guardrails ledger), which a sweep's parallelism is checked against. */
  limits?: TeamLimits;
  /** The principal of a user by id, as they are now (identity); unset: the creator as stored. */
  principalOf?: (userId: string) => Promise<Principal | undefined>;
  /** How often running sweeps are looked at (tests go faster). */
  intervalMs?: number;
}

export interface SweepsModule {
  service: SweepService;
  routes: RouteDefinition[];
  controller: { start(): void; stop(): Promise<void> };
}

export function createSweepsModule(deps: SweepsDeps): SweepsModule {
  const logger = deps.logger.child({ module: "sweeps" });
  const store = new SweepStore(deps.database.db);
  const controller = new SweepController({
    store,
    jobs: deps.jobs,
    runs: deps.runs,
    clock: deps.clock,
    ids: deps.ids,
    logger,
    ...(deps.principalOf ? { principalOf: deps.principalOf } : {}),
    intervalMs: deps.intervalMs ?? deps.config.sweeps.intervalSeconds * 1000,
  });
  const service = new SweepService({ store, jobs: deps.jobs, runs: deps.runs, clock: deps.clock, ids: deps.ids, ...(deps.limits ? { limits: deps.limits } : {}), kick: () => controller.kick() });
  return { service, routes: sweepRoutes(service), controller };
}
