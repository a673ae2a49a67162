import { z } from "zod";

/** What a budget threshold does once a team's spend this month reaches it. */
export const BUDGET_ACTIONS = ["notify", "block", "stop"] as const;
export type BudgetAction = (typeof BUDGET_ACTIONS)[number];

export const BudgetThreshold = z.strictObject({
  at: z.number().positive().max(1000).describe("percent of the monthly amount, e.g. 90"),
  action: z.enum(BUDGET_ACTIONS).describe("notify: the webhook only; block: refuse new jobs and deployments; stop: also cancel the team's jobs and pause its rollouts"),
});
export type BudgetThreshold = z.output<typeof BudgetThreshold>;

/** Thresholds of a budget set without any. */
export const DEFAULT_THRESHOLDS: BudgetThreshold[] = [
  { at: 50, action: "notify" },
  { at: 90, action: "notify" },
  { at: 100, action: "block" },
];

export const PutBudgetBody = z.strictObject({
  amount: z.number().positive().max(1e12).describe("the team's budget per UTC month, in the price list's currency"),
  thresholds: z
    .array(BudgetThreshold)
    .min(1)
    .max(20)
    .refine((list) => new Set(list.map((t) => t.at)).size === list.length, "two thresholds share one percentage; give each its own")
    .optional()
    .describe("default: the budget's current thresholds, or 50% notify, 90% notify, 100% block"),
  webhookUrl: z
    .string()
    .max(2000)
    .nullable()
    .optional()
    .describe("POSTed JSON when a threshold is crossed; null removes it, absent keeps it. Only platform admins may name a host outside budgets.webhookHosts"),
});
export type PutBudgetBody = z.output<typeof PutBudgetBody>;

/** A threshold crossed this month: when, at what spend, and how its notification went. */
export const BudgetEventView = z.object({
  id: z.string(),
  at: z.number(),
  action: z.enum(BUDGET_ACTIONS),
  spend: z.number(),
  createdAt: z.number(),
  actedAt: z.number().nullable().describe("when a stop was carried out (the team's jobs cancelled, rollouts paused)"),
  delivery: z.enum(["none", "pending", "delivered", "failed"]).describe("the webhook: none (no webhook), pending (retried with backoff), delivered, failed (gave up)"),
  attempts: z.number(),
  deliveredAt: z.number().nullable(),
  lastError: z.string().nullable(),
});

export const BudgetView = z.object({
  team: z.string(),
  amount: z.number(),
  currency: z.string(),
  thresholds: z.array(BudgetThreshold),
  webhookHost: z.string().nullable().describe("the webhook's host; the URL itself is never shown (it is often a secret)"),
  updatedBy: z.string(),
  updatedAt: z.number(),
  month: z.string().describe("the UTC month the figures below are for"),
  spend: z.number().describe("the team's spend this month so far"),
  percent: z.number(),
  blocked: z.boolean().describe("new jobs and deployments are refused (QUOTA_EXCEEDED) until the month ends or the budget rises"),
  events: z.array(BudgetEventView).describe("thresholds crossed this month, lowest first"),
});
export type BudgetView = z.output<typeof BudgetView>;

export const BudgetList = z.object({ budgets: z.array(BudgetView) });
export const BudgetTeamParams = z.object({ team: z.string().min(1).max(63) });
