// Compute: jobs (spec, queue, scheduler), the executors that run them, and the controller that
// reconciles them. Job state lives in the database, never in memory, so a restarted server
// adopts running jobs instead of losing or duplicating them.
import type { RouteDefinition } from "../../core/index.ts";
import { ProfileCatalog } from "../catalog/index.ts";
import { JobController, type StartedJob } from "./controller.ts";
import type { Executor } from "./executors/executor.ts";
import { LocalExecutor } from "./executors/local-executor.ts";
import { SlurmExecutor } from "./executors/slurm-executor.ts";
import { allowListedEnvironment } from "./job-environment.ts";
import { PlatformError } from "../../core/index.ts";
import { backendMachine, discoverResources, type MachineResources } from "./resources.ts";
import type { JobTokens, RunRecorder } from "./run-recorder.ts";
import { computeRoutes } from "./routes.ts";
import { protectDataDir, resolveRunAs } from "./run-as.ts";
import { JobService, type JobAdmissionHook } from "./service.ts";
import { JobStore } from "./store.ts";
import type { PlatformDeps } from "../platform-deps.ts";
import type { Ledger } from "../guardrails/index.ts";

export type { RunRecorder, JobTokens } from "./run-recorder.ts";
export type { Executor, ExecutionHandle, ExecutionRequest, ObservedState } from "./executors/executor.ts";
export type { MachineResources, Gpu } from "./resources.ts";
export { inputVariable, type JobDatasets } from "./dataset-inputs.ts";
export { JobService, type JobAdmissionHook, type JobPreparer, type PreparedJob, type SubmitOptions } from "./service.ts";
export { codeFiles, gitInfo, skippedFromSnapshot, GIT_CEILING_FILE, SNAPSHOT_LIMITS } from "./capture.ts";
export { JobController, type QuotaSource, type StartedJob } from "./controller.ts";
export { parseMetricLine, METRIC_LINE_PREFIX } from "./metric-lines.ts";
export { dominantShare, fairShareOrder, schedule, describePending, type TeamLimits, type PreemptionPlan } from "./scheduler.ts";
export { parseGpuQuery, queryGpus, GPU_QUERY_FIELDS, GPU_TELEMETRY_FIELDS, type GpuReading } from "./gpu-discovery.ts";
export { allowListedEnvironment, JOB_ENV_ALLOW_LIST } from "./job-environment.ts";
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
  /** Backends besides this machine by name (tests); default: built from compute.slurm. */
  backends?: ReadonlyMap<string, Executor>;
  /**
   * The server's environment. Jobs and the helper processes the server starts get only its
   * allow-listed part (PATH, HOME, locale, virtualenv, CUDA, plus compute.jobEnvironment),
   * never PAVED_* or anything else.
   */
  serverEnv?: Record<string, string | undefined>;
  /** Overrides GPU/CPU/memory discovery (tests). */
  machine?: MachineResources;
  /** Controller tuning for tests: how often running jobs are checked. */
  sweepMs?: number;
  /** Admission of a new job (policies, budget), before anything is stored; unset: every feasible job is admitted. */
  admission?: JobAdmissionHook;
  /**
   * The quota ledger (guardrails): the scheduler holds each team to its quota and orders teams by
   * their fair share of it; compute tells it the machine's GPUs. Unset: every team is unlimited.
   */
  ledger?: Ledger;
}

export interface ComputeModule {
  service: JobService;
  routes: RouteDefinition[];
  controller: { start(): Promise<void>; stop(): Promise<void> };
  /** Tells `listener` of each job whose first attempt leaves the queue, with its wait. */
  onStarted(listener: (job: StartedJob) => void): void;
}

export async function createComputeModule(deps: ComputeDeps): Promise<ComputeModule> {
  const { config } = deps;
  const logger = deps.logger.child({ module: "compute" });
  const catalog = deps.catalog ?? ProfileCatalog.load(config.compute.profilesFile);
  const runAs = resolveRunAs(config.compute.runAs);
  if (runAs) protectDataDir(config.dataDir);
  else if (!deps.executor) {
    logger.warn(
      { dataDir: config.dataDir },
      "jobs run as the server's own OS user: they can read its data dir (database, artifacts) and its processes; run paved up as root with compute.runAs set to an unprivileged user to confine them",
    );
  }
  const baseEnv = allowListedEnvironment(deps.serverEnv ?? {}, config.compute.jobEnvironment.passthrough);
  const executor = deps.executor ?? new LocalExecutor({ baseEnv, runAs });
  const backends = deps.backends ?? (await createBackends(config, baseEnv, deps.serverEnv ?? {}));
  if (config.compute.executor !== "local" && !backends.has(config.compute.executor)) {
    throw new PlatformError("CONFIG", `compute.executor is '${config.compute.executor}' but compute.${config.compute.executor} is not set; configure the cluster (docs/executors.md) or set compute.executor: local`);
  }
  for (const profile of catalog.list()) {
    if (profile.executor && profile.executor !== "local" && !backends.has(profile.executor)) {
      logger.warn({ profile: profile.name, executor: profile.executor }, `compute profile runs on executor '${profile.executor}', which is not configured (compute.${profile.executor}); its jobs are refused`);
    }
  }
  const pools = async () => {
    const out = new Map<string, MachineResources | { unavailable: string }>();
    let ordinal = 0;
    for (const [name, backend] of backends) {
      const index = ordinal++;
      try {
        const r = await backend.resources!();
        out.set(name, backendMachine(index, r));
      } catch (error) {
        out.set(name, { unavailable: (error as Error).message });
      }
    }
    return out;
  };
  let discovered: Promise<MachineResources> | undefined;
  const machine = () => (discovered ??= deps.machine ? Promise.resolve(deps.machine) : discoverResources(config.compute, baseEnv));
  const store = new JobStore(deps.database.db);
  deps.ledger?.useMachine(async () => (await machine()).gpus);
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
    jobEnvironment: config.compute.jobEnvironment.set,
    profileEnv: (name) => profileEnv(catalog, name),
    helperEnv: baseEnv,
    runAs,
    ...(deps.ledger ? { quotas: deps.ledger } : {}),
    preemption: config.compute.preemption,
    backends,
    pools,
    maxRetrySeconds: config.compute.slurm?.maxRetrySeconds ?? config.compute.kubernetes?.maxRetrySeconds ?? 60,
  });
  // A quota raised (or lowered) changes what may start: schedule again at once.
  deps.ledger?.onChange(() => controller.kick());
  const service = new JobService({ store, db: deps.database.db, controller, executor, backends, pools, defaultExecutor: config.compute.executor, catalog, machine, runs: deps.runs, clock: deps.clock, ids: deps.ids, dataDir: config.dataDir, logBounds: config.compute.logs, ...(deps.admission ? { admission: deps.admission } : {}) });
  return {
    service,
    routes: computeRoutes(service),
    onStarted: (listener) => controller.onStarted(listener),
    controller: {
      start: () => controller.start(),
      stop: async () => {
        service.endFollows();
        await controller.stop();
      },
    },
  };
}

function profileEnv(catalog: ProfileCatalog, name: string): Record<string, string> {
  try {
    return catalog.get(name).env ?? {};
  } catch {
    // The profile left the catalog after the job was queued: the job runs without its variables.
    return {};
  }
}

/**
 * The backends compute.* configures besides this machine: Slurm when compute.slurm is set, Kubernetes
 * when compute.kubernetes is. The Kubernetes executor and its client library are loaded only then:
 * the client alone is about 28 MB of heap, a third of a server's, which every full garbage
 * collection would otherwise mark (docs/benchmarks.md#monitoring).
 */
async function createBackends(config: ComputeDeps["config"], baseEnv: Record<string, string>, serverEnv: Record<string, string | undefined>): Promise<Map<string, Executor>> {
  const backends = new Map<string, Executor>();
  const slurm = config.compute.slurm;
  if (slurm) {
    // Slurm's commands get PATH and the cluster's configuration, nothing else of the server.
    const commandEnv: Record<string, string> = { PATH: serverEnv.PATH ?? "/usr/local/bin:/usr/bin:/bin" };
    if (slurm.conf) commandEnv.SLURM_CONF = slurm.conf;
    const defaults = { ...(slurm.partition ? { partition: slurm.partition } : {}), ...(slurm.qos ? { qos: slurm.qos } : {}), ...(slurm.account ? { account: slurm.account } : {}) };
    backends.set(
      "slurm",
      new SlurmExecutor({
        baseEnv,
        commandEnv,
        ...(slurm.binDir ? { binDir: slurm.binDir } : {}),
        defaults,
        pollMs: slurm.pollSeconds * 1000,
        killGraceMs: config.compute.preemption.graceSeconds * 1000,
        signalSeconds: config.compute.preemption.graceSeconds,
        systemMetricsSeconds: config.compute.systemMetricsInterval,
      }),
    );
  }
  const k8s = config.compute.kubernetes;
  if (k8s) {
    const { KubernetesExecutor, loadKubeConfig } = await import("./executors/kubernetes-executor.ts");
    backends.set(
      "kubernetes",
      new KubernetesExecutor({
        kubeConfig: loadKubeConfig({ ...(k8s.kubeconfig ? { kubeconfig: k8s.kubeconfig } : {}), ...(k8s.context ? { context: k8s.context } : {}) }),
        settings: {
          namespace: k8s.namespace,
          image: k8s.image,
          ...(k8s.imagePullPolicy ? { imagePullPolicy: k8s.imagePullPolicy } : {}),
          ...(k8s.serviceAccountName ? { serviceAccountName: k8s.serviceAccountName } : {}),
          tolerations: k8s.tolerations,
          ...(k8s.priorityClassName ? { priorityClassName: k8s.priorityClassName } : {}),
          ...(k8s.kueueQueue ? { kueueQueue: k8s.kueueQueue } : {}),
          ttlSecondsAfterFinished: k8s.ttlSecondsAfterFinished,
          sharedVolumes: k8s.sharedVolumes,
          instance: k8s.instance,
          masterPort: k8s.masterPort,
          terminationGracePeriodSeconds: config.compute.preemption.graceSeconds,
        },
        gpuProducts: k8s.gpuProducts,
        pollMs: k8s.pollSeconds * 1000,
      }),
    );
  }
  return backends;
}
