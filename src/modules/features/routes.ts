import { route, type RouteDefinition } from "../../core/index.ts";
import {
  featureSetListSchema,
  featureSetParamsSchema,
  featureSetSpecSchema,
  featureSetVersionParamsSchema,
  featureSetViewSchema,
  listFeatureSetsQuerySchema,
  materializationSchema,
  materializeBodySchema,
  trainingSetBodySchema,
  trainingSetSchema,
} from "./schema.ts";
import type { FeatureService } from "./service.ts";

export function featureRoutes(service: FeatureService): RouteDefinition[] {
  const tags = ["features"];
  const by = (principal: { name: string; onBehalfOf?: string }) => principal.onBehalfOf ?? principal.name;
  return [
    route({
      method: "POST",
      url: "/api/v1/feature-sets",
      summary: "Create the next version of a feature set (SQL over dataset versions, pinned now); versions are immutable",
      tags,
      action: "features:write",
      body: featureSetSpecSchema,
      resource: async ({ body, principal }) => service.creationResource(body.name, body.team, principal),
      response: featureSetViewSchema,
      handler: async ({ body, principal }) => {
        const team = (await service.creationResource(body.name, body.team, principal)).team!;
        return service.create(body, team, by(principal));
      },
    }),
    route({
      method: "GET",
      url: "/api/v1/feature-sets",
      summary: "List your teams' feature sets (their latest versions)",
      tags,
      action: "features:read",
      query: listFeatureSetsQuerySchema,
      response: featureSetListSchema,
      handler: async ({ query, principal }) => ({ featureSets: await service.list(query, principal) }),
    }),
    route({
      method: "GET",
      url: "/api/v1/feature-sets/:name",
      summary: "Show a feature set's latest version",
      tags,
      action: "features:read",
      params: featureSetParamsSchema,
      resource: async ({ params }) => service.resource(params.name),
      response: featureSetViewSchema,
      handler: async ({ params }) => service.get(params.name),
    }),
    route({
      method: "GET",
      url: "/api/v1/feature-sets/:name/versions/:version",
      summary: "Show one version of a feature set",
      tags,
      action: "features:read",
      params: featureSetVersionParamsSchema,
      resource: async ({ params }) => service.resource(params.name),
      response: featureSetViewSchema,
      handler: async ({ params }) => service.get(params.name, params.version),
    }),
    route({
      method: "POST",
      url: "/api/v1/feature-sets/:name/versions/:version/materialize",
      summary: "Run a feature set version's SQL (DuckDB) into a Parquet dataset version (default dataset: the feature set's name) with lineage",
      tags,
      action: "features:write",
      params: featureSetVersionParamsSchema,
      body: materializeBodySchema,
      resource: async ({ params }) => service.resource(params.name),
      response: materializationSchema,
      handler: async ({ params, body, principal }) => service.materialize(params.name, params.version, body ?? {}, by(principal)),
    }),
    route({
      method: "POST",
      url: "/api/v1/training-sets",
      summary: "Build a point-in-time-correct training set: labels as-of joined to feature datasets by entity key and timestamp",
      tags,
      action: "features:write",
      body: trainingSetBodySchema,
      resource: async ({ body, principal }) => service.teamResource(body.team, principal),
      response: trainingSetSchema,
      handler: async ({ body, principal }) => {
        const team = (await service.teamResource(body.team, principal)).team!;
        return service.trainingSet(body, team, by(principal));
      },
    }),
  ];
}
