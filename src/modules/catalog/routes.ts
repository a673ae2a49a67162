import { route, type RouteDefinition } from "../../core/index.ts";
import { pricesSchema, profileListSchema } from "./schema.ts";
import type { ProfileCatalog } from "./service.ts";

export function catalogRoutes(catalog: ProfileCatalog): RouteDefinition[] {
  return [
    route({
      method: "GET",
      url: "/api/v1/profiles",
      summary: "The compute profiles jobs can ask for by name",
      action: "catalog:read",
      tags: ["catalog"],
      response: profileListSchema,
      handler: async () => ({ profiles: catalog.list() }),
    }),
    route({
      method: "GET",
      url: "/api/v1/prices",
      summary: "The unit prices costs and budgets are figured in (GPU-, CPU- and memory-hours, serving replica-hours, storage GB-months)",
      action: "catalog:read",
      tags: ["catalog"],
      response: pricesSchema,
      handler: async () => catalog.prices,
    }),
  ];
}
