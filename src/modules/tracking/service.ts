import type { Readable } from "node:stream";
import { listDirectory, presignedDownloadUrl, type ArtifactEntry } from "../../artifacts/index.ts";
import { alreadyExists, compileLike, confinePath, decodePageToken, encodePageToken, invalidInput, notFound, PlatformError, type ResourceRef, cutPage } from "../../core/index.ts";
import { bucketHistory, type BucketQuery, type BucketedHistory } from "./metric-buckets.ts";
import { MetricStore, type HistoryCursor, type MetricInput } from "./metric-store.ts";
import { countRuns, decodeSearchToken, encodeSearchToken, searchRuns } from "./run-search.ts";
import { RUN_STATUSES, type RunStatus, type ViewType } from "./schema.ts";
import { parseFilter, parseOrderBy } from "./search-filter.ts";
import { TrackingStore, type DatasetInputRow, type ExperimentRow, type LatestMetricRow, type RunRow } from "./store.ts";
import { DEFAULT_TEAM_ID } from "../../storage/index.ts";
import type { PlatformDeps } from "../platform-deps.ts";

export type TrackingDeps = PlatformDeps;

export const DEFAULT_EXPERIMENT_ID = "0";
export const DEFAULT_EXPERIMENT_NAME = "Default";
export const RUN_NAME_TAG = "mlflow.runName";
export const DATASET_CONTEXT_TAG = "mlflow.data.context";
/**
 * The tag an MLflow client sets at creation (experiments, registered models) to say which team the
 * new resource goes to: MLflow's create calls have no team field. It picks the team; it is not stored.
 */
export const TEAM_TAG = "paved.team";

/** MLflow's limits, so code that works against MLflow works here and vice versa. */
export const LIMITS = {
  keyLength: 250,
  paramValueLength: 6000,
  tagValueLength: 8000,
  batchMetrics: 1000,
  batchParams: 100,
  batchTags: 100,
  batchTotal: 1000,
  searchDefault: 1000,
  searchMax: 50000,
  /** The largest page of one metric's history (MLflow's GET_METRIC_HISTORY_MAX_RESULTS, what its client asks for). */
  historyMax: 25000,
  /** Buckets of a downsampled history: the default and the most one request may ask for. */
  historyPointsDefault: 1000,
  historyPointsMax: 10000,
} as const;

export interface Experiment extends ExperimentRow {
  tags: { key: string; value: string }[];
}

/** A run with everything attached to it. */
export interface RunDetails {
  info: RunRow;
  params: { key: string; value: string }[];
  tags: { key: string; value: string }[];
  metrics: LatestMetricRow[];
  inputs: DatasetInputRow[];
}

export interface DatasetInput {
  name: string;
  digest: string;
  sourceType: string;
  source: string;
  schema?: string;
  profile?: string;
  context?: string;
}

export interface CreateRunInput {
  experimentId: string;
  runName: string;
  userId: string;
  jobId?: string;
  startTime?: number;
  /** RUNNING unless given; a job's run is SCHEDULED until its process starts. */
  status?: "SCHEDULED" | "RUNNING";
  source?: { commit?: string; dirty?: boolean; entrypoint?: string };
  tags?: Record<string, string>;
}

/** A file or folder in a run's artifact listing. */
export type ArtifactFile = ArtifactEntry;

/** One stored artifact file and the blob holding its bytes. */
export interface ArtifactBlob {
  path: string;
  digest: string;
  size: number;
}

/**
 * Artifact-proxy paths owned by a higher module (the registry's copied versions, logged models):
 * `list` answers undefined for paths that are not its own.
 */
export interface ProxyArtifactRoot {
  list(path: string): Promise<ArtifactFile[] | undefined>;
  /** What the path belongs to, for the policy (its team, and what a missing one answers); undefined for paths that are not its own. */
  resource(path: string): Promise<ResourceRef | undefined>;
}

const KEY_CHARS = /^[\w./\- :]+$/;
/** Runs whose owner (job, experiment, team) is kept in memory at once. */
const MAX_REMEMBERED_OWNERS = 10_000;

/**
 * Experiments, runs, params (write-once), metrics (history plus latest), tags, dataset inputs and
 * artifacts. The compute module records job runs through this service; MLflow and Paved routes
 * are thin translations onto it.
 */
export class TrackingService {
  /** Told of every batch stored: metric points, params and tags (monitoring's ingestion counter). */
  onIngest: ((metrics: number, params: number, tags: number) => void) | undefined;

  private readonly store: TrackingStore;
  private readonly metricStore: MetricStore;
  private readonly proxyRoots: ProxyArtifactRoot[] = [];
  /** Who owns each run seen lately (see runResource); bounded. */
  private readonly owners = new Map<string, { jobId: string | null; experimentId: string; team: string }>();
  private defaultReady: Promise<void> | undefined;

  constructor(private readonly deps: TrackingDeps) {
    this.store = new TrackingStore(deps.database);
    this.metricStore = new MetricStore(deps.database, { activeRunsOnly: true });
  }

  // ---- experiments ----

  /** Creates the "Default" experiment (id "0") the first time anything asks for experiments. */
  private ensureDefault(): Promise<void> {
    this.defaultReady ??= (async () => {
      const now = this.deps.clock.now();
      await this.store.insertExperiment(
        {
          experiment_id: DEFAULT_EXPERIMENT_ID,
          name: DEFAULT_EXPERIMENT_NAME,
          artifact_location: `mlflow-artifacts:/${DEFAULT_EXPERIMENT_ID}`,
          lifecycle_stage: "active",
          creation_time: now,
          last_update_time: now,
          team_id: DEFAULT_TEAM_ID,
        },
        {},
        true,
      );
    })().catch((error: unknown) => {
      this.defaultReady = undefined;
      throw error;
    });
    return this.defaultReady;
  }

  /**
   * The id of the experiment called `name`, created in `team` when missing (a job's experiment).
   * An experiment of that name in another team is refused as a taken name: a job never records
   * into another team's experiment.
   */
  async ensureExperiment(name: string, team: string): Promise<string> {
    await this.ensureDefault();
    const usable = (row: ExperimentRow) => {
      if (row.team_id !== team) throw nameTaken(name);
      if (row.lifecycle_stage === "deleted") {
        throw invalidInput(`experiment '${name}' is deleted; restore it (experiments/restore) or choose another name`);
      }
      return row.experiment_id;
    };
    const existing = await this.store.getExperimentByName(name);
    if (existing) return usable(existing);
    try {
      return await this.createExperiment({ name, team });
    } catch (error) {
      const raced = await this.store.getExperimentByName(name);
      if (raced) return usable(raced);
      throw error;
    }
  }

  /** Creates an experiment owned by `team` (the caller decides which, with identity's `teamForNew`). Names are unique across teams. */
  async createExperiment(input: { name: string; team: string; artifactLocation?: string | undefined; tags?: Record<string, string> }): Promise<string> {
    await this.ensureDefault();
    const name = input.name.trim();
    if (!name) throw invalidInput("experiment name must not be empty; give a name such as 'churn-model'");
    if (name.length > 500) throw invalidInput("experiment name is longer than 500 characters; choose a shorter name");
    if (input.artifactLocation) {
      throw invalidInput("artifact_location is managed by Paved (artifacts go through its artifact proxy); leave it unset");
    }
    for (const [key, value] of Object.entries(input.tags ?? {})) validateTag(key, value);
    // One answer whoever holds the name, so that it tells no more than that the name is taken.
    if (await this.store.getExperimentByName(name)) throw nameTaken(name);
    const now = this.deps.clock.now();
    // An id another control plane on the same database just took is tried again with a new one.
    for (let attempt = 1; ; attempt++) {
      const id = this.deps.ids.numeric();
      try {
        await this.store.insertExperiment(
          { experiment_id: id, name, artifact_location: `mlflow-artifacts:/${id}`, lifecycle_stage: "active", creation_time: now, last_update_time: now, team_id: input.team },
          input.tags ?? {},
        );
        return id;
      } catch (error) {
        if (await this.store.getExperimentByName(name)) throw nameTaken(name);
        if (attempt < 3 && (await this.store.getExperiment(id))) continue;
        throw error;
      }
    }
  }

  async getExperiment(id: string): Promise<Experiment> {
    await this.ensureDefault();
    const row = await this.store.getExperiment(id);
    if (!row) throw missingExperiment(id);
    return this.withTags([row]).then((e) => e[0]!);
  }

  async getExperimentByName(name: string): Promise<Experiment> {
    await this.ensureDefault();
    const row = await this.store.getExperimentByName(name);
    if (!row) throw missingExperimentName(name);
    return this.withTags([row]).then((e) => e[0]!);
  }

  /**
   * The experiment as the authorization policy sees it: its team, and the error a missing one
   * gets, which is what a caller outside the team gets too.
   */
  async experimentResource(id: string): Promise<ResourceRef> {
    await this.ensureDefault();
    const row = await this.store.getExperiment(id);
    if (!row) throw missingExperiment(id);
    return { kind: "experiment", id, team: row.team_id, experimentId: id, notFound: () => missingExperiment(id) };
  }

  /** The experiment called `name`, as the policy sees it (see experimentResource). */
  async experimentResourceByName(name: string): Promise<ResourceRef> {
    await this.ensureDefault();
    const row = await this.store.getExperimentByName(name);
    if (!row) throw missingExperimentName(name);
    return { kind: "experiment", id: row.experiment_id, team: row.team_id, experimentId: row.experiment_id, notFound: () => missingExperimentName(name) };
  }

  /**
   * Resolves an experiment given by id or by name. With `teams`, one of another team answers as a
   * missing one.
   */
  async findExperiment(idOrName: string, teams?: string[]): Promise<Experiment> {
    await this.ensureDefault();
    const visible = (row: ExperimentRow | undefined) => (row && (!teams || teams.includes(row.team_id)) ? row : undefined);
    const row = visible(await this.store.getExperiment(idOrName)) ?? visible(await this.store.getExperimentByName(idOrName));
    if (!row) throw notFound(`experiment '${idOrName}' does not exist (by id or name); list experiments with \`paved experiments ls\``);
    return this.withTags([row]).then((e) => e[0]!);
  }

  /** A page of experiments; with `teams`, only those the teams own (filtered before the page is cut). */
  async searchExperiments(input: {
    viewType?: ViewType | undefined;
    filter?: string | undefined;
    orderBy?: string[] | undefined;
    maxResults?: number | undefined;
    pageToken?: string | undefined;
    teams?: string[] | undefined;
  }): Promise<{ experiments: Experiment[]; nextPageToken?: string }> {
    await this.ensureDefault();
    const stages = input.viewType === "ALL" ? ["active", "deleted"] : input.viewType === "DELETED_ONLY" ? ["deleted"] : ["active"];
    const limit = clampResults(input.maxResults);
    const offset = decodePageToken(input.pageToken);
    let experiments = await this.withTags(await this.store.listExperiments({ stages, teams: input.teams }));
    experiments = experiments.filter(experimentFilter(input.filter));
    experiments.sort(experimentOrder(input.orderBy));
    const page = experiments.slice(offset, offset + limit);
    return { experiments: page, ...(offset + limit < experiments.length ? { nextPageToken: encodePageToken(offset + limit) } : {}) };
  }

  async renameExperiment(id: string, newName: string): Promise<void> {
    const experiment = await this.getExperiment(id);
    const name = newName.trim();
    if (!name) throw invalidInput("new_name must not be empty");
    const other = await this.store.getExperimentByName(name);
    if (other && other.experiment_id !== experiment.experiment_id) throw nameTaken(name);
    await this.store.updateExperiment(id, { name, last_update_time: this.deps.clock.now() });
  }

  async deleteExperiment(id: string): Promise<void> {
    await this.getExperiment(id);
    if (id === DEFAULT_EXPERIMENT_ID) throw invalidInput("the Default experiment (id 0) cannot be deleted");
    await this.store.setExperimentStage(id, "deleted", this.deps.clock.now());
  }

  async restoreExperiment(id: string): Promise<void> {
    await this.getExperiment(id);
    await this.store.setExperimentStage(id, "active", this.deps.clock.now());
  }

  async setExperimentTag(id: string, key: string, value: string): Promise<void> {
    await this.getExperiment(id);
    validateTag(key, value);
    await this.store.setExperimentTag(id, key, value);
  }

  private async withTags(rows: ExperimentRow[]): Promise<Experiment[]> {
    const tags = await this.store.experimentTags(rows.map((r) => r.experiment_id));
    return rows.map((r) => ({ ...r, tags: tags.get(r.experiment_id) ?? [] }));
  }

  // ---- runs ----

  async createRun(input: CreateRunInput): Promise<{ runId: string; artifactUri: string }> {
    const experiment = await this.getExperiment(input.experimentId);
    if (experiment.lifecycle_stage !== "active") {
      throw invalidInput(`experiment '${experiment.name}' is deleted; restore it before starting runs in it`);
    }
    const tags = { ...input.tags };
    for (const [key, value] of Object.entries(tags)) validateTag(key, value);
    const runId = this.deps.ids.hex32();
    const runName = input.runName || tags[RUN_NAME_TAG] || `run-${runId.slice(0, 8)}`;
    validateValue("run name", runName, LIMITS.keyLength);
    tags[RUN_NAME_TAG] = runName;
    const artifactUri = `mlflow-artifacts:/${experiment.experiment_id}/${runId}/artifacts`;
    await this.store.insertRun(
      {
        run_id: runId,
        experiment_id: experiment.experiment_id,
        run_name: runName,
        user_id: input.userId,
        status: input.status ?? "RUNNING",
        start_time: input.startTime ?? this.deps.clock.now(),
        end_time: null,
        lifecycle_stage: "active",
        artifact_uri: artifactUri,
        source_commit: input.source?.commit ?? null,
        source_dirty: input.source?.dirty === undefined ? null : input.source.dirty ? 1 : 0,
        source_entrypoint: input.source?.entrypoint ?? null,
        job_id: input.jobId ?? null,
        deleted_time: null,
      },
      tags,
    );
    return { runId, artifactUri };
  }

  /**
   * The run as the authorization policy sees it: which job, experiment and team (its experiment's)
   * it belongs to, and the error a missing run gets, which a caller outside the team gets too.
   */
  async runResource(runId: string): Promise<ResourceRef> {
    return { kind: "run", id: runId, ...(await this.runOwner(runId)), notFound: () => missingRun(runId) };
  }

  private async runOwner(runId: string): Promise<{ jobId: string | null; experimentId: string; team: string }> {
    let owner = this.owners.get(runId);
    if (!owner) {
      const row = (await this.store.getRunOwnership(runId)) ?? (await this.store.getTombstone(runId));
      if (!row) throw missingRun(runId);
      owner = { jobId: "job_id" in row ? row.job_id : null, experimentId: row.experiment_id, team: row.team_id };
      // A run's experiment, job and team are set when it is created and never change, so the
      // answer is kept: this runs before every tracking write (about 30 µs a read otherwise).
      if (this.owners.size >= MAX_REMEMBERED_OWNERS) this.owners.clear();
      this.owners.set(runId, owner);
    }
    return owner;
  }

  async getRun(runId: string): Promise<RunDetails> {
    const info = await this.runRow(runId);
    return (await this.details([info]))[0]!;
  }

  async updateRun(runId: string, patch: { status?: RunStatus; endTime?: number; runName?: string }): Promise<RunRow> {
    await this.runRow(runId);
    if (patch.runName) await this.setTags(runId, { [RUN_NAME_TAG]: patch.runName });
    if (patch.status !== undefined || patch.endTime !== undefined) {
      await this.store.updateRun(runId, {
        ...(patch.status !== undefined ? { status: patch.status } : {}),
        ...(patch.endTime !== undefined ? { end_time: patch.endTime } : {}),
      });
    }
    return this.runRow(runId);
  }

  async finishRun(runId: string, status: "FINISHED" | "FAILED" | "KILLED", endTime: number): Promise<void> {
    if (!RUN_STATUSES.includes(status)) throw invalidInput(`unknown run status '${status}'; use FINISHED, FAILED or KILLED`);
    await this.updateRun(runId, { status, endTime });
  }

  /** Marks the run deleted: restorable until garbage collection removes it, `tracking.retentionDays` later. */
  async deleteRun(runId: string): Promise<void> {
    const row = await this.runRow(runId);
    // Deleting again keeps the first deletion's time, which the retention period counts from.
    if (row.lifecycle_stage === "deleted") return;
    await this.store.updateRun(runId, { lifecycle_stage: "deleted", deleted_time: this.deps.clock.now() });
  }

  /** Brings a deleted run back; one garbage collection removed already answers NOT_FOUND saying when. */
  async restoreRun(runId: string): Promise<void> {
    await this.runRow(runId);
    // Collected in between: nothing was restored, and runRow says so.
    if (!(await this.store.restoreRun(runId))) await this.runRow(runId);
  }

  /** A page of runs; with `teams`, only runs of experiments the teams own (filtered in the query, before the page is cut). */
  async searchRuns(input: {
    experimentIds?: string[] | undefined;
    filter?: string | undefined;
    orderBy?: string[] | undefined;
    viewType?: ViewType | undefined;
    maxResults?: number | undefined;
    pageToken?: string | undefined;
    teams?: string[] | undefined;
    /** Also count every run the search matches (all pages): `total`. */
    withTotal?: boolean | undefined;
  }): Promise<{ runs: RunDetails[]; nextPageToken?: string; total?: number }> {
    const clauses = parseFilter(input.filter);
    const order = parseOrderBy(input.orderBy);
    const limit = clampResults(input.maxResults);
    const where = {
      ...(input.experimentIds ? { experimentIds: input.experimentIds } : {}),
      teams: input.teams,
      clauses,
      viewType: input.viewType ?? "ACTIVE_ONLY",
    };
    // Keyset paging: the token carries the last run's sort values, so runs created or deleted
    // between pages neither repeat nor shift the next page; it is refused for another query.
    const after = decodeSearchToken({ ...where, order }, input.pageToken);
    const [{ runs, next }, total] = await Promise.all([
      searchRuns(this.deps.database, { ...where, order, after, limit }),
      input.withTotal ? countRuns(this.deps.database, where) : undefined,
    ]);
    return { runs: await this.details(runs), ...(next ? { nextPageToken: encodeSearchToken({ ...where, order }, next) } : {}), ...(total !== undefined ? { total } : {}) };
  }

  /** Per experiment: its active runs' count and latest start or end (null without runs). */
  async experimentActivity(ids: string[]): Promise<Map<string, { runs: number; lastActivity: number | null }>> {
    return this.store.experimentActivity(ids);
  }

  /** The metric, param and tag keys an experiment's active runs have (for a table's column chooser), at most `limit` of each. */
  async experimentKeys(id: string, limit = 1000): Promise<{ metrics: string[]; params: string[]; tags: string[] }> {
    await this.getExperiment(id);
    return this.store.experimentKeys(id, limit);
  }

  private async runRow(runId: string): Promise<RunRow> {
    const row = await this.store.getRun(runId);
    if (row) return row;
    const tombstone = await this.store.getTombstone(runId);
    throw tombstone ? collectedRun(tombstone) : missingRun(runId);
  }

  private async activeRun(runId: string): Promise<RunRow> {
    const row = await this.runRow(runId);
    if (row.lifecycle_stage !== "active") {
      throw invalidInput(`run '${runId}' is deleted; restore it (runs/restore) before logging to it`);
    }
    return row;
  }

  private async details(rows: RunRow[]): Promise<RunDetails[]> {
    const data = await this.store.runData(rows.map((r) => r.run_id));
    return rows.map((info) => ({
      info,
      params: data.params.get(info.run_id) ?? [],
      tags: data.tags.get(info.run_id) ?? [],
      metrics: data.metrics.get(info.run_id) ?? [],
      inputs: data.inputs.get(info.run_id) ?? [],
    }));
  }

  // ---- params, metrics, tags ----

  async logParams(runId: string, params: Record<string, string>): Promise<void> {
    await this.logBatch(runId, { params: Object.entries(params).map(([key, value]) => ({ key, value })) });
  }

  async logMetrics(runId: string, metrics: MetricInput[]): Promise<void> {
    await this.logBatch(runId, { metrics });
  }

  async setTags(runId: string, tags: Record<string, string>): Promise<void> {
    await this.logBatch(runId, { tags: Object.entries(tags).map(([key, value]) => ({ key, value })) });
  }

  async deleteTag(runId: string, key: string): Promise<void> {
    await this.activeRun(runId);
    if (!(await this.store.deleteTag(runId, key))) throw notFound(`run '${runId}' has no tag '${key}'`);
  }

  /**
   * Logs metrics, params and tags in one transaction, with MLflow's limits: at most 1000 metrics,
   * 100 params, 100 tags and 1000 items in all.
   */
  async logBatch(
    runId: string,
    batch: { metrics?: MetricInput[]; params?: { key: string; value: string }[]; tags?: { key: string; value: string }[] },
  ): Promise<void> {
    const metrics = batch.metrics ?? [];
    const paramList = batch.params ?? [];
    const tagList = batch.tags ?? [];
    if (metrics.length > LIMITS.batchMetrics || paramList.length > LIMITS.batchParams || tagList.length > LIMITS.batchTags || metrics.length + paramList.length + tagList.length > LIMITS.batchTotal) {
      throw invalidInput(
        `a batch holds at most ${LIMITS.batchMetrics} metrics, ${LIMITS.batchParams} params, ${LIMITS.batchTags} tags and ${LIMITS.batchTotal} items in all (got ${metrics.length}, ${paramList.length}, ${tagList.length}); split it into several requests`,
      );
    }
    const now = this.deps.clock.now();
    const checkedKeys = new Set<string>();
    for (const m of metrics) {
      if (!checkedKeys.has(m.key)) {
        validateKey("metric", m.key);
        checkedKeys.add(m.key);
      }
      if (typeof m.value !== "number") throw invalidInput(`metric '${m.key}' must have a numeric value`);
      if (!Number.isSafeInteger(m.step)) throw invalidInput(`metric '${m.key}' has step ${m.step}; steps are integers`);
      if (m.timestamp === undefined || m.timestamp === null) m.timestamp = now;
      if (!Number.isSafeInteger(m.timestamp)) throw invalidInput(`metric '${m.key}' has timestamp ${m.timestamp}; use epoch milliseconds`);
    }
    const params: Record<string, string> = {};
    for (const { key, value } of paramList) {
      validateKey("param", key);
      validateValue(`param '${key}'`, value, LIMITS.paramValueLength);
      if (key in params && params[key] !== value) {
        throw invalidInput(`param '${key}' appears twice in the batch with different values ('${params[key]}', '${value}'); params are write-once`);
      }
      params[key] = value;
    }
    const tags: Record<string, string> = {};
    for (const { key, value } of tagList) {
      validateTag(key, value);
      tags[key] = value;
    }
    // The run's experiment from runOwner's cache (the route has just asked it, to authorize).
    // Whether the run exists and is active is checked once, in the write's own transaction; only
    // a refusal reads the run again, for the message that says why (deleted, or collected when).
    const { experimentId } = await this.runOwner(runId);
    try {
      await this.metricStore.writeBatch(runId, { metrics, params, tags }, experimentId);
    } catch (error) {
      if (error instanceof PlatformError && error.code === "NOT_FOUND") await this.runRow(runId);
      throw error;
    }
    this.onIngest?.(metrics.length, paramList.length, tagList.length);
    const runName = tags[RUN_NAME_TAG];
    if (runName !== undefined) await this.store.updateRun(runId, { run_name: runName });
  }

  /**
   * One page of a metric's points, by step: `maxResults` of them (at most LIMITS.historyMax, the
   * default), then `nextPageToken` while more remain. Never the whole history at once.
   */
  async getMetricHistory(
    runId: string,
    key: string,
    page: { maxResults?: number; pageToken?: string } = {},
  ): Promise<{ points: { key: string; value: number; step: number; timestamp: number }[]; nextPageToken?: string }> {
    await this.runRow(runId);
    const after = decodeHistoryToken(page.pageToken, runId, key);
    // 0 is what a protobuf client sends for "not set".
    const limit = page.maxResults === undefined || page.maxResults === 0 ? LIMITS.historyMax : page.maxResults;
    if (!Number.isInteger(limit) || limit < 1 || limit > LIMITS.historyMax) {
      throw invalidInput(`max_results must be an integer from 1 to ${LIMITS.historyMax}; got ${page.maxResults}; follow next_page_token for more points`);
    }
    const rows = await this.metricStore.history(runId, key, { after, limit: limit + 1 });
    const { page: history, nextPageToken } = cutPage(rows, limit, (last) => encodeHistoryToken([last.step, last.timestamp, last.seq, last.index], runId, key));
    return { points: history.map((r) => ({ key, value: r.value, step: r.step, timestamp: r.timestamp })), ...(nextPageToken ? { nextPageToken } : {}) };
  }

  /**
   * A metric's history for a chart: at most `points` buckets over the step or time axis, each with
   * count, min, max and last, computed in the database. NOT_FOUND names a run or key that does not
   * exist; a range holding no points answers no buckets.
   */
  async downsampleMetricHistory(query: Omit<BucketQuery, "points"> & { points?: number | undefined }): Promise<BucketedHistory> {
    const points = query.points ?? LIMITS.historyPointsDefault;
    if (!Number.isInteger(points) || points < 1 || points > LIMITS.historyPointsMax) {
      throw invalidInput(`points must be an integer from 1 to ${LIMITS.historyPointsMax}; got ${points}`);
    }
    for (const [lo, hi, name] of [[query.startStep, query.endStep, "Step"], [query.startTime, query.endTime, "Time"]] as const) {
      if (lo !== undefined && hi !== undefined && lo > hi) throw invalidInput(`start${name} ${lo} is after end${name} ${hi}; swap them`);
    }
    await this.runRow(query.runId);
    if (!(await this.store.hasMetric(query.runId, query.key))) {
      const keys = await this.store.metricKeys(query.runId);
      throw notFound(
        `run '${query.runId}' has no metric '${query.key}'; ${keys.length ? `its metrics: ${keys.slice(0, 20).join(", ")}${keys.length > 20 ? ", ..." : ""}` : "it has logged none"} (see \`paved runs metrics ${query.runId}\`)`,
      );
    }
    return bucketHistory(this.deps.database, { ...query, points });
  }

  // ---- lineage ----

  async logInputs(runId: string, inputs: DatasetInput[]): Promise<void> {
    await this.activeRun(runId);
    for (const input of inputs) {
      if (!input.name || !input.digest) throw invalidInput("every dataset input needs a name and a digest");
      validateValue(`dataset '${input.name}' source`, input.source, 65535);
    }
    await this.store.insertInputs(
      inputs.map((i) => ({
        run_id: runId,
        name: i.name,
        digest: i.digest,
        source_type: i.sourceType,
        source: i.source,
        schema: i.schema ?? null,
        profile: i.profile ?? null,
        context: i.context ?? null,
      })),
    );
  }

  // ---- artifacts ----

  /**
   * Stores a file a client uploads (MLflow's artifact proxy): the run's team must have room in its
   * artifact storage quota (QUOTA_EXCEEDED otherwise). `declaredBytes` is the request's
   * Content-Length, when it sent one; without it only a team already at its quota is refused.
   */
  async uploadArtifact(runId: string, path: string, body: Readable, declaredBytes?: number): Promise<{ digest: string; size: number }> {
    const { team } = await this.runResource(runId);
    await this.deps.storageQuota?.(team!, declaredBytes ?? 0, `uploading '${path}' to run ${runId}`);
    return this.putArtifact(runId, path, body);
  }

  /** Stores a file under the run's artifact root (replacing one at the same path). */
  async putArtifact(runId: string, path: string, body: Readable | Buffer): Promise<{ digest: string; size: number }> {
    const relative = confinePath(path, "artifact path");
    await this.activeRun(runId);
    const blob = await this.deps.artifacts.put(body, { maxBytes: this.deps.config.artifacts.maxUploadBytes });
    await this.store.putArtifact({ run_id: runId, path: relative, digest: blob.digest, size: blob.size, created_at: this.deps.clock.now() });
    return blob;
  }

  /** The files and folders directly under `path` (the artifact root when empty). */
  async listArtifacts(runId: string, path?: string): Promise<ArtifactFile[]> {
    await this.runRow(runId);
    // Any character but "/" (a `/\/+$/` replace here took 0.8 s for 20,000 slashes: quadratic).
    const dir = path && /[^/]/.test(path) ? confinePath(path, "artifact path") : "";
    const prefix = dir ? `${dir}/` : "";
    return listDirectory(await this.store.artifactsUnder(runId, prefix), dir);
  }

  /** A stream of one artifact's bytes. */
  async openArtifact(runId: string, path: string): Promise<{ stream: Readable; size: number }> {
    const row = await this.artifactRow(runId, path);
    return { stream: await this.deps.artifacts.get(row.digest), size: row.size };
  }

  /** A presigned URL that downloads one artifact straight from the object store (S3 store only; UNSUPPORTED otherwise). */
  async artifactDownloadUrl(runId: string, path: string): Promise<string> {
    const row = await this.artifactRow(runId, path);
    return presignedDownloadUrl(this.deps.artifacts, row.digest, row.path);
  }

  private async artifactRow(runId: string, path: string) {
    const relative = confinePath(path, "artifact path");
    await this.runRow(runId);
    const row = await this.store.getArtifact(runId, relative);
    if (!row) throw notFound(`run '${runId}' has no artifact '${relative}'; list them with artifacts/list or \`paved runs artifacts ls ${runId}\``);
    return row;
  }

  /** Every file under `path` (or the one file at `path`) with its blob digest, for modules that copy run files. */
  async artifactBlobs(runId: string, path?: string): Promise<ArtifactBlob[]> {
    await this.runRow(runId);
    // Any character but "/" (a `/\/+$/` replace here took 0.8 s for 20,000 slashes: quadratic).
    const dir = path && /[^/]/.test(path) ? confinePath(path, "artifact path") : "";
    const exact = dir ? await this.store.getArtifact(runId, dir) : undefined;
    const rows = exact ? [exact] : await this.store.artifactsUnder(runId, dir ? `${dir}/` : "");
    return rows.map((r) => ({ path: r.path, digest: r.digest, size: r.size }));
  }

  /** Registration point for proxy listings outside run artifact roots (higher modules never get imported here). */
  addProxyRoot(root: ProxyArtifactRoot): void {
    this.proxyRoots.push(root);
  }

  /** Lists an artifact-proxy folder: a registered root's, else a run's. */
  async listProxyPath(path: string): Promise<ArtifactFile[]> {
    for (const root of this.proxyRoots) {
      const files = await root.list(path);
      if (files) return files;
    }
    const { runId, relative } = await this.resolveProxyPath(path);
    return this.listArtifacts(runId, relative);
  }

  /**
   * What an artifact-proxy path belongs to, for the policy: a registered root's resource (a
   * registry version, a logged model), else the run whose artifact root it is under. A run of
   * another team answers as a missing one, here and in `resolveProxyPath`.
   */
  async proxyResource(path: string): Promise<ResourceRef> {
    for (const root of this.proxyRoots) {
      const resource = await root.resource(path);
      if (resource) return resource;
    }
    return this.proxyRunResource(path);
  }

  /** The run whose artifact root `<experiment_id>/<run_id>/artifacts[/…]` is, for the policy. */
  async proxyRunResource(path: string): Promise<ResourceRef> {
    const { experimentId, runId } = proxyRunPath(path);
    const run = await this.store.getRunOwnership(runId);
    if (!run || run.experiment_id !== experimentId) throw missingProxyRun(experimentId, runId);
    return { kind: "run", id: runId, jobId: run.job_id, experimentId, team: run.team_id, notFound: () => missingProxyRun(experimentId, runId) };
  }

  /**
   * Maps an artifact-proxy path `<experiment_id>/<run_id>/artifacts[/<relative>]` onto a run,
   * refusing anything outside an existing run's artifact root.
   */
  async resolveProxyPath(path: string): Promise<{ runId: string; relative: string }> {
    const { experimentId, runId, relative } = proxyRunPath(path);
    const run = await this.store.getRun(runId);
    if (!run || run.experiment_id !== experimentId) throw missingProxyRun(experimentId, runId);
    return { runId, relative };
  }
}

// ---- errors a missing resource gets (and one of another team, the same) ----

function missingExperiment(id: string) {
  return notFound(`experiment '${id}' does not exist; list experiments with experiments/search or \`paved experiments ls\``);
}

function missingExperimentName(name: string) {
  return notFound(
    `experiment '${name}' does not exist; create it with experiments/create or mlflow.set_experiment (\`paved train --name <job> --experiment ${name} -- <command>\` creates it too)`,
  );
}

/**
 * get-history's page token: the offset, bound to the run and key it pages, so a token from
 * another history (or another query) is refused instead of silently reading the wrong offset.
 */
/** A history page token: the run and key it pages and the last point answered (a keyset cursor). */
function encodeHistoryToken(after: HistoryCursor, runId: string, key: string): string {
  return Buffer.from(JSON.stringify({ after, run: runId, key })).toString("base64url");
}

function decodeHistoryToken(token: string | undefined, runId: string, key: string): HistoryCursor | undefined {
  if (!token) return undefined;
  let parsed: { after?: unknown; run?: unknown; key?: unknown } | undefined;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as typeof parsed;
  } catch {
    // refused below
  }
  const after = parsed?.after;
  const valid = Array.isArray(after) && after.length === 4 && after.every((n) => Number.isSafeInteger(n));
  if (!valid || parsed?.run !== runId || parsed?.key !== key) {
    throw invalidInput(`this page_token does not page the history of metric '${key}' of run '${runId}'; pass the next_page_token of that history's previous page unchanged, or none for its first page`);
  }
  return after as HistoryCursor;
}

/** What a garbage-collected run answers to its team (another team gets missingRun's answer, from the policy). */
export function collectedRun(t: { run_id: string; deleted_time: number; collected_at: number }) {
  const days = Math.max(0, Math.floor((t.collected_at - t.deleted_time) / 86_400_000));
  return notFound(
    `run '${t.run_id}' was garbage-collected at ${new Date(t.collected_at).toISOString()}, ${days} day${days === 1 ? "" : "s"} after it was deleted; it cannot be restored (start a new run)`,
    { runId: t.run_id, collectedAt: new Date(t.collected_at).toISOString(), deletedAt: new Date(t.deleted_time).toISOString() },
  );
}

function missingRun(runId: string) {
  return notFound(`run '${runId}' does not exist; find runs with runs/search or \`paved runs ls\``);
}

const PROXY_FIX = "artifact proxy paths look like <experiment_id>/<run_id>/artifacts/<file>";

function missingProxyRun(experimentId: string, runId: string) {
  return notFound(`no run '${runId}' in experiment '${experimentId}'; ${PROXY_FIX}`);
}

/** Names are unique across teams (MLflow's semantics): the answer says only that the name is taken. */
function nameTaken(name: string) {
  return alreadyExists(`experiment name '${name}' is taken (names are unique across all teams); choose another name, or use experiments/get-by-name if it is your team's`);
}

/** Splits `<experiment_id>/<run_id>/artifacts[/<relative>]`; nothing outside a run's artifact root. */
function proxyRunPath(path: string): { experimentId: string; runId: string; relative: string } {
  if (path.includes("\\") || path.includes("\0") || path.startsWith("/")) throw invalidInput(`invalid artifact path '${path}'; ${PROXY_FIX}`);
  const segments = path.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.includes("..")) throw invalidInput(`artifact path '${path}' contains '..'; ${PROXY_FIX}`);
  const [experimentId, runId, root, ...rest] = segments;
  if (!experimentId || !runId || root !== "artifacts") throw invalidInput(`artifact path '${path}' is outside any run's artifact root; ${PROXY_FIX}`);
  return { experimentId, runId, relative: rest.join("/") };
}

// ---- validation and paging helpers ----

function validateKey(kind: string, key: string): void {
  if (typeof key !== "string" || key.length === 0) throw invalidInput(`${kind} key must not be empty`);
  if (key.length > LIMITS.keyLength) throw invalidInput(`${kind} key '${key.slice(0, 40)}…' is longer than ${LIMITS.keyLength} characters; shorten it`);
  if (!KEY_CHARS.test(key)) {
    throw invalidInput(`${kind} key '${key}' has characters outside letters, digits, '_', '-', '.', ' ', ':' and '/'; rename it`);
  }
  const segments = key.split("/");
  if (key.startsWith("/") || segments.some((s) => s === ".." || s === ".") || key.includes("//") || key.endsWith("/")) {
    throw invalidInput(`${kind} key '${key}' must be a normalised relative name (no leading '/', '..', '.' or empty segments)`);
  }
}

function validateValue(what: string, value: string, max: number): void {
  if (typeof value !== "string") throw invalidInput(`${what} must be a string`);
  if (value.length > max) throw invalidInput(`${what} is ${value.length} characters long; the limit is ${max}, so shorten it or log it as an artifact`);
}

function validateTag(key: string, value: string): void {
  validateKey("tag", key);
  validateValue(`tag '${key}'`, value, LIMITS.tagValueLength);
}

function clampResults(max: number | undefined): number {
  if (max === undefined || max === null) return LIMITS.searchDefault;
  if (!Number.isInteger(max) || max < 1 || max > LIMITS.searchMax) {
    throw invalidInput(`max_results must be an integer from 1 to ${LIMITS.searchMax}; got ${max}`);
  }
  return max;
}


function experimentFilter(filter: string | undefined): (e: Experiment) => boolean {
  const clauses = parseFilter(filter, { numeric: ["creation_time", "last_update_time"], string: ["name", "experiment_id", "lifecycle_stage"] });
  for (const c of clauses) {
    if (c.entity !== "tag" && c.entity !== "attribute") throw invalidInput(`experiment filters support attributes (name, creation_time, last_update_time) and tags.<key>; got '${c.entity}s.${c.key}'`);
  }
  const tests = clauses.map((c) => {
    const like = c.op === "LIKE" || c.op === "ILIKE" ? compileLike(String(c.value), { caseInsensitive: c.op === "ILIKE" }) : undefined;
    return (e: Experiment) => {
      const actual = c.entity === "tag" ? e.tags.find((t) => t.key === c.key)?.value : e[c.key as "name" | "creation_time"];
      return like ? actual !== undefined && like(String(actual)) : matches(actual, c.op, c.value);
    };
  });
  return (e) => tests.every((test) => test(e));
}

/** Evaluates one clause in memory (experiment search; experiments are few). */
export function matches(actual: string | number | undefined, op: string, expected: string | number | string[]): boolean {
  if (actual === undefined) return false;
  switch (op) {
    case "=":
      return actual === expected;
    case "!=":
      return actual !== expected;
    case "<":
      return (actual as number) < (expected as number);
    case "<=":
      return (actual as number) <= (expected as number);
    case ">":
      return (actual as number) > (expected as number);
    case ">=":
      return (actual as number) >= (expected as number);
    case "IN":
      return (expected as string[]).includes(String(actual));
    case "NOT IN":
      return !(expected as string[]).includes(String(actual));
    case "LIKE":
    case "ILIKE":
      return compileLike(String(expected), { caseInsensitive: op === "ILIKE" })(String(actual));
    default:
      return false;
  }
}

function experimentOrder(orderBy: string[] | undefined): (a: Experiment, b: Experiment) => number {
  const terms = (orderBy ?? []).filter((t) => t.trim()).map((t) => {
    // Trimmed first: `\s*(ASC|DESC)?\s*$` on the untrimmed term backtracks quadratically on long runs of spaces.
    const m = /^(?:attributes?\.)?(name|creation_time|last_update_time|experiment_id)(?:\s+(ASC|DESC))?$/i.exec(t.trim());
    if (!m) throw invalidInput(`invalid experiment order_by '${t}'; use name, creation_time, last_update_time or experiment_id, then ASC or DESC`);
    return { key: m[1]!.toLowerCase() as "name" | "creation_time" | "last_update_time" | "experiment_id", asc: (m[2] ?? "ASC").toUpperCase() === "ASC" };
  });
  if (!terms.length) terms.push({ key: "creation_time", asc: false });
  terms.push({ key: "experiment_id", asc: true });
  return (a, b) => {
    for (const { key, asc } of terms) {
      const x = a[key];
      const y = b[key];
      if (x !== y) return (x < y ? -1 : 1) * (asc ? 1 : -1);
    }
    return 0;
  };
}
