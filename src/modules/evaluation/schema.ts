// Wire schemas of the evaluation module: gate policies (as written in YAML or JSON), evaluation
// requests and the stored evaluation views the CLI renders.
import { z } from "zod";

export const QUALITY_METRICS = ["accuracy", "auc", "f1", "precision", "recall", "rmse", "mae"] as const;
export type QualityMetric = (typeof QUALITY_METRICS)[number];
/** Metrics where lower is better (regression errors). */
export const LOWER_IS_BETTER: ReadonlySet<QualityMetric> = new Set(["rmse", "mae"]);

const ratio = z.number().min(0);
const positive = z.number().positive();

export const QualityCheck = z.strictObject({
  type: z.literal("quality"),
  metric: z.enum(QUALITY_METRICS),
  min: z.number().optional().describe("lowest acceptable value (accuracy, auc, f1, precision, recall)"),
  max: z.number().optional().describe("highest acceptable value (rmse, mae)"),
  relativeToProduction: ratio.optional().describe("largest allowed drop (or rise, for rmse/mae) against the version holding `production`"),
});
export const PerformanceCheck = z.strictObject({
  type: z.literal("performance"),
  p50Ms: positive.optional(),
  p95Ms: positive.optional(),
  p99Ms: positive.optional(),
  minThroughput: positive.optional().describe("batch-1 requests per second"),
});
export const BiasCheck = z.strictObject({
  type: z.literal("bias"),
  sensitiveColumn: z.string().min(1),
  maxDemographicParityDifference: ratio.optional(),
  maxEqualizedOddsDifference: ratio.optional(),
});
export const DriftCheck = z.strictObject({
  type: z.literal("drift"),
  maxPsi: ratio.optional().describe("per feature"),
  maxKsStatistic: ratio.optional().describe("per feature"),
});
export const MODEL_CARD_FIELDS = ["owner", "intendedUse", "limitations", "license"] as const;
export const ComplianceCheck = z.strictObject({
  type: z.literal("compliance"),
  requiredModelCardFields: z.array(z.string().min(1)).default([]),
  requireLineage: z.boolean().default(false),
  forbidSensitiveFeatures: z.boolean().default(false),
});

export const PolicyCheck = z.discriminatedUnion("type", [QualityCheck, PerformanceCheck, BiasCheck, DriftCheck, ComplianceCheck]);
export type PolicyCheck = z.output<typeof PolicyCheck>;
export const GatePolicy = z.strictObject({ checks: z.array(PolicyCheck).min(1) });
export type GatePolicy = z.output<typeof GatePolicy>;

export const GatePolicyView = z.object({
  model: z.string(),
  version: z.string().describe("content hash of the parsed policy"),
  source: z.enum(["default", "model"]),
  policy: GatePolicy,
  updatedBy: z.string().nullable(),
  updatedAt: z.number().nullable(),
});
export type GatePolicyView = z.output<typeof GatePolicyView>;

export const PutGatePolicyBody = z.union([
  z.strictObject({ yaml: z.string().min(1).max(256 * 1024).describe("the policy as YAML (or JSON) text") }),
  z.strictObject({ policy: z.unknown().describe("the policy as a JSON object") }),
]);

export const CheckResult = z.object({
  type: z.enum(["quality", "performance", "bias", "drift", "compliance"]),
  name: z.string().describe("e.g. quality:accuracy, drift:f0"),
  passed: z.boolean(),
  figures: z.record(z.string(), z.union([z.number(), z.string(), z.null()])),
  thresholds: z.record(z.string(), z.union([z.number(), z.string(), z.boolean(), z.array(z.string()), z.null()])),
  hint: z.string().nullable().describe("how to fix a failed check"),
});
export type CheckResult = z.output<typeof CheckResult>;

export const EvaluationView = z.object({
  id: z.string(),
  model: z.string(),
  version: z.string(),
  policyVersion: z.string(),
  dataPath: z.string(),
  dataDigest: z.string(),
  referencePath: z.string().nullable(),
  passed: z.boolean(),
  checks: z.array(CheckResult),
  user: z.string(),
  startedAt: z.number(),
  finishedAt: z.number(),
});
export type EvaluationView = z.output<typeof EvaluationView>;

export const EvaluateBody = z.strictObject({
  data: z.string().min(1).describe("absolute path of the evaluation CSV on the server"),
  label: z.string().min(1).default("label"),
  sensitive: z.array(z.string().min(1)).default([]),
  reference: z.string().min(1).optional().describe("absolute path of the reference (training) CSV; default: the version's lineage dataset"),
});
export type EvaluateBody = z.output<typeof EvaluateBody>;

export const EvaluationParams = z.object({ name: z.string().min(1), version: z.string().min(1) });
export const EvaluationIdParams = z.object({ id: z.string().min(1) });
export const ListEvaluationsQuery = z.object({
  model: z.string().min(1).optional(),
  version: z.string().regex(/^\d+$/).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
export const ListEvaluationsResponse = z.object({ evaluations: z.array(EvaluationView) });

export const GateOverrideView = z.object({
  id: z.string(),
  version: z.number(),
  alias: z.string(),
  policyVersion: z.string(),
  user: z.string(),
  reason: z.string(),
  createdAt: z.number(),
});
export const GateOverridesResponse = z.object({ overrides: z.array(GateOverrideView) });
