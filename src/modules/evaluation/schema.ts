// Wire schemas of the evaluation module: gate policies (as written in YAML or JSON), evaluation
// requests and the stored evaluation views the CLI renders.
import { z } from "zod";

export const QUALITY_METRICS = ["accuracy", "auc", "f1", "precision", "recall", "log_loss", "rmse", "mae"] as const;
export type QualityMetric = (typeof QUALITY_METRICS)[number];
/** Metrics where lower is better (log loss and regression errors). */
export const LOWER_IS_BETTER: ReadonlySet<QualityMetric> = new Set(["log_loss", "rmse", "mae"]);

const ratio = z.number().min(0);
const positive = z.number().positive();

export const QualityCheck = z.strictObject({
  type: z.literal("quality"),
  metric: z.enum(QUALITY_METRICS),
  min: z.number().optional().describe("lowest acceptable value (accuracy, auc, f1, precision, recall)"),
  max: z.number().optional().describe("highest acceptable value (log_loss, rmse, mae)"),
  relativeToProduction: ratio.optional().describe("largest allowed drop (or rise, for log_loss/rmse/mae) against the version holding `production`"),
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
  source: z.enum(["default", "model", "required"]).describe("required: a platform or team policy's requiredGatePolicy, which the gate uses in place of the model's own"),
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

export const EVALUATION_PHASES = ["Pending", "Running", "Passed", "Failed", "Error"] as const;
export const EvaluationPhase = z.enum(EVALUATION_PHASES).describe("Pending and Running until the runner finishes it; Passed or Failed by its checks; Error when it could not run (see message)");

export const EvaluationView = z.object({
  id: z.string(),
  model: z.string(),
  team: z.string().describe("the team that owns it: its model's"),
  version: z.string(),
  phase: EvaluationPhase,
  message: z.string().nullable().describe("why the evaluation is in Error"),
  policyVersion: z.string(),
  dataPath: z.string().describe("the evaluation data's URI (runs:/…, models:/…, uploads:/…)"),
  dataDigest: z.string().nullable().describe("sha256 of the CSV that was evaluated; null until it is read"),
  referencePath: z.string().nullable().describe("the reference (drift) data's URI; null when there was none"),
  referenceOrigin: z.string().nullable().describe("where the reference came from: 'explicit', or \"lineage dataset '<name>' of run <id>\""),
  referenceNote: z.string().nullable().describe("why no reference was used (e.g. the lineage dataset is not a platform URI) and how to give one"),
  features: z
    .object({
      matchedBy: z.enum(["name", "position"]),
      from: z.string().describe("where the model's feature names came from, or why columns were matched by position"),
      names: z.array(z.string()).describe("the columns fed to the model, in its input order"),
    })
    .nullable()
    .describe("how the data's columns were matched to the model's input; null for evaluations from before this was recorded"),
  passed: z.boolean().describe("true when the phase is Passed"),
  checks: z.array(CheckResult).describe("empty until the evaluation finishes"),
  user: z.string(),
  createdAt: z.number(),
  startedAt: z.number().nullable(),
  finishedAt: z.number().nullable(),
});
export type EvaluationView = z.output<typeof EvaluationView>;

const DATA_URI = "runs:/<run_id>/<path>, mlflow-artifacts:/<experiment_id>/<run_id>/artifacts/<path>, models:/<name>/<version>/<path> or uploads:/<sha256> (POST /api/v1/evaluation-data); never a server path";

export const EvaluateBody = z.strictObject({
  data: z.string().min(1).max(2048).describe(`the evaluation CSV: ${DATA_URI}`),
  label: z.string().min(1).default("label"),
  sensitive: z.array(z.string().min(1)).default([]),
  reference: z.string().min(1).max(2048).optional().describe(`the reference (training) CSV for drift, as for data; default: the version's lineage dataset when its source is such a URI`),
});
export type EvaluateBody = z.output<typeof EvaluateBody>;

export const EvaluationParams = z.object({ name: z.string().min(1), version: z.string().min(1) });
export const EvaluationIdParams = z.object({ id: z.string().min(1) });
export const ListEvaluationsQuery = z.object({
  model: z.string().min(1).optional(),
  version: z.string().regex(/^\d+$/).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  pageToken: z.string().max(200).optional().describe("nextPageToken of the previous page"),
});
export const ListEvaluationsResponse = z.object({
  evaluations: z.array(EvaluationView),
  nextPageToken: z.string().optional().describe("set when older evaluations remain: pass it as pageToken for the next page"),
});

export const GateStatusView = z.object({
  model: z.string(),
  policyVersion: z.string().describe("the model's current policy version; only evaluations under it count"),
  versions: z.array(
    z.object({
      version: z.string(),
      gate: z.enum(["passed", "failed", "none"]).describe("what the production gate decides now: the verdict of the latest finished (Passed or Failed) evaluation"),
      evaluation: z.string().nullable().describe("the evaluation the gate reads: the latest finished one under the current policy"),
      inProgress: z.object({ id: z.string(), phase: EvaluationPhase }).nullable().describe("an evaluation still Pending or Running"),
      latest: z.object({ id: z.string(), phase: EvaluationPhase }).describe("the newest evaluation under the current policy"),
    }),
  ).describe("versions with at least one evaluation under the current policy, newest version first"),
});
export type GateStatusView = z.output<typeof GateStatusView>;

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

export const GatePolicyChangeView = z.object({
  id: z.string(),
  model: z.string(),
  version: z.string().describe("the policy version the change stored"),
  policy: GatePolicy,
  previous: z
    .object({ version: z.string(), source: z.enum(["default", "model"]), policy: GatePolicy })
    .nullable()
    .describe("the policy it replaced (the built-in default, or the model's own); null when not recorded (changes made before history was kept)"),
  user: z.string(),
  createdAt: z.number(),
});
export type GatePolicyChangeView = z.output<typeof GatePolicyChangeView>;
export const GatePolicyHistoryResponse = z.object({ changes: z.array(GatePolicyChangeView).describe("newest first") });

export const EvaluationUploadView = z.object({
  uri: z.string().describe("uploads:/<sha256>: pass it as an evaluation's data or reference"),
  digest: z.string().describe("sha256:<hex> of the bytes"),
  size: z.number(),
  team: z.string().describe("the team whose evaluations may use it (the model's, for an upload made for a model)"),
});

export const UploadQuery = z.object({
  model: z.string().min(1).optional().describe("the model the data is for: the upload goes to its team (what `paved evaluate` sends)"),
  team: z.string().min(1).max(63).optional().describe("the team the upload goes to, when no model is named (default: your token's team, else your only team)"),
});
export type EvaluationUploadView = z.output<typeof EvaluationUploadView>;
