import { spawn } from "node:child_process";
import { closeSync, constants, existsSync, fstatSync, mkdirSync, openSync, readSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, isAbsolute, join, relative } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { PlatformError, readProcessStat } from "../../../core/index.ts";
import { prepareJobFolders, type RunAsUser } from "../run-as.ts";
import type { Allocation } from "../schema.ts";
import { attemptLogPath, rankLogPath, type ExecutionHandle, type ExecutionRequest, type Executor, type ObservedState } from "./executor.ts";
import { followLogFile } from "./log-follow.ts";
import { Spawner, type SpawnRequest, type Spawned } from "./spawner.ts";
import { findAttemptGroup, isSameProcessAlive, processGroupMembers, readProcessEnv } from "./process-identity.ts";

/**
 * A constant wrapper: it records its pid, runs the user's argv as positional parameters (never
 * interpolated into a command line), then writes the exit status atomically, so the status
 * survives a crash or restart of `paved up`. It traps SIGTERM (the whole process group gets it on
 * cancel, timeout or preemption) with a no-op, which a shell runs only once its foreground command
 * has ended: the wrapper outlives the program through its grace period to checkpoint, and records
 * how it ended. The program itself keeps the default SIGTERM action (a trap, unlike an ignore, is
 * not inherited).
 */
/**
 * How long after its request a process may still be started. A server killed while its spawner
 * holds a start request would otherwise leave a start that lands after the next server looked for
 * the attempt and queued it again: two processes of one attempt. The request says when it
 * expires, the spawner refuses it after that, and `recover` waits out the window of a start it
 * finds recorded (`attempt-N.start`, in the job's folder) before it decides that none happened.
 */
const START_WINDOW_MS = 10_000;

const WRAPPER =
  'trap : TERM; echo $$ > "$PAVED_PID_FILE"; "$@"; code=$?; printf %s "$code" > "$PAVED_EXIT_FILE.tmp" && mv "$PAVED_EXIT_FILE.tmp" "$PAVED_EXIT_FILE"';

export interface LocalHandle extends ExecutionHandle {
  kind: "local";
  jobId: string;
  attempt: number;
  /** The wrapper's pid, which is also the process group id of everything the attempt starts. */
  pid: number;
  /** /proc/<pid>/stat field 22: pid + start time identify the process even after pid reuse. */
  pidStart: string;
  logPath: string;
  exitFile: string;
  /**
   * Every rank of a distributed attempt (rank 0 first, the same process as the fields above); absent
   * for an attempt of one process. The attempt is one unit: observe, cancel and cleanup cover all.
   */
  ranks?: RankProcess[];
}

/** One rank of a distributed local attempt: its own process group, pid and exit files, and log. */
export interface RankProcess {
  rank: number;
  pid: number;
  pidStart: string;
  logPath: string;
  exitFile: string;
}

export interface LocalExecutorOptions {
  /**
   * What every job starts from before its own variables: the allow-listed part of the server's
   * environment (PATH, HOME, …), never the server's whole environment.
   */
  baseEnv: Record<string, string | undefined>;
  /**
   * Runs every job as this OS user (the server must be root): its processes get the user's uid
   * and gid, HOME is the job's own `home/` folder, and only the job's folders are writable to it.
   */
  runAs?: RunAsUser;
  /** How long a cancelled attempt gets between SIGTERM and SIGKILL. */
  killGraceMs?: number;
  /** How often an adopted attempt (not our child) is polled for its end. */
  pollMs?: number;
  /**
   * Start processes through the small spawner helper process (default, when its script is
   * present) or by forking the server itself ("inline").
   */
  spawn?: "spawner" | "inline";
}

/** Runs attempts as local process groups, GPUs pinned with CUDA_VISIBLE_DEVICES. */
export class LocalExecutor implements Executor {
  readonly kind = "local";
  readonly capabilities = new Set(["gpu"] as const);
  private readonly exits = new Map<number, Promise<void>>();
  private readonly killGraceMs: number;
  private readonly pollMs: number;
  private readonly spawner: Spawner | undefined;
  private readonly baseEnv: Record<string, string>;
  /** Distributed attempts whose surviving ranks are being stopped after a rank failed (memory only: a restart signals again). */
  private readonly stopping = new Set<string>();

  constructor(private readonly options: LocalExecutorOptions) {
    this.killGraceMs = options.killGraceMs ?? 10_000;
    this.pollMs = options.pollMs ?? 500;
    const base: Record<string, string> = {};
    for (const [k, v] of Object.entries(options.baseEnv)) if (v !== undefined) base[k] = v;
    this.baseEnv = base;
    this.spawner = (options.spawn ?? "spawner") === "spawner" && Spawner.available() ? new Spawner(base) : undefined;
  }

  async submit(job: ExecutionRequest, allocation: Allocation): Promise<LocalHandle> {
    const runAs = this.options.runAs;
    const status = statusDir(job.jobDir, runAs !== undefined);
    const home = join(job.jobDir, "home");
    const writable = job.writableDirs ?? [];
    if (runAs) {
      const inside = (dir: string) => {
        const rel = relative(job.jobDir, dir);
        return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel);
      };
      // Root never creates or chowns a folder a job spec names elsewhere on the machine.
      for (const dir of writable.filter((d) => !inside(d))) {
        if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
          throw new PlatformError(
            "INVALID_INPUT",
            `folder '${dir}' does not exist; with compute.runAs Paved creates only the job's own folders: create it writable by user '${runAs.name}', or leave checkpointDir unset`,
          );
        }
      }
      prepareJobFolders(job.jobDir, runAs, [home, status, ...writable.filter(inside)]);
    } else {
      mkdirSync(job.jobDir, { recursive: true });
      for (const dir of writable) mkdirSync(dir, { recursive: true });
    }
    const logPath = attemptLogPath(job.jobDir, job.attempt);
    const exitFile = join(status, `attempt-${job.attempt}.exit`);
    const env: Record<string, string> = { ...this.baseEnv };
    if (runAs) Object.assign(env, { HOME: home, USER: runAs.name, LOGNAME: runAs.name });
    Object.assign(env, job.env, {
      CUDA_VISIBLE_DEVICES: allocation.gpus.join(","),
      PAVED_PID_FILE: join(status, `attempt-${job.attempt}.pid`),
      PAVED_EXIT_FILE: exitFile,
    });
    const processes = job.processes ?? { nodes: 1, processesPerNode: 1 };
    const worldSize = processes.nodes * processes.processesPerNode;
    const notAfter = Date.now() + START_WINDOW_MS;
    writeFileSync(startFile(job.jobDir, job.attempt), String(notAfter), { mode: 0o600 });
    if (worldSize > 1) return this.submitRanks(job, allocation, env, status, processes, notAfter);
    const { pid, pidStart } = await this.start(job, env, logPath, notAfter);
    return { kind: "local", jobId: job.jobId, attempt: job.attempt, pid, pidStart, logPath, exitFile };
  }

  /**
   * A distributed attempt: one process group per rank on this machine, each with torchrun's
   * rendezvous variables and its share of the GPUs. A rank that cannot be started stops those
   * already started.
   */
  private async submitRanks(
    job: ExecutionRequest,
    allocation: Allocation,
    env: Record<string, string>,
    status: string,
    processes: { nodes: number; processesPerNode: number },
    notAfter: number,
  ): Promise<LocalHandle> {
    const worldSize = processes.nodes * processes.processesPerNode;
    const share = allocation.gpus.length / worldSize;
    const port = await freePort();
    const ranks: RankProcess[] = [];
    try {
      for (let rank = 0; rank < worldSize; rank++) {
        const suffix = rank === 0 ? "" : `.rank-${rank}`;
        const exitFile = join(status, `attempt-${job.attempt}${suffix}.exit`);
        const logPath = rank === 0 ? attemptLogPath(job.jobDir, job.attempt) : rankLogPath(job.jobDir, job.attempt, rank);
        mkdirSync(dirname(logPath), { recursive: true });
        const nodeRank = Math.floor(rank / processes.processesPerNode);
        const rankEnv: Record<string, string> = {
          ...env,
          CUDA_VISIBLE_DEVICES: allocation.gpus.slice(rank * share, (rank + 1) * share).join(","),
          MASTER_ADDR: "127.0.0.1",
          MASTER_PORT: String(port),
          WORLD_SIZE: String(worldSize),
          RANK: String(rank),
          LOCAL_RANK: String(rank % processes.processesPerNode),
          LOCAL_WORLD_SIZE: String(processes.processesPerNode),
          NODE_RANK: String(nodeRank),
          GROUP_RANK: String(nodeRank),
          PAVED_PID_FILE: join(status, `attempt-${job.attempt}${suffix}.pid`),
          PAVED_EXIT_FILE: exitFile,
        };
        const { pid, pidStart } = await this.start(job, rankEnv, logPath, notAfter);
        ranks.push({ rank, pid, pidStart, logPath, exitFile });
      }
    } catch (error) {
      for (const r of ranks) signalGroup(r.pid, "SIGKILL");
      throw error;
    }
    const first = ranks[0]!;
    return { kind: "local", jobId: job.jobId, attempt: job.attempt, pid: first.pid, pidStart: first.pidStart, logPath: first.logPath, exitFile: first.exitFile, ranks };
  }

  /** Starts the wrapper around the job's argv, as its own process group, its output to `logPath`. */
  private async start(job: ExecutionRequest, env: Record<string, string>, logPath: string, notAfter: number): Promise<{ pid: number; pidStart: string }> {
    const runAs = this.options.runAs;
    const request: SpawnRequest = {
      file: "/bin/sh",
      args: ["-c", WRAPPER, "paved-job", ...job.argv],
      cwd: job.workingDir,
      env,
      log: logPath,
      notAfter,
      ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
    };
    let started: Spawned;
    try {
      started = this.spawner ? await this.spawner.spawn(request) : await spawnInline(request);
    } catch (error) {
      throw new PlatformError("INVALID_INPUT", `cannot start the job in '${job.workingDir}': ${(error as Error).message}; check workingDir`);
    }
    const { pid, ended } = started;
    this.exits.set(pid, ended);
    void ended.then(() => setTimeout(() => this.exits.delete(pid), 60_000).unref());
    return { pid, pidStart: readProcessStat(pid)?.startTime ?? "" };
  }

  async observe(handle: ExecutionHandle): Promise<ObservedState> {
    const h = asLocal(handle);
    if (h.ranks && h.ranks.length > 1) return this.observeRanks(h, h.ranks);
    const code = readExitFile(h.exitFile);
    if (code !== undefined) return { state: "exited", exitCode: code };
    if (h.pidStart && isSameProcessAlive(h.pid, h.pidStart)) return { state: "running" };
    // The wrapper may have written its status between the two checks.
    const late = readExitFile(h.exitFile);
    if (late !== undefined) return { state: "exited", exitCode: late };
    return { state: "vanished", reason: `process ${h.pid} is gone and left no exit status (killed, or the machine restarted)` };
  }

  /**
   * A distributed attempt runs while any rank runs. The first rank to fail (a non-zero exit, or
   * gone without one) decides the attempt's status, and the other ranks are stopped (SIGTERM, then
   * SIGKILL after the grace period): the attempt ends once every rank is gone.
   */
  private async observeRanks(h: LocalHandle, ranks: RankProcess[]): Promise<ObservedState> {
    const states = ranks.map((r) => {
      const alive = r.pidStart !== "" && isSameProcessAlive(r.pid, r.pidStart);
      // Read after the liveness check: a rank that wrote its status and then ended is not "gone".
      return { r, alive, code: readExitFile(r.exitFile) };
    });
    const live = states.filter((s) => s.code === undefined && s.alive);
    const failed = states.filter((s) => (s.code !== undefined && s.code !== 0) || (s.code === undefined && !s.alive));
    const record = join(dirname(h.exitFile), `attempt-${h.attempt}.first-failure`);
    if (failed.length > 0) {
      // The earliest status file is the first failure; a rank gone without one sorts last.
      const first = [...failed].sort((a, b) => mtimeOf(a.r.exitFile) - mtimeOf(b.r.exitFile))[0]!;
      try {
        writeFileSync(record, JSON.stringify({ rank: first.r.rank, exitCode: first.code ?? null }), { flag: "wx", mode: 0o600 });
      } catch {
        // Already recorded (an earlier look saw the first failure).
      }
      if (live.length > 0) this.stopRanks(h, live.map((s) => s.r));
    }
    if (live.length > 0) return { state: "running" };
    if (failed.length === 0) return { state: "exited", exitCode: 0 };
    const recorded = readRecord(record) ?? { rank: failed[0]!.r.rank, exitCode: failed[0]!.code ?? null };
    if (recorded.exitCode === null) return { state: "vanished", reason: `rank ${recorded.rank} (process ${ranks[recorded.rank]?.pid}) is gone and left no exit status (killed, or the machine restarted); the other ranks were stopped` };
    return { state: "exited", exitCode: recorded.exitCode };
  }

  /** Stops the surviving ranks of an attempt one of whose ranks failed: SIGTERM now, SIGKILL after the grace. */
  private stopRanks(h: LocalHandle, live: RankProcess[]): void {
    const key = `${h.jobId}/${h.attempt}`;
    if (this.stopping.has(key)) return;
    this.stopping.add(key);
    for (const r of live) signalGroup(r.pid, "SIGTERM");
    setTimeout(() => {
      this.stopping.delete(key);
      for (const r of live) if (processGroupMembers(r.pid).length > 0) signalGroup(r.pid, "SIGKILL");
    }, this.killGraceMs).unref();
  }

  async cancel(handle: ExecutionHandle, opts: { graceMs?: number } = {}): Promise<void> {
    const h = asLocal(handle);
    if (h.ranks && h.ranks.length > 1) return this.cancelRanks(h.ranks, opts.graceMs ?? this.killGraceMs);
    // Only signal the group if its leader is still the process we started, or members remain
    // in the group it created (the leader may have exited before its children).
    const ours = h.pidStart && isSameProcessAlive(h.pid, h.pidStart);
    if (!ours && processGroupMembers(h.pid).length === 0) return;
    signalGroup(h.pid, "SIGTERM");
    const deadline = Date.now() + (opts.graceMs ?? this.killGraceMs);
    while (Date.now() < deadline) {
      if (processGroupMembers(h.pid).length === 0) return;
      await sleep(50);
    }
    signalGroup(h.pid, "SIGKILL");
    for (let i = 0; i < 100 && processGroupMembers(h.pid).length > 0; i++) await sleep(50);
  }

  /** Every rank's group gets SIGTERM at once, and SIGKILL once the grace period is over. */
  private async cancelRanks(ranks: RankProcess[], graceMs: number): Promise<void> {
    const groups = ranks.filter((r) => (r.pidStart !== "" && isSameProcessAlive(r.pid, r.pidStart)) || processGroupMembers(r.pid).length > 0).map((r) => r.pid);
    const remaining = () => groups.filter((g) => processGroupMembers(g).length > 0);
    for (const g of groups) signalGroup(g, "SIGTERM");
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline) {
      if (remaining().length === 0) return;
      await sleep(50);
    }
    for (const g of remaining()) signalGroup(g, "SIGKILL");
    for (let i = 0; i < 100 && remaining().length > 0; i++) await sleep(50);
  }

  async cleanup(handle: ExecutionHandle): Promise<void> {
    const h = asLocal(handle);
    for (const pid of h.ranks && h.ranks.length > 1 ? h.ranks.map((r) => r.pid) : [h.pid]) {
      if (processGroupMembers(pid).length > 0) signalGroup(pid, "SIGKILL");
    }
  }

  async waitForExit(handle: ExecutionHandle, signal: AbortSignal): Promise<void> {
    const h = asLocal(handle);
    // A distributed attempt: woken by the first rank to end, then polled (which stops the others on a failure).
    const exits = (h.ranks && h.ranks.length > 1 ? h.ranks.map((r) => r.pid) : [h.pid]).map((pid) => this.exits.get(pid)).filter((e) => e !== undefined);
    const exit = exits.length > 0 ? Promise.race(exits) : undefined;
    const aborted = new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    // Our own child: wait for its exit. Then (or for an adopted attempt, or if the spawner went
    // away) poll, which also covers an exit the spawner could not report.
    if (exit) await Promise.race([exit, aborted]);
    while (!signal.aborted && (await this.observe(h)).state === "running") {
      await Promise.race([sleep(this.pollMs), aborted]);
    }
  }

  async recover(job: { jobId: string; attempt: number; jobDir: string }): Promise<LocalHandle | undefined> {
    // A start requested before the crash may still land (its spawner had the request): wait until it no longer can.
    const notAfter = Number(readSmallFile(startFile(job.jobDir, job.attempt)));
    if (Number.isFinite(notAfter) && notAfter > 0 && !existsSync(join(statusDir(job.jobDir, true), `attempt-${job.attempt}.pid`)) && !existsSync(join(job.jobDir, `attempt-${job.attempt}.pid`))) {
      // Never longer than one window from now, whatever the file says.
      const wait = Math.min(notAfter + 1_000 - Date.now(), START_WINDOW_MS + 1_000);
      if (wait > 0) await sleep(wait);
    }
    // Under runAs the wrapper writes its pid and exit status in status/; else in the job's folder.
    const pidName = `attempt-${job.attempt}.pid`;
    const dir = existsSync(join(statusDir(job.jobDir, true), pidName)) ? statusDir(job.jobDir, true) : job.jobDir;
    const exitFile = join(dir, `attempt-${job.attempt}.exit`);
    const text = readSmallFile(join(dir, pidName));
    // No pid file: the wrapper may be in the instant between its start and writing it.
    const pid = text === undefined ? (findAttemptGroup(job.jobId, job.attempt) ?? 0) : Number(text.trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    const base = { kind: "local" as const, jobId: job.jobId, attempt: job.attempt, pid, logPath: attemptLogPath(job.jobDir, job.attempt), exitFile };
    const rank0 = recoverProcess(job, pid, exitFile);
    if (rank0 === undefined) return undefined;
    // A distributed attempt's other ranks, by their pid files (rank 1, 2, … while they exist).
    const ranks: RankProcess[] = [];
    for (let rank = 1; ; rank++) {
      const rankText = readSmallFile(join(dir, `attempt-${job.attempt}.rank-${rank}.pid`));
      if (rankText === undefined) break;
      const rankExit = join(dir, `attempt-${job.attempt}.rank-${rank}.exit`);
      const rankPid = Number(rankText.trim());
      const pidStart = Number.isInteger(rankPid) && rankPid > 0 ? recoverProcess(job, rankPid, rankExit) : undefined;
      ranks.push({ rank, pid: rankPid, pidStart: pidStart ?? "", logPath: rankLogPath(job.jobDir, job.attempt, rank), exitFile: rankExit });
    }
    const handle: LocalHandle = { ...base, pidStart: rank0 };
    if (ranks.length > 0) handle.ranks = [{ rank: 0, pid, pidStart: rank0, logPath: base.logPath, exitFile }, ...ranks];
    return handle;
  }

  logs(handle: ExecutionHandle, opts: { follow: boolean; signal?: AbortSignal; offset?: number }): AsyncIterable<string> {
    const h = asLocal(handle);
    return followLogFile(h.logPath, async () => (await this.observe(h)).state === "running", opts);
  }
}

function asLocal(handle: ExecutionHandle): LocalHandle {
  if (handle.kind !== "local" || typeof handle.pid !== "number" || typeof handle.exitFile !== "string") {
    throw new PlatformError("INTERNAL", `handle of kind '${handle.kind}' given to the local executor`);
  }
  return handle as LocalHandle;
}

/** Where the server records until when an attempt's start request may still start it (server-owned, not the job's). */
function startFile(jobDir: string, attempt: number): string {
  return join(jobDir, `attempt-${attempt}.start`);
}

/** Where the wrapper writes its pid and exit status: a folder the job's user owns under runAs. */
function statusDir(jobDir: string, runAs: boolean): string {
  return runAs ? join(jobDir, "status") : jobDir;
}

function readExitFile(path: string): number | undefined {
  const text = readSmallFile(path)?.trim();
  if (text === undefined) return undefined;
  const code = Number(text);
  return text !== "" && Number.isInteger(code) ? code : undefined;
}

/**
 * The first bytes of a small status file the job's user may have written: never through a link,
 * never blocking on a FIFO (a read on the main thread would freeze the server), regular files only.
 */
function readSmallFile(path: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    if (!fstatSync(fd).isFile()) return undefined;
    const buffer = Buffer.alloc(64);
    const n = readSync(fd, buffer, 0, buffer.length, 0);
    return buffer.toString("utf8", 0, n);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group ended on its own.
  }
}

/** Forks the server itself: the fallback where the spawner script is not available. */
function spawnInline(request: SpawnRequest): Promise<Spawned> {
  if (request.notAfter !== undefined && Date.now() > request.notAfter) return Promise.reject(new Error("its start request expired"));
  const logFd = openSync(request.log, "a", 0o600);
  try {
    const ids = request.uid !== undefined ? { uid: request.uid, gid: request.gid } : {};
    const child = spawn(request.file, request.args, { detached: true, cwd: request.cwd, env: request.env, stdio: ["ignore", logFd, logFd], ...ids });
    return new Promise<Spawned>((resolve, reject) => {
      child.once("error", reject);
      child.once("spawn", () => {
        child.unref();
        resolve({ pid: child.pid!, ended: new Promise<void>((done) => child.once("exit", () => done())) });
      });
    });
  } finally {
    closeSync(logFd);
  }
}

/**
 * The start time of an attempt's process found by its pid file ("" when it already wrote its exit
 * status), or undefined when the pid is not this attempt's: a pid file alone proves nothing (pids
 * are reused), the live process must carry the attempt's identity in its environment.
 */
function recoverProcess(job: { jobId: string; attempt: number }, pid: number, exitFile: string): string | undefined {
  if (readExitFile(exitFile) !== undefined) return "";
  const env = readProcessEnv(pid);
  const stat = readProcessStat(pid);
  if (!stat || env.get("PAVED_JOB_ID") !== job.jobId || env.get("PAVED_ATTEMPT") !== String(job.attempt)) return undefined;
  return stat.startTime;
}

/** A TCP port free on the loopback now, for a distributed attempt's rendezvous (MASTER_PORT). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

function mtimeOf(path: string): number {
  return statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? Number.POSITIVE_INFINITY;
}

/** The first failure of a distributed attempt, as recorded when it was seen. */
function readRecord(path: string): { rank: number; exitCode: number | null } | undefined {
  try {
    // Never through a link or a FIFO: the folder may be the job's user's (under runAs).
    const value = JSON.parse(readSmallFile(path) ?? "") as { rank?: unknown; exitCode?: unknown };
    if (typeof value.rank !== "number" || (value.exitCode !== null && typeof value.exitCode !== "number")) return undefined;
    return { rank: value.rank, exitCode: value.exitCode };
  } catch {
    return undefined;
  }
}
