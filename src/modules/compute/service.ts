import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import type { Kysely } from "kysely";
import { conflict, decodePositionToken, encodePositionToken, invalidInput, notFound, type Clock, type IdGenerator, type Principal, type ResourceRef, cutPage } from "../../core/index.ts";
import { DEFAULT_TEAM_ID, type Tables } from "../../storage/index.ts";
import type { ProfileCatalog } from "../catalog/index.ts";
import { teamForNew, visibleTeams } from "../identity/index.ts";
import { resolveDatasetPath } from "./capture.ts";
import { pinDatasets, type JobDatasets, type PinnedInput } from "./dataset-inputs.ts";
import type { JobController } from "./controller.ts";
import { attemptLogPath, type ExecutionHandle, type Executor } from "./executors/executor.ts";
import { backendMachine, type MachineResources } from "./resources.ts";
import type { RunRecorder } from "./run-recorder.ts";
import { FollowSlots, readLogPage, type LogBounds, type LogPage } from "./log-bounds.ts";
import { ANOTHER_TEAM, assertFeasible, backendOf, pendingFor, resolveRequest } from "./scheduler.ts";
import { maskEnv, type StoredJobSpec, type Allocation, type Job, type JobCheck, type JobEvent, type JobPhase, type JobSpec, type Pending, type ResourceRequest, type ResourcesView } from "./schema.ts";
import { ACTIVE_PHASES, TERMINAL_PHASES, type JobRow, type JobStore } from "./store.ts";
import { join } from "node:path";

export interface JobServiceDeps {
  store: JobStore;
  /** Where teams and memberships are read, to place a new job in its team. */
  db: Kysely<Tables>;
  controller: JobController;
  executor: Executor;
  /** Backends besides this machine by name (`slurm`). */
  backends?: ReadonlyMap<string, Executor>;
  /** Each backend's capacity as the scheduler sees it, or why it cannot be reached. */
  pools?: () => Promise<Map<string, MachineResources | { unavailable: string }>>;
  /** compute.executor: the backend of jobs whose profile names none. */
  defaultExecutor?: string;
  catalog: ProfileCatalog;
  machine: () => Promise<MachineResources>;
  runs: RunRecorder;
  clock: Clock;
  ids: IdGenerator;
  dataDir: string;
  /** Bounds of log reads and follows (compute.logs). */
  logBounds?: LogBounds;
  /** Admission: refuses a job before anything is stored (see ComputeDeps.admission). */
  admission?: JobAdmissionHook;
}

/**
 * Decides whether a job may be submitted, after its team and resources are resolved and before
 * anything is stored: throws a PlatformError (FORBIDDEN naming a broken policy rule, QUOTA_EXCEEDED
 * naming a spent budget). app.ts connects guardrails' admission here.
 */
export type JobAdmissionHook = (job: { spec: JobSpec; request: ResourceRequest; team: string }, principal: Principal) => Promise<void>;

/**
 * What a module above compute changes of a job before it is stored (a workspace runs jobs submitted
 * from it on a snapshot of their code): its spec, tags of its run, a line for its Submitted event.
 */
export interface PreparedJob {
  spec: JobSpec;
  tags?: Record<string, string>;
  note?: string;
}
/** Called for each job submitted through the API, after its admission; undefined leaves the job as it is. */
export type JobPreparer = (job: { id: string; spec: JobSpec; team: string }, principal: Principal) => Promise<PreparedJob | undefined>;

/** How a module above compute submits work of its own (a workspace's Jupyter server). */
export interface SubmitOptions {
  /** false: no run is recorded for the job (a workspace's server is not an experiment's run). */
  recordRun?: boolean;
  /** The workspace whose server the job runs: its process gets PAVED_URL, PAVED_TOKEN and PAVED_WORKSPACE_ID. */
  workspaceId?: string;
  /**
   * The job's id, chosen by the caller before it submits (a sweep records its trial's job id first,
   * so a restart finds the job instead of submitting a second one). A job of that id already there
   * is CONFLICT; the default is a new id.
   */
  jobId?: string;
  /** Tags of the job's run besides Paved's own (a sweep's trial: its parent run, the sweep). */
  runTags?: Record<string, string>;
  /** Jobs of one group started together may be submitted to their backend as one (a sweep's trials: a Slurm job array). */
  arrayGroup?: string;
}

/** Submitting, reading, cancelling and following jobs; the controller does the running. */
export class JobService {
  private readonly logBounds: LogBounds;
  private readonly follows: FollowSlots;
  private preparer: JobPreparer | undefined;
  private datasets: JobDatasets | undefined;
  /** Aborted when the module stops: open follows end instead of holding the server's close. */
  private stopping = new AbortController();

  constructor(private readonly deps: JobServiceDeps) {
    this.logBounds = deps.logBounds ?? { maxFollowsPerPrincipal: 8, maxFollows: 128, maxFollowSeconds: 3600, maxReadBytes: 4 * 1024 ** 2 };
    this.follows = new FollowSlots(this.logBounds);
  }

  /** Registration point for a module above compute that prepares submitted jobs (see JobPreparer). */
  usePreparer(preparer: JobPreparer): void {
    this.preparer = preparer;
  }

  /**
   * `<name>=<digest>` of each registered dataset version a spec reads, as its references resolve
   * now (a pipeline step's cache key: the same spec over a moved alias is new input).
   */
  async datasetDigests(spec: JobSpec, team: string): Promise<string[]> {
    return (await pinDatasets(spec, team, this.datasets, "local")).inputs.map((i) => `${i.name}=${i.digest}`);
  }

  /** Registration point for the datasets module: jobs may then read registered dataset versions. */
  useDatasets(datasets: JobDatasets): void {
    this.datasets = datasets;
    this.deps.controller.useDatasets(datasets);
  }

  /**
   * The team a new job goes to: the spec's `team` if the caller is in it, else the token's team,
   * else the caller's only team where it may create (see identity's teamForNew).
   */
  teamFor(spec: Pick<JobSpec, "team">, principal: Principal): Promise<string> {
    return teamForNew(this.deps.db, principal, spec.team);
  }

  /** A new job as the policy sees it: the team it would belong to. */
  async newJobResource(spec: Pick<JobSpec, "team">, principal: Principal): Promise<ResourceRef> {
    return { kind: "job", id: "(new)", team: await this.teamFor(spec, principal) };
  }

  /** A job as the policy sees it; one of a team the caller is not in answers as a missing one. */
  async resource(id: string): Promise<ResourceRef> {
    const team = await this.deps.store.team(id);
    if (team === undefined) throw missingJob(id);
    return { kind: "job", id, jobId: id, team, notFound: () => missingJob(id) };
  }

  /**
   * Validates what the spec points at, records the run (in the job's experiment, created in the
   * job's team when new), queues the job and schedules at once.
   */
  /** Calls `listener` when a job ends (SUCCEEDED, FAILED, CANCELLED by its attempt's end). */
  onJobEnded(listener: (jobId: string, phase: JobPhase) => void): void {
    this.deps.controller.onEnded(listener);
  }

  async submit(asSubmitted: JobSpec, principal: Principal, options: SubmitOptions = {}): Promise<Job> {
    const { store, runs, clock, ids } = this.deps;
    // The spec as admitted: registered datasets pinned to their versions.
    const { team, request, spec: submitted, inputs } = await this.admit(asSubmitted, principal);
    const experimentId = await runs.ensureExperiment(submitted.experiment ?? submitted.name, team);
    const id = options.jobId ?? ids.prefixed("job");
    if (options.jobId !== undefined && (await store.team(id)) !== undefined) throw conflict(`job '${id}' already exists`);
    const prepared = options.workspaceId === undefined ? await this.preparer?.({ id, spec: submitted, team }, principal) : undefined;
    const spec = prepared?.spec ?? submitted;
    const resolved: StoredJobSpec = { ...spec, experiment: submitted.experiment ?? submitted.name, team, ...(options.workspaceId ? { workspaceId: options.workspaceId } : {}), ...(options.arrayGroup ? { arrayGroup: options.arrayGroup } : {}) };
    // A workspace's token acts for the workspace's owner: the job and its run are theirs.
    const owner = principal.onBehalfOf ?? principal.name;
    const runId =
      options.recordRun === false
        ? null
        : (
            await runs.createRun({
              experimentId,
              runName: spec.name,
              userId: owner,
              jobId: id,
              status: "SCHEDULED",
              tags: { ...options.runTags, ...prepared?.tags, "paved.job_id": id, ...(request.profile ? { "paved.compute.profile": request.profile } : {}), ...(principal.workspaceId ? { "paved.workspace_id": principal.workspaceId } : {}) },
            })
          ).runId;
    // The run names the registered dataset versions it reads, before the job can start.
    if (runId && inputs.length > 0) await runs.logInputs(runId, inputs);
    const now = clock.now();
    await store.insert(
      { id, name: spec.name, owner, team, spec: resolved, request, priority: spec.priority, experimentId, runId, createdAt: now },
      { type: "Submitted", message: `submitted by ${owner}${principal.workspaceId ? ` from workspace ${principal.workspaceId}` : ""} in team ${team}; needs ${describeRequest(request)}${prepared?.note ? `; ${prepared.note}` : ""}` },
    );
    this.deps.controller.kick();
    return this.get(id, principal);
  }

  /**
   * Everything submit checks, without submitting (`paved policy check`): the same answer submit
   * would give, or what the job would be admitted as and what an hour of it costs.
   */
  async check(spec: JobSpec, principal: Principal): Promise<JobCheck> {
    const { team, request } = await this.admit(spec, principal);
    return { allowed: true, team, request, hourlyCost: this.deps.catalog.hourlyCost(request), currency: this.deps.catalog.prices.currency };
  }

  /**
   * What submit checks before it stores anything: the team, the working dir and datasets, the
   * resources (a known profile, a machine that can hold them), then admission (policies, budget).
   */
  private async admit(submitted: JobSpec, principal: Principal): Promise<{ team: string; request: ResourceRequest; spec: JobSpec; inputs: PinnedInput[] }> {
    const { catalog } = this.deps;
    const team = await this.teamFor(submitted, principal);
    await assertDirectory(submitted.workingDir, "workingDir");
    for (const d of submitted.datasets) {
      if ("path" in d) await assertExists(resolveDatasetPath(submitted.workingDir, d.path), `dataset '${d.name}'`);
    }
    const request = resolveRequest(submitted, catalog, this.deps.defaultExecutor);
    const { spec, inputs } = await pinDatasets(submitted, team, this.datasets, request.executor ?? "local");
    if (request.executor) await this.assertFeasibleOn(request.executor, request);
    else assertFeasible(request, await this.deps.machine(), catalog);
    await this.deps.admission?.({ spec, request, team }, principal);
    return { team, request, spec, inputs };
  }

  /**
   * What a cluster backend could never run is refused at submit (a partition or GPU type it does
   * not have, more than it has); a backend that does not answer now is not a reason to refuse: the
   * job waits for it.
   */
  private async assertFeasibleOn(name: string, request: ResourceRequest): Promise<void> {
    const backend = this.deps.backends?.get(name);
    if (!backend?.resources) {
      const known = ["local", ...(this.deps.backends?.keys() ?? [])];
      throw invalidInput(
        `${request.profile ? `compute profile '${request.profile}' runs` : "jobs run"} on executor '${name}', which this server does not have (compute.${name} is not set); executors here: ${known.join(", ")}`,
        { executors: known },
      );
    }
    let r;
    try {
      r = await backend.resources();
    } catch {
      return;
    }
    const partition = request.placement?.partition;
    if (partition !== undefined && !r.partitions.includes(partition)) {
      throw invalidInput(
        `Slurm partition '${partition}' (of compute profile '${request.profile}') does not exist; the cluster's partitions are ${r.partitions.join(", ") || "none"}: fix slurm.partition in compute.profilesFile`,
        { partitions: r.partitions },
      );
    }
    if (request.gpus > 0 && request.gpuType !== null && !r.gpuTypes.some((t) => t.toLowerCase().includes(request.gpuType!.toLowerCase()))) {
      const local = [...new Set((await this.deps.machine()).gpus.map((g) => g.name))];
      const has = r.gpuTypes.length ? `the ${name} cluster has ${r.gpuTypes.join(", ")}` : `the ${name} cluster's GPUs carry no type (ask without gpuType)`;
      throw invalidInput(`no backend has GPUs of type '${request.gpuType}': ${has}; this machine has ${local.join(", ") || "none"}; ask for one of those or drop gpuType`, {
        gpuTypes: { [name]: r.gpuTypes, local },
      });
    }
    // Against every node, down ones included: a job waits for a node that is down for now.
    assertFeasible(request, backendMachine(0, r.configured ?? r), this.deps.catalog, `the ${name} cluster`);
  }

  /** A job; with `reader`, what holds the resources it waits for is shown only as far as the reader may see. */
  async get(id: string, reader?: Principal): Promise<Job> {
    const row = await this.deps.store.get(id);
    if (!row) throw missingJob(id);
    const events = await this.deps.store.events([id]);
    return toJob(row, events.get(id) ?? [], canSee(reader, "jobs:read"));
  }

  /** Jobs of the teams `reader` may list (every team without a reader), newest first. */
  /**
   * One page of jobs of the teams `reader` may list (every team without a reader), newest first;
   * `owner: "me"` stands for the reader. `nextPageToken` is set when older jobs remain.
   */
  async list(opts: { phase?: JobPhase | undefined; owner?: string | undefined; limit: number; pageToken?: string | undefined }, reader?: Principal): Promise<{ jobs: Job[]; nextPageToken?: string }> {
    const teams = reader ? visibleTeams(reader, "jobs:list") : undefined;
    if (opts.owner === "me" && !reader) throw invalidInput("owner 'me' needs a caller; name the owner");
    const owner = opts.owner === "me" ? reader!.name : opts.owner;
    const before = opts.pageToken === undefined ? undefined : decodePositionToken(opts.pageToken);
    const rows = await this.deps.store.list({ phase: opts.phase, limit: opts.limit + 1, teams, owner, before });
    const { page, nextPageToken } = cutPage(rows, opts.limit, (last) => encodePositionToken({ createdAt: last.created_at, id: last.job_id }));
    const events = await this.deps.store.events(page.map((r) => r.job_id));
    const see = canSee(reader, "jobs:list");
    return { jobs: page.map((r) => toJob(r, events.get(r.job_id) ?? [], see)), ...(nextPageToken ? { nextPageToken } : {}) };
  }

  /**
   * Cancels every queued and running job of a team (a budget's stop), saying why in each job's
   * events; a running one gets SIGTERM and the grace period to checkpoint before SIGKILL.
   */
  async cancelTeam(team: string, reason: string): Promise<number> {
    const { store, controller, clock } = this.deps;
    const rows = (await Promise.all((["QUEUED", "STARTING", "RUNNING"] as const).map((phase) => store.list({ phase, limit: 10_000, teams: [team] })))).flat();
    await Promise.all(
      rows.map(async (row) => {
        await store.appendEvent(row.job_id, { type: "BudgetStop", message: reason, time: clock.now() });
        await controller.cancel(row.job_id);
      }),
    );
    return rows.length;
  }

  /**
   * Hands a running job to another owner, under another name and experiment (a warm pool's
   * workspace server given to the person whose workspace it becomes): its token then acts for them,
   * in that experiment. False when the job is no longer running.
   */
  async reassign(id: string, to: { owner: string; name: string; experimentId: string }, why: string): Promise<boolean> {
    const { store, clock } = this.deps;
    if (!(await store.patch(id, ["RUNNING"], { owner: to.owner, name: to.name, experiment_id: to.experimentId }))) return false;
    await store.appendEvent(id, { type: "Reassigned", message: `now ${to.name}, of ${to.owner}: ${why}`, time: clock.now() });
    return true;
  }

  /**
   * Cancels a job for a reason its events record (a sweep stopping a trial early); a running one
   * gets SIGTERM and the grace period before SIGKILL. Idempotent on ended jobs.
   */
  async stop(id: string, event: { type: string; message: string }): Promise<void> {
    const row = await this.deps.store.get(id);
    if (!row) throw missingJob(id);
    if (TERMINAL_PHASES.includes(row.phase as JobPhase)) return;
    await this.deps.store.appendEvent(id, { ...event, time: this.deps.clock.now() });
    await this.deps.controller.cancel(id);
  }

  /** Cancels the job (idempotent on ended jobs) and returns it. */
  async cancel(id: string, reader?: Principal): Promise<Job> {
    await this.get(id);
    await this.deps.controller.cancel(id);
    return this.get(id, reader);
  }

  /**
   * A part of an attempt's log (default: the current attempt), at most compute.logs.maxReadBytes:
   * from `offset`, or else the end of the log; `start`/`end`/`size` say where it lies, for paging.
   */
  async readLogs(id: string, opts: { attempt?: number; offset?: number; limitBytes?: number }): Promise<LogPage & { attempt: number }> {
    const job = await this.get(id);
    if (opts.attempt !== undefined && opts.attempt > job.attempt) {
      throw invalidInput(`job '${id}' has no attempt ${opts.attempt} yet; it is on attempt ${job.attempt}`);
    }
    const max = this.logBounds.maxReadBytes;
    if (opts.limitBytes !== undefined && opts.limitBytes > max) {
      throw invalidInput(`limitBytes ${opts.limitBytes} is over the ${max} bytes one log read returns (compute.logs.maxReadBytes); read in pages with offset`, { max });
    }
    const attempt = opts.attempt ?? job.attempt;
    const page = await readLogPage(attemptLogPath(join(this.deps.dataDir, "jobs", id), attempt), { offset: opts.offset, limit: opts.limitBytes ?? max });
    return { ...page, attempt };
  }

  /**
   * Follows a job's output until the job ends, the client goes (`signal`), or
   * compute.logs.maxFollowSeconds pass. Each principal holds at most maxFollowsPerPrincipal
   * follows and the server maxFollows: past either, QUOTA_EXCEEDED before anything streams.
   */
  async followLogs(id: string, opts: { attempt?: number; offset?: number; signal: AbortSignal }, principal: Principal): Promise<AsyncIterable<string>> {
    const job = await this.get(id);
    if (opts.attempt !== undefined && opts.attempt > job.attempt) {
      throw invalidInput(`job '${id}' has no attempt ${opts.attempt} yet; it is on attempt ${job.attempt}`);
    }
    const release = this.follows.acquire(principal.name);
    // Released when the stream ends, and also when the client goes before it starts reading.
    opts.signal.addEventListener("abort", release, { once: true });
    const seconds = this.logBounds.maxFollowSeconds;
    const expired = AbortSignal.timeout(seconds * 1000);
    const signal = AbortSignal.any([opts.signal, expired, this.stopping.signal]);
    const lines = this.logs(id, { follow: true, attempt: opts.attempt, offset: opts.offset, signal });
    return (async function* () {
      try {
        yield* lines;
        if (expired.aborted && !opts.signal.aborted) {
          yield `\n--- paved: this follow ended after ${seconds}s (compute.logs.maxFollowSeconds); follow again to keep watching ---\n`;
        }
      } finally {
        release();
      }
    })();
  }

  /** Ends every open follow (the server is stopping). */
  endFollows(): void {
    this.stopping.abort();
    this.stopping = new AbortController();
  }

  /**
   * A job's output. Without `attempt`, the current attempt; with `follow`, keeps streaming
   * (through later attempts) until the job ends or `signal` aborts. `offset` skips the first
   * bytes of the first attempt read. Unbounded: routes use readLogs and followLogs.
   */
  async *logs(id: string, opts: { follow: boolean; attempt?: number; offset?: number; signal: AbortSignal }): AsyncIterable<string> {
    const first = await this.get(id);
    if (opts.attempt !== undefined && opts.attempt > first.attempt) {
      throw invalidInput(`job '${id}' has no attempt ${opts.attempt} yet; it is on attempt ${first.attempt}`);
    }
    let attempt = opts.attempt ?? first.attempt;
    let offset = opts.offset;
    const jobDir = join(this.deps.dataDir, "jobs", id);
    for (;;) {
      if (opts.signal.aborted) return;
      const row = (await this.deps.store.get(id))!;
      const current = attempt === row.attempt;
      const live = current && row.handle !== null && ACTIVE_PHASES.includes(row.phase as JobPhase);
      const handle = live ? (JSON.parse(row.handle!) as ExecutionHandle) : undefined;
      const executor = handle ? (handle.kind === this.deps.executor.kind ? this.deps.executor : this.deps.backends?.get(handle.kind)) : undefined;
      if (opts.follow && handle && executor?.logs) {
        yield* executor.logs(handle, { follow: true, signal: opts.signal, offset });
        offset = undefined;
      } else if (!opts.follow || !current || row.handle !== null || (row.phase !== "QUEUED" && row.phase !== "STARTING")) {
        yield* readFile(attemptLogPath(jobDir, attempt), opts.signal, offset);
        offset = undefined;
      } else {
        // Queued or starting: nothing to show yet; wait for the attempt to run.
        await sleep(250, undefined, { signal: opts.signal }).catch(() => undefined);
        continue;
      }
      if (!opts.follow || opts.attempt !== undefined) return;
      // Wait until the job moves on: another attempt, or its end.
      for (;;) {
        if (opts.signal.aborted) return;
        const next = (await this.deps.store.get(id))!;
        if (next.attempt > attempt) {
          attempt = next.attempt;
          yield `\n--- attempt ${attempt} ---\n`;
          break;
        }
        if (TERMINAL_PHASES.includes(next.phase as JobPhase)) return;
        await sleep(200, undefined, { signal: opts.signal }).catch(() => undefined);
      }
    }
  }

  /** Totals, what is free, and which job holds each GPU (a job of a team `reader` cannot list shows as "another team"). */
  async resources(reader?: Principal): Promise<ResourcesView> {
    const machine = await this.deps.machine();
    const active = await this.deps.store.active();
    const see = canSee(reader, "jobs:list");
    const holder = new Map<number, { jobId: string | null; name: string; team?: string }>();
    let cpus = 0;
    let memoryMiB = 0;
    const onBackend = new Map<string, { gpus: number; cpus: number; memoryMiB: number; jobs: number }>();
    for (const row of active) {
      if (!row.allocation) continue;
      const a = JSON.parse(row.allocation) as Allocation;
      const name = backendOf(a);
      const use = onBackend.get(name) ?? { gpus: 0, cpus: 0, memoryMiB: 0, jobs: 0 };
      onBackend.set(name, { gpus: use.gpus + a.gpus.length, cpus: use.cpus + a.cpus, memoryMiB: use.memoryMiB + a.memoryMiB, jobs: use.jobs + 1 });
      if (name !== "local") continue;
      const shown = see(row.team_id) ? { jobId: row.job_id, name: row.name, team: row.team_id } : { jobId: null, name: ANOTHER_TEAM };
      for (const g of a.gpus) holder.set(g, shown);
      cpus += a.cpus;
      memoryMiB += a.memoryMiB;
    }
    const round = (n: number) => Math.round(n * 1e6) / 1e6;
    const backends: NonNullable<ResourcesView["backends"]> = [];
    const free = (t: { gpus: number; cpus: number; memoryMiB: number }, name: string) => {
      const use = onBackend.get(name) ?? { gpus: 0, cpus: 0, memoryMiB: 0, jobs: 0 };
      return { gpus: t.gpus - use.gpus, cpus: round(t.cpus - use.cpus), memoryMiB: t.memoryMiB - use.memoryMiB };
    };
    const localTotal = { gpus: machine.gpus.length, cpus: machine.cpus, memoryMiB: machine.memoryMiB };
    backends.push({ name: "local", available: true, total: localTotal, free: free(localTotal, "local"), gpuTypes: [...new Set(machine.gpus.map((g) => g.name))], partitions: [], jobs: onBackend.get("local")?.jobs ?? 0 });
    for (const [name, backend] of this.deps.backends ?? []) {
      try {
        const r = await backend.resources!();
        const total = { gpus: r.gpus.length, cpus: r.cpus, memoryMiB: r.memoryMiB };
        backends.push({ name, available: true, total, free: free(total, name), gpuTypes: r.gpuTypes, partitions: r.partitions, jobs: onBackend.get(name)?.jobs ?? 0 });
      } catch (error) {
        const zero = { gpus: 0, cpus: 0, memoryMiB: 0 };
        backends.push({ name, available: false, reason: (error as Error).message, total: zero, free: zero, gpuTypes: [], partitions: [], jobs: onBackend.get(name)?.jobs ?? 0 });
      }
    }
    return {
      backends,
      total: { gpus: machine.gpus.length, cpus: machine.cpus, memoryMiB: machine.memoryMiB },
      free: {
        gpus: machine.gpus.filter((g) => !holder.has(g.index)).length,
        cpus: Math.round((machine.cpus - cpus) * 1e6) / 1e6,
        memoryMiB: machine.memoryMiB - memoryMiB,
      },
      gpus: machine.gpus.map((g) => ({ index: g.index, uuid: g.uuid, name: g.name, memoryMiB: g.memoryMiB, heldBy: holder.get(g.index) ?? null })),
    };
  }
}

/** Whether `reader` may see a job of `team` with `action` (everyone, without a reader). */
function canSee(reader: Principal | undefined, action: "jobs:read" | "jobs:list"): (team: string) => boolean {
  if (!reader) return () => true;
  const teams = visibleTeams(reader, action);
  if (teams === undefined) return () => true;
  const set = new Set(teams);
  return (team) => set.has(team);
}

function missingJob(id: string): Error {
  return notFound(`job '${id}' does not exist; list jobs with \`paved jobs ls\``);
}

export function toJob(row: JobRow, events: JobEvent[], canSeeTeam: (team: string) => boolean = () => true): Job {
  const spec = JSON.parse(row.spec) as JobSpec;
  return {
    id: row.job_id,
    name: row.name,
    phase: row.phase as JobPhase,
    priority: Number(row.priority),
    attempt: Number(row.attempt),
    maxAttempts: spec.retry.maxAttempts,
    owner: row.owner,
    team: row.team_id,
    experimentId: row.experiment_id,
    runId: row.run_id,
    createdAt: Number(row.created_at),
    startedAt: row.started_at === null ? null : Number(row.started_at),
    finishedAt: row.finished_at === null ? null : Number(row.finished_at),
    exitCode: row.exit_code,
    message: row.message,
    request: JSON.parse(row.request) as ResourceRequest,
    allocation: row.allocation ? (JSON.parse(row.allocation) as Allocation) : null,
    ...(row.pending && row.phase === "QUEUED" ? { pending: pendingFor(JSON.parse(row.pending) as Pending, canSeeTeam, DEFAULT_TEAM_ID) } : {}),
    events,
    // env values are secrets: the job gets them, responses show their names only.
    spec: { ...spec, env: maskEnv(spec.env ?? {}) },
  };
}

function describeRequest(r: ResourceRequest): string {
  const gpus = r.gpus > 0 ? `${r.gpus} ${r.gpuType ?? ""} GPU${r.gpus === 1 ? "" : "s"}, `.replace("  ", " ") : "";
  return `${r.profile ? `profile ${r.profile}: ` : ""}${gpus}${r.cpus} CPUs, ${r.memoryMiB} MiB`;
}

async function assertDirectory(path: string, what: string): Promise<void> {
  const s = await stat(path).catch(() => undefined);
  if (!s?.isDirectory()) throw invalidInput(`${what} '${path}' is not an existing directory on the server; create it or fix the path`);
}

async function assertExists(path: string, what: string): Promise<void> {
  const s = await stat(path).catch(() => undefined);
  if (!s) throw invalidInput(`${what} path '${path}' does not exist; fix the path (relative paths resolve against workingDir)`);
}

async function* readFile(path: string, signal: AbortSignal, start = 0): AsyncIterable<string> {
  const s = await stat(path).catch(() => undefined);
  if (!s) return;
  const stream = createReadStream(path, { encoding: "utf8", signal, start });
  try {
    for await (const chunk of stream) yield chunk as string;
  } catch (error) {
    if ((error as Error).name !== "AbortError") throw error;
  }
}
