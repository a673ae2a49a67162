// Wire schemas of monitoring: model monitors (their spec, views and windows), alert receivers,
// alert rules and alerts. The CLI renders these; the routes validate bodies with them.
import { z } from "zod";

const Name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64");
const share = z.number().min(0).max(1);

/** Thresholds a monitor applies beyond the gate policy's (drift and latency come from the policy). */
export const MonitorThresholds = z.strictObject({
  maxErrorRate: share.default(0.05).describe("failed requests / requests in a window"),
  maxSchemaViolationRate: share.default(0.01).describe("requests refused because their inputs broke the model's signature (INVALID_INPUT) / requests"),
  maxMissingRate: share.default(0.01).describe("per feature: missing values (null, NaN) / rows"),
  maxOutOfRangeRate: share.default(0.05).describe("per feature: values outside the reference's [min, max] / rows"),
  maxPredictionPsi: z.number().min(0).nullable().default(0.25).describe("PSI of the window's prediction scores against the first full window's; null: not checked"),
  chiSquareAlpha: z.number().gt(0).max(1).default(0.001).describe("a categorical feature drifts when the chi-square test's p-value is below this (or its PSI exceeds the policy's maxPsi)"),
  maxPsi: z.number().min(0).optional().describe("overrides the gate policy's drift maxPsi (default: the policy's)"),
  maxKsStatistic: z.number().min(0).optional().describe("overrides the gate policy's drift maxKsStatistic"),
  p99Ms: z.number().positive().optional().describe("overrides the gate policy's performance p99Ms"),
});
export type MonitorThresholds = z.output<typeof MonitorThresholds>;

export const MonitorSpec = z.strictObject({
  windowSeconds: z.number().int().min(1).max(86_400).default(300).describe("length of a window; figures are computed when one closes"),
  minRows: z.number().int().min(20).max(100_000).default(200).describe("fewest sampled rows a window needs before drift is judged (fewer: insufficient)"),
  features: z.array(z.string().min(1).max(256)).max(1024).optional().describe("judge only these of the model's features (default: all)"),
  thresholds: MonitorThresholds.default(MonitorThresholds.parse({})),
  keepSamples: z
    .boolean()
    .default(false)
    .describe("keep each window's sampled rows (inputs and prediction scores) for 30 days, so they can become a dataset version to retrain on (POST /api/v1/monitors/:id/dataset)"),
});
export type MonitorSpec = z.output<typeof MonitorSpec>;

export const CreateMonitorBody = z.strictObject({
  model: Name.describe("registered model"),
  version: z.number().int().positive(),
  environment: Name.default("production"),
  windowSeconds: MonitorSpec.shape.windowSeconds.optional(),
  minRows: MonitorSpec.shape.minRows.optional(),
  features: MonitorSpec.shape.features,
  thresholds: MonitorThresholds.partial().optional(),
  keepSamples: MonitorSpec.shape.keepSamples.optional(),
});
export type CreateMonitorBody = z.output<typeof CreateMonitorBody>;

/** The signals a window can breach (alert rules name them as `model.<signal>`). */
export const MODEL_SIGNALS = ["drift", "prediction_shift", "error_rate", "latency", "schema_violations", "missing_inputs", "out_of_range"] as const;
export type ModelSignal = (typeof MODEL_SIGNALS)[number];

export const Breach = z.object({
  signal: z.enum(MODEL_SIGNALS),
  /** The feature, for per-feature signals; empty otherwise. */
  subject: z.string(),
  value: z.number(),
  threshold: z.number(),
  message: z.string(),
});
export type Breach = z.output<typeof Breach>;

export const FeatureFigures = z.object({
  feature: z.string(),
  kind: z.enum(["numeric", "categorical"]),
  rows: z.number(),
  psi: z.number().nullable(),
  ksStatistic: z.number().nullable(),
  chiSquare: z.number().nullable(),
  chiSquarePValue: z.number().nullable(),
  missingRate: z.number(),
  outOfRangeRate: z.number(),
  drifted: z.boolean(),
});
export type FeatureFigures = z.output<typeof FeatureFigures>;

export const WindowFigures = z.object({
  errorRate: z.number().nullable(),
  schemaViolationRate: z.number().nullable(),
  latencyP50Ms: z.number().nullable(),
  latencyP99Ms: z.number().nullable(),
  predictionPsi: z.number().nullable(),
  driftedFeatures: z.array(z.string()),
  features: z.array(FeatureFigures),
  /** What the window could not judge, and why (too few rows, features the reference lacks). */
  notes: z.array(z.string()),
});
export type WindowFigures = z.output<typeof WindowFigures>;

export const MONITOR_WINDOW_STATUSES = ["ok", "breach", "insufficient", "idle"] as const;

export const MonitorWindowView = z.object({
  start: z.number(),
  end: z.number(),
  status: z.enum(MONITOR_WINDOW_STATUSES).describe("idle: no traffic; insufficient: too few sampled rows to judge drift (other signals were judged)"),
  requests: z.number(),
  errors: z.number(),
  rowsSeen: z.number(),
  rowsKept: z.number(),
  rowsDropped: z.number().describe("sampled rows not kept: the window's reservoir was full (a flood is sampled evenly)"),
  figures: WindowFigures,
  breaches: z.array(Breach),
});
export type MonitorWindowView = z.output<typeof MonitorWindowView>;

export const MonitorView = z.object({
  id: z.string(),
  team: z.string(),
  model: z.string(),
  version: z.number(),
  environment: z.string(),
  spec: MonitorSpec,
  /** The thresholds in force: the monitor's, with the gate policy's drift and performance bounds. */
  thresholds: z.record(z.string(), z.number().nullable()),
  reference: z.object({ evaluationId: z.string(), uri: z.string(), kind: z.string(), features: z.array(z.string()) }),
  predictionBaseline: z.number().describe("scores in the prediction baseline (0 until a full window)"),
  createdBy: z.string(),
  createdAt: z.number(),
  windowStart: z.number(),
  latest: MonitorWindowView.nullable(),
});
export type MonitorView = z.output<typeof MonitorView>;

export const MonitorIdParams = z.object({ id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/) });
export const ListMonitorsQuery = z.object({ model: Name.optional(), environment: Name.optional() });
export const WindowsQuery = z.object({
  since: z.coerce.number().int().min(0).optional().describe("only windows ending after this time (ms)"),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

// ---- alerts ----

export const INFRA_SIGNALS = ["queue_oldest_wait_seconds", "gpu_temperature_celsius", "gpu_memory_used_ratio", "database_ping_seconds"] as const;
export const SIGNALS = [...MODEL_SIGNALS.map((s) => `model.${s}` as const), ...INFRA_SIGNALS.map((s) => `infra.${s}` as const)];
export const SEVERITIES = ["critical", "warning", "info"] as const;

/** Hosts are checked against the admin's allow-list when a receiver is created (and again before each delivery). */
export const CreateReceiverBody = z.strictObject({
  name: Name,
  url: z.string().min(1).max(2048).describe("http(s) URL on a host in monitoring.alerts.allowedHosts"),
  format: z.enum(["json", "alertmanager"]).default("json").describe("json: Paved's generic body; alertmanager: Alertmanager's webhook body (version 4)"),
  team: Name.optional().describe("default: your only team"),
});

export const ReceiverView = z.object({ id: z.string(), team: z.string(), name: z.string(), url: z.string(), format: z.string(), createdBy: z.string(), createdAt: z.number() });
export type ReceiverView = z.output<typeof ReceiverView>;

export const AlertRuleSpec = z
  .strictObject({
    signal: z.enum(SIGNALS as [string, ...string[]]).describe("model.<signal> fires on a monitor window's breach of it; infra.<signal> when the reading exceeds `threshold`"),
    severity: z.enum(SEVERITIES),
    model: Name.optional().describe("model signals: only this model's monitors"),
    environment: Name.optional().describe("model signals: only monitors of this environment"),
    threshold: z.number().optional().describe("infra signals: fire above this"),
    forWindows: z.number().int().min(1).max(100).default(1).describe("model signals: consecutive breaching windows before it fires"),
    pauseRollout: z.boolean().default(false).describe("model signals: pause the rollout in progress of the monitored model and environment when it fires"),
    receivers: z.array(Name).max(16).default([]),
    summary: z.string().max(500).optional().describe("added to the alert's annotations"),
  })
  .superRefine((spec, ctx) => {
    if (spec.signal.startsWith("infra.") && spec.threshold === undefined) ctx.addIssue({ code: "custom", path: ["threshold"], message: `${spec.signal} needs a threshold (it fires above it)` });
    if (spec.signal.startsWith("infra.") && (spec.model !== undefined || spec.pauseRollout)) ctx.addIssue({ code: "custom", path: ["signal"], message: "model, environment and pauseRollout apply to model.* signals only" });
  });
export type AlertRuleSpec = z.output<typeof AlertRuleSpec>;

export const CreateRuleBody = z.strictObject({ name: Name, team: Name.optional().describe("default: your only team"), rule: z.unknown().describe("an AlertRuleSpec") });

export const RuleView = z.object({ id: z.string(), team: z.string(), name: z.string(), spec: z.unknown(), createdBy: z.string(), createdAt: z.number() });
export type RuleView = z.output<typeof RuleView>;

export const AlertView = z.object({
  id: z.string(),
  rule: z.string(),
  team: z.string(),
  severity: z.string(),
  state: z.enum(["firing", "resolved"]),
  labels: z.record(z.string(), z.string()),
  annotations: z.record(z.string(), z.string()),
  startedAt: z.number(),
  resolvedAt: z.number().nullable(),
  deliveries: z.record(z.string(), z.object({ state: z.string().nullable(), attempts: z.number(), error: z.string().nullable(), at: z.number().nullable() })),
  pausedDeployment: z.string().nullable(),
});
export type AlertView = z.output<typeof AlertView>;

export const ListAlertsQuery = z.object({ state: z.enum(["firing", "resolved"]).optional(), limit: z.coerce.number().int().min(1).max(1000).default(100) });
export const NameParams = z.object({ name: Name });
export const TeamQuery = z.object({ team: Name.optional() });

/** POST /api/v1/monitors/:id/dataset: kept windows' sampled rows as a new dataset version. */
export const SamplesDatasetBody = z.strictObject({
  name: z.string().min(1).max(128).describe("the dataset (of the monitor's team; created when new)"),
  since: z.number().int().min(0).optional().describe("only windows that ended after this time (ms since the epoch); default: every kept window"),
  until: z.number().int().min(0).optional().describe("only windows that ended before this time"),
});
export type SamplesDatasetBody = z.output<typeof SamplesDatasetBody>;

export const SamplesDatasetView = z.object({
  dataset: z.string(),
  version: z.number().int(),
  ref: z.string().describe("datasets:/<name>@<version>"),
  windows: z.number().int().describe("windows whose rows it holds (one CSV file each)"),
  rows: z.number().int(),
  existing: z.boolean().describe("the same windows made this version before"),
});
export type SamplesDatasetView = z.output<typeof SamplesDatasetView>;
