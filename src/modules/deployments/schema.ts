import { z } from "zod";

/**
 * An environment name; the same rule as serving's (a folder name of its prediction log). Written
 * out here because the client imports this file and must not pull in the serving module.
 */
export const EnvironmentName = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, "use lower-case letters, digits and '-' (at most 63, starting with a letter), e.g. staging");

export const DeploymentPhase = z.enum(["Progressing", "Paused", "Succeeded", "RolledBack", "Failed"]);
export type DeploymentPhase = z.infer<typeof DeploymentPhase>;
export const Strategy = z.enum(["canary", "ab", "shadow", "replace"]);

/** Default limit on the PSI of the canary's predictions against stable's (0.25: the usual "significant shift"). */
export const DEFAULT_MAX_PREDICTION_PSI = 0.25;
/** Default margin a canary's p99 must exceed stable's by, on top of the ratio, to count as slower. */
export const DEFAULT_MIN_LATENCY_INCREASE_MS = 10;

export const AnalysisThresholds = z.strictObject({
  maxErrorRateIncrease: z.number().min(0).max(1).default(0.05).describe("largest allowed canary error rate minus stable error rate (0..1)"),
  maxLatencyRatio: z.number().positive().default(2).describe("largest allowed canary p99 / stable p99"),
  minLatencyIncreaseMs: z
    .number()
    .min(0)
    .default(DEFAULT_MIN_LATENCY_INCREASE_MS)
    .describe("a canary over maxLatencyRatio is rolled back only when its p99 is also this many milliseconds above stable's: p99s of a few milliseconds move by more than 2x from scheduling noise alone"),
  maxPredictionPsi: z.number().positive().nullable().default(DEFAULT_MAX_PREDICTION_PSI).describe("largest allowed PSI of the canary's prediction distribution against stable's; null turns the check off"),
});
const DEFAULT_ANALYSIS = { maxErrorRateIncrease: 0.05, maxLatencyRatio: 2, minLatencyIncreaseMs: DEFAULT_MIN_LATENCY_INCREASE_MS, maxPredictionPsi: DEFAULT_MAX_PREDICTION_PSI };

/** Outcome metrics the router measures itself; any other name is reported with POST /api/v1/deployments/{id}/outcomes. */
export const BUILTIN_AB_METRICS = { error_rate: "binary", latency_ms: "continuous" } as const;

export const AbTestBody = z
  .strictObject({
    split: z.number().int().min(1).max(99).default(50).describe("percent of routing keys sent to the new version (B); the rest stay on the current one (A)"),
    metric: z.string().regex(/^[a-z][a-z0-9_.]{0,62}$/, "a metric name: lower-case letters, digits, '_' and '.'").default("error_rate").describe("the outcome compared: error_rate or latency_ms (measured by Paved) or a name you report outcomes for"),
    kind: z.enum(["binary", "continuous"]).optional().describe("binary outcomes are 0 or 1 (two-proportion z-test); continuous ones any number (Welch t-test). Built-in metrics know their kind"),
    higherIsBetter: z.boolean().optional().describe("default: false for error_rate and latency_ms, true for reported metrics"),
    alpha: z.number().gt(0).max(0.2).default(0.05).describe("significance level of the two-sided test"),
    minSamples: z.number().int().min(2).max(10_000_000).default(100).describe("outcomes per variant before the test is judged"),
    autoConclude: z.boolean().default(false).describe("promote B once it is significantly better, roll back once it is significantly worse; otherwise a person decides"),
  })
  .refine((b) => !(b.metric in BUILTIN_AB_METRICS) || b.kind === undefined || b.kind === BUILTIN_AB_METRICS[b.metric as keyof typeof BUILTIN_AB_METRICS], {
    message: "error_rate is binary and latency_ms continuous; leave kind out for them",
  });

export type AbTestBody = z.infer<typeof AbTestBody>;

export const AbTestSpec = z.object({
  split: z.number(),
  metric: z.string(),
  kind: z.enum(["binary", "continuous"]),
  higherIsBetter: z.boolean(),
  alpha: z.number(),
  minSamples: z.number(),
  autoConclude: z.boolean(),
});
export type AbTestSpec = z.infer<typeof AbTestSpec>;

export const CreateDeploymentBody = z
  .strictObject({
    model: z.string().min(1),
    version: z.string().min(1).optional().describe("version number"),
    alias: z.string().min(1).optional().describe("an alias naming the version (resolved once, at creation)"),
    environment: EnvironmentName.default("production").describe("production is served at /v2/models/{model}; any other environment at /environments/{environment}/v2/models/{model}"),
    strategy: Strategy.default("canary"),
    steps: z.array(z.number().int().min(1).max(100)).min(1).max(20).default([10, 50, 100]).describe("canary traffic percentages, increasing, ending at 100"),
    stepIntervalSeconds: z.number().min(0.05).max(86_400).default(30),
    analysis: AnalysisThresholds.default(DEFAULT_ANALYSIS),
    ab: AbTestBody.optional().describe("the A/B test (strategy ab): split, outcome metric, significance level"),
    replicas: z.number().int().min(1).max(1024).default(1).describe("replicas per version to start with, and the fewest the autoscaler keeps (at most the server's serving.maxReplicasPerVersion)"),
    maxReplicas: z.number().int().min(1).max(1024).optional().describe("the most replicas per version the autoscaler may run (default: replicas, no autoscaling; at most serving.maxReplicasPerVersion)"),
    targetP95Ms: z.number().positive().optional().describe("the autoscaler also adds replicas while p95 latency is above this and requests queue"),
    monitor: z.boolean().default(true).describe("watch the deployed version's live traffic with a monitor (drift, prediction shift, latency, errors) when it has reference data from an evaluation; false: no monitor"),
  })
  .refine((b) => b.maxReplicas === undefined || b.maxReplicas >= b.replicas, { message: "maxReplicas must be at least replicas" })
  .refine((b) => (b.version === undefined) !== (b.alias === undefined), { message: "give exactly one of version and alias" })
  .refine((b) => b.ab === undefined || b.strategy === "ab", { message: "ab settings need strategy 'ab'" })
  .refine((b) => b.steps.every((s, i) => i === 0 || s > b.steps[i - 1]!) && b.steps[b.steps.length - 1] === 100, {
    message: "steps must increase and end at 100, e.g. [10, 50, 100]",
  });
export type CreateDeploymentBody = z.infer<typeof CreateDeploymentBody>;

export const DeploymentSpec = z.object({
  model: z.string(),
  version: z.string(),
  environment: z.string(),
  strategy: Strategy,
  steps: z.array(z.number()),
  stepIntervalSeconds: z.number(),
  /** Older deployments lack maxPredictionPsi and minLatencyIncreaseMs: they get the defaults. */
  analysis: z.object({ maxErrorRateIncrease: z.number(), maxLatencyRatio: z.number(), minLatencyIncreaseMs: z.number().optional(), maxPredictionPsi: z.number().nullable().optional() }),
  ab: AbTestSpec.optional(),
  /** Older deployments lack it: one replica. */
  scale: z.object({ replicas: z.number(), maxReplicas: z.number(), targetP95Ms: z.number().nullable() }).optional(),
});
export type DeploymentSpec = z.infer<typeof DeploymentSpec>;

/** What promote checks: the current analysis of the new version (canary window, shadow comparison, A/B test). */
export const AnalysisVerdict = z.object({
  verdict: z.enum(["passing", "failing", "missing"]).describe("missing: too little has been analysed yet to judge the new version"),
  reason: z.string(),
  updatedAt: z.number(),
});
export type AnalysisVerdict = z.infer<typeof AnalysisVerdict>;

/** A promote that went ahead against a failing or missing analysis: who, when, why, and the verdict overridden. */
export const DeploymentOverrideView = z.object({
  id: z.string(),
  version: z.string(),
  environment: z.string(),
  action: z.string().describe("what was forced: promote"),
  verdict: z.string().describe("the analysis verdict overridden (failing or missing)"),
  verdictReason: z.string(),
  user: z.string(),
  reason: z.string(),
  createdAt: z.number(),
});
export type DeploymentOverrideView = z.infer<typeof DeploymentOverrideView>;

/** Most events a deployment's history keeps: the first (its creation) and the newest. */
export const MAX_HISTORY = 200;

export const DeploymentEvent = z.object({
  time: z.number(),
  reason: z.string(),
  /** Set on the event of a forced promote. */
  override: z.object({ user: z.string(), reason: z.string(), verdict: z.string() }).optional(),
});
export type DeploymentEvent = z.infer<typeof DeploymentEvent>;

const Moments = z.object({ n: z.number(), sum: z.number(), sumSq: z.number() });

export const AbTestResult = z.object({
  test: z.string(),
  meanA: z.number(),
  meanB: z.number(),
  difference: z.number().describe("mean of B minus mean of A"),
  ciLow: z.number().describe("fixed-horizon confidence interval of the difference"),
  ciHigh: z.number(),
  standardError: z.number().optional(),
  pValue: z.number().describe("fixed-horizon p-value (valid for one look at a planned size; shown for reference)"),
  sequentialPValue: z.number().optional().describe("always-valid p-value of the mixture SPRT, the running minimum over every look: what decides"),
  significant: z.boolean().describe("sequentialPValue below alpha"),
  winner: z.enum(["A", "B"]).nullable().describe("the better variant once significant with minSamples each; null while undecided"),
});

export const AbTestStatus = z.object({
  /** Version A (the current one) and B (the new one). */
  versionA: z.string(),
  versionB: z.string(),
  /** Outcomes counted per variant (for error_rate and latency_ms, accumulated by the router and saved each interval). */
  a: Moments,
  b: Moments,
  result: AbTestResult.nullable().describe("null until each variant has at least 2 outcomes"),
  updatedAt: z.number(),
});
export type AbTestStatus = z.infer<typeof AbTestStatus>;

export const ShadowStatus = z.object({
  since: z.number(),
  requests: z.number().describe("copies the shadow answered or failed since the shadow started (or the server restarted)"),
  errors: z.number(),
  errorRate: z.number(),
  p99Ms: z.number().nullable(),
  stableP99Ms: z.number().nullable(),
  predictionPsi: z.number().nullable().describe("PSI of the shadow's predictions against stable's over the same requests"),
  meanAbsoluteDifference: z.number().nullable().describe("mean |shadow - stable| of the first output, request by request"),
  verdict: z.string().describe("what canary analysis would decide from these figures"),
  updatedAt: z.number(),
});
export type ShadowStatus = z.infer<typeof ShadowStatus>;

export const DeploymentStatus = z.object({
  phase: DeploymentPhase,
  stableVersion: z.string().nullable(),
  canaryVersion: z.string().nullable(),
  canaryWeight: z.number(),
  currentStep: z.number().describe("index into steps; -1 before the first"),
  stepStartedAt: z.number().nullable(),
  testsDone: z.boolean(),
  history: z.array(DeploymentEvent),
  abTest: AbTestStatus.nullable().optional(),
  shadow: ShadowStatus.nullable().optional(),
  /** The analysis verdict promote checks; absent on deployments created before it existed (missing). */
  analysis: AnalysisVerdict.nullable().optional(),
  scaleLimit: z.string().optional().describe("set while the autoscaler holds a version of this model and environment below what its load asks for: the team's serving-replica quota"),
});
export type DeploymentStatus = z.infer<typeof DeploymentStatus>;

/** What a create did about monitoring the new version: the monitor that watches it, or why none does. */
export const DeploymentMonitor = z.object({
  id: z.string().nullable().describe("the monitor watching the deployed version in its environment; null when none does"),
  created: z.boolean().describe("whether this deployment created it (false: it existed already, or none was made)"),
  note: z.string().describe("what happened, and the fix when no monitor watches the version"),
});
export type DeploymentMonitor = z.infer<typeof DeploymentMonitor>;

export const DeploymentView = z.object({
  id: z.string(),
  team: z.string().describe("the team that owns it: its model's"),
  spec: DeploymentSpec,
  status: DeploymentStatus,
  endpoint: z.string().describe("the path of the environment's OIP endpoint for this model, e.g. /v2/models/churn or /environments/staging/v2/models/churn"),
  overrides: z.array(DeploymentOverrideView).describe("forced promotions, newest first"),
  paused: z.boolean(),
  requested: z.string().nullable().describe("an action the controller has yet to carry out: promote, force-promote or rollback"),
  createdBy: z.string(),
  createdAt: z.number(),
  updatedAt: z.number(),
  monitor: DeploymentMonitor.optional().describe("only in the answer to a create: the monitor watching the new version, or why none does"),
});
export type DeploymentView = z.infer<typeof DeploymentView>;

export const DeploymentList = z.object({
  deployments: z.array(DeploymentView),
  nextPageToken: z.string().optional().describe("set when older deployments remain: pass it as pageToken for the next page"),
});
export const DeploymentIdParams = z.object({ id: z.string().min(1) });

/** GET /api/v1/deployments/:id/serving: what each version of its model answered in its environment. */
export const DeploymentServingView = z.object({
  model: z.string(),
  environment: z.string(),
  versions: z.array(
    z.object({
      version: z.string(),
      requests: z.number(),
      errors: z.number(),
      errorRate: z.number().nullable().describe("errors / requests; null before the first request"),
      meanMs: z.number().nullable(),
      p99Ms: z.number().nullable().describe("interpolated in the latency histogram's buckets, as Prometheus's histogram_quantile"),
    }),
  ),
});
export type DeploymentServingView = z.infer<typeof DeploymentServingView>;
/** Deployments per page of GET /api/v1/deployments, unless `limit` says fewer. */
export const DEFAULT_DEPLOYMENTS_PAGE = 100;
export const MAX_DEPLOYMENTS_PAGE = 1000;

export const ListDeploymentsQuery = z.object({
  model: z.string().min(1).optional(),
  environment: EnvironmentName.optional(),
  createdBy: z.string().min(1).max(200).optional().describe("only the deployments this user (or token) created; 'me' for yours"),
  limit: z.coerce.number().int().min(1).max(MAX_DEPLOYMENTS_PAGE).default(DEFAULT_DEPLOYMENTS_PAGE).describe(`deployments per page, newest first (at most ${MAX_DEPLOYMENTS_PAGE})`),
  pageToken: z.string().max(200).optional().describe("nextPageToken of the previous page"),
});

export const PromoteBody = z
  .strictObject({
    force: z.boolean().default(false).describe("promote even though the analysis is failing or missing; needs reason, and is recorded"),
    reason: z.string().max(2000).optional().describe("why the override is needed; recorded with who and when"),
  })
  .refine((b) => !b.force || (b.reason !== undefined && b.reason.trim() !== ""), { message: "force needs a reason (it is recorded), e.g. {\"force\": true, \"reason\": \"hotfix for INC-123\"}", path: ["reason"] });
export type PromoteBody = z.infer<typeof PromoteBody>;

export const OutcomesBody = z.strictObject({
  outcomes: z
    .array(
      z.strictObject({
        key: z.string().min(1).max(256).describe("the routing key the request carried (header X-Paved-Route-Key)"),
        value: z.number().finite(),
        id: z.string().min(1).max(128).optional().describe("your id for this outcome: sending it again (a retry) does not count it twice"),
      }),
    )
    .min(1)
    .max(1000),
});
export type OutcomesBody = z.infer<typeof OutcomesBody>;
export const OutcomesAccepted = z.object({
  accepted: z.number().describe("outcomes in the request"),
  duplicates: z.number().describe("outcomes whose id was already stored (not counted again)"),
  a: z.number().describe("outcomes of the request attributed to version A"),
  b: z.number(),
});
