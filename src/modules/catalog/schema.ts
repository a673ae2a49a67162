import { z } from "zod";
import { podSpecPatchSchema } from "./pod-spec-patch.ts";

const QUANTITY = /^(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|Ti|K|M|G|T)?$/;
const TO_MIB: Record<string, number> = {
  "": 1 / (1024 * 1024),
  Ki: 1 / 1024,
  Mi: 1,
  Gi: 1024,
  Ti: 1024 * 1024,
  K: 1000 / (1024 * 1024),
  M: 1e6 / (1024 * 1024),
  G: 1e9 / (1024 * 1024),
  T: 1e12 / (1024 * 1024),
};

/** Parses a Kubernetes-style memory quantity ("512Mi", "4Gi", "2G") to MiB; undefined when malformed. */
export function parseMemoryMiB(value: string): number | undefined {
  const match = QUANTITY.exec(value.trim());
  if (!match) return undefined;
  const factor = TO_MIB[match[2] ?? ""];
  if (factor === undefined) return undefined;
  return Math.ceil(Number(match[1]) * factor);
}

/** Memory as "512Mi"/"4Gi" or a number of MiB; parses to MiB. */
export const memorySchema = z.union([z.number().min(0), z.string()]).transform((value, ctx) => {
  if (typeof value === "number") return Math.ceil(value);
  const mib = parseMemoryMiB(value);
  if (mib === undefined) {
    ctx.addIssue({ code: "custom", message: `memory '${value}' is not a quantity; write e.g. "512Mi", "4Gi" or a number of MiB` });
    return z.NEVER;
  }
  return mib;
});

/** Variables a profile gives its jobs: names as for a job's `env`, never the ones Paved sets. */
const profileEnvSchema = z.record(
  z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "variable names use letters, digits and '_', not starting with a digit")
    .refine((n) => !/^(PAVED_|MLFLOW_)|^CUDA_VISIBLE_DEVICES$/.test(n), "PAVED_*, MLFLOW_* and CUDA_VISIBLE_DEVICES are set by Paved for each job; rename the variable"),
  z.string(),
);

const SLURM_NAME = /^[A-Za-z0-9_.+-]{1,64}$/;

/**
 * The sbatch options a profile may pass through as raw arguments (`slurm.extraArgs`, the escape
 * hatch): placement and hardware hints. Everything Paved sets itself (resources, time, signal,
 * partition/QoS/account, which have fields), and everything that would change who the job runs as,
 * where its output and environment go, or what runs (--uid, --chdir, --output, --export, --wrap,
 * --array, --dependency, --container…) is refused: the job's wrapper, token file and log are Paved's.
 */
export const SBATCH_PASSTHROUGH_OPTIONS = [
  "constraint",
  "exclusive",
  "nodelist",
  "exclude",
  "reservation",
  "licenses",
  "hint",
  "comment",
  "nice",
  "switches",
  "tmp",
  "gpu-bind",
  "gpu-freq",
  "cpu-freq",
  "cores-per-socket",
  "sockets-per-node",
  "threads-per-core",
  "mem-bind",
  "cpu-bind",
  "distribution",
  "network",
  "core-spec",
  "thread-spec",
  "prefer",
  "wckey",
  "mail-type",
  "mail-user",
] as const;
const SBATCH_ARG = /^--([a-z][a-z-]*)(?:=([A-Za-z0-9_.,:=@%+/\[\]-]{1,256}))?$/;

/** Why an sbatch argument may not pass through, or undefined when it may. */
export function sbatchArgProblem(arg: string): string | undefined {
  const match = SBATCH_ARG.exec(arg);
  if (!match) return `'${arg}' is not --option or --option=value (long options only; values of letters, digits and _.,:=@%+/[]-)`;
  const name = match[1]!;
  if (!(SBATCH_PASSTHROUGH_OPTIONS as readonly string[]).includes(name)) {
    return `sbatch option --${name} may not be passed through (Paved sets resources, time, signals and placement itself, and owns the job's user, folders, output and environment); allowed: ${SBATCH_PASSTHROUGH_OPTIONS.map((o) => `--${o}`).join(", ")}`;
  }
  return undefined;
}

/** A profile's place on Slurm; names are plain words (they become single sbatch arguments). */
export const slurmPlacementSchema = z.strictObject({
  partition: z.string().regex(SLURM_NAME, "a Slurm partition name: letters, digits, '_', '.', '+', '-'").optional(),
  qos: z.string().regex(SLURM_NAME, "a Slurm QoS name: letters, digits, '_', '.', '+', '-'").optional(),
  account: z.string().regex(SLURM_NAME, "a Slurm account name: letters, digits, '_', '.', '+', '-'").optional(),
  /** Raw sbatch arguments for teams that need them (--constraint=a100, --exclusive), from an allow-list; a policy may forbid them. */
  extraArgs: z
    .array(
      z.string().superRefine((arg, ctx) => {
        const problem = sbatchArgProblem(arg);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      }),
    )
    .max(32)
    .optional(),
});

const K8S_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** A profile's place on Kubernetes: its pods' PriorityClass, Kueue queue, and the escape hatch (a pod spec patch). */
export const kubernetesPlacementSchema = z.strictObject({
  priorityClassName: z.string().regex(K8S_NAME, "a PriorityClass name: lowercase letters, digits and '-'").max(253).optional(),
  /** The Kueue LocalQueue of its jobs; default: compute.kubernetes.kueueQueue. */
  kueueQueue: z.string().regex(K8S_NAME, "a LocalQueue name: lowercase letters, digits and '-'").max(63).optional(),
  /** A partial PodSpec merged into Paved's (docs/executors.md#pod-spec-patch); host access is refused by policy unless allowed. */
  podSpecPatch: podSpecPatchSchema.optional(),
});

/** One profile as written in profiles.yaml. */
export const profileFileEntrySchema = z.strictObject({
  description: z.string().default(""),
  gpus: z.number().int().min(0).default(0),
  gpuType: z.string().min(1).optional(),
  cpus: z.number().min(0),
  memory: memorySchema,
  /** The profile's all-in price per hour; default: its GPUs, CPUs and memory at the catalog's `prices`. */
  hourlyCost: z.number().min(0).optional(),
  /** Environment variables of jobs on this profile (e.g. NCCL settings for multi-GPU); a job's own `env` wins. */
  env: profileEnvSchema.default({}),
  /** The backend its jobs run on: `local` (this machine), `slurm` (compute.slurm) or `kubernetes` (compute.kubernetes); default: compute.executor. */
  executor: z.enum(["local", "slurm", "kubernetes"]).optional(),
  /** Where on Slurm its jobs go (with `executor: slurm`): partition, QoS and account of `sbatch`. */
  slurm: slurmPlacementSchema.optional(),
  /** Where on Kubernetes its jobs go (with `executor: kubernetes`): priority class, Kueue queue, pod spec patch. */
  kubernetes: kubernetesPlacementSchema.optional(),
}).superRefine((p, ctx) => {
  if (p.slurm && p.executor !== "slurm") ctx.addIssue({ code: "custom", path: ["slurm"], message: "slurm fields need `executor: slurm` on the profile" });
  if (p.kubernetes && p.executor !== "kubernetes") ctx.addIssue({ code: "custom", path: ["kubernetes"], message: "kubernetes fields need `executor: kubernetes` on the profile" });
});

/**
 * What compute, serving and storage cost, in `currency`: the unit prices of jobs that ask for raw
 * resources and of profiles without their own `hourlyCost`, of serving replicas and of stored
 * artifacts. GB is 2^30 bytes (as cloud bills count it).
 */
export const pricesSchema = z.strictObject({
  /** ISO 4217 code every price (and every budget) is in. */
  currency: z.string().regex(/^[A-Z]{3}$/, "a three-letter ISO 4217 code, e.g. USD or EUR").default("USD"),
  /** One GPU for an hour, whatever its type (unless gpuHourByType names it). */
  gpuHour: z.number().min(0).default(0),
  /** One GPU of a type (a profile's or a job's gpuType, e.g. H100) for an hour. */
  gpuHourByType: z.record(z.string().min(1), z.number().min(0)).default({}),
  /** One CPU core for an hour. */
  cpuHour: z.number().min(0).default(0),
  /** One GB of memory for an hour. */
  memoryGBHour: z.number().min(0).default(0),
  /** One GB of stored artifacts (run artifacts, model files, logged models) for a month. */
  storageGBMonth: z.number().min(0).default(0),
  /** One serving replica (a worker running a model version) for an hour. */
  replicaHour: z.number().min(0).default(0),
});
export type Prices = z.output<typeof pricesSchema>;
const NO_PRICES: Prices = { currency: "USD", gpuHour: 0, gpuHourByType: {}, cpuHour: 0, memoryGBHour: 0, storageGBMonth: 0, replicaHour: 0 };

/** The profiles file: the price list and a mapping from profile name to profile. */
export const profilesFileSchema = z.strictObject({
  /** Unit prices; a file without them prices everything not on a profile's hourlyCost at 0. */
  prices: pricesSchema.default(NO_PRICES),
  profiles: z.record(z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "profile names are lowercase letters, digits and '-'"), profileFileEntrySchema),
});

/** A compute profile as the API returns it. */
export const profileSchema = z.object({
  name: z.string(),
  description: z.string(),
  gpus: z.number().int(),
  gpuType: z.string().nullable(),
  cpus: z.number(),
  memoryMiB: z.number().int(),
  /** What an hour on the profile costs, in the price list's currency: its own, or its resources at the unit prices. */
  hourlyCost: z.number(),
  /** Variables jobs on this profile get; absent when none. */
  env: z.record(z.string(), z.string()).optional(),
  /** The backend its jobs run on; absent: the server's default (compute.executor). */
  executor: z.enum(["local", "slurm", "kubernetes"]).optional(),
  /** Its Slurm partition, QoS and account (executor slurm). */
  slurm: slurmPlacementSchema.optional(),
  /** Its priority class, Kueue queue and pod spec patch (executor kubernetes). */
  kubernetes: kubernetesPlacementSchema.optional(),
});
export type Profile = z.output<typeof profileSchema>;

export const profileListSchema = z.object({ profiles: z.array(profileSchema) });

/** A template of the catalog: a spec users scaffold from (`paved templates show <name> > spec.yaml`). */
export const templateSchema = z.object({
  name: z.string(),
  kind: z.string().describe("the kind of spec it is, e.g. Pipeline"),
  description: z.string(),
  parameters: z.record(z.string(), z.unknown()).describe("the parameters it declares, with their defaults"),
  yaml: z.string().describe("the spec, with its comments: what `paved templates show` prints"),
});
export type TemplateView = z.output<typeof templateSchema>;
export const templateListSchema = z.object({ templates: z.array(templateSchema.omit({ yaml: true })) });
