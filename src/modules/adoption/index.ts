// Adoption: the platform measured as a product (issue 12, item 6) — active people and teams, usage
// per team, the golden-path funnel, time-to-value, DORA-style delivery figures and satisfaction.
// Computed on demand from the records the other modules keep (read only, as monitoring's scrape
// reads them); it writes only its feedback table. Figures are for platform admins, aggregate by
// default: per-person detail needs an explicit flag and never reaches Prometheus.
import type { Clock, IdGenerator, RouteDefinition } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import { adoptionRoutes } from "./routes.ts";
import { AdoptionService } from "./service.ts";
import { AdoptionStore } from "./store.ts";

export { AdoptionService, p50Seconds, type AdoptionWindow } from "./service.ts";
export { registerAdoptionGauges, type AdoptionGaugeOptions } from "./gauges.ts";
export { AdoptionQuery, AdoptionReport, FeedbackBody, FeedbackPrompt, FeedbackView, FUNNEL_STAGES, MILESTONES, type FunnelStage, type Milestone } from "./schema.ts";

export interface AdoptionModuleDeps {
  database: Database;
  clock: Clock;
  ids: IdGenerator;
}

/** Builds the adoption service and its routes (GET /api/v1/adoption, POST /api/v1/feedback). */
export function createAdoptionModule(deps: AdoptionModuleDeps): { service: AdoptionService; routes: RouteDefinition[] } {
  const service = new AdoptionService({ store: new AdoptionStore(deps.database), clock: deps.clock, ids: deps.ids });
  return { service, routes: adoptionRoutes(service) };
}
