import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, constants, existsSync, fstatSync, mkdirSync, openSync, readSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { PlatformError } from "../../../core/index.ts";
import type { Allocation } from "../schema.ts";
import { attemptLogPath, type BackendResources, type ExecutionHandle, type ExecutionRequest, type Executor, type ObservedState, type Placement } from "./executor.ts";
import { followLogFile } from "./log-follow.ts";

export interface SlurmHandle extends ExecutionHandle {
  kind: "slurm";
  jobId: string;
  attempt: number;
  /** Slurm's job id (what sbatch answered). */
  slurmJobId: string;
  logPath: string;
  /** Where the batch script writes the program's exit status (the job folder is on a filesystem the nodes share). */
  exitFile: string;
  /** The attempt's environment (the job's token and `env` values): owner-only, removed when the attempt ends. */
  secretsFile: string;
}

export interface SlurmExecutorOptions {
  /** What every job starts from before its own variables: the allow-listed part of the server's environment. */
  baseEnv: Record<string, string | undefined>;
  /** The environment of sbatch, squeue, sinfo and scancel themselves (PATH, SLURM_CONF): never a job's values. */
  commandEnv: Record<string, string>;
  /** The folder holding sbatch, squeue, sinfo, scancel; default: found on commandEnv's PATH. */
  binDir?: string;
  /** Where jobs go when their profile names no partition, QoS or account. */
  defaults?: Placement;
  /** How often a running attempt's state is read from squeue. */
  pollMs?: number;
  /** How long a cancelled attempt gets between SIGTERM and SIGKILL. */
  killGraceMs?: number;
  /** `--signal=TERM@N`: Slurm sends SIGTERM N seconds before it stops a job itself (its time limit). */
  signalSeconds?: number;
  /** How often a distributed job's ranks sample their own use on their nodes (compute.systemMetricsInterval). */
  systemMetricsSeconds?: number;
  /** Longest a Slurm command may take before the backend counts as unavailable. */
  commandTimeoutMs?: number;
}

/** Slurm states in which a job holds (or will hold) resources and has not ended. */
const PENDING_STATES = new Set(["PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESV_DEL_HOLD", "SPECIAL_EXIT"]);
const RUNNING_STATES = new Set(["RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESIZING"]);
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** How long an attempt of an array group waits for the next of its group, and for all of them at most, before the array is submitted. */
const ARRAY_WINDOW_MS = 50;
const ARRAY_MAX_WAIT_MS = 500;
/** Tasks per job array at most (Slurm's MaxArraySize defaults to 1001). */
const MAX_ARRAY_TASKS = 1000;
const ARRAY_MARKER = /^# paved job array (\S+) task (\d+)$/m;
const arrayMarker = (name: string, task: number) => `# paved job array ${name} task ${task}`;

interface ArrayItem {
  job: ExecutionRequest;
  files: AttemptFiles;
  /** The attempt's sbatch flags for its resources: only attempts asking for the same share an array. */
  resources: string[];
}
interface ArrayBatch {
  group: string;
  firstAt: number;
  timer: NodeJS.Timeout | undefined;
  items: (ArrayItem & { resolve: (handle: SlurmHandle) => void; reject: (error: Error) => void })[];
}

const CONTROLLER_DOWN = /Unable to contact slurm controller|Socket timed out|Connection refused|Zero Bytes were transmitted|Communication connection failure|Slurm backup controller in standby/i;

/**
 * Runs attempts as Slurm batch jobs: `sbatch` with the allocation and the profile's placement
 * mapped to its flags, state from `squeue` (and `sacct` where accounting runs), `scancel` to stop.
 * The batch script is generated with every value single-quoted; the job's environment, its token
 * included, goes in an owner-only file the script reads, never on a command line or into Slurm's
 * job record. The job folder must be on a filesystem the nodes share at the same path (logs,
 * checkpoints and exit status are read there).
 */
export class SlurmExecutor implements Executor {
  readonly kind = "slurm";
  readonly capabilities = new Set(["gpu", "preemption"] as const);
  private readonly pollMs: number;
  private readonly killGraceMs: number;
  private readonly baseEnv: Record<string, string>;
  private snapshot: { at: number; states: Promise<Map<string, SlurmState>> } | undefined;
  private capacity: { at: number; value: Promise<BackendResources> } | undefined;
  /** Attempts of array groups waiting to be submitted together, by group and resources. */
  private readonly arrays = new Map<string, ArrayBatch>();

  constructor(private readonly options: SlurmExecutorOptions) {
    this.pollMs = options.pollMs ?? 1000;
    this.killGraceMs = options.killGraceMs ?? 10_000;
    const base: Record<string, string> = {};
    for (const [k, v] of Object.entries(options.baseEnv)) if (v !== undefined && NAME.test(k) && k !== "CUDA_VISIBLE_DEVICES") base[k] = v;
    this.baseEnv = base;
  }

  async submit(job: ExecutionRequest, allocation: Allocation): Promise<SlurmHandle> {
    const { nodes, processesPerNode } = job.processes ?? { nodes: 1, processesPerNode: 1 };
    mkdirSync(job.jobDir, { recursive: true, mode: 0o700 });
    for (const dir of job.writableDirs ?? []) mkdirSync(dir, { recursive: true });
    const files = attemptFiles(job.jobDir, job.attempt);
    // Idempotent: an attempt Slurm already has (a submit whose answer was lost) is not submitted twice.
    // Its batch script (or its job array's marker) is written before sbatch is called, so an attempt
    // without one never reached Slurm and needs no squeue first (one command fewer on every first submit).
    if (existsSync(files.script)) {
      const existing = await this.recover(job);
      if (existing) return existing;
    }
    const env = { ...this.baseEnv, ...job.env };
    writeFileSync(files.secretsFile, Object.entries(env).filter(([k]) => NAME.test(k)).map(([k, v]) => `export ${k}=${quote(v)}\n`).join(""), { mode: 0o600 });
    const item = { job, files, resources: await this.resourceArgs(job, allocation) };
    return job.arrayGroup && nodes * processesPerNode === 1 ? this.joinArray(job.arrayGroup, item) : this.submitPlain(item);
  }

  /** One attempt as one batch job, named after it. */
  private async submitPlain({ job, files, resources }: ArrayItem): Promise<SlurmHandle> {
    writeFileSync(files.script, batchScript(job, files, { systemMetricsSeconds: this.options.systemMetricsSeconds }), { mode: 0o700 });
    const slurmJobId = await this.sbatch([
      `--job-name=${jobName(job.jobId, job.attempt)}`,
      `--output=${files.logPath}`,
      `--error=${files.logPath}`,
      "--open-mode=append",
      `--chdir=${job.workingDir}`,
      ...resources,
      files.script,
    ]);
    return { kind: "slurm", jobId: job.jobId, attempt: job.attempt, slurmJobId, ...files };
  }

  /** sbatch's flags for what an attempt asks of the cluster: its shape, resources, placement and limits. */
  private async resourceArgs(job: ExecutionRequest, allocation: Allocation): Promise<string[]> {
    const { nodes, processesPerNode } = job.processes ?? { nodes: 1, processesPerNode: 1 };
    const worldSize = nodes * processesPerNode;
    const placement = { ...this.options.defaults, ...job.placement };
    const args = [
      // The job gets the (minimal) environment sbatch runs with, then its own from the secrets file.
      "--export=ALL",
      // Paved requeues (as the next attempt, or the same one when preempted); Slurm must not.
      "--no-requeue",
      // One task per rank (srun starts them, see batchScript); the job's CPUs, memory and GPUs split per task and node.
      `--nodes=${nodes}`,
      ...(worldSize > 1 ? [`--ntasks-per-node=${processesPerNode}`] : ["--ntasks=1"]),
      `--cpus-per-task=${Math.max(1, Math.ceil(allocation.cpus / worldSize))}`,
    ];
    if (allocation.memoryMiB > 0) args.push(`--mem=${Math.ceil(allocation.memoryMiB / nodes)}M`);
    const gpus = allocation.gpus.length / nodes;
    if (gpus > 0) args.push(`--gres=gpu:${job.gpuType ? `${await this.slurmGpuType(job.gpuType)}:` : ""}${gpus}`);
    if (placement.partition) args.push(`--partition=${placement.partition}`);
    if (placement.qos) args.push(`--qos=${placement.qos}`);
    if (placement.account) args.push(`--account=${placement.account}`);
    // The profile's escape hatch, checked against the allow-list when the catalog was loaded.
    if (placement.extraArgs) args.push(...placement.extraArgs);
    if (job.timeLimitSeconds !== undefined) args.push(`--time=${Math.ceil(job.timeLimitSeconds / 60) + 1}`);
    if (this.options.signalSeconds) args.push(`--signal=TERM@${this.options.signalSeconds}`);
    return args;
  }

  /** Runs sbatch --parsable and returns Slurm's job id. */
  private async sbatch(args: string[]): Promise<string> {
    const out = await this.run("sbatch", ["--parsable", ...args], { refusal: "the Slurm cluster refused the job" });
    const slurmJobId = out.trim().split(";")[0]!.trim();
    if (!/^\d+(_\d+)?$/.test(slurmJobId)) throw new PlatformError("UNAVAILABLE", `sbatch answered '${out.trim()}' instead of a job id; check the Slurm installation`);
    this.snapshot = undefined;
    return slurmJobId;
  }

  /**
   * An attempt of an array group (a sweep's trials) waits for others of its group asking for the
   * same resources: ARRAY_WINDOW_MS after the latest to come, ARRAY_MAX_WAIT_MS after the first at
   * most. Those that came are submitted as one job array, each attempt one task of it; one alone is
   * submitted as a plain job.
   */
  private joinArray(group: string, item: ArrayItem): Promise<SlurmHandle> {
    const key = `${group}\0${item.resources.join("\0")}`;
    return new Promise((resolve, reject) => {
      const now = Date.now();
      let batch = this.arrays.get(key);
      if (!batch) {
        batch = { group, items: [], firstAt: now, timer: undefined };
        this.arrays.set(key, batch);
      }
      batch.items.push({ ...item, resolve, reject });
      clearTimeout(batch.timer);
      const flush = () => {
        if (this.arrays.get(key) === batch) this.arrays.delete(key);
        void this.submitArray(batch);
      };
      if (batch.items.length >= MAX_ARRAY_TASKS) flush();
      else batch.timer = setTimeout(flush, Math.max(0, Math.min(ARRAY_WINDOW_MS, batch.firstAt + ARRAY_MAX_WAIT_MS - now)));
    });
  }

  private async submitArray(batch: ArrayBatch): Promise<void> {
    const { items } = batch;
    const first = items[0]!;
    if (items.length === 1) return this.submitPlain(first).then(first.resolve, first.reject);
    try {
      const name = `paved-array-${batch.group.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64)}-${randomBytes(4).toString("hex")}`;
      // Each attempt's marker first: after a crash, recover() finds its task by the array's name.
      items.forEach(({ files }, i) => writeFileSync(files.script, `${arrayMarker(name, i)}\n`, { mode: 0o600 }));
      const script = join(first.job.jobDir, `attempt-${first.job.attempt}.array.sbatch`);
      writeFileSync(script, arrayScript(name, items), { mode: 0o700 });
      // Each task appends to its attempt's own log (the script redirects): Slurm's own output goes nowhere.
      const arrayId = await this.sbatch([`--job-name=${name}`, `--array=0-${items.length - 1}`, "--output=/dev/null", "--error=/dev/null", ...first.resources, script]);
      items.forEach(({ job, files, resolve }, i) => resolve({ kind: "slurm", jobId: job.jobId, attempt: job.attempt, slurmJobId: `${arrayId}_${i}`, ...files }));
    } catch (error) {
      for (const { reject } of items) reject(error as Error);
    }
  }

  async observe(handle: ExecutionHandle): Promise<ObservedState> {
    const h = asSlurm(handle);
    let state = (await this.states()).get(h.slurmJobId);
    // Not in the (possibly older) snapshot: ask about this job alone before concluding anything.
    state ??= await this.queryOne(h.slurmJobId);
    const code = readExitFile(h.exitFile);
    if (state && PENDING_STATES.has(state.state)) return { state: "pending", reason: `waiting in Slurm (${state.reason || state.state})` };
    if (state && RUNNING_STATES.has(state.state)) {
      // COMPLETING: the program ended and Slurm is cleaning up; its status is already written.
      if (state.state === "COMPLETING" && code !== undefined) return this.exited(h.slurmJobId, code);
      return { state: "running" };
    }
    if (state?.state === "PREEMPTED") return { state: "exited", exitCode: code ?? 143, preempted: true };
    // A program that checkpoints and exits within the preemption's grace time ends as FAILED (or
    // TIMEOUT), not PREEMPTED: Slurm's record of the job still holds the preemption's time.
    if (code !== undefined) return this.exited(h.slurmJobId, code);
    const accounted = state ? undefined : await this.accounting(h.slurmJobId);
    if (accounted?.state === "PREEMPTED") return { state: "exited", exitCode: 143, preempted: true };
    const ended = state?.state ?? accounted?.state;
    return {
      state: "vanished",
      reason: ended ? `Slurm job ${h.slurmJobId} ended as ${ended} without an exit status (node failure, or killed before its program ran)` : `Slurm no longer knows job ${h.slurmJobId} and it left no exit status`,
    };
  }

  async waitForExit(handle: ExecutionHandle, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const state = await this.observe(handle);
      if (state.state !== "running" && state.state !== "pending") return;
      await sleep(this.pollMs, undefined, { signal }).catch(() => undefined);
    }
  }

  async cancel(handle: ExecutionHandle, opts: { graceMs?: number } = {}): Promise<void> {
    const h = asSlurm(handle);
    const first = await this.observe(h);
    if (first.state === "running") {
      // SIGTERM to the job's steps (the program: see programLines), once, as a preemption sends it;
      // the batch script lives on to record the exit status. Then the grace period, then SIGKILL to all.
      await this.run("scancel", ["--signal=TERM", h.slurmJobId]).catch(ignoreGone);
      const deadline = Date.now() + (opts.graceMs ?? this.killGraceMs);
      while (Date.now() < deadline && (await this.observeFresh(h)).state === "running") await sleep(Math.min(this.pollMs, 200));
      if ((await this.observeFresh(h)).state === "running") await this.run("scancel", ["--full", "--signal=KILL", h.slurmJobId]).catch(ignoreGone);
    } else if (first.state !== "pending") {
      return;
    }
    await this.run("scancel", [h.slurmJobId]).catch(ignoreGone);
    // Resolves once Slurm reports the job ended (its processes gone: COMPLETING is not yet).
    for (let i = 0; i < 600; i++) {
      const state = await this.observeFresh(h);
      if (state.state !== "running" && state.state !== "pending") return;
      await sleep(Math.min(this.pollMs, 200));
    }
  }

  async cleanup(handle: ExecutionHandle): Promise<void> {
    rmSync(asSlurm(handle).secretsFile, { force: true });
  }

  async recover(job: { jobId: string; attempt: number; jobDir: string }): Promise<SlurmHandle | undefined> {
    const files = attemptFiles(job.jobDir, job.attempt);
    // A task of a job array: found by the array's name and the task's index, from its marker.
    const marker = ARRAY_MARKER.exec(readSmallFile(files.script) ?? "");
    const name = marker ? marker[1]! : jobName(job.jobId, job.attempt);
    const out = await this.run("squeue", ["--noheader", "--states=all", "--array", `--name=${name}`, "--format=%i"]);
    const ids = out.split("\n").map((l) => l.trim()).filter((l) => (marker ? l.endsWith(`_${marker[2]}`) && /^\d+_\d+$/.test(l) : /^\d+$/.test(l)));
    // The script writes Slurm's id once it runs: an attempt Slurm has already forgotten is still found.
    const slurmJobId = ids.sort((a, b) => parseInt(b, 10) - parseInt(a, 10))[0] ?? readSmallFile(files.idFile)?.trim();
    if (!slurmJobId || !/^\d+(_\d+)?$/.test(slurmJobId)) return undefined;
    return { kind: "slurm", jobId: job.jobId, attempt: job.attempt, slurmJobId, logPath: files.logPath, exitFile: files.exitFile, secretsFile: files.secretsFile };
  }

  logs(handle: ExecutionHandle, opts: { follow: boolean; signal?: AbortSignal; offset?: number }): AsyncIterable<string> {
    const h = asSlurm(handle);
    return followLogFile(h.logPath, async () => {
      const state = (await this.observe(h)).state;
      return state === "running" || state === "pending";
    }, { ...opts, pollMs: Math.min(this.pollMs, 500) });
  }

  /** The cluster's nodes added up (those that can run jobs), its partitions and GPU types, read with sinfo (cached 30 s). */
  resources(): Promise<BackendResources> {
    const now = Date.now();
    if (this.capacity && now - this.capacity.at < 30_000) return this.capacity.value;
    const value = this.readResources();
    this.capacity = { at: now, value };
    value.catch(() => (this.capacity = undefined));
    return value;
  }

  private async readResources(): Promise<BackendResources> {
    const out = await this.run("sinfo", ["--noheader", "--Node", "--format=%N|%c|%m|%G|%P|%t"]);
    const nodes = new Map<string, { cpus: number; memoryMiB: number; gres: string; state: string }>();
    const partitions = new Set<string>();
    for (const line of out.split("\n")) {
      const [node, cpus, memory, gres, partition, state] = line.trim().split("|");
      if (!node || !partition) continue;
      partitions.add(partition.replace(/\*$/, ""));
      nodes.set(node, { cpus: Number(cpus) || 0, memoryMiB: Number(memory) || 0, gres: gres ?? "", state: state ?? "" });
    }
    const up = { cpus: 0, memoryMiB: 0, gpus: [] as { name: string }[] };
    const configured = { cpus: 0, memoryMiB: 0, gpus: [] as { name: string }[] };
    for (const n of nodes.values()) {
      const nodeGpus = parseGres(n.gres).flatMap((g) => Array.from({ length: g.count }, () => ({ name: g.type ?? "gpu" })));
      configured.cpus += n.cpus;
      configured.memoryMiB += n.memoryMiB;
      configured.gpus.push(...nodeGpus);
      // Down, drained or failed nodes (or not yet known after slurmctld restarted) run nothing for now.
      if (/^(down|drain|drng|fail|maint|unk|futr|npc|inval)/.test(n.state.replace(/[*~#!%$@^-]+$/, ""))) continue;
      up.cpus += n.cpus;
      up.memoryMiB += n.memoryMiB;
      up.gpus.push(...nodeGpus);
    }
    const gpuTypes = [...new Set(configured.gpus.map((g) => g.name).filter((n) => n !== "gpu"))].sort();
    return { ...up, partitions: [...partitions].sort(), gpuTypes, configured };
  }

  /** The cluster's own name of the GPU type a job asks for (a job's gpuType matches by substring, as on the local machine). */
  private async slurmGpuType(gpuType: string): Promise<string> {
    const { gpuTypes } = await this.resources();
    const match = gpuTypes.find((t) => t.toLowerCase().includes(gpuType.toLowerCase()));
    if (!match) {
      throw new PlatformError(
        "INVALID_INPUT",
        gpuTypes.length
          ? `the Slurm cluster has no GPUs of type '${gpuType}'; its types are ${gpuTypes.join(", ")}: ask for one of those`
          : `the Slurm cluster's GPUs carry no type (GRES gpu:N), so gpuType '${gpuType}' cannot be asked for; drop gpuType`,
        { gpuTypes },
      );
    }
    return match;
  }

  /** Every job's state from one squeue call, shared by the observes of one poll interval. */
  private states(): Promise<Map<string, SlurmState>> {
    const now = Date.now();
    if (this.snapshot && now - this.snapshot.at < this.pollMs / 2) return this.snapshot.states;
    const states = this.run("squeue", ["--noheader", "--states=all", "--array", "--format=%i|%T|%r"]).then(parseStates);
    this.snapshot = { at: now, states };
    states.catch(() => (this.snapshot = undefined));
    return states;
  }

  private async queryOne(slurmJobId: string): Promise<SlurmState | undefined> {
    try {
      return parseStates(await this.run("squeue", ["--noheader", "--states=all", "--array", `--jobs=${slurmJobId}`, "--format=%i|%T|%r"])).get(slurmJobId);
    } catch (error) {
      if (error instanceof PlatformError && error.code === "NOT_FOUND") return undefined;
      throw error;
    }
  }

  private async observeFresh(h: SlurmHandle): Promise<ObservedState> {
    this.snapshot = undefined;
    return this.observe(h);
  }

  /**
   * A program that wrote its exit status. A failure is a preemption when Slurm's record holds a
   * preemption time: a program that checkpoints within the grace time ends COMPLETING, then FAILED,
   * never PREEMPTED, and a snapshot may catch it in either state or already out of the queue.
   */
  private async exited(slurmJobId: string, code: number): Promise<ObservedState> {
    return code !== 0 && (await this.preemptedAt(slurmJobId)) ? { state: "exited", exitCode: code, preempted: true } : { state: "exited", exitCode: code };
  }

  /** When Slurm chose the job for preemption (scontrol's PreemptTime), while slurmctld still holds its record (MinJobAge). */
  private async preemptedAt(slurmJobId: string): Promise<string | undefined> {
    try {
      const record = await this.run("scontrol", ["show", "job", "--oneliner", slurmJobId]);
      const time = /\bPreemptTime=(\S+)/.exec(record)?.[1];
      return time && time !== "None" && time !== "Unknown" ? time : undefined;
    } catch (error) {
      if (error instanceof PlatformError && error.code === "NOT_FOUND") return undefined;
      throw error;
    }
  }

  /** sacct's record of an ended job, where Slurm keeps accounting (slurmdbd); undefined without it. */
  private async accounting(slurmJobId: string): Promise<SlurmState | undefined> {
    try {
      const out = await this.run("sacct", ["--noheader", "--parsable2", "--allocations", `--jobs=${slurmJobId}`, "--format=JobID,State"]);
      const line = out.split("\n").find((l) => l.startsWith(`${slurmJobId}|`));
      const state = line?.split("|")[1]?.split(" ")[0];
      return state ? { state, reason: "" } : undefined;
    } catch {
      return undefined;
    }
  }

  /** Runs a Slurm command by argv (no shell); a controller that cannot be reached is UNAVAILABLE. */
  private run(command: string, args: string[], opts: { refusal?: string } = {}): Promise<string> {
    const file = this.options.binDir ? join(this.options.binDir, command) : command;
    return new Promise((resolve, reject) => {
      execFile(file, args, { env: this.options.commandEnv, timeout: this.options.commandTimeoutMs ?? 60_000, maxBuffer: 64 * 1024 ** 2 }, (error, stdout, stderr) => {
        if (!error) return resolve(stdout);
        const text = `${stderr}`.trim() || error.message;
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "ENOENT") {
          return reject(new PlatformError("UNAVAILABLE", `'${command}' was not found${this.options.binDir ? ` in ${this.options.binDir}` : " on PATH"}; install Slurm's client commands (Debian: apt-get install slurm-client) or set compute.slurm.binDir`));
        }
        if (error.killed || CONTROLLER_DOWN.test(text)) {
          return reject(new PlatformError("UNAVAILABLE", `Slurm is unavailable: ${command} failed (${firstLine(text)}); check slurmctld and compute.slurm.conf`));
        }
        if (/Invalid job id specified/i.test(text)) return reject(new PlatformError("NOT_FOUND", `Slurm does not know the job: ${firstLine(text)}`));
        if (opts.refusal) return reject(new PlatformError("INVALID_INPUT", `${opts.refusal}: ${firstLine(text)}; fix the job's compute profile (its slurm partition, qos, account) or resources`));
        reject(new PlatformError("UNAVAILABLE", `${command} failed: ${firstLine(text)}`));
      });
    });
  }
}

interface SlurmState {
  state: string;
  reason: string;
}

/** The Slurm job name of an attempt: how a restarted server finds it again. */
export function jobName(jobId: string, attempt: number): string {
  return `paved-${jobId}-${attempt}`;
}

type AttemptFiles = ReturnType<typeof attemptFiles>;

function attemptFiles(jobDir: string, attempt: number) {
  return {
    logPath: attemptLogPath(jobDir, attempt),
    exitFile: join(jobDir, `attempt-${attempt}.exit`),
    idFile: join(jobDir, `attempt-${attempt}.slurm-id`),
    secretsFile: join(jobDir, `attempt-${attempt}.env`),
    script: join(jobDir, `attempt-${attempt}.sbatch`),
  };
}

/** A POSIX shell word that is exactly `value`: single quotes, each quote closed, escaped and reopened. */
export function quote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * The batch script: records Slurm's job id, reads the attempt's environment from its owner-only
 * file, runs the argv (each word quoted) and records its exit status atomically. It traps SIGTERM
 * with a no-op so it outlives the program's grace period and records how the program ended.
 */
/**
 * Each rank of a distributed job, under srun: torchrun's variables from Slurm's (RANK from
 * SLURM_PROCID, LOCAL_RANK from SLURM_LOCALID, NODE_RANK from SLURM_NODEID) and its slice of the
 * node's GPUs, then the job's program. A fixed script: the program's words come after it as "$@".
 */
/** A one-process job's step: its GPUs as Slurm gave them (none: empty), then the program itself. */
const STEP_WRAPPER = ['export CUDA_VISIBLE_DEVICES="${CUDA_VISIBLE_DEVICES-}"', 'exec "$@"'].join("\n");

/**
 * A rank's own use, sampled on its node (Paved cannot read a cluster node's /proc) every
 * PAVED_SYSTEM_METRICS_SECONDS while the rank's program runs: its CPU seconds (with its reaped
 * children's) and resident memory, as `paved.system` lines in the attempt's log, which Paved
 * records as the run's system/rank_<r>/… metrics (the same keys as a local distributed job's).
 * `$$` is the rank's shell, which the program replaces (exec) and so keeps its pid.
 */
const RANK_SAMPLER = [
  'if [ -n "${PAVED_SYSTEM_METRICS_SECONDS-}" ] && [ -r "/proc/$$/stat" ]; then',
  // Whole seconds, at least one; it wakes every second so that it never holds the step's output
  // open for long after the program ended.
  '  ( every=${PAVED_SYSTEM_METRICS_SECONDS%.*}; [ "${every:-0}" -ge 1 ] || every=1; t=0; n=0; tick=$(getconf CLK_TCK); page=$(getconf PAGESIZE)',
  "    while sleep 1 && kill -0 $$ 2>/dev/null; do",
  "      t=$((t + 1)); [ $t -ge $every ] || continue; t=0",
  `      awk -v r="$RANK" -v n="$n" -v tick="$tick" -v page="$page" '{ sub(/.*\\) /, ""); split($0, f, " "); printf "paved.system system/rank_%s/cpu_seconds=%.2f system/rank_%s/memory_rss_megabytes=%.2f step=%d\\n", r, (f[12] + f[13] + f[14] + f[15]) / tick, r, f[22] * page / 1e6, n }' "/proc/$$/stat" 2>/dev/null || break`,
  "      n=$((n + 1))",
  "    done ) &",
  "fi",
].join("\n");

export const RANK_WRAPPER = [
  'export RANK="$SLURM_PROCID" LOCAL_RANK="$SLURM_LOCALID" NODE_RANK="$SLURM_NODEID" GROUP_RANK="$SLURM_NODEID"',
  'if [ -n "$CUDA_VISIBLE_DEVICES" ] && [ "$PAVED_GPUS_PER_RANK" -gt 0 ]; then',
  '  CUDA_VISIBLE_DEVICES=$(printf %s "$CUDA_VISIBLE_DEVICES" | cut -d, -f$((LOCAL_RANK * PAVED_GPUS_PER_RANK + 1))-$(((LOCAL_RANK + 1) * PAVED_GPUS_PER_RANK)))',
  "fi",
  RANK_SAMPLER,
  STEP_WRAPPER,
].join("\n");

/**
 * The program's line of the batch script: always a job step (srun), since Slurm sends its signals
 * other than SIGKILL (a preemption's SIGTERM at the start of the grace time, `--signal=TERM@N`
 * before the time limit, scancel without --full) to job steps and never to the batch script: a
 * program the script ran itself heard nothing and was killed without checkpointing. One task for one
 * process; for several, one task per rank with the rendezvous variables (MASTER_ADDR the first node
 * of the allocation, MASTER_PORT from Slurm's job id so concurrent jobs differ), every rank killed
 * when one fails.
 */
function programLines(job: ExecutionRequest, systemMetricsSeconds?: number): string[] {
  const argv = job.argv.map(quote).join(" ");
  const processes = job.processes ?? { nodes: 1, processesPerNode: 1 };
  const worldSize = processes.nodes * processes.processesPerNode;
  // Slurm unsets CUDA_VISIBLE_DEVICES in a step without GPUs: it is set empty, as on the local machine.
  if (worldSize === 1) return [`srun --ntasks=1 --export=ALL /bin/sh -c ${quote(STEP_WRAPPER)} paved-step ${argv}`];
  return [
    'export MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"',
    'export MASTER_PORT="$((20000 + SLURM_JOB_ID % 20000))"',
    `export WORLD_SIZE=${worldSize} LOCAL_WORLD_SIZE=${processes.processesPerNode}`,
    ...(systemMetricsSeconds ? [`export PAVED_SYSTEM_METRICS_SECONDS=${systemMetricsSeconds}`] : []),
    // GPUs per rank: the node's share of the job's, split between its ranks (Slurm sets the node's).
    'export PAVED_GPUS_PER_RANK="$(( $(printf %s "${CUDA_VISIBLE_DEVICES-}" | tr , "\\n" | grep -c .) / LOCAL_WORLD_SIZE ))"',
    `srun --kill-on-bad-exit=1 --export=ALL /bin/sh -c ${quote(RANK_WRAPPER)} paved-rank ${argv}`,
  ];
}

export function batchScript(job: ExecutionRequest, files: Pick<AttemptFiles, "idFile" | "exitFile" | "secretsFile">, options: { systemMetricsSeconds?: number } = {}): string {
  return ["#!/bin/sh", `# Paved job ${job.jobId}, attempt ${job.attempt}. Generated: every value is a single-quoted word.`, "trap : TERM", ...attemptLines(job, files, options.systemMetricsSeconds), ""].join("\n");
}

/**
 * One batch script for a job array: each task picks its attempt by SLURM_ARRAY_TASK_ID, goes to its
 * working directory, appends to its own log, and runs as a single job's script does.
 */
export function arrayScript(name: string, items: { job: ExecutionRequest; files: AttemptFiles }[]): string {
  return [
    "#!/bin/sh",
    `# Paved job array ${name}: ${items.map(({ job }) => `${job.jobId} attempt ${job.attempt}`).join(", ")}. Generated: every value is a single-quoted word.`,
    "trap : TERM",
    'case "${SLURM_ARRAY_TASK_ID-}" in',
    ...items.flatMap(({ job, files }, i) => [`${i})`, ...[`exec >>${quote(files.logPath)} 2>&1`, `cd ${quote(job.workingDir)} || exit 1`, ...attemptLines(job, files)].map((l) => `  ${l}`), "  ;;"]),
    '*) echo "paved: task ${SLURM_ARRAY_TASK_ID-} of job array ' + name + ' has no attempt" >&2; exit 1 ;;',
    "esac",
    "",
  ].join("\n");
}

/** An attempt's part of a batch script: its Slurm id and environment, the program, its exit status. */
function attemptLines(job: ExecutionRequest, files: Pick<AttemptFiles, "idFile" | "exitFile" | "secretsFile">, systemMetricsSeconds?: number): string[] {
  return [
    `printf %s "$SLURM_JOB_ID" > ${quote(`${files.idFile}.tmp`)} && mv ${quote(`${files.idFile}.tmp`)} ${quote(files.idFile)}`,
    `. ${quote(files.secretsFile)}`,
    // Slurm sets CUDA_VISIBLE_DEVICES for GPU jobs; a job without GPUs gets it empty, as on the local machine.
    'export CUDA_VISIBLE_DEVICES="${CUDA_VISIBLE_DEVICES-}"',
    ...programLines(job, systemMetricsSeconds),
    "code=$?",
    `printf %s "$code" > ${quote(`${files.exitFile}.tmp`)} && mv ${quote(`${files.exitFile}.tmp`)} ${quote(files.exitFile)}`,
    'exit "$code"',
  ];
}

/** "gpu:4", "gpu:a100:2(S:0-1),gpu:v100:1" → counts by type. */
export function parseGres(gres: string): { type: string | null; count: number }[] {
  const out: { type: string | null; count: number }[] = [];
  for (const part of gres.split(",")) {
    const fields = part.replace(/\(.*\)$/, "").split(":");
    if (fields[0] !== "gpu") continue;
    const count = Number(fields[fields.length - 1]);
    if (!Number.isInteger(count) || count <= 0) continue;
    out.push({ type: fields.length >= 3 ? fields[1]! : null, count });
  }
  return out;
}

function parseStates(out: string): Map<string, SlurmState> {
  const states = new Map<string, SlurmState>();
  for (const line of out.split("\n")) {
    const [id, state, reason] = line.trim().split("|");
    if (id && state) states.set(id, { state, reason: reason && reason !== "None" ? reason : "" });
  }
  return states;
}

function ignoreGone(error: unknown): void {
  if (error instanceof PlatformError && error.code === "NOT_FOUND") return;
  throw error;
}

function firstLine(text: string): string {
  return text.split("\n").find((l) => l.trim() !== "")?.trim().slice(0, 500) ?? "";
}

function asSlurm(handle: ExecutionHandle): SlurmHandle {
  if (handle.kind !== "slurm" || typeof handle.slurmJobId !== "string" || typeof handle.exitFile !== "string") {
    throw new PlatformError("INTERNAL", `handle of kind '${handle.kind}' given to the Slurm executor`);
  }
  return handle as SlurmHandle;
}

function readExitFile(path: string): number | undefined {
  const text = readSmallFile(path)?.trim();
  if (text === undefined || text === "") return undefined;
  const code = Number(text);
  return Number.isInteger(code) ? code : undefined;
}

/** The first bytes of a small status file: never through a link, never blocking on a FIFO. */
function readSmallFile(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
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
