import { z } from "zod";
import { StreamResponse, invalidInput, route, type Principal, type RouteDefinition } from "../../core/index.ts";
import { visibleTeams } from "../identity/index.ts";
import { mlflow as schema, parseMetrics } from "./schema.ts";
import { DATASET_CONTEXT_TAG, TEAM_TAG, type Experiment, type RunDetails, type TrackingService } from "./service.ts";
import { presignedRedirect } from "./routes.ts";
import type { RunRow } from "./store.ts";

// MLflow's REST API, shaped the way MLflow's server answers: ids as strings, int64 as JSON
// numbers, enums by name, empty lists left out, non-finite doubles as "NaN"/"Infinity" strings.

const PREFIXES = ["/api/2.0/mlflow", "/ajax-api/2.0/mlflow"];
const PROXY_PREFIXES = ["/api/2.0/mlflow-artifacts/artifacts", "/ajax-api/2.0/mlflow-artifacts/artifacts"];

function jsonDouble(value: number | null, isNan = 0): number | string {
  if (isNan || value === null || Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "Infinity";
  if (value === -Infinity) return "-Infinity";
  return value;
}

function list<T>(name: string, items: T[]): Record<string, T[]> {
  return items.length ? { [name]: items } : {};
}

export function experimentJson(e: Experiment) {
  return {
    experiment_id: e.experiment_id,
    name: e.name,
    artifact_location: e.artifact_location,
    lifecycle_stage: e.lifecycle_stage,
    last_update_time: e.last_update_time,
    creation_time: e.creation_time,
    ...list("tags", e.tags),
  };
}

export function runInfoJson(r: RunRow) {
  return {
    run_uuid: r.run_id,
    run_id: r.run_id,
    run_name: r.run_name,
    experiment_id: r.experiment_id,
    user_id: r.user_id,
    status: r.status,
    start_time: r.start_time,
    ...(r.end_time !== null ? { end_time: r.end_time } : {}),
    artifact_uri: r.artifact_uri,
    lifecycle_stage: r.lifecycle_stage,
  };
}

export function runJson(run: RunDetails) {
  return {
    info: runInfoJson(run.info),
    data: {
      ...list(
        "metrics",
        run.metrics.map((m) => ({ key: m.key, value: jsonDouble(m.value, m.is_nan), timestamp: m.timestamp, step: m.step })),
      ),
      ...list("params", run.params),
      ...list("tags", run.tags),
    },
    inputs: {
      ...list(
        "dataset_inputs",
        run.inputs.map((i) => ({
          ...(i.context !== null ? { tags: [{ key: DATASET_CONTEXT_TAG, value: i.context }] } : {}),
          dataset: {
            name: i.name,
            digest: i.digest,
            source_type: i.source_type,
            source: i.source,
            ...(i.schema !== null ? { schema: i.schema } : {}),
            ...(i.profile !== null ? { profile: i.profile } : {}),
          },
        })),
      ),
    },
  };
}

function runIdOf(body: { run_id?: string | undefined; run_uuid?: string | undefined }): string {
  const id = body.run_id || body.run_uuid;
  if (!id) throw invalidInput("run_id is required; pass the id returned by runs/create");
  return id;
}

function tagRecord(tags: { key: string; value: string }[] | undefined): Record<string, string> {
  return Object.fromEntries((tags ?? []).map((t) => [t.key, t.value]));
}

/** The team a new resource goes to, as identity's `teamForNew` decides (the routes get it bound to the database). */
export type NewResourceTeam = (principal: Principal, requested: string | undefined) => Promise<string>;

/** The MLflow tracking REST routes, under /api/2.0/mlflow and /ajax-api/2.0/mlflow. */
export function mlflowRoutes(service: TrackingService, now: () => number, teamForNew: NewResourceTeam): RouteDefinition[] {
  // MLflow's experiments/create has no team field: the `paved.team` tag picks it, else the caller's default.
  const newExperimentTeam = (principal: Principal, tags: { key: string; value: string }[] | undefined) =>
    teamForNew(principal, tags?.find((t) => t.key === TEAM_TAG)?.value);
  const searchExperiments = async (input: z.output<typeof schema.searchExperiments>, principal: Principal) => {
    const { experiments, nextPageToken } = await service.searchExperiments({
      viewType: input.view_type,
      filter: input.filter,
      orderBy: input.order_by,
      maxResults: input.max_results,
      pageToken: input.page_token,
      teams: visibleTeams(principal, "experiments:read"),
    });
    return { ...list("experiments", experiments.map(experimentJson)), ...(nextPageToken ? { next_page_token: nextPageToken } : {}) };
  };
  const searchRuns = async (input: z.output<typeof schema.searchRuns>, principal: Principal) => {
    // An experiment id of another team finds nothing, as an unknown id does.
    const { runs, nextPageToken } = await service.searchRuns({
      experimentIds: input.experiment_ids ?? [],
      filter: input.filter,
      orderBy: input.order_by,
      viewType: input.run_view_type,
      maxResults: input.max_results,
      pageToken: input.page_token,
      teams: visibleTeams(principal, "runs:read"),
    });
    return { ...list("runs", runs.map(runJson)), ...(nextPageToken ? { next_page_token: nextPageToken } : {}) };
  };
  const getHistory = async (input: z.output<typeof schema.getHistory>) => {
    const { points, nextPageToken } = await service.getMetricHistory(runIdOf(input), input.metric_key, {
      maxResults: input.max_results,
      pageToken: input.page_token,
    });
    return {
      ...list(
        "metrics",
        points.map((p) => ({ key: p.key, value: jsonDouble(p.value), timestamp: p.timestamp, step: p.step })),
      ),
      ...(nextPageToken ? { next_page_token: nextPageToken } : {}),
    };
  };

  const routes: RouteDefinition[] = [
    // ---- experiments ----
    route({
      method: "POST",
      url: "/experiments/create",
      summary: "MLflow: create an experiment",
      action: "experiments:write",
      body: schema.createExperiment,
      resource: async ({ body, principal }) => ({ kind: "experiment", id: "(new)", team: await newExperimentTeam(principal, body.tags) }),
      handler: async ({ body, principal }) => {
        const { [TEAM_TAG]: _team, ...tags } = tagRecord(body.tags);
        return {
          experiment_id: await service.createExperiment({ name: body.name, team: await newExperimentTeam(principal, body.tags), artifactLocation: body.artifact_location, tags }),
        };
      },
    }),
    route({
      method: "GET",
      url: "/experiments/get",
      summary: "MLflow: get an experiment by id",
      action: "experiments:read",
      query: schema.experimentId,
      resource: async ({ query }) => service.experimentResource(query.experiment_id),
      handler: async ({ query }) => ({ experiment: experimentJson(await service.getExperiment(query.experiment_id)) }),
    }),
    route({
      method: "GET",
      url: "/experiments/get-by-name",
      summary: "MLflow: get an experiment by name",
      action: "experiments:read",
      query: schema.getByName,
      resource: async ({ query }) => service.experimentResourceByName(query.experiment_name),
      handler: async ({ query }) => ({ experiment: experimentJson(await service.getExperimentByName(query.experiment_name)) }),
    }),
    route({
      method: "POST",
      url: "/experiments/search",
      summary: "MLflow: search experiments",
      action: "experiments:read",
      body: schema.searchExperiments,
      handler: async ({ body, principal }) => searchExperiments(body, principal),
    }),
    route({
      method: "GET",
      url: "/experiments/search",
      summary: "MLflow: search experiments",
      action: "experiments:read",
      query: schema.searchExperiments,
      handler: async ({ query, principal }) => searchExperiments(query, principal),
    }),
    route({
      method: "GET",
      url: "/experiments/list",
      summary: "MLflow 1.x: list experiments",
      action: "experiments:read",
      query: z.object({ view_type: z.enum(["ACTIVE_ONLY", "DELETED_ONLY", "ALL"]).optional() }),
      handler: async ({ query, principal }) => {
        const { experiments } = await service.searchExperiments({ viewType: query.view_type, maxResults: 50000, teams: visibleTeams(principal, "experiments:read") });
        return list("experiments", experiments.map(experimentJson));
      },
    }),
    route({
      method: "POST",
      url: "/experiments/update",
      summary: "MLflow: rename an experiment",
      action: "experiments:write",
      body: schema.updateExperiment,
      resource: async ({ body }) => service.experimentResource(body.experiment_id),
      handler: async ({ body }) => {
        await service.renameExperiment(body.experiment_id, body.new_name);
        return {};
      },
    }),
    route({
      method: "POST",
      url: "/experiments/delete",
      summary: "MLflow: delete an experiment (and mark its runs deleted)",
      action: "experiments:write",
      body: schema.experimentId,
      resource: async ({ body }) => service.experimentResource(body.experiment_id),
      handler: async ({ body }) => {
        await service.deleteExperiment(body.experiment_id);
        return {};
      },
    }),
    route({
      method: "POST",
      url: "/experiments/restore",
      summary: "MLflow: restore a deleted experiment",
      action: "experiments:write",
      body: schema.experimentId,
      resource: async ({ body }) => service.experimentResource(body.experiment_id),
      handler: async ({ body }) => {
        await service.restoreExperiment(body.experiment_id);
        return {};
      },
    }),
    route({
      method: "POST",
      url: "/experiments/set-experiment-tag",
      summary: "MLflow: set an experiment tag",
      action: "experiments:write",
      body: schema.setExperimentTag,
      resource: async ({ body }) => service.experimentResource(body.experiment_id),
      handler: async ({ body }) => {
        await service.setExperimentTag(body.experiment_id, body.key, body.value);
        return {};
      },
    }),

    // ---- runs ----
    route({
      method: "POST",
      url: "/runs/create",
      summary: "MLflow: start a run",
      action: "runs:create",
      body: schema.createRun,
      // The run goes to the experiment's team: one of another team answers as a missing one.
      resource: async ({ body }) => ({ ...(await service.experimentResource(body.experiment_id || "0")), kind: "run", id: "(new)" }),
      handler: async ({ body, principal }) => {
        // The author is whoever holds the token (a job's runs belong to its submitter): the
        // client's user_id and mlflow.user tag are what the caller claims, not who it is.
        const userId = principal.onBehalfOf ?? principal.name;
        const tags = { ...tagRecord(body.tags), "mlflow.user": userId };
        const { runId } = await service.createRun({
          experimentId: body.experiment_id || "0",
          runName: body.run_name ?? "",
          userId,
          ...(principal.jobId ? { jobId: principal.jobId } : {}),
          ...(body.start_time !== undefined ? { startTime: body.start_time } : {}),
          tags,
        });
        return { run: runJson(await service.getRun(runId)) };
      },
    }),
    route({
      method: "GET",
      url: "/runs/get",
      summary: "MLflow: get a run with its params, latest metrics, tags and inputs",
      action: "runs:read",
      query: schema.runRef,
      resource: async ({ query }) => service.runResource(runIdOf(query)),
      handler: async ({ query }) => ({ run: runJson(await service.getRun(runIdOf(query))) }),
    }),
    route({
      method: "POST",
      url: "/runs/update",
      summary: "MLflow: update a run's status, end time or name",
      action: "runs:write",
      resource: async ({ body }) => service.runResource(runIdOf(body)),
      body: schema.updateRun,
      handler: async ({ body }) => {
        const info = await service.updateRun(runIdOf(body), {
          ...(body.status ? { status: body.status } : {}),
          ...(body.end_time !== undefined ? { endTime: body.end_time } : {}),
          ...(body.run_name ? { runName: body.run_name } : {}),
        });
        return { run_info: runInfoJson(info) };
      },
    }),
    route({
      method: "POST",
      url: "/runs/delete",
      summary: "MLflow: mark a run deleted",
      action: "runs:delete",
      body: schema.runRef,
      resource: async ({ body }) => service.runResource(runIdOf(body)),
      handler: async ({ body }) => {
        await service.deleteRun(runIdOf(body));
        return {};
      },
    }),
    route({
      method: "POST",
      url: "/runs/restore",
      summary: "MLflow: restore a deleted run",
      action: "runs:delete",
      body: schema.runRef,
      resource: async ({ body }) => service.runResource(runIdOf(body)),
      handler: async ({ body }) => {
        await service.restoreRun(runIdOf(body));
        return {};
      },
    }),
    route({
      method: "POST",
      url: "/runs/search",
      summary: "MLflow: search runs with a filter string, order_by and paging",
      action: "runs:read",
      body: schema.searchRuns,
      handler: async ({ body, principal }) => searchRuns(body, principal),
    }),
    route({
      method: "GET",
      url: "/runs/search",
      summary: "MLflow: search runs with a filter string, order_by and paging",
      action: "runs:read",
      query: schema.searchRuns,
      handler: async ({ query, principal }) => searchRuns(query, principal),
    }),
    route({
      method: "POST",
      url: "/runs/log-metric",
      summary: "MLflow: log one metric point",
      action: "runs:write",
      hot: true,
      resource: async ({ body }) => service.runResource(runIdOf(body)),
      body: schema.logMetric,
      handler: async ({ body }) => {
        await service.logBatch(runIdOf(body), {
          metrics: [{ key: body.key, value: body.value, step: body.step ?? 0, timestamp: body.timestamp as number }],
        });
        return {};
      },
    }),
    route({
      method: "POST",
      url: "/runs/log-parameter",
      summary: "MLflow: log one param (write-once)",
      action: "runs:write",
      resource: async ({ body }) => service.runResource(runIdOf(body)),
      body: schema.logParam,
      handler: async ({ body }) => {
        await service.logBatch(runIdOf(body), { params: [{ key: body.key, value: body.value }] });
        return {};
      },
    }),
    route({
      method: "POST",
      url: "/runs/log-batch",
      summary: "MLflow: log metrics, params and tags in one transaction",
      action: "runs:write",
      // A training loop's stream of metrics: answered by the server's hot lane (src/http/hot-lane.ts).
      hot: true,
      resource: async ({ body }) => service.runResource(runIdOf(body)),
      body: schema.logBatch,
      handler: async ({ body }) => {
        await service.logBatch(runIdOf(body), {
          metrics: parseMetrics(body.metrics, now()),
          params: body.params,
          tags: body.tags,
        });
        return {};
      },
    }),
    route({
      method: "POST",
      url: "/runs/set-tag",
      summary: "MLflow: set a run tag",
      action: "runs:write",
      resource: async ({ body }) => service.runResource(runIdOf(body)),
      body: schema.setTag,
      handler: async ({ body }) => {
        await service.logBatch(runIdOf(body), { tags: [{ key: body.key, value: body.value }] });
        return {};
      },
    }),
    route({
      method: "POST",
      url: "/runs/delete-tag",
      summary: "MLflow: delete a run tag",
      action: "runs:write",
      resource: async ({ body }) => service.runResource(runIdOf(body)),
      body: schema.deleteTag,
      handler: async ({ body }) => {
        await service.deleteTag(runIdOf(body), body.key);
        return {};
      },
    }),
    route({
      method: "POST",
      url: "/runs/log-inputs",
      summary: "MLflow: record the datasets a run read (lineage)",
      action: "runs:write",
      resource: async ({ body }) => service.runResource(runIdOf(body)),
      body: schema.logInputs,
      handler: async ({ body }) => {
        await service.logInputs(
          runIdOf(body),
          body.datasets.map((d) => {
            const context = d.tags?.find((t) => t.key === DATASET_CONTEXT_TAG)?.value;
            return {
              name: d.dataset.name,
              digest: d.dataset.digest,
              sourceType: d.dataset.source_type,
              source: d.dataset.source,
              ...(d.dataset.schema !== undefined ? { schema: d.dataset.schema } : {}),
              ...(d.dataset.profile !== undefined ? { profile: d.dataset.profile } : {}),
              ...(context !== undefined ? { context } : {}),
            };
          }),
        );
        return {};
      },
    }),
    route({
      method: "GET",
      url: "/metrics/get-history",
      summary: "MLflow: every logged point of one metric",
      action: "runs:read",
      query: schema.getHistory,
      resource: async ({ query }) => service.runResource(runIdOf(query)),
      handler: async ({ query }) => getHistory(query),
    }),
    route({
      method: "POST",
      url: "/metrics/get-history",
      summary: "MLflow: every logged point of one metric",
      action: "runs:read",
      body: schema.getHistory,
      resource: async ({ body }) => service.runResource(runIdOf(body)),
      handler: async ({ body }) => getHistory(body),
    }),
    route({
      method: "GET",
      url: "/artifacts/list",
      summary: "MLflow: list a run's artifacts (paths relative to the artifact root)",
      action: "runs:read",
      query: schema.listArtifacts,
      resource: async ({ query }) => service.runResource(runIdOf(query)),
      handler: async ({ query }) => {
        const runId = runIdOf(query);
        const run = await service.getRun(runId);
        const files = await service.listArtifacts(runId, query.path);
        return {
          root_uri: run.info.artifact_uri,
          ...list(
            "files",
            files.map((f) => ({ path: f.path, is_dir: f.isDir, ...(f.size !== null ? { file_size: f.size } : {}) })),
          ),
        };
      },
    }),
  ];

  const out: RouteDefinition[] = [];
  for (const prefix of PREFIXES) {
    for (const def of routes) out.push({ ...def, url: prefix + def.url, errorStyle: "mlflow", tags: ["mlflow"] });
  }
  for (const prefix of PROXY_PREFIXES) out.push(...proxyRoutes(service, prefix));
  return out;
}

/** The Content-Length an upload declares, if any (what the storage quota is checked against before the body is read). */
function declaredLength(headers: Record<string, string | string[] | undefined>): number | undefined {
  const value = Number(headers["content-length"]);
  return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

/** MLflow's artifact proxy (`mlflow-artifacts:/` URIs): upload, download and list run artifacts. */
function proxyRoutes(service: TrackingService, prefix: string): RouteDefinition[] {
  return [
    route({
      method: "PUT",
      url: `${prefix}/*`,
      summary: "MLflow artifact proxy: upload one file (raw body)",
      action: "runs:write",
      params: schema.proxyPath,
      resource: async ({ params }) => service.proxyRunResource(params["*"]),
      rawBody: true,
      errorStyle: "mlflow",
      tags: ["mlflow"],
      handler: async ({ params, stream, headers }) => {
        const { runId, relative } = await service.resolveProxyPath(params["*"]);
        if (!stream) throw invalidInput("the upload has no body; send the file's bytes as the request body");
        await service.uploadArtifact(runId, relative, stream, declaredLength(headers));
        return {};
      },
    }),
    route({
      method: "GET",
      url: `${prefix}/*`,
      summary: "MLflow artifact proxy: download one file (with redirect=presigned, a 307 to the object store)",
      action: "runs:read",
      params: schema.proxyPath,
      query: schema.proxyDownload,
      resource: async ({ params }) => service.proxyRunResource(params["*"]),
      errorStyle: "mlflow",
      tags: ["mlflow"],
      handler: async ({ params, query }) => {
        const { runId, relative } = await service.resolveProxyPath(params["*"]);
        if (query.redirect === "presigned") return presignedRedirect(await service.artifactDownloadUrl(runId, relative));
        const { stream, size } = await service.openArtifact(runId, relative);
        const name = relative.split("/").pop() ?? "artifact";
        return new StreamResponse(stream, "application/octet-stream", {
          "content-length": String(size),
          "content-disposition": `attachment; filename="${name.replace(/["\\\r\n]/g, "_")}"`,
        });
      },
    }),
    route({
      method: "GET",
      url: prefix,
      summary: "MLflow artifact proxy: list the files directly under a run artifact folder",
      action: "runs:read",
      query: schema.proxyList,
      // Whoever owns the folder (a run, a registry version, a logged model) decides; another team's answers as missing.
      resource: async ({ query }) => service.proxyResource(query.path ?? ""),
      errorStyle: "mlflow",
      tags: ["mlflow"],
      handler: async ({ query }) => {
        const files = await service.listProxyPath(query.path ?? "");
        // The proxy answers with names relative to the listed folder; the client joins them.
        return list(
          "files",
          files.map((f) => ({ path: f.path.split("/").pop()!, is_dir: f.isDir, ...(f.size !== null ? { file_size: f.size } : {}) })),
        );
      },
    }),
  ];
}
