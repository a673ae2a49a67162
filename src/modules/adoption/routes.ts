import { route, type RouteDefinition } from "../../core/index.ts";
import { AdoptionQuery, AdoptionReport, FeedbackBody, FeedbackPrompt, FeedbackView } from "./schema.ts";
import type { AdoptionService } from "./service.ts";

const tags = ["adoption"];

/** The adoption report (platform admins) and the feedback route (any person signed in). */
export function adoptionRoutes(service: AdoptionService): RouteDefinition[] {
  return [
    route({
      method: "GET",
      url: "/api/v1/adoption",
      summary:
        "The platform's adoption figures over a window (since, until; default the last 28 days): active users and teams, usage per team, the golden-path funnel, time-to-value, delivery (lead time, deployment frequency, change failure rate, time to restore) and satisfaction; aggregates only unless perUser=true (platform admins)",
      tags,
      action: "adoption:read",
      query: AdoptionQuery,
      response: AdoptionReport,
      handler: async ({ query }) => service.report(service.window(query), { perUser: query.perUser }),
    }),
    route({
      method: "POST",
      url: "/api/v1/feedback",
      summary: "Send your feedback on the platform: a score from 1 to 5, an optional comment, the milestone it follows (`paved feedback`)",
      tags,
      action: "feedback:write",
      body: FeedbackBody,
      bodyLimit: 16_384,
      response: FeedbackView,
      handler: async ({ body, principal }) => service.addFeedback(body, principal),
    }),
    route({
      method: "GET",
      url: "/api/v1/feedback/prompt",
      summary: "The milestone the UI asks you about (first run, first registered model, first production deployment): the latest you reached without having sent feedback on it",
      tags,
      action: "feedback:write",
      response: FeedbackPrompt,
      handler: async ({ principal }) => service.feedbackPrompt(principal),
    }),
  ];
}
