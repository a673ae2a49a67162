// Compute: jobs (spec, queue, scheduler), the executors that run them, and the controller that
// reconciles them. Job state lives in the database, never in memory, so a restarted server
// adopts running jobs instead of losing or duplicating them.
import type { RouteDefinition } from "../../core/index.ts";
import { ProfileCatalog } from "../catalog/index.ts";
import { JobController } from "./controller.ts";
import type { Executor } from "./executors/executor.ts";
import { LocalExecutor } from "./executors/local-executor.ts";
import { discoverResources, type MachineResources } from "./resources.ts";
import type { JobTokens, RunRecorder } from "./run-recorder.ts";
import { computeRoutes } from "./routes.ts";
import { JobService } from "./service.ts";
import { JobStore } from "./store.ts";
import type { PlatformDeps } from "../platform-deps.ts";

export type { RunRecorder, JobTokens } from "./run-recorder.ts";
export type { Executor, ExecutionHandle, ExecutionRequest, ObservedState } from "./executors/executor.ts";
export type { MachineResources, Gpu } from "./resources.ts";
export { JobService } from "./service.ts";
export { JobController } from "./controller.ts";
export { parseMetricLine, METRIC_LINE_PREFIX } from "./metric-lines.ts";
export { parseGpuQuery, GPU_QUERY_FIELDS } from "./gpu-discovery.ts";
export * from "./schema.ts";

export interface ComputeDeps extends PlatformDeps {
  /** Where each job's run is recorded (the tracking module's service). */
  runs: RunRecorder;
  tokens: JobTokens;
  /** The URL jobs reach this server at (MLFLOW_TRACKING_URI); known only after listen. */
  serverUrl: () => string;
  /** The profile catalog; default: loaded from config.compute.profilesFile. */
  catalog?: ProfileCatalog;
  /** The backend that runs jobs; default: local processes. */
  executor?: Executor;
  /** Environment every job inherits (PATH, HOME, virtualenvs) before its own variables. */
  jobBaseEnv?: Record<string, string | undefined>;
  /** Overrides GPU/CPU/memory discovery (tests). */
  machine?: MachineResources;
  /** Controller tuning for tests: how often running jobs are checked. */
  sweepMs?: number;
}

export interface ComputeModule {
  service: JobService;
  routes: RouteDefinition[];
  controller: { start(): Promise<void>; stop(): Promise<void> };
}

export function createComputeModule(deps: ComputeDeps): ComputeModule {
  const { config } = deps;
  const logger = deps.logger.child({ module: "compute" });
  const catalog = deps.catalog ?? ProfileCatalog.load(config.compute.profilesFile);
  const executor = deps.executor ?? new LocalExecutor({ baseEnv: deps.jobBaseEnv ?? {} });
  let discovered: Promise<MachineResources> | undefined;
  const machine = () => (discovered ??= deps.machine ? Promise.resolve(deps.machine) : discoverResources(config.compute));
  const store = new JobStore(deps.database.db);
  const controller = new JobController({
    store,
    executor,
    machine,
    runs: deps.runs,
    tokens: deps.tokens,
    serverUrl: deps.serverUrl,
    clock: deps.clock,
    logger,
    dataDir: config.dataDir,
    python: config.compute.python,
    systemMetricsInterval: config.compute.systemMetricsInterval,
    nvidiaSmi: config.compute.nvidiaSmi,
    sweepMs: deps.sweepMs,
  });
  const service = new JobService({ store, controller, executor, catalog, machine, runs: deps.runs, clock: deps.clock, ids: deps.ids, dataDir: config.dataDir });
  return { service, routes: computeRoutes(service), controller };
}
