import { z } from "zod";
import { parseDurationSeconds } from "../../core/index.ts";
import { memorySchema } from "../catalog/schema.ts";

const durationSchema = z.union([z.number().positive(), z.string()]).transform((value, ctx) => {
  if (typeof value === "number") return value;
  const seconds = parseDurationSeconds(value);
  if (seconds === undefined || seconds <= 0) {
    ctx.addIssue({ code: "custom", message: `duration '${value}' is not valid; write e.g. "90s", "30m", "2h" or a number of seconds` });
    return z.NEVER;
  }
  return seconds;
});

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** What a job's `env` values read as wherever the platform shows or records a job. */
export const MASKED_VALUE = "****";

/** A job's `env` with every value masked: its values are secrets, shown to no one and in no artifact. */
export function maskEnv(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.keys(env).map((name) => [name, MASKED_VALUE]));
}
const RESERVED_ENV = /^(PAVED_|MLFLOW_)|^CUDA_VISIBLE_DEVICES$/;
const KEY = /^[A-Za-z0-9_.\-/]{1,250}$/;

const envSchema = z.record(z.string(), z.string().refine((v) => !v.includes("\0"), "values cannot contain NUL")).superRefine((env, ctx) => {
  for (const name of Object.keys(env)) {
    if (!ENV_NAME.test(name)) {
      ctx.addIssue({ code: "custom", path: [name], message: `'${name}' is not a valid variable name; use letters, digits and '_', not starting with a digit` });
    } else if (RESERVED_ENV.test(name)) {
      ctx.addIssue({ code: "custom", path: [name], message: `'${name}' is set by Paved (PAVED_*, MLFLOW_* and CUDA_VISIBLE_DEVICES are reserved); rename the variable` });
    }
  }
});

const hyperparametersSchema = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).superRefine((hp, ctx) => {
  for (const key of Object.keys(hp)) {
    if (!KEY.test(key)) {
      ctx.addIssue({ code: "custom", path: [key], message: `hyperparameter name '${key}' may use letters, digits, '_', '-', '.', '/' only` });
    }
  }
});

const datasetName = z.string().regex(/^[A-Za-z0-9_.\-]{1,128}$/, "dataset names use letters, digits, '_', '-', '.'");
/**
 * A dataset: a local file or folder Paved hashes, an external source with a declared digest, or a
 * registered dataset version (`datasets:/<name>@<version|alias>`), written read-only into the job's
 * folder (PAVED_DATASET_<NAME>) and pinned to its version at submit.
 */
export const datasetSchema = z.union([
  z.strictObject({ name: datasetName, path: z.string().min(1) }),
  z.strictObject({ name: datasetName, source: z.string().min(1), digest: z.string().min(1) }),
  z.strictObject({
    name: datasetName,
    dataset: z.string().max(2048).startsWith("datasets:/", "a registered dataset is named datasets:/<name>@<version|alias>, e.g. datasets:/churn@3").describe("a registered dataset version: datasets:/<name>@<version|alias>"),
  }),
]);

/** Named priorities: what `priority: high` means. */
export const PRIORITY_CLASSES = { low: -100, normal: 0, high: 100 } as const;
/** Jobs below this priority are preemptible unless their spec says `preemptible: false`. */
export const PREEMPTIBLE_BELOW = PRIORITY_CLASSES.high;

const prioritySchema = z.union([
  z.number().int().min(-1000).max(1000),
  z.enum(Object.keys(PRIORITY_CLASSES) as [keyof typeof PRIORITY_CLASSES]).transform((name) => PRIORITY_CLASSES[name]),
]);

/** Whether a job may be preempted: its spec's `preemptible`, else true below priority `high`. */
export function isPreemptible(spec: { priority: number; preemptible?: boolean | undefined }): boolean {
  return spec.preemptible ?? spec.priority < PREEMPTIBLE_BELOW;
}

/** What a job asks for: a named profile, or raw resources (not both). */
export const computeRequestSchema = z
  .strictObject({
    profile: z.string().min(1).optional(),
    gpus: z.number().int().min(0).optional(),
    gpuType: z.string().min(1).optional(),
    cpus: z.number().min(0).optional(),
    memory: memorySchema.optional(),
    /** Distributed training: how many process groups (nodes) the job runs as; on the local executor, all on this machine. */
    nodes: z.number().int().min(1, "compute.nodes is at least 1").max(64, "compute.nodes is at most 64").optional(),
    /** Processes (ranks) per node, each with its share of the job's GPUs. */
    processesPerNode: z.number().int().min(1, "compute.processesPerNode is at least 1").max(64, "compute.processesPerNode is at most 64").optional(),
  })
  .superRefine((c, ctx) => {
    if (c.profile !== undefined && (c.gpus !== undefined || c.gpuType !== undefined || c.cpus !== undefined || c.memory !== undefined)) {
      ctx.addIssue({ code: "custom", message: "give either compute.profile or gpus/gpuType/cpus/memory, not both" });
    }
    const world = (c.nodes ?? 1) * (c.processesPerNode ?? 1);
    if (world > 256) ctx.addIssue({ code: "custom", path: ["processesPerNode"], message: `compute.nodes x compute.processesPerNode is ${world}; at most 256 processes per job` });
  });

/** How many processes a job runs as (compute.nodes x compute.processesPerNode; 1 unless it asks for more). */
export function worldOf(compute: { nodes?: number | undefined; processesPerNode?: number | undefined } | undefined): { nodes: number; processesPerNode: number; worldSize: number } {
  const nodes = compute?.nodes ?? 1;
  const processesPerNode = compute?.processesPerNode ?? 1;
  return { nodes, processesPerNode, worldSize: nodes * processesPerNode };
}

/** A job: the body of POST /api/v1/jobs and of `paved apply -f job.yaml` (kind: Job). */
export const jobSpecSchema = z.strictObject({
  apiVersion: z.literal("paved/v1").optional(),
  kind: z.literal("Job").optional(),
  name: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, "job names are lowercase letters, digits and '-' (at most 63, starting and ending alphanumeric), e.g. train-mnist"),
  experiment: z.string().min(1).max(256).optional(),
  /**
   * The team the job (its experiment, when new, and its run) belongs to. Default: the token's team,
   * else the caller's only team where it is a developer or more.
   */
  team: z.string().min(1).max(63).optional(),
  command: z.array(z.string().refine((v) => !v.includes("\0"), "arguments cannot contain NUL")).min(1, "command needs at least the program to run, e.g. [python, train.py]").refine((argv) => argv[0] !== "", "command[0] (the program) cannot be empty"),
  workingDir: z.string().startsWith("/", "workingDir must be an absolute path (the CLI resolves relative ones)"),
  env: envSchema.default({}),
  hyperparameters: hyperparametersSchema.default({}),
  /** Append `--key=value` for each hyperparameter to the command. */
  hyperparameterArgs: z.boolean().default(true),
  datasets: z.array(datasetSchema).default([]),
  compute: computeRequestSchema.optional(),
  maxRuntime: durationSchema.optional(),
  retry: z
    .strictObject({
      maxAttempts: z.number().int().min(1).max(100).default(1),
      retryOnExitCodes: z.array(z.number().int().min(1).max(255)).default([]),
    })
    .default({ maxAttempts: 1, retryOnExitCodes: [] }),
  checkpointDir: z.string().startsWith("/", "checkpointDir must be an absolute path").optional(),
  /** An integer from -1000 to 1000 or a class: low (-100), normal (0), high (100). Higher starts first within a team. */
  priority: prioritySchema.default(0),
  /**
   * Whether a higher-priority job of the team, or a job of a team under its fair share, may stop this
   * one (SIGTERM, a grace period to checkpoint, then requeued). Default: true below priority `high`.
   */
  preemptible: z.boolean().optional(),
});
export type JobSpec = z.output<typeof jobSpecSchema>;
export type JobSpecInput = z.input<typeof jobSpecSchema>;
/** A job's spec as stored: the user's spec, resolved, plus what a module above compute set for it (the workspace it serves). */
/** A job's spec as stored: what the user sent, and what Paved itself attached (never accepted from a request). */
export type StoredJobSpec = JobSpec & {
  workspaceId?: string;
  /** Jobs started together with the same group may go to their backend as one submission (a sweep's trials: one Slurm job array). */
  arrayGroup?: string;
};

export const JOB_PHASES = ["QUEUED", "STARTING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"] as const;
export const jobPhaseSchema = z.enum(JOB_PHASES);
export type JobPhase = z.output<typeof jobPhaseSchema>;

export const allocationSchema = z.object({
  gpus: z.array(z.number().int()),
  cpus: z.number(),
  memoryMiB: z.number().int(),
  /** The backend it is on when not this machine (`slurm`): its GPUs are that backend's slots, numbered from 10000. */
  executor: z.string().optional(),
});
export type Allocation = z.output<typeof allocationSchema>;

/** Resources a job needs, after resolving its profile. */
export const resourceRequestSchema = z.object({
  profile: z.string().nullable(),
  gpus: z.number().int(),
  gpuType: z.string().nullable(),
  cpus: z.number(),
  memoryMiB: z.number().int(),
  /** The backend the job runs on (its profile's, else compute.executor); absent: this machine. */
  executor: z.string().optional(),
  /** Its profile's place on that backend (a Slurm partition, QoS, account). */
  placement: z
    .object({
      partition: z.string().optional(),
      qos: z.string().optional(),
      account: z.string().optional(),
      extraArgs: z.array(z.string()).optional(),
      priorityClassName: z.string().optional(),
      kueueQueue: z.string().optional(),
      podSpecPatch: z.record(z.string(), z.unknown()).optional(),
    })
    .optional(),
});
export type ResourceRequest = z.output<typeof resourceRequestSchema>;

/**
 * A job holding resources, as a reader sees it: a job of a team the reader cannot read shows as
 * "another team", without id, name or team.
 */
const holderSchema = z.object({ jobId: z.string().nullable(), name: z.string(), team: z.string().optional() });

/** Why a queued job has not started: which resource is short, and who holds it. */
export const pendingSchema = z.object({
  reason: z.string(),
  resources: z.array(
    z.object({
      resource: z.enum(["gpu", "cpu", "memory"]),
      requested: z.number(),
      free: z.number(),
      total: z.number(),
      heldBy: z.array(holderSchema.extend({ amount: z.number() })),
    }),
  ),
  /**
   * The higher-priority queued job this one waits behind, when it waits for nothing else; with
   * `quota`, a job of the same team waiting for the team's quota of that resource.
   */
  behind: holderSchema.extend({ resource: z.enum(["gpu", "cpu", "memory"]), quota: z.boolean().optional() }).optional(),
  /** The team quota that holds the job back: its limit, what the team uses and by which jobs. */
  quota: z
    .object({
      team: z.string(),
      resource: z.enum(["gpus", "gpuHoursPerMonth", "cpus", "memoryMiB"]),
      gpuType: z.string().optional(),
      limit: z.number(),
      used: z.number(),
      requested: z.number(),
      by: z.array(holderSchema.extend({ amount: z.number() })),
      /** The command that would let it start. */
      fix: z.string(),
    })
    .optional(),
  /** Running jobs being preempted for this one (SIGTERM sent, grace period running). */
  preempting: z.array(holderSchema).optional(),
  /** The job's backend cannot be reached (Slurm down): why, and that Paved keeps trying. */
  backend: z.object({ name: z.string(), unavailable: z.string() }).optional(),
});
export type Pending = z.output<typeof pendingSchema>;

export const jobEventSchema = z.object({ time: z.number(), type: z.string(), message: z.string() });
export type JobEvent = z.output<typeof jobEventSchema>;

/** A job as the API returns it: spec plus observed status. */
export const jobSchema = z.object({
  id: z.string(),
  name: z.string(),
  phase: jobPhaseSchema,
  priority: z.number().int(),
  attempt: z.number().int(),
  maxAttempts: z.number().int(),
  owner: z.string(),
  /** The team that owns the job, its run and (when the job created it) its experiment. */
  team: z.string(),
  experimentId: z.string(),
  runId: z.string().nullable(),
  createdAt: z.number(),
  startedAt: z.number().nullable(),
  finishedAt: z.number().nullable(),
  exitCode: z.number().int().nullable(),
  message: z.string().nullable(),
  request: resourceRequestSchema,
  allocation: allocationSchema.nullable(),
  pending: pendingSchema.optional(),
  events: z.array(jobEventSchema),
  spec: z.unknown(),
});
export type Job = z.output<typeof jobSchema>;

export const jobIdParamsSchema = z.object({ id: z.string().min(1).max(128) });
export const jobListQuerySchema = z.object({
  phase: jobPhaseSchema.optional(),
  owner: z.string().min(1).max(200).optional().describe("only the jobs this principal submitted (its name, as in a job's owner); 'me' for yours"),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  pageToken: z.string().max(200).optional().describe("nextPageToken of the previous page"),
});
export const jobListSchema = z.object({
  jobs: z.array(jobSchema),
  nextPageToken: z.string().optional().describe("set when older jobs remain: pass it as pageToken for the next page"),
});
export const jobLogsQuerySchema = z.object({
  follow: z
    .enum(["true", "false", "1", "0"])
    .optional()
    .transform((v) => v === "true" || v === "1"),
  attempt: z.coerce.number().int().min(1).optional(),
  /** Byte offset in the attempt's log to start from; without it a read returns the end of the log. */
  offset: z.coerce.number().int().min(0).optional(),
  /** Most bytes a read without follow returns; at most compute.logs.maxReadBytes (the default). */
  limitBytes: z.coerce.number().int().min(1).optional(),
});

export const resourcesSchema = z.object({
  total: z.object({ gpus: z.number().int(), cpus: z.number(), memoryMiB: z.number().int() }),
  free: z.object({ gpus: z.number().int(), cpus: z.number(), memoryMiB: z.number().int() }),
  gpus: z.array(
    z.object({
      index: z.number().int(),
      uuid: z.string().nullable(),
      name: z.string(),
      memoryMiB: z.number().int(),
      heldBy: holderSchema.nullable(),
    }),
  ),
  /** Every backend jobs run on (this machine first): its capacity, what Paved's jobs use of it, and whether it answers. */
  backends: z
    .array(
      z.object({
        name: z.string(),
        available: z.boolean(),
        /** Why it cannot be used now (Slurm down), with the fix. */
        reason: z.string().optional(),
        total: z.object({ gpus: z.number().int(), cpus: z.number(), memoryMiB: z.number().int() }),
        free: z.object({ gpus: z.number().int(), cpus: z.number(), memoryMiB: z.number().int() }),
        gpuTypes: z.array(z.string()),
        partitions: z.array(z.string()),
        jobs: z.number().int(),
      }),
    )
    .optional(),
});
export type ResourcesView = z.output<typeof resourcesSchema>;

/** POST /api/v1/policy/check: what submit would admit the job as (a refusal answers as submit's would). */
export const jobCheckSchema = z.object({
  allowed: z.literal(true),
  team: z.string().describe("the team the job would belong to"),
  request: resourceRequestSchema,
  hourlyCost: z.number().describe("what an hour of the job costs at the catalog's prices"),
  currency: z.string(),
});
export type JobCheck = z.output<typeof jobCheckSchema>;
