import { Readable } from "node:stream";
import { route, StreamResponse, type RouteDefinition } from "../../core/index.ts";
import {
  jobCheckSchema,
  jobIdParamsSchema,
  jobListQuerySchema,
  jobListSchema,
  jobLogsQuerySchema,
  jobSchema,
  jobSpecSchema,
  resourcesSchema,
} from "./schema.ts";
import type { JobService } from "./service.ts";

export function computeRoutes(service: JobService): RouteDefinition[] {
  const tags = ["compute"];
  return [
    route({
      method: "POST",
      url: "/api/v1/jobs",
      summary: "Submit a job (the same spec `paved apply -f job.yaml` sends)",
      tags,
      action: "jobs:create",
      body: jobSpecSchema,
      // The team it goes to: the caller must be a developer there.
      resource: async ({ body, principal }) => service.newJobResource(body, principal),
      response: jobSchema,
      handler: async ({ body, principal }) => service.submit(body, principal),
    }),
    route({
      method: "POST",
      url: "/api/v1/policy/check",
      summary: "Check a job spec as submit would (team, resources, policies, budget) without submitting it: the same refusal, or what it would be admitted as",
      tags,
      action: "jobs:create",
      body: jobSpecSchema,
      resource: async ({ body, principal }) => service.newJobResource(body, principal),
      response: jobCheckSchema,
      handler: async ({ body, principal }) => service.check(body, principal),
    }),
    route({
      method: "GET",
      url: "/api/v1/jobs",
      summary: "Jobs of your teams, newest first, a page at a time (limit, pageToken); owner=me for yours",
      tags,
      action: "jobs:list",
      query: jobListQuerySchema,
      response: jobListSchema,
      handler: async ({ query, principal }) => service.list(query, principal),
    }),
    route({
      method: "GET",
      url: "/api/v1/jobs/:id",
      summary: "A job: spec, phase, allocation, why it waits, and its events",
      tags,
      action: "jobs:read",
      resource: async ({ params }) => service.resource(params.id),
      params: jobIdParamsSchema,
      response: jobSchema,
      handler: async ({ params, principal }) => service.get(params.id, principal),
    }),
    route({
      method: "POST",
      url: "/api/v1/jobs/:id/cancel",
      summary: "Cancel a job: queued ones at once, running ones after their processes are stopped",
      tags,
      action: "jobs:write",
      resource: async ({ params }) => service.resource(params.id),
      params: jobIdParamsSchema,
      response: jobSchema,
      handler: async ({ params, principal }) => service.cancel(params.id, principal),
    }),
    route({
      method: "GET",
      url: "/api/v1/jobs/:id/logs",
      summary:
        "A job's output as text: without follow, at most compute.logs.maxReadBytes from `offset` (default: the end), with its place in x-paved-log-start/-end/-size; `follow=true` streams until the job ends (bounded per token and in time)",
      tags,
      action: "jobs:read",
      resource: async ({ params }) => service.resource(params.id),
      params: jobIdParamsSchema,
      query: jobLogsQuerySchema,
      handler: async ({ params, query, signal, principal }) => {
        const headers = { "cache-control": "no-store", "x-content-type-options": "nosniff" };
        if (query.follow) {
          // Resolves the job (404) and takes a follow slot (429) before anything streams.
          const lines = await service.followLogs(params.id, { attempt: query.attempt, offset: query.offset, signal }, principal);
          return new StreamResponse(Readable.from(lines, { objectMode: false }), "text/plain; charset=utf-8", headers);
        }
        const page = await service.readLogs(params.id, { attempt: query.attempt, offset: query.offset, limitBytes: query.limitBytes });
        return new StreamResponse(Readable.from([page.text], { objectMode: false }), "text/plain; charset=utf-8", {
          ...headers,
          "x-paved-log-attempt": String(page.attempt),
          "x-paved-log-start": String(page.start),
          "x-paved-log-end": String(page.end),
          "x-paved-log-size": String(page.size),
        });
      },
    }),
    route({
      method: "GET",
      url: "/api/v1/compute/resources",
      summary: "The machine's GPUs, CPUs and memory: totals, what is free, and who holds each GPU (a job of a team you are not in shows as 'another team')",
      tags,
      action: "jobs:list",
      response: resourcesSchema,
      handler: async ({ principal }) => service.resources(principal),
    }),
  ];
}
