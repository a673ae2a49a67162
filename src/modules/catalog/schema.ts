import { z } from "zod";

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

/** One profile as written in profiles.yaml. */
export const profileFileEntrySchema = z.strictObject({
  description: z.string().default(""),
  gpus: z.number().int().min(0).default(0),
  gpuType: z.string().min(1).optional(),
  cpus: z.number().min(0),
  memory: memorySchema,
  hourlyCost: z.number().min(0).default(0),
  /** Environment variables of jobs on this profile (e.g. NCCL settings for multi-GPU); a job's own `env` wins. */
  env: profileEnvSchema.default({}),
});

/** The profiles file: a mapping from profile name to profile. */
export const profilesFileSchema = z.strictObject({
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
  hourlyCost: z.number(),
  /** Variables jobs on this profile get; absent when none. */
  env: z.record(z.string(), z.string()).optional(),
});
export type Profile = z.output<typeof profileSchema>;

export const profileListSchema = z.object({ profiles: z.array(profileSchema) });
