import { route, type RouteDefinition } from "../../core/index.ts";
import { EffectivePolicyView, PolicyHistory, PolicyHistoryQuery, PolicyQuery, PolicyTeamParams, PolicyView, PutPolicyBody } from "./policies-schema.ts";
import { PLATFORM_SCOPE, teamScope, type PolicyService } from "./policies.ts";

/** The platform's policy (set by platform admins) and each team's (set by its admins), with their versions. */
export function policyRoutes(policies: PolicyService): RouteDefinition[] {
  const tags = ["policies"];
  const team = async ({ params }: { params: { team: string } }) => policies.teamResource(params.team);
  return [
    route({
      method: "GET",
      url: "/api/v1/policies",
      summary: "The policies in force: the platform's and, with ?team=, the team's own (a request must satisfy both)",
      tags,
      action: "policies:read",
      query: PolicyQuery,
      resource: async ({ query }) => (query.team === undefined ? { kind: "team", id: "(platform)" } : policies.teamResource(query.team)),
      response: EffectivePolicyView,
      handler: async ({ query }) => policies.effective(query.team),
    }),
    route({
      method: "PUT",
      url: "/api/v1/policies/platform",
      summary: "Set the platform-wide policy (a new version; every version is kept)",
      tags,
      action: "policies:admin",
      body: PutPolicyBody,
      response: PolicyView,
      handler: async ({ body, principal }) => policies.set(PLATFORM_SCOPE, body.yaml, principal),
    }),
    route({
      method: "GET",
      url: "/api/v1/policies/platform/history",
      summary: "Every version of the platform-wide policy, newest first, with who set it and when",
      tags,
      action: "policies:read",
      query: PolicyHistoryQuery,
      response: PolicyHistory,
      handler: async ({ query }) => ({ versions: await policies.history(PLATFORM_SCOPE, query.limit) }),
    }),
    route({
      method: "PUT",
      url: "/api/v1/policies/teams/:team",
      summary: "Set a team's policy (a new version; it can only narrow the platform's)",
      tags,
      action: "policies:write",
      params: PolicyTeamParams,
      resource: team,
      body: PutPolicyBody,
      response: PolicyView,
      handler: async ({ params, body, principal }) => policies.set(teamScope(params.team), body.yaml, principal),
    }),
    route({
      method: "GET",
      url: "/api/v1/policies/teams/:team/history",
      summary: "Every version of a team's policy, newest first, with who set it and when",
      tags,
      action: "policies:read",
      params: PolicyTeamParams,
      resource: team,
      query: PolicyHistoryQuery,
      response: PolicyHistory,
      handler: async ({ params, query }) => ({ versions: await policies.history(teamScope(params.team), query.limit) }),
    }),
  ];
}
