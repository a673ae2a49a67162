import { invalidInput, route, type RouteDefinition } from "../../core/index.ts";
import {
  aliasParamsSchema,
  aliasViewSchema,
  createDatasetBodySchema,
  createVersionBodySchema,
  datasetListSchema,
  datasetParamsSchema,
  datasetSchema,
  diffQuerySchema,
  diffSchema,
  listQuerySchema,
  previewQuerySchema,
  previewViewSchema,
  setAliasBodySchema,
  uploadQuerySchema,
  uploadSchema,
  versionListSchema,
  versionParamsSchema,
  versionSchema,
} from "./schema.ts";
import type { DatasetService } from "./service.ts";

export function datasetRoutes(service: DatasetService): RouteDefinition[] {
  const tags = ["datasets"];
  const by = (principal: { name: string; onBehalfOf?: string }) => principal.onBehalfOf ?? principal.name;
  return [
    route({
      method: "POST",
      url: "/api/v1/dataset-uploads",
      summary: "Upload one file's bytes (the raw body, at most datasets.maxFileBytes and artifacts.maxUploadBytes) for a team's datasets; answers its digest, which POST /api/v1/datasets/:name/versions names",
      tags,
      action: "datasets:write",
      rawBody: true,
      query: uploadQuerySchema,
      resource: async ({ query, principal }) => service.uploadResource(query.team, principal),
      response: uploadSchema,
      handler: async ({ stream, query, principal, headers }) => {
        if (!stream) throw invalidInput("send the file's bytes as the request body (content-type application/octet-stream)");
        const team = (await service.uploadResource(query.team, principal)).team!;
        const length = Number(headers["content-length"]);
        const blob = await service.putBlob(team, stream, { createdBy: by(principal), ...(Number.isSafeInteger(length) && length > 0 ? { sizeHint: length } : {}) });
        return { digest: `sha256:${blob.digest}`, size: blob.size, team };
      },
    }),
    route({
      method: "POST",
      url: "/api/v1/datasets",
      summary: "Create an empty dataset in a team (names are unique across the platform)",
      tags,
      action: "datasets:write",
      body: createDatasetBodySchema,
      resource: async ({ body, principal }) => service.creationResource(body.name, body.team, principal),
      response: datasetSchema,
      handler: async ({ body, principal }) => {
        const team = (await service.creationResource(body.name, body.team, principal)).team!;
        return service.createDataset({ name: body.name, team, description: body.description }, by(principal));
      },
    }),
    route({
      method: "GET",
      url: "/api/v1/datasets",
      summary:
        "List the datasets of your teams, most recently changed first, a page at a time (limit, pageToken); a dataset that gets a new version while you page moves to the first page (it is not repeated), every other one is listed once",
      tags,
      action: "datasets:read",
      query: listQuerySchema,
      response: datasetListSchema,
      handler: async ({ query, principal }) => service.list(query, principal),
    }),
    route({
      method: "GET",
      url: "/api/v1/datasets/:name",
      summary: "A dataset: its team, latest version, number of versions and aliases",
      tags,
      action: "datasets:read",
      params: datasetParamsSchema,
      resource: async ({ params }) => service.resource(params.name),
      response: datasetSchema,
      handler: async ({ params }) => service.getDataset(params.name),
    }),
    route({
      method: "POST",
      url: "/api/v1/datasets/:name/versions",
      summary:
        "Create a version from uploaded files (the dataset too, when new): CSV and Parquet files are analysed (schema, row count, statistics, preview); the same files as an existing version answer that version (existing: true)",
      tags,
      action: "datasets:write",
      params: datasetParamsSchema,
      body: createVersionBodySchema,
      resource: async ({ params, body, principal }) => service.creationResource(params.name, body.team, principal),
      response: versionSchema,
      handler: async ({ params, body, principal }) => {
        const team = (await service.creationResource(params.name, body.team, principal)).team!;
        return service.createVersionFromUploads({ team, name: params.name, files: body.files, description: body.description, alias: body.alias, createdBy: by(principal) });
      },
    }),
    route({
      method: "GET",
      url: "/api/v1/datasets/:name/versions",
      summary: "A dataset's versions, newest first, a page at a time (limit, pageToken)",
      tags,
      action: "datasets:read",
      params: datasetParamsSchema,
      query: listQuerySchema,
      resource: async ({ params }) => service.resource(params.name),
      response: versionListSchema,
      handler: async ({ params, query }) => service.versionsPage(params.name, query),
    }),
    route({
      method: "GET",
      url: "/api/v1/datasets/:name/versions/:version",
      summary: "One version (a number, an alias or latest): digest, files, each CSV and Parquet file's schema and statistics, source and lineage",
      tags,
      action: "datasets:read",
      params: versionParamsSchema,
      resource: async ({ params }) => service.resource(params.name),
      response: versionSchema,
      handler: async ({ params }) => service.getVersion(params.name, params.version),
    }),
    route({
      method: "GET",
      url: "/api/v1/datasets/:name/versions/:version/preview",
      summary: "The first rows (at most 1000) of a CSV or Parquet file of a version",
      tags,
      action: "datasets:read",
      params: versionParamsSchema,
      query: previewQuerySchema,
      resource: async ({ params }) => service.resource(params.name),
      response: previewViewSchema,
      handler: async ({ params, query }) => service.preview(params.name, params.version, { rows: query.rows, path: query.path }),
    }),
    route({
      method: "GET",
      url: "/api/v1/datasets/:name/diff",
      summary: "What changed between two versions: files added, removed and changed, schemas, row counts, column statistics",
      tags,
      action: "datasets:read",
      params: datasetParamsSchema,
      query: diffQuerySchema,
      resource: async ({ params }) => service.resource(params.name),
      response: diffSchema,
      handler: async ({ params, query }) => service.diff(params.name, query.from, query.to),
    }),
    route({
      method: "PUT",
      url: "/api/v1/datasets/:name/aliases/:alias",
      summary: "Point an alias (e.g. prod) at a version",
      tags,
      action: "datasets:write",
      params: aliasParamsSchema,
      body: setAliasBodySchema,
      resource: async ({ params }) => service.resource(params.name),
      response: aliasViewSchema,
      handler: async ({ params, body, principal }) => service.setAlias(params.name, params.alias, body.version, by(principal)),
    }),
    route({
      method: "DELETE",
      url: "/api/v1/datasets/:name/aliases/:alias",
      summary: "Remove an alias (the version stays)",
      tags,
      action: "datasets:write",
      params: aliasParamsSchema,
      resource: async ({ params }) => service.resource(params.name),
      response: aliasViewSchema,
      handler: async ({ params }) => service.removeAlias(params.name, params.alias),
    }),
  ];
}
