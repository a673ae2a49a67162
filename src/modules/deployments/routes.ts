import { route, type RouteDefinition } from "../../core/index.ts";
import { CreateDeploymentBody, DeploymentIdParams, DeploymentList, DeploymentServingView, DeploymentView, ListDeploymentsQuery, OutcomesAccepted, OutcomesBody, PromoteBody } from "./schema.ts";
import { servingFigures } from "./serving-figures.ts";
import type { DeploymentService } from "./service.ts";

/** Paved's deployment API under /api/v1. */
export function deploymentRoutes(service: DeploymentService, servingMetrics: () => Promise<string>): RouteDefinition[] {
  const tags = ["deployments"];
  const action = (verb: "pause" | "resume" | "rollback", summary: string) =>
    route({
      method: "POST",
      url: `/api/v1/deployments/:id/${verb}`,
      summary,
      tags,
      action: "deployments:write",
      params: DeploymentIdParams,
      resource: async ({ params }) => service.resource(params.id),
      response: DeploymentView,
      handler: async ({ params }) => (verb === "pause" ? service.pause(params.id) : verb === "resume" ? service.resume(params.id) : service.rollback(params.id)),
    });
  return [
    route({
      method: "POST",
      url: "/api/v1/deployments",
      summary: "Deploy a version (number or alias) to an environment (default production, which needs a passing evaluation)",
      tags,
      action: "deployments:write",
      body: CreateDeploymentBody,
      // It goes to the model's team: the caller must be a developer there.
      resource: async ({ body }) => service.newDeploymentResource(body),
      response: DeploymentView,
      handler: async ({ body, principal }) => service.create(body, principal),
    }),
    route({
      method: "GET",
      url: "/api/v1/deployments",
      summary: "Deployments of your teams, newest first, a page at a time (limit, pageToken); createdBy=me for yours",
      tags,
      action: "deployments:read",
      query: ListDeploymentsQuery,
      response: DeploymentList,
      handler: async ({ query, principal }) => service.list(query, principal),
    }),
    route({
      method: "GET",
      url: "/api/v1/deployments/:id",
      summary: "A deployment: spec, status and history",
      tags,
      action: "deployments:read",
      params: DeploymentIdParams,
      resource: async ({ params }) => service.resource(params.id),
      response: DeploymentView,
      handler: async ({ params }) => service.get(params.id),
    }),
    route({
      method: "GET",
      url: "/api/v1/deployments/:id/serving",
      summary: "What each version of the deployment's model answered in its environment since it was loaded: requests, errors, error rate, mean and p99 latency",
      tags,
      action: "deployments:read",
      params: DeploymentIdParams,
      resource: async ({ params }) => service.resource(params.id),
      response: DeploymentServingView,
      handler: async ({ params }) => {
        const { spec } = await service.get(params.id);
        return { model: spec.model, environment: spec.environment, versions: servingFigures(await servingMetrics(), spec.model, spec.environment) };
      },
    }),
    route({
      method: "POST",
      url: "/api/v1/deployments/:id/outcomes",
      summary: "Report outcomes of an A/B test's metric, by routing key (each counts for the variant the key was routed to)",
      tags,
      action: "deployments:write",
      params: DeploymentIdParams,
      resource: async ({ params }) => service.resource(params.id),
      body: OutcomesBody,
      response: OutcomesAccepted,
      handler: async ({ params, body }) => service.addOutcomes(params.id, body),
    }),
    action("pause", "Pause a rollout at its current traffic split"),
    action("resume", "Resume a paused rollout (its step starts over)"),
    route({
      method: "POST",
      url: "/api/v1/deployments/:id/promote",
      summary:
        "Promote the new version now (canary: skipping the remaining steps; A/B: B wins; shadow: it takes the traffic). A failing or missing analysis answers GATE_FAILED unless {force: true, reason}, which is recorded",
      tags,
      action: "deployments:write",
      params: DeploymentIdParams,
      resource: async ({ params }) => service.resource(params.id),
      body: PromoteBody,
      response: DeploymentView,
      handler: async ({ params, body, principal }) => service.promote(params.id, body, principal),
    }),
    action("rollback", "Roll back now: all traffic to stable, canary unloaded"),
  ];
}
