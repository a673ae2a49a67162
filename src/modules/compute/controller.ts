import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { PlatformError, isPlatformError, type Clock, type Logger } from "../../core/index.ts";
import { captureEnvironment } from "./capture.ts";
import { materializeInputs, removeInputs, type JobDatasets } from "./dataset-inputs.ts";
import { attemptLogPath, rankLogPath, type ExecutionHandle, type Executor, type ObservedState } from "./executors/executor.ts";
import { MetricTailer } from "./metric-tailer.ts";
import type { MachineResources } from "./resources.ts";
import { openJobFile, type RunAsUser } from "./run-as.ts";
import type { JobTokens, RunRecorder } from "./run-recorder.ts";
import { schedule, type ActiveJob, type PreemptionPlan, type TeamLimits } from "./scheduler.ts";
import { isPreemptible, maskEnv, worldOf, type StoredJobSpec, type Allocation, type JobPhase, type JobSpec, type Pending, type ResourceRequest } from "./schema.ts";
import { ACTIVE_PHASES, TERMINAL_PHASES, type AttemptRecord, type JobRow, type JobStore } from "./store.ts";
import { SystemSampler, rankMetricsFor, systemMetricsFor } from "./system-metrics.ts";

export interface ControllerDeps {
  store: JobStore;
  executor: Executor;
  machine: () => Promise<MachineResources>;
  runs: RunRecorder;
  tokens: JobTokens;
  serverUrl: () => string;
  clock: Clock;
  logger: Logger;
  dataDir: string;
  /** Interpreter whose version and packages are recorded with each run. */
  python: string;
  /** Seconds between system-metric samples. */
  systemMetricsInterval: number;
  /** Used for GPU metrics when the GPUs were discovered through it. */
  nvidiaSmi: string;
  /** How often running jobs are checked (max runtime, metric lines, backends without waitForExit). */
  sweepMs?: number;
  /** Variables every job gets (`compute.jobEnvironment.set`); profile and job `env` win over them. */
  jobEnvironment?: Record<string, string>;
  /** The variables of a compute profile (its `env` in the catalog). */
  profileEnv?: (profile: string) => Record<string, string>;
  /** The environment of the helper processes that record a job (git, python): the allow-listed one. */
  helperEnv?: Record<string, string>;
  /** Jobs run as this user (`compute.runAs`): recording reads their code as it, and uploads only its files. */
  runAs?: RunAsUser;
  /** Teams' quotas and GPU-hours (guardrails' ledger); unset: unlimited. */
  quotas?: QuotaSource;
  /** compute.preemption: whether queued jobs may reclaim GPUs, and the grace period between SIGTERM and SIGKILL. */
  preemption?: { enabled: boolean; graceSeconds: number };
  /** Backends besides this machine, by name (`slurm`); a job's request names its backend. */
  backends?: ReadonlyMap<string, Executor>;
  /** Each backend's capacity now, or why it cannot be reached (the scheduler's pools). */
  pools?: () => Promise<Map<string, MachineResources | { unavailable: string }>>;
  /** Longest wait between tries of a backend that did not answer (doubling from 1 s). */
  maxRetrySeconds?: number;
}

/**
 * Where the scheduler reads each team's quota and GPU time this month (guardrails' ledger, which
 * every kind of work draws from); without one, teams are unlimited.
 */
export interface QuotaSource {
  limits(teams: readonly string[]): Promise<ReadonlyMap<string, TeamLimits>>;
  gpuHoursThisMonth(teams: readonly string[]): Promise<ReadonlyMap<string, { hours: number; byJob: { jobId: string; name: string; hours: number }[] }>>;
}

/** A preemption as saved on its victim while the victim stops (it survives a restart). */
interface PreemptionRecord {
  /** The queued job the GPUs go to. */
  by: string;
  reason: PreemptionPlan["reason"];
  message: string;
  graceSeconds: number;
}

/** What this process watches of one running attempt. */
interface Watch {
  jobId: string;
  attempt: number;
  runId: string | null;
  handle: ExecutionHandle;
  allocation: Allocation;
  attemptStartedAt: number;
  maxRuntimeMs: number | undefined;
  abort: AbortController;
  tailer: MetricTailer | undefined;
  timedOut: boolean;
  /** STARTING while a cluster still holds the attempt in its queue. */
  phase: "STARTING" | "RUNNING";
  /** The cluster's reason it waits, as last saved on the job. */
  pendingReason: string | undefined;
  /** Settles once the attempt's end has been handled. */
  ended: Promise<void>;
}

/**
 * Reconciles jobs toward their spec: starts queued jobs the machine has room for, watches
 * running attempts, and records how they end. Everything it decides comes from the database
 * and the executor, so a restarted server adopts what a previous one started.
 */
/** A job whose first attempt left the queue. */
export interface StartedJob {
  team: string;
  /** Its compute profile (`none` without one). */
  profile: string;
  waitedSeconds: number;
}

export class JobController {
  private readonly watches = new Map<string, Watch>();
  private readonly endListeners = new Set<(jobId: string, phase: JobPhase) => void>();
  private readonly startListeners = new Set<(job: StartedJob) => void>();
  private readonly inflight = new Set<Promise<unknown>>();
  private pass: Promise<void> | undefined;
  private again = false;
  private running = false;
  private timers: NodeJS.Timeout[] = [];
  private sampler: SystemSampler | undefined;
  private captures: Promise<unknown> = Promise.resolve();
  private datasets: JobDatasets | undefined;
  /** Backends that did not answer: until when the scheduler leaves their jobs queued, and why (memory only: a restart simply tries again). */
  private readonly backoff = new Map<string, { until: number; delayMs: number; reason: string }>();

  constructor(private readonly deps: ControllerDeps) {}

  /** The executor of a backend (`local` or absent: this machine's). */
  private executorFor(name: string | undefined): Executor {
    if (!name || name === "local") return this.deps.executor;
    const executor = this.deps.backends?.get(name);
    if (!executor) throw new Error(`no executor '${name}' is configured`);
    return executor;
  }

  /** The executor that started an attempt, from its handle's kind. */
  private executorOf(handle: ExecutionHandle): Executor {
    return handle.kind === this.deps.executor.kind ? this.deps.executor : this.executorFor(handle.kind);
  }

  /** Adopts or finishes what a previous server left running, then starts scheduling. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const machine = await this.deps.machine();
    this.sampler = new SystemSampler(machine.gpusDiscovered ? this.deps.nvidiaSmi : undefined, this.deps.helperEnv);
    await this.recover();
    await this.recordMissed();
    const sweep = setInterval(() => this.track(this.sweep()), this.deps.sweepMs ?? 1000);
    const sample = setInterval(() => this.track(this.sampleMetrics()), this.deps.systemMetricsInterval * 1000);
    // A periodic pass also catches jobs another server instance queued into the same database.
    const resched = setInterval(() => this.kick(), 5000);
    for (const t of [sweep, sample, resched]) t.unref();
    this.timers = [sweep, sample, resched];
    this.kick();
  }

  /** Stops watching without touching running jobs: they keep running and are adopted on the next start. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const w of this.watches.values()) w.abort.abort();
    while (this.inflight.size > 0 || this.pass) {
      await Promise.allSettled([...this.inflight, this.pass]);
    }
    this.watches.clear();
  }

  /** Asks for a scheduling pass now (after a submit, an end, a cancel); passes never overlap. */
  /** Calls `listener` when an attempt ends its job (SUCCEEDED, FAILED, CANCELLED): a sweep starts its next trial at once. */
  onEnded(listener: (jobId: string, phase: JobPhase) => void): void {
    this.endListeners.add(listener);
  }

  /** Registration point for the datasets module: attempts of jobs that read registered versions get them written into their folder. */
  useDatasets(datasets: JobDatasets): void {
    this.datasets = datasets;
  }

  /** Calls `listener` when a job's first attempt leaves the queue, with how long it waited (monitoring's queue-wait histogram). */
  onStarted(listener: (job: StartedJob) => void): void {
    this.startListeners.add(listener);
  }

  kick(): void {
    if (!this.running) return;
    if (this.pass) {
      this.again = true;
      return;
    }
    this.pass = (async () => {
      try {
        do {
          this.again = false;
          await this.schedulePass();
        } while (this.again && this.running);
      } catch (error) {
        this.deps.logger.error({ err: error }, "scheduling pass failed");
      } finally {
        this.pass = undefined;
      }
    })();
  }

  /** Stops a job: QUEUED ones at once, running ones after their processes are gone. */
  async cancel(jobId: string): Promise<void> {
    const { store, clock } = this.deps;
    const row = await store.get(jobId);
    if (!row) return;
    const now = clock.now();
    if (row.phase === "QUEUED") {
      const spec = withoutSecrets(JSON.parse(row.spec) as JobSpec);
      const done = await store.transition(jobId, ["QUEUED"], "CANCELLED", { finished_at: now, pending: null, message: "cancelled before it started", spec }, {
        type: "Cancelled",
        message: "cancelled while queued",
        time: now,
      });
      if (done) this.track(this.finishRun(row, "CANCELLED", now).then(() => store.markRecorded(jobId, row.attempt)));
      return;
    }
    if (!ACTIVE_PHASES.includes(row.phase as JobPhase)) return;
    if (row.cancel_requested_at === null) {
      await store.patch(jobId, ACTIVE_PHASES, { cancel_requested_at: now });
      await store.appendEvent(jobId, { type: "CancelRequested", message: "cancel requested; stopping the job's processes", time: now });
    }
    const watch = this.watches.get(jobId);
    if (watch) {
      await this.executorOf(watch.handle).cancel(watch.handle);
      await watch.ended;
    } else if (row.handle) {
      // Not watched here (e.g. the controller is not started): stop it and record the end.
      const handle = JSON.parse(row.handle) as ExecutionHandle;
      await this.executorOf(handle).cancel(handle);
      await this.endAttempt(row, handle, { state: "vanished", reason: "cancelled" }, false);
    }
  }

  private track<T>(p: Promise<T>): void {
    const tracked = p.catch((error: unknown) => this.deps.logger.error({ err: error }, "compute controller task failed"));
    this.inflight.add(tracked);
    void tracked.finally(() => this.inflight.delete(tracked));
  }

  private async schedulePass(): Promise<void> {
    const { store, clock } = this.deps;
    const machine = await this.deps.machine();
    const [active, queued] = await Promise.all([store.active(), store.queued()]);
    if (queued.length === 0) return;
    const teams = [...new Set([...active, ...queued].map((r) => r.team_id))].sort();
    const quotas = this.deps.quotas ? await this.deps.quotas.limits(teams) : undefined;
    const counted = quotas ? teams.filter((t) => quotas.get(t)?.gpuHoursPerMonth != null) : [];
    const gpuHours = counted.length > 0 ? await this.deps.quotas!.gpuHoursThisMonth(counted) : undefined;
    const requests = queued.map((r) => JSON.parse(r.request) as ResourceRequest);
    const pools = requests.some((r) => r.executor && r.executor !== "local") || active.some((r) => r.allocation?.includes('"executor"')) ? await this.pools() : undefined;
    const decision = schedule(
      machine,
      active.filter((r) => r.allocation).map(activeJob),
      queued.map((r, i) => ({ jobId: r.job_id, name: r.name, team: r.team_id, request: requests[i]!, priority: Number(r.priority) })),
      { ...(quotas ? { quotas } : {}), ...(gpuHours ? { gpuHours } : {}), preemption: this.deps.preemption?.enabled ?? false, ...(pools ? { pools } : {}) },
    );
    const now = clock.now();
    const byId = new Map(queued.map((r) => [r.job_id, r]));
    const claims = decision.starts.map(({ jobId, allocation }) => ({
      id: jobId,
      from: ["QUEUED"] as JobPhase[],
      to: "STARTING" as JobPhase,
      patch: { allocation, pending: null, attempt_started_at: now, started_at: byId.get(jobId)!.started_at ?? now, exit_code: null },
      event: { type: "Scheduled", message: `attempt ${byId.get(jobId)!.attempt}: ${describeAllocation(allocation)}`, time: now },
    }));
    const applied = await store.transitionMany(claims);
    const pendingChanges = new Map<string, Pending | null>();
    for (const [id, pending] of decision.pending) {
      const serialized = JSON.stringify(pending);
      if (byId.get(id)?.pending !== serialized) pendingChanges.set(id, pending);
    }
    await store.setPending(pendingChanges);
    decision.starts.forEach(({ jobId, allocation }, i) => {
      if (!applied[i]) return;
      const row = byId.get(jobId)!;
      if (Number(row.attempt) === 1) for (const listener of this.startListeners) listener({ team: row.team_id, profile: requests[queued.indexOf(row)]?.profile ?? "none", waitedSeconds: Math.max(0, (now - Number(row.created_at)) / 1000) });
      this.track(this.startAttempt({ ...row, phase: "STARTING", allocation: JSON.stringify(allocation), attempt_started_at: now }, allocation));
    });
    for (const plan of decision.preemptions) await this.preempt(plan);
  }

  /**
   * Starts preempting a running job: saves the request on it (so a restarted server still requeues
   * it), records an event, and sends SIGTERM; the executor sends SIGKILL after the grace period.
   * The attempt's end (watched as any other) puts the job back in the queue.
   */
  private async preempt(plan: PreemptionPlan): Promise<void> {
    const { store, clock } = this.deps;
    const row = await store.get(plan.victim.jobId);
    if (!row || row.phase !== "RUNNING" || !row.handle || row.preempt_requested_at !== null || row.cancel_requested_at !== null) return;
    const graceSeconds = this.deps.preemption?.graceSeconds ?? 30;
    const now = clock.now();
    const record: PreemptionRecord = { by: plan.for.jobId, reason: plan.reason, message: plan.message, graceSeconds };
    if (!(await store.patch(row.job_id, ["RUNNING"], { preempt_requested_at: now, preemption: JSON.stringify(record) }, row.attempt))) return;
    await store.appendEvent(row.job_id, {
      type: "Preempting",
      message: `${capitalize(plan.message)}; SIGTERM sent, ${graceSeconds}s to save a checkpoint before SIGKILL (compute.preemption.graceSeconds); the job then goes back to the queue without spending a retry`,
      time: now,
    });
    this.deps.logger.info({ jobId: row.job_id, for: plan.for.jobId, reason: plan.reason }, "preempting a job");
    const handle = this.watches.get(row.job_id)?.handle ?? (JSON.parse(row.handle) as ExecutionHandle);
    this.track(this.executorOf(handle).cancel(handle, { graceMs: graceSeconds * 1000 }));
  }

  /** The backends' capacity, with those in backoff (they did not answer a moment ago) marked unavailable. */
  private async pools(): Promise<Map<string, MachineResources | { unavailable: string }>> {
    const pools = new Map(await (this.deps.pools?.() ?? Promise.resolve(new Map<string, MachineResources | { unavailable: string }>())));
    const now = this.deps.clock.now();
    for (const [name, b] of this.backoff) {
      if (b.until > now) pools.set(name, { unavailable: `${b.reason} (next try in ${Math.ceil((b.until - now) / 1000)}s)` });
    }
    return pools;
  }

  /** A backend did not answer: its jobs wait, and the next try comes after a doubling delay. */
  private backOff(name: string, reason: string): void {
    const max = (this.deps.maxRetrySeconds ?? 60) * 1000;
    const delayMs = Math.min(max, (this.backoff.get(name)?.delayMs ?? 500) * 2);
    this.backoff.set(name, { until: this.deps.clock.now() + delayMs, delayMs, reason });
    setTimeout(() => this.kick(), delayMs + 10).unref();
  }

  private jobDir(jobId: string): string {
    return join(this.deps.dataDir, "jobs", jobId);
  }

  private async startAttempt(row: JobRow, allocation: Allocation): Promise<void> {
    const { store, clock, tokens } = this.deps;
    const spec = JSON.parse(row.spec) as JobSpec;
    const jobDir = this.jobDir(row.job_id);
    const checkpointDir = spec.checkpointDir ?? join(jobDir, "checkpoints");
    const outputDir = join(jobDir, "outputs");
    const request = JSON.parse(row.request) as ResourceRequest;
    const profile = request.profile;
    const backend = request.executor ?? "local";
    let executor: Executor;
    let handle: ExecutionHandle;
    try {
      const token = await tokens.mintToken(row.job_id);
      const argv = [...spec.command];
      if (spec.hyperparameterArgs) for (const [k, v] of Object.entries(spec.hyperparameters)) argv.push(`--${k}=${String(v)}`);
      // Admin's values, then the profile's, then the job's own; Paved's variables win over all.
      const env: Record<string, string> = {
        ...this.deps.jobEnvironment,
        ...(profile ? this.deps.profileEnv?.(profile) : undefined),
        ...spec.env,
        PAVED_JOB_ID: row.job_id,
        PAVED_ATTEMPT: String(row.attempt),
        PAVED_CHECKPOINT_DIR: checkpointDir,
        PAVED_OUTPUT_DIR: outputDir,
        PAVED_HYPERPARAMETERS: JSON.stringify(spec.hyperparameters),
        MLFLOW_TRACKING_URI: this.deps.serverUrl(),
        MLFLOW_EXPERIMENT_ID: row.experiment_id,
        MLFLOW_TRACKING_TOKEN: token,
      };
      if (row.run_id) env.MLFLOW_RUN_ID = row.run_id;
      // Registered dataset versions, written read-only into the job's folder: PAVED_INPUTS_DIR, PAVED_DATASET_<NAME>.
      Object.assign(env, await materializeInputs(spec, row.team_id, jobDir, this.datasets));
      const workspaceId = (spec as StoredJobSpec).workspaceId;
      if (workspaceId) {
        // A workspace's server: `paved` in its terminals and kernels acts with the workspace's token.
        Object.assign(env, { PAVED_URL: this.deps.serverUrl(), PAVED_TOKEN: token, PAVED_WORKSPACE_ID: workspaceId, PAVED_TEAM: row.team_id });
      }
      executor = this.executorFor(backend);
      const { nodes, processesPerNode, worldSize } = worldOf(spec.compute);
      handle = await executor.submit(
        {
          jobId: row.job_id,
          attempt: row.attempt,
          argv,
          workingDir: spec.workingDir,
          env,
          jobDir,
          writableDirs: [checkpointDir, outputDir],
          gpuType: request.gpuType,
          ...(request.placement ? { placement: request.placement } : {}),
          ...(worldSize > 1 ? { processes: { nodes, processesPerNode } } : {}),
          ...((spec as StoredJobSpec).arrayGroup ? { arrayGroup: (spec as StoredJobSpec).arrayGroup } : {}),
          ...(spec.maxRuntime !== undefined ? { timeLimitSeconds: spec.maxRuntime + (this.deps.preemption?.graceSeconds ?? 30) } : {}),
        },
        allocation,
      );
      this.backoff.delete(backend);
    } catch (error) {
      const now = clock.now();
      if ((error as { code?: string }).code === "UNAVAILABLE") {
        // The backend did not answer (Slurm down): nothing was submitted (submits are idempotent,
        // so one that was is found on the next try). Queued again as the same attempt, with backoff.
        const reason = (error as Error).message;
        await tokens.revokeToken(row.job_id).catch(() => undefined);
        this.backOff(backend, reason);
        const message = `${reason}; queued again as the same attempt (no retry spent), Paved tries again with backoff`;
        const patch = { allocation: null, attempt_started_at: null, message, pending: { reason: `${reason}; the job waits and Paved tries again`, resources: [], backend: { name: backend, unavailable: reason } }, ...(row.attempt === 1 ? { started_at: null } : {}) };
        await store.transition(row.job_id, ["STARTING"], "QUEUED", patch, { type: "BackendUnavailable", message, time: now }, row.attempt);
        return;
      }
      const message = `could not start: ${(error as Error).message}`;
      await tokens.revokeToken(row.job_id).catch(() => undefined);
      if (await store.transition(row.job_id, ["STARTING"], "FAILED", { allocation: null, finished_at: now, message }, { type: "Failed", message, time: now }, row.attempt)) {
        await this.finishRun(row, "FAILED", now);
      }
      this.kick();
      return;
    }
    const now = clock.now();
    // A cluster's id for the attempt, recorded as soon as the cluster has it (how to find it there).
    const backendId = typeof handle.slurmJobId === "string" ? handle.slurmJobId : handle.kind === "kubernetes" ? `${String(handle.namespace)}/${String(handle.name)}` : undefined;
    if (backendId) await store.appendEvent(row.job_id, { type: "BackendSubmitted", message: `attempt ${row.attempt} submitted to ${executor.kind} as job ${backendId}`, time: now });
    // The escape hatch leaves a trace on every attempt that used it.
    const extraArgs = request.placement?.extraArgs ?? [];
    if (extraArgs.length) await store.appendEvent(row.job_id, { type: "ExecutorArgs", message: `attempt ${row.attempt} passed its profile's raw ${executor.kind} arguments: ${extraArgs.join(" ")}`, time: now });
    const podSpecPatch = request.placement?.podSpecPatch;
    if (podSpecPatch) await store.appendEvent(row.job_id, { type: "ExecutorArgs", message: `attempt ${row.attempt} applied its profile's pod spec patch: ${JSON.stringify(podSpecPatch).slice(0, 2000)}`, time: now });
    const first = await executor.observe(handle).catch((): ObservedState => ({ state: "running" }));
    if (first.state === "pending") {
      // Accepted by a cluster and waiting in its queue: STARTING (with its handle) until it runs.
      const saved = await store.patch(row.job_id, ["STARTING"], { handle, message: first.reason }, row.attempt);
      if (!saved) {
        await executor.cancel(handle);
        return;
      }
      await store.appendEvent(row.job_id, { type: "BackendQueued", message: `attempt ${row.attempt}: ${first.reason}`, time: clock.now() });
      this.watch({ ...row, phase: "STARTING", handle: JSON.stringify(handle) }, handle, allocation, first.reason);
      return;
    }
    await this.markStarted(row, handle, allocation, now);
  }

  /** An attempt runs: RUNNING with its handle, its run too; the environment is captured once. */
  private async markStarted(row: JobRow, handle: ExecutionHandle, allocation: Allocation, now: number): Promise<void> {
    const { store, runs } = this.deps;
    const executor = this.executorOf(handle);
    const spec = JSON.parse(row.spec) as JobSpec;
    const jobDir = this.jobDir(row.job_id);
    const pid = typeof handle.pid === "number" ? handle.pid : null;
    const started = await store.transition(
      row.job_id,
      ["STARTING"],
      "RUNNING",
      { handle, pid, pid_start: typeof handle.pidStart === "string" ? handle.pidStart : null, message: null },
      { type: "Started", message: `attempt ${row.attempt} started${pid ? ` (pid ${pid})` : ""}`, time: now },
      row.attempt,
    );
    if (!started) {
      // Someone else moved the job meanwhile; the attempt we just started must not run.
      await executor.cancel(handle);
      return;
    }
    if (row.run_id) this.track(runs.updateRun(row.run_id, { status: "RUNNING" }));
    const running = { ...row, phase: "RUNNING", handle: JSON.stringify(handle) };
    const watch = this.watches.get(row.job_id) ?? this.watch(running, handle, allocation);
    watch.phase = "RUNNING";
    if (row.attempt === 1 && row.run_id) {
      const machine = await this.deps.machine();
      const runAs = this.deps.runAs;
      const helperEnv = { ...this.deps.helperEnv, ...(runAs ? { HOME: join(jobDir, "home"), USER: runAs.name, LOGNAME: runAs.name } : {}) };
      const as = { env: helperEnv, ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}) };
      const input = { runId: row.run_id, jobId: row.job_id, spec, allocation, machine, python: pythonOf(spec.command, this.deps.python), as };
      // One capture at a time: a burst of submits must not become a burst of git and pip
      // processes competing with the jobs being started.
      const capture = this.captures.then(() => captureEnvironment(runs, input, this.deps.logger));
      this.captures = capture.catch(() => undefined);
      this.track(capture);
    }
    const fresh = await store.get(row.job_id);
    if (fresh?.cancel_requested_at != null) {
      await executor.cancel(handle);
      await watch.ended;
    }
  }

  /** Watches a running (or, on a cluster, still queued) attempt until it ends, then records the end. */
  private watch(row: JobRow, handle: ExecutionHandle, allocation: Allocation, pendingReason?: string): Watch {
    const spec = JSON.parse(row.spec) as JobSpec;
    const abort = new AbortController();
    const watch: Watch = {
      jobId: row.job_id,
      attempt: row.attempt,
      runId: row.run_id,
      handle,
      allocation,
      attemptStartedAt: row.attempt_started_at ?? this.deps.clock.now(),
      maxRuntimeMs: spec.maxRuntime !== undefined ? spec.maxRuntime * 1000 : undefined,
      abort,
      timedOut: false,
      phase: row.phase === "STARTING" ? "STARTING" : "RUNNING",
      pendingReason,
      tailer: this.tailerOf(row),
      ended: Promise.resolve(),
    };
    this.watches.set(row.job_id, watch);
    let settle: () => void = () => undefined;
    watch.ended = new Promise<void>((resolve) => (settle = resolve));
    const loop = async () => {
      try {
        const executor = this.executorOf(handle);
        for (;;) {
          try {
            if (executor.waitForExit) await executor.waitForExit(handle, abort.signal);
            else await sleep(this.deps.sweepMs ?? 1000, undefined, { signal: abort.signal }).catch(() => undefined);
            if (abort.signal.aborted) return;
            const state = await executor.observe(handle);
            if (state.state === "running" || state.state === "pending") continue;
            const current = await this.deps.store.get(row.job_id);
            if (current) await this.endAttempt(current, handle, state, watch.timedOut);
            return;
          } catch (error) {
            // A failed read or write must not leave the job RUNNING unwatched: try again.
            this.deps.logger.warn({ err: error, jobId: row.job_id }, "watching a job failed; retrying");
            await sleep(this.deps.sweepMs ?? 1000, undefined, { signal: abort.signal }).catch(() => undefined);
          }
        }
      } finally {
        if (this.watches.get(row.job_id) === watch) this.watches.delete(row.job_id);
        settle();
      }
    };
    this.track(loop());
    return watch;
  }

  /** Reads an attempt's metric lines into its run, from where the last reader stopped. */
  private tailerOf(row: JobRow): MetricTailer | undefined {
    if (!row.run_id) return undefined;
    const jobDir = this.jobDir(row.job_id);
    return new MetricTailer(attemptLogPath(jobDir, row.attempt), join(jobDir, `attempt-${row.attempt}.metrics.json`), row.run_id, this.deps.runs, this.deps.clock);
  }

  /** Decides how an attempt's end moves the job: done, failed, cancelled, or queued again. */
  private async endAttempt(row: JobRow, handle: ExecutionHandle | undefined, state: ObservedState, timedOut: boolean): Promise<void> {
    if (state.state === "running" || state.state === "pending") return;
    const { store, clock } = this.deps;
    const spec = JSON.parse(row.spec) as JobSpec;
    // The log's last metric lines, also when the attempt ended while no server watched it.
    const watch = this.watches.get(row.job_id);
    await (watch ? watch.tailer : this.tailerOf(row))?.poll(true);
    if (handle) await this.executorOf(handle).cleanup?.(handle);
    const exitCode = state.state === "exited" ? state.exitCode : null;
    let to: JobPhase;
    let type: string;
    let message: string;
    // Attempts ended by preemption do not count against the retry budget.
    const spent = row.attempt - Number(row.preemptions ?? 0);
    const retriesLeft = spent < spec.retry.maxAttempts;
    const next = row.preemptions ? `attempt ${row.attempt + 1} (retry ${spent + 1} of ${spec.retry.maxAttempts}; preemptions do not count)` : `attempt ${row.attempt + 1} of ${spec.retry.maxAttempts}`;
    const preemption =
      row.preempt_requested_at !== null && row.preemption
        ? (JSON.parse(row.preemption) as PreemptionRecord)
        : state.state === "exited" && state.preempted
          ? { by: "", reason: "priority" as const, message: `preempted by ${handle?.kind ?? "its backend"} (a job of a higher-priority partition or QoS took its resources)`, graceSeconds: 0 }
          : undefined;
    if (row.cancel_requested_at !== null) {
      [to, type, message] = ["CANCELLED", "Cancelled", `cancelled; attempt ${row.attempt} stopped`];
    } else if (preemption && exitCode !== 0) {
      const how = exitCode === null ? "was stopped" : `exited with code ${exitCode}`;
      [to, type, message] = ["QUEUED", "Preempted", `${capitalize(preemption.message)}; attempt ${row.attempt} ${how} and the job is queued again as attempt ${row.attempt + 1}, resuming from its checkpoint dir (a preemption does not spend retry.maxAttempts)`];
    } else if (timedOut) {
      [to, type, message] = ["FAILED", "Failed", `exceeded maxRuntime of ${spec.maxRuntime}s; stopped attempt ${row.attempt}`];
    } else if (exitCode === 0) {
      [to, type, message] = ["SUCCEEDED", "Succeeded", `attempt ${row.attempt} exited with code 0`];
    } else if (exitCode !== null) {
      const retryable = spec.retry.retryOnExitCodes.includes(exitCode);
      if (retryable && retriesLeft) {
        [to, type, message] = ["QUEUED", "Retrying", `attempt ${row.attempt} exited with code ${exitCode}, which retry.retryOnExitCodes lists; queued ${next}`];
      } else {
        const why = retryable ? ` (no attempts left of ${spec.retry.maxAttempts})` : "";
        [to, type, message] = ["FAILED", "Failed", `attempt ${row.attempt} exited with code ${exitCode}${why}`];
      }
    } else if (retriesLeft) {
      [to, type, message] = ["QUEUED", "Retrying", `attempt ${row.attempt} vanished (${state.state === "vanished" ? state.reason : ""}); queued ${next}`];
    } else {
      [to, type, message] = ["FAILED", "Failed", `attempt ${row.attempt} vanished (${state.state === "vanished" ? state.reason : ""}) and no attempts are left of ${spec.retry.maxAttempts}`];
    }
    // Revoke before the transition: once the job is QUEUED again its next attempt mints a new
    // token, which a later revoke would take away.
    await this.deps.tokens.revokeToken(row.job_id);
    // The attempt's log and outputs reach its run before its phase moves: a client that sees
    // SUCCEEDED may register `runs:/<run>/outputs` at once. A crash in between ends the attempt
    // again after the restart, which uploads them again (the same paths, overwritten).
    await this.uploadAttempt(row);
    const now = clock.now();
    const base = { allocation: null, handle: null, pid: null, pid_start: null, exit_code: exitCode, message, preempt_requested_at: null, preemption: null };
    const preempted = type === "Preempted";
    const patch =
      to === "QUEUED"
        ? { ...base, attempt: row.attempt + 1, attempt_started_at: null, ...(preempted ? { preemptions: Number(row.preemptions ?? 0) + 1 } : {}) }
        : { ...base, finished_at: now, spec: withoutSecrets(spec) };
    const ended: AttemptRecord | undefined =
      row.allocation && row.attempt_started_at !== null
        ? { attempt: row.attempt, team: row.team_id, allocation: JSON.parse(row.allocation) as Allocation, startedAt: Number(row.attempt_started_at), endedAt: now, outcome: preempted ? "Preempted" : to }
        : undefined;
    const moved = await store.transition(row.job_id, ACTIVE_PHASES, to, patch, { type, message, time: now }, row.attempt, ended);
    if (!moved) return;
    this.kick();
    if (TERMINAL_PHASES.includes(to)) for (const listener of this.endListeners) listener(row.job_id, to);
    this.track(this.afterAttempt(row, to, now));
  }

  /**
   * Copies an ended attempt's log and its outputs folder into the job's run (idempotent). While the
   * artifact store does not answer (an S3 endpoint that is down), the job does not end: a model
   * version registered from `runs:/<run>/outputs` must never get half of them. Its message says so,
   * and this throws, so the attempt's end is handled again (the files stay in the job's folder).
   * Other failures (a file gone, one too large) are logged and skipped.
   */
  private async uploadAttempt(row: JobRow): Promise<void> {
    const { runs, logger } = this.deps;
    if (!row.run_id) return;
    const runId = row.run_id;
    const jobDir = this.jobDir(row.job_id);
    let unavailable: PlatformError | undefined;
    const put = async (path: string, open: () => Promise<Readable | undefined>) => {
      if (unavailable) return;
      try {
        const body = await open();
        if (body) await runs.putArtifact(runId, path, body);
      } catch (error) {
        if (isPlatformError(error) && error.code === "UNAVAILABLE") unavailable = error;
        else logger.warn({ err: error, jobId: row.job_id, path }, "uploading a job's log or output failed; skipped");
      }
    };
    const logPath = attemptLogPath(jobDir, row.attempt);
    if (await exists(logPath)) await put(`logs/attempt-${row.attempt}.log`, async () => createReadStream(logPath));
    // A distributed attempt's other ranks: their logs beside rank 0's (which is the job's log).
    const { worldSize } = worldOf((JSON.parse(row.spec) as JobSpec).compute);
    for (let rank = 1; rank < worldSize; rank++) {
      const rankLog = rankLogPath(jobDir, row.attempt, rank);
      if (await exists(rankLog)) await put(`logs/rank-${rank}/attempt-${row.attempt}.log`, async () => createReadStream(rankLog));
    }
    const outputDir = join(jobDir, "outputs");
    // The job may still have processes swapping files for links: open without following links,
    // and under runAs take only files its user owns (never one it could not read).
    for (const rel of await listFiles(outputDir)) await put(`outputs/${rel}`, () => openJobFile(join(outputDir, rel), this.deps.runAs?.uid));
    if (unavailable) {
      const message = `attempt ${row.attempt} ended; its log and outputs wait for the artifact store, which did not answer (${unavailable.message}); the job ends once they are stored`;
      if (row.message !== message) await this.deps.store.patch(row.job_id, ACTIVE_PHASES, { message }, row.attempt);
      throw new PlatformError("UNAVAILABLE", message);
    }
  }

  /** Bookkeeping after an attempt ended (the run's final tags and status); never holds up scheduling. */
  private async afterAttempt(row: JobRow, to: JobPhase, now: number): Promise<void> {
    if (to !== "QUEUED") await this.finishRun(row, to, now);
    await this.deps.store.markRecorded(row.job_id, row.attempt);
  }

  /**
   * Redoes the bookkeeping of attempts that ended just before a crash (idempotent). Their uploads
   * came before the transition; they are redone as well, in case the store lost them.
   */
  private async recordMissed(): Promise<void> {
    for (const row of await this.deps.store.unrecorded(TERMINAL_PHASES)) {
      const ended = TERMINAL_PHASES.includes(row.phase as JobPhase);
      const last = ended ? row.attempt : row.attempt - 1;
      this.track(
        (async () => {
          for (let attempt = row.recorded_attempt + 1; attempt <= last; attempt++) {
            const to = ended && attempt === row.attempt ? (row.phase as JobPhase) : "QUEUED";
            await this.uploadAttempt({ ...row, attempt });
            await this.afterAttempt({ ...row, attempt }, to, row.finished_at ?? this.deps.clock.now());
          }
        })(),
      );
    }
  }

  private async finishRun(row: JobRow, phase: JobPhase, now: number): Promise<void> {
    // The job's copies of its registered datasets go with its last attempt (the versions stay).
    await removeInputs(this.jobDir(row.job_id)).catch((error: unknown) => this.deps.logger.warn({ err: error, job: row.job_id }, "could not remove the job's dataset inputs"));
    if (!row.run_id) return;
    const final = await this.deps.store.get(row.job_id);
    const tags: Record<string, string> = { "paved.job.phase": phase, "paved.job.attempts": String(final?.attempt ?? row.attempt) };
    if (final?.exit_code != null) tags["paved.job.exit_code"] = String(final.exit_code);
    if (final?.started_at != null) tags["paved.job.duration_seconds"] = String((now - final.started_at) / 1000);
    await this.deps.runs.setTags(row.run_id, tags);
    await this.deps.runs.finishRun(row.run_id, phase === "SUCCEEDED" ? "FINISHED" : phase === "CANCELLED" ? "KILLED" : "FAILED", now);
  }

  /** On start: adopt attempts that are still running, finish those that ended while we were away. */
  private async recover(): Promise<void> {
    const { store, clock, logger } = this.deps;
    for (const row of await store.active()) {
      let handle = row.handle ? (JSON.parse(row.handle) as ExecutionHandle) : undefined;
      let executor: Executor;
      try {
        executor = handle ? this.executorOf(handle) : this.executorFor((JSON.parse(row.request) as ResourceRequest).executor);
      } catch (error) {
        logger.error({ err: error, jobId: row.job_id }, "a job's backend is no longer configured; leaving it as it is");
        continue;
      }
      if (!handle && executor.recover) {
        handle = await executor.recover({ jobId: row.job_id, attempt: row.attempt, jobDir: this.jobDir(row.job_id) });
        if (handle) await store.patch(row.job_id, ACTIVE_PHASES, { handle }, row.attempt);
        else if (row.phase === "STARTING") {
          await this.requeueNeverStarted(row);
          continue;
        }
      }
      const state: ObservedState = handle ? await executor.observe(handle) : { state: "vanished", reason: "it never reported a running process" };
      if (state.state === "pending" && handle && row.allocation) {
        // Still in the cluster's queue: watched again, STARTING until it runs.
        await store.appendEvent(row.job_id, { type: "Adopted", message: `attempt ${row.attempt} still waiting in ${executor.kind} after a restart; watching it again`, time: clock.now() });
        this.watch({ ...row, phase: "STARTING" }, handle, JSON.parse(row.allocation) as Allocation, state.reason);
        continue;
      }
      if (state.state !== "running" || !handle || !row.allocation) {
        await this.endAttempt(row, handle, state, false);
        continue;
      }
      const now = clock.now();
      if (row.phase === "STARTING") {
        await store.transition(row.job_id, ["STARTING"], "RUNNING", { handle, message: null }, { type: "Adopted", message: `attempt ${row.attempt} found running after a restart`, time: now }, row.attempt);
      } else {
        await store.appendEvent(row.job_id, { type: "Adopted", message: `attempt ${row.attempt} still running after a restart; watching it again`, time: now });
      }
      logger.info({ jobId: row.job_id, attempt: row.attempt }, "adopted a running job");
      this.watch({ ...row, phase: "RUNNING" }, handle, JSON.parse(row.allocation) as Allocation);
      if (row.preempt_requested_at !== null) {
        // Preempted before the restart: signal again with what is left of its grace period.
        const graceSeconds = row.preemption ? (JSON.parse(row.preemption) as PreemptionRecord).graceSeconds : (this.deps.preemption?.graceSeconds ?? 30);
        this.track(executor.cancel(handle, { graceMs: Math.max(0, graceSeconds * 1000 - (now - Number(row.preempt_requested_at))) }));
      }
    }
  }

  /**
   * An attempt the previous server claimed resources for but never started (it died between the
   * claim and the start; the executor finds no trace of it): it goes back to the queue as the same
   * attempt, so it spends nothing of retry.maxAttempts.
   */
  private async requeueNeverStarted(row: JobRow): Promise<void> {
    const { store, clock, tokens } = this.deps;
    await tokens.revokeToken(row.job_id).catch(() => undefined);
    const now = clock.now();
    const message = `attempt ${row.attempt} never started (the server stopped before starting it); queued again as the same attempt, which spends no retry`;
    const patch = { allocation: null, attempt_started_at: null, message, ...(row.attempt === 1 ? { started_at: null } : {}) };
    await store.transition(row.job_id, ["STARTING"], "QUEUED", patch, { type: "NotStarted", message, time: now }, row.attempt);
    this.deps.logger.info({ jobId: row.job_id, attempt: row.attempt }, "requeued an attempt that never started");
  }

  /** Enforces max runtime and reads metric lines of every watched attempt. */
  private async sweep(): Promise<void> {
    const now = this.deps.clock.now();
    for (const watch of this.watches.values()) {
      // Tracked, so stop() waits for a poll between logging metrics and saving its position: a
      // restarted server would otherwise log those lines again.
      if (watch.tailer) this.track(watch.tailer.poll());
      if (!watch.timedOut && watch.maxRuntimeMs !== undefined && now - watch.attemptStartedAt > watch.maxRuntimeMs) {
        watch.timedOut = true;
        await this.deps.store.appendEvent(watch.jobId, {
          type: "MaxRuntimeExceeded",
          message: `ran longer than maxRuntime (${watch.maxRuntimeMs / 1000}s); stopping it`,
          time: now,
        });
        this.track(this.executorOf(watch.handle).cancel(watch.handle));
      }
      if (watch.phase === "STARTING") this.track(this.checkStarted(watch));
    }
  }

  /** A watched attempt a cluster held in its queue: RUNNING once it runs, its reason saved while it waits. */
  private async checkStarted(watch: Watch): Promise<void> {
    const state = await this.executorOf(watch.handle).observe(watch.handle);
    if (watch.phase !== "STARTING") return;
    if (state.state === "pending") {
      if (state.reason !== watch.pendingReason) {
        watch.pendingReason = state.reason;
        await this.deps.store.patch(watch.jobId, ["STARTING"], { message: state.reason }, watch.attempt);
      }
      return;
    }
    if (state.state !== "running") return;
    const row = await this.deps.store.get(watch.jobId);
    if (!row || row.phase !== "STARTING" || row.attempt !== watch.attempt) return;
    watch.phase = "RUNNING";
    const now = this.deps.clock.now();
    // Its attempt (runtime, GPU-hours) starts when the cluster starts it, not when it was queued there.
    await this.deps.store.patch(watch.jobId, ["STARTING"], { attempt_started_at: now }, watch.attempt);
    watch.attemptStartedAt = now;
    await this.markStarted({ ...row, attempt_started_at: now }, watch.handle, watch.allocation, now);
  }

  private async sampleMetrics(): Promise<void> {
    if (!this.sampler || this.watches.size === 0) return;
    const sample = await this.sampler.sample();
    const now = this.deps.clock.now();
    await Promise.all(
      [...this.watches.values()].map(async (w) => {
        // GPU and host metrics are this machine's: a cluster job's are not sampled here.
        if (!w.runId || w.allocation.executor) return;
        const step = Math.max(0, Math.floor((now - w.attemptStartedAt) / 1000));
        // A distributed local attempt: each rank's CPU time and memory too (its handle lists the ranks' process groups).
        const ranks = Array.isArray(w.handle.ranks) ? (w.handle.ranks as { rank: number; pid: number }[]) : [];
        const metrics = [...systemMetricsFor(sample, w.allocation.gpus), ...(ranks.length > 1 ? rankMetricsFor(ranks) : [])].map((m) => ({ ...m, step, timestamp: now }));
        await this.deps.runs.logMetrics(w.runId, metrics);
      }),
    );
  }
}

/** A job holding resources, as the scheduler weighs it (priority, whether it may be preempted, and for whom it is). */
function activeJob(r: JobRow): ActiveJob {
  const spec = JSON.parse(r.spec) as Partial<JobSpec>;
  const priority = Number(r.priority);
  const preemption = r.preempt_requested_at !== null ? (r.preemption ? (JSON.parse(r.preemption) as PreemptionRecord) : { by: "" }) : undefined;
  return {
    jobId: r.job_id,
    name: r.name,
    team: r.team_id,
    allocation: JSON.parse(r.allocation!) as Allocation,
    priority,
    preemptible: isPreemptible({ priority, preemptible: spec.preemptible }),
    running: r.phase === "RUNNING" && r.handle !== null,
    attemptStartedAt: r.attempt_started_at === null ? null : Number(r.attempt_started_at),
    ...(preemption ? { preemptedFor: preemption.by } : {}),
  };
}

const capitalize = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/** The stored spec of an ended job: its env values are no longer needed by anyone, so they are dropped. */
function withoutSecrets(spec: JobSpec): string {
  return JSON.stringify({ ...spec, env: maskEnv(spec.env ?? {}) });
}

function describeAllocation(a: Allocation): string {
  const gpus = a.gpus.length ? `GPUs ${a.gpus.join(",")}` : "no GPUs";
  return `${gpus}, ${a.cpus} CPUs, ${a.memoryMiB} MiB`;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function listFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(root.length + 1))
    .sort();
}

/** The interpreter whose environment to record: the job's own when it runs Python, else the configured one. */
function pythonOf(command: string[], fallback: string): string {
  const program = command[0] ?? "";
  return /(^|\/)python[0-9.]*$/.test(program) ? program : fallback;
}
