import { spawn } from "node:child_process";
import { closeSync, constants, existsSync, fstatSync, mkdirSync, openSync, readSync, statSync } from "node:fs";
import { isAbsolute, join, relative } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { PlatformError, readProcessStat } from "../../../core/index.ts";
import { prepareJobFolders, type RunAsUser } from "../run-as.ts";
import type { Allocation } from "../schema.ts";
import { attemptLogPath, type ExecutionHandle, type ExecutionRequest, type Executor, type ObservedState } from "./executor.ts";
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
    const request: SpawnRequest = {
      file: "/bin/sh",
      args: ["-c", WRAPPER, "paved-job", ...job.argv],
      cwd: job.workingDir,
      env,
      log: logPath,
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
    const stat = readProcessStat(pid);
    return { kind: "local", jobId: job.jobId, attempt: job.attempt, pid, pidStart: stat?.startTime ?? "", logPath, exitFile };
  }

  async observe(handle: ExecutionHandle): Promise<ObservedState> {
    const h = asLocal(handle);
    const code = readExitFile(h.exitFile);
    if (code !== undefined) return { state: "exited", exitCode: code };
    if (h.pidStart && isSameProcessAlive(h.pid, h.pidStart)) return { state: "running" };
    // The wrapper may have written its status between the two checks.
    const late = readExitFile(h.exitFile);
    if (late !== undefined) return { state: "exited", exitCode: late };
    return { state: "vanished", reason: `process ${h.pid} is gone and left no exit status (killed, or the machine restarted)` };
  }

  async cancel(handle: ExecutionHandle, opts: { graceMs?: number } = {}): Promise<void> {
    const h = asLocal(handle);
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

  async cleanup(handle: ExecutionHandle): Promise<void> {
    const h = asLocal(handle);
    if (processGroupMembers(h.pid).length > 0) signalGroup(h.pid, "SIGKILL");
  }

  async waitForExit(handle: ExecutionHandle, signal: AbortSignal): Promise<void> {
    const h = asLocal(handle);
    const exit = this.exits.get(h.pid);
    const aborted = new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    // Our own child: wait for its exit. Then (or for an adopted attempt, or if the spawner went
    // away) poll, which also covers an exit the spawner could not report.
    if (exit) await Promise.race([exit, aborted]);
    while (!signal.aborted && (await this.observe(h)).state === "running") {
      await Promise.race([sleep(this.pollMs), aborted]);
    }
  }

  async recover(job: { jobId: string; attempt: number; jobDir: string }): Promise<LocalHandle | undefined> {
    // Under runAs the wrapper writes its pid and exit status in status/; else in the job's folder.
    const pidName = `attempt-${job.attempt}.pid`;
    const dir = existsSync(join(statusDir(job.jobDir, true), pidName)) ? statusDir(job.jobDir, true) : job.jobDir;
    const exitFile = join(dir, `attempt-${job.attempt}.exit`);
    const text = readSmallFile(join(dir, pidName));
    // No pid file: the wrapper may be in the instant between its start and writing it.
    const pid = text === undefined ? (findAttemptGroup(job.jobId, job.attempt) ?? 0) : Number(text.trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    const base = { kind: "local" as const, jobId: job.jobId, attempt: job.attempt, pid, logPath: attemptLogPath(job.jobDir, job.attempt), exitFile };
    if (readExitFile(exitFile) !== undefined) return { ...base, pidStart: "" };
    // A pid file alone proves nothing (pids are reused): the live process must carry this
    // attempt's identity in its environment.
    const env = readProcessEnv(pid);
    const stat = readProcessStat(pid);
    if (!stat || env.get("PAVED_JOB_ID") !== job.jobId || env.get("PAVED_ATTEMPT") !== String(job.attempt)) return undefined;
    return { ...base, pidStart: stat.startTime };
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
