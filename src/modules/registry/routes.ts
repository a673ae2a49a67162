import { notFound, route, type RouteDefinition } from "../../core/index.ts";
import { visibleTeams } from "../identity/index.ts";
import {
  AliasParams,
  AliasView,
  ListModelsQuery,
  ListModelsResponse,
  ModelDetailView,
  ModelNameParams,
  RegisterVersionBody,
  SetAliasBody,
  TagsView,
  UpdateTagsBody,
  VersionParams,
  VersionView,
  type ModelView,
  type VersionSummary,
} from "./schema.ts";
import type { ModelVersion, RegisteredModel, RegistryService } from "./service.ts";
import { checkTag } from "./validate.ts";

export function modelView(m: RegisteredModel): ModelView {
  return {
    name: m.name,
    description: m.description,
    user: m.user_id,
    tags: Object.fromEntries(m.tags.map((t) => [t.key, t.value])),
    aliases: Object.fromEntries(m.aliases.map((a) => [a.alias, String(a.version)])),
    latestVersion: m.latest ? String(m.latest.version) : null,
    createdAt: m.creation_time,
    updatedAt: m.last_update_time,
    team: m.team_id,
  };
}

export function versionSummary(v: ModelVersion): VersionSummary {
  return {
    name: v.name,
    version: String(v.version),
    status: "READY",
    source: v.source,
    runId: v.run_id,
    description: v.description,
    user: v.user_id,
    aliases: v.aliases,
    tags: Object.fromEntries(v.tags.map((t) => [t.key, t.value])),
    createdAt: v.creation_time,
    updatedAt: v.last_update_time,
  };
}

async function versionView(service: RegistryService, v: ModelVersion): Promise<VersionView> {
  return {
    ...versionSummary(v),
    loggedModelId: v.logged_model_id,
    signature: v.signature ? (JSON.parse(v.signature) as VersionView["signature"]) : null,
    lineage: v.lineage ? (JSON.parse(v.lineage) as VersionView["lineage"]) : null,
    files: await service.files(v.name, v.version),
    downloadUri: service.downloadUri(v),
  };
}

/** Paved's own registry API under /api/v1. */
export function registryRoutes(service: RegistryService): RouteDefinition[] {
  const tags = ["registry"];
  return [
    route({
      method: "GET",
      url: "/api/v1/models",
      summary: "List registered models by name, with their aliases and newest version, a page at a time",
      action: "models:read",
      tags,
      query: ListModelsQuery,
      response: ListModelsResponse,
      handler: async ({ query, principal }) => {
        const { models, nextPageToken } = await service.listModels({ filter: query.filter, limit: query.limit, pageToken: query.pageToken, teams: visibleTeams(principal, "models:read") });
        return { models: models.map(modelView), ...(nextPageToken ? { nextPageToken } : {}) };
      },
    }),
    route({
      method: "GET",
      url: "/api/v1/models/:name",
      summary: "One registered model with its versions (newest first) and aliases",
      action: "models:read",
      tags,
      params: ModelNameParams,
      resource: async ({ params }) => service.modelResource(params.name),
      response: ModelDetailView,
      handler: async ({ params }) => {
        const model = await service.getModel(params.name);
        const { versions } = await service.searchVersions({ filter: `name = '${params.name}'`, orderBy: ["version_number DESC"], maxResults: 200_000 });
        return { ...modelView(model), versions: versions.map(versionSummary) };
      },
    }),
    route({
      method: "GET",
      url: "/api/v1/models/:name/versions/:version",
      summary: "One version (by number or alias) with its signature, lineage and files",
      action: "models:read",
      tags,
      params: VersionParams,
      resource: async ({ params }) => service.modelResource(params.name),
      response: VersionView,
      handler: async ({ params }) => versionView(service, await service.resolveVersion(params.name, params.version)),
    }),
    route({
      method: "POST",
      url: "/api/v1/models/:name/versions",
      summary: "Register a version from runs:/<run_id>/<path> (files are copied; the model is created if new)",
      action: "models:write",
      tags,
      params: ModelNameParams,
      body: RegisterVersionBody,
      resource: async ({ params, body, principal }) => service.registrationResource({ name: params.name, source: body.source, team: body.team }, principal),
      response: VersionView,
      handler: async ({ params, body, principal }) =>
        versionView(
          service,
          await service.registerVersion({ name: params.name, source: body.source, description: body.description, team: body.team, userId: principal.name, principal }),
        ),
    }),
    route({
      method: "PUT",
      url: "/api/v1/models/:name/aliases/:alias",
      summary: "Point an alias (e.g. champion) at a version; an existing alias moves (guarded aliases such as production need a passing evaluation or an admin override)",
      action: "models:write",
      tags,
      params: AliasParams,
      resource: async ({ params }) => service.modelResource(params.name),
      body: SetAliasBody,
      response: AliasView,
      handler: async ({ params, body, principal }) => {
        const version = await service.setAlias(params.name, params.alias, body.version, { actor: principal, force: body.force, reason: body.reason });
        return { name: version.name, alias: params.alias, version: String(version.version) };
      },
    }),
    route({
      method: "DELETE",
      url: "/api/v1/models/:name/aliases/:alias",
      summary: "Delete an alias",
      action: "models:write",
      tags,
      params: AliasParams,
      resource: async ({ params }) => service.modelResource(params.name),
      handler: async ({ params }) => {
        await service.deleteAlias(params.name, params.alias);
        return {};
      },
    }),
    route({
      method: "PATCH",
      url: "/api/v1/models/:name/tags",
      summary: "Set and delete tags of a registered model (e.g. the model_card.* fields the compliance check reads); answers its tags",
      action: "models:write",
      tags,
      params: ModelNameParams,
      resource: async ({ params }) => service.modelResource(params.name),
      body: UpdateTagsBody,
      response: TagsView,
      handler: async ({ params, body }) => {
        const model = await service.getModel(params.name);
        await updateTags(tagRecord(model.tags), body, `registered model '${model.name}'`, {
          set: (key, value) => service.setModelTag(model.name, key, value),
          delete: (key) => service.deleteModelTag(model.name, key),
        });
        return { name: model.name, version: null, tags: tagRecord((await service.getModel(model.name)).tags) };
      },
    }),
    route({
      method: "PATCH",
      url: "/api/v1/models/:name/versions/:version/tags",
      summary: "Set and delete tags of one version (by number or alias); a version's model_card.* tags override the model's",
      action: "models:write",
      tags,
      params: VersionParams,
      resource: async ({ params }) => service.modelResource(params.name),
      body: UpdateTagsBody,
      response: TagsView,
      handler: async ({ params, body }) => {
        const version = await service.resolveVersion(params.name, params.version);
        await updateTags(tagRecord(version.tags), body, `version ${version.version} of '${version.name}'`, {
          set: (key, value) => service.setVersionTag(version.name, version.version, key, value),
          delete: (key) => service.deleteVersionTag(version.name, version.version, key),
        });
        const updated = await service.getVersion(version.name, version.version);
        return { name: updated.name, version: String(updated.version), tags: tagRecord(updated.tags) };
      },
    }),
  ];
}

function tagRecord(tags: readonly { key: string; value: string }[]): Record<string, string> {
  return Object.fromEntries(tags.map((t) => [t.key, t.value]));
}

/** Deletions are checked first, so a missing key changes nothing. */
async function updateTags(
  current: Record<string, string>,
  body: { set: Record<string, string>; delete: string[] },
  what: string,
  apply: { set(key: string, value: string): Promise<void>; delete(key: string): Promise<void> },
): Promise<void> {
  const missing = body.delete.filter((key) => !(key in current));
  if (missing.length) {
    const known = Object.keys(current).sort().join(", ") || "none";
    throw notFound(`${what} has no tag ${missing.map((k) => `'${k}'`).join(", ")}; its tags: ${known}`);
  }
  for (const [key, value] of Object.entries(body.set)) checkTag(key, value);
  for (const key of body.delete) await apply.delete(key);
  for (const [key, value] of Object.entries(body.set)) await apply.set(key, value);
}
