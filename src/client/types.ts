// Response and request shapes of Paved's /api/v1, taken from the modules' zod schemas (the same
// ones the server validates with and builds its OpenAPI document from). All times are epoch ms.
import type { z } from "zod";
import type { CreateTriggerBody } from "../modules/triggers/schema.ts";
import type { CreateMonitorBody } from "../modules/monitoring/schema.ts";
import type { featureSetSpecSchema, trainingSetBodySchema } from "../modules/features/schema.ts";
import type { pricesSchema, profileSchema } from "../modules/catalog/schema.ts";
import type { jobCheckSchema, jobEventSchema, jobSchema, jobSpecSchema, pendingSchema, resourcesSchema } from "../modules/compute/schema.ts";
import type { CreateDeploymentBody, DeploymentView } from "../modules/deployments/schema.ts";
export type { DeploymentServingView as DeploymentServing } from "../modules/deployments/schema.ts";
import type { EvaluateBody, EvaluationUploadView, EvaluationView, GatePolicyChangeView, GatePolicyView, GateStatusView } from "../modules/evaluation/schema.ts";
import type { AuditRecordView } from "../modules/guardrails/schema.ts";
import type { FeedbackBody } from "../modules/adoption/schema.ts";
import type { QuotaSettings, TeamQuotaView } from "../modules/guardrails/quotas-schema.ts";
import type { GcReportView, GcRequest, TeamStorageView } from "../modules/tracking/gc-schema.ts";
import type { BudgetView, PutBudgetBody } from "../modules/guardrails/budgets-schema.ts";
import type { CostReport as CostReportView, COST_GROUPINGS } from "../modules/guardrails/costs-schema.ts";
import type { EffectivePolicyView, PolicyView } from "../modules/guardrails/policies-schema.ts";
import type { SsoDevicePoll as SsoDevicePollView, SsoDeviceStart as SsoDeviceStartView } from "../modules/identity/schema.ts";
import type { CreatedToken as CreatedTokenView, TeamRoleSchema, TeamView, TokenInfo as TokenInfoView, UserView, WhoAmI } from "../modules/identity/schema.ts";
import type { AliasView, ModelDetailView, ModelView, TagsView, VersionView } from "../modules/registry/schema.ts";
import type { ArtifactFileView, DatasetInputView, DownsampledHistoryResponse, ExperimentView, MetricPoint as MetricPointSchema, RunView as RunViewSchema } from "../modules/tracking/schema.ts";

export { JOB_PHASES } from "../modules/compute/schema.ts";

export type Whoami = z.output<typeof WhoAmI>;
export type SsoDeviceStart = z.output<typeof SsoDeviceStartView>;
export type SsoDevicePoll = z.output<typeof SsoDevicePollView>;
export type User = z.output<typeof UserView>;
export type Team = z.output<typeof TeamView>;
export type TokenInfo = z.output<typeof TokenInfoView>;
export type CreatedToken = z.output<typeof CreatedTokenView>;
export type TeamRole = z.output<typeof TeamRoleSchema>;

export type Experiment = z.output<typeof ExperimentView>;
export type MetricPoint = z.output<typeof MetricPointSchema>;
export type DownsampledHistory = z.output<typeof DownsampledHistoryResponse>;
export type RunInput = z.output<typeof DatasetInputView>;
export type RunView = z.output<typeof RunViewSchema>;
export type ArtifactFile = z.output<typeof ArtifactFileView>;

export interface RunQuery {
  /** Experiment name or id. */
  experiment?: string;
  status?: string;
  /** An MLflow search filter, e.g. `metrics.loss < 0.5 and params.lr = '0.01'`. */
  filter?: string;
  orderBy?: string;
  limit?: number;
}

/** What `POST /api/v1/jobs` accepts (and what `paved apply` sends). */
export type JobSpec = z.input<typeof jobSpecSchema>;
export type DatasetRef = NonNullable<JobSpec["datasets"]>[number];
export type ComputeRequest = NonNullable<JobSpec["compute"]>;

export type JobPhase = z.output<typeof jobSchema>["phase"];
export const TERMINAL_PHASES: ReadonlySet<string> = new Set<JobPhase>(["SUCCEEDED", "FAILED", "CANCELLED"]);

export type Pending = z.output<typeof pendingSchema>;
export type PendingResource = Pending["resources"][number];
export type ResourceHolder = PendingResource["heldBy"][number];
export type JobEvent = z.output<typeof jobEventSchema>;

/** A job: its spec (as the server parsed it) plus observed status. */
export type Job = Omit<z.output<typeof jobSchema>, "spec"> & { spec: Partial<z.output<typeof jobSpecSchema>> };

export type Profile = z.output<typeof profileSchema>;
export type ComputeResources = z.output<typeof resourcesSchema>;

export type Model = z.output<typeof ModelView>;
export type ModelDetail = z.output<typeof ModelDetailView>;
export type ModelVersion = z.output<typeof VersionView>;
export type ModelAlias = z.output<typeof AliasView>;
/** A model's (version null) or one version's tags after `updateModelTags`. */
export type ModelTags = z.output<typeof TagsView>;

export type Evaluation = z.output<typeof EvaluationView>;
export type EvaluationRequest = z.input<typeof EvaluateBody>;
export type GatePolicy = z.output<typeof GatePolicyView>;
export type GateStatus = z.output<typeof GateStatusView>;
/** One change of a model's gate policy: who, when, the policy before and after. */
export type GatePolicyChange = z.output<typeof GatePolicyChangeView>;
/** An uploaded evaluation CSV: its `uploads:/<sha256>` URI. */
export type EvaluationUpload = z.output<typeof EvaluationUploadView>;
/** Phases after which an evaluation no longer changes. */
export const FINISHED_EVALUATION_PHASES: ReadonlySet<Evaluation["phase"]> = new Set(["Passed", "Failed", "Error"]);

export type Deployment = z.output<typeof DeploymentView>;
export type DeploymentRequest = z.input<typeof CreateDeploymentBody>;

/** One audit record (GET /api/v1/audit, and one line of its JSONL export). */
export type AuditRecord = z.output<typeof AuditRecordView>;

/** Filters of `paved audit`: times are durations before now (1h, 7d) or ISO 8601 times. */
export interface AuditQuery {
  since?: string;
  until?: string;
  actor?: string;
  team?: string;
  /** An action (models:write) or every action on a kind (models:*). */
  action?: string;
  /** success, failure, a status (403) or an error code (FORBIDDEN). */
  outcome?: string;
}

/** The unit prices costs and budgets are figured in (GET /api/v1/prices). */
export type Prices = z.output<typeof pricesSchema>;

/** What submit would admit a job as (`paved policy check`). */
export type JobCheck = z.output<typeof jobCheckSchema>;

/** Where the money went in a month (`paved costs`). */
export type CostReport = z.output<typeof CostReportView>;
export type CostItem = NonNullable<CostReport["items"]>[number];
export interface CostQuery {
  /** A UTC month, YYYY-MM; default: this month. */
  month?: string;
  team?: string;
  by?: (typeof COST_GROUPINGS)[number];
  limit?: number;
}

/** A team's monthly budget, its spend this month and the thresholds crossed. */
export type Budget = z.output<typeof BudgetView>;
export type BudgetRequest = z.input<typeof PutBudgetBody>;

/** One version of the platform's or a team's policy. */
export type Policy = z.output<typeof PolicyView>;
/** The policies in force: the platform's, and a team's own. */
export type EffectivePolicy = z.output<typeof EffectivePolicyView>;

/** A team's quota: each limit in force, where it comes from, what is used and by what (`paved quotas ls`). */
export type TeamQuota = z.output<typeof TeamQuotaView>;
export type QuotaLine = TeamQuota["lines"][number];
/** What `paved quotas set` sends: a number limits, null is unlimited, an absent field takes the server default. */
export type QuotaRequest = z.input<typeof QuotaSettings>;
export type GcReport = z.output<typeof GcReportView>;
export type GcRequestBody = z.input<typeof GcRequest>;
export type TeamStorage = z.output<typeof TeamStorageView>;

export type { WorkspaceView as Workspace, CreateWorkspaceBody as WorkspaceRequest, EnvironmentView as WorkspaceEnvironment } from "../modules/workspaces/schema.ts";

export type { Sweep, TrialView as SweepTrial, SweepSpecInput as SweepSpec } from "../modules/sweeps/schema.ts";
export type { Prediction, PredictionSpecInput as PredictionRequest } from "../modules/predictions/schema.ts";
export type { Pipeline, PipelineRun, PipelineSpecInput, ParameterValue as PipelineParameterValue, StepView as PipelineStep } from "../modules/pipelines/schema.ts";

/** Model monitors and alerts (`paved monitors`, `paved alerts`). */
export type { MonitorView as Monitor, MonitorWindowView as MonitorWindow, AlertView as Alert, RuleView as AlertRule, ReceiverView as AlertReceiver } from "../modules/monitoring/schema.ts";
export type MonitorRequest = z.input<typeof CreateMonitorBody>;
export { SWEEP_PHASES, TRIAL_PHASES } from "../modules/sweeps/schema.ts";

/** The platform's adoption figures (`paved adoption`, GET /api/v1/adoption; platform admins). */
export type { AdoptionReport, FeedbackView as Feedback, FeedbackPrompt } from "../modules/adoption/schema.ts";
export type { LineageGraph, LineageNode, LineageEdge } from "../modules/lineage/schema.ts";
/** Datasets: a dataset, a version with its files and statistics, a preview, a diff (`paved datasets`). */
export type { DatasetDiff, DatasetVersionView as DatasetVersion, DatasetView as Dataset, PreviewView as DatasetPreview } from "../modules/datasets/schema.ts";
export type { TemplateView as Template } from "../modules/catalog/schema.ts";
export type { SamplesDatasetView as SamplesDataset } from "../modules/monitoring/schema.ts";
export type { TriggerView as Trigger } from "../modules/triggers/schema.ts";
export type TriggerRequest = z.input<typeof CreateTriggerBody>;
/** What `paved feedback` sends. */
export type FeedbackRequest = z.input<typeof FeedbackBody>;
/** The window of `paved adoption`: durations (28d) or ISO 8601 times; perUser lists each person (platform admins only). */
export interface AdoptionQuery {
  since?: string;
  until?: string;
  perUser?: boolean;
}

/** Feature sets and training sets (`paved features`). */
export type { FeatureSetView as FeatureSet, MaterializationView as Materialization, TrainingSetView as TrainingSet } from "../modules/features/schema.ts";
export type FeatureSetRequest = z.input<typeof featureSetSpecSchema>;
export type TrainingSetRequest = z.input<typeof trainingSetBodySchema>;
