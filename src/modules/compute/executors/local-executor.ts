import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { open, readFile } from "node:fs/promises";
import { join } from "node:path";
import { StringDecoder } from "node:string_decoder";
import { setTimeout as sleep } from "node:timers/promises";
import { PlatformError } from "../../../core/index.ts";
import type { Allocation } from "../schema.ts";
import { attemptLogPath, type ExecutionHandle, type ExecutionRequest, type Executor, type ObservedState } from "./executor.ts";
import { Spawner, type SpawnRequest, type Spawned } from "./spawner.ts";
import { isSameProcessAlive, processGroupMembers, readProcessEnv, readProcessStat } from "./process-identity.ts";

/**
 * A constant wrapper: it records its pid, runs the user's argv as positional parameters (never
 * interpolated into a command line), then writes the exit status atomically, so the status
 * survives a crash or restart of `paved up`.
 */
const WRAPPER =
  'echo $$ > "$PAVED_PID_FILE"; "$@"; code=$?; printf %s "$code" > "$PAVED_EXIT_FILE.tmp" && mv "$PAVED_EXIT_FILE.tmp" "$PAVED_EXIT_FILE"';

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
  /** Environment every job inherits (PATH, HOME, …) before its own variables. */
  baseEnv: Record<string, string | undefined>;
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

  constructor(private readonly options: LocalExecutorOptions) {
    this.killGraceMs = options.killGraceMs ?? 10_000;
    this.pollMs = options.pollMs ?? 500;
    this.spawner = (options.spawn ?? "spawner") === "spawner" && Spawner.available() ? new Spawner() : undefined;
  }

  async submit(job: ExecutionRequest, allocation: Allocation): Promise<LocalHandle> {
    mkdirSync(job.jobDir, { recursive: true });
    const logPath = attemptLogPath(job.jobDir, job.attempt);
    const exitFile = join(job.jobDir, `attempt-${job.attempt}.exit`);
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.options.baseEnv)) if (v !== undefined) env[k] = v;
    Object.assign(env, job.env, {
      CUDA_VISIBLE_DEVICES: allocation.gpus.join(","),
      PAVED_PID_FILE: join(job.jobDir, `attempt-${job.attempt}.pid`),
      PAVED_EXIT_FILE: exitFile,
    });
    const request = { file: "/bin/sh", args: ["-c", WRAPPER, "paved-job", ...job.argv], cwd: job.workingDir, env, log: logPath };
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

  async cancel(handle: ExecutionHandle): Promise<void> {
    const h = asLocal(handle);
    // Only signal the group if its leader is still the process we started, or members remain
    // in the group it created (the leader may have exited before its children).
    const ours = h.pidStart && isSameProcessAlive(h.pid, h.pidStart);
    if (!ours && processGroupMembers(h.pid).length === 0) return;
    signalGroup(h.pid, "SIGTERM");
    const deadline = Date.now() + this.killGraceMs;
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
    const exitFile = join(job.jobDir, `attempt-${job.attempt}.exit`);
    let pid: number;
    try {
      pid = Number((await readFile(join(job.jobDir, `attempt-${job.attempt}.pid`), "utf8")).trim());
    } catch {
      return undefined;
    }
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

  async *logs(handle: ExecutionHandle, opts: { follow: boolean; signal?: AbortSignal }): AsyncIterable<string> {
    const h = asLocal(handle);
    let file;
    try {
      file = await open(h.logPath, "r");
    } catch {
      return;
    }
    try {
      const decoder = new StringDecoder("utf8");
      const buffer = Buffer.alloc(64 * 1024);
      let position = 0;
      for (;;) {
        const { bytesRead } = await file.read(buffer, 0, buffer.length, position);
        if (bytesRead > 0) {
          position += bytesRead;
          yield decoder.write(buffer.subarray(0, bytesRead));
          continue;
        }
        if (!opts.follow || opts.signal?.aborted) break;
        if ((await this.observe(h)).state !== "running") {
          // One last read: the process may have written just before it ended.
          const last = await file.read(buffer, 0, buffer.length, position);
          if (last.bytesRead > 0) {
            position += last.bytesRead;
            yield decoder.write(buffer.subarray(0, last.bytesRead));
            continue;
          }
          break;
        }
        await sleep(200, undefined, { signal: opts.signal }).catch(() => undefined);
      }
      const rest = decoder.end();
      if (rest) yield rest;
    } finally {
      await file.close();
    }
  }
}

function asLocal(handle: ExecutionHandle): LocalHandle {
  if (handle.kind !== "local" || typeof handle.pid !== "number" || typeof handle.exitFile !== "string") {
    throw new PlatformError("INTERNAL", `handle of kind '${handle.kind}' given to the local executor`);
  }
  return handle as LocalHandle;
}

function readExitFile(path: string): number | undefined {
  try {
    const text = readFileSync(path, "utf8").trim();
    const code = Number(text);
    return text !== "" && Number.isInteger(code) ? code : undefined;
  } catch {
    return undefined;
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
  const logFd = openSync(request.log, "a");
  try {
    const child = spawn(request.file, request.args, { detached: true, cwd: request.cwd, env: request.env, stdio: ["ignore", logFd, logFd] });
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
