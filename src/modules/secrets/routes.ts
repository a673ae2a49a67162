import { z } from "zod";
import { route, type RouteDefinition } from "../../core/index.ts";
import { PutSecretBody, SecretNameParams, SecretTeamQuery, SecretView } from "./schema.ts";
import type { SecretService } from "./service.ts";

/** Team secrets under /api/v1/secrets: set, list (names only) and delete. No route answers a value. */
export function secretRoutes(service: SecretService): RouteDefinition[] {
  const tags = ["secrets"];
  return [
    route({
      method: "PUT",
      url: "/api/v1/secrets/:name",
      summary: "Set a team secret (created, or its value replaced); the value is encrypted at rest and never answered, logged or audited",
      tags,
      action: "secrets:write",
      params: SecretNameParams,
      body: PutSecretBody,
      // The value is at most 64 KiB; JSON escaping may double it.
      bodyLimit: 256 * 1024,
      response: SecretView,
      handler: async ({ params, body, principal }) => service.put(params.name, body, principal),
    }),
    route({
      method: "GET",
      url: "/api/v1/secrets",
      summary: "The secrets of your teams: names, who set each and when (never values)",
      tags,
      action: "secrets:read",
      response: z.object({ secrets: z.array(SecretView) }),
      handler: async ({ principal }) => ({ secrets: await service.list(principal) }),
    }),
    route({
      method: "DELETE",
      url: "/api/v1/secrets/:name",
      summary: "Delete a team secret (?team= when you are in several)",
      tags,
      action: "secrets:write",
      params: SecretNameParams,
      query: SecretTeamQuery,
      response: z.object({ deleted: z.string() }),
      handler: async ({ params, query, principal }) => {
        await service.delete(params.name, query.team, principal);
        return { deleted: params.name };
      },
    }),
  ];
}
