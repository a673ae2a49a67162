import { existsSync, readFileSync } from "node:fs";
import { readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ReconcileLoop, type Clock, type Logger } from "../../core/index.ts";
import type { Job, JobService } from "../compute/index.ts";
import { folderSize } from "./home-size.ts";
import { jupyterRequest, workspaceFolders, writeJsonFile } from "./jupyter.ts";
import { probeKernel } from "./ready-probe.ts";
import type { WorkspaceSpec, WorkspacePhase } from "./schema.ts";
import { poolKey, type WorkspaceService } from "./service.ts";
import { idleLimitsFor, type WorkspaceSettings } from "./settings.ts";
import type { WorkspaceRow, WorkspaceStore } from "./store.ts";

/** GPU utilisation by physical index (nvidia-smi), null where it cannot tell. */
export type GpuUse = () => Promise<ReadonlyMap<number, number | null>>;

export interface WorkspaceControllerDeps {
  store: WorkspaceStore;
  jobs: JobService;
  service: () => WorkspaceService;
  settings: WorkspaceSettings;
  clock: Clock;
  logger: Logger;
  /** Samples GPU use; unset (no nvidia-smi): GPU idleness is not judged. */
  gpuUse?: GpuUse;
  /** How long a session may take from its job's start to a kernel answering before it is marked FAILED. */
  startTimeoutMs?: number;
  /** The data dir: a workspace's job snapshots are in workspaces/<id>/snapshots. */
  dataDir: string;
}

const ENDED_JOB = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);
/** How long a kernel that Jupyter reports as "starting" counts as in use (see watchUse). */
const STARTING_KERNEL_MS = 30_000;

/**
 * Reconciles workspaces with the jobs that run their servers: PENDING while the job waits (with its
 * reason), STARTING once it runs, RUNNING when a kernel answers through the server's socket (the
 * time that took is the session's ready time), STOPPED or FAILED when the job ends. Running ones
 * are watched for use (kernel activity, requests through the proxy, GPU utilisation) and stopped
 * when idle past their profile's limits, after a warning. Everything comes from the database, the
 * job and the Jupyter server, so a restarted server adopts running workspaces as they are.
 */
export class WorkspaceController {
  private readonly loop: ReconcileLoop;
  /** Workspaces with a start watcher running (PENDING/STARTING → RUNNING). */
  private readonly starting = new Map<string, Promise<void>>();
  /** Last request through the proxy per workspace, not yet written. */
  private readonly touches = new Map<string, number>();
  /** When a warm pool whose last start failed is tried again. */
  private readonly poolRetryAt = new Map<string, number>();
  /** When each running workspace's home was last measured by this process. */
  private readonly measured = new Map<string, number>();
  private stopped = new AbortController();

  constructor(private readonly deps: WorkspaceControllerDeps) {
    this.loop = new ReconcileLoop(() => this.pass(), { intervalMs: deps.settings.intervalSeconds * 1000, onError: (error) => deps.logger.error({ err: error }, "workspace pass failed") });
  }

  start(): void {
    this.stopped = new AbortController();
    this.loop.start();
  }

  async stop(): Promise<void> {
    this.stopped.abort();
    await this.loop.stop();
    await Promise.allSettled([...this.starting.values()]);
  }

  kick(): void {
    this.loop.kick();
  }

  /** Jupyter gave a notebook's session a kernel: that kernel's runs name the notebook from its next cell. */
  notebookOpened(workspaceId: string, kernelId: string, path: string): void {
    const file = workspaceFolders(this.deps.dataDir, workspaceId).notebooksFile;
    let map: Record<string, string> = {};
    try {
      map = JSON.parse(readFileSync(file, "utf8")) as Record<string, string>;
    } catch {
      // none yet
    }
    if (map[kernelId] === path) return;
    writeJsonFile(file, { ...map, [kernelId]: path });
  }

  /** A request reached the workspace through the proxy: it counts as use. */
  touch(workspaceId: string): void {
    this.touches.set(workspaceId, this.deps.clock.now());
  }

  private async pass(): Promise<void> {
    const { store } = this.deps;
    const rows = await store.list({ phases: ["PENDING", "STARTING", "RUNNING", "STOPPING"] });
    let gpuUse: ReadonlyMap<number, number | null> | undefined;
    for (const row of rows) {
      if (!this.loop.running) return;
      try {
        // Being created here: its environment is building or its job is being submitted.
        if (row.job_id === null && this.deps.service().launching.has(row.workspace_id)) continue;
        const job = row.job_id ? await this.deps.jobs.get(row.job_id).catch(() => undefined) : undefined;
        if (!job || ENDED_JOB.has(job.phase)) {
          await this.ended(row, job);
          continue;
        }
        if ((row.phase === "PENDING" || row.phase === "STARTING") && !this.starting.has(row.workspace_id)) {
          const task = this.watchStart(row.workspace_id).finally(() => this.starting.delete(row.workspace_id));
          this.starting.set(row.workspace_id, task);
        }
        if (row.phase === "PENDING") await this.pendingMessage(row, job);
        if (row.phase === "RUNNING") {
          if (job.allocation?.gpus.length && this.deps.gpuUse && !gpuUse) gpuUse = await this.deps.gpuUse().catch(() => new Map());
          await this.watchUse(row, job, gpuUse);
        }
      } catch (error) {
        this.deps.logger.warn({ err: error, workspaceId: row.workspace_id }, "looking at a workspace failed; trying again next pass");
      }
    }
    if (this.deps.settings.warmPool.length > 0 && this.loop.running) await this.tendPools(rows);
    // One home measured per pass, the one measured longest ago, each every homeSizeMinutes at most.
    const now = this.deps.clock.now();
    const due = rows
      .filter((r) => r.phase === "RUNNING" && now - (this.measured.get(r.workspace_id) ?? 0) >= this.deps.settings.homeSizeMinutes * 60_000)
      .sort((a, b) => (this.measured.get(a.workspace_id) ?? 0) - (this.measured.get(b.workspace_id) ?? 0))[0];
    if (due && this.loop.running) await this.measureHome(due).catch((error: unknown) => this.deps.logger.warn({ err: error, workspaceId: due.workspace_id }, "measuring a workspace's home failed"));
  }

  /** Which notebook each kernel runs, from Jupyter's sessions (a rename, a session opened another way). */
  private async refreshNotebooks(row: WorkspaceRow): Promise<void> {
    const sessions = await jupyterRequest(row.socket_path!, row.jupyter_token!, "GET", `/workspaces/${row.workspace_id}/api/sessions`, undefined, 5000).catch(() => undefined);
    if (sessions?.status !== 200) return;
    const map: Record<string, string> = {};
    for (const s of JSON.parse(sessions.body) as { path?: string; kernel?: { id?: string } }[]) if (s.kernel?.id && s.path) map[s.kernel.id] = s.path;
    const file = workspaceFolders(this.deps.dataDir, row.workspace_id).notebooksFile;
    const current = await readFile(file, "utf8").catch(() => "");
    if (current !== JSON.stringify(map)) writeJsonFile(file, map);
  }

  /**
   * Keeps each warm pool (workspaces.warmPool) at its size: one server started per pool and pass
   * while it is short (after a failure, e.g. the team's budget, a dozen passes later); servers of pools no
   * longer configured, and pool servers that ended, are removed.
   */
  private async tendPools(active: WorkspaceRow[]): Promise<void> {
    const now = this.deps.clock.now();
    const configured = new Map(this.deps.settings.warmPool.map((p) => [poolKey(p), p]));
    const poolOf = (r: WorkspaceRow) => (JSON.parse(r.spec) as WorkspaceSpec).pool;
    const ended = (await this.deps.store.list({ phases: ["STOPPED", "FAILED"] })).filter((r) => poolOf(r) !== undefined);
    const members = active.filter((r) => poolOf(r) !== undefined);
    for (const row of [...ended, ...members.filter((r) => !configured.has(poolOf(r)!))]) {
      await this.deps.service().delete(row.workspace_id).catch((error: unknown) => this.deps.logger.warn({ err: error, workspaceId: row.workspace_id }, "removing a warm pool's server failed"));
    }
    for (const [key, pool] of configured) {
      const have = members.filter((r) => poolOf(r) === key).length;
      if (have >= pool.size || now < (this.poolRetryAt.get(key) ?? 0)) continue;
      try {
        await this.deps.service().fillPool(pool);
      } catch (error) {
        // A dozen passes (a minute at the default interval): a refusal (a budget, a missing team) is not retried in a loop.
        this.poolRetryAt.set(key, now + Math.min(60_000, this.deps.settings.intervalSeconds * 12_000));
        this.deps.logger.warn({ err: error, pool: key }, "starting a warm pool's server failed; trying again in a dozen passes");
      }
    }
  }

  /**
   * Measures a workspace's home folder with the snapshots of its jobs still running (bounded: see
   * folderSize) into `home_bytes`, which the ledger counts toward the team's storage quota; removes
   * the snapshots of jobs that ended (their code is in their runs).
   */
  async measureHome(row: Pick<WorkspaceRow, "workspace_id" | "home_dir">): Promise<number> {
    this.measured.set(row.workspace_id, this.deps.clock.now());
    const limit = this.deps.settings.homeSizeMaxEntries;
    const snapshots = join(this.deps.dataDir, "workspaces", row.workspace_id, "snapshots");
    for (const jobId of (await readdir(snapshots).catch(() => [] as string[])).slice(0, 1000)) {
      const job = await this.deps.jobs.get(jobId).catch(() => undefined);
      // A snapshot is taken before its job is stored: one without a job is young (being submitted)
      // or left by a submit that failed, removed once it is an hour old.
      const orphan = !job && this.deps.clock.now() - ((await stat(join(snapshots, jobId)).catch(() => undefined))?.mtimeMs ?? 0) > 3600_000;
      if (orphan || (job && ENDED_JOB.has(job.phase))) await rm(join(snapshots, jobId), { recursive: true, force: true });
    }
    const home = await folderSize(row.home_dir, limit);
    const kept = await folderSize(snapshots, Math.max(0, limit - home.entries));
    const bytes = home.bytes + kept.bytes;
    if (home.truncated || kept.truncated) this.deps.logger.warn({ workspaceId: row.workspace_id, entries: limit }, "a workspace's home has more entries than workspaces.homeSizeMaxEntries: its size counts those seen");
    await this.deps.store.patch(row.workspace_id, undefined, { home_bytes: bytes });
    return bytes;
  }

  /**
   * The job is gone: STOPPED when someone asked — the workspace's own stop, or its job cancelled
   * (`paved jobs cancel`, a budget's stop) — else FAILED (its server died).
   */
  private async ended(row: WorkspaceRow, job: Job | undefined): Promise<void> {
    const { store, clock } = this.deps;
    const now = clock.now();
    const from: WorkspacePhase[] = ["PENDING", "STARTING", "RUNNING", "STOPPING"];
    const cancelled = row.stop_requested_at === null && job?.phase === "CANCELLED" ? `its job ${job.id} was cancelled${job.message ? ` (${job.message})` : ""}` : undefined;
    if (row.stop_requested_at !== null || cancelled) {
      const reason = row.stop_reason ?? cancelled ?? "stopped";
      if (await store.transition(row.workspace_id, from, "STOPPED", { message: reason }, { type: "Stopped", message: `${reason}; its home folder is kept: paved workspace start ${row.workspace_id} brings it back`, time: now })) {
        await store.patchSession(row.workspace_id, row.session, { ended_at: now, end_reason: reason });
        await this.measureHome(row);
        this.measured.delete(row.workspace_id);
      }
      return;
    }
    const why = job ? `its Jupyter server's job ${job.id} ended ${job.phase}${job.exitCode !== null ? ` with code ${job.exitCode}` : ""}${job.message ? ` (${job.message})` : ""}` : row.job_id ? `its job ${row.job_id} is gone` : "the server stopped before its Jupyter server was submitted";
    const message = `${why}; read its log with paved logs ${row.job_id ?? ""}, then start it again: paved workspace start ${row.workspace_id}`;
    if (await store.transition(row.workspace_id, from, "FAILED", { message }, { type: "Failed", message, time: now })) {
      await store.patchSession(row.workspace_id, row.session, { ended_at: now, end_reason: "failed" });
      await this.measureHome(row);
      this.measured.delete(row.workspace_id);
    }
  }

  private async pendingMessage(row: WorkspaceRow, job: Job): Promise<void> {
    const reason = job.phase === "QUEUED" ? (job.pending as { reason?: string } | undefined)?.reason ?? "waiting to be scheduled" : null;
    if (reason !== row.message) await this.deps.store.patch(row.workspace_id, ["PENDING"], { message: reason });
  }

  /**
   * Watches one start: waits for the job to run, marks the workspace STARTING, then asks its
   * Jupyter server (over the socket) until it answers, starts a kernel and waits for that kernel to
   * answer a kernel_info_request over its websocket. Then the workspace is RUNNING and the time
   * since the request is the session's ready time. Polls every 25 ms so the figure is not the poll's.
   */
  private async watchStart(workspaceId: string): Promise<void> {
    const { store, clock, jobs } = this.deps;
    const signal = this.stopped.signal;
    let jobStartedAt: number | undefined;
    const watching = clock.now();
    while (!signal.aborted) {
      const row = await store.get(workspaceId);
      if (!row || !row.job_id || (row.phase !== "PENDING" && row.phase !== "STARTING")) return;
      const job = await jobs.get(row.job_id).catch(() => undefined);
      if (!job || ENDED_JOB.has(job.phase)) return this.kick();
      if (job.phase === "QUEUED" || job.phase === "STARTING") {
        // A job usually leaves the queue within milliseconds: look often at first (a 500 ms poll was
        // most of the time a cold start added to Jupyter's own), then every half second while it waits.
        const queued = job.phase === "QUEUED" && clock.now() - watching > 5000;
        await sleep(queued ? 500 : 25, undefined, { signal }).catch(() => undefined);
        continue;
      }
      jobStartedAt ??= clock.now();
      if (row.phase === "PENDING") {
        const gpus = job.allocation?.gpus.length ? `GPUs ${job.allocation.gpus.join(",")}` : "no GPUs";
        await store.transition(workspaceId, ["PENDING"], "STARTING", { message: null }, { type: "Scheduled", message: `job ${job.id} runs its Jupyter server (${gpus}); waiting for a kernel to answer`, time: clock.now() });
        continue;
      }
      // Until Jupyter binds its socket, a stat every 25 ms (the database is read again twice a
      // second): on a machine of few cores, the start's Python imports need the CPU more.
      for (const until = clock.now() + 500; !signal.aborted && clock.now() < until && !existsSync(row.socket_path!); ) {
        await sleep(25, undefined, { signal }).catch(() => undefined);
      }
      const ready = existsSync(row.socket_path!) && (await this.probe(row).catch(() => false));
      if (ready) {
        const now = clock.now();
        const session = await store.session(workspaceId, row.session);
        const readyMs = session ? now - Number(session.requested_at) : null;
        if (await store.transition(workspaceId, ["STARTING"], "RUNNING", { last_activity_at: now, message: null }, { type: "Ready", message: `a kernel answered ${readyMs === null ? "" : `${readyMs} ms after the request`}`, time: now })) {
          await store.patchSession(workspaceId, row.session, { ready_at: now, ready_ms: readyMs });
        }
        return;
      }
      if (clock.now() - jobStartedAt > (this.deps.startTimeoutMs ?? 5 * 60_000)) {
        const message = `its Jupyter server did not answer within ${Math.round((this.deps.startTimeoutMs ?? 300_000) / 1000)}s of starting; read its log with paved logs ${row.job_id}`;
        await store.patch(workspaceId, ["STARTING"], { stop_requested_at: clock.now(), stop_reason: message });
        await jobs.cancel(row.job_id).catch(() => undefined);
        await store.transition(workspaceId, ["STARTING", "STOPPING"], "FAILED", { message }, { type: "Failed", message, time: clock.now() });
        return;
      }
      await sleep(25, undefined, { signal }).catch(() => undefined);
    }
  }

  /** Whether the server answers and a new kernel answers kernel_info (a warm pool's server keeps that kernel as its spare). */
  private async probe(row: WorkspaceRow): Promise<boolean> {
    const pooled = (JSON.parse(row.spec) as WorkspaceSpec).pool !== undefined;
    return probeKernel(
      { workspaceId: row.workspace_id, socketPath: row.socket_path!, token: row.jupyter_token! },
      pooled ? { keepAs: workspaceFolders(this.deps.dataDir, row.workspace_id) } : {},
    );
  }

  /**
   * A running workspace's use: the latest of its kernels' activity (a busy kernel is in use now)
   * and requests through the proxy; and, with GPUs, whether they all sit at 0%. Past the profile's
   * limits (after a warning) it is stopped, its home kept.
   */
  private async watchUse(row: WorkspaceRow, job: Job, gpuUse: ReadonlyMap<number, number | null> | undefined): Promise<void> {
    const { store, clock } = this.deps;
    const now = clock.now();
    const spec = JSON.parse(row.spec) as WorkspaceSpec;
    // A warm pool's server waits for someone by design: it is not idle, it is ready.
    if (spec.pool !== undefined) return;
    const limits = idleLimitsFor(this.deps.settings, spec.profile);
    let last = Number(row.last_activity_at ?? row.updated_at);
    let busy = false;
    const kernels = await jupyterRequest(row.socket_path!, row.jupyter_token!, "GET", `/workspaces/${row.workspace_id}/api/kernels`, undefined, 5000).catch(() => undefined);
    if (kernels?.status === 200) {
      for (const k of JSON.parse(kernels.body) as { last_activity?: string; execution_state?: string }[]) {
        const at = k.last_activity ? Date.parse(k.last_activity) : NaN;
        if (Number.isFinite(at)) last = Math.max(last, at);
        // Jupyter Notebook 6 sometimes never hears a kernel's first status (its activity watcher
        // misses the iopub stream): the kernel then reads "starting" for ever, though it runs cells.
        // A start takes seconds, so "starting" counts as use only for a while; then it says nothing.
        const stillStarting = k.execution_state === "starting" && (!Number.isFinite(at) || now - at < STARTING_KERNEL_MS);
        if (k.execution_state === "busy" || stillStarting) busy = true;
      }
    }
    if (busy) last = now;
    // Naming notebooks on runs must never keep a workspace from being culled.
    await this.refreshNotebooks(row).catch((error: unknown) => this.deps.logger.warn({ err: error, workspaceId: row.workspace_id }, "reading a workspace's notebook sessions failed"));
    const touched = this.touches.get(row.workspace_id);
    if (touched !== undefined) {
      last = Math.max(last, touched);
      this.touches.delete(row.workspace_id);
    }
    const gpus = job.allocation?.gpus ?? [];
    let gpuIdleSince = row.gpu_idle_since === null ? null : Number(row.gpu_idle_since);
    if (gpus.length && gpuUse) {
      const readings = gpus.map((g) => gpuUse.get(g));
      const idle = readings.every((u) => u === 0);
      gpuIdleSince = idle ? (gpuIdleSince ?? now) : null;
    }
    const session = await store.session(row.workspace_id, row.session);
    const startedAt = Number(session?.requested_at ?? row.updated_at);
    const stops: { at: number; why: string }[] = [
      { at: last + limits.idleMinutes * 60_000, why: `no kernel activity for ${limits.idleMinutes} minutes` },
      { at: startedAt + limits.ttlHours * 3600_000, why: `it ran for its profile's limit of ${limits.ttlHours} hours` },
    ];
    if (gpuIdleSince !== null && !busy) stops.push({ at: gpuIdleSince + limits.gpuIdleMinutes * 60_000, why: `its GPUs sat at 0% for ${limits.gpuIdleMinutes} minutes` });
    const next = stops.reduce((a, b) => (b.at < a.at ? b : a));
    const patch: Partial<WorkspaceRow> = {};
    if (last !== Number(row.last_activity_at)) patch.last_activity_at = last;
    if (gpuIdleSince !== (row.gpu_idle_since === null ? null : Number(row.gpu_idle_since))) patch.gpu_idle_since = gpuIdleSince;
    if (row.idle_warned_at !== null && next.at - now > limits.warnMinutes * 60_000) patch.idle_warned_at = null;
    if (Object.keys(patch).length) await store.patch(row.workspace_id, ["RUNNING"], patch);
    // Never culled without a warning first: a limit that passed before any warning (a kernel that
    // stopped counting as busy long after its GPUs went idle) gives the warning's time from now.
    const warned = row.idle_warned_at !== null ? Number(row.idle_warned_at) : undefined;
    const stopAt = warned === undefined ? Math.max(next.at, now + limits.warnMinutes * 60_000) : Math.max(next.at, warned + limits.warnMinutes * 60_000);
    if (warned !== undefined && now >= stopAt) {
      await this.deps.service().stop(row.workspace_id, `culled: ${next.why}`);
      return;
    }
    if (warned === undefined && next.at - now <= limits.warnMinutes * 60_000) {
      await store.patch(row.workspace_id, ["RUNNING"], { idle_warned_at: now });
      await store.appendEvent(row.workspace_id, {
        type: "IdleWarning",
        message: `will be stopped at ${new Date(stopAt).toISOString()} (${next.why}) unless it is used before; its home folder is kept`,
        time: now,
      });
    }
  }
}
