import { HttpResponse, route, type RouteDefinition } from "../../core/index.ts";
import { predictionIdParamsSchema, predictionListQuerySchema, predictionListSchema, predictionSchema, predictionSpecSchema } from "./schema.ts";
import type { PredictionService } from "./service.ts";

export function predictionRoutes(service: PredictionService): RouteDefinition[] {
  const tags = ["predictions"];
  return [
    route({
      method: "POST",
      url: "/api/v1/predictions",
      summary: "Run a model version over a dataset version (batch inference): queued at once (202), run by the controller; the output is a new version of the output dataset",
      tags,
      action: "predictions:write",
      body: predictionSpecSchema,
      resource: async ({ body }) => service.newResource(body),
      response: predictionSchema,
      // Accepted: the controller runs it; GET /api/v1/predictions/:id follows it.
      handler: async ({ body, principal }) => new HttpResponse(202, {}, await service.create(body, principal)),
    }),
    route({
      method: "GET",
      url: "/api/v1/predictions",
      summary: "List batch predictions of your teams, newest first",
      tags,
      action: "predictions:read",
      query: predictionListQuerySchema,
      response: predictionListSchema,
      handler: async ({ query, principal }) => ({ predictions: await service.list(query, principal) }),
    }),
    route({
      method: "GET",
      url: "/api/v1/predictions/:id",
      summary: "A batch prediction: its phase, rows done and in all, the output dataset version and rows/s once it succeeded, the reason it failed",
      tags,
      action: "predictions:read",
      params: predictionIdParamsSchema,
      resource: async ({ params }) => service.resource(params.id),
      response: predictionSchema,
      handler: async ({ params }) => service.get(params.id),
    }),
    route({
      method: "POST",
      url: "/api/v1/predictions/:id/cancel",
      summary: "Cancel a queued or running batch prediction (a running one stops at its next chunk; nothing is written)",
      tags,
      action: "predictions:write",
      params: predictionIdParamsSchema,
      resource: async ({ params }) => service.resource(params.id),
      response: predictionSchema,
      handler: async ({ params, principal }) => service.cancel(params.id, principal),
    }),
  ];
}
