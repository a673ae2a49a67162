import { route, type RouteDefinition } from "../../core/index.ts";
import { z } from "zod";
import { pricesSchema, profileListSchema, templateListSchema, templateSchema } from "./schema.ts";
import type { ProfileCatalog } from "./service.ts";
import type { TemplateCatalog } from "./templates.ts";

export function catalogRoutes(catalog: ProfileCatalog, templates: TemplateCatalog): RouteDefinition[] {
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
    route({
      method: "GET",
      url: "/api/v1/templates",
      summary: "The templates of the catalog: specs to scaffold from (the golden-path pipeline)",
      action: "catalog:read",
      tags: ["catalog"],
      response: templateListSchema,
      handler: async () => ({ templates: templates.list().map(({ yaml: _yaml, ...rest }) => rest) }),
    }),
    route({
      method: "GET",
      url: "/api/v1/templates/:name",
      summary: "One template, with its YAML (comments included)",
      action: "catalog:read",
      tags: ["catalog"],
      params: z.object({ name: z.string().min(1).max(63) }),
      response: templateSchema,
      handler: async ({ params }) => templates.get(params.name),
    }),
  ];
}
