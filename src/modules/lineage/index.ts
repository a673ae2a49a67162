// Lineage (issue 10, item 7): one graph across the golden path, from a production deployment back
// through its model version, run, commit and dataset versions to the connector source, and forward
// from a dataset version to every model trained on it. Read only, from the records the other
// modules keep; a node of a team the reader is not in is left out as if it did not exist.
import type { RouteDefinition } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import { lineageRoutes } from "./routes.ts";
import { LineageService } from "./service.ts";

export { LineageService } from "./service.ts";
export { LineageGraph, LineageNode, LineageEdge, LineageQuery, NODE_KINDS } from "./schema.ts";

export function createLineageModule(deps: { database: Database }): { service: LineageService; routes: RouteDefinition[] } {
  const service = new LineageService(deps.database.db);
  return { service, routes: lineageRoutes(service) };
}
