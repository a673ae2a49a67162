import { z } from "zod";
import { timeBoundSchema } from "../../core/index.ts";


/** The longest window a report covers. */
export const MAX_WINDOW_DAYS = 366;
/** The window a report covers when `since` is not given, and the window of the Prometheus gauges. */
export const DEFAULT_WINDOW_DAYS = 28;
/** The longest feedback comment kept, in characters. */
export const MAX_COMMENT_CHARS = 2000;
/** Feedback one person may send in 24 hours. */
export const MAX_FEEDBACK_PER_DAY = 20;
/** People listed one by one in a report asked for per-user detail, at most. */
export const MAX_DETAIL_USERS = 10_000;

/** The golden path, in order. */
export const FUNNEL_STAGES = ["workspace", "run", "registered", "gated", "production"] as const;
export type FunnelStage = (typeof FUNNEL_STAGES)[number];

export type { TimeBound } from "../../core/index.ts";

const timeBound = timeBoundSchema("a duration (28d, 7d, 12h), an ISO 8601 time (2026-03-01T00:00:00Z) or epoch milliseconds");

/** GET /api/v1/adoption. */
export const AdoptionQuery = z.object({
  since: timeBound.optional().describe(`start of the window: a duration before its end (28d, 7d), an ISO 8601 time or epoch ms; default ${DEFAULT_WINDOW_DAYS}d`),
  until: timeBound.optional().describe("end of the window (exclusive): a duration before now, an ISO 8601 time or epoch ms; default now"),
  perUser: z
    .enum(["true", "false"])
    .optional()
    .transform((v) => v === "true")
    .describe("true: also list each person's figures (platform admins only, like the rest; never exported to Prometheus)"),
});
export type AdoptionQuery = z.output<typeof AdoptionQuery>;

const Bucket = z.object({
  from: z.number().describe("start of the period (epoch ms)"),
  to: z.number().describe("end of the period (exclusive)"),
  users: z.number().describe("distinct people who did something on the platform in the period"),
  teams: z.number().describe("distinct teams on whose resources a person did something in the period"),
});

const Active = z.object({
  lastDay: z.number().describe("the 24 hours before the window's end"),
  last7Days: z.number().describe("the 7 days before the window's end"),
  window: z.number().describe("the whole window"),
  dailyAverage: z.number().describe("mean over the window's whole days"),
  weeklyAverage: z.number().describe("mean over the window's whole weeks (the last 7-day period if it has none)"),
});

const Quantiles = z.object({
  count: z.number(),
  p50Seconds: z.number().nullable().describe("median; null when count is 0"),
});

export const TeamUsage = z.object({
  team: z.string(),
  activeUsers: z.number(),
  runs: z.number().describe("tracked runs started in the team's experiments (by anyone, jobs included)"),
  jobs: z.number().describe("jobs submitted (workspace servers excluded)"),
  gpuHours: z.number().describe("GPU hours of job attempts that ended, the part inside the window"),
  workspaces: z.number().describe("workspaces created"),
  modelVersions: z.number().describe("model versions registered"),
  deployments: z.number().describe("deployments created, every environment"),
  productionDeployments: z.number().describe("production rollouts that finished promoted"),
});

export const FunnelStep = z.object({
  stage: z.enum(FUNNEL_STAGES),
  users: z.number().describe("people who did this stage in the window"),
  throughPath: z.number().describe("people who did this stage and every earlier one in the window"),
  conversion: z.number().nullable().describe("throughPath over the previous stage's throughPath; null for the first stage or when the previous one is 0"),
});

export const UserDetail = z.object({
  user: z.string(),
  teams: z.array(z.string()),
  firstSignIn: z.number().nullable().describe("see docs/adoption.md: the first session, personal token, or (SSO) the account's creation"),
  firstRun: z.number().nullable(),
  firstProduction: z.number().nullable(),
  activeDays: z.number().describe("days of the window with activity"),
  runs: z.number(),
  stages: z.array(z.enum(FUNNEL_STAGES)).describe("funnel stages reached in the window"),
});

export const FeedbackView = z.object({
  id: z.string(),
  user: z.string(),
  team: z.string().nullable(),
  score: z.number(),
  comment: z.string().nullable(),
  context: z.string().nullable(),
  createdAt: z.number(),
});
export type FeedbackView = z.infer<typeof FeedbackView>;

export const AdoptionReport = z.object({
  since: z.number(),
  until: z.number(),
  generatedAt: z.number(),
  activeUsers: Active,
  activeTeams: Active,
  daily: z.array(Bucket).describe("24-hour periods counted back from the window's end, oldest first"),
  weekly: z.array(Bucket).describe("7-day periods counted back from the window's end, oldest first"),
  teams: z.array(TeamUsage),
  funnel: z.array(FunnelStep),
  timeToValue: z.object({
    newUsers: z.number().describe("people whose first sign-in is in the window"),
    firstRun: Quantiles.describe("first sign-in → first tracked run, over new users who have one"),
    firstProduction: Quantiles.describe("first sign-in → first production deployment credited to them, over new users who have one"),
  }),
  delivery: z.object({
    productionDeployments: z.number().describe("production rollouts that finished promoted in the window"),
    perWeek: z.number().describe("productionDeployments over the window's length in weeks"),
    leadTime: Quantiles.describe("start of the run that produced the deployed version → its promotion to production"),
    withoutRun: z.number().describe("promotions whose version came from no tracked run (not in leadTime)"),
    finishedRollouts: z.number().describe("production rollouts that finished (promoted, rolled back or failed) in the window"),
    failedRollouts: z.number().describe("of them, rolled back or failed"),
    changeFailureRate: z.number().nullable().describe("failedRollouts / finishedRollouts; null when none finished"),
    timeToRestore: Quantiles.describe("a failed production rollout → the next promoted one of the same model"),
    unrestored: z.number().describe("failed rollouts with no promoted one after them yet"),
  }),
  satisfaction: z.object({
    responses: z.number(),
    meanScore: z.number().nullable(),
    distribution: z.array(z.number()).describe("responses with score 1, 2, 3, 4 and 5"),
    satisfied: z.number().nullable().describe("share of responses scoring 4 or 5 (CSAT)"),
    byTeam: z.array(z.object({ team: z.string(), responses: z.number(), meanScore: z.number() })),
  }),
  users: z.array(UserDetail).optional().describe("per person, only with perUser=true"),
  feedback: z.array(FeedbackView).optional().describe("the window's feedback with comments, newest first (at most 1,000), only with perUser=true"),
});
export type AdoptionReport = z.infer<typeof AdoptionReport>;

/** POST /api/v1/feedback. */
export const FeedbackBody = z.strictObject({
  score: z.number().int().min(1).max(5).describe("1 (very unhappy) to 5 (very happy)"),
  comment: z.string().trim().min(1).max(MAX_COMMENT_CHARS).optional().describe(`what went well or badly (at most ${MAX_COMMENT_CHARS} characters)`),
  context: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,62}$/, "a milestone or place, in lower-case letters, digits and '-', e.g. first-production-deployment")
    .optional()
    .describe("the milestone or place the feedback follows, e.g. first-run, first-production-deployment, cli"),
  team: z.string().min(1).max(63).optional().describe("the team it is about (one of yours; default your token's team, or your only team)"),
});
export type FeedbackBody = z.infer<typeof FeedbackBody>;

/** The milestones after which the UI asks how it went, earliest first (their feedback's `context`). */
export const MILESTONES = ["first-run", "first-registered-model", "first-production-deployment"] as const;
export type Milestone = (typeof MILESTONES)[number];

/** GET /api/v1/feedback/prompt. */
export const FeedbackPrompt = z.object({
  milestone: z.enum(MILESTONES).nullable().describe("the latest milestone you reached and have not given feedback on; null when there is none"),
  reachedAt: z.number().nullable().describe("when you reached it (ms since the epoch)"),
});
export type FeedbackPrompt = z.infer<typeof FeedbackPrompt>;
