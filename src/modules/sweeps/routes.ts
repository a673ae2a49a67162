import { route, type RouteDefinition } from "../../core/index.ts";
import { sweepIdParamsSchema, sweepListQuerySchema, sweepListSchema, sweepSchema, sweepSpecSchema } from "./schema.ts";
import type { SweepService } from "./service.ts";

export function sweepRoutes(service: SweepService): RouteDefinition[] {
  const tags = ["sweeps"];
  return [
    route({
      method: "POST",
      url: "/api/v1/sweeps",
      summary: "Create a sweep (the spec `paved sweeps create -f sweep.yaml` sends): grid, random or ASHA over a trial job template",
      tags,
      action: "sweeps:create",
      body: sweepSpecSchema,
      resource: async ({ body, principal }) => service.newResource(body, principal),
      response: sweepSchema,
      handler: async ({ body, principal }) => service.create(body, principal),
    }),
    route({
      method: "GET",
      url: "/api/v1/sweeps",
      summary: "List sweeps of your teams, newest first",
      tags,
      action: "sweeps:read",
      query: sweepListQuerySchema,
      response: sweepListSchema,
      handler: async ({ query, principal }) => ({ sweeps: await service.list(query, principal) }),
    }),
    route({
      method: "GET",
      url: "/api/v1/sweeps/:id",
      summary: "A sweep: its trials (parameters, phase, objective, rungs), the best trial and its run, its events",
      tags,
      action: "sweeps:read",
      params: sweepIdParamsSchema,
      resource: async ({ params }) => service.resource(params.id),
      response: sweepSchema,
      handler: async ({ params }) => service.get(params.id),
    }),
    route({
      method: "POST",
      url: "/api/v1/sweeps/:id/cancel",
      summary: "Cancel a sweep: no trial starts after, and its queued and running trials are cancelled",
      tags,
      action: "sweeps:write",
      params: sweepIdParamsSchema,
      resource: async ({ params }) => service.resource(params.id),
      response: sweepSchema,
      handler: async ({ params, principal }) => service.cancel(params.id, principal),
    }),
  ];
}
