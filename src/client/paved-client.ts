// core/errors.ts, not core/index.ts: the web UI bundles this client, and the rest of core is Node-only.
import { ERROR_CODES, PlatformError, type ErrorCode } from "../core/errors.ts";
import type { ArtifactFile, ComputeResources, DownsampledHistory, Deployment, DeploymentRequest, Evaluation, EvaluationRequest, Experiment, GatePolicy, GateStatus, Job, JobSpec, MetricPoint, Model, ModelAlias, ModelDetail, ModelTags, ModelVersion, Profile, RunQuery, RunView, Whoami } from "./types.ts";
import type { LineageGraph, Template, Trigger, TriggerRequest } from "./types.ts";

import type { EvaluationUpload, GatePolicyChange } from "./types.ts";
import type { CreatedToken, Team, TeamRole, TokenInfo, User } from "./types.ts";
import type { AuditQuery, AuditRecord } from "./types.ts";
import type { SsoDevicePoll, SsoDeviceStart } from "./types.ts";
import type { Budget, BudgetRequest, CostQuery, CostReport, EffectivePolicy, JobCheck, Policy, Prices } from "./types.ts";
import type { QuotaRequest, TeamQuota } from "./types.ts";
import type { GcReport, GcRequestBody, TeamStorage } from "./types.ts";
import type { Workspace, WorkspaceEnvironment, WorkspaceRequest } from "./types.ts";
import type { FeatureSet, FeatureSetRequest, Materialization, TrainingSet, TrainingSetRequest } from "./types.ts";
import type { Alert, AlertReceiver, AlertRule, Monitor, MonitorRequest, MonitorWindow, Prediction, PredictionRequest, SamplesDataset, Sweep, SweepSpec } from "./types.ts";
import type { AdoptionQuery, AdoptionReport, Feedback, FeedbackPrompt, FeedbackRequest } from "./types.ts";
import type { DeploymentServing } from "./types.ts";
import type { ParameterValue, Pipeline, PipelineRun, PipelineSpecInput } from "../modules/pipelines/schema.ts";
import type { DatasetDiff, DatasetVersionView, DatasetView, PreviewView } from "../modules/datasets/schema.ts";

export const DEFAULT_URL = "http://127.0.0.1:8080";

export interface PavedClientOptions {
  /** Base URL of the server, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** Bearer token; omitted only for servers running with authentication disabled. */
  token?: string;
  /** The fetch to use (tests pass a fake one). */
  fetch?: typeof fetch;
}

interface RequestOptions {
  method?: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Bytes sent as they are (uploads), instead of a JSON body. */
  raw?: { bytes: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>; contentType: string };
  signal?: AbortSignal;
}

// Used when an error body is not Paved's own shape (a proxy in between, an old server).
const STATUS_CODES: Record<number, ErrorCode> = {
  400: "INVALID_INPUT",
  401: "UNAUTHENTICATED",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  409: "CONFLICT",
  412: "GATE_FAILED",
  413: "PAYLOAD_TOO_LARGE",
  429: "QUOTA_EXCEEDED",
  502: "UNAVAILABLE",
  503: "UNAVAILABLE",
  504: "UNAVAILABLE",
};

/**
 * Typed client of Paved's /api/v1, shared by the CLI and the web UI. Every failure is a
 * PlatformError carrying the server's code and message.
 * @example
 * const client = new PavedClient({ url: "http://127.0.0.1:8080", token });
 * const { jobs } = await client.listJobs({ phase: "RUNNING" });
 */
export class PavedClient {
  readonly url: string;
  private readonly token: string | undefined;
  private readonly fetchImpl: typeof fetch;

  constructor(options: PavedClientOptions) {
    this.url = options.url.replace(/\/+$/, "");
    this.token = options.token;
    this.fetchImpl = options.fetch ?? fetch;
  }

  /** Starts a single sign-on device login (`paved login --sso`); needs no token. */
  startSsoDeviceLogin(client: string): Promise<SsoDeviceStart> {
    return this.json("/auth/sso/device", { method: "POST", body: { client } });
  }

  /** Polls a device login: pending, or complete with a personal token (shown once). */
  pollSsoDeviceLogin(handle: string): Promise<SsoDevicePoll> {
    return this.json("/auth/sso/device/poll", { method: "POST", body: { handle } });
  }

  /** Liveness; needs no token. */
  health(): Promise<{ status: "ok"; role: "leader" | "follower" }> {
    return this.json("/api/v1/health");
  }

  /** The principal the token resolves to. */
  whoami(): Promise<Whoami> {
    return this.json("/api/v1/whoami");
  }

  // ---- identity: tokens, teams, users ----

  createToken(body: { name: string; expiresInDays?: number; team?: string }): Promise<CreatedToken> {
    return this.json("/api/v1/tokens", { method: "POST", body });
  }

  async listTokens(all = false): Promise<TokenInfo[]> {
    return (await this.json<{ tokens: TokenInfo[] }>("/api/v1/tokens", { query: { all: all ? true : undefined } })).tokens;
  }

  async revokeToken(id: string): Promise<void> {
    await this.json(`/api/v1/tokens/${seg(id)}`, { method: "DELETE" });
  }

  async listTeams(): Promise<Team[]> {
    return (await this.json<{ teams: Team[] }>("/api/v1/teams")).teams;
  }

  getTeam(name: string): Promise<Team> {
    return this.json(`/api/v1/teams/${seg(name)}`);
  }

  createTeam(body: { name: string; description?: string }): Promise<Team> {
    return this.json("/api/v1/teams", { method: "POST", body });
  }

  setTeamMember(team: string, user: string, role: TeamRole): Promise<Team> {
    return this.json(`/api/v1/teams/${seg(team)}/members/${seg(user)}`, { method: "PUT", body: { role } });
  }

  removeTeamMember(team: string, user: string): Promise<Team> {
    return this.json(`/api/v1/teams/${seg(team)}/members/${seg(user)}`, { method: "DELETE" });
  }

  createServiceAccount(team: string, body: { name: string; role: TeamRole; displayName?: string }): Promise<User> {
    return this.json(`/api/v1/teams/${seg(team)}/service-accounts`, { method: "POST", body });
  }

  createServiceAccountToken(team: string, account: string, body: { name: string; expiresInDays?: number }): Promise<CreatedToken> {
    return this.json(`/api/v1/teams/${seg(team)}/service-accounts/${seg(account)}/tokens`, { method: "POST", body });
  }

  createUser(body: { name: string; kind?: "user" | "service"; displayName?: string; email?: string; platformAdmin?: boolean; teams?: { team: string; role: TeamRole }[] }): Promise<User> {
    return this.json("/api/v1/users", { method: "POST", body });
  }

  async listUsers(): Promise<User[]> {
    return (await this.json<{ users: User[] }>("/api/v1/users")).users;
  }

  getUser(name: string): Promise<User> {
    return this.json(`/api/v1/users/${seg(name)}`);
  }

  createUserToken(name: string, body: { name: string; expiresInDays?: number; team?: string }): Promise<CreatedToken> {
    return this.json(`/api/v1/users/${seg(name)}/tokens`, { method: "POST", body });
  }

  disableUser(name: string): Promise<User> {
    return this.json(`/api/v1/users/${seg(name)}/disable`, { method: "POST", body: {} });
  }

  async listExperiments(): Promise<Experiment[]> {
    return (await this.json<{ experiments: Experiment[] }>("/api/v1/experiments")).experiments;
  }

  async listRuns(query: RunQuery = {}): Promise<RunView[]> {
    const { experiment, status, filter, orderBy, limit } = query;
    return (await this.json<{ runs: RunView[] }>("/api/v1/runs", { query: { experiment, status, filter, orderBy, limit } })).runs;
  }

  getRun(id: string): Promise<RunView> {
    return this.json(`/api/v1/runs/${seg(id)}`);
  }

  /** Every point of one metric of a run, by step; follows the server's pages. */
  async getMetricHistory(runId: string, key: string): Promise<MetricPoint[]> {
    const points: MetricPoint[] = [];
    for await (const page of this.metricHistoryPages(runId, key)) points.push(...page);
    return points;
  }

  /**
   * One metric's history for a chart: at most `points` buckets (default 1000) over the step or
   * time axis, each with count, min, max and last; `startStep`/`endStep` zoom into a range.
   * @example const { buckets } = await client.getMetricBuckets(runId, "loss", { points: 500, startStep: 1000 });
   */
  getMetricBuckets(
    runId: string,
    key: string,
    query: { points?: number; axis?: "step" | "time"; startStep?: number; endStep?: number; startTime?: number; endTime?: number } = {},
  ): Promise<DownsampledHistory> {
    return this.json(`/api/v1/runs/${seg(runId)}/metrics/${seg(key)}/history`, { query: { ...query } });
  }

  /** One metric's history a server page at a time (the server bounds the page size). */
  async *metricHistoryPages(runId: string, key: string): AsyncGenerator<MetricPoint[]> {
    let pageToken: string | undefined;
    do {
      const page = await this.json<{ history: MetricPoint[]; nextPageToken?: string }>(`/api/v1/runs/${seg(runId)}/metrics/${seg(key)}`, { query: { pageToken } });
      yield page.history ?? [];
      // A server that hands back the token it was given would loop forever.
      pageToken = page.nextPageToken && page.nextPageToken !== pageToken ? page.nextPageToken : undefined;
    } while (pageToken);
  }

  async listArtifacts(runId: string, path?: string): Promise<ArtifactFile[]> {
    return (await this.json<{ files: ArtifactFile[] }>(`/api/v1/runs/${seg(runId)}/artifacts`, { query: { path } })).files;
  }

  /** Streams one artifact file's bytes. */
  async *downloadArtifact(runId: string, path: string, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    const response = await this.request(`/api/v1/runs/${seg(runId)}/artifacts/content`, { query: { path }, signal });
    yield* bytesOf(response);
  }

  submitJob(spec: JobSpec): Promise<Job> {
    return this.json("/api/v1/jobs", { method: "POST", body: spec });
  }

  /** One page of jobs, newest first (`owner: "me"` for yours); listJobsPage also gives the next page's token. */
  async listJobs(query: { phase?: string; owner?: string; limit?: number; pageToken?: string } = {}): Promise<Job[]> {
    return (await this.listJobsPage(query)).jobs;
  }

  listJobsPage(query: { phase?: string; owner?: string; limit?: number; pageToken?: string } = {}): Promise<{ jobs: Job[]; nextPageToken?: string }> {
    return this.json("/api/v1/jobs", { query });
  }

  getJob(id: string): Promise<Job> {
    return this.json(`/api/v1/jobs/${seg(id)}`);
  }

  cancelJob(id: string): Promise<Job> {
    return this.json(`/api/v1/jobs/${seg(id)}/cancel`, { method: "POST", body: {} });
  }

  /** Streams a job's log as text; with `follow` the stream stays open until the attempt ends. */
  async *streamLogs(id: string, opts: { follow?: boolean; attempt?: number; signal?: AbortSignal } = {}): AsyncGenerator<string> {
    const response = await this.request(`/api/v1/jobs/${seg(id)}/logs`, {
      query: { follow: opts.follow ? true : undefined, attempt: opts.attempt },
      signal: opts.signal,
    });
    const decoder = new TextDecoder();
    for await (const chunk of bytesOf(response)) {
      const text = decoder.decode(chunk, { stream: true });
      if (text) yield text;
    }
    const rest = decoder.decode();
    if (rest) yield rest;
  }

  /**
   * One read of a job's log without following: at most the server's page (compute.logs.maxReadBytes),
   * the end of the log unless `offset` says where to start, and where the text lies in the log.
   */
  async readLogs(id: string, opts: { attempt?: number; offset?: number } = {}): Promise<{ text: string; attempt: number; start: number; end: number; size: number }> {
    const response = await this.request(`/api/v1/jobs/${seg(id)}/logs`, { query: { attempt: opts.attempt, offset: opts.offset } });
    const text = await response.text();
    const header = (name: string) => Number(response.headers.get(`x-paved-log-${name}`) ?? NaN);
    const end = Number.isFinite(header("end")) ? header("end") : text.length;
    return {
      text,
      attempt: Number.isFinite(header("attempt")) ? header("attempt") : (opts.attempt ?? 1),
      start: Number.isFinite(header("start")) ? header("start") : 0,
      end,
      size: Number.isFinite(header("size")) ? header("size") : end,
    };
  }

  async listProfiles(): Promise<Profile[]> {
    return (await this.json<{ profiles: Profile[] }>("/api/v1/profiles")).profiles;
  }

  /** The compute resources summary (shape owned by the compute module; render it generically). */
  computeResources(): Promise<ComputeResources> {
    return this.json("/api/v1/compute/resources");
  }

  /** One page of registered models by name; listModelsPage also gives the next page's token. */
  async listModels(query: { filter?: string; limit?: number; pageToken?: string } = {}): Promise<Model[]> {
    return (await this.listModelsPage(query)).models;
  }

  listModelsPage(query: { filter?: string; limit?: number; pageToken?: string } = {}): Promise<{ models: Model[]; nextPageToken?: string }> {
    return this.json("/api/v1/models", { query });
  }

  /** A registered model with its versions (newest first) and aliases. */
  getModel(name: string): Promise<ModelDetail> {
    return this.json(`/api/v1/models/${seg(name)}`);
  }

  /** One version, by number or alias, with its signature, lineage and files. */
  getModelVersion(name: string, version: string): Promise<ModelVersion> {
    return this.json(`/api/v1/models/${seg(name)}/versions/${seg(version)}`);
  }

  /** Registers a version from `runs:/<run_id>/<path>` (the model is created when new). */
  registerModelVersion(name: string, body: { source: string; description?: string; team?: string }): Promise<ModelVersion> {
    return this.json(`/api/v1/models/${seg(name)}/versions`, { method: "POST", body });
  }

  /** Points an alias at a version; `force` with a `reason` is an admin override of the production gate. */
  setModelAlias(name: string, alias: string, version: string, override?: { force: true; reason: string }): Promise<ModelAlias> {
    return this.json(`/api/v1/models/${seg(name)}/aliases/${seg(alias)}`, { method: "PUT", body: { version, ...override } });
  }

  /**
   * Uploads a CSV to evaluate on; answers its `uploads:/<sha256>` URI, which an evaluation's `data`
   * or `reference` takes (the server never reads a path of its own disk).
   */
  /** Uploads a CSV for the evaluations of a model's team (`model`) or of a team (`team`; default: the token's). */
  uploadEvaluationData(bytes: Uint8Array<ArrayBuffer>, target: { model?: string; team?: string } = {}): Promise<EvaluationUpload> {
    return this.json("/api/v1/evaluation-data", { method: "POST", raw: { bytes, contentType: "text/csv" }, query: { model: target.model, team: target.team } });
  }

  /** Asks for an evaluation of a version (number or alias) on a CSV the platform stores (runs:/, models:/ or uploads:/ URI); it comes back Pending (poll `getEvaluation`). */
  evaluateModelVersion(name: string, version: string, body: EvaluationRequest): Promise<Evaluation> {
    return this.json(`/api/v1/models/${seg(name)}/versions/${seg(version)}/evaluations`, { method: "POST", body });
  }

  getEvaluation(id: string): Promise<Evaluation> {
    return this.json(`/api/v1/evaluations/${seg(id)}`);
  }

  /** One page of evaluations, newest first; listEvaluationsPage also gives the next page's token. */
  async listEvaluations(query: { model?: string; version?: string; limit?: number; pageToken?: string } = {}): Promise<Evaluation[]> {
    return (await this.listEvaluationsPage(query)).evaluations;
  }

  listEvaluationsPage(query: { model?: string; version?: string; limit?: number; pageToken?: string } = {}): Promise<{ evaluations: Evaluation[]; nextPageToken?: string }> {
    return this.json("/api/v1/evaluations", { query });
  }

  /** Per version, what the production gate decides under the model's current policy. */
  getGateStatus(name: string): Promise<GateStatus> {
    return this.json(`/api/v1/models/${seg(name)}/gate-status`);
  }

  /** Starts a deployment (production needs a passing evaluation). */
  createDeployment(body: DeploymentRequest): Promise<Deployment> {
    return this.json("/api/v1/deployments", { method: "POST", body });
  }

  getDeployment(id: string): Promise<Deployment> {
    return this.json(`/api/v1/deployments/${seg(id)}`);
  }
  /** What each version of a deployment's model answered in its environment: requests, errors, mean and p99 latency. */
  deploymentServing(id: string): Promise<DeploymentServing> {
    return this.json(`/api/v1/deployments/${seg(id)}/serving`);
  }


  /** The newest deployments (one page: `limit`, default 100, at most 1,000). */
  async listDeployments(query: { model?: string; environment?: string; createdBy?: string; limit?: number } = {}): Promise<Deployment[]> {
    return (await this.json<{ deployments: Deployment[] }>("/api/v1/deployments", { query })).deployments;
  }

  /** pause, resume, promote (skip the remaining steps) or rollback a deployment in progress. */
  deploymentAction(id: string, action: "pause" | "resume" | "promote" | "rollback"): Promise<Deployment> {
    return this.json(`/api/v1/deployments/${seg(id)}/${action}`, { method: "POST" });
  }

  /**
   * Promotes a deployment in progress. A failing or missing analysis answers GATE_FAILED unless
   * `force` comes with a `reason`, which the server records (who, when, why, the verdict overridden).
   */
  promoteDeployment(id: string, override?: { force: true; reason: string }): Promise<Deployment> {
    return this.json(`/api/v1/deployments/${seg(id)}/promote`, { method: "POST", body: override ?? {} });
  }

  /** Reports outcomes of an A/B test's metric by routing key (see `ab.metric`). */
  reportOutcomes(id: string, outcomes: { key: string; value: number; id?: string }[]): Promise<{ accepted: number; duplicates: number; a: number; b: number }> {
    return this.json(`/api/v1/deployments/${seg(id)}/outcomes`, { method: "POST", body: { outcomes } });
  }

  getGatePolicy(name: string): Promise<GatePolicy> {
    return this.json(`/api/v1/models/${seg(name)}/gate-policy`);
  }

  /** Every recorded change of a model's gate policy, newest first. */
  async getGatePolicyHistory(name: string, query: { limit?: number } = {}): Promise<GatePolicyChange[]> {
    return (await this.json<{ changes: GatePolicyChange[] }>(`/api/v1/models/${seg(name)}/gate-policy/history`, { query })).changes;
  }

  /** Stores a model's own gate policy from YAML (or JSON) text. */
  putGatePolicy(name: string, yaml: string): Promise<GatePolicy> {
    return this.json(`/api/v1/models/${seg(name)}/gate-policy`, { method: "PUT", body: { yaml } });
  }

  /** Sets and deletes tags of a registered model, or of one version (number or alias) when `version` is given. */
  updateModelTags(name: string, version: string | undefined, changes: { set?: Record<string, string>; delete?: string[] }): Promise<ModelTags> {
    const path = version === undefined ? `/api/v1/models/${seg(name)}/tags` : `/api/v1/models/${seg(name)}/versions/${seg(version)}/tags`;
    return this.json(path, { method: "PATCH", body: changes });
  }

  async deleteModelAlias(name: string, alias: string): Promise<void> {
    await this.json(`/api/v1/models/${seg(name)}/aliases/${seg(alias)}`, { method: "DELETE" });
  }

  /** One page of audit records, newest first (`limit` at most 1,000; pass `nextPageToken` back as `pageToken`). */
  listAudit(query: AuditQuery & { limit?: number; pageToken?: string } = {}): Promise<{ records: AuditRecord[]; nextPageToken?: string }> {
    return this.json("/api/v1/audit", { query: { ...query } });
  }

  /** Every matching audit record as JSON Lines, oldest first, as the server streams them. */
  async *exportAudit(query: AuditQuery = {}, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    const response = await this.request("/api/v1/audit/export", { query: { ...query }, signal });
    yield* bytesOf(response);
  }

  /** The catalog's templates (without their YAML). */
  async listTemplates(): Promise<Omit<Template, "yaml">[]> {
    return (await this.json<{ templates: Omit<Template, "yaml">[] }>("/api/v1/templates")).templates;
  }

  getTemplate(name: string): Promise<Template> {
    return this.json(`/api/v1/templates/${seg(name)}`);
  }

  /** Adds a trigger (cron, dataset or git) to a pipeline. */
  createTrigger(pipeline: string, body: TriggerRequest): Promise<Trigger> {
    return this.json(`/api/v1/pipelines/${seg(pipeline)}/triggers`, { method: "POST", body });
  }

  async listTriggers(pipeline: string): Promise<Trigger[]> {
    return (await this.json<{ triggers: Trigger[] }>(`/api/v1/pipelines/${seg(pipeline)}/triggers`)).triggers;
  }

  getTrigger(id: string): Promise<Trigger> {
    return this.json(`/api/v1/triggers/${seg(id)}`);
  }

  deleteTrigger(id: string): Promise<{ deleted: string }> {
    return this.json(`/api/v1/triggers/${seg(id)}`, { method: "DELETE" });
  }

  /** Where something came from (upstream) and what was made from it (downstream): a deployment id, models:/<name>/<v>, runs:/<id> or datasets:/<name>@<v>. */
  lineage(ref: string, options: { direction?: "upstream" | "downstream" | "both"; depth?: number } = {}): Promise<LineageGraph> {
    return this.json("/api/v1/lineage", { query: { ref, direction: options.direction, depth: options.depth } });
  }

  /** The platform's adoption figures over a window (platform admins); each person's only with `perUser`. */
  getAdoption(query: AdoptionQuery = {}): Promise<AdoptionReport> {
    return this.json("/api/v1/adoption", { query: { since: query.since, until: query.until, ...(query.perUser ? { perUser: true } : {}) } });
  }

  /** The milestone the UI asks you about (the latest you reached without feedback on it), or none. */
  feedbackPrompt(): Promise<FeedbackPrompt> {
    return this.json("/api/v1/feedback/prompt");
  }

  /** Sends your feedback on the platform: a score from 1 to 5, a comment, the milestone it follows. */
  sendFeedback(feedback: FeedbackRequest): Promise<Feedback> {
    return this.json("/api/v1/feedback", { method: "POST", body: feedback });
  }

  // ---- costs, budgets and policies ----

  /** The unit prices costs and budgets are figured in. */
  getPrices(): Promise<Prices> {
    return this.json("/api/v1/prices");
  }

  /** What work cost in a month: teams' totals, and with `by` the jobs, deployments or users, most expensive first. */
  getCosts(query: CostQuery = {}): Promise<CostReport> {
    return this.json("/api/v1/costs", { query: { ...query } });
  }

  /** The quotas of your teams (every team for a platform admin), with what uses them. */
  async listQuotas(): Promise<TeamQuota[]> {
    return (await this.json<{ teams: TeamQuota[] }>("/api/v1/quotas")).teams;
  }

  getQuota(team: string): Promise<TeamQuota> {
    return this.json(`/api/v1/teams/${seg(team)}/quotas`);
  }

  /** Garbage-collects deleted runs past retention (platform admins); `dryRun` only counts what it would free. */
  collectGarbage(body: GcRequestBody): Promise<GcReport> {
    return this.json("/api/v1/admin/gc", { method: "POST", body });
  }

  /** Storage of your teams (every team for a platform admin), or of one team. */
  async listStorage(): Promise<TeamStorage[]> {
    return (await this.json<{ teams: TeamStorage[] }>("/api/v1/storage")).teams;
  }

  getStorage(team: string): Promise<TeamStorage> {
    return this.json(`/api/v1/teams/${seg(team)}/storage`);
  }

  /** Replaces a team's quota settings (platform admins). */
  setQuota(team: string, settings: QuotaRequest): Promise<TeamQuota> {
    return this.json(`/api/v1/teams/${seg(team)}/quotas`, { method: "PUT", body: settings });
  }

  async listBudgets(): Promise<Budget[]> {
    return (await this.json<{ budgets: Budget[] }>("/api/v1/budgets")).budgets;
  }

  getBudget(team: string): Promise<Budget> {
    return this.json(`/api/v1/budgets/${seg(team)}`);
  }

  /** Sets a team's monthly budget; thresholds and webhook left out stay as they were (webhookUrl null removes it). */
  setBudget(team: string, body: BudgetRequest): Promise<Budget> {
    return this.json(`/api/v1/budgets/${seg(team)}`, { method: "PUT", body });
  }

  async deleteBudget(team: string): Promise<void> {
    await this.json(`/api/v1/budgets/${seg(team)}`, { method: "DELETE" });
  }

  /** The policies in force: the platform's and, with a team, the team's own. */
  getPolicies(team?: string): Promise<EffectivePolicy> {
    return this.json("/api/v1/policies", { query: { team } });
  }

  /** Sets the platform's policy (no team) or a team's, from YAML text: a new version. */
  setPolicy(team: string | undefined, yaml: string): Promise<Policy> {
    return this.json(team === undefined ? "/api/v1/policies/platform" : `/api/v1/policies/teams/${seg(team)}`, { method: "PUT", body: { yaml } });
  }

  /** Every version of the platform's policy (no team) or a team's, newest first. */
  async policyHistory(team: string | undefined, limit?: number): Promise<Policy[]> {
    const path = team === undefined ? "/api/v1/policies/platform/history" : `/api/v1/policies/teams/${seg(team)}/history`;
    return (await this.json<{ versions: Policy[] }>(path, { query: { limit } })).versions;
  }

  /** Checks a job spec as submit would, without submitting: the same refusal, or what it would be admitted as. */
  checkJob(spec: JobSpec): Promise<JobCheck> {
    return this.json("/api/v1/policy/check", { method: "POST", body: spec });
  }

  // ---- sweeps ----

  createSweep(spec: SweepSpec): Promise<Sweep> {
    return this.json("/api/v1/sweeps", { method: "POST", body: spec });
  }

  async listSweeps(query: { limit?: number } = {}): Promise<Sweep[]> {
    return (await this.json<{ sweeps: Sweep[] }>("/api/v1/sweeps", { query })).sweeps;
  }

  getSweep(id: string): Promise<Sweep> {
    return this.json(`/api/v1/sweeps/${seg(id)}`);
  }

  cancelSweep(id: string): Promise<Sweep> {
    return this.json(`/api/v1/sweeps/${seg(id)}/cancel`, { method: "POST", body: {} });
  }

  // ---- batch predictions ----

  createPrediction(body: PredictionRequest): Promise<Prediction> {
    return this.json("/api/v1/predictions", { method: "POST", body });
  }

  async listPredictions(query: { limit?: number } = {}): Promise<Prediction[]> {
    return (await this.json<{ predictions: Prediction[] }>("/api/v1/predictions", { query })).predictions;
  }

  getPrediction(id: string): Promise<Prediction> {
    return this.json(`/api/v1/predictions/${seg(id)}`);
  }

  cancelPrediction(id: string): Promise<Prediction> {
    return this.json(`/api/v1/predictions/${seg(id)}/cancel`, { method: "POST", body: {} });
  }

  // ---- pipelines ----

  applyPipeline(spec: PipelineSpecInput): Promise<Pipeline> {
    return this.json("/api/v1/pipelines", { method: "POST", body: spec });
  }

  /** One page of your teams' pipelines, by name; listPipelinesPage also gives the next page's token. */
  async listPipelines(query: { limit?: number; pageToken?: string } = {}): Promise<Pipeline[]> {
    return (await this.listPipelinesPage(query)).pipelines;
  }

  listPipelinesPage(query: { limit?: number; pageToken?: string } = {}): Promise<{ pipelines: Pipeline[]; nextPageToken?: string }> {
    return this.json("/api/v1/pipelines", { query });
  }

  getPipeline(name: string): Promise<Pipeline> {
    return this.json(`/api/v1/pipelines/${seg(name)}`);
  }

  startPipelineRun(name: string, parameters: Record<string, ParameterValue> = {}): Promise<PipelineRun> {
    return this.json(`/api/v1/pipelines/${seg(name)}/runs`, { method: "POST", body: { parameters } });
  }

  /** One page of a pipeline's runs, newest first; listPipelineRunsPage also gives the next page's token. */
  async listPipelineRuns(name: string, query: { limit?: number; pageToken?: string } = {}): Promise<PipelineRun[]> {
    return (await this.listPipelineRunsPage(name, query)).runs;
  }

  listPipelineRunsPage(name: string, query: { limit?: number; pageToken?: string } = {}): Promise<{ runs: PipelineRun[]; nextPageToken?: string }> {
    return this.json(`/api/v1/pipelines/${seg(name)}/runs`, { query });
  }

  getPipelineRun(id: string): Promise<PipelineRun> {
    return this.json(`/api/v1/pipeline-runs/${seg(id)}`);
  }

  cancelPipelineRun(id: string): Promise<PipelineRun> {
    return this.json(`/api/v1/pipeline-runs/${seg(id)}/cancel`, { method: "POST", body: {} });
  }

  async pipelineRunLogs(id: string, query: { step?: string; limitBytes?: number } = {}): Promise<{ step: string; handle: string | null; text: string }[]> {
    return (await this.json<{ logs: { step: string; handle: string | null; text: string }[] }>(`/api/v1/pipeline-runs/${seg(id)}/logs`, { query })).logs;
  }

  // ---- feature sets ----

  createFeatureSet(body: FeatureSetRequest): Promise<FeatureSet> {
    return this.json("/api/v1/feature-sets", { method: "POST", body });
  }

  async listFeatureSets(): Promise<FeatureSet[]> {
    return (await this.json<{ featureSets: FeatureSet[] }>("/api/v1/feature-sets")).featureSets;
  }

  getFeatureSet(name: string, version?: number): Promise<FeatureSet> {
    return this.json(version === undefined ? `/api/v1/feature-sets/${seg(name)}` : `/api/v1/feature-sets/${seg(name)}/versions/${version}`);
  }

  materializeFeatureSet(name: string, version: number, body: { output?: string; alias?: string } = {}): Promise<Materialization> {
    return this.json(`/api/v1/feature-sets/${seg(name)}/versions/${version}/materialize`, { method: "POST", body });
  }

  createTrainingSet(body: TrainingSetRequest): Promise<TrainingSet> {
    return this.json("/api/v1/training-sets", { method: "POST", body });
  }

  // ---- monitors and alerts ----

  /** A dataset version of the sampled traffic a monitor kept. */
  monitorDataset(id: string, body: { name: string; since?: number; until?: number }): Promise<SamplesDataset> {
    return this.json(`/api/v1/monitors/${seg(id)}/dataset`, { method: "POST", body });
  }

  createMonitor(body: MonitorRequest): Promise<Monitor> {
    return this.json("/api/v1/monitors", { method: "POST", body });
  }

  async listMonitors(query: { model?: string; environment?: string } = {}): Promise<Monitor[]> {
    return (await this.json<{ monitors: Monitor[] }>("/api/v1/monitors", { query })).monitors;
  }

  getMonitor(id: string): Promise<Monitor> {
    return this.json(`/api/v1/monitors/${seg(id)}`);
  }

  async monitorWindows(id: string, query: { since?: number; limit?: number } = {}): Promise<MonitorWindow[]> {
    return (await this.json<{ windows: MonitorWindow[] }>(`/api/v1/monitors/${seg(id)}/windows`, { query })).windows;
  }

  async deleteMonitor(id: string): Promise<void> {
    await this.json(`/api/v1/monitors/${seg(id)}`, { method: "DELETE" });
  }

  async listAlerts(query: { state?: "firing" | "resolved"; limit?: number } = {}): Promise<Alert[]> {
    return (await this.json<{ alerts: Alert[] }>("/api/v1/alerts", { query })).alerts;
  }

  createAlertRule(body: { name: string; team?: string; rule: unknown }): Promise<AlertRule> {
    return this.json("/api/v1/alerts/rules", { method: "POST", body });
  }

  async listAlertRules(): Promise<AlertRule[]> {
    return (await this.json<{ rules: AlertRule[] }>("/api/v1/alerts/rules")).rules;
  }

  async deleteAlertRule(name: string, team?: string): Promise<void> {
    await this.json(`/api/v1/alerts/rules/${seg(name)}`, { method: "DELETE", query: { team } });
  }

  createAlertReceiver(body: { name: string; url: string; format?: "json" | "alertmanager"; team?: string }): Promise<AlertReceiver> {
    return this.json("/api/v1/alerts/receivers", { method: "POST", body });
  }

  async listAlertReceivers(): Promise<AlertReceiver[]> {
    return (await this.json<{ receivers: AlertReceiver[] }>("/api/v1/alerts/receivers")).receivers;
  }

  async deleteAlertReceiver(name: string, team?: string): Promise<void> {
    await this.json(`/api/v1/alerts/receivers/${seg(name)}`, { method: "DELETE", query: { team } });
  }

  // ---- team secrets (values go in, never come back) ----

  putSecret(name: string, body: { value: string; team?: string }): Promise<TeamSecret> {
    return this.json(`/api/v1/secrets/${seg(name)}`, { method: "PUT", body });
  }

  async listSecrets(): Promise<TeamSecret[]> {
    return (await this.json<{ secrets: TeamSecret[] }>("/api/v1/secrets")).secrets;
  }

  async deleteSecret(name: string, team?: string): Promise<void> {
    await this.json(`/api/v1/secrets/${seg(name)}`, { method: "DELETE", query: { team } });
  }

  // ---- workspaces ----

  createWorkspace(body: Partial<WorkspaceRequest>): Promise<Workspace> {
    return this.json("/api/v1/workspaces", { method: "POST", body });
  }

  async listWorkspaces(all = false): Promise<Workspace[]> {
    return (await this.json<{ workspaces: Workspace[] }>("/api/v1/workspaces", { query: { all: all ? true : undefined } })).workspaces;
  }

  getWorkspace(id: string): Promise<Workspace> {
    return this.json(`/api/v1/workspaces/${seg(id)}`);
  }

  stopWorkspace(id: string): Promise<Workspace> {
    return this.json(`/api/v1/workspaces/${seg(id)}/stop`, { method: "POST" });
  }

  startWorkspace(id: string): Promise<Workspace> {
    return this.json(`/api/v1/workspaces/${seg(id)}/start`, { method: "POST" });
  }

  async deleteWorkspace(id: string): Promise<void> {
    await this.json(`/api/v1/workspaces/${seg(id)}`, { method: "DELETE" });
  }

  shareWorkspace(id: string, change: { add?: string[]; remove?: string[] }): Promise<Workspace> {
    return this.json(`/api/v1/workspaces/${seg(id)}/share`, { method: "POST", body: change });
  }

  openWorkspace(id: string): Promise<{ url: string; expiresAt: number }> {
    return this.json(`/api/v1/workspaces/${seg(id)}/open`, { method: "POST" });
  }

  async listEnvironments(): Promise<WorkspaceEnvironment[]> {
    return (await this.json<{ environments: WorkspaceEnvironment[] }>("/api/v1/environments")).environments;
  }

  workspaceStats(): Promise<{ profiles: { profile: string; sessions: number; p50Ms: number | null; p95Ms: number | null; fromPool: number }[] }> {
    return this.json("/api/v1/workspace-stats");
  }

  // ---- datasets ----

  /** Uploads one file's bytes (a buffer, or a stream read as it is sent) for a team's datasets; answers its digest. */
  uploadDatasetFile(bytes: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>, opts: { team?: string } = {}): Promise<{ digest: string; size: number; team: string }> {
    return this.json("/api/v1/dataset-uploads", { method: "POST", query: { team: opts.team }, raw: { bytes, contentType: "application/octet-stream" } });
  }

  createDataset(body: { name: string; team?: string; description?: string }): Promise<DatasetView> {
    return this.json("/api/v1/datasets", { method: "POST", body });
  }

  /** One page of your teams' datasets, most recently changed first; listDatasetsPage also gives the next page's token. */
  async listDatasets(query: { limit?: number; pageToken?: string } = {}): Promise<DatasetView[]> {
    return (await this.listDatasetsPage(query)).datasets;
  }

  listDatasetsPage(query: { limit?: number; pageToken?: string } = {}): Promise<{ datasets: DatasetView[]; nextPageToken?: string }> {
    return this.json("/api/v1/datasets", { query });
  }

  getDataset(name: string): Promise<DatasetView> {
    return this.json(`/api/v1/datasets/${seg(name)}`);
  }

  /** Creates a version from uploaded files (and the dataset, when new); the same files answer the existing version (`existing: true`). */
  createDatasetVersion(name: string, body: { files: { path: string; digest: string }[]; team?: string; description?: string; alias?: string }): Promise<DatasetVersionView> {
    return this.json(`/api/v1/datasets/${seg(name)}/versions`, { method: "POST", body });
  }

  /** Snapshots a connector's source (a spec with `kind: local | postgres | s3`) into the dataset's next version. */
  snapshotDataset(name: string, body: { spec: Record<string, unknown>; team?: string; description?: string; alias?: string }): Promise<DatasetVersionView> {
    return this.json(`/api/v1/datasets/${seg(name)}/snapshots`, { method: "POST", body });
  }

  /** One page of a dataset's versions, newest first; listDatasetVersionsPage also gives the next page's token. */
  async listDatasetVersions(name: string, query: { limit?: number; pageToken?: string } = {}): Promise<DatasetVersionView[]> {
    return (await this.listDatasetVersionsPage(name, query)).versions;
  }

  listDatasetVersionsPage(name: string, query: { limit?: number; pageToken?: string } = {}): Promise<{ versions: DatasetVersionView[]; nextPageToken?: string }> {
    return this.json(`/api/v1/datasets/${seg(name)}/versions`, { query });
  }

  /** One version (a number, an alias or `latest`) with its files' schemas and statistics. */
  getDatasetVersion(name: string, version: string | number): Promise<DatasetVersionView> {
    return this.json(`/api/v1/datasets/${seg(name)}/versions/${seg(String(version))}`);
  }

  previewDataset(name: string, version: string | number, query: { rows?: number; path?: string } = {}): Promise<PreviewView> {
    return this.json(`/api/v1/datasets/${seg(name)}/versions/${seg(String(version))}/preview`, { query });
  }

  diffDataset(name: string, from: string | number, to: string | number): Promise<DatasetDiff> {
    return this.json(`/api/v1/datasets/${seg(name)}/diff`, { query: { from: String(from), to: String(to) } });
  }

  setDatasetAlias(name: string, alias: string, version: string | number): Promise<{ dataset: string; alias: string; version: number | null }> {
    return this.json(`/api/v1/datasets/${seg(name)}/aliases/${seg(alias)}`, { method: "PUT", body: { version } });
  }

  removeDatasetAlias(name: string, alias: string): Promise<{ dataset: string; alias: string; version: number | null }> {
    return this.json(`/api/v1/datasets/${seg(name)}/aliases/${seg(alias)}`, { method: "DELETE" });
  }

  private async json<T>(path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.request(path, options);
    const text = await response.text();
    try {
      return (text ? JSON.parse(text) : {}) as T;
    } catch {
      throw new PlatformError("UNAVAILABLE", `${this.url} answered ${path} with something that is not JSON; check that PAVED_URL points at a Paved server`);
    }
  }

  private async request(path: string, options: RequestOptions): Promise<Response> {
    const url = new URL(this.url + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined && value !== "") url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { accept: "application/json, text/plain, */*" };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (options.body !== undefined) headers["content-type"] = "application/json";
    if (options.raw) headers["content-type"] = options.raw.contentType;
    let response: Response;
    try {
      response = await this.fetchImpl(url, {
        method: options.method ?? "GET",
        headers,
        body: options.raw ? options.raw.bytes : options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: options.signal,
        // A streamed upload (a dataset file read from disk) is sent as it is read.
        ...(options.raw?.bytes instanceof ReadableStream ? { duplex: "half" } : {}),
      });
    } catch (error) {
      if (options.signal?.aborted) throw error;
      throw new PlatformError("UNAVAILABLE", `cannot reach Paved at ${this.url}; start it with \`paved up\` or set PAVED_URL`, {
        url: this.url,
        cause: error instanceof Error ? (error.cause as Error | undefined)?.message ?? error.message : String(error),
      });
    }
    if (!response.ok) throw await errorFrom(response, path);
    return response;
  }

  // ── web UI: jobs ──

  /** One page of a job's log (at most `limitBytes`, the end unless `offset` says where), with where it lies in the log. */
  async readJobLogPage(id: string, opts: { attempt?: number; offset?: number; limitBytes?: number; signal?: AbortSignal } = {}): Promise<{ text: string; attempt: number; start: number; end: number; size: number }> {
    const response = await this.request(`/api/v1/jobs/${seg(id)}/logs`, { query: { attempt: opts.attempt, offset: opts.offset, limitBytes: opts.limitBytes }, signal: opts.signal });
    const text = await response.text();
    const header = (name: string) => Number(response.headers.get(`x-paved-log-${name}`) ?? NaN);
    const end = Number.isFinite(header("end")) ? header("end") : text.length;
    return { text, attempt: Number.isFinite(header("attempt")) ? header("attempt") : (opts.attempt ?? 1), start: Number.isFinite(header("start")) ? header("start") : 0, end, size: Number.isFinite(header("size")) ? header("size") : end };
  }

  /** Follows a job's output from byte `offset` of its current attempt (then through later attempts) until it ends or `signal` aborts. */
  async *followJobLogs(id: string, opts: { offset?: number; signal?: AbortSignal } = {}): AsyncGenerator<string> {
    const response = await this.request(`/api/v1/jobs/${seg(id)}/logs`, { query: { follow: true, offset: opts.offset }, signal: opts.signal });
    const decoder = new TextDecoder();
    for await (const chunk of bytesOf(response)) {
      const text = decoder.decode(chunk, { stream: true });
      if (text) yield text;
    }
    const rest = decoder.decode();
    if (rest) yield rest;
  }

  /** The platform's Prometheus text (GET /metrics, platform admins): GPU utilisation and memory under DCGM exporter's names. */
  async platformMetricsText(signal?: AbortSignal): Promise<string> {
    return (await this.request("/metrics", { signal })).text();
  }

  // ── web UI: data ──

  /** The documentation's topics (docs/*.md, what `paved docs` lists), with their titles. */
  async listDocs(): Promise<{ topic: string; title: string }[]> {
    return (await this.json<{ topics: { topic: string; title: string }[] }>("/api/v1/docs")).topics;
  }

  /** The topics holding every word of `q` (case-insensitive), most matches first, with the matching lines under their section's heading. */
  async searchDocs(q: string): Promise<{ topic: string; title: string; score: number; matches: { heading: string | null; snippet: string }[] }[]> {
    return (await this.json<{ topics: { topic: string; title: string; score: number; matches: { heading: string | null; snippet: string }[] }[] }>("/api/v1/docs", { query: { q } })).topics;
  }

  /** One documentation topic's markdown (what `paved docs <topic>` prints). */
  getDoc(topic: string): Promise<{ topic: string; title: string; markdown: string }> {
    return this.json(`/api/v1/docs/${seg(topic)}`);
  }

  // ── web UI: runs ──

  /** Experiments with their active runs' count and last activity (epoch ms: the latest of an update and its runs' starts and ends). */
  async listExperimentSummaries(signal?: AbortSignal): Promise<(Experiment & { runCount: number; lastActivityAt: number })[]> {
    const response = await this.request("/api/v1/experiments", { signal });
    return ((await response.json()) as { experiments: (Experiment & { runCount: number; lastActivityAt: number })[] }).experiments;
  }

  /** One page of a runs search; pass `nextPageToken` back as `pageToken` (same query) for the next; `withTotal` also counts every match. */
  async searchRunsPage(query: RunQuery & { pageToken?: string; withTotal?: boolean }, signal?: AbortSignal): Promise<{ runs: RunView[]; nextPageToken?: string; total?: number }> {
    const { experiment, status, filter, orderBy, limit, pageToken, withTotal } = query;
    const response = await this.request("/api/v1/runs", { query: { experiment, status, filter, orderBy, limit, pageToken, total: withTotal ? "true" : undefined }, signal });
    return (await response.json()) as { runs: RunView[]; nextPageToken?: string; total?: number };
  }

  /** The metric, param and tag keys an experiment's runs have (sorted; at most 1000 of each). */
  experimentKeys(id: string): Promise<{ metrics: string[]; params: string[]; tags: string[] }> {
    return this.json(`/api/v1/experiments/${seg(id)}/keys`);
  }
}

/** A team secret as the API shows it: its name and who set it when, never its value. */
export interface TeamSecret {
  team: string;
  name: string;
  createdBy: string;
  createdAt: number;
  updatedBy: string;
  updatedAt: number;
}

async function errorFrom(response: Response, path: string): Promise<PlatformError> {
  const text = await response.text().catch(() => "");
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
  if (error && typeof error.code === "string" && (ERROR_CODES as readonly string[]).includes(error.code)) {
    const details = error.details && typeof error.details === "object" ? (error.details as Record<string, unknown>) : undefined;
    return new PlatformError(error.code as ErrorCode, typeof error.message === "string" ? error.message : error.code, details);
  }
  const code = STATUS_CODES[response.status] ?? (response.status >= 500 ? "INTERNAL" : "INVALID_INPUT");
  return new PlatformError(code, `server answered ${path} with HTTP ${response.status}${text ? `: ${text.slice(0, 200)}` : ""}`, {
    status: response.status,
  });
}

async function* bytesOf(response: Response): AsyncGenerator<Uint8Array> {
  if (!response.body) return;
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      if (value) yield value;
    }
  } finally {
    reader.releaseLock();
    await response.body.cancel().catch(() => undefined);
  }
}

function seg(value: string): string {
  return encodeURIComponent(value);
}
