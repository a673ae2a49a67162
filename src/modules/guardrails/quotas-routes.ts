import { z } from "zod";
import { notFound, route, type RouteDefinition } from "../../core/index.ts";
import { visibleTeams } from "../identity/index.ts";
import type { Ledger } from "./ledger.ts";
import { QuotaSettings, TeamQuotaList, TeamQuotaView } from "./quotas-schema.ts";

const TeamParams = z.object({ team: z.string().min(1).max(63) });

/** Quotas: every member of a team reads its quota and what uses it; platform admins set it. */
export function quotaRoutes(ledger: Ledger): RouteDefinition[] {
  const tags = ["quotas"];
  // A team the caller is not in answers as one that does not exist.
  const teamResource = (team: string) => ({ kind: "team" as const, id: team, team, notFound: () => notFound(`team '${team}' does not exist; list yours with \`paved teams ls\``) });
  return [
    route({
      method: "GET",
      url: "/api/v1/quotas",
      summary: "The quotas of your teams (every team for a platform admin): each limit, where it comes from, what is used and by what",
      tags,
      action: "teams:read",
      response: TeamQuotaList,
      handler: async ({ principal }) => ({ teams: await ledger.views(visibleTeams(principal, "teams:read")) }),
    }),
    route({
      method: "GET",
      url: "/api/v1/teams/:team/quotas",
      summary: "A team's quota: each limit (GPUs, by type, GPU-hours this month, CPUs, memory, serving replicas, storage), what is used and by what",
      tags,
      action: "teams:read",
      params: TeamParams,
      resource: async ({ params }) => teamResource(params.team),
      response: TeamQuotaView,
      handler: async ({ params }) => ledger.view(params.team),
    }),
    route({
      method: "PUT",
      url: "/api/v1/teams/:team/quotas",
      summary: "Set a team's quota (platform admins): a number limits, null is unlimited, an absent field takes guardrails.defaultQuota",
      tags,
      action: "quotas:write",
      params: TeamParams,
      body: QuotaSettings,
      resource: async ({ params }) => teamResource(params.team),
      response: TeamQuotaView,
      handler: async ({ params, body, principal }) => ledger.set(params.team, body, principal.name),
    }),
  ];
}
