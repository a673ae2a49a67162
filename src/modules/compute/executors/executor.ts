import { join } from "node:path";
import type { Allocation } from "../schema.ts";

/** One attempt of a job, fully resolved: what an executor needs to run it. */
export interface ExecutionRequest {
  jobId: string;
  attempt: number;
  /** The program and its arguments, passed as argv (never through a shell). */
  argv: string[];
  workingDir: string;
  /** The job's environment on top of the executor's base environment (CUDA_VISIBLE_DEVICES is the executor's). */
  env: Record<string, string>;
  /** A folder Paved keeps for this job; the attempt's log goes to `attemptLogPath(jobDir, attempt)`. */
  jobDir: string;
  /** Folders the job writes (checkpoints, outputs): the executor makes them writable for the job's user. */
  writableDirs?: string[];
}

/** Where an executor finds a running attempt again; JSON-serialisable, saved with the job. */
export interface ExecutionHandle {
  kind: string;
  [key: string]: unknown;
}

export type ObservedState =
  | { state: "running" }
  | { state: "exited"; exitCode: number }
  /** The execution is gone without an exit status (node rebooted, process killed). */
  | { state: "vanished"; reason: string };

export type ExecutorCapability = "gpu" | "multiNode" | "preemption";

/** A backend that runs job attempts: local processes now, Kubernetes or Slurm by configuration. */
export interface Executor {
  readonly kind: string;
  readonly capabilities: ReadonlySet<ExecutorCapability>;
  /** Starts the attempt on exactly the allocated resources; resolves once it is running. */
  submit(job: ExecutionRequest, allocation: Allocation): Promise<ExecutionHandle>;
  /** What the backend says about the attempt now. Never trusts an id alone (PIDs get reused). */
  observe(handle: ExecutionHandle): Promise<ObservedState>;
  /**
   * Stops the attempt and everything it started (SIGTERM, then SIGKILL after `graceMs`, or the
   * executor's own grace); resolves once all of it is gone.
   */
  cancel(handle: ExecutionHandle, opts?: { graceMs?: number }): Promise<void>;
  /** The attempt's output from byte `offset` (default 0); with `follow`, keeps streaming until the attempt ends or `signal` aborts. */
  logs?(handle: ExecutionHandle, opts: { follow: boolean; signal?: AbortSignal; offset?: number }): AsyncIterable<string>;
  /** Resolves soon after the attempt ends (or when `signal` aborts), so the end is handled at once. */
  waitForExit?(handle: ExecutionHandle, signal: AbortSignal): Promise<void>;
  /** Finds an attempt whose handle was never saved (a crash between start and save). */
  recover?(job: { jobId: string; attempt: number; jobDir: string }): Promise<ExecutionHandle | undefined>;
  /** Removes what an ended attempt left behind (stray background processes). */
  cleanup?(handle: ExecutionHandle): Promise<void>;
}

/** Where every executor leaves an attempt's combined stdout/stderr, uploaded as logs/attempt-N.log. */
export function attemptLogPath(jobDir: string, attempt: number): string {
  return join(jobDir, `attempt-${attempt}.log`);
}
