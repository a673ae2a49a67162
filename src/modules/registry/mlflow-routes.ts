import type { z } from "zod";
import { StreamResponse, invalidInput, parseInput, route, type Principal, type RouteContext, type RouteDefinition } from "../../core/index.ts";
import { visibleTeams } from "../identity/index.ts";
import { TEAM_TAG, presignedRedirect } from "../tracking/index.ts";
import { mlflow as trackingSchema } from "../tracking/schema.ts";
import type { LoggedModel, LoggedModelService } from "./logged-model-service.ts";
import { statusName } from "./logged-model-service.ts";
import { mlflow as schema } from "./schema.ts";
import type { ModelVersion, RegisteredModel, RegistryService } from "./service.ts";

// MLflow's model-registry and logged-model REST API, shaped the way MLflow's server answers:
// versions and ids as strings, times as numbers, enums by name, aliases as lists.

const PREFIXES = ["/api/2.0/mlflow", "/ajax-api/2.0/mlflow"];
const PROXY_PREFIXES = ["/api/2.0/mlflow-artifacts/artifacts", "/ajax-api/2.0/mlflow-artifacts/artifacts"];

function list<T>(name: string, items: T[]): Record<string, T[]> {
  return items.length ? { [name]: items } : {};
}

export function modelVersionJson(v: ModelVersion) {
  return {
    name: v.name,
    version: String(v.version),
    creation_timestamp: v.creation_time,
    last_updated_timestamp: v.last_update_time,
    user_id: v.user_id,
    current_stage: v.current_stage,
    ...(v.description !== null ? { description: v.description } : {}),
    source: v.source,
    ...(v.run_id !== null ? { run_id: v.run_id } : {}),
    status: v.status,
    ...list("tags", v.tags),
    aliases: v.aliases,
    ...(v.logged_model_id !== null ? { model_id: v.logged_model_id } : {}),
  };
}

export function registeredModelJson(m: RegisteredModel) {
  return {
    name: m.name,
    creation_timestamp: m.creation_time,
    last_updated_timestamp: m.last_update_time,
    user_id: m.user_id,
    ...(m.description !== null ? { description: m.description } : {}),
    ...(m.latest ? { latest_versions: [modelVersionJson(m.latest)] } : {}),
    ...list("tags", m.tags),
    aliases: m.aliases.map((a) => ({ alias: a.alias, version: String(a.version) })),
  };
}

export function loggedModelJson(m: LoggedModel) {
  return {
    info: {
      model_id: m.model_id,
      experiment_id: m.experiment_id,
      name: m.name,
      creation_timestamp_ms: m.creation_time,
      last_updated_timestamp_ms: m.last_update_time,
      artifact_uri: m.artifact_location,
      status: statusName(m.status),
      ...(m.model_type !== null ? { model_type: m.model_type } : {}),
      ...(m.source_run_id !== null ? { source_run_id: m.source_run_id } : {}),
      ...(m.status_message !== null ? { status_message: m.status_message } : {}),
      ...list("tags", m.tags),
    },
    data: { ...list("params", m.params) },
  };
}

/** DELETE requests carry their fields in a JSON body (Python client) or the query (web UIs): accept both. */
function either<S extends z.ZodType>(input: S, ctx: RouteContext<unknown, unknown, unknown>): z.output<S> {
  const query = (ctx.query ?? {}) as Record<string, unknown>;
  const body = ctx.body && typeof ctx.body === "object" ? (ctx.body as Record<string, unknown>) : {};
  return parseInput(input, { ...query, ...body }, "request");
}

function finalStatus(status: z.output<typeof schema.finalizeLoggedModel>["status"]): "READY" | "FAILED" | "PENDING" {
  return status.endsWith("READY") ? "READY" : status.endsWith("FAILED") ? "FAILED" : "PENDING";
}

/** The team a new resource goes to, as identity's `teamForNew` decides (bound to the database by index.ts). */
export type NewResourceTeam = (principal: Principal, requested: string | undefined) => Promise<string>;

/** The MLflow registry and logged-model routes, under /api/2.0/mlflow and /ajax-api/2.0/mlflow. */
export function mlflowRegistryRoutes(registry: RegistryService, loggedModels: LoggedModelService, teamForNew: NewResourceTeam): RouteDefinition[] {
  // MLflow's registered-models/create has no team field: the `paved.team` tag picks it, else the caller's default.
  const newModelTeam = (principal: Principal, tags: { key: string; value: string }[] | undefined) => teamForNew(principal, tags?.find((t) => t.key === TEAM_TAG)?.value);
  const model = async ({ name }: { name: string }) => registry.modelResource(name);
  const searchModels = async (q: z.output<typeof schema.searchModels>, principal: Principal) => {
    const { models, nextPageToken } = await registry.searchModels({
      filter: q.filter,
      orderBy: q.order_by,
      maxResults: q.max_results,
      pageToken: q.page_token,
      teams: visibleTeams(principal, "models:read"),
    });
    return { ...list("registered_models", models.map(registeredModelJson)), ...(nextPageToken ? { next_page_token: nextPageToken } : {}) };
  };
  const searchVersions = async (q: z.output<typeof schema.searchVersions>, principal: Principal) => {
    const { versions, nextPageToken } = await registry.searchVersions({
      filter: q.filter,
      orderBy: q.order_by,
      maxResults: q.max_results,
      pageToken: q.page_token,
      teams: visibleTeams(principal, "models:read"),
    });
    return { ...list("model_versions", versions.map(modelVersionJson)), ...(nextPageToken ? { next_page_token: nextPageToken } : {}) };
  };
  const latest = async (q: z.output<typeof schema.latestVersions>) => list("model_versions", (await registry.latestVersions(q.name, q.stages)).map(modelVersionJson));
  const searchLogged = async (b: z.output<typeof schema.searchLoggedModels>, principal: Principal) => {
    const { models, nextPageToken } = await loggedModels.search({
      experimentIds: b.experiment_ids ?? [],
      teams: visibleTeams(principal, "models:read"),
      filter: b.filter ?? undefined,
      orderBy: b.order_by?.map((o) => ({ field: o.field_name, ascending: o.ascending ?? true })),
      maxResults: b.max_results,
      pageToken: b.page_token ?? undefined,
    });
    return { ...list("models", models.map(loggedModelJson)), ...(nextPageToken ? { next_page_token: nextPageToken } : {}) };
  };

  const routes: RouteDefinition[] = [
    // ---- registered models ----
    route({
      method: "POST",
      url: "/registered-models/create",
      summary: "MLflow: create a registered model",
      action: "models:write",
      body: schema.createModel,
      resource: async ({ body, principal }) => ({ kind: "model", id: "(new)", team: await newModelTeam(principal, body.tags) }),
      handler: async ({ body, principal }) => {
        const team = await newModelTeam(principal, body.tags);
        const tags = body.tags?.filter((t) => t.key !== TEAM_TAG);
        return { registered_model: registeredModelJson(await registry.createModel({ name: body.name, team, description: body.description, tags, userId: principal.name })) };
      },
    }),
    route({
      method: "GET",
      url: "/registered-models/get",
      summary: "MLflow: get a registered model",
      action: "models:read",
      query: schema.modelName,
      resource: async ({ query }) => model(query),
      handler: async ({ query }) => ({ registered_model: registeredModelJson(await registry.getModel(query.name)) }),
    }),
    route({
      method: "POST",
      url: "/registered-models/rename",
      summary: "MLflow: rename a registered model",
      action: "models:write",
      body: schema.renameModel,
      resource: async ({ body }) => model(body),
      handler: async ({ body }) => ({ registered_model: registeredModelJson(await registry.renameModel(body.name, body.new_name)) }),
    }),
    route({
      method: "PATCH",
      url: "/registered-models/update",
      summary: "MLflow: update a registered model's description",
      action: "models:write",
      body: schema.updateModel,
      resource: async ({ body }) => model(body),
      handler: async ({ body }) => ({ registered_model: registeredModelJson(await registry.updateModel(body.name, body.description)) }),
    }),
    route({
      method: "DELETE",
      url: "/registered-models/delete",
      summary: "MLflow: delete a registered model with all its versions",
      action: "models:delete",
      resource: async (ctx) => model(either(schema.modelName, ctx)),
      handler: async (ctx) => {
        await registry.deleteModel(either(schema.modelName, ctx).name);
        return {};
      },
    }),
    route({
      method: "GET",
      url: "/registered-models/search",
      summary: "MLflow: search registered models (filter on name and tags, order_by, paging)",
      action: "models:read",
      query: schema.searchModels,
      handler: async ({ query, principal }) => searchModels(query, principal),
    }),
    route({
      method: "POST",
      url: "/registered-models/search",
      summary: "MLflow: search registered models (filter on name and tags, order_by, paging)",
      action: "models:read",
      body: schema.searchModels,
      handler: async ({ body, principal }) => searchModels(body, principal),
    }),
    route({
      method: "POST",
      url: "/registered-models/set-tag",
      summary: "MLflow: set a registered model tag",
      action: "models:write",
      body: schema.modelTag,
      resource: async ({ body }) => model(body),
      handler: async ({ body }) => {
        await registry.setModelTag(body.name, body.key, body.value);
        return {};
      },
    }),
    route({
      method: "DELETE",
      url: "/registered-models/delete-tag",
      summary: "MLflow: delete a registered model tag",
      action: "models:write",
      resource: async (ctx) => model(either(schema.modelTagKey, ctx)),
      handler: async (ctx) => {
        const input = either(schema.modelTagKey, ctx);
        await registry.deleteModelTag(input.name, input.key);
        return {};
      },
    }),
    route({
      method: "POST",
      url: "/registered-models/alias",
      summary: "MLflow: point an alias at a version (moves an existing alias)",
      action: "models:write",
      body: schema.setAlias,
      resource: async ({ body }) => model(body),
      handler: async ({ body, principal }) => {
        await registry.setAlias(body.name, body.alias, body.version, { actor: principal });
        return {};
      },
    }),
    route({
      method: "DELETE",
      url: "/registered-models/alias",
      summary: "MLflow: delete an alias",
      action: "models:write",
      resource: async (ctx) => model(either(schema.alias, ctx)),
      handler: async (ctx) => {
        const input = either(schema.alias, ctx);
        await registry.deleteAlias(input.name, input.alias);
        return {};
      },
    }),
    route({
      method: "GET",
      url: "/registered-models/alias",
      summary: "MLflow: the version an alias points at",
      action: "models:read",
      query: schema.alias,
      resource: async ({ query }) => model(query),
      handler: async ({ query }) => ({ model_version: modelVersionJson(await registry.getVersionByAlias(query.name, query.alias)) }),
    }),
    route({
      method: "POST",
      url: "/registered-models/get-latest-versions",
      summary: "MLflow: the newest version of a model per stage",
      action: "models:read",
      body: schema.latestVersions,
      resource: async ({ body }) => model(body),
      handler: async ({ body }) => latest(body),
    }),
    route({
      method: "GET",
      url: "/registered-models/get-latest-versions",
      summary: "MLflow: the newest version of a model per stage",
      action: "models:read",
      query: schema.latestVersions,
      resource: async ({ query }) => model(query),
      handler: async ({ query }) => latest(query),
    }),

    // ---- model versions ----
    route({
      method: "POST",
      url: "/model-versions/create",
      summary: "MLflow: register a version (files are copied into the registry)",
      action: "models:write",
      body: schema.createVersion,
      resource: async ({ body }) => model(body),
      handler: async ({ body, principal }) => ({
        model_version: modelVersionJson(
          await registry.createVersion({
            name: body.name,
            source: body.source,
            runId: body.run_id,
            description: body.description,
            tags: body.tags,
            userId: principal.name,
            loggedModelId: body.model_id,
            principal,
          }),
        ),
      }),
    }),
    route({
      method: "GET",
      url: "/model-versions/get",
      summary: "MLflow: get a model version",
      action: "models:read",
      query: schema.versionRef,
      resource: async ({ query }) => model(query),
      handler: async ({ query }) => ({ model_version: modelVersionJson(await registry.getVersion(query.name, query.version)) }),
    }),
    route({
      method: "PATCH",
      url: "/model-versions/update",
      summary: "MLflow: update a version's description",
      action: "models:write",
      body: schema.updateVersion,
      resource: async ({ body }) => model(body),
      handler: async ({ body }) => ({ model_version: modelVersionJson(await registry.updateVersion(body.name, body.version, body.description)) }),
    }),
    route({
      method: "DELETE",
      url: "/model-versions/delete",
      summary: "MLflow: delete a model version (its aliases go with it)",
      action: "models:delete",
      resource: async (ctx) => model(either(schema.versionRef, ctx)),
      handler: async (ctx) => {
        const input = either(schema.versionRef, ctx);
        await registry.deleteVersion(input.name, input.version);
        return {};
      },
    }),
    route({
      method: "GET",
      url: "/model-versions/search",
      summary: "MLflow: search versions (filter name = '…', run_id = '…', tags), order_by, paging",
      action: "models:read",
      query: schema.searchVersions,
      handler: async ({ query, principal }) => searchVersions(query, principal),
    }),
    route({
      method: "POST",
      url: "/model-versions/search",
      summary: "MLflow: search versions (filter name = '…', run_id = '…', tags), order_by, paging",
      action: "models:read",
      body: schema.searchVersions,
      handler: async ({ body, principal }) => searchVersions(body, principal),
    }),
    route({
      method: "GET",
      url: "/model-versions/get-download-uri",
      summary: "MLflow: where the version's copied files are served (an mlflow-artifacts:/registry/… URI)",
      action: "models:read",
      query: schema.versionRef,
      resource: async ({ query }) => model(query),
      handler: async ({ query }) => ({ artifact_uri: registry.downloadUri(await registry.getVersion(query.name, query.version)) }),
    }),
    route({
      method: "POST",
      url: "/model-versions/set-tag",
      summary: "MLflow: set a model version tag",
      action: "models:write",
      body: schema.versionTag,
      resource: async ({ body }) => model(body),
      handler: async ({ body }) => {
        await registry.setVersionTag(body.name, body.version, body.key, body.value);
        return {};
      },
    }),
    route({
      method: "DELETE",
      url: "/model-versions/delete-tag",
      summary: "MLflow: delete a model version tag",
      action: "models:write",
      resource: async (ctx) => model(either(schema.versionTagKey, ctx)),
      handler: async (ctx) => {
        const input = either(schema.versionTagKey, ctx);
        await registry.deleteVersionTag(input.name, input.version, input.key);
        return {};
      },
    }),

    // ---- logged models (MLflow 3) ----
    route({
      method: "POST",
      url: "/logged-models",
      summary: "MLflow 3: create a logged model (PENDING until finalized)",
      action: "runs:write",
      body: schema.createLoggedModel,
      resource: async ({ body, principal }) => loggedModels.creationResource(body.experiment_id, body.source_run_id, principal),
      handler: async ({ body, principal }) => ({
        model: loggedModelJson(
          await loggedModels.create({
            experimentId: body.experiment_id,
            name: body.name ?? undefined,
            modelType: body.model_type ?? undefined,
            sourceRunId: body.source_run_id ?? undefined,
            tags: body.tags,
            params: body.params,
            userId: principal.name,
          }),
        ),
      }),
    }),
    route({
      method: "POST",
      url: "/logged-models/search",
      summary: "MLflow 3: search logged models of experiments",
      action: "models:read",
      body: schema.searchLoggedModels,
      handler: async ({ body, principal }) => searchLogged(body, principal),
    }),
    route({
      method: "GET",
      url: "/logged-models/:model_id",
      summary: "MLflow 3: get a logged model",
      action: "models:read",
      params: schema.loggedModelId,
      resource: async ({ params }) => loggedModels.resource(params.model_id),
      handler: async ({ params }) => ({ model: loggedModelJson(await loggedModels.get(params.model_id)) }),
    }),
    route({
      method: "PATCH",
      url: "/logged-models/:model_id",
      summary: "MLflow 3: finalize a logged model (READY or UPLOAD_FAILED)",
      action: "runs:write",
      params: schema.loggedModelId,
      resource: async ({ params }) => loggedModels.resource(params.model_id),
      body: schema.finalizeLoggedModel,
      handler: async ({ params, body }) => ({ model: loggedModelJson(await loggedModels.finalize(params.model_id, finalStatus(body.status))) }),
    }),
    route({
      method: "DELETE",
      url: "/logged-models/:model_id",
      summary: "MLflow 3: delete a logged model",
      action: "runs:write",
      params: schema.loggedModelId,
      resource: async ({ params }) => loggedModels.resource(params.model_id),
      handler: async ({ params }) => {
        await loggedModels.delete(params.model_id);
        return {};
      },
    }),
    route({
      method: "PATCH",
      url: "/logged-models/:model_id/tags",
      summary: "MLflow 3: set logged model tags",
      action: "runs:write",
      params: schema.loggedModelId,
      resource: async ({ params }) => loggedModels.resource(params.model_id),
      body: schema.loggedModelTags,
      handler: async ({ params, body }) => {
        await loggedModels.setTags(params.model_id, body.tags);
        return {};
      },
    }),
    route({
      method: "DELETE",
      url: "/logged-models/:model_id/tags/:tag_key",
      summary: "MLflow 3: delete a logged model tag",
      action: "runs:write",
      params: schema.loggedModelTagParams,
      resource: async ({ params }) => loggedModels.resource(params.model_id),
      handler: async ({ params }) => {
        await loggedModels.deleteTag(params.model_id, params.tag_key);
        return {};
      },
    }),
    route({
      method: "POST",
      url: "/logged-models/:model_id/params",
      summary: "MLflow 3: log logged model params (write-once)",
      action: "runs:write",
      params: schema.loggedModelId,
      resource: async ({ params }) => loggedModels.resource(params.model_id),
      body: schema.loggedModelParams,
      handler: async ({ params, body }) => {
        await loggedModels.logParams(params.model_id, body.params);
        return {};
      },
    }),
    route({
      method: "POST",
      url: "/runs/outputs",
      summary: "MLflow 3: record the logged models a run produced",
      action: "runs:write",
      body: schema.logOutputs,
      resource: async ({ body }) => loggedModels.runResource(body.run_id),
      handler: async ({ body, principal }) => {
        await loggedModels.logOutputs(
          body.run_id,
          body.models.map((m) => ({ modelId: m.model_id, step: m.step ?? 0 })),
          principal,
        );
        return {};
      },
    }),
  ];

  const out: RouteDefinition[] = [];
  for (const prefix of PREFIXES) {
    for (const def of routes) out.push({ ...def, url: prefix + def.url, errorStyle: "mlflow", tags: ["mlflow"] });
  }
  for (const prefix of PROXY_PREFIXES) out.push(...proxyRoutes(registry, loggedModels, prefix));
  return out;
}

function download(stream: NodeJS.ReadableStream, size: number, path: string): StreamResponse {
  const name = path.split("/").pop() || "artifact";
  return new StreamResponse(stream as never, "application/octet-stream", {
    "content-length": String(size),
    "content-disposition": `attachment; filename="${name.replace(/["\\\r\n]/g, "_")}"`,
  });
}

/**
 * Artifact-proxy routes for paths outside run roots: copied version files under
 * `registry/<name>/<version>/…` (read-only) and logged model files under
 * `<experiment_id>/models/<model_id>/artifacts/…`. Listing goes through tracking's list route,
 * which asks the roots registered with it.
 */
function proxyRoutes(registry: RegistryService, loggedModels: LoggedModelService, prefix: string): RouteDefinition[] {
  const fix = "logged model artifact paths look like <experiment_id>/models/<model_id>/artifacts/<file>";
  const loggedModelPath = async (params: { experimentId: string; "*": string }) => {
    const resolved = await loggedModels.resolveProxyPath(`${params.experimentId}/models/${params["*"]}`);
    if (!resolved || !resolved.relative) throw invalidInput(fix);
    return resolved;
  };
  const loggedModelResource = async (params: { experimentId: string; "*": string }) => {
    const resource = await loggedModels.proxyResource(`${params.experimentId}/models/${params["*"]}`);
    if (!resource) throw invalidInput(fix);
    return resource;
  };
  return [
    route({
      method: "GET",
      url: `${prefix}/registry/*`,
      summary: "Artifact proxy: download one file of a registered model version (with redirect=presigned, a 307 to the object store)",
      action: "models:read",
      params: schema.proxyPath,
      query: trackingSchema.proxyDownload,
      resource: async ({ params }) => {
        const resource = await registry.proxyResource(`registry/${params["*"]}`);
        if (!resource) throw invalidInput("registry artifact paths look like registry/<model name>/<version>/<file>");
        return resource;
      },
      errorStyle: "mlflow",
      tags: ["mlflow", "registry"],
      handler: async ({ params, query }) => {
        const resolved = registry.resolveProxyPath(`registry/${params["*"]}`);
        if (!resolved || !resolved.relative) throw invalidInput("registry artifact paths look like registry/<model name>/<version>/<file>");
        if (query.redirect === "presigned") return presignedRedirect(await registry.fileDownloadUrl(resolved.name, resolved.version, resolved.relative));
        const { stream, size } = await registry.openFile(resolved.name, resolved.version, resolved.relative);
        return download(stream, size, resolved.relative);
      },
    }),
    route({
      method: "PUT",
      url: `${prefix}/:experimentId/models/*`,
      summary: "Artifact proxy: upload one file of an MLflow 3 logged model (raw body)",
      action: "runs:write",
      params: schema.loggedModelProxyPath,
      resource: async ({ params }) => loggedModelResource(params),
      rawBody: true,
      errorStyle: "mlflow",
      tags: ["mlflow"],
      handler: async ({ params, stream, headers }) => {
        const { modelId, relative } = await loggedModelPath(params);
        if (!stream) throw invalidInput("the upload has no body; send the file's bytes as the request body");
        const length = Number(headers["content-length"]);
        await loggedModels.putArtifact(modelId, relative, stream, Number.isSafeInteger(length) && length >= 0 ? length : 0);
        return {};
      },
    }),
    route({
      method: "GET",
      url: `${prefix}/:experimentId/models/*`,
      summary: "Artifact proxy: download one file of an MLflow 3 logged model (with redirect=presigned, a 307 to the object store)",
      action: "models:read",
      params: schema.loggedModelProxyPath,
      query: trackingSchema.proxyDownload,
      resource: async ({ params }) => loggedModelResource(params),
      errorStyle: "mlflow",
      tags: ["mlflow"],
      handler: async ({ params, query }) => {
        const { modelId, relative } = await loggedModelPath(params);
        if (query.redirect === "presigned") return presignedRedirect(await loggedModels.artifactDownloadUrl(modelId, relative));
        const { stream, size } = await loggedModels.openArtifact(modelId, relative);
        return download(stream, size, relative);
      },
    }),
  ];
}
