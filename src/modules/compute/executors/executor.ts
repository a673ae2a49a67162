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
  /** The GPU type asked for (a profile's or the job's gpuType): a cluster backend asks its scheduler for that type. */
  gpuType?: string | null;
  /** Where on a cluster backend the attempt goes (a Slurm partition, QoS, account), from the job's profile. */
  placement?: Placement;
  /** The attempt's limit in seconds (maxRuntime): a cluster backend passes it on as its time limit. */
  timeLimitSeconds?: number;
  /**
   * Distributed training (compute.nodes x compute.processesPerNode > 1): the attempt runs as that
   * many ranks with torchrun's rendezvous variables, as one unit. Absent: one process.
   */
  processes?: { nodes: number; processesPerNode: number };
  /**
   * Attempts of one group (a sweep's trials) that reach the backend together may be submitted as
   * one: on Slurm, one job array. Each still gets its own handle, log, token and exit status.
   */
  arrayGroup?: string;
}

/** A cluster backend's placement fields, from a compute profile (`slurm: {partition, qos, account, extraArgs}`, `kubernetes: {…}`). */
export interface Placement {
  partition?: string;
  qos?: string;
  account?: string;
  /** Raw backend arguments of the profile's escape hatch (sbatch options from an allow-list). */
  extraArgs?: string[];
  /** Kubernetes: the PriorityClass of the attempt's pods. */
  priorityClassName?: string;
  /** Kubernetes: the Kueue LocalQueue the attempt's Job is submitted to. */
  kueueQueue?: string;
  /** Kubernetes: the profile's escape hatch, a partial PodSpec merged into Paved's (checked when the catalog was loaded). */
  podSpecPatch?: Record<string, unknown>;
}

/** Where an executor finds a running attempt again; JSON-serialisable, saved with the job. */
export interface ExecutionHandle {
  kind: string;
  [key: string]: unknown;
}

export type ObservedState =
  /** Accepted by the backend and waiting there for resources (a cluster's own queue), with its reason. */
  | { state: "pending"; reason: string }
  | { state: "running" }
  /** Ended with a status; `preempted` when the backend itself stopped it to make room (Slurm's PREEMPTED). */
  | { state: "exited"; exitCode: number; preempted?: boolean }
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
  /** Removes what an ended attempt left behind (stray background processes, its secrets file). */
  cleanup?(handle: ExecutionHandle): Promise<void>;
  /**
   * What the backend offers the scheduler (a cluster's CPUs, memory and GPUs); absent for the local
   * machine, which compute discovers itself. Throws UNAVAILABLE when the backend cannot be reached.
   */
  resources?(): Promise<BackendResources>;
}

/** A backend's capacity as the scheduler sees it, and what it can place jobs on. */
export interface BackendResources {
  cpus: number;
  memoryMiB: number;
  /** Its GPUs, each with the type jobs ask for (`gpuType`), or "gpu" when the backend gives none. */
  gpus: { name: string }[];
  /** The partitions (or queues) a profile may name; empty where the backend has none. */
  partitions: string[];
  /** The GPU types a job may ask for; empty when its GPUs carry no type. */
  gpuTypes: string[];
  /**
   * Every node's resources, those down or drained for now included: what a job may ever ask for.
   * A job that fits these but not what is up waits for the nodes; one that fits neither is refused.
   */
  configured?: { cpus: number; memoryMiB: number; gpus: { name: string }[] };
}

/** Where every executor leaves an attempt's combined stdout/stderr, uploaded as logs/attempt-N.log. */
export function attemptLogPath(jobDir: string, attempt: number): string {
  return join(jobDir, `attempt-${attempt}.log`);
}

/** Where a local attempt keeps the log of a rank other than 0 (rank 0's is the attempt's log), uploaded as logs/rank-<r>/attempt-N.log. */
export function rankLogPath(jobDir: string, attempt: number, rank: number): string {
  return join(jobDir, "logs", `rank-${rank}`, `attempt-${attempt}.log`);
}
