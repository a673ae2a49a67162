import { z } from "zod";
import { memorySchema } from "../catalog/schema.ts";

const BYTES = /^(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|Ti|Pi|K|M|G|T|P)?B?$/;
const BYTE_FACTOR: Record<string, number> = { "": 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, Pi: 1024 ** 5, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15 };

/** Parses "500Gi", "2T", "1048576" to bytes; undefined when malformed. */
export function parseBytes(value: string): number | undefined {
  const match = BYTES.exec(value.trim());
  if (!match) return undefined;
  return Math.ceil(Number(match[1]) * BYTE_FACTOR[match[2] ?? ""]!);
}

/** Bytes as a number or a quantity ("500Gi", "2T"). */
const bytesSchema = z.union([z.number().int().min(0), z.string()]).transform((value, ctx) => {
  if (typeof value === "number") return value;
  const bytes = parseBytes(value);
  if (bytes === undefined) {
    ctx.addIssue({ code: "custom", message: `'${value}' is not a size; write e.g. "500Gi", "2T" or a number of bytes` });
    return z.NEVER;
  }
  return bytes;
});

const GPU_TYPE = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/;

/**
 * A team's quota as stored and as PUT: each limit is a number, `null` (unlimited, whatever the
 * server default says), or absent (the server's `guardrails.defaultQuota`, unlimited when that is unset).
 */
export const QuotaSettings = z.strictObject({
  gpus: z.number().int().min(0).nullable().optional().describe("GPUs at once, all types together"),
  gpusByType: z
    .record(z.string().regex(GPU_TYPE, "a GPU type is a name such as H100 or A10G (matched as a substring of the GPU's name, case-insensitively)"), z.number().int().min(0))
    .nullable()
    .optional()
    .describe("GPUs at once per type, e.g. {H100: 2}; a GPU counts for every type its name contains"),
  gpuHoursPerMonth: z.number().min(0).nullable().optional().describe("GPU-hours per calendar month (UTC), summed over every attempt's GPUs × time"),
  cpus: z.number().min(0).nullable().optional().describe("CPUs at once"),
  memoryMiB: memorySchema.nullable().optional().describe('memory at once: MiB, or a quantity such as "64Gi"'),
  servingReplicas: z.number().int().min(0).nullable().optional().describe("serving replicas at once, every loaded version of the team's models in every environment"),
  storageBytes: bytesSchema.nullable().optional().describe('artifact storage: bytes, or a quantity such as "500Gi"'),
});
export type QuotaSettings = z.output<typeof QuotaSettings>;
export type QuotaSettingsInput = z.input<typeof QuotaSettings>;

export const QUOTA_RESOURCES = ["gpus", "gpuHoursPerMonth", "cpus", "memoryMiB", "servingReplicas", "storageBytes"] as const;
export type QuotaResource = (typeof QUOTA_RESOURCES)[number];

/** One thing drawing on a quota: a job, a loaded model version, a kind of stored file. */
export const QuotaHolder = z.object({
  kind: z.enum(["job", "serving", "storage", "workspace"]),
  id: z.string().nullable().describe("the job's id, the model version's name@version/environment, or the kind of file"),
  name: z.string(),
  amount: z.number(),
});
export type QuotaHolder = z.output<typeof QuotaHolder>;

/** A quota line of one team: the limit in force, where it comes from, what is used, by what. */
export const QuotaLine = z.object({
  resource: z.enum(QUOTA_RESOURCES),
  /** Set for a per-type GPU quota (resource `gpus`). */
  gpuType: z.string().optional(),
  limit: z.number().nullable().describe("null: unlimited"),
  source: z.enum(["team", "default", "none"]).describe("team: the team's own setting; default: guardrails.defaultQuota; none: unlimited"),
  used: z.number(),
  by: z.array(QuotaHolder),
});
export type QuotaLine = z.output<typeof QuotaLine>;

export const TeamQuotaView = z.object({
  team: z.string(),
  /** What the team has set (absent fields take the default). */
  settings: QuotaSettings,
  lines: z.array(QuotaLine),
  /** Start of the month GPU-hours are counted from (epoch ms, UTC). */
  monthStart: z.number(),
  updatedBy: z.string().nullable(),
  updatedAt: z.number().nullable(),
});
export type TeamQuotaView = z.output<typeof TeamQuotaView>;

export const TeamQuotaList = z.object({ teams: z.array(TeamQuotaView) });
