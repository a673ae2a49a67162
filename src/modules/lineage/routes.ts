import { route, type RouteDefinition } from "../../core/index.ts";
import { LineageGraph, LineageQuery } from "./schema.ts";
import type { LineageService } from "./service.ts";

export function lineageRoutes(service: LineageService): RouteDefinition[] {
  return [
    route({
      method: "GET",
      url: "/api/v1/lineage",
      summary:
        "Where a deployment, model version, run or dataset version came from (upstream: model version, run, commit, dataset versions, connector source) and what was made from it (downstream: runs that read a dataset, versions registered from them, their deployments, batch predictions)",
      tags: ["lineage"],
      action: "lineage:read",
      query: LineageQuery,
      response: LineageGraph,
      handler: async ({ query, principal }) => service.graph(query, principal),
    }),
  ];
}
