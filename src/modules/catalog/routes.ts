import { route, type RouteDefinition } from "../../core/index.ts";
import { profileListSchema } from "./schema.ts";
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
  ];
}
