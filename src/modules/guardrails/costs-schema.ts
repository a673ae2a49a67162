import { z } from "zod";

/** A UTC calendar month, as costs and budgets count them. */
export const MonthSchema = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, "a month is YYYY-MM, e.g. 2026-12");

export const COST_GROUPINGS = ["team", "job", "deployment", "user"] as const;

export const CostsQuery = z.object({
  month: MonthSchema.optional().describe("the UTC month (YYYY-MM); default: this month"),
  team: z.string().min(1).max(63).optional().describe("one team (default: every team you may read)"),
  by: z.enum(COST_GROUPINGS).default("team").describe("team: totals only; job, deployment or user: also the items, most expensive first"),
  limit: z.coerce.number().int().min(1).max(1000).default(100).describe("most items listed"),
});
export type CostsQuery = z.output<typeof CostsQuery>;

/** One team's spend in the month, by kind of work. */
export const TeamCost = z.object({
  team: z.string(),
  total: z.number(),
  jobs: z.number().describe("training and batch jobs: each attempt's time × its resources at their prices"),
  deployments: z.number().describe("serving: replica-hours × the replica price"),
  storage: z.number().describe("stored artifacts: GB-months × the storage price"),
  budget: z
    .object({ amount: z.number(), percent: z.number() })
    .nullable()
    .describe("the team's monthly budget and how much of it is spent; null when it has none"),
});
export type TeamCost = z.output<typeof TeamCost>;

/** One job, deployment or user, with the usage behind its cost. */
export const CostItem = z.object({
  kind: z.enum(["job", "deployment", "user"]),
  id: z.string().describe("job id, deployment id ('' for versions loaded by hand), or user name"),
  name: z.string().describe("job name, model/environment, or user name"),
  team: z.string(),
  cost: z.number(),
  user: z.string().optional().describe("who submitted the job, or created the deployment"),
  gpuHours: z.number().optional(),
  cpuHours: z.number().optional(),
  memoryGBHours: z.number().optional(),
  hourlyCost: z.number().optional().describe("a job's price per hour of its resources"),
  replicaHours: z.number().optional(),
  requests: z.number().optional().describe("inference requests answered in the month"),
  costPer1000Predictions: z.number().nullable().optional().describe("the deployment's cost over its requests, per 1,000; null without requests"),
  jobs: z.number().optional().describe("a user's jobs' cost"),
  deployments: z.number().optional(),
  storage: z.number().optional(),
  storageGBMonths: z.number().optional(),
});
export type CostItem = z.output<typeof CostItem>;

export const CostReport = z.object({
  month: z.string(),
  currency: z.string(),
  from: z.number().describe("the month's first millisecond (epoch ms, UTC)"),
  to: z.number().describe("where counting stopped: the month's end, or now for this month"),
  total: z.number(),
  teams: z.array(TeamCost).describe("most expensive first"),
  items: z.array(CostItem).optional().describe("with by=job, deployment or user: most expensive first, at most limit"),
  more: z.number().optional().describe("items beyond limit, not listed"),
});
export type CostReport = z.output<typeof CostReport>;
