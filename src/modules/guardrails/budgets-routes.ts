import { z } from "zod";
import { route, type RouteDefinition } from "../../core/index.ts";
import { visibleTeams } from "../identity/index.ts";
import { BudgetList, BudgetTeamParams, BudgetView, PutBudgetBody } from "./budgets-schema.ts";
import type { BudgetService } from "./budgets.ts";
import type { PolicyService } from "./policies.ts";

/** Team budgets: read by the team's viewers, set by its admins (and platform admins). */
export function budgetRoutes(budgets: BudgetService, policies: PolicyService): RouteDefinition[] {
  const tags = ["budgets"];
  const team = async ({ params }: { params: { team: string } }) => policies.teamResource(params.team);
  return [
    route({
      method: "GET",
      url: "/api/v1/budgets",
      summary: "Budgets of your teams: amount, thresholds, spend this month, and the thresholds crossed",
      tags,
      action: "budgets:read",
      response: BudgetList,
      handler: async ({ principal }) => ({ budgets: await budgets.list(visibleTeams(principal, "budgets:read")) }),
    }),
    route({
      method: "GET",
      url: "/api/v1/budgets/:team",
      summary: "A team's budget, its spend this month and the thresholds crossed (with their notifications)",
      tags,
      action: "budgets:read",
      params: BudgetTeamParams,
      resource: team,
      response: BudgetView,
      handler: async ({ params }) => budgets.get(params.team),
    }),
    route({
      method: "PUT",
      url: "/api/v1/budgets/:team",
      summary: "Set a team's monthly budget: amount, thresholds (notify, block, stop) and a webhook (thresholds and webhook kept when absent)",
      tags,
      action: "budgets:write",
      params: BudgetTeamParams,
      resource: team,
      body: PutBudgetBody,
      response: BudgetView,
      handler: async ({ params, body, principal }) => budgets.set(params.team, body, principal),
    }),
    route({
      method: "DELETE",
      url: "/api/v1/budgets/:team",
      summary: "Remove a team's budget (its work is no longer blocked or stopped by it)",
      tags,
      action: "budgets:write",
      params: BudgetTeamParams,
      resource: team,
      response: z.object({}),
      handler: async ({ params }) => {
        await budgets.remove(params.team);
        return {};
      },
    }),
  ];
}
