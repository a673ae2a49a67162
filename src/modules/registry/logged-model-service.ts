import type { Readable } from "node:stream";
import { listDirectory, presignedDownloadUrl, type ArtifactStore } from "../../artifacts/index.ts";
import { confinePath, invalidInput, notFound, type Clock, type IdGenerator, type Principal, type ResourceRef } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import { authorize } from "../identity/index.ts";
import type { ArtifactBlob, ArtifactFile, TrackingService } from "../tracking/index.ts";
import { LoggedModelStore, type LoggedModelRow } from "./logged-model-store.ts";
import { LOGGED_MODEL_STATUSES, type LoggedModelStatus } from "./schema.ts";
import { comparator, matches, page, parseFilter, parseOrderBy } from "./search-filter.ts";
import { LOGGED_MODEL_ID } from "./source.ts";
import { checkTag } from "./validate.ts";

export interface LoggedModelDeps {
  database: Database;
  artifacts: ArtifactStore;
  tracking: TrackingService;
  clock: Clock;
  ids: IdGenerator;
  maxUploadBytes: number;
  /** Refuses (QUOTA_EXCEEDED) storing `bytes` more for a team past its artifact storage quota (guardrails' ledger); unset: unlimited. */
  storageQuota?: (team: string, bytes: number, what: string) => Promise<void>;
}

/** A logged model with its tags and params. */
export interface LoggedModel extends LoggedModelRow {
  tags: { key: string; value: string }[];
  params: { key: string; value: string }[];
}

const FILTER_ATTRIBUTES = ["name", "model_id", "source_run_id", "status", "model_type", "experiment_id"] as const;
const ORDER_KEYS: Record<string, string> = {
  name: "name",
  creation_timestamp: "creation_time",
  creation_time: "creation_time",
  last_updated_timestamp: "last_update_time",
  model_id: "model_id",
};

/**
 * MLflow 3's logged models: created PENDING when a client starts logging a model, filled through
 * the artifact proxy under `<experiment_id>/models/<model_id>/artifacts`, then finalized READY or FAILED.
 */
export class LoggedModelService {
  private readonly store: LoggedModelStore;

  constructor(private readonly deps: LoggedModelDeps) {
    this.store = new LoggedModelStore(deps.database);
  }

  async create(input: {
    experimentId: string;
    name?: string | undefined;
    modelType?: string | undefined;
    sourceRunId?: string | undefined;
    tags?: { key: string; value: string }[] | undefined;
    params?: { key: string; value: string }[] | undefined;
    userId: string;
  }): Promise<LoggedModel> {
    const experiment = await this.deps.tracking.getExperiment(input.experimentId);
    if (experiment.lifecycle_stage !== "active") throw invalidInput(`experiment '${experiment.name}' is deleted; restore it before logging models to it`);
    if (input.sourceRunId) {
      const run = await this.deps.tracking.runResource(input.sourceRunId);
      if (run.team !== experiment.team_id) throw crossTeam(`run '${input.sourceRunId}'`, run.team, experiment.team_id);
    }
    const tags = input.tags ?? [];
    const params = input.params ?? [];
    for (const t of [...tags, ...params]) checkTag(t.key, t.value);
    const modelId = `m-${this.deps.ids.hex32()}`;
    const name = input.name?.trim() || `model-${modelId.slice(2, 10)}`;
    if (name.length > 500) throw invalidInput("logged model name is longer than 500 characters; choose a shorter name");
    const now = this.deps.clock.now();
    await this.store.insert(
      {
        model_id: modelId,
        experiment_id: experiment.experiment_id,
        name,
        artifact_location: `mlflow-artifacts:/${experiment.experiment_id}/models/${modelId}/artifacts`,
        status: "PENDING",
        status_message: null,
        model_type: input.modelType ?? null,
        source_run_id: input.sourceRunId ?? null,
        user_id: input.userId,
        creation_time: now,
        last_update_time: now,
      },
      dedupe(tags),
      dedupe(params),
    );
    return this.get(modelId);
  }

  async get(modelId: string): Promise<LoggedModel> {
    const row = await this.store.get(modelId);
    if (!row) throw missingLoggedModel(modelId);
    return (await this.withData([row]))[0]!;
  }

  /**
   * The logged model as the authorization policy sees it: its experiment's team, and part of its
   * source run (a job may change what its own runs logged; one without a source run belongs to no
   * job). A caller outside the team gets what a missing one gets.
   */
  async resource(modelId: string): Promise<ResourceRef> {
    const row = await this.store.get(modelId);
    if (!row) throw missingLoggedModel(modelId);
    return this.rowResource(row, () => missingLoggedModel(modelId));
  }

  private async rowResource(row: LoggedModelRow, missing: () => Error): Promise<ResourceRef> {
    const experiment = await this.deps.tracking.experimentResource(row.experiment_id);
    const run = row.source_run_id ? await this.deps.tracking.runResource(row.source_run_id).catch(() => undefined) : undefined;
    // A model logged into another experiment than its run's is not part of that run.
    const jobId = run && run.experimentId === row.experiment_id ? (run.jobId ?? null) : null;
    return { kind: "model", id: row.model_id, jobId, experimentId: row.experiment_id, team: experiment.team, notFound: missing };
  }

  /** A run that logged models are recorded against, for the policy. */
  async runResource(runId: string): Promise<ResourceRef> {
    return this.deps.tracking.runResource(runId);
  }

  /**
   * A logged model about to be created in `experimentId` from `sourceRunId`, for the policy: the
   * experiment's team. The caller must be able to read the source run (another team's answers as
   * a missing run), and it must lie in the experiment's team.
   */
  async creationResource(experimentId: string, sourceRunId: string | null | undefined, principal: Principal): Promise<ResourceRef> {
    const experiment = await this.deps.tracking.experimentResource(experimentId);
    if (!sourceRunId) return { ...experiment, kind: "run", id: "(none)", jobId: null };
    const run = await this.deps.tracking.runResource(sourceRunId);
    authorize(principal, "runs:read", run);
    if (run.team !== experiment.team) {
      authorize(principal, "experiments:read", experiment);
      throw crossTeam(`run '${sourceRunId}'`, run.team, experiment.team);
    }
    // A model logged into another experiment than its run's is not part of that run.
    return run.experimentId === experimentId ? run : { ...run, experimentId, jobId: null };
  }

  async finalize(modelId: string, status: LoggedModelStatus): Promise<LoggedModel> {
    await this.get(modelId);
    if (!LOGGED_MODEL_STATUSES.includes(status)) throw invalidInput(`unknown logged model status '${status}'; use READY or FAILED`);
    await this.store.update(modelId, { status, last_update_time: this.deps.clock.now() });
    return this.get(modelId);
  }

  async delete(modelId: string): Promise<void> {
    await this.get(modelId);
    await this.store.delete(modelId);
  }

  async setTags(modelId: string, tags: { key: string; value: string }[]): Promise<void> {
    await this.get(modelId);
    for (const t of tags) checkTag(t.key, t.value);
    await this.store.setTags(modelId, dedupe(tags));
    await this.store.update(modelId, { last_update_time: this.deps.clock.now() });
  }

  async deleteTag(modelId: string, key: string): Promise<void> {
    await this.get(modelId);
    if (!(await this.store.deleteTag(modelId, key))) throw notFound(`logged model '${modelId}' has no tag '${key}'`);
  }

  async logParams(modelId: string, params: { key: string; value: string }[]): Promise<void> {
    await this.get(modelId);
    for (const p of params) checkTag(p.key, p.value);
    await this.store.addParams(modelId, dedupe(params));
  }

  /** A page of the experiments' logged models; with `teams`, only those of experiments the teams own (an experiment of another team finds nothing, as an unknown one). */
  async search(input: {
    experimentIds: string[];
    teams?: string[] | undefined;
    filter?: string | undefined;
    orderBy?: { field: string; ascending: boolean }[] | undefined;
    maxResults?: number | undefined;
    pageToken?: string | undefined;
  }): Promise<{ models: LoggedModel[]; nextPageToken?: string }> {
    if (!input.experimentIds.length) throw invalidInput("experiment_ids must name at least one experiment");
    const clauses = parseFilter(input.filter, FILTER_ATTRIBUTES, "logged model");
    const terms = parseOrderBy(
      (input.orderBy ?? []).map((o) => `${o.field} ${o.ascending ? "ASC" : "DESC"}`),
      ORDER_KEYS,
      "logged model",
    );
    terms.push({ key: "creation_time", asc: false }, { key: "model_id", asc: true });
    const models = (await this.withData(await this.store.list(input.experimentIds, input.teams))).filter((m) =>
      clauses.every((c) => {
        if (c.entity === "tag") return matches(m.tags.find((t) => t.key === c.key)?.value, c);
        if (c.entity === "param") return matches(m.params.find((p) => p.key === c.key)?.value, c);
        const value = c.key === "status" ? statusName(m.status) : m[c.key as (typeof FILTER_ATTRIBUTES)[number]];
        return matches(value ?? undefined, c) || (c.key === "status" && matches(m.status, c));
      }),
    );
    models.sort(comparator<LoggedModel>(terms, (m, key) => m[key as keyof LoggedModelRow]));
    const max = input.maxResults ?? 100;
    if (!Number.isInteger(max) || max < 1 || max > 10_000) throw invalidInput(`max_results must be an integer from 1 to 10000; got ${max}`);
    const { items, nextPageToken } = page(models, max, input.pageToken);
    return { models: items, ...(nextPageToken ? { nextPageToken } : {}) };
  }

  /**
   * Records logged models as outputs of a run. Each must be one the caller may read (another
   * team's answers as missing) and of the run's team.
   */
  async logOutputs(runId: string, outputs: { modelId: string; step: number }[], principal?: Principal): Promise<void> {
    const run = await this.deps.tracking.runResource(runId);
    for (const o of outputs) {
      const model = await this.resource(o.modelId);
      if (principal) authorize(principal, "models:read", model);
      if (model.team !== run.team) throw crossTeam(`logged model '${o.modelId}'`, model.team, run.team, `run '${runId}'`);
    }
    await this.store.addOutputs(runId, outputs);
  }

  /** The newest logged model a run produced under `name` (how MLflow 3 resolves runs:/<run>/<name>). */
  async findByRun(runId: string, name: string): Promise<LoggedModel | undefined> {
    const [row] = await this.store.byRun(runId, name);
    return row ? (await this.withData([row]))[0] : undefined;
  }

  // ---- artifacts ----

  /** Maps a proxy path `<experiment_id>/models/<model_id>/artifacts[/<relative>]`; undefined if not of that form. */
  async resolveProxyPath(path: string): Promise<{ modelId: string; relative: string; row: LoggedModelRow } | undefined> {
    const segments = path.split("/").filter((s) => s !== "" && s !== ".");
    const [experimentId = "", models, modelId, root, ...rest] = segments;
    if (models !== "models" || !modelId || !LOGGED_MODEL_ID.test(modelId) || root !== "artifacts") return undefined;
    const row = await this.store.get(modelId);
    if (!row || row.experiment_id !== experimentId) throw missingProxyModel(experimentId, modelId);
    const relative = rest.join("/");
    return { modelId, relative: relative ? confinePath(relative, "artifact path") : "", row };
  }

  /** The logged model a proxy path belongs to, for the policy; undefined for paths that are not logged-model paths. */
  async proxyResource(path: string): Promise<ResourceRef | undefined> {
    const resolved = await this.resolveProxyPath(path);
    if (!resolved) return undefined;
    const experimentId = resolved.row.experiment_id;
    return this.rowResource(resolved.row, () => missingProxyModel(experimentId, resolved.modelId));
  }

  /** Stores a file of a logged model; with `declaredBytes` (an upload's Content-Length), within its team's storage quota. */
  async putArtifact(modelId: string, relative: string, body: Readable, declaredBytes?: number): Promise<void> {
    const path = confinePath(relative, "artifact path");
    const model = await this.get(modelId);
    if (this.deps.storageQuota) {
      const { team } = await this.deps.tracking.experimentResource(model.experiment_id);
      await this.deps.storageQuota(team!, declaredBytes ?? 0, `uploading '${relative}' to logged model ${modelId}`);
    }
    const blob = await this.deps.artifacts.put(body, { maxBytes: this.deps.maxUploadBytes });
    await this.store.putArtifact({ model_id: modelId, path, digest: blob.digest, size: blob.size, created_at: this.deps.clock.now() });
  }

  async openArtifact(modelId: string, relative: string): Promise<{ stream: Readable; size: number }> {
    const row = await this.artifactRow(modelId, relative);
    return { stream: await this.deps.artifacts.get(row.digest), size: row.size };
  }

  /** A presigned URL that downloads one file straight from the object store (S3 store only; UNSUPPORTED otherwise). */
  async artifactDownloadUrl(modelId: string, relative: string): Promise<string> {
    const row = await this.artifactRow(modelId, relative);
    return presignedDownloadUrl(this.deps.artifacts, row.digest, row.path);
  }

  private async artifactRow(modelId: string, relative: string) {
    const row = await this.store.getArtifact(modelId, confinePath(relative, "artifact path"));
    if (!row) throw notFound(`logged model '${modelId}' has no artifact '${relative}'`);
    return row;
  }

  /** Every file under `path` (or the file at `path`) with its blob. */
  async blobs(modelId: string, path: string): Promise<ArtifactBlob[]> {
    await this.get(modelId);
    const exact = path ? await this.store.getArtifact(modelId, path) : undefined;
    const rows = exact ? [exact] : await this.store.artifactsUnder(modelId, path ? `${path}/` : "");
    return rows.map((r) => ({ path: r.path, digest: r.digest, size: r.size }));
  }

  /** Proxy listing of a logged model folder; undefined for paths that are not logged-model paths. */
  async listProxyPath(path: string): Promise<ArtifactFile[] | undefined> {
    const resolved = await this.resolveProxyPath(path);
    if (!resolved) return undefined;
    const rows = await this.store.artifactsUnder(resolved.modelId, resolved.relative ? `${resolved.relative}/` : "");
    return listDirectory(rows, resolved.relative);
  }

  private async withData(rows: LoggedModelRow[]): Promise<LoggedModel[]> {
    const { tags, params } = await this.store.tagsAndParams(rows.map((r) => r.model_id));
    return rows.map((r) => ({ ...r, tags: tags.get(r.model_id) ?? [], params: params.get(r.model_id) ?? [] }));
  }
}

function missingLoggedModel(modelId: string) {
  return notFound(`logged model '${modelId}' does not exist; find logged models with logged-models/search`);
}

function missingProxyModel(experimentId: string, modelId: string) {
  return notFound(`no logged model '${modelId}' in experiment '${experimentId}'`);
}

/** What the caller may read but lies in another of its teams: refused (nothing of one team refers to another's). */
function crossTeam(what: string, team: string | undefined, expected: string | undefined, where = "the experiment") {
  return invalidInput(`${what} belongs to team '${team}' and ${where} to team '${expected}'; a logged model, its runs and its experiment stay in one team`);
}

/** MLflow's wire name of a status. */
export function statusName(status: string): string {
  return status === "READY" ? "LOGGED_MODEL_READY" : status === "FAILED" ? "LOGGED_MODEL_UPLOAD_FAILED" : "LOGGED_MODEL_PENDING";
}

function dedupe(items: { key: string; value: string }[]): { key: string; value: string }[] {
  return [...new Map(items.map((i) => [i.key, i])).values()];
}

