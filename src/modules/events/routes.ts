import { route, type RouteDefinition } from "../../core/index.ts";
import { EventsQuery } from "./schema.ts";
import type { EventStreams } from "./streams.ts";

const header = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value);

export function eventRoutes(streams: EventStreams): RouteDefinition[] {
  return [
    route({
      method: "GET",
      url: "/api/v1/events",
      summary:
        "Server-sent events (text/event-stream): a notification {topic, kind, id, team, state, at} each time a job, run, deployment, workspace, pipeline or model that the caller may read changes. `topics` names what to follow (jobs,runs,deployments,workspaces,pipelines,models); Last-Event-ID (or `lastEventId`) resumes after a disconnect; an `event: reset` says to reload a topic, an `event: end` that the credentials ended. At most a few streams per user (429 beyond)",
      tags: ["events"],
      // Anyone signed in may follow; what each event shows is filtered by the teams the caller may read.
      action: "platform:read",
      query: EventsQuery,
      handler: async ({ query, principal, headers, signal }) =>
        streams.openStream({
          principal,
          topics: query.topics,
          lastEventId: header(headers["last-event-id"]) ?? query.lastEventId,
          credentials: { authorization: header(headers.authorization), cookie: header(headers.cookie) },
          signal,
        }),
    }),
  ];
}
