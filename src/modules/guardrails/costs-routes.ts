import { route, type RouteDefinition } from "../../core/index.ts";
import { visibleTeams } from "../identity/index.ts";
import type { BudgetService } from "./budgets.ts";
import { CostReport, CostsQuery } from "./costs-schema.ts";
import type { CostService } from "./costs.ts";
import type { PolicyService } from "./policies.ts";

/** GET /api/v1/costs: where the money went, of the teams the caller may read. */
export function costRoutes(costs: CostService, budgets: BudgetService, policies: PolicyService): RouteDefinition[] {
  return [
    route({
      method: "GET",
      url: "/api/v1/costs",
      summary: "What work cost in a UTC month (default: this one): each team's total by jobs, deployments and storage, and with by=job|deployment|user the items, most expensive first",
      tags: ["costs"],
      action: "costs:read",
      query: CostsQuery,
      // One team: the caller must read it (another team answers as a missing one).
      resource: async ({ query }) => (query.team === undefined ? { kind: "team", id: "(all)" } : policies.teamResource(query.team)),
      response: CostReport,
      handler: async ({ query, principal }) => {
        const teams = query.team !== undefined ? [query.team] : visibleTeams(principal, "costs:read");
        return costs.report(query, teams, await budgets.amounts(teams));
      },
    }),
  ];
}
