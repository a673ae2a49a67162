import { z } from "zod";
import { MAX_WEBHOOK_BYTES, PlatformError, invalidInput, route, type RouteDefinition } from "../../core/index.ts";
import { CreateTriggerBody, DeliveryAnswer, PipelineNameParams, TriggerIdParams, TriggerView } from "./schema.ts";
import type { TriggerService } from "./service.ts";

export function triggerRoutes(service: TriggerService): RouteDefinition[] {
  const tags = ["pipelines"];
  return [
    route({
      method: "POST",
      url: "/api/v1/pipelines/:name/triggers",
      summary: "Add a trigger to a pipeline: a cron schedule in a time zone, a new version of a dataset, or a git push (a verified webhook) to a repository's branch",
      tags,
      action: "pipelines:write",
      params: PipelineNameParams,
      body: CreateTriggerBody,
      resource: async ({ params }) => service.pipelineResource(params.name),
      response: TriggerView,
      handler: async ({ params, body, principal }) => service.create(params.name, body, principal),
    }),
    route({
      method: "GET",
      url: "/api/v1/pipelines/:name/triggers",
      summary: "A pipeline's triggers, each with its newest firings and the runs they started",
      tags,
      action: "pipelines:read",
      params: PipelineNameParams,
      resource: async ({ params }) => service.pipelineResource(params.name),
      response: z.object({ triggers: z.array(TriggerView) }),
      handler: async ({ params, principal }) => ({ triggers: await service.list(params.name, principal) }),
    }),
    route({
      method: "GET",
      url: "/api/v1/triggers/:id",
      summary: "A trigger, its state and its newest firings",
      tags,
      action: "pipelines:read",
      params: TriggerIdParams,
      resource: async ({ params }) => service.resource(params.id),
      response: TriggerView,
      handler: async ({ params }) => service.get(params.id),
    }),
    route({
      method: "DELETE",
      url: "/api/v1/triggers/:id",
      summary: "Delete a trigger (the runs it started stay)",
      tags,
      action: "pipelines:write",
      params: TriggerIdParams,
      resource: async ({ params }) => service.resource(params.id),
      response: z.object({ deleted: z.string() }),
      handler: async ({ params }) => {
        await service.delete(params.id);
        return { deleted: params.id };
      },
    }),
    route({
      method: "POST",
      url: "/api/v1/triggers/:id/webhook",
      summary:
        "A git push webhook (GitHub or GitLab format) for a git trigger: no token, the delivery's signature under the trigger's secret is its credential (401 and nothing runs without it); a delivery id runs once",
      tags,
      public: true,
      rawBody: true,
      bodyLimit: MAX_WEBHOOK_BYTES,
      action: "webhooks:deliver",
      params: TriggerIdParams,
      response: DeliveryAnswer,
      handler: async ({ params, headers, stream }) => {
        if (!stream) throw invalidInput("send the push event's JSON as the request body");
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          size += chunk.length;
          if (size > MAX_WEBHOOK_BYTES) {
            stream.destroy();
            throw new PlatformError("PAYLOAD_TOO_LARGE", `a webhook delivery is at most ${MAX_WEBHOOK_BYTES} bytes`);
          }
          chunks.push(chunk);
        }
        return service.deliver(params.id, headers, Buffer.concat(chunks));
      },
    }),
  ];
}
