import { HttpResponse, StreamResponse, route, type RouteDefinition } from "../../core/index.ts";
import { visibleTeams } from "../identity/index.ts";
import {
  ArtifactContentQuery,
  ArtifactPathQuery,
  DownsampledHistoryQuery,
  DownsampledHistoryResponse,
  ExperimentIdParams,
  ExperimentKeysResponse,
  ListArtifactsResponse,
  ListExperimentsResponse,
  ListRunsQuery,
  ListRunsResponse,
  MetricHistoryParams,
  MetricHistoryQuery,
  MetricHistoryResponse,
  RunIdParams,
  RunView,
  type ExperimentView,
  type RunStatus,
} from "./schema.ts";
import type { Experiment, RunDetails, TrackingService } from "./service.ts";

export function experimentView(e: Experiment): ExperimentView {
  return {
    id: e.experiment_id,
    name: e.name,
    artifactLocation: e.artifact_location,
    lifecycleStage: e.lifecycle_stage as ExperimentView["lifecycleStage"],
    createdAt: e.creation_time,
    updatedAt: e.last_update_time,
    team: e.team_id,
  };
}

const finite = (v: number | null, isNan: number) => (isNan || v === null || !Number.isFinite(v) ? null : v);

export function runView(run: RunDetails): RunView {
  const { info } = run;
  const tags = Object.fromEntries(run.tags.map((t) => [t.key, t.value]));
  // Source columns are set at creation; jobs (and MLflow clients) record it later as MLflow's tags.
  const dirty = info.source_dirty ?? (tags["paved.source.dirty"] === undefined ? null : tags["paved.source.dirty"] === "true" ? 1 : 0);
  return {
    id: info.run_id,
    experimentId: info.experiment_id,
    name: info.run_name,
    status: info.status as RunStatus,
    lifecycleStage: info.lifecycle_stage as RunView["lifecycleStage"],
    user: info.user_id,
    startTime: info.start_time,
    endTime: info.end_time,
    artifactUri: info.artifact_uri,
    jobId: info.job_id,
    source: {
      commit: info.source_commit ?? tags["mlflow.source.git.commit"] ?? null,
      dirty: dirty === null ? null : dirty === 1,
      entrypoint: info.source_entrypoint ?? tags["mlflow.source.name"] ?? null,
    },
    params: Object.fromEntries(run.params.map((p) => [p.key, p.value])),
    tags,
    metrics: Object.fromEntries(run.metrics.map((m) => [m.key, { value: finite(m.value, m.is_nan), step: m.step, timestamp: m.timestamp }])),
    inputs: run.inputs.map((i) => ({ name: i.name, digest: i.digest, sourceType: i.source_type, source: i.source })),
  };
}

/** Paved's own tracking API under /api/v1 (read side; runs are written through MLflow's API and jobs). */
export function trackingRoutes(service: TrackingService): RouteDefinition[] {
  const tags = ["tracking"];
  return [
    route({
      method: "GET",
      url: "/api/v1/experiments",
      summary: "List active experiments",
      action: "experiments:read",
      tags,
      response: ListExperimentsResponse,
      handler: async ({ principal }) => {
        const { experiments } = await service.searchExperiments({ maxResults: 50000, orderBy: ["name ASC"], teams: visibleTeams(principal, "experiments:read") });
        const activity = await service.experimentActivity(experiments.map((e) => e.experiment_id));
        return {
          experiments: experiments.map((e) => {
            const { runs = 0, lastActivity = null } = activity.get(e.experiment_id) ?? {};
            return { ...experimentView(e), runCount: runs, lastActivityAt: Math.max(e.last_update_time, lastActivity ?? 0) };
          }),
        };
      },
    }),
    route({
      method: "GET",
      url: "/api/v1/experiments/:id/keys",
      summary: "The metric, param and tag keys an experiment's runs have (a runs table's columns)",
      action: "experiments:read",
      tags,
      params: ExperimentIdParams,
      resource: async ({ params }) => service.experimentResource(params.id),
      response: ExperimentKeysResponse,
      handler: async ({ params }) => service.experimentKeys(params.id),
    }),
    route({
      method: "GET",
      url: "/api/v1/runs",
      summary: "Search runs by experiment, status and an MLflow filter string",
      action: "runs:read",
      tags,
      query: ListRunsQuery,
      response: ListRunsResponse,
      handler: async ({ query, principal }) => {
        const teams = visibleTeams(principal, "runs:read");
        const experimentIds = query.experiment ? [(await service.findExperiment(query.experiment, teams)).experiment_id] : undefined;
        const clauses = [query.filter, query.status ? `attributes.status = '${query.status}'` : undefined].filter((c) => c && c.trim());
        const { runs, nextPageToken, total } = await service.searchRuns({
          ...(experimentIds ? { experimentIds } : {}),
          ...(clauses.length ? { filter: clauses.join(" and ") } : {}),
          ...(query.orderBy ? { orderBy: query.orderBy.split(",") } : {}),
          maxResults: query.limit,
          pageToken: query.pageToken,
          withTotal: query.total === "true",
          teams,
        });
        return { runs: runs.map(runView), ...(nextPageToken ? { nextPageToken } : {}), ...(total !== undefined ? { total } : {}) };
      },
    }),
    route({
      method: "GET",
      url: "/api/v1/runs/:id",
      summary: "One run with its params, tags, latest metrics and dataset inputs",
      action: "runs:read",
      tags,
      params: RunIdParams,
      resource: async ({ params }) => service.runResource(params.id),
      response: RunView,
      handler: async ({ params }) => runView(await service.getRun(params.id)),
    }),
    route({
      method: "GET",
      url: "/api/v1/runs/:id/metrics/:key",
      summary: "The logged points of one metric of a run, by step, a page at a time (follow nextPageToken)",
      action: "runs:read",
      tags,
      params: MetricHistoryParams,
      resource: async ({ params }) => service.runResource(params.id),
      query: MetricHistoryQuery,
      response: MetricHistoryResponse,
      handler: async ({ params, query }) => {
        const { points, nextPageToken } = await service.getMetricHistory(params.id, params.key, {
          ...(query.limit !== undefined ? { maxResults: query.limit } : {}),
          ...(query.pageToken !== undefined ? { pageToken: query.pageToken } : {}),
        });
        return {
          history: points.map((p) => ({ value: Number.isFinite(p.value) ? p.value : null, step: p.step, timestamp: p.timestamp })),
          ...(nextPageToken ? { nextPageToken } : {}),
        };
      },
    }),
    route({
      method: "GET",
      url: "/api/v1/runs/:id/metrics/:key/history",
      summary: "One metric of a run for a chart: at most `points` buckets over the step or time axis, each with count, min, max and last",
      action: "runs:read",
      tags,
      params: MetricHistoryParams,
      resource: async ({ params }) => service.runResource(params.id),
      query: DownsampledHistoryQuery,
      response: DownsampledHistoryResponse,
      handler: async ({ params, query }) => {
        const history = await service.downsampleMetricHistory({ runId: params.id, key: params.key, ...query });
        const value = (v: number | null) => (v !== null && Number.isFinite(v) ? v : null);
        return {
          key: params.key,
          ...history,
          buckets: history.buckets.map((b) => ({ ...b, min: value(b.min), max: value(b.max), last: value(b.last) })),
        };
      },
    }),
    route({
      method: "GET",
      url: "/api/v1/runs/:id/artifacts",
      summary: "The files and folders directly under an artifact folder of a run",
      action: "runs:read",
      tags,
      params: RunIdParams,
      resource: async ({ params }) => service.runResource(params.id),
      query: ArtifactPathQuery,
      response: ListArtifactsResponse,
      handler: async ({ params, query }) => ({ files: await service.listArtifacts(params.id, query.path) }),
    }),
    route({
      method: "GET",
      url: "/api/v1/runs/:id/artifacts/content",
      summary: "Download one artifact file of a run (streamed; with redirect=presigned, a 307 to the object store)",
      action: "runs:read",
      tags,
      params: RunIdParams,
      resource: async ({ params }) => service.runResource(params.id),
      query: ArtifactContentQuery,
      handler: async ({ params, query }) => {
        if (query.redirect === "presigned") return presignedRedirect(await service.artifactDownloadUrl(params.id, query.path));
        const { stream, size } = await service.openArtifact(params.id, query.path);
        // A download, never a page: an artifact holding HTML or SVG does not run on Paved's origin.
        return new StreamResponse(stream, "application/octet-stream", { "content-length": String(size), "content-disposition": "attachment" });
      },
    }),
  ];
}

/** A 307 to a presigned URL: the client fetches the bytes from the object store itself. */
export function presignedRedirect(url: string): HttpResponse {
  return new HttpResponse(307, { location: url, "cache-control": "no-store" });
}
